//! Picklists: the values customers and complaints choose from (industry, source, region,
//! complaint category). Everyone who works with customers reads them; admins add, relabel and
//! retire values.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use domain::customers::picklists;
use mobile_shared::customers::{NewPicklistValue, Picklist, PicklistValue, PicklistValuePatch};
use mobile_shared::wire::Problem;
use mobile_shared::{Action, ErrorCode};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::openapi::{AuthErrors, JsonBodyErrors, NotFound, QueryErrors};
use crate::AppState;

/// The list a path names; after the role check, so an unknown list is 404 only to those who
/// may read lists at all.
fn picklist(name: &str) -> Result<Picklist, ApiError> {
    Picklist::parse(name).ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such picklist"))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PicklistQuery {
    /// List retired values too (default: live ones only).
    pub include_retired: Option<bool>,
}

/// The values of a picklist, in display order.
#[utoipa::path(get, path = "/api/v1/picklists/{list}", tag = "customers", security(("bearer" = [])),
    params(("list" = String, Path, description = "`industry`, `source`, `region` or `complaint_category`"), PicklistQuery),
    responses((status = 200, body = Vec<PicklistValue>), AuthErrors, NotFound, QueryErrors))]
pub async fn list_values(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(list): ApiPath<String>,
    ApiQuery(q): ApiQuery<PicklistQuery>,
) -> ApiResult<Json<Vec<PicklistValue>>> {
    user.require(Action::CustomerRead)?;
    let list = picklist(&list)?;
    Ok(Json(
        picklists::list(&state.store, list, q.include_retired.unwrap_or(false)).await?,
    ))
}

/// Add a value (`snake_case`); one the list has, retired or not, is 409
/// `picklist_value_exists`.
#[utoipa::path(post, path = "/api/v1/picklists/{list}", tag = "customers", security(("bearer" = [])),
    params(("list" = String, Path, description = "`industry`, `source`, `region` or `complaint_category`")), request_body = NewPicklistValue,
    responses((status = 201, body = PicklistValue), AuthErrors, NotFound, JsonBodyErrors,
        (status = 409, body = Problem, description = "the list has this value (`picklist_value_exists`)")))]
pub async fn add_value(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(list): ApiPath<String>,
    ApiJson(new): ApiJson<NewPicklistValue>,
) -> ApiResult<(StatusCode, Json<PicklistValue>)> {
    user.require(Action::PicklistManage)?;
    let list = picklist(&list)?;
    let value = picklists::add(&state.store, &user.actor(), list, new).await?;
    Ok((StatusCode::CREATED, Json(value)))
}

/// Relabel, reorder, retire (`retired: true`) or bring back a value. Records keep a retired
/// value; new ones cannot choose it.
#[utoipa::path(patch, path = "/api/v1/picklists/{list}/{value}", tag = "customers", security(("bearer" = [])),
    params(("list" = String, Path, description = "`industry`, `source`, `region` or `complaint_category`"), ("value" = String, Path)), request_body = PicklistValuePatch,
    responses((status = 200, body = PicklistValue), AuthErrors, NotFound, JsonBodyErrors))]
pub async fn patch_value(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath((list, value)): ApiPath<(String, String)>,
    ApiJson(patch): ApiJson<PicklistValuePatch>,
) -> ApiResult<Json<PicklistValue>> {
    user.require(Action::PicklistManage)?;
    let list = picklist(&list)?;
    Ok(Json(
        picklists::update(&state.store, &user.actor(), list, &value, patch).await?,
    ))
}
