//! Login and logout.

use axum::extract::State;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use domain::users;
use mobile_shared::wire::{LoginRequest, LoginResponse, Problem};

use crate::auth::{bearer_token, CurrentUser};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::openapi::{JsonBodyErrors, Unauthenticated};
use crate::AppState;

/// Exchange a username and password for a bearer token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), JsonBodyErrors,
        (status = 401, body = Problem, description = "wrong username or password, or the user is disabled")))]
pub async fn login(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    if req.username.len() > 256 || req.password.len() > domain::users::MAX_PASSWORD_LEN * 4 {
        return Err(domain::DomainError::InvalidCredentials.into());
    }
    let resp = users::login(
        &state.store,
        &req.username,
        &req.password,
        state.config.session_ttl,
    )
    .await?;
    tracing::info!(user = %resp.user.username, "login");
    Ok(Json(resp))
}

/// Revoke the bearer token of this request.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), Unauthenticated))]
pub async fn logout(
    State(state): State<AppState>,
    _user: CurrentUser,
    parts: Parts,
) -> ApiResult<StatusCode> {
    let token = bearer_token(&parts).ok_or_else(ApiError::unauthenticated)?;
    users::logout(&state.store, token).await?;
    Ok(StatusCode::NO_CONTENT)
}
