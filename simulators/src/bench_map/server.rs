//! Server timings: each route of [`ROUTES`] requested K times in a row over one keep-alive
//! connection (after unmeasured warm-up requests), latency measured at the client from send to
//! the whole body read.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::Utc;
use serde_json::json;

use super::seed::COUNTRY;

/// One measured route.
#[derive(Debug, Clone, Copy)]
pub(super) struct RouteCase {
    pub name: &'static str,
    /// Path and query; `{from}` and `{to}` become the last 30 days (RFC 3339).
    pub path: &'static str,
}

/// Munich's city centre at street level (zoom 12): the city-sized box.
const CITY_BBOX: &str = "11.45,48.07,11.70,48.21";

/// The routes measured, in table order. `/healthz` is the baseline: the HTTP stack with no
/// authentication and no database, on the same connection in the same run. A route answering
/// 404 is "not available in this build" (the map grid routes arrive with branch `mapgrid`).
pub(super) const ROUTES: &[RouteCase] = &[
    RouteCase {
        name: "baseline: GET /healthz",
        path: "/healthz",
    },
    RouteCase {
        name: "map/assets, country bbox, zoom 5",
        path: "/api/v1/map/assets?bbox={country}&zoom=5",
    },
    RouteCase {
        name: "map/assets, city bbox, zoom 12",
        path: "/api/v1/map/assets?bbox={city}&zoom=12",
    },
    RouteCase {
        name: "map/heat count, country, zoom 5",
        path: "/api/v1/map/heat?bbox={country}&zoom=5&metric=count",
    },
    RouteCase {
        name: "map/heat status, country, zoom 5",
        path: "/api/v1/map/heat?bbox={country}&zoom=5&metric=status",
    },
    RouteCase {
        name: "map/heat utilisation, country, zoom 5, 30 days",
        path: "/api/v1/map/heat?bbox={country}&zoom=5&metric=utilisation&from={from}&to={to}",
    },
    RouteCase {
        name: "map/sites",
        path: "/api/v1/map/sites",
    },
    RouteCase {
        name: "alerts/stale (first page)",
        path: "/api/v1/alerts/stale",
    },
    RouteCase {
        name: "alerts/off-site (first page)",
        path: "/api/v1/alerts/off-site",
    },
    RouteCase {
        name: "alerts/service-due (first page)",
        path: "/api/v1/alerts/service-due",
    },
];

impl RouteCase {
    pub(super) fn url_path(&self) -> String {
        let (lon0, lat0, lon1, lat1) = COUNTRY;
        let now = Utc::now();
        let from =
            (now - chrono::Duration::days(30)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let to = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        self.path
            .replace("{country}", &format!("{lon0},{lat0},{lon1},{lat1}"))
            .replace("{city}", CITY_BBOX)
            .replace("{from}", &from)
            .replace("{to}", &to)
    }
}

/// What one route gave.
#[derive(Debug, Clone)]
pub(super) enum RouteResult {
    /// 404: the route is not in this build.
    NotAvailable,
    Measured(Timings),
}

#[derive(Debug, Clone)]
pub(super) struct Timings {
    pub requests: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// Mean body size.
    pub mean_bytes: f64,
    /// Answers other than 2xx (counted, timed all the same).
    pub errors: usize,
    /// The first failing answer's status and the start of its body.
    pub first_error: Option<String>,
}

/// An HTTP client that keeps one connection open and reuses it.
pub(super) fn client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(120))
        .build()
        .context("building the HTTP client")
}

pub(super) async fn login(
    client: &reqwest::Client,
    base: &str,
    username: &str,
    password: &str,
) -> Result<String> {
    let resp = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .context("logging in")?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("login answered {status}: {text}");
    }
    let login: mobile_shared::wire::LoginResponse =
        serde_json::from_str(&text).context("login answer")?;
    Ok(login.token)
}

/// One request: (status, body, latency); the body's size goes in the table, its start in an
/// error message.
async fn timed(
    client: &reqwest::Client,
    url: &str,
    token: &str,
) -> Result<(reqwest::StatusCode, Vec<u8>, Duration)> {
    let t0 = Instant::now();
    let resp = client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = resp.status();
    let body = resp.bytes().await.with_context(|| format!("GET {url}"))?;
    Ok((status, body.to_vec(), t0.elapsed()))
}

/// Measures `route`: `warmup` unmeasured requests, then `requests` timed ones, one after the
/// other on the client's one connection.
pub(super) async fn measure(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    route: &RouteCase,
    warmup: usize,
    requests: usize,
) -> Result<RouteResult> {
    let url = format!("{base}{}", route.url_path());
    for i in 0..warmup.max(1) {
        let (status, _, _) = timed(client, &url, token).await?;
        if i == 0 && status == reqwest::StatusCode::NOT_FOUND {
            return Ok(RouteResult::NotAvailable);
        }
    }
    let mut latencies = Vec::with_capacity(requests);
    let mut bytes = 0_usize;
    let mut errors = 0;
    let mut first_error = None;
    for _ in 0..requests {
        let (status, body, latency) = timed(client, &url, token).await?;
        latencies.push(latency);
        bytes += body.len();
        if !status.is_success() {
            errors += 1;
            if first_error.is_none() {
                let text = String::from_utf8_lossy(&body);
                first_error = Some(format!(
                    "{status}: {}",
                    text.chars().take(200).collect::<String>()
                ));
            }
        }
    }
    latencies.sort();
    Ok(RouteResult::Measured(Timings {
        requests,
        p50: quantile(&latencies, 0.50),
        p99: quantile(&latencies, 0.99),
        max: latencies.last().copied().unwrap_or_default(),
        mean_bytes: bytes as f64 / requests.max(1) as f64,
        errors,
        first_error,
    }))
}

/// The `q` quantile of sorted samples (nearest rank).
pub(super) fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let v: Vec<Duration> = (1..=200).map(Duration::from_millis).collect();
        assert_eq!(quantile(&v, 0.5), Duration::from_millis(100));
        assert_eq!(quantile(&v, 0.99), Duration::from_millis(198));
        assert_eq!(quantile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn every_route_path_is_filled_in() {
        for r in ROUTES {
            let p = r.url_path();
            assert!(!p.contains('{'), "{p}");
            assert!(p.starts_with('/'));
        }
    }
}
