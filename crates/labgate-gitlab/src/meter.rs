//! A meter one piece of work (an access sync run) puts on its client: it counts the calls made
//! and the attempts repeated, and holds the requests to a ceiling per minute, however the
//! instance's own limits stand. The limiter keeps a token under GitLab's limits; the meter keeps
//! one long job from taking more than its share of them.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Counts and paces the requests of the clients it is put on (see [`crate::GitLabClient::metered`]).
#[derive(Debug)]
pub struct RequestMeter {
    calls: AtomicU64,
    retries: AtomicU64,
    /// Time between requests at the ceiling; zero for no ceiling.
    spacing: Duration,
    /// How far ahead of the even pace requests may run: a few seconds' worth of requests go out
    /// at once, the ceiling holds over any minute.
    burst: Duration,
    /// When the next request is due at the even pace.
    next: Mutex<Option<Instant>>,
}

/// Seconds of requests that may go out in a burst.
const BURST_SECONDS: u32 = 5;

impl RequestMeter {
    /// A meter holding requests to `max_per_minute` (0: no ceiling).
    pub fn new(max_per_minute: u32) -> RequestMeter {
        let spacing = if max_per_minute == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs(60) / max_per_minute
        };
        // A burst of at most a twelfth of the minute's requests, and of at least one.
        let burst_requests = (max_per_minute / 60 * BURST_SECONDS).max(1);
        RequestMeter {
            calls: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            spacing,
            burst: spacing * (burst_requests - 1),
            next: Mutex::new(None),
        }
    }

    /// Calls made: one per request the caller asked for (a page of a listing), retries aside.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Attempts repeated after a 429, a 5xx or a transport failure.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// How long the request about to go out waits to stay under the ceiling; reserves its slot.
    fn reserve(&self) -> Duration {
        if self.spacing.is_zero() {
            return Duration::ZERO;
        }
        let now = Instant::now();
        let mut next = match self.next.lock() {
            Ok(next) => next,
            Err(poisoned) => poisoned.into_inner(),
        };
        // The even pace's due time; requests may run up to `burst` ahead of it.
        let due = next.map_or(now, |due| due.max(now));
        *next = Some(due + self.spacing);
        due.saturating_duration_since(now).saturating_sub(self.burst)
    }

    /// Counts one attempt (`first` for the first attempt of a call) and waits for its slot.
    pub(crate) async fn admit(&self, first: bool) {
        if first {
            self.calls.fetch_add(1, Ordering::Relaxed);
        } else {
            self.retries.fetch_add(1, Ordering::Relaxed);
        }
        let wait = self.reserve();
        if !wait.is_zero() {
            tracing::debug!(
                wait_ms = wait.as_millis() as u64,
                "holding GitLab requests under the ceiling per minute"
            );
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The waits the meter hands out, without waiting them.
    #[test]
    fn a_ceiling_lets_a_burst_through_then_spaces_requests_evenly() {
        let meter = RequestMeter::new(600);
        // 600 a minute: 50 requests may go out at once, then one every 100 ms.
        for _ in 0..50 {
            assert_eq!(meter.reserve(), Duration::ZERO);
        }
        let waits: Vec<Duration> = (0..10).map(|_| meter.reserve()).collect();
        for (i, wait) in waits.iter().enumerate() {
            let due = Duration::from_millis(100 * (i as u64 + 1));
            // Only the time this loop itself took comes off.
            assert!(
                *wait <= due && *wait + Duration::from_millis(50) > due,
                "{i}: {wait:?}"
            );
        }
    }

    #[test]
    fn no_ceiling_never_waits_and_every_attempt_is_counted() {
        let meter = RequestMeter::new(0);
        for _ in 0..1_000 {
            assert_eq!(meter.reserve(), Duration::ZERO);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            meter.admit(true).await;
            meter.admit(false).await;
            meter.admit(true).await;
        });
        assert_eq!((meter.calls(), meter.retries()), (2, 1));
    }
}
