//! Users (admin only).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use domain::users;
use mobile_shared::notifications::UserEmailPatch;
use mobile_shared::wire::{NewUser, Page, Problem, User};
use mobile_shared::Action;
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, PageParams, Paging};
use crate::openapi::{AuthErrors, JsonBodyErrors, NotFound, QueryErrors};
use crate::AppState;

/// List users.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = Page<User>), AuthErrors, QueryErrors))]
pub async fn list_users(
    State(state): State<AppState>,
    user: CurrentUser,
    Paging(page): Paging,
) -> ApiResult<Json<Page<User>>> {
    user.require(Action::UserRead)?;
    Ok(Json(users::list(&state.store, page).await?))
}

/// Create a user with one role.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", security(("bearer" = [])), request_body = NewUser,
    responses((status = 201, body = User), AuthErrors, JsonBodyErrors, (status = 409, body = Problem, description = "duplicate username")))]
pub async fn create_user(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(new): ApiJson<NewUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    user.require(Action::UserWrite)?;
    Ok((
        StatusCode::CREATED,
        Json(users::create(&state.store, &user.actor(), new).await?),
    ))
}

/// Read one user.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = User), AuthErrors, NotFound))]
pub async fn get_user(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<User>> {
    user.require(Action::UserRead)?;
    Ok(Json(users::get(&state.store, id).await?))
}

/// Set or clear a user's e-mail address (where their e-mail notifications go).
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = UserEmailPatch,
    responses((status = 200, body = User), AuthErrors, JsonBodyErrors, NotFound))]
pub async fn patch_user(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(patch): ApiJson<UserEmailPatch>,
) -> ApiResult<Json<User>> {
    user.require(Action::UserWrite)?;
    let email = patch
        .email
        .ok_or_else(|| domain::DomainError::field("email", "is required (null clears it)"))?;
    Ok(Json(
        users::set_email(&state.store, &user.actor(), id, email).await?,
    ))
}
