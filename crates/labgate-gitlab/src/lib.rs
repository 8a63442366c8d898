//! labgate's GitLab client: REST v4 and OAuth, for gitlab.com and self-managed instances.
//!
//! - [`GitLabClient`] — one per instance; typed resources, pagination streams ([`Paged`]),
//!   retries for idempotent requests, a client-side rate limiter per (instance, token).
//! - [`GitLabError`] — one taxonomy parsed from GitLab's error body families and transport
//!   failures; messages carry what a user needs and never a secret.
//! - [`net`] — the SSRF guard ([`NetworkPolicy`], [`check_url`], [`GuardedHttp`]) used
//!   by this client and by every other outgoing request labgate makes.
//! - [`oauth`] — authorize URL with PKCE, code exchange, refresh, revoke, token info, over the
//!   same guarded HTTP stack.
//! - [`GitLabClient::introspect`] — a token's kind, scopes, expiry, owner and resource.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod base_url;
mod client;
mod error;
mod meter;
mod model;
pub mod net;
pub mod oauth;
mod pagination;
mod ratelimit;
mod resources;

pub use base_url::{BaseUrlError, GitLabBaseUrl};
pub use client::{ClientOptions, Credential, GitLabClient, InstanceSettings};
pub use error::{GitLabError, UnauthorizedReason};
pub use meter::RequestMeter;
pub use model::*;
pub use net::{BlockReason, GuardedHttp, NameResolver, NetworkPolicy, check_url};
pub use pagination::{Paged, next_link};
pub use ratelimit::{PaceSnapshot, jittered};
pub use resources::{
    Evidence, GroupFilter, Invitee, MemberScope, NewHook, NewResourceToken, NewVariable, OAuthApplicationRef,
    OAuthTokenInfo, ProjectFilter, ResourceKind, TokenFilter, TokenInfo, TokenKind, TokenOwner,
    TokenResource, UserFilter,
};
