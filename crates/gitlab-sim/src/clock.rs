//! The simulated clock: wall-clock time plus an offset that tests move forward.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::{Date, OffsetDateTime};

/// A clock shared by every part of one simulator instance.
///
/// It starts at wall-clock time and only moves forward through [`Clock::advance`], so expiry can be
/// tested without sleeping.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// A clock at wall-clock time.
    pub fn new() -> Self {
        Self::default()
    }

    /// The simulated current time (UTC).
    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + time::Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// The simulated current date (UTC).
    pub fn today(&self) -> Date {
        self.now().date()
    }

    /// The simulated current time as Unix seconds.
    pub fn unix(&self) -> i64 {
        self.now().unix_timestamp()
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: std::time::Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// How far the clock is ahead of wall-clock time.
    pub fn offset(&self) -> std::time::Duration {
        std::time::Duration::from_millis(u64::try_from(self.offset_ms.load(Ordering::Relaxed)).unwrap_or(0))
    }
}

/// Formats a timestamp the way GitLab's API does: milliseconds and a `Z`.
pub fn fmt_ts(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Formats a date as `YYYY-MM-DD`.
pub fn fmt_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Formats a timestamp the way GitLab's webhook bodies do (`2024-01-24 16:27:40 UTC`).
pub fn fmt_hook_ts(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Formats a timestamp as an HTTP date (`Tue, 05 Jan 2021 11:00:00 GMT`).
pub fn fmt_http_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let wd = match t.weekday() {
        time::Weekday::Monday => "Mon",
        time::Weekday::Tuesday => "Tue",
        time::Weekday::Wednesday => "Wed",
        time::Weekday::Thursday => "Thu",
        time::Weekday::Friday => "Fri",
        time::Weekday::Saturday => "Sat",
        time::Weekday::Sunday => "Sun",
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS
        .get(usize::from(u8::from(t.month())) - 1)
        .copied()
        .unwrap_or("Jan");
    format!(
        "{wd}, {:02} {m} {:04} {:02}:{:02}:{:02} GMT",
        t.day(),
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s.trim(), &fmt).ok()
}

/// Parses an RFC 3339 timestamp or a bare date (midnight UTC).
pub fn parse_ts(s: &str) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339) {
        return Some(t);
    }
    parse_date(s).map(|d| d.midnight().assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_moves_now_forward() {
        let c = Clock::new();
        let before = c.now();
        c.advance(std::time::Duration::from_secs(7200));
        assert!(c.now() - before >= time::Duration::seconds(7200));
    }

    #[test]
    fn formats_match_gitlab() {
        let t = time::macros::datetime!(2021-01-05 11:00:00.729 UTC);
        assert_eq!(fmt_ts(t), "2021-01-05T11:00:00.729Z");
        assert_eq!(fmt_http_date(t), "Tue, 05 Jan 2021 11:00:00 GMT");
        assert_eq!(fmt_hook_ts(t), "2021-01-05 11:00:00 UTC");
        assert_eq!(
            parse_date("2027-06-30").map(fmt_date).as_deref(),
            Some("2027-06-30")
        );
    }
}
