//! Map aggregates for the dispatcher's console: the per-site status table, the assets of a
//! bounding box (clustered on the server above a count) and heat cells. The map routes are
//! authorised like the alert lists (`AssetRead`, `PositionRead`): every role reads the fleet.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use domain::alerts;
use domain::assets::AssetFilter;
use domain::map::{self, Period};
use mobile_shared::alerts::SiteTable;
use mobile_shared::map::{HeatCells, HeatMetric, MapAssets};
use mobile_shared::{Action, AssetStatus};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::openapi::{QueryErrors, Unauthenticated};
use crate::routes::alerts::{threshold, uuid_param};
use crate::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SiteTableQuery {
    /// Threshold of the stale counts, as in `/api/v1/alerts/stale`, 1-8784 hours.
    #[param(minimum = 1, maximum = 8784)]
    pub threshold_hours: Option<i64>,
}

/// Per site or depot: its live assets by status (every status, zeros included), their total,
/// how many are stale (the rule of `/api/v1/alerts/stale`) and the site's position. Counted by
/// the asset's recorded site, in one grouped read. Sites by name.
///
/// Authorised like the alert lists (`AssetRead`, `PositionRead`): every role reads the fleet.
#[utoipa::path(get, path = "/api/v1/map/sites", tag = "map", security(("bearer" = [])),
    params(SiteTableQuery),
    responses((status = 200, body = SiteTable), Unauthenticated, QueryErrors))]
pub async fn sites(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(q): ApiQuery<SiteTableQuery>,
) -> ApiResult<Json<SiteTable>> {
    user.require(Action::AssetRead)?;
    user.require(Action::PositionRead)?;
    let threshold = threshold(&state, q.threshold_hours)?;
    Ok(Json(alerts::site_table(&state.store, threshold).await?))
}

/// The view of a map request. Parameters are read as text and parsed here, so a bad one is a
/// 422 naming it (a typed field would be named `query`).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MapViewQuery {
    /// `minLon,minLat,maxLon,maxLat` (WGS 84). `minLon > maxLon` crosses the antimeridian.
    #[param(required = true, example = "4.7,52.2,5.1,52.5")]
    pub bbox: Option<String>,
    /// The map's zoom, 0-22 (fractional zooms are floored).
    #[param(required = true, value_type = f64, minimum = 0, maximum = 22)]
    pub zoom: Option<String>,
}

impl MapViewQuery {
    fn parse(&self) -> Result<(mobile_shared::geo_cell::Bbox, u8), ApiError> {
        let bbox = map::parse_bbox(self.bbox.as_deref())?;
        let zoom = match self.zoom.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(z) => Some(
                z.parse::<f64>()
                    .map_err(|_| ApiError::field("zoom", "must be a number 0-22"))?,
            ),
        };
        Ok((bbox, map::parse_zoom(zoom)?))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MapAssetsQuery {
    /// Only assets in this status.
    #[param(value_type = Option<AssetStatus>)]
    pub status: Option<String>,
    /// Only assets of this category (id or name; an unknown one matches nothing).
    pub category: Option<String>,
    /// Only assets recorded at this site.
    #[param(value_type = Option<uuid::Uuid>)]
    pub site_id: Option<String>,
    /// Case-insensitive text in code, name or serial.
    pub q: Option<String>,
    /// Threshold of the `stale` flags, as in `/api/v1/alerts/stale`, 1-8784 hours.
    #[param(minimum = 1, maximum = 8784)]
    pub threshold_hours: Option<i64>,
}

/// The assets with a position inside `bbox`, as GeoJSON: each asset while at most `limit`
/// (2,000) match, else one cluster per map tile at `zoom + 2` (about 64 px) at the mean
/// position of its assets, with their count by status, how many are stale and the zoom at
/// which it splits. `total` counts every match in the box. Filters as in `/api/v1/assets`;
/// `stale` follows `/api/v1/alerts/stale`.
#[utoipa::path(get, path = "/api/v1/map/assets", tag = "map", security(("bearer" = [])),
    params(MapViewQuery, MapAssetsQuery),
    responses((status = 200, body = MapAssets), Unauthenticated, QueryErrors))]
pub async fn assets(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(view): ApiQuery<MapViewQuery>,
    ApiQuery(q): ApiQuery<MapAssetsQuery>,
) -> ApiResult<Json<MapAssets>> {
    user.require(Action::AssetRead)?;
    user.require(Action::PositionRead)?;
    let (bbox, zoom) = view.parse()?;
    let status = match q.status.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(
            s.parse::<AssetStatus>()
                .map_err(|_| ApiError::field("status", "is not an asset status"))?,
        ),
    };
    let filter = AssetFilter {
        status,
        site_id: uuid_param("site_id", q.site_id.as_deref())?,
        category: q.category,
        q: q.q,
    };
    let threshold = threshold(&state, q.threshold_hours)?;
    Ok(Json(
        map::assets(&state.store, &bbox, zoom, &filter, threshold).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HeatQuery {
    /// `count` (default), `status` or `utilisation`.
    #[param(value_type = Option<HeatMetric>)]
    pub metric: Option<String>,
    /// `utilisation`: start, RFC 3339 (default: 7 days before `to`).
    #[param(value_type = Option<DateTime<Utc>>)]
    pub from: Option<String>,
    /// `utilisation`: end, exclusive, RFC 3339 (default: now). At most 366 days after `from`.
    #[param(value_type = Option<DateTime<Utc>>)]
    pub to: Option<String>,
}

fn time_param(name: &str, v: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    match v.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => DateTime::parse_from_rfc3339(t)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| ApiError::field(name, "is not an RFC 3339 time")),
    }
}

/// Heat cells of `bbox`: map tiles at `zoom + 3` (about 32 px) as GeoJSON squares with their
/// centre. `count`: live positioned assets per cell. `status`: the same with their share in
/// four groups — rented (`on_rent`), available, in maintenance (`in_maintenance`,
/// `out_of_service`), idle (`available` and neither engine hours nor odometer rose in
/// `idle_after_days`, 7). `utilisation`: engine hours and km used per cell over `from..to`
/// (whole UTC days), where each asset was at the end of each day, with `count` the assets
/// that reported use.
#[utoipa::path(get, path = "/api/v1/map/heat", tag = "map", security(("bearer" = [])),
    params(MapViewQuery, HeatQuery),
    responses((status = 200, body = HeatCells), Unauthenticated, QueryErrors))]
pub async fn heat(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(view): ApiQuery<MapViewQuery>,
    ApiQuery(q): ApiQuery<HeatQuery>,
) -> ApiResult<Json<HeatCells>> {
    user.require(Action::AssetRead)?;
    user.require(Action::PositionRead)?;
    let (bbox, zoom) = view.parse()?;
    let metric = match q.metric.as_deref().map(str::trim) {
        None | Some("") => HeatMetric::Count,
        Some(m) => HeatMetric::parse(m)
            .ok_or_else(|| ApiError::field("metric", "must be count, status or utilisation"))?,
    };
    let period = Period::new(
        time_param("from", q.from.as_deref())?,
        time_param("to", q.to.as_deref())?,
    )?;
    Ok(Json(
        map::heat(&state.store, &bbox, zoom, metric, period).await?,
    ))
}
