//! Stocktakes: counting the machines at a site, by scanning them, and reconciling the registry
//! with what was found.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use domain::stocktake::{self, StocktakeFilter};
use mobile_shared::stocktake::{
    NewStocktake, ResolveFinding, ScanBurstResult, Stocktake, StocktakeReport, StocktakeScans,
    StocktakeStatus,
};
use mobile_shared::wire::{Asset, Page, Problem};
use mobile_shared::Action;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery, PageParams, Paging};
use crate::openapi::{AuthErrors, JsonBodyErrors, NotFound, QueryErrors, Unauthenticated};
use crate::AppState;

// TEMPORARY stand-ins until `Action::StocktakeRead` / `Action::StocktakeWrite` exist in
// `mobile_shared::authz`: `AssetRead` (everyone) and `IdentifierWrite` (admin, dispatcher,
// technician) grant exactly the roles those actions will have.
/// Reading stocktakes and their reports.
const READ: Action = Action::StocktakeRead;
/// Starting, scanning into and completing a stocktake: the work of the people counting.
const WRITE: Action = Action::StocktakeWrite;
/// Resolutions change the asset record (its site or its status), which is what `AssetWrite`
/// guards; a technician counts, a dispatcher decides what the count means for the registry.
const RESOLVE: Action = Action::AssetWrite;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StocktakeQuery {
    pub site_id: Option<Uuid>,
    pub status: Option<StocktakeStatus>,
}

/// List stocktakes, oldest first, in pages.
#[utoipa::path(get, path = "/api/v1/stocktakes", tag = "stocktakes", security(("bearer" = [])), params(StocktakeQuery, PageParams),
    responses((status = 200, body = Page<Stocktake>), Unauthenticated, QueryErrors))]
pub async fn list_stocktakes(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(q): ApiQuery<StocktakeQuery>,
    Paging(page): Paging,
) -> ApiResult<Json<Page<Stocktake>>> {
    user.require(READ)?;
    let filter = StocktakeFilter {
        site_id: q.site_id,
        status: q.status,
    };
    Ok(Json(stocktake::list(&state.store, &filter, page).await?))
}

/// Start a stocktake at a site. The assets recorded there now are what the count expects.
#[utoipa::path(post, path = "/api/v1/stocktakes", tag = "stocktakes", security(("bearer" = [])), request_body = NewStocktake,
    responses((status = 201, body = Stocktake), AuthErrors, JsonBodyErrors,
        (status = 422, body = Problem, description = "invalid body, or unknown `site_id`")))]
pub async fn create_stocktake(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(new): ApiJson<NewStocktake>,
) -> ApiResult<(StatusCode, Json<Stocktake>)> {
    user.require(WRITE)?;
    let created = stocktake::start(&state.store, &user.actor(), new).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Read one stocktake with its counts.
#[utoipa::path(get, path = "/api/v1/stocktakes/{id}", tag = "stocktakes", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Stocktake), Unauthenticated, NotFound))]
pub async fn get_stocktake(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Stocktake>> {
    user.require(READ)?;
    Ok(Json(stocktake::get(&state.store, id).await?))
}

/// Record a burst of scanned values (QR text, asset codes, label URLs, RFID EPC hex). Repeats
/// are counted, not duplicated; a replayed burst changes only the read counts.
#[utoipa::path(post, path = "/api/v1/stocktakes/{id}/scans", tag = "stocktakes", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = StocktakeScans,
    responses((status = 200, body = ScanBurstResult), AuthErrors, NotFound, JsonBodyErrors,
        (status = 409, body = Problem, description = "stocktake_closed")))]
pub async fn post_scans(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<StocktakeScans>,
) -> ApiResult<Json<ScanBurstResult>> {
    user.require(WRITE)?;
    Ok(Json(
        stocktake::scan(&state.store, &user.actor(), id, &body.codes).await?,
    ))
}

/// Complete the stocktake (no more scans) and answer its report. Completing again is harmless.
#[utoipa::path(post, path = "/api/v1/stocktakes/{id}/complete", tag = "stocktakes", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = StocktakeReport), AuthErrors, NotFound))]
pub async fn complete_stocktake(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<StocktakeReport>> {
    user.require(WRITE)?;
    Ok(Json(
        stocktake::complete(&state.store, &user.actor(), id).await?,
    ))
}

/// The report: found, missing, unexpected, at the wrong location, and unknown codes.
#[utoipa::path(get, path = "/api/v1/stocktakes/{id}/report", tag = "stocktakes", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = StocktakeReport), Unauthenticated, NotFound))]
pub async fn get_report(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<StocktakeReport>> {
    user.require(READ)?;
    Ok(Json(stocktake::report(&state.store, id).await?))
}

/// Resolve one finding: `move_here` records a seen asset at the stocktake's site, `mark_lost`
/// makes a missing asset lost. Answers the updated asset.
#[utoipa::path(post, path = "/api/v1/stocktakes/{id}/resolve", tag = "stocktakes", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = ResolveFinding,
    responses((status = 200, body = Asset), AuthErrors, NotFound, JsonBodyErrors,
        (status = 409, body = Problem, description = "illegal_transition or resolution_not_applicable")))]
pub async fn resolve_finding(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(finding): ApiJson<ResolveFinding>,
) -> ApiResult<Json<Asset>> {
    user.require(RESOLVE)?;
    Ok(Json(
        stocktake::resolve(&state.store, &user.actor(), id, finding).await?,
    ))
}
