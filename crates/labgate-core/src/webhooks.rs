//! Outgoing webhooks: tenant subscriptions, a durable outbox of deliveries, and signed delivery
//! with retries.
//!
//! Each delivery is a POST of the event as JSON with
//! `X-Labgate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`,
//! `X-Labgate-Event` and `X-Labgate-Delivery` (a receiver dedupes on the latter: delivery is at
//! least once).

use std::sync::Arc;
use std::time::Duration;

use labgate_gitlab::net::{ResolveError, SendError};
use labgate_gitlab::{GuardedHttp, NetworkPolicy, check_url};
use labgate_proto::audit::{AuditAction, ResourceType};
use labgate_proto::webhooks::{
    CreateWebhookRequest, DeliveryList, DeliveryView, UpdateWebhookRequest, WebhookList, WebhookView,
    redacted_url,
};
pub use labgate_proto::webhooks::{DeliveryState, WebhookEventType};
use labgate_store::{
    DeliveryAttempt, DeliveryRecord, NewDelivery, NewWebhook, Store, StoreError, WebhookRecord,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use time::OffsetDateTime;

use crate::audit::{AuditEvent, AuditLog};
use crate::auth::{Access, Principal, role_allows};
use crate::clock::Clock;
use crate::ids::{DeliveryId, TenantId, WebhookId};
use crate::jobs::{JobKind, JobQueue, JobSpec, retry_delay};
use crate::rows::{
    Parsed, StoredValueError, flag, json_list, ms, opt_ms, opt_time, opt_unsigned, text, time, to_json_list,
    unsigned,
};
use crate::timefmt::{format_opt, format_time};
use crate::vault::{SecretSlot, Vault};
use crate::{CoreError, Result};

/// The setting that allow-lists internal webhook subscribers, apart from GitLab instances.
pub const ALLOW_INTERNAL_HOSTS: &str = "LABGATE_WEBHOOK_ALLOW_INTERNAL_HOSTS";
/// The setting naming the one proxy webhook deliveries may go through.
pub const PROXY_SETTING: &str = "LABGATE_WEBHOOK_PROXY";

const OWNER_TABLE: &str = "webhook_subscriptions";
const SECRET_FIELD: &str = "secret";
/// Attempts before a delivery is given up.
pub const MAX_ATTEMPTS: u32 = 12;
const RETRY_BASE: time::Duration = time::Duration::seconds(30);
const RETRY_CAP: time::Duration = time::Duration::hours(6);
const LEASE_MS: i64 = 60_000;
const MIN_SECRET_LEN: usize = 24;

/// A subscription: where to send which events.
#[derive(Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: WebhookId,
    pub tenant_id: TenantId,
    pub url: String,
    pub description: Option<String>,
    /// The event types wanted; `*` means all of them.
    pub events: Vec<WebhookEventType>,
    pub enabled: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("url", &redacted_url(&self.url))
            .field("events", &self.events)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

impl Webhook {
    fn wants(&self, event: WebhookEventType) -> bool {
        self.events
            .iter()
            .any(|wanted| *wanted == WebhookEventType::All || *wanted == event)
    }
}

impl TryFrom<WebhookRecord> for Webhook {
    type Error = StoredValueError;

    fn try_from(row: WebhookRecord) -> Parsed<Webhook> {
        Ok(Webhook {
            id: WebhookId::from_stored(row.id),
            tenant_id: TenantId::from_stored(row.tenant_id),
            events: json_list("webhook_subscriptions.events", &row.events)?,
            enabled: flag("webhook_subscriptions.enabled", row.enabled)?,
            created_at: time("webhook_subscriptions.created_at", row.created_at)?,
            updated_at: time("webhook_subscriptions.updated_at", row.updated_at)?,
            url: row.url,
            description: row.description,
        })
    }
}

fn webhook_row(webhook: &Webhook) -> WebhookRecord {
    WebhookRecord {
        id: webhook.id.to_string(),
        tenant_id: webhook.tenant_id.to_string(),
        url: webhook.url.clone(),
        description: webhook.description.clone(),
        events: to_json_list(&webhook.events),
        enabled: i32::from(webhook.enabled),
        created_at: ms(webhook.created_at),
        updated_at: ms(webhook.updated_at),
    }
}

/// One event on its way to one subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub tenant_id: TenantId,
    pub webhook_id: WebhookId,
    pub event_type: WebhookEventType,
    /// The JSON body sent, exactly as signed.
    pub payload: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub next_attempt_at: OffsetDateTime,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: OffsetDateTime,
    pub delivered_at: Option<OffsetDateTime>,
}

