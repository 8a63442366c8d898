//! Outgoing webhooks: subscriptions and their deliveries.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

crate::text_enum! {
    /// Event types a subscription can ask for. `*` subscribes to every type and is never an
    /// event itself.
    #[derive(utoipa::ToSchema)]
    pub enum WebhookEventType {
        All = "*",
        ConnectionStatusChanged = "connection.status_changed",
        ConnectionRotated = "connection.rotated",
        /// GitLab refused the OAuth application of an instance (`invalid_client`): every OAuth
        /// connection through it stops refreshing until its client id and secret are fixed.
        InstanceOAuthRefused = "instance.oauth_refused",
        WebhookTest = "webhook.test",
    }
}

crate::text_enum! {
    /// Where a delivery stands.
    #[derive(utoipa::ToSchema)]
    pub enum DeliveryState {
        /// Waiting for its next attempt.
        Pending = "pending",
        Delivered = "delivered",
        /// Given up after the last attempt.
        Failed = "failed",
    }
}

/// A subscriber URL for those who may not see it whole (readers, the audit log, `Debug`):
/// scheme, host and port, with the path and query, where hooks such as Slack's carry their
/// secret, replaced by `…`.
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "…".to_owned();
    };
    // A backslash ends the host too: URL parsers read it as `/` in http(s) URLs.
    let (authority, tail) = rest.split_at(rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len()));
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    if tail.is_empty() || tail == "/" {
        format!("{scheme}://{host}/")
    } else {
        format!("{scheme}://{host}/…")
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// Where deliveries are POSTed: an https:// URL (http:// only for allow-listed internal hosts).
    #[schema(max_length = 2048, pattern = "^[hH][tT][tT][pP][sS]?://")]
    pub url: String,
    /// At most 256 characters.
    #[serde(default)]
    #[schema(max_length = 256)]
    pub description: Option<String>,
    /// Event types to deliver; default `["*"]` (all).
    #[serde(default)]
    #[schema(value_type = Option<Vec<WebhookEventType>>, min_items = 1)]
    pub events: Option<Vec<String>>,
    #[serde(default)]
    pub enabled: Option<bool>,
    /// The signing secret (at least 24 characters, no control characters); generated when absent.
    #[serde(default)]
    #[schema(min_length = 24, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub secret: Option<String>,
}

impl std::fmt::Debug for CreateWebhookRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateWebhookRequest")
            .field("url", &redacted_url(&self.url))
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    /// As on create.
    #[schema(max_length = 2048, pattern = "^[hH][tT][tT][pP][sS]?://")]
    pub url: Option<String>,
    /// At most 256 characters; `null` clears it.
    #[serde(default, with = "crate::serde_util::double_option")]
    #[schema(value_type = Option<String>, max_length = 256)]
    pub description: Option<Option<String>>,
    #[schema(value_type = Option<Vec<WebhookEventType>>, min_items = 1)]
    pub events: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

impl std::fmt::Debug for UpdateWebhookRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateWebhookRequest")
            .field("url", &self.url.as_deref().map(redacted_url))
            .field("description", &self.description)
            .field("events", &self.events)
            .field("enabled", &self.enabled)
            .finish()
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    pub id: String,
    /// The whole URL for admins; for other roles scheme, host and port only, the path and query
    /// shown as `…`.
    pub url: String,
    pub description: Option<String>,
    pub events: Vec<WebhookEventType>,
    pub enabled: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl std::fmt::Debug for WebhookView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookView")
            .field("id", &self.id)
            .field("url", &redacted_url(&self.url))
            .field("description", &self.description)
            .field("events", &self.events)
            .field("enabled", &self.enabled)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookResponse {
    pub webhook: WebhookView,
}

/// The only answer that carries the signing secret.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedWebhookResponse {
    pub webhook: WebhookView,
    #[serde(with = "crate::serde_util::exposed_secret")]
    #[schema(value_type = String)]
    pub secret: SecretString,
}

impl std::fmt::Debug for CreatedWebhookResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedWebhookResponse")
            .field("webhook", &self.webhook)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookList {
    pub webhooks: Vec<WebhookView>,
    pub total_count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    pub id: String,
    pub event_type: WebhookEventType,
    pub state: DeliveryState,
    pub attempts: u32,
    pub next_attempt_at: Option<String>,
    /// HTTP status of the last attempt, when one was received.
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryList {
    pub deliveries: Vec<DeliveryView>,
    pub total_count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryResponse {
    pub delivery: DeliveryView,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_urls_keep_scheme_host_and_port_only() {
        let cases = [
            (
                "https://hooks.slack.com/services/T000/B000/XXXXSECRET",
                "https://hooks.slack.com/…",
            ),
            (
                "https://hooks.example:8443/in?token=abc",
                "https://hooks.example:8443/…",
            ),
            ("https://hooks.example/?token=abc", "https://hooks.example/…"),
            ("https://hooks.example/", "https://hooks.example/"),
            ("http://[::1]:8080/x", "http://[::1]:8080/…"),
            ("https://user:pw@hooks.example/x", "https://hooks.example/…"),
            ("https://hooks.example\\T000\\SECRET", "https://hooks.example/…"),
            ("not a url", "…"),
        ];
        for (url, shown) in cases {
            assert_eq!(redacted_url(url), shown, "{url}");
        }
        let view = WebhookView {
            id: "w".into(),
            url: "https://hooks.slack.com/services/T000/B000/XXXXSECRET".into(),
            description: None,
            events: vec![WebhookEventType::All],
            enabled: true,
            created_at: String::new(),
            updated_at: String::new(),
        };
        assert!(!format!("{view:?}").contains("XXXXSECRET"));
        let request = UpdateWebhookRequest {
            url: Some(view.url.clone()),
            ..UpdateWebhookRequest::default()
        };
        assert!(!format!("{request:?}").contains("XXXXSECRET"));
    }

    #[test]
    fn the_signing_secret_is_serialised_in_the_clear_and_nowhere_else() {
        let response = CreatedWebhookResponse {
            webhook: WebhookView {
                id: "w".into(),
                url: "https://hooks.example/".into(),
                description: None,
                events: vec![WebhookEventType::All],
                enabled: true,
                created_at: String::new(),
                updated_at: String::new(),
            },
            secret: SecretString::from("s3cr3t-s3cr3t-s3cr3t-s3cr3t"),
        };
        let json = serde_json::to_value(&response).unwrap();
        assert_eq!(json["secret"], "s3cr3t-s3cr3t-s3cr3t-s3cr3t");
        assert!(!format!("{response:?}").contains("s3cr3t"));
    }
}
