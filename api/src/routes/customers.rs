//! Customers: the record, its contacts and its contact log, the list and its tier/grade
//! summary. A `sales` user reaches only the customers they manage (404 for the others): the
//! domain's `customers::Scope` decides, from the caller.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use domain::customers::{self, contacts, follow_ups, list, Scope};
use mobile_shared::customers::{
    Contact, ContactPatch, Customer, CustomerDetail, CustomerFilter, CustomerPatch,
    CustomerSummary, FollowUp, NewContact, NewCustomer, NewFollowUp,
};
use mobile_shared::wire::{Page, Problem};
use mobile_shared::Action;
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery, PageParams, Paging};
use crate::openapi::{AuthErrors, JsonBodyErrors, NotFound, QueryErrors};
use crate::AppState;

/// The customers the caller reaches.
pub(crate) fn scope(user: &CurrentUser) -> Scope {
    Scope::of(user.0.id, user.0.role)
}

/// List customers, filtered (status, value tier, credit grade, industry, region, account
/// manager, tag, text in the name) and sorted (`name`, `created`: newest first, `value_tier`,
/// `credit_grade`). A sales user sees their own customers only.
#[utoipa::path(get, path = "/api/v1/customers", tag = "customers", security(("bearer" = [])),
    params(CustomerFilter, PageParams),
    responses((status = 200, body = Page<Customer>), AuthErrors, QueryErrors))]
pub async fn list_customers(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(filter): ApiQuery<CustomerFilter>,
    Paging(page): Paging,
) -> ApiResult<Json<Page<Customer>>> {
    user.require(Action::CustomerRead)?;
    Ok(Json(
        list::list(&state.store, scope(&user), &filter, page).await?,
    ))
}

/// Create a customer (status `lead` unless `active` is given). Industry, region and source are
/// values of their picklists; a sales user is the account manager of what they create.
#[utoipa::path(post, path = "/api/v1/customers", tag = "customers", security(("bearer" = [])),
    request_body = NewCustomer,
    responses((status = 201, body = Customer), AuthErrors, JsonBodyErrors))]
pub async fn create_customer(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(new): ApiJson<NewCustomer>,
) -> ApiResult<(StatusCode, Json<Customer>)> {
    user.require(Action::CustomerWrite)?;
    let customer = customers::create(&state.store, &user.actor(), new).await?;
    Ok((StatusCode::CREATED, Json(customer)))
}

/// How the caller's customers share out by value tier and by credit grade.
#[utoipa::path(get, path = "/api/v1/customers/summary", tag = "customers", security(("bearer" = [])),
    responses((status = 200, body = CustomerSummary), AuthErrors))]
pub async fn customer_summary(
    State(state): State<AppState>,
    user: CurrentUser,
) -> ApiResult<Json<CustomerSummary>> {
    user.require(Action::CustomerRead)?;
    Ok(Json(list::summary(&state.store, scope(&user)).await?))
}

/// Read one customer with its contacts and sites.
#[utoipa::path(get, path = "/api/v1/customers/{id}", tag = "customers", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CustomerDetail), AuthErrors, NotFound))]
pub async fn get_customer(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<CustomerDetail>> {
    user.require(Action::CustomerRead)?;
    Ok(Json(customers::get(&state.store, scope(&user), id).await?))
}

/// Change a customer. Send the `version` you read; a stale one answers 409
/// `version_conflict` with the current record. Status moves follow the lifecycle
/// (`lead → active → dormant → churned`, back to `active`), else 409 `illegal_transition`.
#[utoipa::path(patch, path = "/api/v1/customers/{id}", tag = "customers", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = CustomerPatch,
    responses((status = 200, body = Customer), AuthErrors, NotFound, JsonBodyErrors,
        (status = 409, body = Problem, description = "stale `version` (`version_conflict`) or a status move the lifecycle does not allow (`illegal_transition`)")))]
