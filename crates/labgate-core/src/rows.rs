//! The store boundary: stored rows hold text, integers and milliseconds; the domain holds enums,
//! ids, unsigned counts and times. Every value is parsed here once, and a value the domain does
//! not know is an error naming its column, never a silent default.

use std::str::FromStr;

use time::OffsetDateTime;

use crate::CoreError;

/// A stored value the domain cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{column} holds {value:?}, which is not a valid value")]
pub struct StoredValueError {
    /// `table.column`.
    pub column: &'static str,
    pub value: String,
}

impl From<StoredValueError> for CoreError {
    fn from(error: StoredValueError) -> Self {
        CoreError::internal(error)
    }
}

pub(crate) type Parsed<T> = Result<T, StoredValueError>;

fn invalid(column: &'static str, value: impl ToString) -> StoredValueError {
    StoredValueError {
        column,
        value: value.to_string(),
    }
}

pub(crate) fn text<T: FromStr>(column: &'static str, value: &str) -> Parsed<T> {
    value.parse().map_err(|_| invalid(column, value))
}

/// A stored role (of an API key or a UI user).
pub(crate) fn role(column: &'static str, value: &str) -> Parsed<labgate_proto::api_keys::Role> {
    labgate_proto::api_keys::Role::parse(value).ok_or_else(|| invalid(column, value))
}

pub(crate) fn opt_text<T: FromStr>(column: &'static str, value: Option<&str>) -> Parsed<Option<T>> {
    value.map(|value| text(column, value)).transpose()
}

pub(crate) fn time(column: &'static str, ms: i64) -> Parsed<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).map_err(|_| invalid(column, ms))
}

pub(crate) fn opt_time(column: &'static str, ms: Option<i64>) -> Parsed<Option<OffsetDateTime>> {
    ms.map(|ms| time(column, ms)).transpose()
}

/// Milliseconds since the epoch, as the store keeps times. Times before 1970 or after year
/// 292 million do not occur in labgate.
pub(crate) fn ms(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

pub(crate) fn opt_ms(at: Option<OffsetDateTime>) -> Option<i64> {
    at.map(ms)
}

/// A count or GitLab id stored in a signed column.
pub(crate) fn unsigned<T: TryFrom<i64>>(column: &'static str, value: impl Into<i64>) -> Parsed<T> {
    let value = value.into();
    T::try_from(value).map_err(|_| invalid(column, value))
}

pub(crate) fn opt_unsigned<T: TryFrom<i64>>(
    column: &'static str,
    value: Option<impl Into<i64>>,
) -> Parsed<Option<T>> {
    value.map(|value| unsigned(column, value)).transpose()
}

/// A boolean stored as 0 or 1 (SQLite has no boolean type).
pub(crate) fn flag(column: &'static str, value: i32) -> Parsed<bool> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(invalid(column, other)),
    }
}

pub(crate) fn opt_flag(column: &'static str, value: Option<i32>) -> Parsed<Option<bool>> {
    value.map(|value| flag(column, value)).transpose()
}

/// A JSON array of text stored in one column.
pub(crate) fn json_list<T: FromStr>(column: &'static str, value: &str) -> Parsed<Vec<T>> {
    let items: Vec<String> = serde_json::from_str(value).map_err(|_| invalid(column, value))?;
    items.iter().map(|item| text(column, item)).collect()
}

pub(crate) fn to_json_list<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    let items: Vec<String> = items.into_iter().map(|item| item.to_string()).collect();
    serde_json::Value::from(items).to_string()
}

/// An unsigned value for a signed column; values labgate writes always fit.
pub(crate) fn signed<T: TryInto<i64>>(value: T) -> i64 {
    value.try_into().unwrap_or(i64::MAX)
}

pub(crate) fn signed32<T: TryInto<i32>>(value: T) -> i32 {
    value.try_into().unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use labgate_proto::connections::ConnectionStatus;

    #[test]
    fn unknown_values_name_their_column() {
        let error = text::<ConnectionStatus>("app_connections.status", "bogus").unwrap_err();
        assert_eq!(error.column, "app_connections.status");
        assert_eq!(error.value, "bogus");
        assert!(flag("t.enabled", 2).is_err());
        assert!(unsigned::<u32>("t.version", -1_i64).is_err());
        assert!(json_list::<ConnectionStatus>("t.list", "[\"active\",\"nope\"]").is_err());
        assert!(json_list::<ConnectionStatus>("t.list", "not json").is_err());
        assert_eq!(
            json_list::<ConnectionStatus>("t.list", "[\"active\"]").unwrap(),
            vec![ConnectionStatus::Active]
        );
        assert_eq!(ms(time("t.at", 1_800_000_000_123).unwrap()), 1_800_000_000_123);
    }
}
