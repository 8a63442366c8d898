//! Request counters per method, route template and status.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::Serialize;

/// One counter row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestCount {
    pub method: String,
    pub route: String,
    /// HTTP status; 0 when the connection was dropped by a fault.
    pub status: u16,
    pub count: u64,
}

/// Handle to an instance's counters; cloning shares them.
type CounterMap = BTreeMap<(String, String, u16), u64>;

#[derive(Debug, Clone, Default)]
pub struct RequestCounters {
    inner: Arc<Mutex<CounterMap>>,
}

impl RequestCounters {
    pub(crate) fn record(&self, method: &str, route: &str, status: u16) {
        let mut m = self.inner.lock();
        // Look up by borrowed parts first so the common case allocates nothing.
        if let Some((_, c)) = m
            .iter_mut()
            .find(|((mm, r, s), _)| *s == status && mm == method && r == route)
        {
            *c += 1;
            return;
        }
        m.insert((method.to_owned(), route.to_owned(), status), 1);
    }

    /// All counters, ordered by method, route and status.
    pub fn snapshot(&self) -> Vec<RequestCount> {
        self.inner
            .lock()
            .iter()
            .map(|((method, route, status), count)| RequestCount {
                method: method.clone(),
                route: route.clone(),
                status: *status,
                count: *count,
            })
            .collect()
    }

    /// Requests for one method and route template with one status.
    pub fn count(&self, method: &str, route: &str, status: u16) -> u64 {
        self.inner
            .lock()
            .get(&(method.to_owned(), route.to_owned(), status))
            .copied()
            .unwrap_or(0)
    }

    /// Requests for one method and route template, any status.
    pub fn total(&self, method: &str, route: &str) -> u64 {
        self.inner
            .lock()
            .iter()
            .filter(|((m, r, _), _)| m == method && r == route)
            .map(|(_, c)| c)
            .sum()
    }

    /// Writes (POST, PUT, PATCH, DELETE) whose route template contains `route_part`, any status:
    /// what a caller costs GitLab, e.g. `writes("/variables")` for CI/CD variable changes.
    pub fn writes(&self, route_part: &str) -> u64 {
        self.inner
            .lock()
            .iter()
            .filter(|((m, r, _), _)| {
                matches!(m.as_str(), "POST" | "PUT" | "PATCH" | "DELETE") && r.contains(route_part)
            })
            .map(|(_, c)| c)
            .sum()
    }

    /// Requests of `method` whose route template contains `route_part`, any status.
    pub fn matching(&self, method: &str, route_part: &str) -> u64 {
        self.inner
            .lock()
            .iter()
            .filter(|((m, r, _), _)| m == method && r.contains(route_part))
            .map(|(_, c)| c)
            .sum()
    }

    pub fn reset(&self) {
        self.inner.lock().clear();
    }
}
