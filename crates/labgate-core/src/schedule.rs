//! What the recurring sweeps (scheduled scans, scheduled access syncs) share: each item's own
//! interval, shortened by up to a tenth by an offset fixed per item, so items created together
//! spread out instead of all coming due in the same sweep forever after.

use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

/// The share of the interval an item's own offset may take off it.
const SPREAD: f64 = 0.1;

/// The interval of one item: `interval` shortened by a fraction (below [`SPREAD`]) derived from
/// the item's id, the same at every sweep.
pub(crate) fn interval_of(id: &str, interval: Duration) -> Duration {
    let digest = Sha256::digest(id.as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(digest.get(..8).unwrap_or(&[0; 8]));
    #[allow(
        clippy::cast_precision_loss,
        reason = "a fraction in [0, 1) needs no more precision"
    )]
    let fraction = (u64::from_be_bytes(head) >> 11) as f64 / (1u64 << 53) as f64;
    interval - interval * (SPREAD * fraction)
}

/// The newest time an item's last run may have and still be due now: what the sweep's query
/// asks for, before each item's own interval is checked.
pub(crate) fn earliest_due(now: OffsetDateTime, interval: Duration) -> OffsetDateTime {
    now - (interval - interval * SPREAD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_item_keeps_its_own_interval_within_a_tenth_below_the_setting() {
        let day = Duration::hours(24);
        let intervals: Vec<Duration> = (0..50)
            .map(|i| interval_of(&format!("01a2348e-0000-7000-8000-{i:012}"), day))
            .collect();
        assert!(intervals.iter().all(|i| *i <= day && *i > day - day * SPREAD));
        assert!(intervals.iter().any(|i| *i != intervals[0]), "items spread out");
        assert_eq!(interval_of("a", day), interval_of("a", day));
    }
}
