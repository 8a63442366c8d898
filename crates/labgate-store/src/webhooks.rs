//! Outgoing webhook subscriptions and their delivery outbox.

use crate::page;
use crate::{Pool, Result, Store, StoreError, on_pool};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WebhookRecord {
    pub id: String,
    pub tenant_id: String,
    pub url: String,
    pub description: Option<String>,
    /// JSON array of event types; `["*"]` for all.
    pub events: String,
    pub enabled: i32,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewWebhook<'a> {
    pub id: &'a str,
    pub tenant_id: &'a str,
    pub url: &'a str,
    pub description: Option<&'a str>,
    pub events: &'a str,
    pub enabled: bool,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeliveryRecord {
    pub id: String,
    pub tenant_id: String,
    pub subscription_id: String,
    pub event_type: String,
    pub payload: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewDelivery<'a> {
    pub id: &'a str,
    pub tenant_id: &'a str,
    pub subscription_id: &'a str,
    pub event_type: &'a str,
    pub payload: &'a str,
    pub now: i64,
}

/// The outcome of one delivery attempt.
#[derive(Debug, Clone)]
pub struct DeliveryAttempt<'a> {
    pub id: &'a str,
    pub owner: &'a str,
    pub status: Option<i32>,
    pub error: Option<&'a str>,
    /// Delivered when true; otherwise retried at `retry_at`, or failed for good when that is `None`.
    pub delivered: bool,
    pub retry_at: Option<i64>,
    pub now: i64,
}

const WEBHOOK_COLUMNS: &str = "id, tenant_id, url, description, events, enabled, created_at, updated_at";
const DELIVERY_COLUMNS: &str = "id, tenant_id, subscription_id, event_type, payload, state, attempts, \
     next_attempt_at, lease_owner, lease_expires_at, last_status, last_error, created_at, delivered_at";

impl Store {
    pub async fn insert_webhook(&self, webhook: &NewWebhook<'_>) -> Result<WebhookRecord> {
        let sql = format!(
            "INSERT INTO webhook_subscriptions ({WEBHOOK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
             RETURNING {WEBHOOK_COLUMNS}"
        );
        Ok(on_pool!(self, pool => sqlx::query_as::<_, WebhookRecord>(&sql)
            .bind(webhook.id)
            .bind(webhook.tenant_id)
            .bind(webhook.url)
            .bind(webhook.description)
            .bind(webhook.events)
            .bind(i32::from(webhook.enabled))
            .bind(webhook.now)
            .fetch_one(pool)
            .await?))
    }

    pub async fn webhook(&self, tenant_id: &str, id: &str) -> Result<WebhookRecord> {
        let sql =
            format!("SELECT {WEBHOOK_COLUMNS} FROM webhook_subscriptions WHERE tenant_id = $1 AND id = $2");
        on_pool!(self, pool => sqlx::query_as::<_, WebhookRecord>(&sql)
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(pool)
            .await?)
        .ok_or(StoreError::NotFound)
    }

    pub async fn list_webhooks(
        &self,
        tenant_id: &str,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<WebhookRecord>, u64)> {
        page!(
            self,
            WebhookRecord,
            columns = WEBHOOK_COLUMNS,
            from = "webhook_subscriptions WHERE tenant_id = $1",
            order = "created_at DESC, id DESC",
            binds = [tenant_id],
            offset = offset,
            limit = limit
        )
    }

