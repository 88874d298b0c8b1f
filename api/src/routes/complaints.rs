//! Complaints: opened against a customer, closed once with a resolution, listed; and the
//! complaint rate of a month (the KPI). A complaint is in a sales user's reach when its
//! customer is.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::NaiveDate;
use domain::customers::complaints;
use mobile_shared::customers::{
    CloseComplaint, Complaint, ComplaintFilter, ComplaintRate, NewComplaint,
};
use mobile_shared::wire::{Page, Problem};
use mobile_shared::Action;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::customers::scope;
use crate::auth::CurrentUser;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery, PageParams, Paging};
use crate::openapi::{AuthErrors, JsonBodyErrors, NotFound, QueryErrors};
use crate::AppState;

/// List complaints, newest first, filtered by customer, state, category and opening time.
#[utoipa::path(get, path = "/api/v1/complaints", tag = "customers", security(("bearer" = [])),
    params(ComplaintFilter, PageParams),
    responses((status = 200, body = Page<Complaint>), AuthErrors, QueryErrors))]
pub async fn list_complaints(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(filter): ApiQuery<ComplaintFilter>,
    Paging(page): Paging,
) -> ApiResult<Json<Page<Complaint>>> {
    user.require(Action::CustomerRead)?;
    Ok(Json(
        complaints::list(&state.store, scope(&user), &filter, page).await?,
    ))
}

/// Open a complaint. `category` is a value of the `complaint_category` picklist; a contract
/// must be the customer's.
#[utoipa::path(post, path = "/api/v1/complaints", tag = "customers", security(("bearer" = [])),
    request_body = NewComplaint,
    responses((status = 201, body = Complaint), AuthErrors, JsonBodyErrors))]
pub async fn create_complaint(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(new): ApiJson<NewComplaint>,
) -> ApiResult<(StatusCode, Json<Complaint>)> {
    user.require(Action::ComplaintWrite)?;
    let complaint = complaints::create(&state.store, &user.actor(), new).await?;
    Ok((StatusCode::CREATED, Json(complaint)))
}

/// Read one complaint.
#[utoipa::path(get, path = "/api/v1/complaints/{id}", tag = "customers", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Complaint), AuthErrors, NotFound))]
pub async fn get_complaint(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Complaint>> {
    user.require(Action::CustomerRead)?;
    Ok(Json(complaints::get(&state.store, scope(&user), id).await?))
}

/// Close a complaint with its resolution. A stale `version` answers 409 `version_conflict`; a
/// closed complaint 409 `complaint_closed`.
#[utoipa::path(patch, path = "/api/v1/complaints/{id}", tag = "customers", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = CloseComplaint,
    responses((status = 200, body = Complaint), AuthErrors, NotFound, JsonBodyErrors,
        (status = 409, body = Problem, description = "stale `version` (`version_conflict`) or closed already (`complaint_closed`)")))]
pub async fn close_complaint(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(close): ApiJson<CloseComplaint>,
) -> ApiResult<Json<Complaint>> {
    user.require(Action::ComplaintWrite)?;
    Ok(Json(
        complaints::close(&state.store, &user.actor(), id, close).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RateQuery {
    /// A day of the month (`YYYY-MM-DD`); default: today.
    pub month: Option<NaiveDate>,
}

/// The complaint rate of a month: customers with a complaint opened in it over the customers
/// active now (target ≤ 2 %).
#[utoipa::path(get, path = "/api/v1/kpis/complaints", tag = "customers", security(("bearer" = [])),
    params(RateQuery),
    responses((status = 200, body = ComplaintRate), AuthErrors, QueryErrors))]
pub async fn complaint_rate(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(q): ApiQuery<RateQuery>,
) -> ApiResult<Json<ComplaintRate>> {
    user.require(Action::CustomerRead)?;
    let day = q.month.unwrap_or_else(|| domain::clock::now().date_naive());
    Ok(Json(complaints::rate(&state.store, day).await?))
}
