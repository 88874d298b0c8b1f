//! Contracts: drafts and their lines, signing, ending, terminating, renewing, renewal approvals.
//! Sales users reach only the contracts of the customers they manage (the domain narrows it).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::NaiveDate;
use domain::contracts::{self, lifecycle, renewals};
use domain::customers::Scope;
use mobile_shared::contracts::{
    Approval, Contract, ContractFilter, ContractLine, ContractPatch, ContractStatus, EndContract,
    NewApproval, NewContract, NewContractLine, RenewContract, TerminateContract,
};
use mobile_shared::wire::{Page, Problem};
use mobile_shared::Action;
use serde::Deserialize;
use tracing::Instrument;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery, PageParams, Paging};
use crate::openapi::{AuthErrors, JsonBodyErrors, NotFound, QueryErrors};
use crate::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContractQuery {
    pub status: Option<ContractStatus>,
    pub customer_id: Option<Uuid>,
    /// Only contracts ending on or before this day (the renewal pipeline).
    pub ends_before: Option<NaiveDate>,
    /// Only contracts ending on or after this day.
    pub ends_after: Option<NaiveDate>,
}

fn scope(user: &CurrentUser) -> Scope {
    Scope::of_actor(&user.actor())
}

/// List contracts, filtered by status, customer and end day, oldest first.
#[utoipa::path(get, path = "/api/v1/contracts", tag = "contracts", security(("bearer" = [])),
    params(ContractQuery, PageParams),
    responses((status = 200, body = Page<Contract>), AuthErrors, QueryErrors))]
pub async fn list_contracts(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(q): ApiQuery<ContractQuery>,
    Paging(page): Paging,
) -> ApiResult<Json<Page<Contract>>> {
    user.require(Action::ContractRead)?;
    let filter = ContractFilter {
        status: q.status,
        customer_id: q.customer_id,
        ends_before: q.ends_before,
        ends_after: q.ends_after,
    };
    Ok(Json(
        contracts::list(&state.store, scope(&user), &filter, page).await?,
    ))
}

/// Create a draft contract. Its currency is the customer's; each line names an asset, or a
/// category and a quantity; an asset booked on the draft's days is a 409.
#[utoipa::path(post, path = "/api/v1/contracts", tag = "contracts", security(("bearer" = [])),
    request_body = NewContract,
    responses((status = 201, body = Contract), AuthErrors, JsonBodyErrors,
        (status = 409, body = Problem, description = "`booking_conflict`: an asset is booked on those days (`detail.booking`)")))]
pub async fn create_contract(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(new): ApiJson<NewContract>,
) -> ApiResult<(StatusCode, Json<Contract>)> {
    user.require(Action::ContractWrite)?;
    let span = tracing::info_span!("contracts.create", customer = %new.customer_id);
    let contract = contracts::create(&state.store, &user.actor(), new)
        .instrument(span)
        .await?;
    Ok((StatusCode::CREATED, Json(contract)))
}

/// Read one contract with its lines.
#[utoipa::path(get, path = "/api/v1/contracts/{id}", tag = "contracts", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Contract), AuthErrors, NotFound))]
pub async fn get_contract(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Contract>> {
    user.require(Action::ContractRead)?;
    Ok(Json(contracts::get(&state.store, scope(&user), id).await?))
}

/// Change a draft. Send the `version` you read.
#[utoipa::path(patch, path = "/api/v1/contracts/{id}", tag = "contracts", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = ContractPatch,
    responses((status = 200, body = Contract), AuthErrors, NotFound, JsonBodyErrors,
        (status = 409, body = Problem, description = "stale `version`, not a draft, or an asset booked on the new days")))]
pub async fn patch_contract(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(patch): ApiJson<ContractPatch>,
) -> ApiResult<Json<Contract>> {
    user.require(Action::ContractWrite)?;
    Ok(Json(
        contracts::update(&state.store, &user.actor(), id, patch).await?,
    ))
}

/// A contract's lines.
#[utoipa::path(get, path = "/api/v1/contracts/{id}/lines", tag = "contracts", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Vec<ContractLine>), AuthErrors, NotFound))]
pub async fn list_lines(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<ContractLine>>> {
    user.require(Action::ContractRead)?;
    Ok(Json(
        contracts::get(&state.store, scope(&user), id).await?.lines,
    ))
}

/// Add a line to a draft; answers the contract.
#[utoipa::path(post, path = "/api/v1/contracts/{id}/lines", tag = "contracts", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = NewContractLine,
    responses((status = 201, body = Contract), AuthErrors, NotFound, JsonBodyErrors,
        (status = 409, body = Problem, description = "not a draft, or the asset is booked on the contract's days")))]
