//! The one error type of the domain crate. Every error has a typed wire code
//! ([`DomainError::code`]), which the API maps to an HTTP status in one place; database errors
//! are classified here by their kind, never by constraint name.

use std::collections::BTreeMap;

use mobile_shared::ErrorCode;
use sqlx::error::ErrorKind;

use crate::entity::Entity;

/// Per-field validation messages, keyed by the JSON field name.
pub type FieldErrors = BTreeMap<String, String>;

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error("{entity} not found")]
    NotFound { entity: Entity },

    /// The request conflicts with the current state (duplicate, stale version, illegal
    /// transition). `detail` carries machine-readable context such as the current state.
    #[error("{message}")]
    Conflict {
        code: ErrorCode,
        message: String,
        detail: Option<serde_json::Value>,
    },

    #[error("validation failed")]
    Validation(FieldErrors),

    /// A referenced row does not exist (foreign key).
    #[error("{message}")]
    InvalidReference {
        field: Option<&'static str>,
        message: String,
    },

    #[error("invalid username or password")]
    InvalidCredentials,

    /// Too many failed logins for an account or from an address: locked for
    /// `retry_after_secs` more seconds (`login_throttle`).
    #[error("too many failed attempts; try again in {retry_after_secs} s")]
    TooManyAttempts { retry_after_secs: u64 },

    #[error("configuration: {0}")]
    Config(String),

    #[error("database: {0}")]
    Database(#[source] sqlx::Error),

    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),

    #[error("internal: {0}")]
    Internal(String),
}

impl DomainError {
    /// A validation error on one field.
    pub fn field(name: &str, message: impl Into<String>) -> DomainError {
        let mut f = FieldErrors::new();
        f.insert(name.to_owned(), message.into());
        DomainError::Validation(f)
    }

    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> DomainError {
        DomainError::Conflict {
            code,
            message: message.into(),
            detail: None,
        }
    }

    /// A conflict that also tells the client the current state (`detail`), so it can re-read
    /// and decide without another request.
    pub fn conflict_with(
        code: ErrorCode,
        message: impl Into<String>,
        detail: serde_json::Value,
    ) -> DomainError {
        DomainError::Conflict {
            code,
            message: message.into(),
            detail: Some(detail),
        }
    }

    pub fn not_found(entity: Entity) -> DomainError {
        DomainError::NotFound { entity }
    }

    /// The wire code of this error (the `error` of the problem body).
    pub fn code(&self) -> ErrorCode {
        match self {
            DomainError::NotFound { .. } => ErrorCode::NotFound,
            DomainError::Conflict { code, .. } => *code,
            // A reference error that names its field is reported like any invalid field.
            DomainError::Validation(_) | DomainError::InvalidReference { field: Some(_), .. } => {
                ErrorCode::ValidationFailed
            }
            DomainError::InvalidReference { field: None, .. } => ErrorCode::InvalidReference,
            DomainError::InvalidCredentials => ErrorCode::InvalidCredentials,
            DomainError::TooManyAttempts { .. } => ErrorCode::TooManyAttempts,
            e if e.is_unavailable() => ErrorCode::Unavailable,
            DomainError::Config(_)
            | DomainError::Database(_)
            | DomainError::Migration(_)
            | DomainError::Internal(_) => ErrorCode::InternalError,
        }
    }

    /// Names a unique violation: the generic `already_exists` that any unique index raises
    /// becomes `code` with `message` (built only then); every other error passes through. Use it
    /// as `.map_err(|e| e.unique_as(ErrorCode::CategoryExists, || format!(…)))` on the statement
    /// that can collide, so the client learns which value is taken.
    pub fn unique_as(self, code: ErrorCode, message: impl FnOnce() -> String) -> DomainError {
        match self {
            DomainError::Conflict {
                code: ErrorCode::AlreadyExists,
                ..
            } => DomainError::conflict(code, message()),
            other => other,
        }
    }

    /// Whether this error is transient — the database could not be reached, or a lock,
    /// deadlock or serialisation conflict aborted the transaction — so the same work may succeed
    /// when retried (and must not be blamed on the input).
    pub fn is_unavailable(&self) -> bool {
        match self {
            DomainError::Database(sqlx::Error::PoolTimedOut)
            | DomainError::Database(sqlx::Error::Io(_))
            | DomainError::Database(sqlx::Error::PoolClosed) => true,
            DomainError::Database(sqlx::Error::Database(db)) => {
                // SQLite: BUSY (5, 517 = BUSY_SNAPSHOT…) and LOCKED (6); PostgreSQL:
                // serialization_failure, deadlock_detected, lock_not_available.
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                let sqlite_busy = code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6));
                sqlite_busy || matches!(code.as_str(), "40001" | "40P01" | "55P03")
            }
            _ => false,
        }
    }
}

impl From<sqlx::Error> for DomainError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            match db.kind() {
                ErrorKind::UniqueViolation => {
                    return DomainError::conflict(
                        ErrorCode::AlreadyExists,
                        "that value is already taken",
                    )
                }
                ErrorKind::ForeignKeyViolation => {
                    return DomainError::InvalidReference {
                        field: None,
                        message: "a referenced record does not exist".into(),
                    }
                }
                ErrorKind::CheckViolation | ErrorKind::NotNullViolation => {
                    return DomainError::Validation(FieldErrors::from([(
                        "_".to_owned(),
                        db.message().to_owned(),
                    )]))
                }
                _ => {}
            }
        }
        DomainError::Database(e)
    }
}

/// Collects field errors while validating a whole input, so a client learns every problem at once.
#[derive(Debug, Default)]
pub struct Validator(FieldErrors);

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_owned())
            .or_insert_with(|| message.into());
    }

    /// Records `Err` results under `field` and passes `Ok` values through.
    pub fn check<T, E: std::fmt::Display>(&mut self, field: &str, r: Result<T, E>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(field, e.to_string());
                None
            }
        }
    }

    pub fn finish(self) -> Result<(), DomainError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Validation(self.0))
        }
    }
}
