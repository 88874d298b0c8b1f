//! The office's spreadsheets: `POST /api/v1/imports/{kind}` (CSV or XLSX upload, dry run or
//! import, the report), `GET /api/v1/imports/{kind}/jobs/{id}` (a background import's
//! progress) and `GET /api/v1/exports/{kind}.{format}` (the list as a file, audited).
//!
//! Who: the fleet's lists (assets, sites) are imported by `FleetImport` (admin, dispatcher)
//! and exported by `FleetExport`; the office's (customers, contracts) by `OfficeImport` (admin,
//! rental office) and `OfficeExport`. The file is checked and read on the blocking pool before
//! anything else happens, so a bad file is a 4xx with its typed code and no job.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use domain::import::{self, ImportRequest, Prepared};
use domain::Actor;
use mobile_shared::spreadsheets::{
    ImportJob, ImportJobState, ImportMode, ImportReport, SheetFormat, SheetKind,
};
use mobile_shared::wire::Problem;
use mobile_shared::{Action, ErrorCode};
use serde::Deserialize;
use tracing::Instrument;
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::{is_multipart, multipart_fields, ApiPath, ApiQuery};
use crate::openapi::{AuthErrors, NotFound, QueryErrors};
use crate::AppState;

/// Finished jobs kept for their reports (the oldest are dropped first).
const KEEP_FINISHED: usize = 100;

/// The action that imports `kind`.
fn import_action(kind: SheetKind) -> Action {
    match kind {
        SheetKind::Assets | SheetKind::Sites => Action::FleetImport,
        SheetKind::Customers | SheetKind::Contracts => Action::OfficeImport,
    }
}

/// The action that exports `kind`.
fn export_action(kind: SheetKind) -> Action {
    match kind {
        SheetKind::Assets | SheetKind::Sites => Action::FleetExport,
        SheetKind::Customers | SheetKind::Contracts => Action::OfficeExport,
    }
}

/// The list `name` names, once `user` may do `action_for` it: 403 when they may not, and
/// also for a list that does not exist when they may do it for none (the route does not tell
/// them which lists exist); 404 for an unknown list otherwise.
fn authorised_kind(
    user: &CurrentUser,
    name: &str,
    action_for: fn(SheetKind) -> Action,
) -> ApiResult<SheetKind> {
    match SheetKind::parse(name) {
        Some(kind) => {
            user.require(action_for(kind))?;
            Ok(kind)
        }
        None => {
            if !SheetKind::ALL
                .iter()
                .any(|k| user.0.role.may(action_for(*k)))
            {
                user.require(action_for(SheetKind::Assets))?;
            }
            Err(ApiError::not_found(format!("list `{name}`")))
        }
    }
}

/// Query of an import.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// `dry_run` (the default: check and report, write nothing), `all_or_nothing` or `per_row`.
    pub mode: Option<String>,
    /// Column mapping over the defaults by header name: `column=field,column=field`; `column=`
    /// skips a column. Also accepted as a multipart part `mapping`.
    pub mapping: Option<String>,
    /// `true`: answer 202 with the job at once and import in the background; follow it at
    /// `GET /api/v1/imports/{kind}/jobs/{id}`.
    pub background: Option<bool>,
}

/// Import a list from a spreadsheet: `multipart/form-data` with a part `file` (`.csv` UTF-8 or
/// `.xlsx`, at most 10 MiB and 20,000 rows; the first row is the header). The answer is the
/// report: rows created, unchanged (their key exists: re-importing changes nothing) and
/// refused, each refusal with its row, column and reason. An `all_or_nothing` import with a bad
/// row writes nothing and answers 422 `import_rows_rejected` with the report as `detail`.
#[utoipa::path(post, path = "/api/v1/imports/{kind}", tag = "spreadsheets", security(("bearer" = []), ("session" = [])),
    params(("kind" = String, Path, example = "assets", description = "`assets`, `sites`, `customers` or `contracts`"), ImportParams),
    request_body(content_type = "multipart/form-data", description = "`file` (CSV or XLSX), `mapping`?"),
    responses((status = 200, body = ImportReport, description = "The report (a dry run wrote nothing)"),
        (status = 202, body = ImportJob, description = "`background=true`: the job, running"),
        AuthErrors, NotFound, QueryErrors,
        (status = 400, body = Problem, description = "unreadable multipart"),
        (status = 413, body = Problem, description = "too large a file, too many rows, or a zip bomb (`spreadsheet_too_large`)"),
        (status = 415, body = Problem, description = "not the spreadsheet its name says, or neither CSV nor XLSX (`unsupported_spreadsheet`)"),
        (status = 422, body = Problem, description = "no `file` part, a CSV not in UTF-8 (`spreadsheet_encoding`), a formula (`spreadsheet_formula`), a missing column or bad mapping (`spreadsheet_columns`), or bad rows in an all-or-nothing import (`import_rows_rejected`, the report as `detail`)")))]
