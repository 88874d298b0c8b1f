//! Assets, their identifiers, and resolving scanned text.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use domain::assets::{self, AssetFilter};
use domain::identifiers;
use mobile_shared::wire::{
    Asset, AssetPatch, Identifier, NewAsset, NewIdentifier, Page, Problem, Resolved,
};
use mobile_shared::{Action, AssetStatus};
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
pub struct AssetQuery {
    pub status: Option<AssetStatus>,
    pub site_id: Option<Uuid>,
    /// Category name or id.
    pub category: Option<String>,
    /// Case-insensitive text in code, name or serial.
    pub q: Option<String>,
}

/// List assets, filtered, in pages.
#[utoipa::path(get, path = "/api/v1/assets", tag = "assets", security(("bearer" = [])), params(AssetQuery, PageParams),
    responses((status = 200, body = Page<Asset>), Unauthenticated, QueryErrors))]
pub async fn list_assets(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(q): ApiQuery<AssetQuery>,
    Paging(page): Paging,
) -> ApiResult<Json<Page<Asset>>> {
    user.require(Action::AssetRead)?;
    let filter = AssetFilter {
        status: q.status,
        site_id: q.site_id,
        category: q.category,
        q: q.q,
    };
    Ok(Json(assets::list(&state.store, &filter, page).await?))
}

/// Register an asset.
#[utoipa::path(post, path = "/api/v1/assets", tag = "assets", security(("bearer" = [])), request_body = NewAsset,
    responses((status = 201, body = Asset), AuthErrors, JsonBodyErrors, (status = 409, body = Problem, description = "duplicate code")))]
pub async fn create_asset(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(new): ApiJson<NewAsset>,
) -> ApiResult<(StatusCode, Json<Asset>)> {
    user.require(Action::AssetWrite)?;
    let asset = assets::create(&state.store, &user.actor(), new).await?;
    Ok((StatusCode::CREATED, Json(asset)))
}

/// Read one asset, with the service that presses most (`next_service`) and its tracker
/// (`tracker`: online or not, last seen).
#[utoipa::path(get, path = "/api/v1/assets/{id}", tag = "assets", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Asset), Unauthenticated, NotFound))]
pub async fn get_asset(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Asset>> {
    user.require(Action::AssetRead)?;
    let mut asset = assets::get(&state.store, id).await?;
    // Every role that reads assets reads maintenance too (`Action::MaintenanceRead`).
    asset.next_service =
        domain::maintenance::forecast::for_asset(&state.store, id, domain::clock::now())
            .await?
            .next_service;
    // Every role that reads assets reads positions and the alert lists' tracker state too.
    asset.tracker = domain::alerts::tracker_of(&state.store, id).await?;
    Ok(Json(asset))
}

/// Change an asset. Send the `version` you read; a stale one answers 409 with the current state.
#[utoipa::path(patch, path = "/api/v1/assets/{id}", tag = "assets", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = AssetPatch,
    responses((status = 200, body = Asset), AuthErrors, NotFound, JsonBodyErrors,
        (status = 409, body = Problem, description = "stale `version` (`detail.asset` is the current state), duplicate code, or a forbidden status change")))]
pub async fn patch_asset(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(patch): ApiJson<AssetPatch>,
) -> ApiResult<Json<Asset>> {
    user.require(Action::AssetWrite)?;
    Ok(Json(
        assets::update(&state.store, &user.actor(), id, patch).await?,
    ))
}

/// Delete an asset (kept for history; its code becomes free and its tags inactive).
#[utoipa::path(delete, path = "/api/v1/assets/{id}", tag = "assets", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 204), AuthErrors, NotFound))]
pub async fn delete_asset(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    user.require(Action::AssetDelete)?;
    assets::delete(&state.store, &user.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IdentifierQuery {
    /// Include removed tags (history).
    #[serde(default)]
    pub include_removed: bool,
}

/// The asset's tags (and, on request, their history).
#[utoipa::path(get, path = "/api/v1/assets/{id}/identifiers", tag = "assets", security(("bearer" = [])),
    params(("id" = Uuid, Path), IdentifierQuery),
    responses((status = 200, body = Vec<Identifier>), Unauthenticated, NotFound, QueryErrors))]
pub async fn list_identifiers(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<IdentifierQuery>,
) -> ApiResult<Json<Vec<Identifier>>> {
    user.require(Action::AssetRead)?;
    Ok(Json(
        identifiers::list_for_asset(&state.store, id, q.include_removed).await?,
    ))
}

/// Attach a tag (QR, barcode, NFC UID, RFID EPC, IMEI) to an asset.
#[utoipa::path(post, path = "/api/v1/assets/{id}/identifiers", tag = "assets", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = NewIdentifier,
    responses((status = 201, body = Identifier), AuthErrors, NotFound, JsonBodyErrors, (status = 409, body = Problem, description = "tag active on an asset")))]
pub async fn add_identifier(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(new): ApiJson<NewIdentifier>,
) -> ApiResult<(StatusCode, Json<Identifier>)> {
    user.require(Action::IdentifierWrite)?;
    let ident = identifiers::add(&state.store, &user.actor(), id, new).await?;
    Ok((StatusCode::CREATED, Json(ident)))
}

/// Remove a tag from an asset (its history is kept).
#[utoipa::path(delete, path = "/api/v1/assets/{id}/identifiers/{identifier_id}", tag = "assets", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("identifier_id" = Uuid, Path)), responses((status = 204), AuthErrors, NotFound))]
pub async fn remove_identifier(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath((id, identifier_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    user.require(Action::IdentifierWrite)?;
    identifiers::remove(&state.store, &user.actor(), id, identifier_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResolveQuery {
    /// Any scanned text: an asset code, a tag value, or a URL ending in one.
    #[param(min_length = 1)]
    pub code: String,
}

/// Find the asset that scanned text stands for.
#[utoipa::path(get, path = "/api/v1/resolve", tag = "assets", security(("bearer" = [])), params(ResolveQuery),
    responses((status = 200, body = Resolved), Unauthenticated, QueryErrors, (status = 404, body = Problem, description = "nothing matches"),
        (status = 409, body = Problem, description = "matches several assets")))]
pub async fn resolve(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(q): ApiQuery<ResolveQuery>,
) -> ApiResult<Json<Resolved>> {
    user.require(Action::ResolveCode)?;
    Ok(Json(identifiers::resolve(&state.store, &q.code).await?))
}
