//! The client: settings, credentials, and the one request path every call goes through
//! (SSRF pre-checks, limiter, auth header, retries, error mapping, logging).

use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use url::Url;

use crate::base_url::GitLabBaseUrl;
use crate::error::{self, GitLabError};
use crate::meter::RequestMeter;
use crate::net::{self, NetworkPolicy, ProxySettings, TlsSettings, check_url, resolve_checked};
use crate::ratelimit::{Limiter, PaceSnapshot, backoff};

/// Largest answer body read into memory.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// Per-instance connection settings (data, stored with the instance).
#[derive(Clone)]
pub struct InstanceSettings {
    pub base_url: GitLabBaseUrl,
    /// Extra CA certificates (PEM) trusted for this instance, on top of the web PKI roots.
    pub ca_bundle_pem: Option<String>,
    /// Proxy for this instance (`http://host:port`); overrides `HTTPS_PROXY`/`HTTP_PROXY`.
    pub proxy: Option<String>,
    /// Operator-only: disable certificate verification for this instance (logged as a warning).
    pub danger_accept_invalid_certs: bool,
}

impl InstanceSettings {
    pub fn new(base_url: GitLabBaseUrl) -> Self {
        Self {
            base_url,
            ca_bundle_pem: None,
            proxy: None,
            danger_accept_invalid_certs: false,
        }
    }
}

impl fmt::Debug for InstanceSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstanceSettings")
            .field("base_url", &self.base_url)
            .field("ca_bundle_pem", &self.ca_bundle_pem.as_ref().map(|_| "<pem>"))
            .field(
                "proxy",
                &self
                    .proxy
                    .as_deref()
                    .map(|p| Url::parse(p).ok().and_then(|u| u.host_str().map(str::to_owned))),
            )
            .field("danger_accept_invalid_certs", &self.danger_accept_invalid_certs)
            .finish()
    }
}

/// Behaviour knobs; the defaults suit production.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub connect_timeout: Duration,
    /// Whole-request timeout, per attempt.
    pub request_timeout: Duration,
    /// Attempts for idempotent requests (1 = no retry). Non-idempotent requests get one.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt, with jitter.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Longest the client waits for a rate limit to clear before giving up with
    /// [`GitLabError::RateLimited`] (the caller reschedules).
    pub max_rate_limit_wait: Duration,
    /// Page size for listings (GitLab's maximum is 100).
    pub per_page: u32,
    /// Honour `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` when the instance has no proxy of its own.
    pub use_env_proxy: bool,
    pub user_agent: String,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_attempts: 4,
            retry_base: Duration::from_millis(250),
            retry_max: Duration::from_secs(10),
            max_rate_limit_wait: Duration::from_secs(60),
            per_page: 100,
            use_env_proxy: true,
            user_agent: format!("labgate/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// How a request authenticates. Tokens are never logged, printed or put into URLs.
#[derive(Clone)]
pub enum Credential {
    /// Personal, project or group access token, sent as `PRIVATE-TOKEN`.
    PrivateToken(SecretString),
    /// OAuth access token, sent as `Authorization: Bearer`.
    OAuth(SecretString),
}

impl Credential {
    pub fn secret(&self) -> &SecretString {
        match self {
            Self::PrivateToken(s) | Self::OAuth(s) => s,
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PrivateToken(_) => f.write_str("Credential::PrivateToken(<redacted>)"),
            Self::OAuth(_) => f.write_str("Credential::OAuth(<redacted>)"),
        }
    }
}

/// A GitLab client for one instance. Cheap to clone; clones share the connection pool and the
/// rate limiter, so keep one per instance.
#[derive(Clone)]
pub struct GitLabClient {
    pub(crate) inner: Arc<Inner>,
    /// Counts and paces this handle's requests (see [`GitLabClient::metered`]).
    meter: Option<Arc<RequestMeter>>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) base: GitLabBaseUrl,
    pub(crate) policy: Arc<NetworkPolicy>,
    proxy: ProxySettings,
    pub(crate) options: ClientOptions,
    limiter: Limiter,
    keys: std::collections::hash_map::RandomState,
}

