//! The layers around every route: request ids, a tracing span per request, panic catching,
//! timeouts, metrics, and turning any non-JSON error response (from routing, limits or
//! timeouts) into the one JSON problem format.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::{metrics, AppState};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub(crate) fn wrap(routes: Router<AppState>, state: AppState) -> Router {
    let timeout = state.config.request_timeout;
    let metrics_state = state.metrics.clone();
    routes
        .layer(axum::middleware::from_fn_with_state(
            metrics_state,
            metrics::record,
        ))
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(make_span))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(axum::middleware::map_response(problem_json))
                .layer(CatchPanicLayer::custom(|_| {
                    tracing::error!("handler panicked");
                    ApiError::internal().into_response()
                }))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    clamp(timeout),
                )),
        )
}

fn clamp(d: Duration) -> Duration {
    d.max(Duration::from_millis(100))
}

fn make_span(req: &Request<Body>) -> tracing::Span {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = %request_id,
        user = tracing::field::Empty,
    )
}

/// Gives error responses made outside the handlers (405, 408, 413…) the JSON problem body.
async fn problem_json<B>(resp: axum::http::Response<B>) -> Response
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let resp = resp.map(Body::new);
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let mut fresh = ApiError::for_status(status).into_response();
    // Keep headers such as `Allow` on a 405.
    for (name, value) in resp.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            fresh.headers_mut().insert(name.clone(), value.clone());
        }
    }
    fresh
}

/// Unknown routes.
pub(crate) async fn not_found() -> ApiError {
    ApiError::for_status(StatusCode::NOT_FOUND)
}
