//! GPS tracker registration.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use domain::devices;
use mobile_shared::wire::{Device, DeviceCreated, NewDevice, Page, Problem};
use mobile_shared::Action;

use crate::auth::CurrentUser;
use crate::error::ApiResult;
use crate::extract::{ApiJson, PageParams, Paging};
use crate::openapi::{AuthErrors, JsonBodyErrors, QueryErrors};
use crate::AppState;

/// List trackers.
#[utoipa::path(get, path = "/api/v1/devices", tag = "devices", security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = Page<Device>), AuthErrors, QueryErrors))]
pub async fn list_devices(
    State(state): State<AppState>,
    user: CurrentUser,
    Paging(page): Paging,
) -> ApiResult<Json<Page<Device>>> {
    user.require(Action::DeviceRead)?;
    Ok(Json(devices::list(&state.store, page).await?))
}

/// Register a tracker. The answer holds its MQTT password, shown this once only.
#[utoipa::path(post, path = "/api/v1/devices", tag = "devices", security(("bearer" = [])), request_body = NewDevice,
    responses((status = 201, body = DeviceCreated), AuthErrors, JsonBodyErrors, (status = 409, body = Problem, description = "duplicate device_id")))]
pub async fn create_device(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(new): ApiJson<NewDevice>,
) -> ApiResult<(StatusCode, Json<DeviceCreated>)> {
    user.require(Action::DeviceWrite)?;
    Ok((
        StatusCode::CREATED,
        Json(devices::create(&state.store, &user.actor(), new).await?),
    ))
}
