//! Operational endpoints: liveness, readiness, metrics, the OpenAPI document.

use std::time::Duration;

use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use mobile_shared::Action;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::auth::{bearer_token, CurrentUser};
use crate::error::ApiError;
use crate::openapi::AuthErrors;
use crate::AppState;

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// Liveness: the process answers. Public, so load balancers and orchestrators can probe it.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// `ok` or `unreachable`.
    pub database: &'static str,
    /// `connected`, `disconnected`, or `not_used` in a process without a gateway.
    pub broker: &'static str,
}

/// Readiness: the database answers and, where this process runs the gateway, the MQTT broker
/// is connected. 503 otherwise. Public, like `/healthz`; it reveals only up or down.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let db_ok = matches!(
        tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await,
        Ok(Ok(()))
    );
    let broker = match &state.mqtt_connected {
        None => "not_used",
        Some(rx) if *rx.borrow() => "connected",
        Some(_) => "disconnected",
    };
    let ready = db_ok && broker != "disconnected";
    let body = Readiness {
        status: if ready { "ready" } else { "not_ready" },
        database: if db_ok { "ok" } else { "unreachable" },
        broker,
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Prometheus metrics. Needs an admin token, or the scrape token the operator configured.
#[utoipa::path(get, path = "/metrics", tag = "ops", security(("bearer" = [])),
    responses((status = 200, description = "Prometheus metrics in the OpenMetrics text format",
        content_type = "application/openmetrics-text"), AuthErrors))]
pub async fn metrics(
    State(state): State<AppState>,
    mut parts: Parts,
) -> Result<Response, ApiError> {
    let scrape_ok = match (&state.config.metrics_token_sha256, bearer_token(&parts)) {
        (Some(expected), Some(token)) => {
            let got = Sha256::digest(token.as_bytes());
            // Comparing digests rather than the tokens keeps the comparison time independent
            // of how many leading characters match.
            got.as_slice() == expected.as_slice()
        }
        _ => false,
    };
    if !scrape_ok {
        let user = <CurrentUser as axum::extract::FromRequestParts<AppState>>::from_request_parts(
            &mut parts, &state,
        )
        .await?;
        user.require(Action::MetricsRead)?;
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response())
}
