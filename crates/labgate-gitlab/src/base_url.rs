//! The base URL of a GitLab instance: scheme, host, port and an optional relative URL root.

use std::fmt;
use std::str::FromStr;

use url::Url;

/// Why a GitLab base URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BaseUrlError {
    #[error("the GitLab URL is not a valid URL ({0}); expected e.g. https://gitlab.example.com")]
    Parse(String),
    #[error("the GitLab URL must use https:// (or http:// for an allow-listed internal host), not {0}://")]
    Scheme(String),
    #[error("the GitLab URL has no host name")]
    NoHost,
    #[error("the GitLab URL must not contain a user name or password; give the token separately")]
    Userinfo,
    #[error("the GitLab URL must not contain a query string (`?…`)")]
    Query,
    #[error("the GitLab URL must not contain a fragment (`#…`)")]
    Fragment,
    #[error("the GitLab URL must be the instance's base URL, not an API URL: remove `/api/v4` from the end")]
    ApiPath,
}

/// A parsed GitLab base URL such as `https://gitlab.example.com` or
/// `https://example.com/gitlab` (GitLab under a relative URL root).
///
/// No user info, query or fragment; the trailing slash is trimmed. Every REST path hangs off
/// `{base}/api/v4`, every OAuth path off `{base}/oauth`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct GitLabBaseUrl {
    url: Url,
}

impl GitLabBaseUrl {
    pub fn parse(input: &str) -> Result<Self, BaseUrlError> {
        let input = input.trim();
        let url = Url::parse(input).map_err(|e| BaseUrlError::Parse(e.to_string()))?;
        match url.scheme() {
            "https" | "http" => {}
            other => return Err(BaseUrlError::Scheme(other.to_owned())),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(BaseUrlError::NoHost);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(BaseUrlError::Userinfo);
        }
        if url.query().is_some() {
            return Err(BaseUrlError::Query);
        }
        if url.fragment().is_some() {
            return Err(BaseUrlError::Fragment);
        }
        let path = url.path().trim_end_matches('/').to_owned();
        if path.ends_with("/api/v4") || path.ends_with("/api") {
            return Err(BaseUrlError::ApiPath);
        }
        let mut url = url;
        url.set_path(&path);
        Ok(Self { url })
    }

    /// The host name (or IP literal, IPv6 without brackets).
    pub fn host(&self) -> &str {
        match self.url.host() {
            Some(url::Host::Ipv6(_)) => self
                .url
                .host_str()
                .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
                .unwrap_or_default(),
            _ => self.url.host_str().unwrap_or_default(),
        }
    }

    pub fn scheme(&self) -> &str {
        self.url.scheme()
    }

    pub fn port_or_default(&self) -> u16 {
        self.url.port_or_known_default().unwrap_or(443)
    }

    /// The relative URL root without trailing slash, `""` when GitLab runs at the root.
    pub fn path_prefix(&self) -> &str {
        let p = self.url.path();
        if p == "/" { "" } else { p }
    }

    /// The base URL as a string, without trailing slash.
    pub fn as_str(&self) -> &str {
        self.url.as_str().trim_end_matches('/')
    }

    pub fn as_url(&self) -> &Url {
        &self.url
    }

    /// `{base}{path}` where `path` starts with `/` and is already percent-encoded.
    pub fn join(&self, path: &str) -> Result<Url, url::ParseError> {
        Url::parse(&format!("{}{}", self.as_str(), path))
    }

    /// `{base}/api/v4{path}`.
    pub fn api(&self, path: &str) -> Result<Url, url::ParseError> {
        self.join(&format!("/api/v4{path}"))
    }

    /// Whether `url` has the same scheme, host and port as the instance.
    pub fn same_origin(&self, url: &Url) -> bool {
        url.scheme() == self.url.scheme()
            && url.host_str() == self.url.host_str()
            && url.port_or_known_default() == self.url.port_or_known_default()
    }
}

impl FromStr for GitLabBaseUrl {
    type Err = BaseUrlError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for GitLabBaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for GitLabBaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Userinfo is refused at parse time, so printing the URL never reveals a credential.
        write!(f, "GitLabBaseUrl({})", self.as_str())
    }
}

/// Percent-encodes one path segment (a project path such as `group/sub/project` becomes
/// `group%2Fsub%2Fproject`, as GitLab expects for `:id`).
pub(crate) fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_keeps_prefix() {
        let u = GitLabBaseUrl::parse(" https://example.com/gitlab/ ").unwrap();
        assert_eq!(u.as_str(), "https://example.com/gitlab");
        assert_eq!(u.path_prefix(), "/gitlab");
        assert_eq!(
            u.api("/user").unwrap().as_str(),
            "https://example.com/gitlab/api/v4/user"
        );
        let root = GitLabBaseUrl::parse("https://gitlab.com").unwrap();
        assert_eq!(root.as_str(), "https://gitlab.com");
        assert_eq!(root.path_prefix(), "");
        assert_eq!(
            root.join("/oauth/token").unwrap().as_str(),
            "https://gitlab.com/oauth/token"
        );
        let deep = GitLabBaseUrl::parse("http://10.0.0.1:8080/a/b//").unwrap();
        assert_eq!(deep.as_str(), "http://10.0.0.1:8080/a/b");
    }

    #[test]
    fn refuses_bad_shapes() {
        assert_eq!(
            GitLabBaseUrl::parse("https://user:pw@gitlab.com"),
            Err(BaseUrlError::Userinfo)
        );
        assert_eq!(
            GitLabBaseUrl::parse("https://gitlab.com/?x=1"),
            Err(BaseUrlError::Query)
        );
        assert_eq!(
            GitLabBaseUrl::parse("https://gitlab.com/#x"),
            Err(BaseUrlError::Fragment)
        );
        assert_eq!(
            GitLabBaseUrl::parse("ftp://gitlab.com"),
            Err(BaseUrlError::Scheme("ftp".into()))
        );
        assert_eq!(
            GitLabBaseUrl::parse("https://gitlab.com/api/v4"),
            Err(BaseUrlError::ApiPath)
        );
        assert!(matches!(
            GitLabBaseUrl::parse("gitlab.com"),
            Err(BaseUrlError::Parse(_))
        ));
    }

    #[test]
    fn ipv6_host_and_debug() {
        let u = GitLabBaseUrl::parse("https://[::1]:8443").unwrap();
        assert_eq!(u.host(), "::1");
        assert_eq!(format!("{u:?}"), "GitLabBaseUrl(https://[::1]:8443)");
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(encode_segment("acme/platform/api"), "acme%2Fplatform%2Fapi");
        assert_eq!(encode_segment("a b@c"), "a%20b%40c");
        assert_eq!(encode_segment("42"), "42");
    }
}