impl TryFrom<DeliveryRecord> for Delivery {
    type Error = StoredValueError;

    fn try_from(row: DeliveryRecord) -> Parsed<Delivery> {
        Ok(Delivery {
            id: DeliveryId::from_stored(row.id),
            tenant_id: TenantId::from_stored(row.tenant_id),
            webhook_id: WebhookId::from_stored(row.subscription_id),
            event_type: text("webhook_deliveries.event_type", &row.event_type)?,
            state: text("webhook_deliveries.state", &row.state)?,
            attempts: unsigned("webhook_deliveries.attempts", row.attempts)?,
            next_attempt_at: time("webhook_deliveries.next_attempt_at", row.next_attempt_at)?,
            last_status: opt_unsigned("webhook_deliveries.last_status", row.last_status)?,
            created_at: time("webhook_deliveries.created_at", row.created_at)?,
            delivered_at: opt_time("webhook_deliveries.delivered_at", row.delivered_at)?,
            payload: row.payload,
            last_error: row.last_error,
        })
    }
}

/// What one pass over the outbox did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryStats {
    pub delivered: usize,
    pub retrying: usize,
    pub failed: usize,
}

#[derive(Clone)]
pub struct Webhooks {
    store: Store,
    vault: Arc<Vault>,
    clock: Arc<dyn Clock>,
    audit: AuditLog,
    jobs: JobQueue,
    policy: Arc<NetworkPolicy>,
}

/// A subscription as `principal` may see it: the whole URL only for those who manage
/// subscriptions, since the URL often is the subscriber's credential.
fn view(principal: &Principal, webhook: &Webhook) -> WebhookView {
    let url = if role_allows(principal.role, Access::Admin) {
        webhook.url.clone()
    } else {
        redacted_url(&webhook.url)
    };
    WebhookView {
        id: webhook.id.to_string(),
        url,
        description: webhook.description.clone(),
        events: webhook.events.clone(),
        enabled: webhook.enabled,
        created_at: format_time(webhook.created_at),
        updated_at: format_time(webhook.updated_at),
    }
}

fn delivery_view(delivery: Delivery) -> DeliveryView {
    DeliveryView {
        next_attempt_at: (delivery.state == DeliveryState::Pending)
            .then(|| format_time(delivery.next_attempt_at)),
        attempts: delivery.attempts,
        last_status: delivery.last_status,
        created_at: format_time(delivery.created_at),
        delivered_at: format_opt(delivery.delivered_at),
        id: delivery.id.into(),
        event_type: delivery.event_type,
        state: delivery.state,
        last_error: delivery.last_error,
    }
}

/// Checks a subscriber URL's shape. Where it may point is checked by the outgoing-request guard
/// when it is delivered to.
pub fn validate_url(text: &str) -> Result<url::Url> {
    let invalid = |why: &str| CoreError::validation("url", format!("url {why}"));
    if text.len() > 2_048 {
        return Err(invalid("must be at most 2048 characters"));
    }
    // Checked on the text: the parser also takes `http:host`, `http:\\host` and leading blanks,
    // which the documented form (`^https?://`) does not.
    let plain = ["http://", "https://"].iter().any(|scheme| {
        text.get(..scheme.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(scheme))
    });
    if !plain {
        return Err(invalid(
            "must start with https:// (or http:// for allow-listed internal hosts)",
        ));
    }
    let url = url::Url::parse(text).map_err(|_| invalid("must be an absolute http:// or https:// URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "must not carry credentials; the signing secret authenticates deliveries",
        ));
    }
    if url.fragment().is_some() {
        return Err(invalid("must not have a #fragment"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("must name a host"));
    }
    Ok(url)
}

