//! Input checks for connections and the mapping of what GitLab said into messages for people.

use labgate_gitlab::{
    AccessLevel, Evidence, GitLabBaseUrl, GitLabError, NetworkPolicy, TokenInfo, TokenKind,
    UnauthorizedReason,
};
use time::OffsetDateTime;

use super::model::{AccessTokenType, ConnectionMethod, ResourceKind, Scopes, Usage};
use crate::{CoreError, Result};

pub const DEFAULT_INSTANCE: &str = "https://gitlab.com";
pub const DEFAULT_ROTATE_BEFORE_DAYS: u32 = 7;
const MAX_TOKEN_LEN: usize = 1_024;

pub fn name(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(CoreError::validation(
            "name",
            "name must be a slug of 1-64 characters: lowercase letters, digits and dashes, not starting or ending with a dash",
        ))
    }
}

pub fn description(description: Option<&str>) -> Result<()> {
    if description.is_some_and(|d| d.chars().count() > 256) {
        return Err(CoreError::validation(
            "description",
            "description must be at most 256 characters",
        ));
    }
    Ok(())
}

pub fn project_id(project_id: Option<&str>) -> Result<()> {
    if project_id.is_some_and(|p| p.is_empty() || p.chars().count() > 128 || p.chars().any(char::is_control))
    {
        return Err(CoreError::validation(
            "projectId",
            "projectId must be 1-128 printable characters",
        ));
    }
    Ok(())
}

pub fn unsupported(platform_managed: Option<bool>, gateway_id: Option<&serde_json::Value>) -> Result<()> {
    if platform_managed == Some(true) {
        return Err(CoreError::validation(
            "isPlatformManagedCredentials",
            "isPlatformManagedCredentials is not supported for GitLab connections",
        ));
    }
    if gateway_id.is_some_and(|g| !g.is_null()) {
        return Err(CoreError::validation(
            "gatewayId",
            "gatewayId is not supported for GitLab connections: labgate reaches GitLab directly",
        ));
    }
    Ok(())
}

pub fn method(method: &str) -> Result<ConnectionMethod> {
    match ConnectionMethod::parse(method) {
        Some(ConnectionMethod::AccessToken) => Ok(ConnectionMethod::AccessToken),
        Some(ConnectionMethod::OAuth) => Err(CoreError::validation(
            "method",
            "OAuth connections are created through the OAuth flow, not with this request",
        )),
        None => Err(CoreError::validation(
            "method",
            "unknown method: GitLab connections support \"access-token\" (and \"oauth\" through the OAuth flow)",
        )),
    }
}

/// `personal`, `project` or `group`.
pub fn token_type(declared: &str) -> Result<AccessTokenType> {
    AccessTokenType::parse(declared).ok_or_else(|| {
        CoreError::validation(
            "credentials.accessTokenType",
            format!(
                "credentials.accessTokenType must be one of {}",
                AccessTokenType::names()
            ),
        )
    })
}

/// The kind introspection reports for a token of the declared type.
pub fn gitlab_kind(declared: AccessTokenType) -> TokenKind {
    match declared {
        AccessTokenType::Personal => TokenKind::Personal,
        AccessTokenType::Project => TokenKind::Project,
        AccessTokenType::Group => TokenKind::Group,
    }
}

pub fn resource_kind(kind: labgate_gitlab::ResourceKind) -> ResourceKind {
    match kind {
        labgate_gitlab::ResourceKind::Project => ResourceKind::Project,
        labgate_gitlab::ResourceKind::Group => ResourceKind::Group,
    }
}

pub fn token(token: &str) -> Result<()> {
    if token.is_empty()
        || token.chars().count() > MAX_TOKEN_LEN
        || token.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(CoreError::validation(
            "credentials.accessToken",
            "credentials.accessToken must be a GitLab access token (no spaces, at most 1024 characters)",
        ));
    }
    Ok(())
}

