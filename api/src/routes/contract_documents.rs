//! The contract archive: signed PDFs uploaded to a contract, listed, searched and downloaded.
//! Uploading is the office's (`ContractWrite`); reading the archive — even its list, which
//! names customers and signing days — is `ContractDocumentRead` (office, finance, legal).

use axum::extract::{Request, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, ETAG};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::NaiveDate;
use domain::contract_documents::{self, Upload};
use mobile_shared::documents::{ContractDocument, DocumentSearch};
use mobile_shared::wire::{Page, Problem};
use mobile_shared::Action;
use tracing::Instrument;
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::{is_multipart, multipart_fields, ApiPath, ApiQuery, PageParams, Paging};
use crate::openapi::{AuthErrors, NotFound, QueryErrors};
use crate::AppState;

/// Upload a signed document (PDF) to a contract: `multipart/form-data` with a part `file` (the
/// PDF, with its file name) and optional text parts `title` and `signed_on` (YYYY-MM-DD). The
/// answer names its SHA-256; the same file twice on one contract is 409.
#[utoipa::path(post, path = "/api/v1/contracts/{id}/documents", tag = "contracts", security(("bearer" = []), ("session" = [])),
    params(("id" = Uuid, Path, description = "The contract")),
    request_body(content_type = "multipart/form-data", description = "`file` (PDF), `title`?, `signed_on`?"),
    responses((status = 201, body = ContractDocument), AuthErrors, NotFound,
        (status = 400, body = Problem, description = "not multipart, or unreadable"),
        (status = 409, body = Problem, description = "the contract already holds this file"),
        (status = 413, body = Problem, description = "larger than the archive's limit"),
        (status = 422, body = Problem, description = "not a PDF (`not_a_pdf`), or a bad field")))]
pub async fn upload_document(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    req: Request,
) -> ApiResult<(StatusCode, Json<ContractDocument>)> {
    user.require(Action::ContractWrite)?;
    contract_documents::require_contract(&state.store, id).await?;
    if !is_multipart(&req) {
        return Err(ApiError::field(
            "file",
            "send multipart/form-data with the PDF in a part `file`",
        ));
    }
    let [file, title, signed_on] =
        multipart_fields(req, &state, ["file", "title", "signed_on"]).await?;
    let file =
        file.ok_or_else(|| ApiError::field("file", "the multipart part `file` is missing"))?;
    let text = |part: Option<crate::extract::Part>, name: &str| -> ApiResult<Option<String>> {
        part.map(|p| {
            String::from_utf8(p.bytes.to_vec())
                .map_err(|_| ApiError::field(name, "must be UTF-8 text"))
        })
        .transpose()
    };
    let title = text(title, "title")?;
    let signed_on = text(signed_on, "signed_on")?
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                .map_err(|_| ApiError::field("signed_on", "must be a day, YYYY-MM-DD"))
        })
        .transpose()?;
    let upload = Upload {
        filename: file.filename.unwrap_or_default(),
        bytes: file.bytes.to_vec(),
        title,
        signed_on,
    };
    let span =
        tracing::info_span!("contract_document_upload", contract = %id, bytes = upload.bytes.len());
    let doc = contract_documents::upload(&state.store, &state.archive, &user.actor(), id, upload)
        .instrument(span)
        .await?;
    Ok((StatusCode::CREATED, Json(doc)))
}

/// A contract's documents (metadata; download each by its id).
#[utoipa::path(get, path = "/api/v1/contracts/{id}/documents", tag = "contracts", security(("bearer" = []), ("session" = [])),
    params(("id" = Uuid, Path, description = "The contract")),
    responses((status = 200, body = Vec<ContractDocument>), AuthErrors, NotFound))]
pub async fn list_documents(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<ContractDocument>>> {
    user.require(Action::ContractDocumentRead)?;
    Ok(Json(
        contract_documents::for_contract(&state.store, id).await?,
    ))
}

/// Download a document: the PDF as it was uploaded (`ETag` = its SHA-256). Each download is
/// recorded in the audit log (`contract_document.download`).
#[utoipa::path(get, path = "/api/v1/contracts/{id}/documents/{document_id}", tag = "contracts", security(("bearer" = []), ("session" = [])),
    params(("id" = Uuid, Path, description = "The contract"), ("document_id" = Uuid, Path, description = "The document")),
    responses((status = 200, description = "The PDF", content_type = "application/pdf",
            headers(("etag" = String), ("content-disposition" = String))),
        AuthErrors, NotFound))]
pub async fn download_document(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath((id, document_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Response> {
    user.require(Action::ContractDocumentRead)?;
    let span =
        tracing::info_span!("contract_document_download", contract = %id, document = %document_id);
    let (doc, bytes) =
        contract_documents::download(&state.store, &state.archive, &user.actor(), id, document_id)
            .instrument(span)
            .await?;
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(contract_documents::CONTENT_TYPE),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", doc.sha256)) {
        h.insert(ETAG, v);
    }
    // The stored name is cleaned of quotes and control characters; non-ASCII names go in the
    // RFC 6266 `filename*` form, with a plain ASCII fallback.
    let ascii: String = doc
        .filename
        .chars()
        .map(|c| if c.is_ascii() { c } else { '_' })
        .collect();
    let encoded: String = doc
        .filename
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    )) {
        h.insert(CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// Search the archive by customer, by the code of an asset on the contract, and by signing
/// day.
#[utoipa::path(get, path = "/api/v1/contract-documents", tag = "contracts", security(("bearer" = []), ("session" = [])),
    params(DocumentSearch, PageParams),
    responses((status = 200, body = Page<ContractDocument>), AuthErrors, QueryErrors))]
pub async fn search_documents(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(filter): ApiQuery<DocumentSearch>,
    Paging(page): Paging,
) -> ApiResult<Json<Page<ContractDocument>>> {
    user.require(Action::ContractDocumentRead)?;
    Ok(Json(
        contract_documents::search(&state.store, &filter, page).await?,
    ))
}
