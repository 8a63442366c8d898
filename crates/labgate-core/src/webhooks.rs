//! Outgoing webhooks: tenant subscriptions, a durable outbox of deliveries, and signed delivery
//! with retries.
//!
//! Each delivery is a POST of the event as JSON with
//! `X-Labgate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`,
//! `X-Labgate-Event` and `X-Labgate-Delivery` (a receiver dedupes on the latter: delivery is at
//! least once).

use std::sync::Arc;
use std::time::Duration;

use labgate_gitlab::{NetworkPolicy, check_url};
use labgate_proto::webhooks::{
    CreateWebhookRequest, DeliveryList, DeliveryView, EVENT_TYPES, UpdateWebhookRequest, WebhookList,
    WebhookView,
};
use labgate_store::{
    DeliveryAttempt, DeliveryRecord, NewDelivery, NewWebhook, Store, StoreError, WebhookRecord,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::audit::{AuditEvent, AuditLog};
use crate::auth::{Access, Principal};
use crate::clock::Clock;
use crate::ids::{is_valid_id, new_id};
use crate::jobs::{JobQueue, JobSpec, retry_delay_ms};
use crate::timefmt::{opt_rfc3339, to_rfc3339};
use crate::vault::{SecretSlot, Vault};
use crate::{CoreError, Result};

/// The job kind that sends due deliveries.
pub const DELIVER_KIND: &str = "webhooks.deliver";
const OWNER_TABLE: &str = "webhook_subscriptions";
const SECRET_FIELD: &str = "secret";
/// Attempts before a delivery is given up.
pub const MAX_ATTEMPTS: i32 = 12;
const RETRY_BASE_MS: i64 = 30_000;
const RETRY_CAP_MS: i64 = 6 * 3_600_000;
const LEASE_MS: i64 = 60_000;
const MIN_SECRET_LEN: usize = 24;

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

fn events_of(record: &WebhookRecord) -> Vec<String> {
    serde_json::from_str(&record.events).unwrap_or_default()
}

fn view(record: &WebhookRecord) -> WebhookView {
    WebhookView {
        id: record.id.clone(),
        url: record.url.clone(),
        description: record.description.clone(),
        events: events_of(record),
        enabled: record.enabled != 0,
        created_at: to_rfc3339(record.created_at),
        updated_at: to_rfc3339(record.updated_at),
    }
}

fn delivery_view(record: DeliveryRecord) -> DeliveryView {
    DeliveryView {
        next_attempt_at: (record.state == "pending").then(|| to_rfc3339(record.next_attempt_at)),
        attempts: u32::try_from(record.attempts).unwrap_or(0),
        last_status: record.last_status.and_then(|status| u16::try_from(status).ok()),
        created_at: to_rfc3339(record.created_at),
        delivered_at: opt_rfc3339(record.delivered_at),
        id: record.id,
        event_type: record.event_type,
        state: record.state,
        last_error: record.last_error,
    }
}

/// Checks a subscriber URL's shape. Where it may point is checked by the outgoing-request guard
/// when it is delivered to.
pub fn validate_url(text: &str) -> Result<url::Url> {
    let invalid = |why: &str| CoreError::validation("url", format!("url {why}"));
    if text.len() > 2_048 {
        return Err(invalid("must be at most 2048 characters"));
    }
    let url = url::Url::parse(text).map_err(|_| invalid("must be an absolute http:// or https:// URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(
            "must use https:// (or http:// for allow-listed internal hosts)",
        ));
    }
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

fn validate_events(events: Option<Vec<String>>) -> Result<Vec<String>> {
    let events = events.unwrap_or_else(|| vec!["*".to_owned()]);
    if events.is_empty() {
        return Err(CoreError::validation(
            "events",
            "events must name at least one event type, or \"*\"",
        ));
    }
    for event in &events {
        if event != "*" && !EVENT_TYPES.contains(&event.as_str()) {
            return Err(CoreError::validation(
                "events",
                format!(
                    "unknown event type; known types are {} and \"*\"",
                    EVENT_TYPES.join(", ")
                ),
            ));
        }
    }
    Ok(events)
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
    pub fn new(
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

    fn slot<'a>(tenant_id: &'a str, id: &'a str) -> SecretSlot<'a> {
        SecretSlot {
            tenant_id,
            owner_table: OWNER_TABLE,
            owner_id: id,
            field: SECRET_FIELD,
        }
    }

    async fn find(&self, principal: &Principal, id: &str) -> Result<WebhookRecord> {
        if !is_valid_id(id) {
            return Err(CoreError::NotFound("webhook"));
        }
        self.store
            .webhook(&principal.tenant_id, id)
            .await
            .map_err(|error| match error {
                StoreError::NotFound => CoreError::NotFound("webhook"),
                other => other.into(),
            })
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
            Some(secret) if secret.len() < MIN_SECRET_LEN || secret.chars().any(char::is_control) => {
                return Err(CoreError::validation(
                    "secret",
                    "secret must be at least 24 printable characters",
                ));
            }
            Some(secret) => SecretString::from(secret),
            None => labgate_crypto::random_token(32),
        };
        let id = new_id();
        let now = self.clock.now_ms();
        self.vault
            .put_secret(&Self::slot(&principal.tenant_id, &id), &secret, now)
            .await?;
        let events_json = serde_json::to_string(&events).map_err(CoreError::internal)?;
        let inserted = self
            .store
            .insert_webhook(&NewWebhook {
                id: &id,
                tenant_id: &principal.tenant_id,
                url: url.as_str(),
                description: request.description.as_deref(),
                events: &events_json,
                enabled: request.enabled.unwrap_or(true),
                now,
            })
            .await;
        let record = match inserted {
            Ok(record) => record,
            Err(error) => {
                // Leave no orphaned secret behind.
                let _ = self
                    .vault
                    .delete_secrets(&principal.tenant_id, OWNER_TABLE, &id)
                    .await;
                return Err(error.into());
            }
        };
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: "webhook.create",
                    resource_kind: "webhook",
                    resource_id: Some(&id),
                    details: Some(json!({"url": record.url, "events": events})),
                },
            )
            .await?;
        Ok((view(&record), secret))
    }

    pub async fn list(&self, principal: &Principal, offset: u64, limit: u32) -> Result<WebhookList> {
        principal.require(Access::Read)?;
        let (records, total) = self
            .store
            .list_webhooks(&principal.tenant_id, offset, limit)
            .await?;
        Ok(WebhookList {
            webhooks: records.iter().map(view).collect(),
            total_count: total,
        })
    }

    pub async fn get(&self, principal: &Principal, id: &str) -> Result<WebhookView> {
        principal.require(Access::Read)?;
        Ok(view(&self.find(principal, id).await?))
    }

    pub async fn update(
        &self,
        principal: &Principal,
        id: &str,
        request: UpdateWebhookRequest,
    ) -> Result<WebhookView> {
        principal.require(Access::Admin)?;
        let mut record = self.find(principal, id).await?;
        if let Some(url) = &request.url {
            record.url = self.checked_url(url)?.to_string();
        }
        if let Some(description) = request.description {
            validate_description(description.as_deref())?;
            record.description = description;
        }
        if let Some(events) = request.events {
            let events = validate_events(Some(events))?;
            record.events = serde_json::to_string(&events).map_err(CoreError::internal)?;
        }
        if let Some(enabled) = request.enabled {
            record.enabled = i32::from(enabled);
        }
        record.updated_at = self.clock.now_ms();
        let record = self
            .store
            .update_webhook(&record)
            .await
            .map_err(|error| match error {
                StoreError::NotFound => CoreError::NotFound("webhook"),
                other => other.into(),
            })?;
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: "webhook.update",
                    resource_kind: "webhook",
                    resource_id: Some(id),
                    details: None,
                },
            )
            .await?;
        Ok(view(&record))
    }

    pub async fn delete(&self, principal: &Principal, id: &str) -> Result<WebhookView> {
        principal.require(Access::Admin)?;
        let record = self.find(principal, id).await?;
        if !self.store.delete_webhook(&principal.tenant_id, id).await? {
            return Err(CoreError::NotFound("webhook"));
        }
        self.vault
            .delete_secrets(&principal.tenant_id, OWNER_TABLE, id)
            .await?;
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: "webhook.delete",
                    resource_kind: "webhook",
                    resource_id: Some(id),
                    details: None,
                },
            )
            .await?;
        Ok(view(&record))
    }

    pub async fn deliveries(
        &self,
        principal: &Principal,
        id: &str,
        offset: u64,
        limit: u32,
    ) -> Result<DeliveryList> {
        principal.require(Access::Read)?;
        let record = self.find(principal, id).await?;
        let (records, total) = self
            .store
            .list_deliveries(&principal.tenant_id, &record.id, offset, limit)
            .await?;
        Ok(DeliveryList {
            deliveries: records.into_iter().map(delivery_view).collect(),
            total_count: total,
        })
    }

    /// Queues a `webhook.test` event for one subscription, whatever its event filter.
    pub async fn send_test(&self, principal: &Principal, id: &str) -> Result<DeliveryView> {
        principal.require(Access::Admin)?;
        let record = self.find(principal, id).await?;
        let delivery = self
            .queue(&record, "webhook.test", json!({"webhookId": record.id}))
            .await?;
        self.kick().await?;
        Ok(delivery_view(delivery))
    }

    /// Records an event for every enabled subscription of the tenant that wants it, durably,
    /// then wakes the sender. Returns how many deliveries were queued.
    pub async fn emit(&self, tenant_id: &str, event_type: &str, data: serde_json::Value) -> Result<usize> {
        let mut queued = 0;
        for record in self.store.enabled_webhooks(tenant_id).await? {
            let events = events_of(&record);
            if events.iter().any(|event| event == "*" || event == event_type) {
                self.queue(&record, event_type, data.clone()).await?;
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
        record: &WebhookRecord,
        event_type: &str,
        data: serde_json::Value,
    ) -> Result<DeliveryRecord> {
        let id = new_id();
        let now = self.clock.now_ms();
        let payload = json!({
            "id": id,
            "type": event_type,
            "createdAt": to_rfc3339(now),
            "tenantId": record.tenant_id,
            "data": data,
        })
        .to_string();
        self.store
            .insert_delivery(&NewDelivery {
                id: &id,
                tenant_id: &record.tenant_id,
                subscription_id: &record.id,
                event_type,
                payload: &payload,
                now,
            })
            .await?;
        Ok(DeliveryRecord {
            id,
            tenant_id: record.tenant_id.clone(),
            subscription_id: record.id.clone(),
            event_type: event_type.to_owned(),
            payload,
            state: "pending".to_owned(),
            attempts: 0,
            next_attempt_at: now,
            lease_owner: None,
            lease_expires_at: None,
            last_status: None,
            last_error: None,
            created_at: now,
            delivered_at: None,
        })
    }

    /// Makes sure a sender job is queued (one at a time, whoever asks).
    async fn kick(&self) -> Result<()> {
        let mut spec = JobSpec::new(DELIVER_KIND, json!({}));
        spec.dedupe_key = Some(DELIVER_KIND.to_owned());
        self.jobs.wake(&spec).await
    }

    /// Sends due deliveries, up to `limit`, with `http`: a client guarded against internal
    /// addresses (see `labgate_gitlab::guarded_http_client`).
    pub async fn deliver_due(
        &self,
        http: &reqwest::Client,
        owner: &str,
        limit: u32,
    ) -> Result<DeliveryStats> {
        let now = self.clock.now_ms();
        let claimed = self.store.claim_deliveries(owner, now, LEASE_MS, limit).await?;
        let mut stats = DeliveryStats::default();
        for delivery in claimed {
            let outcome = self.send(http, &delivery).await;
            let now = self.clock.now_ms();
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
                .then(|| now + retry_delay_ms(attempts, RETRY_BASE_MS, RETRY_CAP_MS));
            let recorded = self
                .store
                .record_delivery_attempt(&DeliveryAttempt {
                    id: &delivery.id,
                    owner,
                    status: status.map(i32::from),
                    error: error.as_deref(),
                    delivered,
                    retry_at,
                    now,
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
    pub async fn next_due_ms(&self) -> Result<Option<i64>> {
        Ok(self.store.next_delivery_due().await?)
    }

    async fn send(
        &self,
        http: &reqwest::Client,
        delivery: &DeliveryRecord,
    ) -> std::result::Result<u16, String> {
        let subscription = self
            .store
            .webhook(&delivery.tenant_id, &delivery.subscription_id)
            .await
            .map_err(|_| "the subscription is gone".to_owned())?;
        let secret = self
            .vault
            .get_secret(&Self::slot(&delivery.tenant_id, &delivery.subscription_id))
            .await
            .map_err(|_| "the signing secret cannot be read".to_owned())?
            .ok_or_else(|| "the signing secret is missing".to_owned())?;
        let url =
            url::Url::parse(&subscription.url).map_err(|_| "the subscription URL is not valid".to_owned())?;
        check_url(&url, &self.policy).map_err(|blocked| format!("refused: {blocked}"))?;
        let body = delivery.payload.as_bytes().to_vec();
        let timestamp = self.clock.now_ms() / 1_000;
        let response = http
            .post(url)
            .timeout(Duration::from_secs(10))
            .header("content-type", "application/json")
            .header(
                "user-agent",
                concat!("labgate-webhooks/", env!("CARGO_PKG_VERSION")),
            )
            .header("x-labgate-event", &delivery.event_type)
            .header("x-labgate-delivery", &delivery.id)
            .header("x-labgate-signature", signature(&secret, timestamp, &body))
            .body(body)
            .send()
            .await
            .map_err(|error| describe(&error))?;
        Ok(response.status().as_u16())
    }

    /// Deletes finished deliveries older than the retention.
    pub async fn prune(&self, retention_ms: i64) -> Result<u64> {
        Ok(self
            .store
            .prune_deliveries(self.clock.now_ms().saturating_sub(retention_ms))
            .await?)
    }
}

/// A delivery failure as the subscription's owner should read it; never the URL's query string.
fn describe(error: &reqwest::Error) -> String {
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
        for bad in [
            "ftp://x",
            "https://user:pw@x/",
            "https://x/#frag",
            "not a url",
            "file:///etc/passwd",
        ] {
            assert!(validate_url(bad).is_err(), "{bad}");
        }
        assert_eq!(validate_events(None).unwrap(), ["*"]);
        assert!(validate_events(Some(vec![])).is_err());
        assert!(validate_events(Some(vec!["nope".into()])).is_err());
    }
}