/// Parses the instance URL: default gitlab.com, path prefix kept, trailing slash trimmed;
/// userinfo, query and fragment refused; plain http only for allow-listed hosts.
pub fn instance_url(input: Option<&str>, policy: &NetworkPolicy) -> Result<GitLabBaseUrl> {
    let input = input
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_INSTANCE);
    gitlab_url("credentials.instanceUrl", input, policy)
}

/// A GitLab base URL given in `field`: parsed (path prefix kept), at most 2048 characters, and
/// plain http:// only for hosts an operator allow-listed. Where it may point is checked when it
/// is resolved.
pub fn gitlab_url(field: &'static str, text: &str, policy: &NetworkPolicy) -> Result<GitLabBaseUrl> {
    if text.len() > 2_048 {
        return Err(CoreError::validation(
            field,
            format!("{field} must be at most 2048 characters"),
        ));
    }
    let url = GitLabBaseUrl::parse(text).map_err(|error| CoreError::validation(field, error.to_string()))?;
    if url.scheme() == "http" && !policy.plain_http_allowed(url.host()) {
        return Err(CoreError::validation(
            field,
            format!(
                "{field} must use https://; plain http:// is only allowed for hosts an operator allow-lists with LABGATE_ALLOW_INTERNAL_HOSTS"
            ),
        ));
    }
    Ok(url)
}

pub fn usages(usages: Option<&[String]>) -> Result<Vec<Usage>> {
    let mut out: Vec<Usage> = Vec::new();
    for text in usages.unwrap_or_default() {
        let usage = Usage::parse(text).ok_or_else(|| {
            CoreError::validation(
                "usages",
                format!("unknown usage {text:?}; known usages are {}", Usage::names()),
            )
        })?;
        if !out.contains(&usage) {
            out.push(usage);
        }
    }
    Ok(out)
}

pub fn rotate_before_days(days: Option<u32>) -> Result<u32> {
    let days = days.unwrap_or(DEFAULT_ROTATE_BEFORE_DAYS);
    if (1..=365).contains(&days) {
        Ok(days)
    } else {
        Err(CoreError::validation(
            "rotateBeforeDays",
            "rotateBeforeDays must be between 1 and 365",
        ))
    }
}

/// Automatic rotation uses the token itself (`POST /personal_access_tokens/self/rotate`), which
/// GitLab allows with the `api` or `self_rotate` scope.
pub fn can_self_rotate(scopes: &Scopes) -> Result<()> {
    if scopes.contains_any(&["api", "self_rotate"]) {
        Ok(())
    } else {
        Err(CoreError::validation(
            "autoRotate",
            "autoRotate needs a token with the api or self_rotate scope (a token rotates itself)",
        ))
    }
}

/// What introspection failing on create or credential update means to the caller.
pub fn introspection_error(error: &GitLabError) -> CoreError {
    let field = "credentials.accessToken";
    match error {
        GitLabError::Unauthorized { reason } => CoreError::validation(
            field,
            match reason {
                UnauthorizedReason::Expired => "the access token has expired; create a new token in GitLab",
                UnauthorizedReason::Revoked => "the access token was revoked; create a new token in GitLab",
                UnauthorizedReason::Invalid => {
                    "the access token is not valid for this GitLab instance (unknown token, or a token of another instance)"
                }
            },
        ),
        GitLabError::Tls { .. } => CoreError::validation(
            "credentials.instanceUrl",
            format!("TLS failure: {error}; check the instance URL and its certificate"),
        ),
        GitLabError::Blocked { .. } => {
            CoreError::validation("credentials.instanceUrl", format!("address refused: {error}"))
        }
        GitLabError::Unreachable { .. } => CoreError::validation(
            "credentials.instanceUrl",
            format!("instance unreachable: {error}"),
        ),
        GitLabError::Timeout { .. } => {
            CoreError::validation("credentials.instanceUrl", format!("instance timed out: {error}"))
        }
        GitLabError::UnexpectedResponse { .. } | GitLabError::RedirectRefused { .. } => {
            CoreError::validation("credentials.instanceUrl", format!("not a GitLab API: {error}"))
        }
        other => CoreError::validation(field, format!("GitLab could not validate the token: {other}")),
    }
}

