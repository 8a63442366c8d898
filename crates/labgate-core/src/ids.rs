//! Identifiers: UUIDv7 strings, time-ordered so indexes stay compact.

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Whether `value` has the shape of an id labgate issued; lets handlers refuse junk before a
/// query runs.
pub fn is_valid_id(value: &str) -> bool {
    uuid::Uuid::try_parse(value).is_ok()
}
