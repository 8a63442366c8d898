//! Typed endpoints, one module per resource: users, groups, projects (and repository
//! compare), members (with invitations and billable members), CI/CD variables, hooks, access
//! tokens, and the instance's version and metadata.

use url::Url;

use crate::client::{Credential, GitLabClient};
use crate::pagination::{Mode, Paged};

mod groups;
mod hooks;
mod instance;
mod members;
mod projects;
mod tokens;
mod users;
mod variables;

pub use groups::GroupFilter;
pub use hooks::NewHook;
pub use members::{Invitee, MemberGrant, MemberScope};
pub use projects::ProjectFilter;
pub use tokens::{
    Evidence, NewResourceToken, OAuthApplicationRef, OAuthTokenInfo, ResourceKind, TokenFilter, TokenInfo,
    TokenKind, TokenOwner, TokenResource,
};
pub use users::{NewUser, NewUserPassword, UserFilter, UserModeration};
pub use variables::NewVariable;

fn with_query(mut url: Url, pairs: &[(&str, String)]) -> Url {
    if !pairs.is_empty() {
        url.query_pairs_mut()
            .extend_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())));
    }
    url
}

fn flag(pairs: &mut Vec<(&'static str, String)>, name: &'static str, on: bool) {
    if on {
        pairs.push((name, "true".to_owned()));
    }
}

impl GitLabClient {
    fn list<T>(
        &self,
        cred: &Credential,
        template: &'static str,
        path: &str,
        query: &[(&str, String)],
        mode: Mode,
    ) -> Paged<T>
    where
        T: serde::de::DeserializeOwned + Send + 'static,
    {
        match self.api_url(path) {
            Ok(url) => self.paginate(Some(cred), template, with_query(url, query), mode),
            Err(e) => Box::pin(futures_util::stream::once(async move { Err(e) })),
        }
    }
}
