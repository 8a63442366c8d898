//! The client-side limiter, one pace per (instance, token).
//!
//! - With `RateLimit-*` headers: once `RateLimit-Remaining` falls below a quarter of
//!   `RateLimit-Limit`, requests are spread evenly over the time left until `RateLimit-Reset`, so
//!   the quota lasts until the window ends instead of running into 429s; at zero remaining,
//!   requests wait for the reset.
//! - Without headers (application-level limits, some GitLab.com 429s): each 429 doubles a
//!   minimum spacing between requests (additive decrease on every success), and blocks the pace
//!   for `Retry-After` or an exponential backoff with jitter.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use http::HeaderMap;
use rand::Rng;
use tokio::time::Instant;

/// Below this share of the quota, requests are paced.
const PACE_BELOW: f64 = 0.25;
const PENALTY_START: Duration = Duration::from_millis(100);
const PENALTY_MAX: Duration = Duration::from_secs(5);
const BACKOFF_BASE: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// Paces kept before idle ones are forgotten.
const PRUNE_ABOVE: usize = 1024;
const IDLE_FORGET: Duration = Duration::from_secs(600);

#[derive(Debug, Clone)]
struct Pace {
    next_slot: Instant,
    blocked_until: Option<Instant>,
    spacing: Duration,
    /// When the quota window of `spacing` ends (`RateLimit-Reset`).
    spacing_until: Option<Instant>,
    penalty: Duration,
    consecutive_429: u32,
    remaining: Option<u64>,
    limit: Option<u64>,
    last_used: Instant,
}

impl Pace {
    fn new(now: Instant) -> Self {
        Self {
            next_slot: now,
            blocked_until: None,
            spacing: Duration::ZERO,
            spacing_until: None,
            penalty: Duration::ZERO,
            consecutive_429: 0,
            remaining: None,
            limit: None,
            last_used: now,
        }
    }
}

/// What the limiter knows about one token, for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaceSnapshot {
    pub remaining: Option<u64>,
    pub limit: Option<u64>,
    /// Current spacing between requests (quota pacing or 429 penalty, whichever is larger).
    pub spacing: Duration,
    pub consecutive_429: u32,
}

#[derive(Debug, Default)]
pub(crate) struct Limiter {
    paces: Mutex<HashMap<u64, Pace>>,
}

fn header_u64(h: &HeaderMap, name: &str) -> Option<u64> {
    h.get(name)?.to_str().ok()?.trim().parse().ok()
}

impl Limiter {
    fn with<R>(&self, key: u64, f: impl FnOnce(&mut Pace, Instant) -> R) -> R {
        let now = Instant::now();
        let mut map = match self.paces.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        if map.len() >= PRUNE_ABOVE && !map.contains_key(&key) {
            // Tokens come and go (rotation); forget paces idle for a while.
            map.retain(|_, p| p.last_used + IDLE_FORGET > now || p.blocked_until.is_some_and(|b| b > now));
        }
        let pace = map.entry(key).or_insert_with(|| Pace::new(now));
        pace.last_used = now;
        f(pace, now)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.paces.lock().map(|m| m.len()).unwrap_or_default()
    }

    /// Reserves the next slot: `Ok(wait)` to sleep before sending, or `Err(wait)` when the wait
    /// would exceed `max_wait` (nothing is reserved then).
    pub(crate) fn reserve(&self, key: u64, max_wait: Duration) -> Result<Duration, Duration> {
        self.with(key, |p, now| {
            let mut slot = p.next_slot.max(now);
            if let Some(b) = p.blocked_until {
                if b > now {
                    slot = slot.max(b);
                } else {
                    p.blocked_until = None;
                }
            }
            let wait = slot - now;
            if wait > max_wait {
                return Err(wait);
            }
            if p.spacing_until.is_some_and(|u| u <= slot) {
                // A new quota window has started: the old pacing no longer applies.
                p.spacing = Duration::ZERO;
                p.spacing_until = None;
            }
            p.next_slot = slot + p.spacing.max(p.penalty);
            Ok(wait)
        })
    }

    /// Learns from an answer that was not a 429.
    pub(crate) fn observe(&self, key: u64, headers: &HeaderMap) {
        let remaining = header_u64(headers, "ratelimit-remaining");
        let limit = header_u64(headers, "ratelimit-limit");
        let until_reset = crate::error::retry_after_reset(headers);
        self.with(key, |p, now| {
            p.consecutive_429 = 0;
            p.penalty = p.penalty.saturating_sub(PENALTY_START / 4);
            if p.penalty < Duration::from_millis(5) {
                p.penalty = Duration::ZERO;
            }
            // Answers without rate-limit headers (application-limited endpoints) leave what
            // other answers taught untouched.
            if let (Some(rem), Some(lim), Some(left)) = (remaining, limit, until_reset) {
                p.remaining = Some(rem);
                p.limit = Some(lim);
                p.spacing = Duration::ZERO;
                p.spacing_until = Some(now + left);
                #[allow(clippy::cast_precision_loss, reason = "quota sizes are small")]
                let low = (rem as f64) < (lim as f64) * PACE_BELOW;
                if rem == 0 {
                    p.blocked_until = Some(now + left);
                } else if low {
                    let per = left.as_secs_f64() / (rem as f64 + 1.0);
                    p.spacing = Duration::from_secs_f64(per.min(PENALTY_MAX.as_secs_f64() * 12.0));
                }
            }
        });
    }

