//! The one error type of the API and its mapping to HTTP: every error leaves as
//! `{"error": "<code>", "message": "…", "fields"?: {…}, "detail"?: …}` with a status that means
//! what it says. Causes of 5xx errors are logged here and never sent to the client.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use domain::{DomainError, FieldErrors};
use mobile_shared::wire::Problem;
use mobile_shared::ErrorCode;

/// The HTTP status of each error code: the one place where a code gets its status. Exhaustive
/// (no `_` arm), so a new code cannot ship without a decision here.
pub fn status_of(code: ErrorCode) -> StatusCode {
    use ErrorCode::*;
    match code {
        BadRequest | MalformedJson | BadMultipart => StatusCode::BAD_REQUEST,
        Unauthenticated | InvalidCredentials | TwoFactorRequired | InvalidTwoFactorCode => {
            StatusCode::UNAUTHORIZED
        }
        Forbidden | CsrfRejected | TwoFactorEnrolmentRequired => StatusCode::FORBIDDEN,
        TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
        NotFound | AssetNotFound => StatusCode::NOT_FOUND,
        MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        Timeout => StatusCode::REQUEST_TIMEOUT,
        AlreadyExists
        | DuplicateCode
        | CategoryExists
        | DeviceExists
        | UsernameTaken
        | IdentifierInUse
        | VersionConflict
        | IllegalTransition
        | Superseded
        | StocktakeClosed
        | TaskClosed
        | AmbiguousCode
        | ResolutionNotApplicable
        | ServiceAlreadyRecorded
        | WorkOrderOpen
        | WorkOrderClosed
        | NoActiveWorkOrder
        | AmbiguousWorkOrder
        | ComplaintClosed
        | PicklistValueExists
        | BookingConflict
        | RenewalsFrozen
        | AlreadyApproved
        | ApprovalsMissing
        | ContractNotOpen
        | ContractCustomerMismatch
        | ContractLineFull
        | TwoFactorRequiredByPolicy => StatusCode::CONFLICT,
        PayloadTooLarge | ImageTooLarge | SpreadsheetTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        UnsupportedMediaType | UnsupportedSpreadsheet => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ValidationFailed | InvalidReference | UnknownPhoto | UnsupportedImage | NotAPdf
        | CorruptImage | NoCodeFound | TooManyLabels => StatusCode::UNPROCESSABLE_ENTITY,
        SpreadsheetEncoding | SpreadsheetFormula | SpreadsheetColumns | ImportRowsRejected => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        // A code this build does not know never originates here; if one were relayed, the
        // server could not vouch for it.
        InternalError | Unknown => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub fields: Option<FieldErrors>,
    pub detail: Option<serde_json::Value>,
    /// Seconds for a `Retry-After` header (a locked login answers 429 with it).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with the status its code maps to ([`status_of`]).
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status: status_of(code),
            code,
            message: message.into(),
            fields: None,
            detail: None,
            retry_after: None,
        }
    }

    /// Adds machine-readable context (the current state on a conflict, what was kept…).
    pub fn with_detail(self, detail: serde_json::Value) -> ApiError {
        ApiError {
            detail: Some(detail),
            ..self
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::BadRequest, message)
    }

    pub fn unauthenticated() -> ApiError {
        ApiError::new(
            ErrorCode::Unauthenticated,
            "a valid bearer token is required",
        )
    }

    pub fn forbidden(what: &str) -> ApiError {
        ApiError::new(ErrorCode::Forbidden, format!("your role may not {what}"))
    }

    pub fn not_found(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    pub fn validation(fields: FieldErrors) -> ApiError {
        ApiError {
            fields: Some(fields),
            ..ApiError::new(
                ErrorCode::ValidationFailed,
                "the request has invalid fields",
            )
        }
    }

    pub fn field(name: &str, message: impl Into<String>) -> ApiError {
        ApiError::validation(FieldErrors::from([(name.to_owned(), message.into())]))
    }

    pub fn internal() -> ApiError {
        ApiError::new(
            ErrorCode::InternalError,
            "the server failed to handle the request; it has been logged",
        )
    }

    /// A multipart body that could not be read: too large is 413, anything else 400.
    pub fn multipart(e: axum::extract::multipart::MultipartError) -> ApiError {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(ErrorCode::PayloadTooLarge, e.body_text())
        } else {
            ApiError::new(ErrorCode::BadMultipart, e.body_text())
        }
    }

    /// The error for a status that something below the handlers (routing, timeouts, limits)
    /// produced. The status is kept as it is; the code says what it means.
    pub fn for_status(status: StatusCode) -> ApiError {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => (ErrorCode::NotFound, "no such route"),
            StatusCode::METHOD_NOT_ALLOWED => (
                ErrorCode::MethodNotAllowed,
                "method not allowed on this route",
            ),
            StatusCode::REQUEST_TIMEOUT => (ErrorCode::Timeout, "the request took too long"),
            StatusCode::PAYLOAD_TOO_LARGE => {
                (ErrorCode::PayloadTooLarge, "the request body is too large")
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                (ErrorCode::UnsupportedMediaType, "unsupported content type")
            }
            StatusCode::UNAUTHORIZED => (
                ErrorCode::Unauthenticated,
                "a valid bearer token is required",
            ),
            StatusCode::FORBIDDEN => (ErrorCode::Forbidden, "not allowed"),
            s if s.is_server_error() => (
                ErrorCode::InternalError,
                "the server failed to handle the request",
            ),
            _ => (ErrorCode::BadRequest, "the request could not be handled"),
        };
        ApiError {
            status,
            ..ApiError::new(code, message)
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        let code = e.code();
        match e {
            DomainError::Conflict {
                message, detail, ..
            } => ApiError {
                detail,
                ..ApiError::new(code, message)
            },
            DomainError::Validation(fields) => ApiError::validation(fields),
            DomainError::InvalidReference {
                field: Some(f),
                message,
            } => ApiError::field(f, message),
            DomainError::NotFound { .. }
            | DomainError::InvalidReference { .. }
            | DomainError::InvalidCredentials => ApiError::new(code, e.to_string()),
            DomainError::TooManyAttempts { retry_after_secs } => ApiError {
                retry_after: Some(retry_after_secs),
                detail: Some(serde_json::json!({ "retry_after_secs": retry_after_secs })),
                ..ApiError::new(
                    code,
                    "too many failed attempts: try again later (see Retry-After)",
                )
            },
            e if code == ErrorCode::Unavailable => {
                tracing::error!(error = %e, "database unavailable");
                ApiError::new(code, "the database is unavailable; try again shortly")
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
            error: self.code,
            message: self.message,
            fields: self.fields,
            detail: self.detail,
        };
        let mut resp = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_an_error_status() {
        for &code in ErrorCode::ALL {
            let status = status_of(code);
            assert!(
                status.is_client_error() || status.is_server_error(),
                "{code:?} → {status}"
            );
        }
    }

    #[test]
    fn the_server_side_codes_are_the_5xx_ones() {
        for &code in ErrorCode::ALL {
            let server = matches!(
                code,
                ErrorCode::Unavailable | ErrorCode::InternalError | ErrorCode::Unknown
            );
            assert_eq!(status_of(code).is_server_error(), server, "{code:?}");
        }
    }

    #[test]
    fn a_domain_error_keeps_its_code_and_gets_the_mapped_status() {
        let cases = [
            (
                DomainError::conflict(ErrorCode::Superseded, "newer"),
                ErrorCode::Superseded,
                StatusCode::CONFLICT,
            ),
            (
                DomainError::not_found(domain::Entity::Asset),
                ErrorCode::NotFound,
                StatusCode::NOT_FOUND,
            ),
            (
                DomainError::field("name", "must not be empty"),
                ErrorCode::ValidationFailed,
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                DomainError::InvalidReference {
                    field: None,
                    message: "gone".into(),
                },
                ErrorCode::InvalidReference,
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                DomainError::InvalidCredentials,
                ErrorCode::InvalidCredentials,
                StatusCode::UNAUTHORIZED,
            ),
            (
                DomainError::TooManyAttempts {
                    retry_after_secs: 60,
                },
                ErrorCode::TooManyAttempts,
                StatusCode::TOO_MANY_REQUESTS,
            ),
            (
                DomainError::Internal("boom".into()),
                ErrorCode::InternalError,
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        for (domain_error, code, status) in cases {
            let api = ApiError::from(domain_error);
            assert_eq!((api.code, api.status), (code, status));
        }
    }
}
