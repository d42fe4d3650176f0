//! Canonical JSON text (RFC 8785, JSON Canonicalization Scheme) for everything the log stores.
//!
//! PostgreSQL's `jsonb` reorders keys and normalises numbers, so the store keeps `json` text
//! instead, and that text must be one fixed spelling of the value: the bytes a future hash chain
//! covers and an offline verifier recomputes. Keys are sorted by UTF-16 code units, no
//! insignificant white space, numbers in ECMAScript's shortest form, strings with the minimal
//! escapes.

use serde_json::Value;
use std::fmt::Write;

/// The canonical text of `value`.
pub fn to_canonical_string(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // RFC 8785 orders members by the UTF-16 code units of their names.
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push('{');
            for (i, (key, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

fn write_number(out: &mut String, n: &serde_json::Number) {
    if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else {
        write_f64(out, n.as_f64().unwrap_or(0.0));
    }
}

/// ECMAScript `Number.prototype.toString` for finite doubles: plain decimal notation for
/// 1e-6 <= |x| < 1e21, exponent notation (`1e+21`, `1.5e-7`) outside it.
fn write_f64(out: &mut String, x: f64) {
    if x == 0.0 {
        out.push('0');
        return;
    }
    let magnitude = x.abs();
    if (1e-6..1e21).contains(&magnitude) {
        // Rust's Display prints the shortest round-trip digits without an exponent.
        let _ = write!(out, "{x}");
    } else {
        // `{:e}` gives e.g. `1.5e-7` / `1e21`; ECMAScript wants an explicit sign on the exponent.
        let text = format!("{x:e}");
        match text.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => {
                let _ = write!(out, "{mantissa}e+{exp}");
            }
            _ => out.push_str(&text),
        }
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0C}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_and_drops_white_space() {
        let v = json!({"b": 1, "a": [true, null, {"d": "x", "c": 2.5}]});
        assert_eq!(
            to_canonical_string(&v),
            r#"{"a":[true,null,{"c":2.5,"d":"x"}],"b":1}"#
        );
    }

    #[test]
    fn orders_keys_by_utf16_code_units() {
        // U+1F600 is a surrogate pair (0xD83D…) and sorts before U+FB01 in UTF-16,
        // although its UTF-8 bytes sort after.
        let v = json!({"\u{FB01}": 1, "\u{1F600}": 2});
        assert_eq!(to_canonical_string(&v), "{\"\u{1F600}\":2,\"\u{FB01}\":1}");
    }

    #[test]
    fn numbers_take_ecmascript_form() {
        let v = json!([1.0, 0.1, 100, -0.0, 1e21, 1.5e-7, 123456.75, 2.25]);
        assert_eq!(
            to_canonical_string(&v),
            "[1,0.1,100,0,1e+21,1.5e-7,123456.75,2.25]"
        );
    }

    /// Found by the `canonical_json` fuzz target: `37E33` canonicalizes to `3.7e+34`, which
    /// serde_json without its `float_roundtrip` feature read back as 3.6999999999999996e34,
    /// canonicalized `3.6999999999999996e+34` — so a stored record's text, re-read and
    /// re-canonicalized, did not reproduce its own bytes. The workspace enables the feature.
    fn numbers(value: &Value) -> Vec<f64> {
        match value {
            Value::Number(n) => vec![n.as_f64().unwrap()],
            Value::Array(items) => items.iter().flat_map(numbers).collect(),
            Value::Object(map) => map.values().flat_map(numbers).collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn canonical_text_reads_back_to_itself() {
        for input in [
            "37E33",
            "3.7e+34",
            "[1e23,8.41e21,5e-324,1.7976931348623157e308,2.2250738585072014e-308]",
            "{\"x\":[0.1,0.2,0.30000000000000004,123456789012345680000,9007199254740993.5]}",
            "[4.9406564584124654e-324,1.4e-45,3.4028235e38,7.2057594037927933e16]",
        ] {
            let value: Value = serde_json::from_str(input).unwrap();
            let canonical = to_canonical_string(&value);
            let back: Value = serde_json::from_str(&canonical).unwrap();
            assert_eq!(
                numbers(&back),
                numbers(&value),
                "{input} → {canonical} reads back to the same numbers"
            );
            assert_eq!(
                to_canonical_string(&back),
                canonical,
                "{input}: canonicalizing the canonical text changes nothing"
            );
        }
        assert_eq!(
            to_canonical_string(&serde_json::from_str("37E33").unwrap()),
            "3.7e+34"
        );
    }

    #[test]
    fn escapes_only_what_must_be_escaped() {
        let v = json!("党课 \"a\"\\\n\u{1}/");
        assert_eq!(to_canonical_string(&v), "\"党课 \\\"a\\\"\\\\\\n\\u0001/\"");
    }
}