    /// The tenant's enabled subscriptions (event filtering happens in the domain).
    pub async fn enabled_webhooks(&self, tenant_id: &str) -> Result<Vec<WebhookRecord>> {
        let sql = format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhook_subscriptions WHERE tenant_id = $1 AND enabled = 1 ORDER BY id"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, WebhookRecord>(&sql).bind(tenant_id).fetch_all(pool).await?),
        )
    }

    /// Replaces the changeable fields of a subscription.
    pub async fn update_webhook(&self, record: &WebhookRecord) -> Result<WebhookRecord> {
        let sql = format!(
            "UPDATE webhook_subscriptions SET url = $1, description = $2, events = $3, enabled = $4, updated_at = $5 \
             WHERE tenant_id = $6 AND id = $7 RETURNING {WEBHOOK_COLUMNS}"
        );
        on_pool!(self, pool => sqlx::query_as::<_, WebhookRecord>(&sql)
            .bind(&record.url)
            .bind(&record.description)
            .bind(&record.events)
            .bind(record.enabled)
            .bind(record.updated_at)
            .bind(&record.tenant_id)
            .bind(&record.id)
            .fetch_optional(pool)
            .await?)
        .ok_or(StoreError::NotFound)
    }

    /// Deletes a subscription and its deliveries; false when it did not exist.
    pub async fn delete_webhook(&self, tenant_id: &str, id: &str) -> Result<bool> {
        let affected = on_pool!(self, pool => sqlx::query(
            "DELETE FROM webhook_subscriptions WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(affected == 1)
    }

    pub async fn insert_delivery(&self, delivery: &NewDelivery<'_>) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO webhook_deliveries (id, tenant_id, subscription_id, event_type, payload, state, attempts, \
             next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6)",
        )
        .bind(delivery.id)
        .bind(delivery.tenant_id)
        .bind(delivery.subscription_id)
        .bind(delivery.event_type)
        .bind(delivery.payload)
        .bind(delivery.now)
        .execute(pool)
        .await
        .map(|_| ())?);
        Ok(())
    }

    /// Leases up to `limit` due deliveries for `owner`. A delivery whose sender died is taken
    /// again once its lease expires, so every delivery is attempted at least once.
    pub async fn claim_deliveries(
        &self,
        owner: &str,
        now: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>> {
        let due = "state = 'pending' AND next_attempt_at <= $3 AND (lease_expires_at IS NULL OR lease_expires_at < $3) \
                   ORDER BY next_attempt_at, id LIMIT $4";
        let lock = match self.pool {
            Pool::Sqlite(_) => "",
            Pool::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE webhook_deliveries SET lease_owner = $1, lease_expires_at = $2 WHERE id IN \
             (SELECT id FROM webhook_deliveries WHERE {due}{lock}) RETURNING {DELIVERY_COLUMNS}"
        );
        Ok(on_pool!(self, pool => sqlx::query_as::<_, DeliveryRecord>(&sql)
            .bind(owner)
            .bind(now.saturating_add(lease_ms))
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?))
    }

    /// Records an attempt made under a lease; false when the lease had been lost.
    pub async fn record_delivery_attempt(&self, attempt: &DeliveryAttempt<'_>) -> Result<bool> {
        let (state, next_attempt_at, delivered_at) = match (attempt.delivered, attempt.retry_at) {
            (true, _) => ("delivered", attempt.now, Some(attempt.now)),
            (false, Some(retry_at)) => ("pending", retry_at, None),
            (false, None) => ("failed", attempt.now, None),
        };
        let affected = on_pool!(self, pool => sqlx::query(
            "UPDATE webhook_deliveries SET state = $1, attempts = attempts + 1, next_attempt_at = $2, \
             delivered_at = $3, last_status = $4, last_error = $5, lease_owner = NULL, lease_expires_at = NULL \
             WHERE id = $6 AND lease_owner = $7 AND state = 'pending'",
        )
        .bind(state)
        .bind(next_attempt_at)
        .bind(delivered_at)
        .bind(attempt.status)
        .bind(attempt.error)
        .bind(attempt.id)
        .bind(attempt.owner)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(affected == 1)
    }

    /// When the next pending delivery is due, if any.
    pub async fn next_delivery_due(&self) -> Result<Option<i64>> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE state = 'pending'",
        )
        .fetch_one(pool)
        .await?))
    }

    pub async fn list_deliveries(
        &self,
        tenant_id: &str,
        subscription_id: &str,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<DeliveryRecord>, u64)> {
        page!(
            self,
            DeliveryRecord,
            columns = DELIVERY_COLUMNS,
            from = "webhook_deliveries WHERE tenant_id = $1 AND subscription_id = $2",
            order = "created_at DESC, id DESC",
            binds = [tenant_id, subscription_id],
            offset = offset,
            limit = limit
        )
    }

    /// Deletes finished deliveries created before `before`; returns how many went.
    pub async fn prune_deliveries(&self, before: i64) -> Result<u64> {
        Ok(on_pool!(self, pool => sqlx::query(
            "DELETE FROM webhook_deliveries WHERE state <> 'pending' AND created_at < $1",
        )
        .bind(before)
        .execute(pool)
        .await?
        .rows_affected()))
    }
}
