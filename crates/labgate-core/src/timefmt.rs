//! Times as text on the wire: RFC 3339.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub fn format_time(at: OffsetDateTime) -> String {
    at.format(&Rfc3339)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

pub fn format_opt(at: Option<OffsetDateTime>) -> Option<String> {
    at.map(format_time)
}

/// `YYYY-MM-DD`, for messages about expiry dates.
pub fn format_date(at: OffsetDateTime) -> String {
    let text = format_time(at);
    text.get(..10).unwrap_or(&text).to_owned()
}

/// Parses RFC 3339 text; `None` when it is not a valid time.
pub fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_rfc3339() {
        let at = parse_time("2026-11-22T01:00:00Z").unwrap();
        assert_eq!(at.unix_timestamp(), 1_795_309_200);
        assert_eq!(parse_time(&format_time(at)), Some(at));
        assert_eq!(format_date(at), "2026-11-22");
        assert_eq!(parse_time("tomorrow"), None);
    }
}
