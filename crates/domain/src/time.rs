//! The deployment's time zone: local dates of timestamps, local midnight of dates, and calendar
//! years. The zone is always passed in; nothing here reads a clock.

use chrono::{DateTime, FixedOffset, NaiveTime, Offset, TimeZone};
use chrono_tz::Tz;

use crate::values::{Date, Timestamp};

/// The zone of a deployment that does not name one.
pub const DEFAULT_TZ: Tz = chrono_tz::Asia::Shanghai;

/// The local calendar date of a timestamp.
pub fn local_date(at: Timestamp, tz: Tz) -> Date {
    Date::from_naive(at.datetime().with_timezone(&tz).date_naive())
}

/// The calendar year an activity at `at` belongs to: its local year (a class at
/// `2024-12-31T20:00:00Z` belongs to 2025 in Asia/Shanghai).
pub fn local_year(at: Timestamp, tz: Tz) -> i32 {
    local_date(at, tz).year()
}

/// Any instant, shown with the zone's offset at that instant.
pub fn in_zone<Z: TimeZone>(at: DateTime<Z>, tz: Tz) -> DateTime<FixedOffset> {
    let local = at.with_timezone(&tz);
    local.with_timezone(&local.offset().fix())
}

/// The first instant of a local date. Where a DST jump skips midnight, the first instant that
/// exists that day.
pub fn local_midnight(date: Date, tz: Tz) -> DateTime<FixedOffset> {
    let day = date.naive();
    let first = (0..24)
        .filter_map(|hour| NaiveTime::from_hms_opt(hour, 0, 0))
        .find_map(|time| tz.from_local_datetime(&day.and_time(time)).earliest())
        .expect("every calendar day has a valid local hour");
    in_zone(first, tz)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_utc_evening_is_next_local_year() {
        let at: Timestamp = "2024-12-31T20:00:00Z".parse().unwrap();
        assert_eq!(local_year(at, DEFAULT_TZ), 2025);
        assert_eq!(local_year(at, chrono_tz::UTC), 2024);
    }

    #[test]
    fn midnight_is_local_and_survives_dst_gaps() {
        let date: Date = "2024-03-05".parse().unwrap();
        assert_eq!(
            local_midnight(date, DEFAULT_TZ).to_rfc3339(),
            "2024-03-05T00:00:00+08:00"
        );
        // Santiago skipped from 00:00 to 01:00 on 2022-09-11.
        let gap: Date = "2022-09-11".parse().unwrap();
        assert_eq!(
            local_midnight(gap, chrono_tz::America::Santiago).to_rfc3339(),
            "2022-09-11T01:00:00-03:00"
        );
    }
}
