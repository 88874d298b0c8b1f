//! Prometheus metrics: request counts and latency histograms by route and status. One registry
//! per server instance (no global recorder), so tests can run many servers in one process.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    /// The route template (`/api/v1/assets/{id}`), never the raw path, to bound cardinality.
    pub route: String,
    pub status: u16,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RequestLabels, Histogram>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("fieldops");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ])
        });
        registry.register("http_requests", "HTTP requests handled", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            latency.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
        }
    }

    /// Other parts of the process (the gateway) register their metrics here too.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Middleware recording every request.
pub async fn record(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let resp = next.run(req).await;
    let labels = RequestLabels {
        method,
        route,
        status: resp.status().as_u16(),
    };
    metrics.requests.get_or_create(&labels).inc();
    metrics
        .latency
        .get_or_create(&labels)
        .observe(start.elapsed().as_secs_f64());
    resp
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    pub rule: String,
}

/// The clock's metrics (`domain::schedule`): ticks, committed rule windows, failed evaluations,
/// and how far the oldest rule mark lags behind now.
#[derive(Debug, Default, Clone)]
pub struct ClockMetrics {
    pub ticks: Counter,
    pub rule_runs: Family<RuleLabels, Counter>,
    pub rule_errors: Family<RuleLabels, Counter>,
    pub rule_skips: Family<RuleLabels, Counter>,
    pub behind_seconds: prometheus_client::metrics::gauge::Gauge,
}

impl ClockMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register("clock_ticks", "Clock ticks run", self.ticks.clone());
        registry.register(
            "clock_rule_runs",
            "Rule windows evaluated and committed",
            self.rule_runs.clone(),
        );
        registry.register(
            "clock_rule_errors",
            "Rule evaluations that failed (retried next tick)",
            self.rule_errors.clone(),
        );
        registry.register(
            "clock_rule_skips",
            "Rule evaluations left to another process that held the rule's mark",
            self.rule_skips.clone(),
        );
        registry.register(
            "clock_behind_seconds",
            "Seconds between now and the oldest rule mark",
            self.behind_seconds.clone(),
        );
    }

    /// Records what one tick did.
    pub fn record(&self, report: &domain::schedule::TickReport) {
        self.ticks.inc();
        let labels = |rule: &str| RuleLabels {
            rule: rule.to_owned(),
        };
        for run in &report.runs {
            self.rule_runs.get_or_create(&labels(run.rule)).inc();
        }
        for rule in &report.skipped {
            self.rule_skips.get_or_create(&labels(rule)).inc();
        }
        for (rule, _) in &report.errors {
            self.rule_errors.get_or_create(&labels(rule)).inc();
        }
        if let Some(behind) = report.behind {
            self.behind_seconds.set(behind.num_seconds());
        }
    }
}

/// The daily backups' metrics (`serve --backup-dir`): alert when the last success is more than a
/// day old, whatever the logs say.
#[derive(Debug, Default, Clone)]
pub struct BackupMetrics {
    /// Unix time of the last backup written by this process.
    pub last_success: prometheus_client::metrics::gauge::Gauge,
    /// Size in bytes of that archive.
    pub last_bytes: prometheus_client::metrics::gauge::Gauge,
    /// Backups that failed (each retried later).
    pub failures: Counter,
}

impl BackupMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "backup_last_success_timestamp_seconds",
            "Unix time of the last daily backup this process wrote",
            self.last_success.clone(),
        );
        registry.register(
            "backup_last_bytes",
            "Size of the last daily backup archive, in bytes",
            self.last_bytes.clone(),
        );
        registry.register(
            "backup_failures",
            "Daily backups that failed (retried after 10 minutes)",
            self.failures.clone(),
        );
    }

    /// Records how one backup ended.
    pub fn record(&self, outcome: &domain::backup::schedule::Outcome) {
        match outcome {
            domain::backup::schedule::Outcome::Written { at, bytes } => {
                self.last_success.set(at.timestamp());
                self.last_bytes
                    .set(i64::try_from(*bytes).unwrap_or(i64::MAX));
            }
            domain::backup::schedule::Outcome::Failed => {
                self.failures.inc();
            }
        }
    }
}