impl fmt::Debug for GitLabClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitLabClient")
            .field("base_url", &self.inner.base)
            .field("proxy", &self.inner.proxy)
            .finish_non_exhaustive()
    }
}

/// The body of a request.
#[derive(Clone)]
pub(crate) enum Body {
    Json(serde_json::Value),
}

/// One request to the instance.
#[derive(Clone)]
pub(crate) struct Call {
    pub method: Method,
    /// Route template for logs and messages, e.g. `/projects/{id}/members`.
    pub template: &'static str,
    pub url: Url,
    pub body: Option<Body>,
    /// Whether the request may be repeated blindly (GET, HEAD, PUT of a full value).
    pub idempotent: bool,
}

/// A successful answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl GitLabClient {
    /// Builds a client. Fails on a malformed CA bundle or proxy, or when the base URL itself is
    /// refused by the network policy (plain http to a host that is not allow-listed, or an
    /// internal IP literal).
    pub fn new(settings: InstanceSettings, policy: &NetworkPolicy) -> Result<Self, GitLabError> {
        Self::with_options(settings, policy, ClientOptions::default())
    }

    pub fn with_options(
        settings: InstanceSettings,
        policy: &NetworkPolicy,
        options: ClientOptions,
    ) -> Result<Self, GitLabError> {
        check_url(settings.base_url.as_url(), policy)?;
        let proxy = match (&settings.proxy, options.use_env_proxy) {
            (Some(p), _) => ProxySettings::single(p),
            (None, true) => ProxySettings::from_env(),
            (None, false) => Ok(ProxySettings::default()),
        }
        .map_err(|e| GitLabError::Config(e.to_string()))?;
        let policy = Arc::new(policy.clone());
        let tls = TlsSettings {
            ca_bundle_pem: settings.ca_bundle_pem.clone(),
            danger_accept_invalid_certs: settings.danger_accept_invalid_certs,
        };
        if settings.danger_accept_invalid_certs {
            tracing::warn!(
                instance = %settings.base_url,
                "certificate verification disabled for this GitLab instance by the operator"
            );
        }
        let mut headers = HeaderMap::new();
        headers.insert(http::header::ACCEPT, HeaderValue::from_static("application/json"));
        let http = net::guarded_client_builder(Arc::clone(&policy), &proxy, &tls, options.connect_timeout)
            .map_err(|e| GitLabError::Config(e.to_string()))?
            .user_agent(options.user_agent.clone())
            .default_headers(headers)
            .timeout(options.request_timeout)
            .build()
            .map_err(|e| GitLabError::Config(format!("HTTP client: {}", e.without_url())))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base: settings.base_url,
                policy,
                proxy,
                options,
                limiter: Limiter::default(),
                keys: std::collections::hash_map::RandomState::new(),
            }),
            meter: None,
        })
    }

    /// The same client (pool and limiter shared) whose requests `meter` counts and holds to its
    /// ceiling; listings streamed from it are counted page by page.
    #[must_use]
    pub fn metered(&self, meter: Arc<RequestMeter>) -> GitLabClient {
        GitLabClient {
            inner: Arc::clone(&self.inner),
            meter: Some(meter),
        }
    }

    pub fn base_url(&self) -> &GitLabBaseUrl {
        &self.inner.base
    }

    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// Checks the instance's address against the network policy without sending anything:
    /// scheme, IP literal, and every address the host name resolves to. Useful before a token
    /// is sent to a user-supplied URL for the first time.
    pub async fn check_destination(&self) -> Result<(), GitLabError> {
        let url = self.inner.base.as_url();
        check_url(url, &self.inner.policy)?;
        resolve_checked(self.host(), self.inner.base.port_or_default(), &self.inner.policy).await?;
        Ok(())
    }

    /// What the limiter currently knows about a credential's quota.
    pub fn rate_limit_state(&self, cred: Option<&Credential>) -> PaceSnapshot {
        self.inner.limiter.snapshot(self.limiter_key(cred))
    }

    /// A keyed hash of the token: never reversible, never logged.
    fn limiter_key(&self, cred: Option<&Credential>) -> u64 {
        match cred {
            None => 0,
            Some(c) => self.inner.keys.hash_one(c.secret().expose_secret()) | 1,
        }
    }

    pub(crate) fn api_url(&self, path: &str) -> Result<Url, GitLabError> {
        self.inner
            .base
            .api(path)
            .map_err(|e| GitLabError::Config(format!("cannot build a URL for {path}: {e}")))
    }

    pub(crate) fn host(&self) -> &str {
        self.inner.base.host()
    }

    /// Checks a destination right before each send: same origin as the instance, scheme, IP
    /// literals, and every address the name resolves to now. Through a proxy this is the only
    /// check of the name (the proxy resolves it again and connects); without one, the resolver
    /// guard and the connected-address check follow.
    pub(crate) async fn preflight(&self, url: &Url) -> Result<(), GitLabError> {
        if !self.inner.base.same_origin(url) {
            return Err(GitLabError::RedirectRefused {
                from: self.host().to_owned(),
                to: url.host_str().unwrap_or_default().to_owned(),
            });
        }
        check_url(url, &self.inner.policy)?;
        let port = url.port_or_known_default().unwrap_or(443);
        resolve_checked(self.host(), port, &self.inner.policy).await?;
        Ok(())
    }

    fn build(&self, call: &Call, cred: Option<&Credential>) -> Result<reqwest::RequestBuilder, GitLabError> {
        let mut rb = self.inner.http.request(call.method.clone(), call.url.clone());
        if let Some(c) = cred {
            let (name, value) = match c {
                Credential::PrivateToken(t) => ("private-token", t.expose_secret().to_owned()),
                Credential::OAuth(t) => ("authorization", format!("Bearer {}", t.expose_secret())),
            };
            let mut v = HeaderValue::from_str(&value).map_err(|_| GitLabError::Unauthorized {
                reason: crate::error::UnauthorizedReason::Invalid,
            })?;
            v.set_sensitive(true);
            rb = rb.header(name, v);
        }
        match &call.body {
            Some(Body::Json(v)) => rb = rb.json(v),
            None => {}
        }
        Ok(rb)
    }

    /// Sends a call: limiter, retries for idempotent calls (transient errors and 429s), error
    /// mapping. Returns only 2xx answers.
    pub(crate) async fn execute(
        &self,
        call: &Call,
        cred: Option<&Credential>,
    ) -> Result<Answer, GitLabError> {
        let opts = &self.inner.options;
        let key = self.limiter_key(cred);
        let attempts = if call.idempotent {
            opts.max_attempts.max(1)
        } else {
            1
        };
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            if let Some(meter) = &self.meter {
                meter.admit(attempt == 1).await;
            }
            match self.inner.limiter.reserve(key, opts.max_rate_limit_wait) {
                Ok(w) if !w.is_zero() => {
                    tracing::debug!(method = %call.method, path = call.template, wait_ms = w.as_millis() as u64, "pacing GitLab requests");
                    tokio::time::sleep(w).await;
                }
                Ok(_) => {}
                Err(w) => return Err(GitLabError::RateLimited { retry_after: Some(w) }),
            }
            // Every attempt, not once per call: a name can rebind between retries.
            self.preflight(&call.url).await?;
            let started = Instant::now();
            let sent = self.build(call, cred)?.send().await;
            let last = attempt >= attempts;
            match sent {
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    log_answer(call, status, &headers, attempt, started);
                    if let Some(addr) = resp.remote_addr()
                        && !self.inner.proxy.proxies(&call.url)
                    {
                        // Defence in depth: the connected address must pass the policy too.
                        self.inner.policy.check_ip(self.host(), addr.ip())?;
                    }
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        let wait = self.inner.limiter.throttled(key, error::retry_after(&headers));
                        tracing::warn!(method = %call.method, path = call.template, retry_after_s = wait.as_secs(), "GitLab rate limit hit");
                        if !last && wait <= opts.max_rate_limit_wait {
                            continue;
                        }
                        return Err(GitLabError::RateLimited {
                            retry_after: Some(wait),
                        });
                    }
                    self.inner.limiter.observe(key, &headers);
                    let body = read_body(resp).await;
                    if status.is_success() {
                        match body {
                            Ok(body) => {
                                return Ok(Answer {
                                    status,
                                    headers,
                                    body,
                                });
                            }
                            Err(detail) => {
                                let err = GitLabError::Transient {
                                    status: Some(status.as_u16()),
                                    detail: if call.idempotent {
                                        detail
                                    } else {
                                        format!("{detail}; the change may have been applied")
                                    },
                                };
                                if !last {
                                    self.pause(call, attempt, &err).await;
                                    continue;
                                }
                                return Err(err);
                            }
                        }
                    }
                    let body = body.unwrap_or_default();
                    let err = error::from_response(status, &headers, &body, call.template);
                    let retry_status = matches!(status.as_u16(), 500 | 502 | 503 | 504);
                    if retry_status && !last {
                        self.pause(call, attempt, &err).await;
                        continue;
                    }
                    return Err(err);
                }
                Err(e) => {
                    let mut err = error::from_transport(&e, self.host(), opts.request_timeout);
                    tracing::warn!(method = %call.method, path = call.template, attempt, error.code = err.code(), error.message = %err, "GitLab request failed");
                    let retryable = matches!(
                        err,
                        GitLabError::Transient { .. }
                            | GitLabError::Timeout { .. }
                            | GitLabError::Unreachable { .. }
                    );
                    if retryable && !last {
                        self.pause(call, attempt, &err).await;
                        continue;
                    }
                    if !call.idempotent
                        && let GitLabError::Transient { detail, .. } = &mut err
                    {
                        // The request may have reached GitLab: say so, and never repeat it.
                        if !detail_mentions_outcome(detail) {
                            detail.push_str("; the change may have been applied");
                        }
                    }
                    return Err(err);
                }
            }
        }
    }

    async fn pause(&self, call: &Call, attempt: u32, err: &GitLabError) {
        let o = &self.inner.options;
        let d = backoff(attempt, o.retry_base, o.retry_max);
        tracing::info!(method = %call.method, path = call.template, attempt, error.code = err.code(), delay_ms = d.as_millis() as u64, "retrying GitLab request");
        tokio::time::sleep(d).await;
    }

    /// `execute` plus JSON decoding; an answer that is not JSON is
    /// [`GitLabError::UnexpectedResponse`] (e.g. an HTML login page from a wrong URL).
    pub(crate) async fn json<T: DeserializeOwned>(
        &self,
        call: &Call,
        cred: Option<&Credential>,
    ) -> Result<T, GitLabError> {
        let answer = self.execute(call, cred).await?;
        decode(&answer, call.template)
    }

    /// A request with no answer body expected (204).
    pub(crate) async fn unit(&self, call: &Call, cred: Option<&Credential>) -> Result<(), GitLabError> {
        let answer = self.execute(call, cred).await?;
        // A 200 HTML page (a login page behind a wrong URL) is not a success.
        if answer.status != StatusCode::NO_CONTENT
            && !answer.body.iter().all(u8::is_ascii_whitespace)
            && !error::is_json(&answer.headers)
        {
            return Err(GitLabError::UnexpectedResponse {
                status: answer.status.as_u16(),
                content_type: error::content_type(&answer.headers),
            });
        }
        Ok(())
    }

    pub(crate) fn get(&self, template: &'static str, path: &str) -> Result<Call, GitLabError> {
        Ok(Call {
            method: Method::GET,
            template,
            url: self.api_url(path)?,
            body: None,
            idempotent: true,
        })
    }

    pub(crate) fn send_json(
        &self,
        method: Method,
        template: &'static str,
        path: &str,
        body: serde_json::Value,
        idempotent: bool,
    ) -> Result<Call, GitLabError> {
        Ok(Call {
            method,
            template,
            url: self.api_url(path)?,
            body: Some(Body::Json(body)),
            idempotent,
        })
    }

    pub(crate) fn delete(&self, template: &'static str, path: &str) -> Result<Call, GitLabError> {
        Ok(Call {
            method: Method::DELETE,
            template,
            url: self.api_url(path)?,
            body: None,
            idempotent: false,
        })
    }

    /// One raw exchange with no retry and any status returned (the OAuth protocol layer parses
    /// error bodies itself). Same SSRF checks as every other call.
    pub(crate) async fn exchange_raw(
        &self,
        request: http::Request<Vec<u8>>,
        template: &'static str,
    ) -> Result<http::Response<Vec<u8>>, GitLabError> {
        let (parts, body) = request.into_parts();
        let url = Url::parse(&parts.uri.to_string())
            .map_err(|e| GitLabError::Config(format!("invalid OAuth URL: {e}")))?;
        self.preflight(&url).await?;
        let started = Instant::now();
        let mut rb = self
            .inner
            .http
            .request(parts.method.clone(), url.clone())
            .body(body);
        for (k, v) in &parts.headers {
            let mut v = v.clone();
            if k == http::header::AUTHORIZATION {
                v.set_sensitive(true);
            }
            rb = rb.header(k, v);
        }
        let resp = rb.send().await.map_err(|e| {
            let err = error::from_transport(&e, self.host(), self.inner.options.request_timeout);
            tracing::warn!(method = %parts.method, path = template, error.code = err.code(), error.message = %err, "GitLab OAuth request failed");
            err
        })?;
        let call = Call {
            method: parts.method,
            template,
            url,
            body: None,
            idempotent: false,
        };
        let status = resp.status();
        let headers = resp.headers().clone();
        log_answer(&call, status, &headers, 1, started);
        let body = read_body(resp).await.map_err(|detail| GitLabError::Transient {
            status: Some(status.as_u16()),
            detail: format!("{detail}; the OAuth server may have applied the request"),
        })?;
        let mut out = http::Response::new(body.to_vec());
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        Ok(out)
    }
}

