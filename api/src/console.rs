//! The web console: its two pages and the static files they load, all embedded in the binary
//! from `web/` (page code, i18n catalogues, and the vendored npm files that
//! `scripts/check-vendored` verifies), so no Node.js, CDN or file on disk is needed at run time.
//!
//! Embedding is `rust-embed` with `debug-embed`: the same bytes in debug builds (tests) as in
//! release, a SHA-256 per file computed at build time for the ETag, and the MIME type by
//! extension. Pages are not API routes: they are outside OpenAPI, answer HTML, and a visitor
//! without a valid session cookie gets the login page (never data; the data comes from the
//! API, which checks the role of every call).
//!
//! `/maps/…` serves an operator's own basemap files from `<data_dir>/maps/` (a PMTiles archive,
//! its style JSON, sprites, glyphs) with HTTP range requests, so a yard without internet can
//! still show streets: see [`map_file`].

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION,
    REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rust_embed::RustEmbed;
use tower::ServiceExt;
use tower_http::services::ServeDir;

use crate::auth::{session_user, CurrentUser};
use crate::error::ApiError;
use crate::AppState;

/// Files under `/static/`: page code, styles, catalogues, vendored libraries.
#[derive(RustEmbed)]
#[folder = "../web/"]
#[include = "js/*"]
#[include = "css/*"]
#[include = "i18n/*"]
#[include = "vendor/**/*"]
struct Static;

/// The HTML pages; templated, so not under `/static/`.
#[derive(RustEmbed)]
#[folder = "../web/pages/"]
struct Pages;

/// The console's routes: `/`, `/console`, `/static/{*path}`, `/maps/{*path}`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/console", get(console))
        .route("/static/{*path}", get(static_file))
        .route("/maps/{*path}", get(map_file))
}

/// Folder under the data dir whose files `/maps/…` serves.
pub const MAP_FILES_DIR: &str = "maps";

/// A file of the operator's basemap, for a signed-in user (cookie or bearer; any role: a
/// basemap is not fleet data, but nothing on this server is anonymous).
///
/// A PMTiles archive is one file the browser reads by HTTP range requests (the header and
/// root directory first, then each tile's bytes), so serving it needs no tile server: tower-http's
/// `ServeDir` answers `Range` (206, 416 for an unsatisfiable range), `If-Modified-Since` and
/// `HEAD`, refuses paths that climb out of the folder, and streams from disk without loading a
/// file of gigabytes into memory. Files are revalidated (`no-cache`): an operator may replace
/// the archive under the same name.
async fn map_file(
    State(state): State<AppState>,
    _user: CurrentUser,
    Path(path): Path<String>,
    req: Request,
) -> Response {
    let dir = state.config.data_dir.join(MAP_FILES_DIR);
    // ServeDir resolves the request's own path under `dir`: give it the part after `/maps`.
    let (mut parts, body) = req.into_parts();
    let Ok(uri) = format!("/{}", path.trim_start_matches('/')).parse::<Uri>() else {
        return ApiError::for_status(StatusCode::NOT_FOUND).into_response();
    };
    parts.uri = uri;
    let served = ServeDir::new(dir)
        .append_index_html_on_directories(false)
        .oneshot(Request::from_parts(parts, body))
        .await;
    let mut resp = match served {
        Ok(resp) if resp.status() == StatusCode::NOT_FOUND => {
            return ApiError::for_status(StatusCode::NOT_FOUND).into_response();
        }
        Ok(resp) => resp.map(Body::new),
        Err(never) => match never {},
    };
    let h = resp.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}

/// The login page, or on to the console when the session cookie is valid.
async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if session_user(&state, &headers).await.is_some() {
        let mut resp = StatusCode::SEE_OTHER.into_response();
        resp.headers_mut()
            .insert(LOCATION, HeaderValue::from_static("/console"));
        return resp;
    }
    page(&state, "login.html")
}

/// The console for a valid session; otherwise the login page at the same URL, so the filters
/// in the query string survive signing in (the login script reloads the page).
async fn console(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if session_user(&state, &headers).await.is_some() {
        page(&state, "console.html")
    } else {
        page(&state, "login.html")
    }
}

/// Placeholder in `console.html` for the configured map style (`<meta name="fieldops:map-style">`):
/// configuration reaches the page without an inline script, which the CSP forbids.
const MAP_STYLE_PLACEHOLDER: &str = "{{map_style_url}}";

