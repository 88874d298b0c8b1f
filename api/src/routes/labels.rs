//! Printable asset labels: one label as SVG or PNG, and A4 sheets of 3 × 8 labels as SVG.
//! Anyone signed in may print labels (`asset.read`): printing reveals nothing the asset list
//! does not. Rendering itself is in the `asset_labels` crate.

use asset_labels::{self as labels, Label, LabelError, LABELS_PER_SHEET};
use axum::extract::State;
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use domain::assets::{self, AssetFilter};
use domain::{DomainError, PageRequest};
use futures::StreamExt;
use mobile_shared::wire::{Asset, Problem};
use mobile_shared::{Action, ErrorCode};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, ApiQuery};
use crate::openapi::{NotFound, Unauthenticated};
use crate::AppState;

/// Most labels one sheet request may select: ten A4 pages. Bigger print runs are split by the
/// caller, which keeps a request's database and rendering work bounded.
pub const MAX_SHEET_LABELS: usize = 240;
/// How many assets a sheet request loads at once.
const LOAD_CONCURRENCY: usize = 8;
/// Page size when scanning assets for a filter (the list maximum).
const SCAN_PAGE: u32 = 500;

const TOTAL_PAGES: HeaderName = HeaderName::from_static("x-total-pages");
const TOTAL_LABELS: HeaderName = HeaderName::from_static("x-total-labels");

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PngQuery {
    /// Width in pixels, 200–2000 (default 700, i.e. 10 px/mm); the height follows the
    /// 70 × 37 mm shape. Very long label URLs need more than 200.
    #[param(minimum = 200, maximum = 2000)]
    pub size: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SheetQuery {
    /// Comma-separated asset ids, printed in this order; an id listed twice prints twice.
    /// At most 240.
    pub ids: Option<String>,
    /// Instead of `ids`: the assets whose code starts with this (case-insensitive), in code
    /// order. Combines with `site_id`.
    pub code_prefix: Option<String>,
    /// Instead of `ids`: the assets at this site, in code order.
    pub site_id: Option<Uuid>,
    /// Page to return, from 1 (default 1); 24 labels a page. `X-Total-Pages` tells how many.
    #[param(minimum = 1)]
    pub page: Option<u32>,
}

/// The label of one asset as SVG, 70 × 37 mm: a QR code of `<public_url>/a/<CODE>`, the code,
/// the name and the company name.
#[utoipa::path(get, path = "/api/v1/assets/{id}/label.svg", tag = "assets", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "SVG label, 70 × 37 mm", content_type = "image/svg+xml", body = String),
        Unauthenticated, NotFound))]
pub async fn label_svg(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Response> {
    user.require(Action::AssetRead)?;
    let asset = assets::get(&state.store, id).await?;
    let svg = labels::label_svg(&label_of(&state, &asset)).map_err(render_error)?;
    Ok(image_response(
        "image/svg+xml",
        svg.into_bytes(),
        &file_name(&asset.code, "svg"),
    ))
}

/// The label of one asset as PNG (black and white, for label printers and previews).
#[utoipa::path(get, path = "/api/v1/assets/{id}/label.png", tag = "assets", security(("bearer" = [])),
    params(("id" = Uuid, Path), PngQuery),
    responses(
        (status = 200, description = "PNG label, 70:37", content_type = "image/png", body = Vec<u8>),
        Unauthenticated, NotFound,
        (status = 422, body = Problem, description = "`size` malformed, out of range, or too small for this label's URL")))]
pub async fn label_png(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<PngQuery>,
) -> ApiResult<Response> {
    user.require(Action::AssetRead)?;
    let size = q.size.unwrap_or(labels::PNG_DEFAULT_WIDTH);
    if !(labels::PNG_MIN_WIDTH..=labels::PNG_MAX_WIDTH).contains(&size) {
        return Err(ApiError::field(
            "size",
            format!(
                "must be between {} and {}",
                labels::PNG_MIN_WIDTH,
                labels::PNG_MAX_WIDTH
            ),
        ));
    }
    let asset = assets::get(&state.store, id).await?;
    let label = label_of(&state, &asset);
    // Rasterising and compressing a 2000 px image takes some milliseconds of CPU: keep it off
    // the async workers.
    let png = tokio::task::spawn_blocking(move || labels::label_png(&label, size))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "label rendering task failed");
            ApiError::internal()
        })?
        .map_err(render_error)?;
    Ok(image_response(
        "image/png",
        png,
        &file_name(&asset.code, "png"),
    ))
}

