//! Offset pagination shared by every list endpoint.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 100;
/// The largest offset the store can take: both backends count rows in a signed 64-bit integer.
/// A larger one is refused rather than clamped, so a caller never gets an empty page for a typo.
pub const MAX_OFFSET: u64 = i64::MAX as u64;

// The bounds in the `param` attributes are MAX_OFFSET and MAX_LIMIT spelled out: attributes take
// literals only (`pagination_bounds_match_the_document` keeps them equal).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Records to skip (default 0).
    #[param(minimum = 0, maximum = 9_223_372_036_854_775_807_u64)]
    pub offset: Option<u64>,
    /// Records to return, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}