pub async fn import_file(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(kind): ApiPath<String>,
    ApiQuery(params): ApiQuery<ImportParams>,
    req: Request,
) -> ApiResult<Response> {
    let kind = authorised_kind(&user, &kind, import_action)?;
    let mode = match params.mode.as_deref() {
        None => ImportMode::DryRun,
        Some(m) => ImportMode::parse(m)
            .ok_or_else(|| ApiError::field("mode", "must be dry_run, all_or_nothing or per_row"))?,
    };
    if !is_multipart(&req) {
        return Err(ApiError::field(
            "file",
            "send multipart/form-data with the spreadsheet in a part `file`",
        ));
    }
    let [file, mapping_part] = multipart_fields(req, &state, ["file", "mapping"]).await?;
    let file =
        file.ok_or_else(|| ApiError::field("file", "the multipart part `file` is missing"))?;
    let mapping_text = match (params.mapping, mapping_part) {
        (Some(m), _) => m,
        (None, Some(part)) => String::from_utf8(part.bytes.to_vec())
            .map_err(|_| ApiError::field("mapping", "must be UTF-8 text"))?,
        (None, None) => String::new(),
    };
    let request = ImportRequest {
        kind,
        mode,
        mapping: import::mapping::parse_spec(&mapping_text)?,
    };
    let filename = file.filename.unwrap_or_default();
    let bytes = file.bytes;
    let span = tracing::info_span!("import_prepare", kind = kind.as_str(), bytes = bytes.len());
    let prepared = tokio::task::spawn_blocking(move || {
        span.in_scope(|| import::prepare(&filename, &bytes, request))
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "import reader failed");
        ApiError::internal()
    })??;
    if params.background == Some(true) {
        let job = state.imports.start(&state, &user, prepared);
        return Ok((StatusCode::ACCEPTED, Json(job)).into_response());
    }
    let report = import::run(&state.store, &user.actor(), prepared, &|_| {}).await?;
    Ok(answer(report)?.into_response())
}

/// The report, or 422 `import_rows_rejected` for an all-or-nothing import that wrote nothing.
fn answer(report: ImportReport) -> ApiResult<Json<ImportReport>> {
    if report.mode == ImportMode::AllOrNothing && !report.committed {
        let message = format!(
            "{} of {} rows are refused; nothing was imported (the report lists each)",
            report.failed, report.rows
        );
        let detail = serde_json::to_value(&report).map_err(|_| ApiError::internal())?;
        return Err(ApiError::new(ErrorCode::ImportRowsRejected, message).with_detail(detail));
    }
    Ok(Json(report))
}

/// A background import: where it is, and its report once done. Only its starter (and admins)
/// see it; anyone else is told it does not exist.
#[utoipa::path(get, path = "/api/v1/imports/{kind}/jobs/{id}", tag = "spreadsheets", security(("bearer" = []), ("session" = [])),
    params(("kind" = String, Path, example = "assets", description = "The list the job imports"), ("id" = Uuid, Path, description = "The job (the report's id)")),
    responses((status = 200, body = ImportJob), AuthErrors, NotFound))]
pub async fn import_job(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath((kind, id)): ApiPath<(String, Uuid)>,
) -> ApiResult<Json<ImportJob>> {
    let kind = authorised_kind(&user, &kind, import_action)?;
    state
        .imports
        .get(id, kind, &user)
        .map(Json)
        .ok_or_else(|| ApiError::not_found("import job"))
}

/// Export a whole list as a file: `assets.csv`, `customers.xlsx`… with the import's columns, so
/// it imports back unchanged. CSV cells that would run as formulas are prefixed with `'`.
/// Each export is recorded in the audit log (`export.run`).
#[utoipa::path(get, path = "/api/v1/exports/{file}", tag = "spreadsheets", security(("bearer" = []), ("session" = [])),
    params(("file" = String, Path, example = "assets.csv", description = "`<kind>.<format>`: `assets`, `sites`, `customers` or `contracts`; `csv` or `xlsx`")),
    responses((status = 200, description = "The file", content_type = "text/csv",
            headers(("content-disposition" = String))),
        AuthErrors, NotFound))]
