//! The audit log (admin only).

use axum::extract::State;
use axum::Json;
use domain::audit;
use mobile_shared::wire::{AuditEntry, AuditFilter, Page};
use mobile_shared::Action;

use crate::auth::CurrentUser;
use crate::error::ApiResult;
use crate::extract::{ApiQuery, PageParams, Paging};
use crate::openapi::{AuthErrors, QueryErrors};
use crate::AppState;

/// Read the audit log, newest first.
#[utoipa::path(get, path = "/api/v1/audit-log", tag = "audit", security(("bearer" = [])), params(AuditFilter, PageParams),
    responses((status = 200, body = Page<AuditEntry>), AuthErrors, QueryErrors))]
pub async fn list_audit(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(filter): ApiQuery<AuditFilter>,
    Paging(page): Paging,
) -> ApiResult<Json<Page<AuditEntry>>> {
    user.require(Action::AuditRead)?;
    Ok(Json(audit::list(&state.store, &filter, page).await?))
}
