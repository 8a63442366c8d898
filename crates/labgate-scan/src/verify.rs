//! Live verification of GitLab tokens, read-only, against the one instance the user named.
//!
//! A found token is only ever sent to that instance: `GET /api/v4/personal_access_tokens/self`,
//! and if that endpoint is missing, `GET /api/v4/user`. Results are cached by secret hash so a
//! token found in many places costs one request.

use std::collections::HashMap;
use std::time::Duration;

use crate::finding::{Finding, Verification};
use crate::rules::{RuleSet, VerifyKind};

/// Errors setting up verification.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("--gitlab-url must be an http(s) URL without credentials, query or fragment: {0}")]
    BadUrl(String),
    #[error("HTTP client: {0}")]
    Client(String),
}

/// A checked GitLab base URL (relative roots such as `https://host/gitlab` are kept).
#[derive(Debug, Clone)]
pub struct GitLabUrl(url::Url);

impl GitLabUrl {
    /// Parses and checks a base URL.
    ///
    /// # Errors
    /// If it is not plain http(s) or carries credentials.
    pub fn parse(raw: &str) -> Result<Self, VerifyError> {
        let mut u = url::Url::parse(raw).map_err(|_| VerifyError::BadUrl(raw.to_owned()))?;
        if !matches!(u.scheme(), "http" | "https")
            || !u.username().is_empty()
            || u.password().is_some()
            || u.query().is_some()
            || u.fragment().is_some()
            || u.host_str().is_none()
        {
            return Err(VerifyError::BadUrl(u.origin().ascii_serialization()));
        }
        if !u.path().ends_with('/') {
            let p = format!("{}/", u.path());
            u.set_path(&p);
        }
        Ok(Self(u))
    }

    fn api(&self, path: &str) -> String {
        format!("{}api/v4/{path}", self.0)
    }
}

/// Outcome of one token check with a short reason.
#[derive(Debug, Clone)]
pub struct Checked {
    pub status: Verification,
    pub detail: String,
}

/// Verifies GitLab tokens against one instance.
pub struct Verifier {
    base: GitLabUrl,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("base", &self.base.0.as_str())
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Builds a verifier with its own small runtime and a rustls client.
    ///
    /// # Errors
    /// If the runtime or HTTP client cannot be built.
    pub fn new(base: GitLabUrl) -> Result<Self, VerifyError> {
        labgate_crypto::tls::install_default_provider();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("labgate-scan/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| VerifyError::Client(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| VerifyError::Client(e.to_string()))?;
        Ok(Self {
            base,
            client,
            runtime,
        })
    }

    /// Checks one token.
    #[must_use]
    pub fn check(&self, token: &str) -> Checked {
        self.runtime.block_on(self.check_async(token))
    }

    async fn get(&self, path: &str, token: &str) -> Result<(u16, serde_json::Value), String> {
        let resp = self
            .client
            .get(self.base.api(path))
            .header("PRIVATE-TOKEN", token)
            .send()
            .await
            // Errors from reqwest can include the URL but never request headers.
            .map_err(|e| format!("request failed: {}", e.without_url()))?;
        let status = resp.status().as_u16();
        let body = resp
            .json::<serde_json::Value>()
            .await
            .unwrap_or(serde_json::Value::Null);
        Ok((status, body))
    }

    async fn check_async(&self, token: &str) -> Checked {
        let unknown = |detail: String| Checked {
            status: Verification::Unknown,
            detail,
        };
        match self.get("personal_access_tokens/self", token).await {
            Err(e) => return unknown(e),
            Ok((200, body)) => {
                let active = body
                    .get("active")
                    .and_then(serde_json::Value::as_bool)
                    .unwrap_or(true);
                let revoked = body
                    .get("revoked")
                    .and_then(serde_json::Value::as_bool)
                    .unwrap_or(false);
                let scopes = body
                    .get("scopes")
                    .and_then(|s| s.as_array())
                    .map(|a| a.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(","))
                    .unwrap_or_default();
                let expires = body.get("expires_at").and_then(|v| v.as_str()).unwrap_or("never");
                let detail = format!("scopes={scopes}; expires_at={expires}");
                return if active && !revoked {
                    Checked {
                        status: Verification::VerifiedActive,
                        detail,
                    }
                } else {
                    Checked {
                        status: Verification::Inactive,
                        detail: format!("revoked or inactive; {detail}"),
                    }
                };
            }
            Ok((401, _)) => {
                return Checked {
                    status: Verification::Inactive,
                    detail: "401 from personal_access_tokens/self".into(),
                };
            }
            // Older instances lack the endpoint, and some token kinds are refused by it: ask /user.
            Ok(_) => {}
        }
        match self.get("user", token).await {
            Err(e) => unknown(e),
            Ok((200, _)) => Checked {
                status: Verification::VerifiedActive,
                detail: "accepted by /user".into(),
            },
            // GitLab answers 403 for a valid token whose scope does not cover /user.
            Ok((403, _)) => Checked {
                status: Verification::VerifiedActive,
                detail: "valid, scope too narrow for /user".into(),
            },
            Ok((401, _)) => Checked {
                status: Verification::Inactive,
                detail: "401 from /user".into(),
            },
            Ok((code, _)) => unknown(format!("unexpected HTTP {code}")),
        }
    }

    /// Verifies every finding whose rule allows a GitLab token check; others are marked unknown
    /// with the reason. Each distinct secret is sent once.
    pub fn verify_findings(&self, rules: &RuleSet, findings: &mut [Finding]) {
        let mut cache: HashMap<String, Checked> = HashMap::new();
        for f in findings.iter_mut() {
            let kind = rules.get(&f.rule_id).and_then(|r| r.spec.verify);
            let checked = match kind {
                Some(VerifyKind::GitlabToken) => cache
                    .entry(f.secret_sha256.clone())
                    .or_insert_with(|| self.check(&f.secret))
                    .clone(),
                None => Checked {
                    status: Verification::Unknown,
                    detail: "no read-only check exists for this kind".into(),
                },
            };
            f.verification = Some(checked.status);
            f.verification_detail = Some(checked.detail);
        }
    }
}