/// An A4 sheet (210 × 297 mm) of 3 × 8 labels of 70 × 37 mm, as SVG. Choose the assets by
/// `ids`, or by `code_prefix` and/or `site_id`; at most 240. More than 24 make several pages:
/// ask for each with `page`; `X-Total-Pages` and `X-Total-Labels` give the totals.
#[utoipa::path(get, path = "/api/v1/labels/sheet.svg", tag = "assets", security(("bearer" = [])),
    params(SheetQuery),
    responses(
        (status = 200, description = "One A4 page of labels", content_type = "image/svg+xml", body = String,
            headers(
                ("x-total-pages" = u32, description = "Pages the selection fills"),
                ("x-total-labels" = u32, description = "Labels the selection holds"))),
        Unauthenticated,
        (status = 404, body = Problem, description = "unknown ids (listed in `detail.unknown_ids`), or nothing matches the filter"),
        (status = 422, body = Problem, description = "a malformed parameter, bad ids, no selection, more than 240 assets, or page out of range")))]
pub async fn sheet_svg(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(q): ApiQuery<SheetQuery>,
) -> ApiResult<Response> {
    user.require(Action::AssetRead)?;
    let assets = select(&state, &q).await?;
    let total_pages = labels::sheet_pages(assets.len());
    let page = q.page.unwrap_or(1) as usize;
    if page == 0 || page > total_pages {
        return Err(ApiError::field(
            "page",
            format!("must be between 1 and {total_pages}"),
        ));
    }
    let start = (page - 1) * LABELS_PER_SHEET;
    let on_page: Vec<Label> = assets
        .iter()
        .skip(start)
        .take(LABELS_PER_SHEET)
        .map(|a| label_of(&state, a))
        .collect();
    let svg = labels::sheet_svg(&on_page).map_err(render_error)?;
    let mut resp = image_response(
        "image/svg+xml",
        svg.into_bytes(),
        &format!("labels-page-{page}-of-{total_pages}.svg"),
    );
    let headers = resp.headers_mut();
    headers.insert(TOTAL_PAGES, HeaderValue::from(total_pages));
    headers.insert(TOTAL_LABELS, HeaderValue::from(assets.len()));
    Ok(resp)
}

/// The assets a sheet request selects, in print order.
async fn select(state: &AppState, q: &SheetQuery) -> ApiResult<Vec<Asset>> {
    let prefix = q
        .code_prefix
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_ascii_uppercase);
    let filtered = prefix.is_some() || q.site_id.is_some();
    match (&q.ids, filtered) {
        (Some(ids), false) => by_ids(state, ids).await,
        (None, true) => by_filter(state, prefix, q.site_id).await,
        (Some(_), true) => Err(ApiError::field(
            "ids",
            "give either `ids` or `code_prefix`/`site_id`, not both",
        )),
        (None, false) => Err(ApiError::field(
            "ids",
            "give `ids` (comma-separated asset ids) or `code_prefix`/`site_id`",
        )),
    }
}

