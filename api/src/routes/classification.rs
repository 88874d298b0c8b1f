//! Customer classification: a customer's stored tier and grade with their breakdown, an
//! on-demand recompute, and the thresholds (admin).

use axum::extract::State;
use axum::Json;
use domain::classification::{self, settings};
use mobile_shared::classification::{
    ClassificationSettingsDoc, ClassificationSettingsUpdate, CustomerClassification,
};
use mobile_shared::wire::Problem;
use mobile_shared::Action;
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath};
use crate::openapi::{AuthErrors, JsonBodyErrors, NotFound};
use crate::AppState;

/// A customer's classification as last computed (nightly or on demand): the RFM value tier,
/// the credit grade with its default credit limit and whether auto-renewal is allowed, the
/// lifecycle stage, and the breakdown of every input and the score it gave. 404 for a customer
/// not classified yet (`customer_classification`), or outside the caller's view (sales: their
/// own customers).
#[utoipa::path(get, path = "/api/v1/customers/{id}/classification", tag = "customers", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CustomerClassification), AuthErrors, NotFound))]
pub async fn get_classification(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<CustomerClassification>> {
    user.require(Action::CustomerRead)?;
    Ok(Json(
        classification::get(&state.store, &user.actor(), id).await?,
    ))
}

/// Recomputes the customer's classification now, scored against the quintile edges of the
/// latest nightly run (so it agrees with the other customers' scores), and stores it (audited
/// as `customer.classify`).
#[utoipa::path(post, path = "/api/v1/customers/{id}/classification", tag = "customers", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CustomerClassification), AuthErrors, NotFound))]
pub async fn recompute_classification(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<CustomerClassification>> {
    user.require(Action::CustomerWrite)?;
    Ok(Json(
        classification::recompute(&state.store, &user.actor(), id).await?,
    ))
}

/// The classification's thresholds: RFM window and tier rules, credit points, grade cut-offs
/// and default limits, lifecycle stages.
#[utoipa::path(get, path = "/api/v1/classification/settings", tag = "customers", security(("bearer" = [])),
    responses((status = 200, body = ClassificationSettingsDoc), AuthErrors))]
pub async fn get_settings(
    State(state): State<AppState>,
    user: CurrentUser,
) -> ApiResult<Json<ClassificationSettingsDoc>> {
    user.require(Action::CustomerRead)?;
    Ok(Json(settings::get(&state.store).await?))
}

/// Replaces the thresholds (admin), from the next classification on. Send the `version` you
/// read; invalid settings are 422 naming each field (`settings.rfm.tiers[0].recency`…).
#[utoipa::path(put, path = "/api/v1/classification/settings", tag = "customers", security(("bearer" = [])),
    request_body = ClassificationSettingsUpdate,
    responses((status = 200, body = ClassificationSettingsDoc), AuthErrors, JsonBodyErrors,
        (status = 409, body = Problem, description = "stale `version` (`detail` is the current settings)")))]
pub async fn put_settings(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(update): ApiJson<ClassificationSettingsUpdate>,
) -> ApiResult<Json<ClassificationSettingsDoc>> {
    user.require(Action::PicklistManage)?;
    Ok(Json(
        settings::put(&state.store, &user.actor(), update).await?,
    ))
}
