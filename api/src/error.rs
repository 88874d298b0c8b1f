//! The one error type of the API and its mapping to HTTP: every error leaves as
//! `{"error": "<code>", "message": "…", "fields"?: {…}, "detail"?: …}` with a status that means
//! what it says. Causes of 5xx errors are logged here and never sent to the client.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use domain::{DomainError, FieldErrors};
use mobile_shared::wire::Problem;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub fields: Option<FieldErrors>,
    pub detail: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            fields: None,
            detail: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn unauthenticated() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "a valid bearer token is required",
        )
    }

    pub fn forbidden(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("your role may not {what}"),
        )
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn validation(fields: FieldErrors) -> ApiError {
        ApiError {
            fields: Some(fields),
            ..ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "the request has invalid fields",
            )
        }
    }

    pub fn field(name: &str, message: impl Into<String>) -> ApiError {
        ApiError::validation(FieldErrors::from([(name.to_owned(), message.into())]))
    }

    pub fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the server failed to handle the request; it has been logged",
        )
    }

    /// The code a status gets when something below the handlers (routing, timeouts, limits)
    /// produced the response.
    pub fn for_status(status: StatusCode) -> ApiError {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => ("not_found", "no such route"),
            StatusCode::METHOD_NOT_ALLOWED => {
                ("method_not_allowed", "method not allowed on this route")
            }
            StatusCode::REQUEST_TIMEOUT => ("timeout", "the request took too long"),
            StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the request body is too large"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                ("unsupported_media_type", "unsupported content type")
            }
            StatusCode::UNAUTHORIZED => ("unauthenticated", "a valid bearer token is required"),
            StatusCode::FORBIDDEN => ("forbidden", "not allowed"),
            s if s.is_server_error() => {
                ("internal_error", "the server failed to handle the request")
            }
            _ => ("bad_request", "the request could not be handled"),
        };
        ApiError::new(status, code, message)
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::NotFound { entity } => ApiError::not_found(entity),
            DomainError::Conflict {
                code,
                message,
                detail,
            } => ApiError {
                detail,
                ..ApiError::new(StatusCode::CONFLICT, code, message)
            },
            DomainError::Validation(fields) => ApiError::validation(fields),
            DomainError::InvalidReference { field, message } => match field {
                Some(f) => ApiError::field(f, message),
                None => ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_reference",
                    message,
                ),
            },
            DomainError::InvalidCredentials => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "invalid username or password",
            ),
            e if e.is_unavailable() => {
                tracing::error!(error = %e, "database unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is unavailable; try again shortly",
                )
            }
            e => {
                tracing::error!(error = %e, "request failed");
                ApiError::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            error: self.code.to_owned(),
            message: self.message,
            fields: self.fields,
            detail: self.detail,
        };
        let mut resp = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