/// The listed assets, in the order listed. Every unknown id is named in one 404, so a
/// stale print list can be fixed in one go.
async fn by_ids(state: &AppState, raw: &str) -> ApiResult<Vec<Asset>> {
    let mut ids = Vec::new();
    let mut invalid = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match Uuid::parse_str(part) {
            Ok(id) => ids.push(id),
            Err(_) => invalid.push(part.to_owned()),
        }
    }
    if !invalid.is_empty() {
        return Err(ApiError::field(
            "ids",
            format!("not asset ids: {}", shorten(&invalid)),
        ));
    }
    if ids.is_empty() {
        return Err(ApiError::field("ids", "must list at least one asset id"));
    }
    if ids.len() > MAX_SHEET_LABELS {
        return Err(ApiError::field(
            "ids",
            format!("at most {MAX_SHEET_LABELS} labels per request"),
        ));
    }
    let mut distinct: Vec<Uuid> = Vec::with_capacity(ids.len());
    for id in &ids {
        if !distinct.contains(id) {
            distinct.push(*id);
        }
    }
    let store = &state.store;
    let loaded: Vec<(Uuid, Result<Asset, DomainError>)> = futures::stream::iter(distinct)
        .map(|id| async move { (id, assets::get(store, id).await) })
        .buffered(LOAD_CONCURRENCY)
        .collect()
        .await;
    let mut found = Vec::with_capacity(loaded.len());
    let mut unknown = Vec::new();
    for (id, result) in loaded {
        match result {
            Ok(asset) => found.push(asset),
            Err(DomainError::NotFound { .. }) => unknown.push(id),
            Err(e) => return Err(e.into()),
        }
    }
    if !unknown.is_empty() {
        let listed: Vec<String> = unknown.iter().map(Uuid::to_string).collect();
        return Err(ApiError {
            detail: Some(json!({ "unknown_ids": unknown })),
            ..ApiError::new(
                ErrorCode::NotFound,
                format!("assets not found: {}", shorten(&listed)),
            )
        });
    }
    Ok(ids
        .iter()
        .filter_map(|id| found.iter().find(|a| a.id == *id).cloned())
        .collect())
}

/// The assets matching the filter, by code. The code prefix is searched with the list's text
/// filter (which also matches names and serials) and then checked on the code itself.
async fn by_filter(
    state: &AppState,
    prefix: Option<String>,
    site_id: Option<Uuid>,
) -> ApiResult<Vec<Asset>> {
    let filter = AssetFilter {
        site_id,
        q: prefix.clone(),
        ..AssetFilter::default()
    };
    let mut out: Vec<Asset> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = PageRequest::new(Some(SCAN_PAGE), cursor.as_deref())?;
        let batch = assets::list(&state.store, &filter, page).await?;
        out.extend(
            batch
                .items
                .into_iter()
                .filter(|a| prefix.as_deref().is_none_or(|p| a.code.starts_with(p))),
        );
        if out.len() > MAX_SHEET_LABELS {
            return Err(ApiError::new(
                ErrorCode::TooManyLabels,
                format!(
                    "more than {MAX_SHEET_LABELS} assets match; narrow `code_prefix`/`site_id` or pass `ids`"
                ),
            ));
        }
        match batch.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    if out.is_empty() {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            "no assets match the filter",
        ));
    }
    out.sort_by(|a, b| a.code.cmp(&b.code));
    Ok(out)
}

/// The first ten of `items`, comma-separated, with a count of the rest.
fn shorten(items: &[String]) -> String {
    const SHOWN: usize = 10;
    let mut s = items
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        s.push_str(&format!(" and {} more", items.len() - SHOWN));
    }
    s
}

fn label_of(state: &AppState, asset: &Asset) -> Label {
    Label::new(
        &state.config.public_url,
        &state.config.company_name,
        &asset.code,
        &asset.name,
    )
}

fn render_error(e: LabelError) -> ApiError {
    match e {
        LabelError::TooSmall { min_width } => ApiError::field(
            "size",
            format!("must be at least {min_width} for this label"),
        ),
        e => {
            tracing::error!(error = %e, "label rendering failed");
            ApiError::internal()
        }
    }
}

/// `label-<code>.<ext>` with anything but letters, digits, `-`, `_` and `.` made `_` (asset
/// codes may hold `/`, which no file name can).
fn file_name(code: &str, ext: &str) -> String {
    let safe: String = code
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("label-{safe}.{ext}")
}

/// A rendered image. Labels are cheap to render and change when the asset is renamed, so
/// nothing caches them. SVG can carry script: the generated one never does, and the policy
/// makes sure a browser would not run any if escaping were ever wrong.
fn image_response(content_type: &'static str, body: Vec<u8>, file_name: &str) -> Response {
    let mut resp = body.into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{file_name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}
