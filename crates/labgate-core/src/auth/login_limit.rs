//! The brake on password guessing: failed logins counted in memory per client address and per
//! email over a sliding window. Past the limit, logins are refused before any password is
//! checked, until the oldest counted failure leaves the window.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use time::Duration;

use crate::clock::Clock;

/// Failed logins allowed per address and per email within [`LOGIN_FAILURE_WINDOW`].
pub const LOGIN_FAILURE_LIMIT: usize = 10;
pub const LOGIN_FAILURE_WINDOW: Duration = Duration::minutes(15);
/// Addresses and emails tracked before the oldest are forgotten, so guessing from many
/// addresses cannot exhaust memory.
const TRACKED_LIMIT: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Subject {
    Address(IpAddr),
    Email(String),
}

pub(crate) struct LoginLimiter {
    clock: Arc<dyn Clock>,
    /// Times (ms) of failures within the window, oldest first.
    failures: Mutex<HashMap<Subject, VecDeque<i64>>>,
}

impl LoginLimiter {
    pub(crate) fn new(clock: Arc<dyn Clock>) -> LoginLimiter {
        LoginLimiter {
            clock,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn window_ms() -> i64 {
        i64::try_from(LOGIN_FAILURE_WINDOW.whole_milliseconds()).unwrap_or(i64::MAX)
    }

    fn subjects(address: Option<IpAddr>, email: &str) -> Vec<Subject> {
        let mut subjects = vec![Subject::Email(email.trim().to_lowercase())];
        subjects.extend(address.map(Subject::Address));
        subjects
    }

    /// Whole seconds until a login from `address` for `email` may be tried again, when either
    /// is over its limit.
    #[cfg(test)]
    pub(crate) fn retry_after(&self, address: Option<IpAddr>, email: &str) -> Option<u64> {
        let now = self.clock.now_ms();
        Self::wait(&mut self.failures.lock(), &Self::subjects(address, email), now)
    }

    /// Starts a login attempt: refused with the seconds to wait while the address or the email
    /// is over its limit, otherwise counted as a failure at once, in the same step. Guesses sent
    /// side by side all count before any password is checked, so none gets past the limit; the
    /// attempt that turns out right takes its count back with [`LoginLimiter::succeeded`].
    pub(crate) fn begin(&self, address: Option<IpAddr>, email: &str) -> Result<LoginAttempt, u64> {
        let now = self.clock.now_ms();
        let subjects = Self::subjects(address, email);
        let mut failures = self.failures.lock();
        if let Some(wait) = Self::wait(&mut failures, &subjects, now) {
            return Err(wait);
        }
        Self::count(&mut failures, subjects, now);
        Ok(LoginAttempt {
            address,
            email: email.trim().to_lowercase(),
            at: now,
        })
    }

    fn wait(failures: &mut HashMap<Subject, VecDeque<i64>>, subjects: &[Subject], now: i64) -> Option<u64> {
        let cutoff = now.saturating_sub(Self::window_ms());
        let mut wait: Option<i64> = None;
        for subject in subjects {
            let Some(times) = failures.get_mut(subject) else {
                continue;
            };
            while times.front().is_some_and(|at| *at <= cutoff) {
                times.pop_front();
            }
            if times.len() >= LOGIN_FAILURE_LIMIT
                && let Some(oldest) = times.front()
            {
                let until = oldest.saturating_add(Self::window_ms()).saturating_sub(now);
                wait = Some(wait.map_or(until, |other| other.max(until)));
            }
        }
        wait.map(|ms| u64::try_from(ms).unwrap_or(0).div_ceil(1_000).max(1))
    }

    fn count(failures: &mut HashMap<Subject, VecDeque<i64>>, subjects: Vec<Subject>, now: i64) {
        let cutoff = now.saturating_sub(Self::window_ms());
        if failures.len() >= TRACKED_LIMIT {
            failures.retain(|_, times| times.back().is_some_and(|at| *at > cutoff));
        }
        for subject in subjects {
            let times = failures.entry(subject).or_default();
            times.push_back(now);
            // Only the latest failures up to the limit decide anything.
            while times.len() > LOGIN_FAILURE_LIMIT {
                times.pop_front();
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn record_failure(&self, address: Option<IpAddr>, email: &str) {
        let now = self.clock.now_ms();
        Self::count(&mut self.failures.lock(), Self::subjects(address, email), now);
    }

    /// A successful login clears the email's count (the person knows the password now); the
    /// address's count stays, or a guesser could reset it with an account of their own.
    #[cfg(test)]
    pub(crate) fn record_success(&self, email: &str) {
        self.failures
            .lock()
            .remove(&Subject::Email(email.trim().to_lowercase()));
    }

    /// The attempt was right: its email's count is cleared (the person knows the password now)
    /// and the address loses only the failure the attempt was counted as (a guesser must not
    /// reset an address's count with an account of their own).
    pub(crate) fn succeeded(&self, attempt: LoginAttempt) {
        self.forget(attempt, true);
    }

    /// The attempt ended before a password was judged (the database could not answer): it
    /// counts for nothing.
    pub(crate) fn abandoned(&self, attempt: LoginAttempt) {
        self.forget(attempt, false);
    }

    fn forget(&self, attempt: LoginAttempt, clear_email: bool) {
        let mut failures = self.failures.lock();
        let email = Subject::Email(attempt.email);
        if clear_email {
            failures.remove(&email);
        } else {
            Self::take_back(&mut failures, &email, attempt.at);
        }
        if let Some(address) = attempt.address {
            Self::take_back(&mut failures, &Subject::Address(address), attempt.at);
        }
    }

    fn take_back(failures: &mut HashMap<Subject, VecDeque<i64>>, subject: &Subject, at: i64) {
        if let Some(times) = failures.get_mut(subject)
            && let Some(index) = times.iter().rposition(|counted| *counted == at)
        {
            times.remove(index);
        }
    }
}

/// A login attempt counted by [`LoginLimiter::begin`].
#[derive(Debug)]
pub(crate) struct LoginAttempt {
    address: Option<IpAddr>,
    email: String,
    at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn the_eleventh_try_waits_for_the_oldest_failure_to_age_out() {
        let clock = Arc::new(ManualClock::new(1_800_000_000_000));
        let limiter = LoginLimiter::new(clock.clone());
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..LOGIN_FAILURE_LIMIT {
            assert_eq!(limiter.retry_after(Some(ip), "ann@example.com"), None);
            limiter.record_failure(Some(ip), "ann@example.com");
            clock.advance_ms(1_000);
        }
        assert_eq!(limiter.retry_after(Some(ip), "ANN@example.com"), Some(890));
        // The address is blocked for every email, the email from every address.
        assert!(limiter.retry_after(Some(ip), "bob@example.com").is_some());
        assert!(
            limiter
                .retry_after(Some("192.0.2.2".parse().unwrap()), "ann@example.com")
                .is_some()
        );
        assert_eq!(
            limiter.retry_after(Some("192.0.2.2".parse().unwrap()), "bob@example.com"),
            None
        );
        clock.advance(Duration::seconds(890));
        assert_eq!(limiter.retry_after(Some(ip), "ann@example.com"), None);
    }

    #[test]
    fn success_clears_the_email_but_not_the_address() {
        let clock = Arc::new(ManualClock::new(1_800_000_000_000));
        let limiter = LoginLimiter::new(clock);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..LOGIN_FAILURE_LIMIT {
            limiter.record_failure(Some(ip), "ann@example.com");
        }
        limiter.record_success("ann@example.com");
        assert_eq!(limiter.retry_after(None, "ann@example.com"), None);
        assert!(limiter.retry_after(Some(ip), "ann@example.com").is_some());
    }

    #[test]
    fn attempts_side_by_side_count_before_any_password_is_checked() {
        let clock = Arc::new(ManualClock::new(1_800_000_000_000));
        let limiter = LoginLimiter::new(clock);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let started: Vec<_> = (0..LOGIN_FAILURE_LIMIT + 5)
            .map(|_| limiter.begin(Some(ip), "ann@example.com"))
            .collect();
        assert_eq!(
            started.iter().filter(|attempt| attempt.is_ok()).count(),
            LOGIN_FAILURE_LIMIT
        );
        // The right password among them takes back its own count and clears the email's.
        let right = started.into_iter().find_map(Result::ok).unwrap();
        limiter.succeeded(right);
        assert!(
            limiter
                .begin(Some("192.0.2.2".parse().unwrap()), "ann@example.com")
                .is_ok()
        );
        // The address keeps the other nine; an attempt the database could not judge counts for
        // nothing, so one more may start, and then none.
        let attempt = limiter.begin(Some(ip), "bob@example.com").unwrap();
        limiter.abandoned(attempt);
        assert!(limiter.begin(Some(ip), "carol@example.com").is_ok());
        assert!(limiter.begin(Some(ip), "dave@example.com").is_err());
    }
}