pub async fn patch_customer(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(patch): ApiJson<CustomerPatch>,
) -> ApiResult<Json<Customer>> {
    user.require(Action::CustomerWrite)?;
    Ok(Json(
        customers::update(&state.store, &user.actor(), id, patch).await?,
    ))
}

/// Delete a customer (kept for the records that name it).
#[utoipa::path(delete, path = "/api/v1/customers/{id}", tag = "customers", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 204), AuthErrors, NotFound))]
pub async fn delete_customer(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    user.require(Action::CustomerWrite)?;
    customers::delete(&state.store, &user.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List a customer's contacts.
#[utoipa::path(get, path = "/api/v1/customers/{id}/contacts", tag = "customers", security(("bearer" = [])),
    params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = Page<Contact>), AuthErrors, NotFound, QueryErrors))]
pub async fn list_contacts(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    Paging(page): Paging,
) -> ApiResult<Json<Page<Contact>>> {
    user.require(Action::CustomerRead)?;
    Ok(Json(
        contacts::list(&state.store, scope(&user), id, page).await?,
    ))
}

/// Add a contact: a phone or an e-mail is required, and the preferred channel must be one the
/// contact can be reached on.
#[utoipa::path(post, path = "/api/v1/customers/{id}/contacts", tag = "customers", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = NewContact,
    responses((status = 201, body = Contact), AuthErrors, NotFound, JsonBodyErrors))]
pub async fn create_contact(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(new): ApiJson<NewContact>,
) -> ApiResult<(StatusCode, Json<Contact>)> {
    user.require(Action::CustomerWrite)?;
    let contact = contacts::create(&state.store, &user.actor(), id, new).await?;
    Ok((StatusCode::CREATED, Json(contact)))
}

/// Change a contact.
#[utoipa::path(patch, path = "/api/v1/customers/{id}/contacts/{contact_id}", tag = "customers", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("contact_id" = Uuid, Path)), request_body = ContactPatch,
    responses((status = 200, body = Contact), AuthErrors, NotFound, JsonBodyErrors))]
pub async fn patch_contact(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath((id, contact_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(patch): ApiJson<ContactPatch>,
) -> ApiResult<Json<Contact>> {
    user.require(Action::CustomerWrite)?;
    Ok(Json(
        contacts::update(&state.store, &user.actor(), id, contact_id, patch).await?,
    ))
}

/// Remove a contact.
#[utoipa::path(delete, path = "/api/v1/customers/{id}/contacts/{contact_id}", tag = "customers", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("contact_id" = Uuid, Path)),
    responses((status = 204), AuthErrors, NotFound))]
pub async fn delete_contact(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath((id, contact_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    user.require(Action::CustomerWrite)?;
    contacts::delete(&state.store, &user.actor(), id, contact_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A customer's contact log, newest first.
#[utoipa::path(get, path = "/api/v1/customers/{id}/follow-ups", tag = "customers", security(("bearer" = [])),
    params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = Page<FollowUp>), AuthErrors, NotFound, QueryErrors))]
pub async fn list_follow_ups(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    Paging(page): Paging,
) -> ApiResult<Json<Page<FollowUp>>> {
    user.require(Action::CustomerRead)?;
    Ok(Json(
        follow_ups::list(&state.store, scope(&user), id, page).await?,
    ))
}

/// Log a follow-up (made by the caller). A lead's latest follow-up is what the stale-lead rule
/// reads: a lead without one for 3 days gets a task for its account manager.
#[utoipa::path(post, path = "/api/v1/customers/{id}/follow-ups", tag = "customers", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = NewFollowUp,
    responses((status = 201, body = FollowUp), AuthErrors, NotFound, JsonBodyErrors))]
pub async fn create_follow_up(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(new): ApiJson<NewFollowUp>,
) -> ApiResult<(StatusCode, Json<FollowUp>)> {
    user.require(Action::CustomerWrite)?;
    let follow_up = follow_ups::create(&state.store, &user.actor(), id, new).await?;
    Ok((StatusCode::CREATED, Json(follow_up)))
}