fn validate_events(events: Option<Vec<String>>) -> Result<Vec<WebhookEventType>> {
    let Some(events) = events else {
        return Ok(vec![WebhookEventType::All]);
    };
    if events.is_empty() {
        return Err(CoreError::validation(
            "events",
            "events must name at least one event type, or \"*\"",
        ));
    }
    events
        .iter()
        .map(|event| {
            WebhookEventType::parse(event).ok_or_else(|| {
                CoreError::validation(
                    "events",
                    format!(
                        "unknown event type; known types are {}",
                        WebhookEventType::names()
                    ),
                )
            })
        })
        .collect()
}

fn validate_description(description: Option<&str>) -> Result<()> {
    if description.is_some_and(|text| text.chars().count() > 256) {
        return Err(CoreError::validation(
            "description",
            "description must be at most 256 characters",
        ));
    }
    Ok(())
}

/// `t=<seconds>,v1=<hex>` for a body sent at `timestamp`.
pub fn signature(secret: &SecretString, timestamp: i64, body: &[u8]) -> String {
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    let mac = labgate_crypto::hmac_sha256(secret.expose_secret().as_bytes(), &signed);
    format!("t={timestamp},v1={}", hex::encode(mac))
}

impl Webhooks {
    pub(crate) fn new(
        store: Store,
        vault: Arc<Vault>,
        clock: Arc<dyn Clock>,
        audit: AuditLog,
        jobs: JobQueue,
        policy: Arc<NetworkPolicy>,
    ) -> Webhooks {
        Webhooks {
            store,
            vault,
            clock,
            audit,
            jobs,
            policy,
        }
    }

    /// A subscriber URL: well formed, and not pointing at an internal address the operator has
    /// not allow-listed (host names are checked again when resolved at delivery).
    fn checked_url(&self, text: &str) -> Result<url::Url> {
        let url = validate_url(text)?;
        check_url(&url, &self.policy)
            .map_err(|blocked| CoreError::validation("url", format!("url refused: {blocked}")))?;
        Ok(url)
    }

    fn slot<'a>(tenant_id: &'a TenantId, id: &'a WebhookId) -> SecretSlot<'a> {
        SecretSlot {
            tenant_id: tenant_id.as_str(),
            owner_table: OWNER_TABLE,
            owner_id: id.as_str(),
            field: SECRET_FIELD,
        }
    }

    async fn fetch(&self, tenant_id: &TenantId, id: &WebhookId) -> Result<Webhook> {
        match self.store.webhook(tenant_id.as_str(), id.as_str()).await {
            Ok(row) => Ok(Webhook::try_from(row)?),
            Err(StoreError::NotFound) => Err(CoreError::NotFound("webhook")),
            Err(other) => Err(other.into()),
        }
    }

    async fn find(&self, principal: &Principal, id: &str) -> Result<Webhook> {
        let id = WebhookId::parse(id).ok_or(CoreError::NotFound("webhook"))?;
        self.fetch(&principal.tenant_id, &id).await
    }

