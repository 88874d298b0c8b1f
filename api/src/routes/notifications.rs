//! Notifications: the caller's in-app inbox, the delivery log and its counts (admin), and
//! webhook endpoints (admin).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use domain::notifications::{self, outbox, webhooks};
use mobile_shared::notifications::{
    Delivery, DeliveryFilter, DeliveryStats, InboxFilter, InboxItem, NewWebhookEndpoint,
    WebhookCreated, WebhookEndpoint, WebhookPatch, WebhookTestSent,
};
use mobile_shared::wire::{Page, Problem};
use mobile_shared::Action;
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery, PageParams, Paging};
use crate::openapi::{AuthErrors, JsonBodyErrors, NotFound, QueryErrors, Unauthenticated};
use crate::AppState;

/// My notifications, newest first.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", security(("bearer" = [])),
    params(InboxFilter, PageParams),
    responses((status = 200, body = Page<InboxItem>), Unauthenticated, QueryErrors))]
pub async fn inbox(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(filter): ApiQuery<InboxFilter>,
    Paging(page): Paging,
) -> ApiResult<Json<Page<InboxItem>>> {
    user.require(Action::InboxRead)?;
    Ok(Json(
        notifications::inbox(&state.store, user.0.id, &filter, page).await?,
    ))
}

/// Mark one of my notifications read (idempotent: the first read time is kept).
#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", tag = "notifications", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The inbox entry's id")),
    responses((status = 200, body = InboxItem), Unauthenticated, NotFound))]
pub async fn mark_read(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<InboxItem>> {
    user.require(Action::InboxRead)?;
    Ok(Json(
        notifications::mark_read(&state.store, user.0.id, id).await?,
    ))
}

/// The delivery log, newest first, with every attempt.
#[utoipa::path(get, path = "/api/v1/notifications/deliveries", tag = "notifications", security(("bearer" = [])),
    params(DeliveryFilter, PageParams),
    responses((status = 200, body = Page<Delivery>), AuthErrors, QueryErrors))]
pub async fn deliveries(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(filter): ApiQuery<DeliveryFilter>,
    Paging(page): Paging,
) -> ApiResult<Json<Page<Delivery>>> {
    user.require(Action::NotificationAdmin)?;
    Ok(Json(outbox::deliveries(&state.store, &filter, page).await?))
}

/// Send a failed delivery again (a fresh allowance of attempts).
#[utoipa::path(post, path = "/api/v1/notifications/deliveries/{id}/retry", tag = "notifications", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Delivery), AuthErrors, NotFound,
        (status = 409, body = Problem, description = "the delivery has not failed")))]
pub async fn retry_delivery(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Delivery>> {
    user.require(Action::NotificationAdmin)?;
    Ok(Json(outbox::retry(&state.store, &user.actor(), id).await?))
}

/// Deliveries per channel by state.
#[utoipa::path(get, path = "/api/v1/notifications/stats", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = DeliveryStats), AuthErrors))]
pub async fn stats(
    State(state): State<AppState>,
    user: CurrentUser,
) -> ApiResult<Json<DeliveryStats>> {
    user.require(Action::NotificationAdmin)?;
    Ok(Json(outbox::stats(&state.store).await?))
}

/// List webhook endpoints (never their secrets).
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "notifications", security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = Page<WebhookEndpoint>), AuthErrors, QueryErrors))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    user: CurrentUser,
    Paging(page): Paging,
) -> ApiResult<Json<Page<WebhookEndpoint>>> {
    user.require(Action::WebhookManage)?;
    Ok(Json(webhooks::list(&state.store, page).await?))
}

/// Register a webhook endpoint. The answer holds its signing secret, shown this once.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "notifications", security(("bearer" = [])), request_body = NewWebhookEndpoint,
    responses((status = 201, body = WebhookCreated), AuthErrors, JsonBodyErrors))]
pub async fn create_webhook(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(new): ApiJson<NewWebhookEndpoint>,
) -> ApiResult<(StatusCode, Json<WebhookCreated>)> {
    user.require(Action::WebhookManage)?;
    Ok((
        StatusCode::CREATED,
        Json(webhooks::create(&state.store, &user.actor(), new).await?),
    ))
}

/// Enable or disable a webhook endpoint.
#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "notifications", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = WebhookPatch,
    responses((status = 200, body = WebhookEndpoint), AuthErrors, JsonBodyErrors, NotFound))]
pub async fn patch_webhook(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(patch): ApiJson<WebhookPatch>,
) -> ApiResult<Json<WebhookEndpoint>> {
    user.require(Action::WebhookManage)?;
    Ok(Json(
        webhooks::update(&state.store, &user.actor(), id, patch).await?,
    ))
}

/// Send a `webhook.test` event to this endpoint (whatever its event filter).
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", tag = "notifications", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 202, body = WebhookTestSent), AuthErrors, NotFound))]
pub async fn test_webhook(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<(StatusCode, Json<WebhookTestSent>)> {
    user.require(Action::WebhookManage)?;
    let notification_id = webhooks::send_test(&state.store, &user.actor(), id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(WebhookTestSent { notification_id }),
    ))
}
