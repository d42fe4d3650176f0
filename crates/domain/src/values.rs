//! Value types that cannot hold a bad value: ids, free text, study hours, dates, timestamps and
//! duplicate-free lists. Each one is parsed once, at the edge (serde), and trusted afterwards;
//! their serde impls refuse bad input with a message meant for the person who sent it.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::ops::{Add, Deref};
use std::str::FromStr;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, SecondsFormat};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a value could not be parsed; the text is shown to the client as the `problem`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(String);

/// Implements `Deserialize` through `FromStr` and `Serialize` through `Display`, for the string
/// value types below, so that every one of them refuses bad input the same way.
macro_rules! string_serde {
    ($ty:ty) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(de::Error::custom)
            }
        }
    };
}

/// A client-chosen identifier: 1–64 characters of `[A-Za-z0-9._:-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(String);

impl Id {
    pub const MAX_LEN: usize = 64;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Id {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
        if text.is_empty() || text.len() > Self::MAX_LEN {
            return Err(ValueError(format!(
                "an id must have 1 to {} characters, got {}",
                Self::MAX_LEN,
                text.chars().count()
            )));
        }
        if let Some(bad) = text.chars().find(|&c| !allowed(c)) {
            return Err(ValueError(format!(
                "an id may only hold letters, digits and `._:-`, found {bad:?} in {text:?}"
            )));
        }
        Ok(Id(text.to_owned()))
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_serde!(Id);

impl JsonSchema for Id {
    fn schema_name() -> Cow<'static, str> {
        "Id".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A client-chosen id: 1–64 characters of [A-Za-z0-9._:-].",
            "type": "string",
            "pattern": "^[A-Za-z0-9._:-]{1,64}$"
        })
    }
}

/// Free text (a name, a title, a reason): not blank, at most 2000 characters. Kept as sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Text(String);

impl Text {
    pub const MAX_CHARS: usize = 2000;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Text {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.trim().is_empty() {
            return Err(ValueError("must not be blank".into()));
        }
        // PostgreSQL's text cannot hold U+0000: stored, it would stop the read models at it.
        if text.contains('\0') {
            return Err(ValueError("must not contain U+0000".into()));
        }
        let chars = text.chars().count();
        if chars > Self::MAX_CHARS {
            return Err(ValueError(format!(
                "must have at most {} characters, got {chars}",
                Self::MAX_CHARS
            )));
        }
        Ok(Text(text.to_owned()))
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_serde!(Text);

/// [`Text`]'s pattern: at least one character that is not Unicode `White_Space`, none U+0000.
const TEXT_PATTERN: &str = concat!(
    "^[^\\x00]*",
    "[^\\x00\\t\\n\\x0B\\f\\r \\x85\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]",
    "[^\\x00]*$"
);

impl JsonSchema for Text {
    fn schema_name() -> Cow<'static, str> {
        "Text".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // Not blank: some character that is not white space in Unicode's sense (which `trim`
        // takes; spelled out, as `\s` differs between regex dialects), and none is U+0000.
        json_schema!({
            "description": "Free text, not blank, at most 2000 characters, without U+0000.",
            "type": "string",
            "minLength": 1,
            "maxLength": 2000,
            "pattern": TEXT_PATTERN
        })
    }
}

/// Study hours (学时): a decimal with at most two places in `0..=24`, held as whole
/// centi-hours so that sums are exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct StudyHours(u32);

impl StudyHours {
    pub const ZERO: StudyHours = StudyHours(0);
    pub const MAX_CENTI: u32 = 24 * 100;

    /// Hours from whole centi-hours (250 = 2.5 h); `None` beyond 24 hours.
    pub fn from_centi(centi: u32) -> Option<Self> {
        (centi <= Self::MAX_CENTI).then_some(StudyHours(centi))
    }

