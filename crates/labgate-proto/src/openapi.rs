//! Schemas that the derive cannot state: fields Infisical's shape has but labgate does not
//! support, which accept only the value meaning "not used".

use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};

/// `false`, `null` or absent.
pub(crate) fn only_false() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::Array(vec![Type::Boolean, Type::Null]))
        .enum_values(Some([serde_json::Value::Bool(false), serde_json::Value::Null]))
}

/// `null` or absent.
pub(crate) fn only_null() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Null)
}
