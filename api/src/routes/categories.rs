//! Asset categories.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use domain::categories;
use mobile_shared::wire::{Category, NewCategory, Page, Problem};
use mobile_shared::Action;

use crate::auth::CurrentUser;
use crate::error::ApiResult;
use crate::extract::{ApiJson, PageParams, Paging};
use crate::openapi::{AuthErrors, JsonBodyErrors, QueryErrors, Unauthenticated};
use crate::AppState;

/// List categories.
#[utoipa::path(get, path = "/api/v1/categories", tag = "assets", security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = Page<Category>), Unauthenticated, QueryErrors))]
pub async fn list_categories(
    State(state): State<AppState>,
    user: CurrentUser,
    Paging(page): Paging,
) -> ApiResult<Json<Page<Category>>> {
    user.require(Action::CategoryRead)?;
    Ok(Json(categories::list(&state.store, page).await?))
}

/// Create a category.
#[utoipa::path(post, path = "/api/v1/categories", tag = "assets", security(("bearer" = [])), request_body = NewCategory,
    responses((status = 201, body = Category), AuthErrors, JsonBodyErrors, (status = 409, body = Problem, description = "duplicate name")))]
pub async fn create_category(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(new): ApiJson<NewCategory>,
) -> ApiResult<(StatusCode, Json<Category>)> {
    user.require(Action::CategoryWrite)?;
    Ok((
        StatusCode::CREATED,
        Json(categories::create(&state.store, &user.actor(), new).await?),
    ))
}
