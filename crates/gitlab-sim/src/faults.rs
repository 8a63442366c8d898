//! Fault injection: latency, 5xx, connection resets, answers lost after the effect, 429 storms.

use std::sync::Arc;

use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// One fault rule. Probabilities are in `0.0..=1.0`; at most one effect fires per request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultRule {
    /// Route template (`/api/v4/users/{id}`) or path prefix (`/oauth/token`), without the instance
    /// path prefix. Absent: every route.
    pub route: Option<String>,
    /// HTTP method; absent: every method.
    pub method: Option<String>,
    /// Delay added before the request is handled.
    pub latency_ms: u64,
    /// Delay added after the request took effect, before the answer is sent: a client that gives
    /// up meanwhile never learns what happened.
    pub answer_delay_ms: u64,
    pub error_500: f64,
    pub error_502: f64,
    pub error_503: f64,
    /// The connection is dropped before the request has any effect.
    pub reset: f64,
    /// The request takes effect, then the connection is dropped instead of answering.
    pub lose_answer: f64,
    /// A 429 instead of handling the request.
    pub storm_429: f64,
    /// `Retry-After` of storm 429s (default 60).
    pub retry_after: Option<u64>,
    /// Send storm 429s without any rate-limit headers, as some GitLab.com 429s arrive.
    pub storm_without_headers: bool,
    /// How many more times the rule may fire an effect (latency excluded); absent: unlimited.
    pub times: Option<u64>,
}

/// The whole fault configuration: a RNG seed and ordered rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    pub seed: u64,
    pub rules: Vec<FaultRule>,
}

/// What the fault rules decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultDecision {
    /// Milliseconds to wait before handling the request.
    pub latency_ms: u64,
    /// Milliseconds to wait between handling it and answering.
    pub answer_delay_ms: u64,
    pub action: FaultAction,
}

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    None,
    Status(u16),
    Reset,
    LoseAnswer,
    Storm { retry_after: u64, headers: bool },
}

#[derive(Debug)]
struct FaultState {
    config: FaultConfig,
    rng: StdRng,
}

/// Handle to an instance's faults; cloning shares them.
#[derive(Debug, Clone)]
pub struct Faults {
    inner: Arc<Mutex<FaultState>>,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            inner: Arc::new(Mutex::new(FaultState {
                config: FaultConfig::default(),
                rng: StdRng::seed_from_u64(0),
            })),
        }
    }
}

fn rule_matches(rule: &FaultRule, method: &str, template: &str, path: &str) -> bool {
    if let Some(m) = &rule.method
        && !m.eq_ignore_ascii_case(method)
    {
        return false;
    }
    match &rule.route {
        None => true,
        Some(r) => {
            r == template
                || path == r
                || path
                    .strip_prefix(r.as_str())
                    .is_some_and(|rest| rest.starts_with('/') || r.ends_with('/'))
        }
    }
}

impl Faults {
    /// Replaces the configuration; the RNG restarts from the config's seed, so runs repeat.
    pub fn set(&self, config: FaultConfig) {
        let mut st = self.inner.lock();
        st.rng = StdRng::seed_from_u64(config.seed);
        st.config = config;
    }

    /// Adds one rule, keeping the RNG position.
    pub fn add(&self, rule: FaultRule) {
        self.inner.lock().config.rules.push(rule);
    }

    pub fn clear(&self) {
        self.set(FaultConfig::default());
    }

    pub fn get(&self) -> FaultConfig {
        self.inner.lock().config.clone()
    }

    /// Decides the delays and the effect for one request.
    pub fn decide(&self, method: &str, template: &str, path: &str) -> FaultDecision {
        let mut st = self.inner.lock();
        let mut decision = FaultDecision {
            latency_ms: 0,
            answer_delay_ms: 0,
            action: FaultAction::None,
        };
        if st.config.rules.is_empty() {
            return decision;
        }
        let FaultState { config, rng } = &mut *st;
        let mut latency = 0;
        let mut answer_delay = 0;
        let mut action = FaultAction::None;
        for rule in config
            .rules
            .iter_mut()
            .filter(|r| rule_matches(r, method, template, path))
        {
            latency += rule.latency_ms;
            answer_delay += rule.answer_delay_ms;
            if action != FaultAction::None || rule.times == Some(0) {
                continue;
            }
            let draw: f64 = rng.r#gen();
            let mut acc = 0.0;
            let candidates = [
                (rule.error_500, FaultAction::Status(500)),
                (rule.error_502, FaultAction::Status(502)),
                (rule.error_503, FaultAction::Status(503)),
                (rule.reset, FaultAction::Reset),
                (rule.lose_answer, FaultAction::LoseAnswer),
                (
                    rule.storm_429,
                    FaultAction::Storm {
                        retry_after: rule.retry_after.unwrap_or(60),
                        headers: !rule.storm_without_headers,
                    },
                ),
            ];
            for (p, a) in candidates {
                acc += p;
                if p > 0.0 && draw < acc {
                    action = a;
                    break;
                }
            }
            if action != FaultAction::None
                && let Some(t) = rule.times.as_mut()
            {
                *t -= 1;
            }
        }
        decision.latency_ms = latency;
        decision.answer_delay_ms = answer_delay;
        decision.action = action;
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let cfg = FaultConfig {
            seed: 42,
            rules: vec![FaultRule {
                error_503: 0.5,
                ..FaultRule::default()
            }],
        };
        let run = || {
            let f = Faults::default();
            f.set(cfg.clone());
            (0..64)
                .map(|_| f.decide("GET", "/api/v4/user", "/api/v4/user").action)
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        assert!(a.contains(&FaultAction::Status(503)) && a.contains(&FaultAction::None));
    }

    #[test]
    fn times_limits_and_route_filters() {
        let f = Faults::default();
        f.add(FaultRule {
            route: Some("/oauth/token".into()),
            lose_answer: 1.0,
            times: Some(1),
            ..FaultRule::default()
        });
        assert_eq!(
            f.decide("POST", "/api/v4/user", "/api/v4/user").action,
            FaultAction::None
        );
        assert_eq!(
            f.decide("POST", "/oauth/token", "/oauth/token").action,
            FaultAction::LoseAnswer
        );
        assert_eq!(
            f.decide("POST", "/oauth/token", "/oauth/token").action,
            FaultAction::None
        );
    }
}
