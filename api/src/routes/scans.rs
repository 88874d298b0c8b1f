//! Field commands from phones: one command (JSON, or multipart with a photo), a batch of queued
//! offline commands, photo uploads, and an asset's field history.

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use domain::{photos, scans};
use mobile_shared::scan::{
    BatchResults, CommandBatch, CommandResult, CommandStatus, FieldCommand, PhotoStored,
};
use mobile_shared::wire::Problem;
use mobile_shared::{Action, ErrorCode};
use qr_decode::{self as qr, DecodeLimits, QrError};
use serde::Deserialize;
use tracing::Instrument;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::{is_multipart, multipart_parts, parse_json, ApiJson, ApiPath, ApiQuery};
use crate::openapi::{AuthErrors, JsonBodyErrors, NotFound, QueryErrors, Unauthenticated};
use crate::AppState;

fn decode_limits(state: &AppState) -> DecodeLimits {
    DecodeLimits {
        max_bytes: state.config.photo_limit,
        ..DecodeLimits::default()
    }
}

/// Image errors as HTTP: too big is 413, anything else unreadable is 422.
fn image_error(e: QrError) -> ApiError {
    match e {
        QrError::TooLarge { .. } => ApiError::new(ErrorCode::PayloadTooLarge, e.to_string()),
        QrError::TooManyPixels { .. } => ApiError::new(
            ErrorCode::ImageTooLarge,
            format!("{e} (decompression-bomb guard)"),
        ),
        QrError::UnsupportedFormat => ApiError::new(
            ErrorCode::UnsupportedImage,
            "the photo must be a JPEG, PNG or WebP image",
        ),
        QrError::Corrupt(why) => ApiError::new(
            ErrorCode::CorruptImage,
            format!("the photo could not be read: {why}"),
        ),
    }
}

/// Decodes QR codes on the blocking pool, at most `decode_permits` at once.
async fn decode_photo(state: &AppState, bytes: Bytes) -> Result<Vec<String>, ApiError> {
    let _permit = state
        .decode_permits
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| ApiError::internal())?;
    let limits = decode_limits(state);
    let codes = tokio::task::spawn_blocking(move || qr::decode_image_bytes(&bytes, &limits))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "QR decode task failed");
            ApiError::internal()
        })?
        .map_err(image_error)?;
    Ok(codes.into_iter().map(|c| c.text).collect())
}

/// Checks the bytes are an acceptable image and stores them; returns the key.
async fn keep_photo(state: &AppState, user: &CurrentUser, bytes: Bytes) -> ApiResult<PhotoStored> {
    let mime = qr::probe(&bytes, &decode_limits(state)).map_err(image_error)?;
    Ok(photos::store(
        &state.store,
        state.blobs.as_ref(),
        &user.actor(),
        bytes.to_vec(),
        mime,
    )
    .await?)
}

/// Applies a command as the phone sent it: no photo came with it to decode or store.
async fn apply_as_sent(
    state: &AppState,
    user: &CurrentUser,
    cmd: &FieldCommand,
) -> ApiResult<CommandResult> {
    Ok(scans::apply(
        &state.store,
        &state.config.scan_policy,
        &user.actor(),
        cmd,
        None,
        vec![],
    )
    .await?)
}

/// A rejected single command becomes an HTTP error whose `detail` is the full result (with the
/// asset's current state), with the same code a batch answers the command with. A replay of a
/// rejected command (answered `duplicate`, with the stored error) is the same HTTP error again.
fn result_response(result: CommandResult) -> ApiResult<Json<CommandResult>> {
    let Some(err) = result
        .error
        .clone()
        .filter(|_| result.status != CommandStatus::Applied)
    else {
        return Ok(Json(result));
    };
    Err(ApiError {
        fields: err.fields,
        detail: serde_json::to_value(&result).ok(),
        ..ApiError::new(err.error, err.message)
    })
}

