//! What field scans record against contracts: a contract's on-hire periods and physical state,
//! the damage found at its return inspections, and the technicians' delivery lookup of open
//! contract lines. The contracts themselves are `routes::contracts`.

use axum::extract::State;
use axum::Json;
use domain::customers::Scope;
use domain::on_hire;
use domain::on_hire::lookup::{self, OpenLinesFilter};
use mobile_shared::on_hire::{ContractDamage, ContractOnHire, DeliveryLine};
use mobile_shared::wire::Page;
use mobile_shared::Action;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::error::ApiResult;
use crate::extract::{ApiPath, ApiQuery, PageParams, Paging};
use crate::openapi::{AuthErrors, NotFound, QueryErrors};
use crate::AppState;

/// Sales users read the contracts of the customers they manage; every other role the matrix
/// lets read contracts reads them all.
fn scope(user: &CurrentUser) -> Scope {
    Scope::of(user.0.id, user.0.role)
}

/// The contract's on-hire periods (which asset went out under which line, from the delivery
/// scan to the return scan, device times) and its physical state derived from them:
/// `not_delivered`, `out`, `partly_returned` or `all_returned`.
#[utoipa::path(get, path = "/api/v1/contracts/{id}/on-hire", tag = "contracts", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ContractOnHire), AuthErrors, NotFound))]
pub async fn contract_on_hire(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ContractOnHire>> {
    user.require(Action::ContractRead)?;
    Ok(Json(
        on_hire::for_contract(&state.store, id, scope(&user)).await?,
    ))
}

/// Damage found at the contract's return inspections (a return with `inspection_passed: false`
/// or `condition: damaged`, or a failed inspection scan within 48 hours of the return), in the
/// order recorded, with the scan's photos. The estimated cost is absent until the office sets it.
#[utoipa::path(get, path = "/api/v1/contracts/{id}/damages", tag = "contracts", security(("bearer" = [])),
    params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = Page<ContractDamage>), AuthErrors, NotFound, QueryErrors))]
pub async fn contract_damages(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    Paging(page): Paging,
) -> ApiResult<Json<Page<ContractDamage>>> {
    user.require(Action::ContractRead)?;
    Ok(Json(
        on_hire::damages(&state.store, id, scope(&user), page).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OpenLinesQuery {
    /// Lines this asset may go out under, or is on hire under now.
    pub asset_id: Option<Uuid>,
    /// The customer's lines.
    pub customer_id: Option<Uuid>,
    /// Lines of contracts for this site or of the customer it belongs to.
    pub site_id: Option<Uuid>,
}

/// The open contract lines (of signed, active or expiring contracts) a delivery or return may
/// go under, for an asset, a customer or a site (at least one; together they all apply): the
/// contract number, the customer's legal name, the site, the line and what it rents, and how
/// many are on hire and returned. Nothing else of the contract (no rates, deposits or notes).
/// Send a row's `contract_line_id` with the delivery.
#[utoipa::path(get, path = "/api/v1/delivery/open-lines", tag = "scans", security(("bearer" = [])),
    params(OpenLinesQuery, PageParams),
    responses((status = 200, body = Page<DeliveryLine>), AuthErrors, QueryErrors))]
pub async fn open_lines(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(q): ApiQuery<OpenLinesQuery>,
    Paging(page): Paging,
) -> ApiResult<Json<Page<DeliveryLine>>> {
    user.require(Action::DeliveryLookup)?;
    let filter = OpenLinesFilter {
        asset_id: q.asset_id,
        customer_id: q.customer_id,
        site_id: q.site_id,
    };
    Ok(Json(lookup::open_lines(&state.store, filter, page).await?))
}
