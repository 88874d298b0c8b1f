//! Availability: which assets of a category are free for a period, and the maintenance blocks
//! that take an asset out of renting (planners and dispatchers block machines, like work
//! orders).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::NaiveDate;
use domain::contracts::availability;
use domain::error::Validator;
use mobile_shared::contracts::{Availability, Booking, NewBlock};
use mobile_shared::wire::Problem;
use mobile_shared::Action;
use serde::Deserialize;
use tracing::Instrument;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::openapi::{AuthErrors, JsonBodyErrors, NotFound, QueryErrors, Unauthenticated};
use crate::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AvailabilityQuery {
    /// The category asked about.
    pub category: Uuid,
    /// First day of the period (inclusive).
    pub from: NaiveDate,
    /// Last day of the period (inclusive), at most three years after `from`.
    pub to: NaiveDate,
}

/// The query as sent: read as text and parsed after the role check, so a caller without the
/// right gets 403 whatever the parameters (and a bad one is a 422 naming it).
#[derive(Debug, Deserialize)]
pub struct RawAvailabilityQuery {
    category: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

impl RawAvailabilityQuery {
    fn parse(self) -> Result<AvailabilityQuery, domain::DomainError> {
        fn required<T: std::str::FromStr>(
            v: &mut Validator,
            name: &str,
            raw: Option<String>,
            what: &str,
        ) -> Option<T> {
            let parsed = raw
                .ok_or_else(|| "is required".to_owned())
                .and_then(|r| r.trim().parse::<T>().map_err(|_| format!("must be {what}")));
            v.check(name, parsed)
        }
        let mut v = Validator::new();
        let category = required(&mut v, "category", self.category, "a category id");
        let from = required(&mut v, "from", self.from, "a day (YYYY-MM-DD)");
        let to = required(&mut v, "to", self.to, "a day (YYYY-MM-DD)");
        v.finish()?;
        match (category, from, to) {
            (Some(category), Some(from), Some(to)) => Ok(AvailabilityQuery { category, from, to }),
            _ => Err(domain::DomainError::Internal(
                "a checked query lost a value".into(),
            )),
        }
    }
}

/// How many assets of a category are free on every day of a period, and which: not deleted,
/// not retired, and neither a signed contract line nor a maintenance block on any of its days.
#[utoipa::path(get, path = "/api/v1/availability", tag = "contracts", security(("bearer" = [])),
    params(AvailabilityQuery),
    responses((status = 200, body = Availability), AuthErrors, QueryErrors))]
pub async fn availability(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(raw): ApiQuery<RawAvailabilityQuery>,
) -> ApiResult<Json<Availability>> {
    user.require(Action::ContractRead)?;
    let q = raw.parse()?;
    let span = tracing::info_span!("contracts.availability", category = %q.category);
    Ok(Json(
        availability::query(&state.store, q.category, q.from, q.to)
            .instrument(span)
            .await?,
    ))
}

/// An asset's maintenance blocks (live and released).
#[utoipa::path(get, path = "/api/v1/assets/{id}/blocks", tag = "contracts", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Vec<Booking>), Unauthenticated, NotFound))]
pub async fn list_blocks(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<Booking>>> {
    user.require(Action::WorkOrderRead)?;
    Ok(Json(availability::blocks(&state.store, id).await?))
}

/// Block an asset for maintenance on some days: no contract can book it then.
#[utoipa::path(post, path = "/api/v1/assets/{id}/blocks", tag = "contracts", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = NewBlock,
    responses((status = 201, body = Booking), AuthErrors, NotFound, JsonBodyErrors,
        (status = 409, body = Problem, description = "`booking_conflict`: the asset is booked on those days (`detail.booking`)")))]
pub async fn create_block(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(new): ApiJson<NewBlock>,
) -> ApiResult<(StatusCode, Json<Booking>)> {
    user.require(Action::WorkOrderWrite)?;
    let block = availability::create_block(&state.store, &user.actor(), id, new).await?;
    Ok((StatusCode::CREATED, Json(block)))
}

/// Release a maintenance block (kept, with `released_at`, for the history).
#[utoipa::path(delete, path = "/api/v1/assets/{id}/blocks/{block_id}", tag = "contracts", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("block_id" = Uuid, Path)),
    responses((status = 204), AuthErrors, NotFound,
        (status = 409, body = Problem, description = "the block is released already")))]
pub async fn delete_block(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath((id, block_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    user.require(Action::WorkOrderWrite)?;
    availability::release_block(&state.store, &user.actor(), id, block_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