fn detail_mentions_outcome(d: &str) -> bool {
    d.contains("may have been applied")
}

async fn read_body(mut resp: reqwest::Response) -> Result<Bytes, String> {
    let mut buf = bytes::BytesMut::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                if buf.len() + c.len() > MAX_BODY {
                    return Err(format!(
                        "the answer is larger than {} MiB",
                        MAX_BODY / 1024 / 1024
                    ));
                }
                buf.extend_from_slice(&c);
            }
            Ok(None) => return Ok(buf.freeze()),
            Err(_) => return Err("the connection broke while the answer was being read".to_owned()),
        }
    }
}

pub(crate) fn decode<T: DeserializeOwned>(answer: &Answer, template: &str) -> Result<T, GitLabError> {
    if !error::is_json(&answer.headers) && !answer.body.is_empty() {
        let looks_json = answer
            .body
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'{' || *b == b'[');
        if !looks_json {
            return Err(GitLabError::UnexpectedResponse {
                status: answer.status.as_u16(),
                content_type: error::content_type(&answer.headers),
            });
        }
    }
    serde_json::from_slice(&answer.body).map_err(|e| GitLabError::Decode {
        path: template.to_owned(),
        detail: e.to_string(),
    })
}

fn log_answer(call: &Call, status: StatusCode, headers: &HeaderMap, attempt: u32, started: Instant) {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    tracing::debug!(
        method = %call.method,
        path = call.template,
        status = status.as_u16(),
        attempt,
        elapsed_ms = started.elapsed().as_millis() as u64,
        ratelimit_name = h("ratelimit-name"),
        ratelimit_limit = h("ratelimit-limit"),
        ratelimit_remaining = h("ratelimit-remaining"),
        ratelimit_reset = h("ratelimit-reset"),
        "GitLab answered"
    );
}