pub async fn export_file(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(file): ApiPath<String>,
) -> ApiResult<Response> {
    let (name, format) = file.rsplit_once('.').unwrap_or((file.as_str(), ""));
    let kind = authorised_kind(&user, name, export_action)?;
    let format = SheetFormat::parse(format)
        .ok_or_else(|| ApiError::not_found(format!("export `{file}` (csv or xlsx)")))?;
    let span = tracing::info_span!("export", kind = kind.as_str(), format = format.as_str());
    let out = domain::export::export(&state.store, &user.actor(), kind, format)
        .instrument(span)
        .await?;
    let mut resp = out.bytes.into_response();
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(out.content_type));
    // The name is ours (`<kind>-<date>.<ext>`): plain ASCII.
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", out.filename)) {
        h.insert(CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// One job: who started it, and its live row counter.
struct Entry {
    owner: Uuid,
    job: ImportJob,
    done: Arc<AtomicU64>,
}

/// This process's background imports (a job lives where it runs: a client polls the process
/// it posted to; they end with the process, an unfinished one rolled back or, `per_row`, with
/// the chunks committed so far).
#[derive(Default)]
pub struct ImportJobs {
    jobs: Mutex<HashMap<Uuid, Entry>>,
}

impl ImportJobs {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Entry>> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts `prepared` in the background as `user`; returns the job as it starts.
    fn start(&self, state: &AppState, user: &CurrentUser, prepared: Prepared) -> ImportJob {
        let job = ImportJob {
            id: prepared.id(),
            kind: prepared.kind(),
            mode: prepared.mode(),
            state: ImportJobState::Running,
            rows_done: 0,
            rows_total: prepared.rows(),
            started_at: domain::clock::now(),
            finished_at: None,
            report: None,
            error: None,
        };
        let done = Arc::new(AtomicU64::new(0));
        {
            let mut jobs = self.lock();
            prune(&mut jobs);
            jobs.insert(
                job.id,
                Entry {
                    owner: user.0.id,
                    job: job.clone(),
                    done: done.clone(),
                },
            );
        }
        let state = state.clone();
        let actor: Actor = user.actor();
        let id = job.id;
        let span = tracing::info_span!("import_job", %id);
        tokio::spawn(
            async move {
                let counter = done.clone();
                let progress = move |n: u64| counter.store(n, Ordering::Relaxed);
                let result = import::run(&state.store, &actor, prepared, &progress).await;
                let mut jobs = state.imports.lock();
                if let Some(entry) = jobs.get_mut(&id) {
                    entry.job.finished_at = Some(domain::clock::now());
                    match result {
                        Ok(report) => {
                            entry.job.state = ImportJobState::Done;
                            entry.job.report = Some(report);
                        }
                        Err(e) => {
                            let e = ApiError::from(e);
                            entry.job.state = ImportJobState::Failed;
                            entry.job.error = serde_json::to_value(Problem {
                                error: e.code,
                                message: e.message,
                                fields: e.fields,
                                detail: e.detail,
                            })
                            .ok();
                        }
                    }
                }
            }
            .instrument(span),
        );
        job
    }

    /// The job `id` of `kind`, as `user` may see it.
    fn get(&self, id: Uuid, kind: SheetKind, user: &CurrentUser) -> Option<ImportJob> {
        let jobs = self.lock();
        let entry = jobs.get(&id)?;
        let mine = entry.owner == user.0.id || user.0.role == mobile_shared::Role::Admin;
        if !mine || entry.job.kind != kind {
            return None;
        }
        let mut job = entry.job.clone();
        job.rows_done = entry.done.load(Ordering::Relaxed);
        Some(job)
    }
}

/// Drops the oldest finished jobs beyond [`KEEP_FINISHED`].
fn prune(jobs: &mut HashMap<Uuid, Entry>) {
    let mut finished: Vec<(chrono::DateTime<chrono::Utc>, Uuid)> = jobs
        .values()
        .filter_map(|e| e.job.finished_at.map(|at| (at, e.job.id)))
        .collect();
    if finished.len() < KEEP_FINISHED {
        return;
    }
    finished.sort();
    for (_, id) in finished.iter().take(finished.len() + 1 - KEEP_FINISHED) {
        jobs.remove(id);
    }
}