    pub fn centi(self) -> u32 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl FromStr for StudyHours {
    type Err = ValueError;

    /// Parses a plain decimal such as `2.5`, `3` or `0.25`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || {
            ValueError(format!(
                "study hours must be a number from 0 to 24 with at most two decimal places, got {text}"
            ))
        };
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || whole.len() > 2 || !digits(whole) || !digits(fraction) {
            return Err(bad());
        }
        // Trailing zeros carry no precision: 2.500 is 2.5.
        let fraction = fraction.trim_end_matches('0');
        if fraction.len() > 2 {
            return Err(bad());
        }
        let whole: u32 = whole.parse().map_err(|_| bad())?;
        let cents: u32 = format!("{fraction:0<2}").parse().map_err(|_| bad())?;
        StudyHours::from_centi(whole * 100 + cents).ok_or_else(bad)
    }
}

/// Writes centi-hours as the shortest decimal: `2.5`, `3`, `0.25`.
fn write_centi(f: &mut fmt::Formatter<'_>, centi: u64) -> fmt::Result {
    let (whole, cents) = (centi / 100, centi % 100);
    match cents {
        0 => write!(f, "{whole}"),
        c if c % 10 == 0 => write!(f, "{whole}.{}", c / 10),
        c => write!(f, "{whole}.{c:02}"),
    }
}

/// Serialises centi-hours as a JSON number in its shortest form: whole hours as integers, the
/// rest as the float whose shortest representation is the two-place decimal (serde_json prints
/// floats in their shortest round-trip form, so 0.29 stays 0.29).
fn serialize_centi<S: Serializer>(centi: u64, serializer: S) -> Result<S::Ok, S::Error> {
    if centi.is_multiple_of(100) {
        serializer.serialize_u64(centi / 100)
    } else {
        // The nearest f64 to n/100 prints back as the two-place decimal for any realistic
        // total (far below 2^53 centi-hours).
        serializer.serialize_f64(centi as f64 / 100.0)
    }
}

impl fmt::Display for StudyHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_centi(f, u64::from(self.0))
    }
}

impl Serialize for StudyHours {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_centi(u64::from(self.0), serializer)
    }
}

impl<'de> Deserialize<'de> for StudyHours {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HoursVisitor;

        impl Visitor<'_> for HoursVisitor {
            type Value = StudyHours;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number from 0 to 24 with at most two decimal places")
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StudyHours, E> {
                v.to_string().parse().map_err(E::custom)
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StudyHours, E> {
                v.to_string().parse().map_err(E::custom)
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<StudyHours, E> {
                // `Display` of an f64 is its shortest round-trip decimal, never an exponent,
                // so it is exactly the decimal the JSON text meant (1.234 stays 1.234).
                v.to_string().parse().map_err(E::custom)
            }
        }

        deserializer.deserialize_any(HoursVisitor)
    }
}

impl JsonSchema for StudyHours {
    fn schema_name() -> Cow<'static, str> {
        "StudyHours".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // No `multipleOf: 0.01`: validators test it in binary floating point and refuse
        // valid values such as 0.29.
        json_schema!({
            "description": "Study hours: a number from 0 to 24 with at most two decimal places.",
            "type": "number",
            "minimum": 0,
            "maximum": 24
        })
    }
}

/// Deserialises an integer field from any JSON number with no fraction, also one written with
/// it (`60.0`): the API documents such fields as JSON Schema's `integer`, which holds `60.0`
/// too. A fraction, a negative number or a number past the field's range is refused.
pub mod whole {
    use super::*;
    use std::num::NonZeroU32;

    /// A whole number of at most 2^53 (beyond it a float no longer says which integer).
    struct Whole(u64);

    impl<'de> Deserialize<'de> for Whole {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct WholeVisitor;

            impl Visitor<'_> for WholeVisitor {
                type Value = Whole;

                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a whole number")
                }

                fn visit_u64<E: de::Error>(self, v: u64) -> Result<Whole, E> {
                    Ok(Whole(v))
                }

                fn visit_i64<E: de::Error>(self, v: i64) -> Result<Whole, E> {
                    u64::try_from(v)
                        .map(Whole)
                        .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
                }

