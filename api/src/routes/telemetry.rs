//! Telemetry read side: position history and refused messages.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use domain::telemetry::{self, PositionPoint, StoredReject};
use mobile_shared::wire::Page;
use mobile_shared::Action;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, ApiQuery, PageParams, Paging};
use crate::openapi::{AuthErrors, NotFound, QueryErrors, Unauthenticated};
use crate::AppState;

/// Most points one request returns.
const MAX_POINTS: u32 = 10_000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PositionQuery {
    /// Start (inclusive), RFC 3339. Default: 24 hours before `to`.
    pub from: Option<DateTime<Utc>>,
    /// End (exclusive), RFC 3339. Default: now.
    pub to: Option<DateTime<Utc>>,
    /// At most this many points, oldest first (default and maximum 10000).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
}

/// One point of a position history.
#[derive(Debug, Serialize, ToSchema)]
pub struct PositionDto {
    pub ts: DateTime<Utc>,
    pub lat: f64,
    pub lon: f64,
    pub speed_kmh: Option<f64>,
    pub heading_deg: Option<f64>,
    pub accuracy_m: Option<f64>,
}

impl From<PositionPoint> for PositionDto {
    fn from(p: PositionPoint) -> Self {
        PositionDto {
            ts: p.ts,
            lat: p.lat,
            lon: p.lon,
            speed_kmh: p.speed_kmh,
            heading_deg: p.heading_deg,
            accuracy_m: p.accuracy_m,
        }
    }
}

/// Position history of an asset, oldest first.
#[utoipa::path(get, path = "/api/v1/assets/{id}/positions", tag = "telemetry", security(("bearer" = [])),
    params(("id" = Uuid, Path), PositionQuery),
    responses((status = 200, body = Vec<PositionDto>), Unauthenticated, NotFound, QueryErrors))]
pub async fn positions(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<PositionQuery>,
) -> ApiResult<Json<Vec<PositionDto>>> {
    user.require(Action::PositionRead)?;
    let to = q.to.unwrap_or_else(Utc::now);
    let from = q.from.unwrap_or(to - Duration::hours(24));
    if from >= to {
        return Err(ApiError::field("from", "must be before `to`"));
    }
    let limit = q.limit.unwrap_or(MAX_POINTS);
    if limit == 0 || limit > MAX_POINTS {
        return Err(ApiError::field("limit", format!("must be 1-{MAX_POINTS}")));
    }
    let points = telemetry::positions(&state.store, id, from, to, limit).await?;
    Ok(Json(points.into_iter().map(PositionDto::from).collect()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RejectQuery {
    /// Reason code, e.g. `malformed_json`, `unknown_device`.
    pub reason: Option<String>,
}

/// A refused MQTT message, kept for inspection.
#[derive(Debug, Serialize, ToSchema)]
pub struct RejectDto {
    pub id: Uuid,
    pub received_at: DateTime<Utc>,
    pub topic: String,
    pub device_id: Option<String>,
    pub reason: String,
    pub detail: String,
    /// The raw payload (lossy UTF-8).
    pub payload: String,
}

impl From<StoredReject> for RejectDto {
    fn from(r: StoredReject) -> Self {
        RejectDto {
            id: r.id,
            received_at: r.received_at,
            topic: r.topic,
            device_id: r.device_id,
            reason: r.reason,
            detail: r.detail,
            payload: String::from_utf8_lossy(&r.payload).into_owned(),
        }
    }
}

/// Refused telemetry, newest first.
#[utoipa::path(get, path = "/api/v1/telemetry/rejects", tag = "telemetry", security(("bearer" = [])), params(RejectQuery, PageParams),
    responses((status = 200, body = Page<RejectDto>), AuthErrors, QueryErrors))]
pub async fn list_rejects(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(q): ApiQuery<RejectQuery>,
    Paging(page): Paging,
) -> ApiResult<Json<Page<RejectDto>>> {
    user.require(Action::TelemetryRejectRead)?;
    let got = telemetry::list_rejects(&state.store, q.reason.as_deref(), page).await?;
    Ok(Json(Page {
        items: got.items.into_iter().map(RejectDto::from).collect(),
        next_cursor: got.next_cursor,
    }))
}
