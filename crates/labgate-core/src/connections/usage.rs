//! When connections last handed out their credentials: counted in memory on every read, written
//! in batches by the usage flush (see `Services::flush_usage`), to the minute.

use std::collections::HashMap;

use crate::RandomKeys;

use labgate_store::{ConnectionUse, Store};
use parking_lot::Mutex;
use time::{Duration, OffsetDateTime};

use crate::Result;
use crate::ids::ConnectionId;
use crate::rows::ms;

/// A connection's last use is written again only once it moved on by this much, so a connection
/// read all the time costs one row update a minute, not one per flush.
pub const LAST_USED_GRANULARITY: Duration = Duration::MINUTE;

#[derive(Debug, Clone)]
struct LastUse {
    id: ConnectionId,
    used_at: i64,
    /// What this process last wrote for the connection.
    written: Option<i64>,
}

impl LastUse {
    fn due(&self) -> bool {
        let granularity = i64::try_from(LAST_USED_GRANULARITY.whole_milliseconds()).unwrap_or(i64::MAX);
        self.written
            .is_none_or(|written| self.used_at >= written.saturating_add(granularity))
    }
}

#[derive(Debug, Default)]
pub(crate) struct UsageLog {
    /// By connection key (`ConnectionId::key`), compared in place on every read.
    uses: Mutex<HashMap<u128, LastUse, RandomKeys>>,
}

impl UsageLog {
    /// Notes a use of the connection at `now`. Connections are read by the ids labgate issued,
    /// which all have keys.
    pub(crate) fn record(&self, id: &ConnectionId, now: OffsetDateTime) {
        let Some(key) = id.key() else {
            tracing::warn!(connection_id = %id, "a connection id not issued by labgate; its use is not recorded");
            return;
        };
        let now = ms(now);
        let mut uses = self.uses.lock();
        if let Some(last) = uses.get_mut(&key) {
            last.used_at = last.used_at.max(now);
            return;
        }
        uses.insert(
            key,
            LastUse {
                id: id.clone(),
                used_at: now,
                written: None,
            },
        );
    }

    /// Writes the last uses that moved on by the granularity since this process last wrote them,
    /// and forgets connections not used for as long (their next use is due at once anyway).
    /// What could not be written stays due. Returns how many connections were written.
    pub(crate) async fn flush(&self, store: &Store, now: OffsetDateTime) -> Result<usize> {
        let due: Vec<(u128, ConnectionId, i64, Option<i64>)> = {
            let mut uses = self.uses.lock();
            let due = uses
                .iter_mut()
                .filter(|(_, last)| last.due())
                .map(|(key, last)| {
                    let before = last.written.replace(last.used_at);
                    (*key, last.id.clone(), last.used_at, before)
                })
                .collect();
            let idle_since = ms(now - LAST_USED_GRANULARITY);
            uses.retain(|_, last| last.written != Some(last.used_at) || last.used_at > idle_since);
            due
        };
        if due.is_empty() {
            return Ok(0);
        }
        let rows: Vec<ConnectionUse<'_>> = due
            .iter()
            .map(|(_, id, used_at, _)| ConnectionUse {
                connection_id: id.as_str(),
                used_at: *used_at,
            })
            .collect();
        if let Err(error) = store.record_connection_use(&rows).await {
            let mut uses = self.uses.lock();
            for (key, id, used_at, before) in &due {
                let last = uses.entry(*key).or_insert_with(|| LastUse {
                    id: id.clone(),
                    used_at: *used_at,
                    written: None,
                });
                last.used_at = last.used_at.max(*used_at);
                if last.written == Some(*used_at) {
                    last.written = *before;
                }
            }
            return Err(error.into());
        }
        Ok(due.len())
    }

    #[cfg(test)]
    fn pending(&self) -> usize {
        self.uses.lock().values().filter(|last| last.due()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_connection_is_due_once_a_minute() {
        let log = UsageLog::default();
        let id = ConnectionId::generate();
        let start = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        log.record(&id, start);
        assert_eq!(log.pending(), 1);
        // As a flush that wrote it would leave it:
        log.uses.lock().get_mut(&id.key().unwrap()).unwrap().written = Some(ms(start));
        log.record(&id, start + Duration::seconds(59));
        assert_eq!(log.pending(), 0);
        log.record(&id, start + Duration::seconds(60));
        assert_eq!(log.pending(), 1);
    }
}