    /// Creates a subscription; the answer carries the signing secret, shown this once.
    pub async fn create(
        &self,
        principal: &Principal,
        request: CreateWebhookRequest,
    ) -> Result<(WebhookView, SecretString)> {
        principal.require(Access::Admin)?;
        let url = self.checked_url(&request.url)?;
        validate_description(request.description.as_deref())?;
        let events = validate_events(request.events)?;
        let secret = match request.secret {
            Some(secret)
                if secret.chars().count() < MIN_SECRET_LEN || secret.chars().any(char::is_control) =>
            {
                return Err(CoreError::validation(
                    "secret",
                    "secret must be at least 24 printable characters",
                ));
            }
            Some(secret) => SecretString::from(secret),
            None => labgate_crypto::random_token(32),
        };
        let id = WebhookId::generate();
        let now = self.clock.now();
        self.vault
            .put_secret(&Self::slot(&principal.tenant_id, &id), &secret, ms(now))
            .await?;
        let events_json = to_json_list(&events);
        let inserted = self
            .store
            .insert_webhook(&NewWebhook {
                id: id.as_str(),
                tenant_id: principal.tenant_id.as_str(),
                url: url.as_str(),
                description: request.description.as_deref(),
                events: &events_json,
                enabled: request.enabled.unwrap_or(true),
                now: ms(now),
            })
            .await;
        let webhook = match inserted {
            Ok(row) => Webhook::try_from(row)?,
            Err(error) => {
                // Leave no orphaned secret behind.
                let _ = self
                    .vault
                    .delete_secrets(principal.tenant_id.as_str(), OWNER_TABLE, id.as_str())
                    .await;
                return Err(error.into());
            }
        };
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: AuditAction::WebhookCreate,
                    resource_kind: ResourceType::Webhook,
                    resource_id: Some(id.as_str()),
                    details: Some(json!({"url": redacted_url(&webhook.url), "events": events})),
                },
            )
            .await?;
        Ok((view(principal, &webhook), secret))
    }

    pub async fn list(&self, principal: &Principal, offset: u64, limit: u32) -> Result<WebhookList> {
        principal.require(Access::Read)?;
        let (rows, total) = self
            .store
            .list_webhooks(principal.tenant_id.as_str(), offset, limit)
            .await?;
        let webhooks = rows
            .into_iter()
            .map(|row| Webhook::try_from(row).map(|webhook| view(principal, &webhook)))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(WebhookList {
            webhooks,
            total_count: total,
        })
    }

    pub async fn get(&self, principal: &Principal, id: &str) -> Result<WebhookView> {
        principal.require(Access::Read)?;
        Ok(view(principal, &self.find(principal, id).await?))
    }

    pub async fn update(
        &self,
        principal: &Principal,
        id: &str,
        request: UpdateWebhookRequest,
    ) -> Result<WebhookView> {
        principal.require(Access::Admin)?;
        let mut webhook = self.find(principal, id).await?;
        if let Some(url) = &request.url {
            webhook.url = self.checked_url(url)?.to_string();
        }
        if let Some(description) = request.description {
            validate_description(description.as_deref())?;
            webhook.description = description;
        }
        if let Some(events) = request.events {
            webhook.events = validate_events(Some(events))?;
        }
        if let Some(enabled) = request.enabled {
            webhook.enabled = enabled;
        }
        webhook.updated_at = self.clock.now();
        let row = self
            .store
            .update_webhook(&webhook_row(&webhook))
            .await
            .map_err(|error| match error {
                StoreError::NotFound => CoreError::NotFound("webhook"),
                other => other.into(),
            })?;
        let webhook = Webhook::try_from(row)?;
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: AuditAction::WebhookUpdate,
                    resource_kind: ResourceType::Webhook,
                    resource_id: Some(webhook.id.as_str()),
                    details: None,
                },
            )
            .await?;
        Ok(view(principal, &webhook))
    }

    pub async fn delete(&self, principal: &Principal, id: &str) -> Result<WebhookView> {
        principal.require(Access::Admin)?;
        let webhook = self.find(principal, id).await?;
        if !self
            .store
            .delete_webhook(principal.tenant_id.as_str(), webhook.id.as_str())
            .await?
        {
            return Err(CoreError::NotFound("webhook"));
        }
        self.vault
            .delete_secrets(principal.tenant_id.as_str(), OWNER_TABLE, webhook.id.as_str())
            .await?;
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: AuditAction::WebhookDelete,
                    resource_kind: ResourceType::Webhook,
                    resource_id: Some(webhook.id.as_str()),
                    details: None,
                },
            )
            .await?;
        Ok(view(principal, &webhook))
    }

    pub async fn deliveries(
        &self,
        principal: &Principal,
        id: &str,
        offset: u64,
        limit: u32,
    ) -> Result<DeliveryList> {
        principal.require(Access::Read)?;
        let webhook = self.find(principal, id).await?;
        let (rows, total) = self
            .store
            .list_deliveries(principal.tenant_id.as_str(), webhook.id.as_str(), offset, limit)
            .await?;
        let deliveries = rows
            .into_iter()
            .map(|row| Delivery::try_from(row).map(delivery_view))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(DeliveryList {
            deliveries,
            total_count: total,
        })
    }

    /// Queues a `webhook.test` event for one subscription, whatever its event filter.
    pub async fn send_test(&self, principal: &Principal, id: &str) -> Result<DeliveryView> {
        principal.require(Access::Admin)?;
        let webhook = self.find(principal, id).await?;
        let delivery = self
            .queue(
                &webhook,
                WebhookEventType::WebhookTest,
                json!({"webhookId": webhook.id}),
            )
            .await?;
        self.kick().await?;
        Ok(delivery_view(delivery))
    }

    /// Records an event for every enabled subscription of the tenant that wants it, durably,
    /// then wakes the sender. Returns how many deliveries were queued.
    pub async fn emit(
        &self,
        tenant_id: &TenantId,
        event_type: WebhookEventType,
        data: serde_json::Value,
    ) -> Result<usize> {
        let mut queued = 0;
        for row in self.store.enabled_webhooks(tenant_id.as_str()).await? {
            let webhook = Webhook::try_from(row)?;
            if webhook.wants(event_type) {
                self.queue(&webhook, event_type, data.clone()).await?;
                queued += 1;
            }
        }
        if queued > 0 {
            self.kick().await?;
        }
        Ok(queued)
    }

    async fn queue(
        &self,
        webhook: &Webhook,
        event_type: WebhookEventType,
        data: serde_json::Value,
    ) -> Result<Delivery> {
        let id = DeliveryId::generate();
        let now = self.clock.now();
        let payload = json!({
            "id": id,
            "type": event_type,
            "createdAt": format_time(now),
            "tenantId": webhook.tenant_id,
            "data": data,
        })
        .to_string();
        self.store
            .insert_delivery(&NewDelivery {
                id: id.as_str(),
                tenant_id: webhook.tenant_id.as_str(),
                subscription_id: webhook.id.as_str(),
                event_type: event_type.as_str(),
                payload: &payload,
                now: ms(now),
            })
            .await?;
        Ok(Delivery {
            id,
            tenant_id: webhook.tenant_id.clone(),
            webhook_id: webhook.id.clone(),
            event_type,
            payload,
            state: DeliveryState::Pending,
            attempts: 0,
            next_attempt_at: now,
            last_status: None,
            last_error: None,
            created_at: now,
            delivered_at: None,
        })
    }

    /// Makes sure a sender job is queued (one at a time, whoever asks).
    async fn kick(&self) -> Result<()> {
        self.jobs
            .wake(&JobSpec::recurring(JobKind::WebhooksDeliver))
            .await
    }

    /// Sends due deliveries, up to `limit`, with `http`: a client guarded against internal
    /// addresses under the webhook allow-list.
    pub async fn deliver_due(&self, http: &GuardedHttp, owner: &str, limit: u32) -> Result<DeliveryStats> {
        let now = ms(self.clock.now());
        let claimed = self.store.claim_deliveries(owner, now, LEASE_MS, limit).await?;
        let mut stats = DeliveryStats::default();
        for row in claimed {
            let delivery = Delivery::try_from(row)?;
            let outcome = self.send(http, &delivery).await;
            let now = self.clock.now();
            let attempts = delivery.attempts + 1;
            let (delivered, status, error) = match outcome {
                Ok(status) if (200..300).contains(&status) => (true, Some(status), None),
                Ok(status) => (
                    false,
                    Some(status),
                    Some(format!("the subscriber answered HTTP {status}")),
                ),
                Err(reason) => (false, None, Some(reason)),
            };
            let retry_at = (!delivered && attempts < MAX_ATTEMPTS)
                .then(|| now + retry_delay(attempts, RETRY_BASE, RETRY_CAP));
            let recorded = self
                .store
                .record_delivery_attempt(&DeliveryAttempt {
                    id: delivery.id.as_str(),
                    owner,
                    status: status.map(i32::from),
                    error: error.as_deref(),
                    delivered,
                    retry_at: opt_ms(retry_at),
                    now: ms(now),
                })
                .await?;
            if !recorded {
                continue;
            }
            match (delivered, retry_at) {
                (true, _) => stats.delivered += 1,
                (false, Some(_)) => stats.retrying += 1,
                (false, None) => stats.failed += 1,
            }
        }
        Ok(stats)
    }

    /// When the next queued delivery is due, if any.
    pub async fn next_due(&self) -> Result<Option<OffsetDateTime>> {
        Ok(opt_time(
            "webhook_deliveries.next_attempt_at",
            self.store.next_delivery_due().await?,
        )?)
    }

    async fn send(&self, http: &GuardedHttp, delivery: &Delivery) -> std::result::Result<u16, String> {
        let subscription = self
            .fetch(&delivery.tenant_id, &delivery.webhook_id)
            .await
            .map_err(|_| "the subscription is gone".to_owned())?;
        let secret = self
            .vault
            .get_secret(&Self::slot(&delivery.tenant_id, &delivery.webhook_id))
            .await
            .map_err(|_| "the signing secret cannot be read".to_owned())?
            .ok_or_else(|| "the signing secret is missing".to_owned())?;
        let url =
            url::Url::parse(&subscription.url).map_err(|_| "the subscription URL is not valid".to_owned())?;
        let body = delivery.payload.as_bytes().to_vec();
        let timestamp = self.clock.now().unix_timestamp();
        let request = http
            .post(url)
            .timeout(Duration::from_secs(10))
            .header("content-type", "application/json")
            .header(
                "user-agent",
                concat!("labgate-webhooks/", env!("CARGO_PKG_VERSION")),
            )
            .header("x-labgate-event", delivery.event_type.as_str())
            .header("x-labgate-delivery", delivery.id.as_str())
            .header("x-labgate-signature", signature(&secret, timestamp, &body))
            .body(body);
        let response = http.send(request).await.map_err(|error| describe(&error))?;
        Ok(response.status().as_u16())
    }

    /// Deletes finished deliveries older than `retention`.
    pub async fn prune(&self, retention: time::Duration) -> Result<u64> {
        Ok(self
            .store
            .prune_deliveries(ms(self.clock.now() - retention))
            .await?)
    }
}