                fn visit_f64<E: de::Error>(self, v: f64) -> Result<Whole, E> {
                    if v.fract() == 0.0 && (0.0..=9_007_199_254_740_992.0).contains(&v) {
                        Ok(Whole(v as u64))
                    } else {
                        Err(E::invalid_type(de::Unexpected::Float(v), &self))
                    }
                }
            }

            deserializer.deserialize_any(WholeVisitor)
        }
    }

    /// `#[serde(deserialize_with = "whole::non_zero_u32")]`.
    pub fn non_zero_u32<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<NonZeroU32, D::Error> {
        let Whole(v) = Whole::deserialize(deserializer)?;
        u32::try_from(v)
            .ok()
            .and_then(NonZeroU32::new)
            .ok_or_else(|| {
                de::Error::invalid_value(
                    de::Unexpected::Unsigned(v),
                    &"a whole number from 1 to 4294967295",
                )
            })
    }

    /// `#[serde(default, deserialize_with = "whole::option_u16")]`.
    pub fn option_u16<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u16>, D::Error> {
        match Option::<Whole>::deserialize(deserializer)? {
            None => Ok(None),
            Some(Whole(v)) => u16::try_from(v).map(Some).map_err(|_| {
                de::Error::invalid_value(
                    de::Unexpected::Unsigned(v),
                    &"a whole number from 0 to 65535",
                )
            }),
        }
    }
}

/// An exact sum of study hours, in centi-hours, without the 24-hour bound of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TotalHours(u64);

impl TotalHours {
    pub fn centi(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TotalHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_centi(f, self.0)
    }
}

impl Serialize for TotalHours {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_centi(self.0, serializer)
    }
}

impl From<StudyHours> for TotalHours {
    fn from(hours: StudyHours) -> Self {
        TotalHours(u64::from(hours.0))
    }
}

impl Add<StudyHours> for TotalHours {
    type Output = TotalHours;

    fn add(self, hours: StudyHours) -> TotalHours {
        TotalHours(self.0 + u64::from(hours.0))
    }
}

impl std::iter::Sum<StudyHours> for TotalHours {
    fn sum<I: Iterator<Item = StudyHours>>(iter: I) -> Self {
        iter.fold(TotalHours::default(), Add::add)
    }
}

/// A calendar date, `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date(NaiveDate);

impl Date {
    pub fn from_naive(date: NaiveDate) -> Self {
        Date(date)
    }

    pub fn naive(self) -> NaiveDate {
        self.0
    }

    pub fn year(self) -> i32 {
        self.0.year()
    }

    /// The next day (saturating at the end of chrono's range).
    pub fn next_day(self) -> Date {
        Date(self.0.succ_opt().unwrap_or(self.0))
    }
}

impl FromStr for Date {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        // chrono alone would accept unpadded fields such as 2024-3-5; the contract wants
        // exactly YYYY-MM-DD.
        let shape_ok = text.len() == 10
            && text.bytes().enumerate().all(|(i, b)| match i {
                4 | 7 => b == b'-',
                _ => b.is_ascii_digit(),
            });
        let date = shape_ok
            .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
            .flatten();
        date.map(Date)
            .ok_or_else(|| ValueError(format!("expected a date YYYY-MM-DD, got {text:?}")))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

string_serde!(Date);

impl JsonSchema for Date {
    fn schema_name() -> Cow<'static, str> {
        "Date".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A calendar date, YYYY-MM-DD.",
            "type": "string",
            "format": "date"
        })
    }
}

/// An RFC 3339 timestamp with its UTC offset, which is kept as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timestamp(DateTime<FixedOffset>);

impl Timestamp {
    pub fn from_datetime(at: DateTime<FixedOffset>) -> Self {
        Timestamp(at)
    }

    pub fn datetime(self) -> DateTime<FixedOffset> {
        self.0
    }
}

impl FromStr for Timestamp {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        DateTime::parse_from_rfc3339(text).map(Timestamp).map_err(|_| {
            ValueError(format!(
                "expected an RFC 3339 timestamp with an offset, such as 2024-03-05T09:00:00+08:00, got {text:?}"
            ))
        })
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

string_serde!(Timestamp);

impl JsonSchema for Timestamp {
    fn schema_name() -> Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "An RFC 3339 timestamp with a UTC offset (Z or ±hh:mm).",
            "type": "string",
            "format": "date-time"
        })
    }
}

