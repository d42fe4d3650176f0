//! Dates, timestamps, hours and rates as CONTRACT §4 and §6 define them, computed on integers
//! from their text (no binary floating point for hours), and the deployment's time zone.

use serde_json::{Value, json};

/// A calendar date `(year, month, day)`; tuples compare in calendar order.
pub type Date = (i32, u32, u32);

/// Asia/Shanghai as a fixed offset (no DST since 1991): the zone of the free functions
/// [`local_date`] and [`format_local`]. [`Zone`] takes any zone.
pub const LOCAL_OFFSET_SECONDS: i64 = 8 * 3600;

/// The deployment's time zone (`PARTYEDU_TIME_ZONE`): calendar years are taken in it, and the
/// history's timestamps are rendered in it. Only the zone's offset table is borrowed from
/// `chrono-tz`; the calendar arithmetic is this crate's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Zone(chrono_tz::Tz);

impl Default for Zone {
    fn default() -> Self {
        Zone::SHANGHAI
    }
}

impl Zone {
    /// The default deployment zone.
    pub const SHANGHAI: Zone = Zone(chrono_tz::Asia::Shanghai);

    /// An IANA zone name (`Asia/Shanghai`); `None` when unknown.
    pub fn named(name: &str) -> Option<Zone> {
        name.parse().ok().map(Zone)
    }

    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// Seconds east of UTC at the instant `secs` (seconds since the epoch, UTC).
    pub fn offset_at(&self, secs: i64) -> i64 {
        use chrono::{Offset, TimeZone};
        match chrono::DateTime::from_timestamp(secs, 0) {
            Some(t) => i64::from(
                self.0
                    .offset_from_utc_datetime(&t.naive_utc())
                    .fix()
                    .local_minus_utc(),
            ),
            None => 0,
        }
    }

    /// The local date of an instant.
    pub fn date_of_instant(&self, secs: i64) -> Date {
        civil_from_days((secs + self.offset_at(secs)).div_euclid(86_400))
    }

    /// The local date of an RFC 3339 timestamp.
    pub fn local_date(&self, timestamp: &str) -> Option<Date> {
        let (secs, _) = parse_timestamp(timestamp)?;
        Some(self.date_of_instant(secs))
    }

    /// The first instant of a local date (local midnight; where a transition skips midnight,
    /// the first instant that exists).
    pub fn midnight(&self, date: Date) -> (i64, u32) {
        let local = days_from_civil(date) * 86_400;
        // The offset in force at midnight is the one a step before or after it: try both.
        for probe in [
            local - self.offset_at(local - 86_400),
            local - self.offset_at(local),
        ] {
            if self.date_of_instant(probe) == date && self.date_of_instant(probe - 1) != date {
                return (probe, 0);
            }
        }
        // A gap at midnight: the first local second of the date that exists.
        let mut t = local - self.offset_at(local) - 2 * 3600;
        while self.date_of_instant(t) != date {
            t += 60;
        }
        (t, 0)
    }

    /// Renders an instant as the API returns timestamps (CONTRACT §6): local time with the
    /// offset, always milliseconds, finer digits cut (`2024-03-05T09:00:00.000+08:00`).
    pub fn format(&self, (secs, nanos): (i64, u32)) -> String {
        let offset = self.offset_at(secs);
        let local = secs + offset;
        let (y, m, d) = civil_from_days(local.div_euclid(86_400));
        let t = local.rem_euclid(86_400);
        let frac = format!(".{:03}", nanos / 1_000_000);
        let sign = if offset < 0 { '-' } else { '+' };
        let o = offset.abs() / 60;
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{frac}{sign}{:02}:{:02}",
            t / 3600,
            t / 60 % 60,
            t % 60,
            o / 60,
            o % 60
        )
    }
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub fn days_from_civil((y, m, d): Date) -> i64 {
    let y = i64::from(if m <= 2 { y - 1 } else { y });
    let (m, d) = (i64::from(m), i64::from(d));
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> Date {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y as i32, m as u32, d as u32)
}

fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let date = (
        digits(&s[0..4])? as i32,
        digits(&s[5..7])?,
        digits(&s[8..10])?,
    );
    if date.1 == 0 || date.1 > 12 || date.2 == 0 || date.2 > 31 {
        return None;
    }
    Some(date)
}