/// A delivery failure as the subscription's owner should read it: never the URL's query string,
/// never an address the subscriber's name resolved to.
fn describe(error: &SendError) -> String {
    let error = match error {
        SendError::Refused(ResolveError::Blocked(blocked)) => return blocked.to_string(),
        SendError::Refused(ResolveError::Dns { host, .. }) => {
            return format!("cannot connect to the subscriber: the name {host} does not resolve");
        }
        SendError::Http(error) => error,
    };
    if error.is_timeout() {
        "the subscriber did not answer within 10 seconds".to_owned()
    } else if error.is_connect() {
        let mut cause = std::error::Error::source(error);
        let mut detail = String::new();
        while let Some(inner) = cause {
            detail = inner.to_string();
            cause = inner.source();
        }
        format!("cannot connect to the subscriber: {detail}")
    } else if error.is_redirect() {
        "the subscriber answered with a redirect, which is not followed".to_owned()
    } else {
        "the request to the subscriber failed".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_timestamp_and_body() {
        let secret = SecretString::from("s".repeat(32));
        let one = signature(&secret, 1_700_000_000, b"{}");
        assert!(one.starts_with("t=1700000000,v1="));
        assert_eq!(one.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(one, signature(&secret, 1_700_000_001, b"{}"));
        assert_ne!(one, signature(&secret, 1_700_000_000, b"{ }"));
    }

    #[test]
    fn urls_and_events_are_checked() {
        assert!(validate_url("https://hooks.example.com/labgate?x=1").is_ok());
        assert!(validate_url("HTTPS://hooks.example.com/in").is_ok());
        for bad in [
            "ftp://x",
            "https://user:pw@x/",
            "https://x/#frag",
            "not a url",
            "file:///etc/passwd",
            "https:hooks.example.com/in",
            "https:\\\\hooks.example.com/in",
            " https://hooks.example.com/in",
        ] {
            assert!(validate_url(bad).is_err(), "{bad}");
        }
        assert_eq!(validate_events(None).unwrap(), [WebhookEventType::All]);
        assert!(validate_events(Some(vec![])).is_err());
        assert!(validate_events(Some(vec!["nope".into()])).is_err());
    }
}