/// A list that holds each element at most once, in the order sent (lists of member ids,
/// lecturer ids, visit purposes). A duplicate is refused at its own index, so the error path
/// names it (`attendee_ids[3]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueList<T>(Vec<T>);

impl<T: Eq + Hash> UniqueList<T> {
    /// The list, or the index of the first repeated element.
    pub fn new(items: Vec<T>) -> Result<Self, usize> {
        let mut seen = HashSet::with_capacity(items.len());
        match items.iter().position(|item| !seen.insert(item)) {
            Some(index) => Err(index),
            None => Ok(UniqueList(items)),
        }
    }
}

impl<T> Default for UniqueList<T> {
    fn default() -> Self {
        UniqueList(Vec::new())
    }
}

impl<T> Deref for UniqueList<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<'a, T> IntoIterator for &'a UniqueList<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<T: Serialize> Serialize for UniqueList<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, T> Deserialize<'de> for UniqueList<T>
where
    T: Deserialize<'de> + Eq + Hash + Clone + fmt::Display,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// Deserialises one element and refuses it when already seen: the error is raised
        /// inside the element, so path tracking points at its index.
        struct Element<'s, T>(&'s mut HashSet<T>);

        impl<'de, T> DeserializeSeed<'de> for Element<'_, T>
        where
            T: Deserialize<'de> + Eq + Hash + Clone + fmt::Display,
        {
            type Value = T;

            fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
                let item = T::deserialize(deserializer)?;
                if !self.0.insert(item.clone()) {
                    return Err(de::Error::custom(format!(
                        "{item} appears more than once in the list"
                    )));
                }
                Ok(item)
            }
        }

        struct ListVisitor<T>(PhantomData<T>);

        impl<'de, T> Visitor<'de> for ListVisitor<T>
        where
            T: Deserialize<'de> + Eq + Hash + Clone + fmt::Display,
        {
            type Value = UniqueList<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list without repeated elements")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut seen = HashSet::new();
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(item) = seq.next_element_seed(Element(&mut seen))? {
                    items.push(item);
                }
                Ok(UniqueList(items))
            }
        }

        deserializer.deserialize_seq(ListVisitor(PhantomData))
    }
}

impl<T: JsonSchema> JsonSchema for UniqueList<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("UniqueList_of_{}", T::schema_name()).into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "array",
            "items": generator.subschema_for::<T>(),
            "uniqueItems": true
        })
    }
}

/// A [`UniqueList`] with at least one element (a home visit's purposes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct NonEmptySet<T>(UniqueList<T>);

impl<T> Deref for NonEmptySet<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<'de, T> Deserialize<'de> for NonEmptySet<T>
where
    T: Deserialize<'de> + Eq + Hash + Clone + fmt::Display,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let list = UniqueList::deserialize(deserializer)?;
        if list.is_empty() {
            return Err(de::Error::custom("must hold at least one element"));
        }
        Ok(NonEmptySet(list))
    }
}

