//! GitLab as an OAuth 2.0 provider, through the `oauth2` crate running over labgate's own HTTP
//! stack (SSRF guard, custom CA, proxy). Code exchange and refresh are never retried: a code is
//! single-use, and a refresh rotates both tokens at once (a repeat gets `invalid_grant`).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use oauth2::basic::{BasicClient, BasicErrorResponse, BasicErrorResponseType, BasicTokenResponse};
use oauth2::{
    AsyncHttpClient, AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, HttpRequest, HttpResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use url::Url;

use crate::base_url::GitLabBaseUrl;
use crate::client::GitLabClient;
use crate::error::{self, GitLabError};
use crate::resources::OAuthTokenInfo;

/// A PKCE code verifier (43–128 characters), handed back to [`OAuthClient::exchange_code`] with
/// the authorization code.
pub struct PkceVerifier(SecretString);

impl PkceVerifier {
    /// A verifier kept (sealed) between the start of a flow and its callback.
    pub fn from_secret(secret: SecretString) -> Self {
        PkceVerifier(secret)
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

impl std::fmt::Debug for PkceVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PkceVerifier(<redacted>)")
    }
}

/// Tokens from the token endpoint.
#[derive(Debug, Clone)]
pub struct OAuthTokens {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub scopes: Vec<String>,
    /// `expires_in` as GitLab sent it (7200 s).
    pub expires_in: Option<Duration>,
    /// Our clock when the answer arrived plus `expires_in` (immune to clock skew).
    pub expires_at: Option<OffsetDateTime>,
}

/// An OAuth application registered on one instance.
#[derive(Clone)]
pub struct OAuthApp {
    pub client_id: String,
    /// Confidential applications only.
    pub client_secret: Option<SecretString>,
    pub redirect_uri: Url,
}

impl std::fmt::Debug for OAuthApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthApp")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("redirect_uri", &self.redirect_uri.as_str())
            .finish()
    }
}

type ConfiguredClient = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

fn endpoint(base: &GitLabBaseUrl, path: &str) -> Result<Url, GitLabError> {
    base.join(path)
        .map_err(|e| GitLabError::Config(format!("cannot build the OAuth URL {path}: {e}")))
}

fn oauth_client(base: &GitLabBaseUrl, app: &OAuthApp) -> Result<ConfiguredClient, GitLabError> {
    let mut c = BasicClient::new(ClientId::new(app.client_id.clone()))
        .set_auth_uri(AuthUrl::from_url(endpoint(base, "/oauth/authorize")?))
        .set_token_uri(TokenUrl::from_url(endpoint(base, "/oauth/token")?))
        .set_redirect_uri(RedirectUrl::from_url(app.redirect_uri.clone()))
        // GitLab documents client credentials in the form body (`client_id`, `client_secret`).
        .set_auth_type(AuthType::RequestBody);
    if let Some(s) = &app.client_secret {
        c = c.set_client_secret(ClientSecret::new(s.expose_secret().to_owned()));
    }
    Ok(c)
}

/// The authorization URL (`response_type=code`, PKCE S256, `state`, space-separated scopes) and
/// the verifier to keep for the callback.
pub fn authorize_url(
    base: &GitLabBaseUrl,
    app: &OAuthApp,
    scopes: &[String],
    state: &str,
) -> Result<(Url, PkceVerifier), GitLabError> {
    let client = oauth_client(base, app)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let state = state.to_owned();
    let (url, _) = client
        .authorize_url(move || CsrfToken::new(state))
        .add_scopes(scopes.iter().map(|s| Scope::new(s.clone())))
        .set_pkce_challenge(challenge)
        .url();
    Ok((
        url,
        PkceVerifier(SecretString::from(verifier.secret().to_owned())),
    ))
}

/// A transport error carrying our own error through the `oauth2` crate.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct TransportError(GitLabError);

/// The `oauth2` crate's HTTP client trait, implemented over [`GitLabClient`]: same SSRF guard,
/// CA bundle, proxy and logging; no retries; HTML or 5xx answers become our own errors.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    client: GitLabClient,
    template: &'static str,
}

impl<'c> AsyncHttpClient<'c> for Transport {
    type Error = TransportError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, TransportError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let resp = self
                .client
                .exchange_raw(request, self.template)
                .await
                .map_err(TransportError)?;
            let status = resp.status();
            let json = error::is_json(resp.headers())
                || resp.body().iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
            if status.is_server_error() || status.as_u16() == 429 || (!json && status.as_u16() != 200) {
                return Err(TransportError(error::from_response(
                    status,
                    resp.headers(),
                    resp.body(),
                    self.template,
                )));
            }
            if !json {
                return Err(TransportError(GitLabError::UnexpectedResponse {
                    status: status.as_u16(),
                    content_type: error::content_type(resp.headers()),
                }));
            }
            Ok(resp)
        })
    }
}

