//! The dispatcher's alert lists: assets possibly lost or damaged (stale), and assets outside
//! every site fence without a delivery (off-site). Each is also a count in the console's header
//! (`total`).
//!
//! Authorised by `AssetRead` and `PositionRead`: the lists show assets and their last positions,
//! which every role may already read one by one, so a dedicated action would grant nothing new
//! and refuse nobody (README, "Roles").

use axum::extract::State;
use axum::Json;
use domain::alerts::{self, AlertPageRequest, StaleFilter, StaleThreshold};
use mobile_shared::alerts::{AlertPage, OffSiteAsset, StaleAsset};
use mobile_shared::Action;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::openapi::{QueryErrors, Unauthenticated};
use crate::AppState;

/// Page parameters of the alert lists. Their cursor carries the sort time as well as the id,
/// so it is not interchangeable with other lists' cursors.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertPageParams {
    /// Page size, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl AlertPageParams {
    fn request(&self) -> Result<AlertPageRequest, ApiError> {
        Ok(AlertPageRequest::new(self.limit, self.cursor.as_deref())?)
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StaleQuery {
    /// Hours without a position after which an asset is stale, 1-8784. Default: the server's
    /// `--stale-after-hours` (24).
    #[param(minimum = 1, maximum = 8784)]
    pub threshold_hours: Option<i64>,
    /// Only assets recorded at this site.
    #[param(value_type = Option<Uuid>)]
    pub site_id: Option<String>,
    /// Only assets of this category (id or name).
    pub category: Option<String>,
}

/// A UUID query parameter: 422 naming it when it is not one.
pub(crate) fn uuid_param(name: &str, value: Option<&str>) -> Result<Option<Uuid>, ApiError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => Uuid::parse_str(v)
            .map(Some)
            .map_err(|_| ApiError::field(name, "is not a UUID")),
    }
}

/// The stale threshold of a request: its `threshold_hours`, or the server's default.
pub(crate) fn threshold(state: &AppState, hours: Option<i64>) -> Result<StaleThreshold, ApiError> {
    Ok(StaleThreshold::new(hours, state.config.stale_after_hours)?)
}

/// Assets possibly lost or damaged: no position for longer than the threshold, never a
/// position although a tracker is bound, or a tracker offline (its last will or status topic:
/// `tracker_offline`; the silence watch: `tracker_silent`). Oldest position first, never
/// positioned first; `total` counts the whole list.
#[utoipa::path(get, path = "/api/v1/alerts/stale", tag = "alerts", security(("bearer" = [])),
    params(StaleQuery, AlertPageParams),
    responses((status = 200, body = AlertPage<StaleAsset>), Unauthenticated, QueryErrors))]
pub async fn stale(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(q): ApiQuery<StaleQuery>,
    ApiQuery(page): ApiQuery<AlertPageParams>,
) -> ApiResult<Json<AlertPage<StaleAsset>>> {
    user.require(Action::AssetRead)?;
    user.require(Action::PositionRead)?;
    let threshold = threshold(&state, q.threshold_hours)?;
    let filter = StaleFilter {
        site_id: uuid_param("site_id", q.site_id.as_deref())?,
        category: q.category,
    };
    Ok(Json(
        alerts::stale(&state.store, threshold, &filter, page.request()?).await?,
    ))
}

/// Assets whose current position is inside no site fence and that are not on rent (a delivery
/// puts an asset on rent): they left a depot without paperwork. With the time they last left a
/// fence and the site they left; longest out first (never seen inside a fence first). Empty
/// while no site has a fence.
#[utoipa::path(get, path = "/api/v1/alerts/off-site", tag = "alerts", security(("bearer" = [])),
    params(AlertPageParams),
    responses((status = 200, body = AlertPage<OffSiteAsset>), Unauthenticated, QueryErrors))]
pub async fn off_site(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(page): ApiQuery<AlertPageParams>,
) -> ApiResult<Json<AlertPage<OffSiteAsset>>> {
    user.require(Action::AssetRead)?;
    user.require(Action::PositionRead)?;
    Ok(Json(alerts::off_site(&state.store, page.request()?).await?))
}
