//! Map aggregates for the dispatcher's console: the per-site status table.

use axum::extract::State;
use axum::Json;
use domain::alerts;
use mobile_shared::alerts::SiteTable;
use mobile_shared::Action;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::CurrentUser;
use crate::error::ApiResult;
use crate::extract::ApiQuery;
use crate::openapi::{QueryErrors, Unauthenticated};
use crate::routes::alerts::threshold;
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