/// Parses an RFC 3339 timestamp with offset into (seconds since the epoch in UTC, nanoseconds).
pub fn parse_timestamp(s: &str) -> Option<(i64, u32)> {
    let date = parse_date(s.get(0..10)?)?;
    if !matches!(s.as_bytes().get(10)?, b'T' | b't' | b' ') {
        return None;
    }
    let time = s.get(11..19)?;
    let tb = time.as_bytes();
    if tb[2] != b':' || tb[5] != b':' {
        return None;
    }
    let (h, mi, se) = (
        digits(&time[0..2])?,
        digits(&time[3..5])?,
        digits(&time[6..8])?,
    );
    let mut rest = &s[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        let mut f = frac[..n].to_string();
        f.truncate(9);
        while f.len() < 9 {
            f.push('0');
        }
        nanos = digits(&f)?;
        rest = &frac[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            sign * i64::from(digits(&rest[1..3])? * 3600 + digits(&rest[4..6])? * 60)
        }
    };
    let secs = days_from_civil(date) * 86_400 + i64::from(h * 3600 + mi * 60 + se) - offset;
    Some((secs, nanos))
}

/// The local date in Asia/Shanghai of an RFC 3339 timestamp.
pub fn local_date(timestamp: &str) -> Option<Date> {
    Zone::SHANGHAI.local_date(timestamp)
}

/// [`Zone::format`] in Asia/Shanghai.
pub fn format_local(instant: (i64, u32)) -> String {
    Zone::SHANGHAI.format(instant)
}

/// `YYYY-MM-DD`.
pub fn date_string((y, m, d): Date) -> String {
    format!("{y:04}-{m:02}-{d:02}")
}

/// `study_hours` (a decimal with at most two places) as integer hundredths, exactly: the number is
/// read from its decimal text, not through binary floating point.
pub fn hundredths(v: &Value) -> i64 {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return 0,
    };
    parse_hundredths(&text).unwrap_or_else(|| {
        let f: f64 = text.parse().unwrap_or(0.0);
        (f * 100.0).round() as i64
    })
}

fn parse_hundredths(text: &str) -> Option<i64> {
    let (neg, t) = match text.strip_prefix('-') {
        Some(t) => (true, t),
        None => (false, text),
    };
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // At most two places are allowed; digits beyond the second are zeros in valid data.
    let frac = frac.trim_end_matches('0');
    if frac.len() > 2 {
        return None;
    }
    let mut f = frac.to_string();
    while f.len() < 2 {
        f.push('0');
    }
    let value = int.parse::<i64>().ok()? * 100 + f.parse::<i64>().ok()?;
    Some(if neg { -value } else { value })
}

/// Hundredths of an hour as a JSON number: an integer when whole, else a float (`26`, `1.25`).
pub fn hours_json(h: i64) -> Value {
    if h % 100 == 0 {
        json!(h / 100)
    } else {
        json!(h as f64 / 100.0)
    }
}

/// `num / den` rounded half-up to 4 places, computed on integers; `null` when `den` is 0.
pub fn rate_json(num: i64, den: i64) -> Value {
    if den == 0 {
        return Value::Null;
    }
    let scaled = (num * 10_000 * 2 + den) / (2 * den);
    json!(scaled as f64 / 10_000.0)
}

/// A copy of `v` with every number turned into a float, so that `26` and `26.0` compare equal.
pub fn normalize_numbers(v: &Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64().unwrap_or(f64::NAN)),
        Value::Array(a) => Value::Array(a.iter().map(normalize_numbers).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), normalize_numbers(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_give_local_dates_midnights_and_offsets() {
        let sh = Zone::SHANGHAI;
        assert_eq!(sh.local_date("2024-12-31T16:00:00Z"), Some((2025, 1, 1)));
        assert_eq!(
            sh.format(sh.midnight((2024, 3, 5))),
            "2024-03-05T00:00:00.000+08:00"
        );
        let berlin = Zone::named("Europe/Berlin").unwrap();
        // Summer and winter offsets; the day DST starts (31 March 2024, at 02:00).
        assert_eq!(
            berlin.format(berlin.midnight((2024, 7, 1))),
            "2024-07-01T00:00:00.000+02:00"
        );
        assert_eq!(
            berlin.format(berlin.midnight((2024, 1, 1))),
            "2024-01-01T00:00:00.000+01:00"
        );
        assert_eq!(
            berlin.format(berlin.midnight((2024, 3, 31))),
            "2024-03-31T00:00:00.000+01:00"
        );
        assert_eq!(
            berlin.local_date("2024-06-30T22:30:00Z"),
            Some((2024, 7, 1))
        );
        let ny = Zone::named("America/New_York").unwrap();
        assert_eq!(
            ny.format(parse_timestamp("2024-03-05T06:00:00.1234Z").unwrap()),
            "2024-03-05T01:00:00.123-05:00"
        );
        assert!(Zone::named("Mars/Olympus").is_none());
    }
}
