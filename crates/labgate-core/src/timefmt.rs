//! Conversions between stored milliseconds and RFC 3339 text on the wire.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub fn to_rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|at| at.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

pub fn opt_rfc3339(ms: Option<i64>) -> Option<String> {
    ms.map(to_rfc3339)
}

/// Parses RFC 3339 text into milliseconds; `None` when it is not a valid time.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let at = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_milliseconds() {
        let ms = 1_795_000_123_456;
        assert_eq!(parse_rfc3339(&to_rfc3339(ms)), Some(ms));
        assert_eq!(parse_rfc3339("2026-11-22T01:00:00Z"), Some(1_795_309_200_000));
        assert_eq!(parse_rfc3339("tomorrow"), None);
    }
}
