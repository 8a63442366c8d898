//! The client's address, and the brake on repeated failed authentication from one address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use labgate_core::clock::Clock;

use axum::http::HeaderMap;
use ipnet::IpNet;
use parking_lot::Mutex;

/// The client address: the peer, unless the peer is a trusted proxy, in which case the nearest
/// address in `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = peer?;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let mut client = peer;
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok());
    let hops: Vec<IpAddr> = forwarded
        .flat_map(|value| value.split(','))
        .filter_map(|hop| hop.trim().parse().ok())
        .collect();
    // Walk from the nearest hop outwards; the first address we do not trust is the client.
    for hop in hops.into_iter().rev() {
        client = hop;
        if !is_trusted(&hop) {
            break;
        }
    }
    Some(client)
}

const WINDOW: Duration = Duration::from_secs(60);
const TRACKED_LIMIT: usize = 100_000;

/// Counts failed authentications per address in a fixed one-minute window, on the injected
/// clock.
pub struct FailedAuthLimiter {
    per_minute: u32,
    clock: Arc<dyn Clock>,
    /// Failures so far, and when the window started (milliseconds since the epoch).
    failures: Mutex<HashMap<IpAddr, (u32, i64)>>,
}

impl FailedAuthLimiter {
    pub fn new(per_minute: u32, clock: Arc<dyn Clock>) -> FailedAuthLimiter {
        FailedAuthLimiter {
            per_minute: per_minute.max(1),
            clock,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn elapsed(&self, since: i64) -> Duration {
        Duration::from_millis(u64::try_from(self.clock.now_ms().saturating_sub(since)).unwrap_or(0))
    }

    /// Counts one failure from `ip`. When the address was already over its allowance in this
    /// window, the failure is not counted and the answer is the seconds until the window ends.
    pub fn record_failure(&self, ip: IpAddr) -> Option<u64> {
        let mut failures = self.failures.lock();
        if failures.len() >= TRACKED_LIMIT {
            failures.retain(|_, (_, since)| self.elapsed(*since) < WINDOW);
        }
        let now = self.clock.now_ms();
        let entry = failures.entry(ip).or_insert((0, now));
        let elapsed = self.elapsed(entry.1);
        if elapsed >= WINDOW {
            *entry = (0, now);
        } else if entry.0 >= self.per_minute {
            return Some((WINDOW - elapsed).as_secs().max(1));
        }
        entry.0 = entry.0.saturating_add(1);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", xff.parse().unwrap());
        headers
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        let spoofed = headers("1.2.3.4");
        assert_eq!(client_ip(Some(stranger), &spoofed, &trusted), Some(stranger));
        assert_eq!(
            client_ip(Some(proxy), &spoofed, &trusted),
            Some("1.2.3.4".parse().unwrap())
        );
        // A client-supplied first hop cannot hide the real one behind the proxy chain.
        let chain = headers("6.6.6.6, 198.51.100.7, 10.9.9.9");
        assert_eq!(
            client_ip(Some(proxy), &chain, &trusted),
            Some("198.51.100.7".parse().unwrap())
        );
        assert_eq!(client_ip(Some(proxy), &HeaderMap::new(), &trusted), Some(proxy));
        assert_eq!(client_ip(Some(proxy), &headers("garbage"), &trusted), Some(proxy));
    }

    #[test]
    fn limiter_blocks_after_the_allowance_until_the_window_ends() {
        let clock = Arc::new(labgate_core::clock::ManualClock::new(1_800_000_000_000));
        let limiter = FailedAuthLimiter::new(3, clock.clone());
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(limiter.record_failure(ip), None);
        }
        assert_eq!(limiter.record_failure(ip), Some(60));
        assert_eq!(limiter.record_failure("192.0.2.2".parse().unwrap()), None);
        clock.advance_ms(45_000);
        assert_eq!(limiter.record_failure(ip), Some(15));
        clock.advance_ms(15_000);
        assert_eq!(limiter.record_failure(ip), None, "a new window starts");
    }
}