fn map_token_error(e: RequestTokenError<TransportError, BasicErrorResponse>) -> GitLabError {
    match e {
        RequestTokenError::ServerResponse(r) => match r.error() {
            BasicErrorResponseType::InvalidGrant => GitLabError::InvalidGrant,
            BasicErrorResponseType::InvalidClient => GitLabError::InvalidClient,
            other => GitLabError::OAuth {
                error: other.as_ref().to_owned(),
                description: r.error_description().cloned(),
            },
        },
        RequestTokenError::Request(TransportError(e)) => e,
        RequestTokenError::Parse(err, _) => GitLabError::Decode {
            path: "/oauth/token".to_owned(),
            detail: err.to_string(),
        },
        RequestTokenError::Other(detail) => GitLabError::OAuth {
            error: "unexpected_answer".to_owned(),
            description: Some(detail),
        },
    }
}

fn tokens_of(r: &BasicTokenResponse, received: OffsetDateTime) -> OAuthTokens {
    let expires_in = r.expires_in();
    OAuthTokens {
        access_token: SecretString::from(r.access_token().secret().to_owned()),
        refresh_token: r
            .refresh_token()
            .map(|t| SecretString::from(t.secret().to_owned())),
        scopes: r
            .scopes()
            .map(|s| s.iter().map(|x| x.to_string()).collect())
            .unwrap_or_default(),
        expires_in,
        expires_at: expires_in.and_then(|d| time::Duration::try_from(d).ok().map(|d| received + d)),
    }
}

/// OAuth operations against one instance with one application.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    gitlab: GitLabClient,
    app: OAuthApp,
}

impl OAuthClient {
    pub fn new(gitlab: GitLabClient, app: OAuthApp) -> Self {
        Self { gitlab, app }
    }

    fn transport(&self, template: &'static str) -> Transport {
        Transport {
            client: self.gitlab.clone(),
            template,
        }
    }

    pub fn authorize_url(&self, scopes: &[String], state: &str) -> Result<(Url, PkceVerifier), GitLabError> {
        authorize_url(self.gitlab.base_url(), &self.app, scopes, state)
    }

    /// Exchanges an authorization code. Never retried (codes are single-use). `verifier` is
    /// `None` only for a code whose authorization the client ran itself without PKCE.
    #[tracing::instrument(skip_all)]
    pub async fn exchange_code(
        &self,
        code: &SecretString,
        verifier: Option<&PkceVerifier>,
    ) -> Result<OAuthTokens, GitLabError> {
        let client = oauth_client(self.gitlab.base_url(), &self.app)?;
        let t = self.transport("/oauth/token");
        let mut request = client.exchange_code(AuthorizationCode::new(code.expose_secret().to_owned()));
        if let Some(verifier) = verifier {
            request = request.set_pkce_verifier(PkceCodeVerifier::new(verifier.0.expose_secret().to_owned()));
        }
        let r = request.request_async(&t).await.map_err(map_token_error)?;
        Ok(tokens_of(&r, OffsetDateTime::now_utc()))
    }

    /// Refreshes: GitLab rotates both tokens and kills the old pair at once. Never retried; on
    /// a transport error the outcome is unknown (the caller's journal decides).
    /// [`GitLabError::InvalidGrant`] means the grant is gone (or another process refreshed first).
    #[tracing::instrument(skip_all)]
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<OAuthTokens, GitLabError> {
        let client = oauth_client(self.gitlab.base_url(), &self.app)?;
        let t = self.transport("/oauth/token");
        let rt = RefreshToken::new(refresh_token.expose_secret().to_owned());
        let r = client
            .exchange_refresh_token(&rt)
            .request_async(&t)
            .await
            .map_err(map_token_error)?;
        Ok(tokens_of(&r, OffsetDateTime::now_utc()))
    }

    /// `POST /oauth/revoke` for an access or refresh token (RFC 7009; success is `200 {}`).
    ///
    /// Sent directly rather than through the `oauth2` crate, which refuses `http://` revocation
    /// URLs even for allow-listed internal instances; the network policy decides that here.
    #[tracing::instrument(skip_all)]
    pub async fn revoke(&self, token: &SecretString, is_refresh_token: bool) -> Result<(), GitLabError> {
        let url = endpoint(self.gitlab.base_url(), "/oauth/revoke")?;
        // Built in its own scope: the serializer is not `Send` and must not live across awaits.
        let body = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("client_id", &self.app.client_id);
            if let Some(s) = &self.app.client_secret {
                form.append_pair("client_secret", s.expose_secret());
            }
            form.append_pair("token", token.expose_secret());
            form.append_pair(
                "token_type_hint",
                if is_refresh_token {
                    "refresh_token"
                } else {
                    "access_token"
                },
            );
            SecretString::from(form.finish())
        };
        let request = http::Request::post(url.as_str())
            .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(http::header::ACCEPT, "application/json")
            .body(body.expose_secret().as_bytes().to_vec())
            .map_err(|e| GitLabError::Config(format!("cannot build the revoke request: {e}")))?;
        let resp = self.gitlab.exchange_raw(request, "/oauth/revoke").await?;
        if resp.status().is_success() {
            return Ok(());
        }
        Err(error::from_response(
            resp.status(),
            resp.headers(),
            resp.body(),
            "/oauth/revoke",
        ))
    }

    /// `GET /oauth/token/info` (needs a live access token).
    pub async fn token_info(&self, access_token: &SecretString) -> Result<OAuthTokenInfo, GitLabError> {
        self.gitlab.oauth_token_info(access_token).await
    }
}