pub async fn add_line(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(line): ApiJson<NewContractLine>,
) -> ApiResult<(StatusCode, Json<Contract>)> {
    user.require(Action::ContractWrite)?;
    let contract = contracts::add_line(&state.store, &user.actor(), id, line).await?;
    Ok((StatusCode::CREATED, Json(contract)))
}

/// Sign a draft: each asset line books its asset; `active` once started, `signed` until then.
#[utoipa::path(post, path = "/api/v1/contracts/{id}/sign", tag = "contracts", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Contract), AuthErrors, NotFound,
        (status = 409, body = Problem, description = "`booking_conflict` (`detail.booking`: a contract line or maintenance window in the way), or not a draft"),
        (status = 422, body = Problem, description = "no lines, or the end has passed")))]
pub async fn sign_contract(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Contract>> {
    user.require(Action::ContractWrite)?;
    let span = tracing::info_span!("contracts.sign", contract = %id);
    Ok(Json(
        lifecycle::sign(&state.store, &user.actor(), id)
            .instrument(span)
            .await?,
    ))
}

/// End a signed contract (everything returned): bookings are released from the next day.
#[utoipa::path(post, path = "/api/v1/contracts/{id}/end", tag = "contracts", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = EndContract,
    responses((status = 200, body = Contract), AuthErrors, NotFound, JsonBodyErrors,
        (status = 409, body = Problem, description = "the contract is not signed")))]
pub async fn end_contract(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<EndContract>,
) -> ApiResult<Json<Contract>> {
    user.require(Action::ContractWrite)?;
    Ok(Json(
        lifecycle::end(&state.store, &user.actor(), id, body).await?,
    ))
}

/// Terminate a draft or signed contract for a reason: bookings are released from tomorrow.
#[utoipa::path(post, path = "/api/v1/contracts/{id}/terminate", tag = "contracts", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = TerminateContract,
    responses((status = 200, body = Contract), AuthErrors, NotFound, JsonBodyErrors,
        (status = 409, body = Problem, description = "the contract is over already")))]
pub async fn terminate_contract(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<TerminateContract>,
) -> ApiResult<Json<Contract>> {
    user.require(Action::ContractWrite)?;
    Ok(Json(
        lifecycle::terminate(&state.store, &user.actor(), id, body).await?,
    ))
}

/// Renew: a successor draft from the day after this contract's end, linked by
/// `predecessor_id`; signing it marks this one `renewed`.
#[utoipa::path(post, path = "/api/v1/contracts/{id}/renew", tag = "contracts", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = RenewContract,
    responses((status = 201, body = Contract), AuthErrors, NotFound, JsonBodyErrors,
        (status = 409, body = Problem, description = "`renewals_frozen` (`detail.reason`), `approvals_missing` (`detail.missing`), `booking_conflict`, renewed already, or not signed")))]
pub async fn renew_contract(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<RenewContract>,
) -> ApiResult<(StatusCode, Json<Contract>)> {
    user.require(Action::ContractWrite)?;
    let successor = renewals::renew(&state.store, &user.actor(), id, body).await?;
    Ok((StatusCode::CREATED, Json(successor)))
}

/// A contract's renewal approvals.
#[utoipa::path(get, path = "/api/v1/contracts/{id}/approvals", tag = "contracts", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Vec<Approval>), AuthErrors, NotFound))]
pub async fn list_approvals(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<Approval>>> {
    user.require(Action::ContractRead)?;
    Ok(Json(
        renewals::approvals(&state.store, scope(&user), id).await?,
    ))
}

/// Approve the renewal: the approval's kind is the caller's role (finance, legal); an admin
/// names it in `kind`.
#[utoipa::path(post, path = "/api/v1/contracts/{id}/approvals", tag = "contracts", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = NewApproval,
    responses((status = 201, body = Approval), AuthErrors, NotFound, JsonBodyErrors,
        (status = 409, body = Problem, description = "`already_approved` (`detail.approval`), or the contract is over")))]
pub async fn approve_contract(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<NewApproval>,
) -> ApiResult<(StatusCode, Json<Approval>)> {
    user.require(Action::ContractApprove)?;
    let approval = renewals::approve(&state.store, &user.actor(), id, body).await?;
    Ok((StatusCode::CREATED, Json(approval)))
}