impl<T: JsonSchema> JsonSchema for NonEmptySet<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("NonEmptySet_of_{}", T::schema_name()).into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = UniqueList::<T>::json_schema(generator);
        schema.insert("minItems".into(), 1.into());
        schema
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hours(value: serde_json::Value) -> Result<StudyHours, String> {
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    #[test]
    fn study_hours_take_two_places_and_print_shortest() {
        for (input, centi, output) in [
            (json!(2.5), 250, json!(2.5)),
            (json!(3), 300, json!(3)),
            (json!(3.0), 300, json!(3)),
            (json!(0.25), 25, json!(0.25)),
            (json!(0.29), 29, json!(0.29)),
            (json!(0), 0, json!(0)),
            (json!(24), 2400, json!(24)),
        ] {
            let parsed = hours(input.clone()).unwrap();
            assert_eq!(parsed.centi(), centi, "{input}");
            assert_eq!(serde_json::to_value(parsed).unwrap(), output, "{input}");
        }
    }

    #[test]
    fn study_hours_refuse_precision_range_and_type() {
        for input in [
            json!(1.234),
            json!(24.01),
            json!(25),
            json!(-1),
            json!(-0.5),
            json!("2"),
            json!(1e-7),
        ] {
            let error = hours(input.clone()).unwrap_err();
            assert!(
                error.contains("study hours") || error.contains("number"),
                "{input}: {error}"
            );
        }
    }

    /// Found by the API fuzzer: a name holding U+0000 was stored, and the read models stopped
    /// at it (PostgreSQL's text cannot hold it). Blank means Unicode white space only, as the
    /// schema's pattern spells it out.
    #[test]
    fn text_refuses_nul_and_blank() {
        assert_eq!(
            "a\0b".parse::<Text>().unwrap_err().to_string(),
            "must not contain U+0000"
        );
        for blank in ["", " ", "\t\n", "\u{3000}", "\u{a0}\u{2028}", "\u{85}"] {
            assert!(blank.parse::<Text>().is_err(), "{blank:?}");
        }
        for text in ["党课", " a ", "\u{1c}", "\u{feff}", "x\ny"] {
            assert!(text.parse::<Text>().is_ok(), "{text:?}");
        }
    }

    #[derive(Debug, Deserialize)]
    struct Whole {
        #[serde(deserialize_with = "whole::non_zero_u32")]
        minutes: std::num::NonZeroU32,
        #[serde(default, deserialize_with = "whole::option_u16")]
        year: Option<u16>,
    }

    /// JSON Schema's `integer`, as the API documents these fields, holds `60.0`: the fuzzer sent
    /// it, and it is taken as 60. A fraction or a value out of range is refused.
    #[test]
    fn integer_fields_take_whole_numbers_also_written_with_a_fraction() {
        let read =
            |v: serde_json::Value| serde_json::from_value::<Whole>(v).map_err(|e| e.to_string());
        let whole = read(json!({"minutes": 60.0, "year": 1950.0})).unwrap();
        assert_eq!((whole.minutes.get(), whole.year), (60, Some(1950)));
        let whole = read(json!({"minutes": 45, "year": null})).unwrap();
        assert_eq!((whole.minutes.get(), whole.year), (45, None));
        assert_eq!(read(json!({"minutes": 1})).unwrap().year, None);
        for bad in [
            json!({"minutes": 0}),
            json!({"minutes": 1.5}),
            json!({"minutes": -1}),
            json!({"minutes": 4294967296u64}),
            json!({"minutes": "60"}),
            json!({"minutes": 1, "year": 65536}),
            json!({"minutes": 1, "year": 1950.5}),
        ] {
            assert!(read(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn study_hours_sum_exactly() {
        let tenth: StudyHours = "0.1".parse().unwrap();
        let total: TotalHours = std::iter::repeat_n(tenth, 3).sum();
        assert_eq!(total.centi(), 30);
        assert_eq!(serde_json::to_value(total).unwrap(), json!(0.3));
    }

    #[test]
    fn ids_dates_and_timestamps_refuse_bad_shapes() {
        assert!("C-2024.017:a_b".parse::<Id>().is_ok());
        assert!("".parse::<Id>().is_err());
        assert!("has space".parse::<Id>().is_err());
        assert!("x".repeat(65).parse::<Id>().is_err());
        assert!("2024-02-29".parse::<Date>().is_ok());
        assert!("2023-02-29".parse::<Date>().is_err());
        assert!("2024-3-05".parse::<Date>().is_err());
        assert!("  ".parse::<Text>().is_err());
        let kept: Timestamp = "2024-03-05T09:00:00+08:00".parse().unwrap();
        assert_eq!(kept.to_string(), "2024-03-05T09:00:00+08:00");
        assert!("2024-03-05T09:00:00".parse::<Timestamp>().is_err());
    }

    #[test]
    fn unique_lists_name_the_repeated_index() {
        let list: UniqueList<Id> =
            serde_path_to_error::deserialize(json!(["a", "b"])).expect("distinct ids");
        assert_eq!(list.len(), 2);
        let error = serde_path_to_error::deserialize::<_, UniqueList<Id>>(json!(["a", "b", "a"]))
            .unwrap_err();
        assert_eq!(error.path().to_string(), "[2]");
        assert!(
            serde_json::from_value::<NonEmptySet<Id>>(json!([])).is_err(),
            "empty set refused"
        );
    }
}