fn kind_name(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::Personal => AccessTokenType::Personal.as_str(),
        TokenKind::Project => AccessTokenType::Project.as_str(),
        TokenKind::Group => AccessTokenType::Group.as_str(),
        TokenKind::OAuth => ConnectionMethod::OAuth.as_str(),
        TokenKind::AccessTokenOfUnknownOwner => "unknown",
    }
}

/// Checks what introspection found: a live token of the declared kind.
pub fn token_info(info: &TokenInfo, declared: AccessTokenType, now: OffsetDateTime) -> Result<()> {
    let declared = gitlab_kind(declared);
    let field = "credentials.accessToken";
    if info.revoked {
        return Err(CoreError::validation(
            field,
            "the access token was revoked; create a new token in GitLab",
        ));
    }
    if !info.active || info.expires_at.is_some_and(|at| at <= now) {
        return Err(CoreError::validation(
            field,
            "the access token has expired; create a new token in GitLab",
        ));
    }
    match info.kind {
        TokenKind::AccessTokenOfUnknownOwner => Ok(()),
        kind if kind == declared => Ok(()),
        kind => Err(CoreError::validation(
            "credentials.accessTokenType",
            format!(
                "the token is a {} token, but accessTokenType says {}",
                kind_name(kind),
                kind_name(declared)
            ),
        )),
    }
}

/// What a token lacks for its usages, as a sentence naming each missing scope or role; `None`
/// when it has everything. Each need is what GitLab itself enforces for the work:
///
/// - CI/CD variables are written through the API (`api`) by a Maintainer of the project, or an
///   Owner of the group for group variables. A group token's sync may write either, and its
///   usages do not say which, so it needs Owner.
/// - Scanning clones over Git-over-HTTPS, which `api` grants as `read_repository` does, and
///   manages the push webhook through the API (`api`): a Maintainer for a project hook, an Owner
///   for a group hook.
///
/// Roles are checked for project and group tokens (their role is known); a personal token's role
/// depends on the project or group it will be used on.
pub fn usage_gaps(
    usages: &[Usage],
    scopes: &Scopes,
    resource: Option<ResourceKind>,
    access_level: Option<AccessLevel>,
) -> Option<String> {
    gaps(
        usages,
        &|scope| Some(scopes.contains(scope)),
        resource,
        access_level,
    )
}

/// [`usage_gaps`] for what introspection found. When GitLab could not describe the token (before
/// 15.5) its scopes are unknown, and only a scope it was seen to lack is a gap: `read_api` (and
/// so `api`) when it could not list projects.
pub fn token_usage_gaps(
    usages: &[Usage],
    info: &TokenInfo,
    resource: Option<ResourceKind>,
) -> Option<String> {
    match &info.evidence {
        Evidence::Described => usage_gaps(
            usages,
            &info.scopes.iter().cloned().collect(),
            resource,
            info.access_level,
        ),
        Evidence::Behaviour { reads_api, .. } => {
            let reads_api = *reads_api;
            let has = move |scope: &str| match scope {
                "api" | "read_api" if !reads_api => Some(false),
                "read_api" => Some(true),
                _ => None,
            };
            gaps(usages, &has, resource, info.access_level)
        }
    }
}