    /// Learns from a 429 and returns how long to wait before trying again.
    pub(crate) fn throttled(&self, key: u64, retry_after: Option<Duration>) -> Duration {
        self.with(key, |p, now| {
            p.consecutive_429 = p.consecutive_429.saturating_add(1);
            p.penalty = (p.penalty * 2).clamp(PENALTY_START, PENALTY_MAX);
            let wait = match retry_after {
                Some(d) => d,
                None => backoff(p.consecutive_429, BACKOFF_BASE, BACKOFF_MAX),
            };
            let until = now + wait;
            p.blocked_until = Some(p.blocked_until.map_or(until, |b| b.max(until)));
            p.remaining = Some(0);
            wait
        })
    }

    pub(crate) fn snapshot(&self, key: u64) -> PaceSnapshot {
        self.with(key, |p, _| PaceSnapshot {
            remaining: p.remaining,
            limit: p.limit,
            spacing: p.spacing.max(p.penalty),
            consecutive_429: p.consecutive_429,
        })
    }
}

/// `duration` spread by up to ± `fraction` of itself, so that work scheduled together (retries of
/// requests failing together, replicas starting at once) does not run together again. labgate's
/// one jitter: the job queue and webhook retries use it too.
pub fn jittered(duration: Duration, fraction: f64) -> Duration {
    let fraction = fraction.clamp(0.0, 1.0);
    let factor = 1.0 + rand::thread_rng().gen_range(-fraction..=fraction);
    duration.mul_f64(factor)
}

/// Capped exponential backoff with jitter: a random delay in `[cap/2, cap]` where
/// `cap = min(max, base × 2^(attempt-1))`.
pub(crate) fn backoff(attempt: u32, base: Duration, max: Duration) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let cap = exp.min(max);
    jittered(cap.mul_f64(0.75), 1.0 / 3.0).clamp(cap / 2, cap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(rem: u64, lim: u64, reset_in: i64) -> HeaderMap {
        let mut h = HeaderMap::new();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        h.insert("ratelimit-remaining", HeaderValue::from(rem));
        h.insert("ratelimit-limit", HeaderValue::from(lim));
        h.insert("ratelimit-reset", HeaderValue::from(now + reset_in));
        h
    }

    #[tokio::test]
    async fn paces_when_quota_runs_low() {
        let l = Limiter::default();
        l.observe(1, &headers(1500, 2000, 60));
        assert_eq!(l.reserve(1, Duration::from_secs(60)), Ok(Duration::ZERO));
        assert_eq!(l.reserve(1, Duration::from_secs(60)), Ok(Duration::ZERO));
        l.observe(1, &headers(9, 2000, 60));
        let s = l.snapshot(1).spacing;
        assert!(
            s >= Duration::from_secs(5) && s <= Duration::from_secs(7),
            "{s:?}"
        );
        l.observe(1, &HeaderMap::new());
        assert_eq!(l.snapshot(1).spacing, s, "a headerless answer keeps the pace");
        let _ = l.reserve(1, Duration::from_secs(60)).unwrap();
        let second = l.reserve(1, Duration::from_secs(60)).unwrap();
        assert!(second >= Duration::from_secs(5), "{second:?}");
        // Another token is not slowed down.
        assert_eq!(l.reserve(2, Duration::from_secs(60)), Ok(Duration::ZERO));
        l.observe(1, &headers(0, 2000, 30));
        assert!(matches!(l.reserve(1, Duration::from_secs(5)), Err(w) if w >= Duration::from_secs(25)));
    }

    #[tokio::test]
    async fn slows_down_without_headers() {
        let l = Limiter::default();
        let w1 = l.throttled(1, None);
        let w2 = l.throttled(1, None);
        assert!(w1 >= Duration::from_millis(500) && w1 <= Duration::from_secs(1));
        assert!(w2 >= Duration::from_secs(1) && w2 <= Duration::from_secs(2));
        assert!(l.snapshot(1).spacing >= Duration::from_millis(200));
        assert_eq!(
            l.throttled(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        let before = l.snapshot(1).spacing;
        l.observe(1, &HeaderMap::new());
        assert_eq!(l.snapshot(1).consecutive_429, 0);
        assert!(l.snapshot(1).spacing < before, "successes relax the spacing");
        for _ in 0..100 {
            l.observe(1, &HeaderMap::new());
        }
        assert_eq!(l.snapshot(1).spacing, Duration::ZERO);
    }

    #[tokio::test]
    async fn idle_paces_are_forgotten_but_blocked_ones_kept() {
        let l = Limiter::default();
        l.throttled(0, Some(Duration::from_secs(3600)));
        for k in 1..PRUNE_ABOVE as u64 {
            l.observe(k, &HeaderMap::new());
        }
        assert_eq!(l.len(), PRUNE_ABOVE);
        // Nothing is idle yet: all kept.
        l.observe(u64::MAX, &HeaderMap::new());
        assert_eq!(l.len(), PRUNE_ABOVE + 1);
        if let Ok(mut m) = l.paces.lock() {
            for p in m.values_mut() {
                p.last_used = p.last_used.checked_sub(IDLE_FORGET).unwrap();
            }
        }
        l.observe(u64::MAX - 1, &HeaderMap::new());
        assert_eq!(l.len(), 2, "the blocked pace and the new one");
        assert!(l.reserve(0, Duration::from_secs(1)).is_err(), "still blocked");
    }

    #[test]
    fn backoff_is_capped_and_jittered() {
        for attempt in 1..20 {
            let d = backoff(attempt, Duration::from_millis(100), Duration::from_secs(2));
            assert!(d <= Duration::from_secs(2));
            let cap = (Duration::from_millis(100) * (1 << (attempt - 1).min(16))).min(Duration::from_secs(2));
            assert!(d >= cap / 2);
        }
    }
}
