//! Prometheus metrics: requests by route and status, request latency, jobs by state.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobStateLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheReadLabels {
    /// `hit` (answered from memory) or `miss` (read from the database).
    result: &'static str,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to about 8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    jobs: Family<JobStateLabels, Gauge>,
    credential_cache_reads: Family<CacheReadLabels, Counter>,
    credential_cache_entries: Gauge,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("labgate");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency =
            Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        let jobs = Family::<JobStateLabels, Gauge>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        registry.register("jobs", "Jobs in the queue by state", jobs.clone());
        let credential_cache_reads = Family::<CacheReadLabels, Counter>::default();
        let credential_cache_entries = Gauge::default();
        registry.register(
            "credential_cache_reads",
            "Credential broker reads answered from memory (hit) or from the database (miss)",
            credential_cache_reads.clone(),
        );
        registry.register(
            "credential_cache_entries",
            "Connections whose credential the broker holds in memory",
            credential_cache_entries.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            jobs,
            credential_cache_reads,
            credential_cache_entries,
        }
    }

    /// `route` is the matched route template (never the raw path, which may hold ids).
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    pub fn set_jobs(&self, counts: &[(labgate_proto::jobs::JobState, u64)]) {
        for state in labgate_proto::jobs::JobState::ALL {
            let count = counts
                .iter()
                .find(|(counted, _)| *counted == state)
                .map_or(0, |(_, count)| i64::try_from(*count).unwrap_or(i64::MAX));
            self.jobs
                .get_or_create(&JobStateLabels {
                    state: state.as_str().to_owned(),
                })
                .set(count);
        }
    }

    /// Mirrors the credential cache's own counts, which core keeps.
    pub fn set_credential_cache(&self, stats: labgate_core::connections::CredentialCacheStats) {
        for (result, total) in [("hit", stats.hits), ("miss", stats.misses)] {
            let counter = self
                .credential_cache_reads
                .get_or_create(&CacheReadLabels { result });
            counter.inc_by(total.saturating_sub(counter.get()));
        }
        self.credential_cache_entries
            .set(i64::try_from(stats.entries).unwrap_or(i64::MAX));
    }

    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}