/// Apply one field command: JSON, or `multipart/form-data` with a part `command` (the JSON) and
/// a part `photo`. Without `code` and `asset_id`, the photo is decoded (QR) to find the asset.
///
/// `start_work` / `complete_work` work the asset's work order (`work_order_id`, or its one
/// active order): start puts it in progress (an available asset into maintenance); complete
/// records `engine_hours`, `notes` and the photos on the order, the service under its plan, and
/// takes the asset out of maintenance. The answer's `work_order` is the order after. A `return`
/// whose inspection failed (`inspection_passed: false` or `condition: damaged`) also opens a
/// repair order linked to the command (`work_order.scan_event_id`), or joins the asset's active
/// unplanned order.
///
/// A `deliver` goes on hire under `contract_line_id` (from `GET /api/v1/delivery/open-lines`)
/// or the customer's open line for the asset; the answer's `on_hire` is the period it opened,
/// and a `return`'s the period it closed.
#[utoipa::path(post, path = "/api/v1/scans", tag = "scans", security(("bearer" = [])),
    request_body(content = FieldCommand, description = "JSON, or multipart with `command` + `photo`"),
    responses((status = 200, body = CommandResult, description = "applied, or duplicate (the original answer)"),
        AuthErrors, JsonBodyErrors,
        (status = 400, body = Problem, description = "the body is not valid JSON, or unreadable multipart"),
        (status = 404, body = Problem, description = "no asset for the code, id or photo, or an unknown referenced record"),
        (status = 409, body = Problem, description = "illegal transition or superseded; `detail.asset` is the current state. Work-order actions: `no_active_work_order`, `ambiguous_work_order` (`detail.error.detail.work_order_ids` to choose from), `work_order_closed`. Deliveries under a contract line: `contract_not_open`, `contract_customer_mismatch`, `contract_line_full`"),
        (status = 413, body = Problem, description = "the body or the photo is too large"),
        (status = 422, body = Problem, description = "invalid fields, unreadable image, or `no_code_found`")))]
pub async fn post_scan(
    State(state): State<AppState>,
    user: CurrentUser,
    req: Request,
) -> ApiResult<Json<CommandResult>> {
    user.require(Action::FieldCommand)?;
    if !is_multipart(&req) {
        let ApiJson(cmd) = ApiJson::<FieldCommand>::from_request(req, &state).await?;
        return result_response(apply_as_sent(&state, &user, &cmd).await?);
    }
    let [command, photo] = multipart_parts(req, &state, ["command", "photo"]).await?;
    let command = command
        .ok_or_else(|| ApiError::field("command", "the multipart part `command` is missing"))?;
    let cmd: FieldCommand = parse_json(&command)?;
    let Some(photo) = photo else {
        return result_response(apply_as_sent(&state, &user, &cmd).await?);
    };
    // A replay is answered from the stored result, before any decoding or storing of its photo.
    if let Some(previous) = scans::stored(&state.store, cmd.id).await? {
        return result_response(previous);
    }
    let needs_decode = cmd.code.is_none() && cmd.asset_id.is_none();
    let decoded = if needs_decode {
        Some(decode_photo(&state, photo.clone()).await?)
    } else {
        None
    };
    if decoded.as_ref().is_some_and(Vec::is_empty) {
        // Keep the photo as evidence if asked, and say where it is.
        let kept = if cmd.keep_photo {
            Some(keep_photo(&state, &user, photo).await?)
        } else {
            None
        };
        return Err(ApiError {
            detail: kept.map(|k| serde_json::json!({ "photo": k })),
            ..ApiError::new(
                ErrorCode::NoCodeFound,
                "no QR code could be read in the photo; retake it closer and in focus, or type the code",
            )
        });
    }
    let stored = keep_photo(&state, &user, photo).await?;
    let result = scans::apply(
        &state.store,
        &state.config.scan_policy,
        &user.actor(),
        &cmd,
        decoded,
        vec![stored.sha256],
    )
    .await?;
    result_response(result)
}

/// Apply commands queued offline, in device-time order, exactly once each. Answers per command,
/// in the order given.
#[utoipa::path(post, path = "/api/v1/scans/batch", tag = "scans", security(("bearer" = [])),
    request_body = CommandBatch,
    responses((status = 200, body = BatchResults), AuthErrors, JsonBodyErrors))]
