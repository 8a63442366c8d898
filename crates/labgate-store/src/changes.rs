//! News of changed connections for processes sharing a PostgreSQL database.
//!
//! Migration 0007 makes PostgreSQL announce every change to a connection row (and its deletion)
//! on one channel when the transaction commits. A process that keeps connections in memory
//! listens there, and also hears the beacons it sends itself through its pool. PostgreSQL
//! delivers notifications in commit order, so a listener that hears a beacon sent at time t has
//! already heard of every change committed before t: beacons tell it how current it is.
//!
//! An embedded (SQLite) database belongs to one process, which hears of its own changes without
//! any of this.

use sqlx::postgres::{PgListener, PgPoolOptions};

use crate::{Pool, Result, Store};

/// The channel migration 0007's triggers announce changes on.
const CHANNEL: &str = "labgate_connection_changes";
/// Announced connection ids are UUIDs, so this prefix cannot be mistaken for one.
const BEACON_PREFIX: &str = "beacon:";

/// What a listener heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionNotice {
    /// The connection with this id changed or went.
    Changed(String),
    /// A beacon, with what its sender put in it.
    Beacon(String),
    /// The listening connection dropped and was made again: what was announced meanwhile was not
    /// heard.
    Lost,
}

/// A subscription to changed connections, on a database connection of its own.
pub struct ConnectionChanges {
    listener: PgListener,
}

impl std::fmt::Debug for ConnectionChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionChanges").finish_non_exhaustive()
    }
}

impl ConnectionChanges {
    /// Waits for the next notice. An error means the database could not be reached to listen
    /// again; the next call tries again.
    pub async fn next(&mut self) -> Result<ConnectionNotice> {
        Ok(match self.listener.try_recv().await? {
            Some(notification) => {
                let payload = notification.payload();
                match payload.strip_prefix(BEACON_PREFIX) {
                    Some(beacon) => ConnectionNotice::Beacon(beacon.to_owned()),
                    None => ConnectionNotice::Changed(payload.to_owned()),
                }
            }
            None => ConnectionNotice::Lost,
        })
    }
}

impl Store {
    /// Starts listening for changed connections: `None` on SQLite, whose one process knows its
    /// own changes. The listener has a connection of its own, outside the pool, so it neither
    /// takes a connection from requests nor holds up closing the pool.
    pub async fn listen_connection_changes(&self) -> Result<Option<ConnectionChanges>> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(None);
        };
        let own = PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_with((*pool.connect_options()).clone())
            .await?;
        let mut listener = PgListener::connect_with(&own).await?;
        // The pool is this listener's alone and is never closed while it listens.
        listener.ignore_pool_close_event(true);
        listener.listen(CHANNEL).await?;
        Ok(Some(ConnectionChanges { listener }))
    }

    /// Sends a beacon on the changes channel, which every listener hears after every change
    /// committed before it (PostgreSQL); nothing on SQLite.
    pub async fn send_connection_beacon(&self, payload: &str) -> Result<()> {
        if let Pool::Postgres(pool) = &self.pool {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(format!("{BEACON_PREFIX}{payload}"))
                .execute(pool)
                .await?;
        }
        Ok(())
    }
}
