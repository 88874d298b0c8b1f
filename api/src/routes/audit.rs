//! The audit log (admin only).

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use domain::audit::{self, AuditFilter};
use mobile_shared::wire::{AuditEntry, Page};
use mobile_shared::Action;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::PageParams;
use crate::auth::CurrentUser;
use crate::error::ApiResult;
use crate::extract::ApiQuery;
use crate::openapi::{AuthErrors, QueryErrors};
use crate::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// e.g. `asset`, `site`, `user`, `device`.
    pub entity: Option<String>,
    pub entity_id: Option<Uuid>,
    /// Username, device id or `system`.
    pub actor: Option<String>,
    /// e.g. `asset.update`.
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Page size, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Read the audit log, newest first.
#[utoipa::path(get, path = "/api/v1/audit-log", tag = "audit", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = Page<AuditEntry>), AuthErrors, QueryErrors))]
pub async fn list_audit(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Page<AuditEntry>>> {
    user.require(Action::AuditRead)?;
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .page()?;
    let filter = AuditFilter {
        entity: q.entity,
        entity_id: q.entity_id,
        actor: q.actor,
        action: q.action,
        from: q.from,
        to: q.to,
    };
    Ok(Json(audit::list(&state.store, &filter, page).await?))
}