pub async fn post_batch(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(batch): ApiJson<CommandBatch>,
) -> ApiResult<Json<BatchResults>> {
    user.require(Action::FieldCommand)?;
    let span = tracing::info_span!("scan_batch", commands = batch.commands.len());
    let results = scans::apply_batch(
        &state.store,
        &state.config.scan_policy,
        &user.actor(),
        &batch.commands,
    )
    .instrument(span)
    .await?;
    Ok(Json(BatchResults { results }))
}

/// Upload a photo (JPEG, PNG, WebP) to reference from commands by its SHA-256. The body is the
/// image itself, or multipart with a part `photo`.
#[utoipa::path(post, path = "/api/v1/photos", tag = "scans", security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "image/jpeg"),
    responses((status = 201, body = PhotoStored), AuthErrors,
        (status = 400, body = Problem, description = "unreadable body or multipart"),
        (status = 413, body = Problem, description = "the photo is too large"),
        (status = 422, body = Problem, description = "not a JPEG, PNG or WebP image, or corrupt")))]
pub async fn upload_photo(
    State(state): State<AppState>,
    user: CurrentUser,
    req: Request,
) -> ApiResult<(StatusCode, Json<PhotoStored>)> {
    user.require(Action::FieldCommand)?;
    let bytes = if is_multipart(&req) {
        let [photo] = multipart_parts(req, &state, ["photo"]).await?;
        photo.ok_or_else(|| ApiError::field("photo", "the multipart part `photo` is missing"))?
    } else {
        Bytes::from_request(req, &state)
            .await
            .map_err(|e| ApiError::for_status(e.status()))?
    };
    let stored = keep_photo(&state, &user, bytes).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// A stored photo's bytes, for the console's field-scan thumbnails. Photos are
/// content-addressed, so a response never changes: the ETag is the hash and browsers may keep
/// it for a year (`private`: it was served to a signed-in user). Readable by whoever may read
/// an asset's field history (`AssetRead`).
#[utoipa::path(get, path = "/api/v1/photos/{sha256}", tag = "scans", security(("bearer" = []), ("session" = [])),
    params(("sha256" = String, Path, description = "The photo's SHA-256, 64 lower-case hex digits")),
    responses((status = 200, description = "The image (`image/jpeg`, `image/png` or `image/webp`)", content_type = "image/*",
            headers(("etag" = String), ("cache-control" = String))),
        (status = 304, description = "`If-None-Match` named this photo"),
        Unauthenticated, NotFound,
        (status = 422, body = Problem, description = "`sha256` is not 64 lower-case hex digits")))]
pub async fn get_photo(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(sha256): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    user.require(Action::AssetRead)?;
    let etag = format!("\"{sha256}\"");
    let cached = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    // Checked (and found) before a 304, so a revalidation never confirms a photo that is gone.
    let photo = photos::get(&state.store, state.blobs.as_ref(), &sha256).await?;
    let mut resp = if cached {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        photo.bytes.into_response()
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&photo.content_type) {
        h.insert(CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(ETAG, v);
    }
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    Ok(resp)
}

/// Most entries one field-history request returns.
const MAX_HISTORY: u32 = 1000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// At most this many entries, newest first (1-1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

impl HistoryQuery {
    /// The requested page size; out of range is a 422, as on every other list.
    fn limit(&self) -> Result<u32, ApiError> {
        match self.limit.unwrap_or(100) {
            n @ 1..=MAX_HISTORY => Ok(n),
            _ => Err(ApiError::field("limit", format!("must be 1-{MAX_HISTORY}"))),
        }
    }
}

/// The field commands recorded for an asset, newest first (applied and rejected).
#[utoipa::path(get, path = "/api/v1/assets/{id}/field-history", tag = "scans", security(("bearer" = [])),
    params(("id" = Uuid, Path), HistoryQuery),
    responses((status = 200, body = Vec<Object>), Unauthenticated, NotFound, QueryErrors))]
pub async fn field_history(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> ApiResult<Json<Vec<serde_json::Value>>> {
    user.require(Action::AssetRead)?;
    Ok(Json(scans::history(&state.store, id, q.limit()?).await?))
}