fn page(state: &AppState, name: &str) -> Response {
    let Some(file) = Pages::get(name) else {
        tracing::error!(name, "page missing from the embedded files");
        return ApiError::internal().into_response();
    };
    let html = String::from_utf8_lossy(&file.data).replace(
        MAP_STYLE_PLACEHOLDER,
        &html_attr(state.config.map_style_url.as_deref().unwrap_or("")),
    );
    let mut resp = html.into_response();
    let h = resp.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // Pages depend on the session: never cached.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    security_headers(h, state.config.map_style_url.as_deref());
    resp
}

/// The Content-Security-Policy of the pages: everything from this server only, no inline
/// script or style. MapLibre needs `blob:` workers (its fallback when a module worker cannot
/// start) and `data:`/`blob:` images; a configured style URL's origin may be fetched from and
/// drawn (tiles, sprites, glyphs of a hosted style).
pub fn content_security_policy(map_style_url: Option<&str>) -> String {
    let extra = map_style_url
        .and_then(origin_of)
        .map(|o| format!(" {o}"))
        .unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:{extra}; \
         font-src 'self'; connect-src 'self'{extra}; worker-src 'self' blob:; child-src 'self' blob:; \
         manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

fn security_headers(h: &mut HeaderMap, map_style_url: Option<&str>) {
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(map_style_url)) {
        h.insert(CONTENT_SECURITY_POLICY, csp);
    }
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
}

/// `scheme://host[:port]` of an absolute http(s) URL; `None` for a path on this server.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let host = rest
        .split(['/', '?', '#'])
        .next()
        .filter(|h| !h.is_empty())?;
    // Only characters of a host and port: nothing that could end the CSP directive.
    host.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        .then(|| format!("{scheme}://{host}"))
}

/// Escapes text for a double-quoted HTML attribute.
fn html_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// One embedded file, with its type, an ETag (SHA-256 of the content) and revalidation: the
/// files are not versioned by name, so browsers ask again each time and get a 304 while
/// unchanged.
async fn static_file(
    State(state): State<AppState>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(file) = Static::get(&path) else {
        return ApiError::for_status(StatusCode::NOT_FOUND).into_response();
    };
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let fresh = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Response::new(Body::from(file.data.into_owned()))
    };
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, content_type(&path, file.metadata.mimetype()));
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        h.insert(ETAG, etag);
    }
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    security_headers(h, state.config.map_style_url.as_deref());
    resp
}

/// The `Content-Type` of a static file. Module scripts must be served as JavaScript (browsers
/// refuse anything else with `nosniff`), whatever the MIME table says of `.mjs`.
fn content_type(path: &str, guessed: &str) -> HeaderValue {
    let value = if path.ends_with(".mjs") || path.ends_with(".js") {
        "text/javascript; charset=utf-8".to_owned()
    } else if guessed.starts_with("text/") || guessed == "application/json" {
        format!("{guessed}; charset=utf-8")
    } else {
        guessed.to_owned()
    };
    HeaderValue::from_str(&value)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn style_origins_are_checked_before_they_enter_the_csp() {
        assert_eq!(
            origin_of("https://tile.example.org/styles/osm.json").as_deref(),
            Some("https://tile.example.org")
        );
        assert_eq!(
            origin_of("http://10.0.0.5:8081/style.json").as_deref(),
            Some("http://10.0.0.5:8081")
        );
        assert_eq!(origin_of("/static/style.json"), None);
        assert_eq!(origin_of("javascript://x"), None);
        assert_eq!(origin_of("https://evil.example; script-src *"), None);
        let csp = content_security_policy(Some("https://tiles.example.org/s.json"));
        assert!(
            csp.contains("connect-src 'self' https://tiles.example.org;"),
            "{csp}"
        );
        assert!(!content_security_policy(None).contains("unsafe"));
    }

    #[test]
    fn every_page_and_catalogue_is_embedded() {
        for page in ["login.html", "console.html"] {
            assert!(Pages::get(page).is_some(), "{page}");
        }
        for file in [
            "i18n/en.json",
            "i18n/zh-CN.json",
            "vendor/maplibre-gl/dist/maplibre-gl.mjs",
            "vendor/pmtiles/dist/pmtiles.js",
            "js/basemap.mjs",
            "js/office.mjs",
            "js/contracts.mjs",
        ] {
            assert!(Static::get(file).is_some(), "{file}");
        }
        assert!(Static::get("package.json").is_none());
        assert!(Static::iter().all(|f| !f.starts_with("node_modules")));
    }
}
