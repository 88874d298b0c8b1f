//! HTTP: readiness (`/readyz`) and metrics (`/metrics`, OpenMetrics text) of the server under
//! test, and latency quantiles from its histogram buckets.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::json;

use super::children::{tail, ChildProc};
use super::STARTUP_TIMEOUT;

pub(super) struct Scraper {
    pub(super) client: reqwest::Client,
    pub(super) base: String,
    pub(super) token: String,
}

impl Scraper {
    pub(super) fn new(http: SocketAddr, token: String) -> Result<Self> {
        Ok(Scraper {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            base: format!("http://{http}"),
            token,
        })
    }

    async fn readiness(&self) -> Result<serde_json::Value> {
        let body = self
            .client
            .get(format!("{}/readyz", self.base))
            .send()
            .await?
            .text()
            .await?;
        Ok(serde_json::from_str(&body)?)
    }

    pub(super) async fn metrics(&self) -> Result<Metrics> {
        let resp = self
            .client
            .get(format!("{}/metrics", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .context("scraping /metrics")?;
        if !resp.status().is_success() {
            bail!("/metrics answered {}", resp.status());
        }
        Ok(Metrics::parse(&resp.text().await?))
    }
}

/// Waits until `/readyz` says the database is reachable and the broker connected (the gateway
/// sets that after its SUBACK, so nothing published afterwards is missed).
pub(super) async fn wait_ready(scraper: &Scraper, gateway: &ChildProc) -> Result<()> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let mut last = String::new();
    while Instant::now() < deadline {
        match scraper.readiness().await {
            Ok(v) if v["status"] == "ready" && v["broker"] == "connected" => return Ok(()),
            Ok(v) => last = v.to_string(),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!(
        "{} not ready with a connected broker within {} s (last /readyz: {last}); end of its log:\n{}",
        gateway.name,
        STARTUP_TIMEOUT.as_secs(),
        tail(&gateway.log, 20)
    )
}

/// One scrape of Prometheus/OpenMetrics text: series (`name{labels}`) → value.
#[derive(Debug, Clone, Default)]
pub(super) struct Metrics(HashMap<String, f64>);

const APPLIED: &str = "fieldops_ingest_readings_total{result=\"applied\"}";
const LAG_BUCKET: &str = "fieldops_ingest_lag_seconds_bucket{le=\"";

impl Metrics {
    fn parse(text: &str) -> Metrics {
        let mut map = HashMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key_end = match (line.find('{'), line.find('}')) {
                (Some(open), Some(close)) if open < close => close + 1,
                _ => match line.find(' ') {
                    Some(i) => i,
                    None => continue,
                },
            };
            let (key, rest) = line.split_at(key_end);
            if let Some(v) = rest.split_whitespace().next().and_then(parse_float) {
                map.insert(key.to_owned(), v);
            }
        }
        Metrics(map)
    }

    fn get(&self, series: &str) -> f64 {
        self.0.get(series).copied().unwrap_or(0.0)
    }

    pub(super) fn applied(&self) -> f64 {
        self.get(APPLIED)
    }

    /// Sum of every `fieldops_ingest_readings_total` outcome other than `applied`.
    pub(super) fn not_applied(&self) -> f64 {
        self.0
            .iter()
            .filter(|(k, _)| k.starts_with("fieldops_ingest_readings_total{") && *k != APPLIED)
            .map(|(_, v)| v)
            .sum()
    }

    /// Lag histogram as (upper bound, cumulative count), sorted, `+Inf` last.
    pub(super) fn lag_buckets(&self) -> Vec<(f64, f64)> {
        let mut b: Vec<(f64, f64)> = self
            .0
            .iter()
            .filter_map(|(k, v)| {
                let le = k.strip_prefix(LAG_BUCKET)?.strip_suffix("\"}")?;
                Some((parse_float(le)?, *v))
            })
            .collect();
        b.sort_by(|x, y| x.0.total_cmp(&y.0));
        b
    }
}

fn parse_float(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "inf" | "+inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

/// Per-bucket delta of two cumulative histograms with the same bounds.
pub(super) fn bucket_delta(before: &[(f64, f64)], after: &[(f64, f64)]) -> Vec<(f64, f64)> {
    after
        .iter()
        .map(|(le, n)| {
            let was = before
                .iter()
                .find(|(b, _)| b == le)
                .map_or(0.0, |(_, v)| *v);
            (*le, n - was)
        })
        .collect()
}

/// A quantile of a cumulative histogram, linearly interpolated inside its bucket (the first
/// bucket's lower bound is 0). `Above(b)` when it falls in the `+Inf` bucket: only "> b" is known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Quantile {
    Value(f64),
    Above(f64),
}

impl Quantile {
    pub(super) fn ms(self) -> String {
        match self {
            Quantile::Value(s) => format!("{:.0}", s * 1000.0),
            Quantile::Above(s) => format!("> {:.0}", s * 1000.0),
        }
    }

    pub(super) fn to_json(self) -> serde_json::Value {
        match self {
            Quantile::Value(s) => json!(s * 1000.0),
            Quantile::Above(s) => json!(format!("> {}", s * 1000.0)),
        }
    }
}

pub(super) fn quantile(cumulative: &[(f64, f64)], q: f64) -> Option<Quantile> {
    let total = cumulative.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut lower = 0.0;
    let mut below = 0.0;
    for &(le, n) in cumulative {
        if n >= rank && n > below {
            if le.is_infinite() {
                return Some(Quantile::Above(lower));
            }
            let frac = (rank - below) / (n - below);
            return Some(Quantile::Value(lower + (le - lower) * frac));
        }
        lower = le;
        below = n;
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# HELP fieldops_ingest_readings Readings by outcome.\n\
# TYPE fieldops_ingest_readings counter\n\
fieldops_ingest_readings_total{result=\"applied\"} 1500\n\
fieldops_ingest_readings_total{result=\"duplicate\"} 3\n\
fieldops_mqtt_messages_total 1503\n\
fieldops_ingest_lag_seconds_sum 12.5\n\
fieldops_ingest_lag_seconds_count 100\n\
fieldops_ingest_lag_seconds_bucket{le=\"0.01\"} 10\n\
fieldops_ingest_lag_seconds_bucket{le=\"0.02\"} 50\n\
fieldops_ingest_lag_seconds_bucket{le=\"0.05\"} 98\n\
fieldops_ingest_lag_seconds_bucket{le=\"+Inf\"} 100\n\
# EOF\n";

    #[test]
    fn parses_openmetrics() {
        let m = Metrics::parse(SAMPLE);
        assert_eq!(m.applied(), 1500.0);
        assert_eq!(m.not_applied(), 3.0);
        assert_eq!(m.get("fieldops_mqtt_messages_total"), 1503.0);
        let b = m.lag_buckets();
        assert_eq!(b.len(), 4);
        assert_eq!(b[0], (0.01, 10.0));
        assert!(b[3].0.is_infinite());
    }

    #[test]
    fn quantiles_interpolate_inside_buckets() {
        let b = Metrics::parse(SAMPLE).lag_buckets();
        // Median: rank 50 is the top of the (0.01, 0.02] bucket.
        assert_eq!(quantile(&b, 0.5), Some(Quantile::Value(0.02)));
        // Rank 30: halfway through that bucket's 40 observations.
        match quantile(&b, 0.3) {
            Some(Quantile::Value(v)) => assert!((v - 0.015).abs() < 1e-12),
            other => panic!("{other:?}"),
        }
        // Rank 5 lies in the first bucket, whose lower bound is 0.
        match quantile(&b, 0.05) {
            Some(Quantile::Value(v)) => assert!((v - 0.005).abs() < 1e-12),
            other => panic!("{other:?}"),
        }
        // Rank 99 is beyond the last finite bound.
        assert_eq!(quantile(&b, 0.99), Some(Quantile::Above(0.05)));
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[(1.0, 0.0), (f64::INFINITY, 0.0)], 0.5), None);
    }

    #[test]
    fn bucket_deltas_subtract_per_bound() {
        let before = vec![(0.01, 5.0), (f64::INFINITY, 10.0)];
        let after = vec![(0.01, 15.0), (f64::INFINITY, 30.0)];
        assert_eq!(
            bucket_delta(&before, &after),
            vec![(0.01, 10.0), (f64::INFINITY, 20.0)]
        );
        assert_eq!(bucket_delta(&[], &after), after);
    }
}
