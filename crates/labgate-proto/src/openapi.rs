//! Schemas that the derive cannot state: fields Infisical's shape has but labgate does not
//! support, which accept only the value meaning "not used", and closed lists that the wire type
//! keeps as text.

use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};

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

/// One or more of the scopes GitLab grants OAuth applications.
pub(crate) fn oauth_scopes() -> ArrayBuilder {
    ArrayBuilder::new()
        .description(Some(
            "GitLab scopes to ask for, at least one (e.g. `read_api`, `read_user`): those GitLab grants OAuth \
             applications.",
        ))
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(crate::connections::OAUTH_SCOPES.iter().copied())),
        )
        .min_items(Some(1))
}

/// [`oauth_scopes`] where the field may be left out.
pub(crate) fn optional_oauth_scopes() -> ArrayBuilder {
    oauth_scopes().description(Some(
        "GitLab scopes to ask for (e.g. `read_api`, `read_user`): those GitLab grants OAuth applications. \
         Default: `read_api`.",
    ))
}
