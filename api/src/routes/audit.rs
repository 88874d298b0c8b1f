//! The audit log (admin only): read it a page at a time, or export it as CSV.
//!
//! The log is append-only: no route changes or deletes an entry (migration 0028's triggers
//! refuse it in the database too); only the retention purge removes old entries.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::Json;
use domain::audit;
use domain::{DomainError, PageRequest, Store};
use futures::{StreamExt, TryStreamExt};
use mobile_shared::wire::{AuditEntry, AuditFilter, Page};
use mobile_shared::Action;
use uuid::Uuid;

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

/// Entries read from the database per step of an export.
const EXPORT_PAGE: u32 = domain::pagination::MAX_LIMIT;

/// The export's columns, in order.
const CSV_HEADER: [&str; 12] = [
    "id",
    "at",
    "source",
    "actor",
    "actor_user_id",
    "ip",
    "user_agent",
    "action",
    "entity",
    "entity_id",
    "before",
    "after",
];

/// Export the audit log as CSV: every entry matching the filters, newest first, streamed (the
/// server holds one page at a time). Columns: id, at, source, actor, actor_user_id, ip,
/// user_agent, action, entity, entity_id, before, after (the snapshots as JSON). A cell that
/// starts with `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with `'`, so a
/// spreadsheet shows it as text instead of running it as a formula. The export itself is an
/// audit entry (`audit_log.export`, with the filters).
#[utoipa::path(get, path = "/api/v1/audit-log/export.csv", tag = "audit", security(("bearer" = [])), params(AuditFilter),
    responses((status = 200, description = "RFC 4180 CSV with a header row", content_type = "text/csv", body = String),
        AuthErrors, QueryErrors))]
pub async fn export_audit(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(filter): ApiQuery<AuditFilter>,
) -> ApiResult<Response> {
    user.require(Action::AuditRead)?;
    audit::record_export(&state.store, &user.actor(), &filter, "csv").await?;
    let header = csv_rows(std::iter::once(CSV_HEADER.map(String::from)))?;
    let pages = futures::stream::try_unfold(
        Export {
            store: state.store.clone(),
            filter,
            cursor: Some(None),
        },
        next_page,
    );
    let body = futures::stream::once(async { Ok::<_, DomainError>(header) }).chain(pages);
    let body = body.inspect_err(|e| {
        tracing::error!(error = %e, "audit export failed mid-stream; the client gets a truncated file");
    });
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                CONTENT_DISPOSITION,
                "attachment; filename=\"audit-log.csv\"",
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// Where an export stands: the filter and the next page's cursor (`None` once done).
struct Export {
    store: Store,
    filter: AuditFilter,
    cursor: Option<Option<Uuid>>,
}

/// The next page of an export as CSV bytes, or the end.
async fn next_page(mut export: Export) -> Result<Option<(Bytes, Export)>, DomainError> {
    let Some(after) = export.cursor else {
        return Ok(None);
    };
    let page = PageRequest {
        limit: EXPORT_PAGE,
        after,
    };
    let entries = audit::list(&export.store, &export.filter, page).await?;
    // The page's cursor is the id of its last entry; no cursor, no further page.
    export.cursor = match entries.next_cursor.as_deref().map(Uuid::parse_str) {
        Some(Ok(id)) => Some(Some(id)),
        _ => None,
    };
    let bytes = csv_rows(entries.items.iter().map(csv_record))?;
    Ok(Some((bytes, export)))
}

/// One entry as the export's cells.
fn csv_record(e: &AuditEntry) -> [String; 12] {
    let json =
        |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string()).unwrap_or_default();
    [
        e.id.to_string(),
        e.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        e.source.as_str().to_owned(),
        e.actor.clone(),
        e.actor_user_id.map(|u| u.to_string()).unwrap_or_default(),
        e.ip.clone().unwrap_or_default(),
        e.user_agent.clone().unwrap_or_default(),
        e.action.clone(),
        e.entity.clone(),
        e.entity_id.to_string(),
        json(&e.before),
        json(&e.after),
    ]
}

/// Rows written by the `csv` crate (quoting, escaping), each cell made formula-safe
/// (`domain::export::neutralise`: entries hold what clients sent, usernames, user agents, names
/// in snapshots, so an export opened in a spreadsheet must not run them).
fn csv_rows(rows: impl IntoIterator<Item = [String; 12]>) -> Result<Bytes, DomainError> {
    let failed = |e: csv::Error| DomainError::Internal(format!("writing CSV: {e}"));
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer
            .write_record(row.iter().map(|c| domain::export::neutralise(c)))
            .map_err(failed)?;
    }
    writer
        .into_inner()
        .map(Bytes::from)
        .map_err(|e| DomainError::Internal(format!("writing CSV: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused_and_the_rest_kept() {
        for (cell, safe) in [
            ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("+1", "'+1"),
            ("-2", "'-2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("admin", "admin"),
            ("", ""),
            ("a=b", "a=b"),
        ] {
            assert_eq!(domain::export::neutralise(cell), safe, "{cell:?}");
        }
    }

    #[test]
    fn rows_are_quoted_by_the_csv_writer() {
        let mut row = CSV_HEADER.map(String::from);
        row[3] = "a,\"b\"\nc".into();
        row[4] = "=1+1".into();
        let bytes = csv_rows([row]).unwrap();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(text.contains("\"a,\"\"b\"\"\nc\",'=1+1,"), "{text}");
    }
}
