//! Sites.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use domain::sites;
use mobile_shared::wire::{NewSite, Page, Problem, Site, SiteKind, SitePatch};
use mobile_shared::Action;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery, PageParams, Paging};
use crate::openapi::{AuthErrors, JsonBodyErrors, NotFound, QueryErrors, Unauthenticated};
use crate::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SiteQuery {
    pub kind: Option<SiteKind>,
}

/// List sites.
#[utoipa::path(get, path = "/api/v1/sites", tag = "sites", security(("bearer" = [])), params(SiteQuery, PageParams),
    responses((status = 200, body = Page<Site>), Unauthenticated, QueryErrors))]
pub async fn list_sites(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(q): ApiQuery<SiteQuery>,
    Paging(page): Paging,
) -> ApiResult<Json<Page<Site>>> {
    user.require(Action::SiteRead)?;
    Ok(Json(sites::list(&state.store, q.kind, page).await?))
}

/// Create a site (depot, customer site or workshop), optionally with a geofence.
#[utoipa::path(post, path = "/api/v1/sites", tag = "sites", security(("bearer" = [])), request_body = NewSite,
    responses((status = 201, body = Site), AuthErrors, JsonBodyErrors))]
pub async fn create_site(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(new): ApiJson<NewSite>,
) -> ApiResult<(StatusCode, Json<Site>)> {
    user.require(Action::SiteWrite)?;
    Ok((
        StatusCode::CREATED,
        Json(sites::create(&state.store, &user.actor(), new).await?),
    ))
}

/// Read one site.
#[utoipa::path(get, path = "/api/v1/sites/{id}", tag = "sites", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Site), Unauthenticated, NotFound))]
pub async fn get_site(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Site>> {
    user.require(Action::SiteRead)?;
    Ok(Json(sites::get(&state.store, id).await?))
}

/// Rename a site, change its address, or give a customer site its customer (`customer_id`;
/// only a `customer_site` belongs to one). Send the `version` you read; a stale one answers
/// 409 `version_conflict` with the current site.
#[utoipa::path(patch, path = "/api/v1/sites/{id}", tag = "sites", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = SitePatch,
    responses((status = 200, body = Site), AuthErrors, NotFound, JsonBodyErrors,
        (status = 409, body = Problem, description = "stale `version` (`detail.site` is the current state)")))]
pub async fn patch_site(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(patch): ApiJson<SitePatch>,
) -> ApiResult<Json<Site>> {
    user.require(Action::SiteWrite)?;
    Ok(Json(
        sites::update(&state.store, &user.actor(), id, patch).await?,
    ))
}