/// `has(scope)`: whether the token has `scope`, `None` when that is unknown (not a gap).
fn gaps(
    usages: &[Usage],
    has: &dyn Fn(&str) -> Option<bool>,
    resource: Option<ResourceKind>,
    access_level: Option<AccessLevel>,
) -> Option<String> {
    let lacks = |scope: &str| has(scope) == Some(false);
    let mut gaps = Vec::new();
    let level = access_level.unwrap_or(AccessLevel::NO_ACCESS);
    for &usage in usages {
        match usage {
            Usage::SecretSync | Usage::SecretScanning => {
                if lacks("api") {
                    gaps.push(format!("{usage} needs the scope api"));
                }
                match resource {
                    Some(ResourceKind::Project) if level < AccessLevel::MAINTAINER => gaps.push(format!(
                        "{usage} needs the Maintainer role or higher on the project (the token has {level})"
                    )),
                    Some(ResourceKind::Group) if level < AccessLevel::OWNER => gaps.push(format!(
                        "{usage} needs the Owner role on the group (the token has {level})"
                    )),
                    _ => {}
                }
            }
            Usage::AccessSync => {
                if lacks("api") && lacks("read_api") {
                    gaps.push(format!("{usage} needs the scope read_api (or api to provision)"));
                }
                match resource {
                    Some(ResourceKind::Group) if level < AccessLevel::OWNER => gaps.push(format!(
                        "{usage} needs the Owner role on the group to see members' details (the token has {level})"
                    )),
                    Some(ResourceKind::Project) => gaps.push(format!(
                        "{usage} reads group memberships: use a group token with the Owner role or a personal token"
                    )),
                    _ => {}
                }
            }
        }
    }
    (!gaps.is_empty()).then(|| gaps.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(list: &[&str]) -> Scopes {
        list.iter().copied().collect()
    }

    fn u(list: &[&str]) -> Vec<Usage> {
        list.iter().map(|text| Usage::parse(text).unwrap()).collect()
    }

    #[test]
    fn names_are_slugs() {
        assert!(name("prod-gitlab-1").is_ok());
        for bad in ["", "Prod", "a b", "-a", "a-", &"a".repeat(65)] {
            assert!(name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usage_gaps_name_the_missing_scope_and_role() {
        let gaps = usage_gaps(
            &u(&["secret-scanning"]),
            &s(&["read_repository"]),
            Some(ResourceKind::Project),
            Some(AccessLevel::DEVELOPER),
        )
        .unwrap();
        assert!(gaps.contains("api") && gaps.contains("Maintainer"), "{gaps}");
        // `api` covers cloning as `read_repository` does.
        assert!(
            usage_gaps(
                &u(&["secret-scanning"]),
                &s(&["api"]),
                Some(ResourceKind::Project),
                Some(AccessLevel::MAINTAINER)
            )
            .is_none()
        );
        assert!(
            usage_gaps(
                &u(&["secret-sync"]),
                &s(&["api"]),
                Some(ResourceKind::Group),
                Some(AccessLevel::OWNER)
            )
            .is_none()
        );
        let gaps = usage_gaps(
            &u(&["secret-sync"]),
            &s(&["api"]),
            Some(ResourceKind::Group),
            Some(AccessLevel::MAINTAINER),
        )
        .unwrap();
        assert!(gaps.contains("Owner"), "{gaps}");
        let gaps = usage_gaps(&u(&["access-sync"]), &s(&["read_repository"]), None, None).unwrap();
        assert!(gaps.contains("read_api"), "{gaps}");
        assert!(usage_gaps(&u(&["access-sync"]), &s(&["read_api"]), None, None).is_none());
    }

    #[test]
    fn instance_urls() {
        let deny = NetworkPolicy::deny_internal();
        assert_eq!(instance_url(None, &deny).unwrap().as_str(), "https://gitlab.com");
        assert_eq!(
            instance_url(Some("https://example.com/gitlab/"), &deny)
                .unwrap()
                .as_str(),
            "https://example.com/gitlab"
        );
        for bad in [
            "https://u:p@example.com",
            "https://example.com?x=1",
            "https://example.com#f",
            "http://example.com",
            "ftp://x",
        ] {
            assert!(instance_url(Some(bad), &deny).is_err(), "{bad}");
        }
        let allow = NetworkPolicy::parse("127.0.0.1").unwrap();
        assert!(instance_url(Some("http://127.0.0.1:8080"), &allow).is_ok());
    }
}
