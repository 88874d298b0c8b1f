//! The stable error codes of the problem format: the `error` of every error response and of every
//! rejected field command.
//!
//! One enum for the whole system, so a code is a type, not a string: the domain raises one, the
//! API maps it to an HTTP status in one `match` (`api/src/error.rs`, exhaustive, so a new code
//! cannot ship without a status), and a phone branches on the same value whether the command was
//! sent alone or inside an offline batch. The wire form is the snake_case name; renaming a variant
//! changes the public contract.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A machine-readable reason for a refusal. Grouped below by what the client should do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    // --- The request itself cannot be read: fix the client. ---------------------------------
    BadRequest,
    MalformedJson,
    BadMultipart,
    UnsupportedMediaType,
    PayloadTooLarge,
    /// An image whose header promises more pixels than the decoder will unpack (bomb guard).
    ImageTooLarge,
    MethodNotAllowed,
    Timeout,

    // --- Who is asking. ----------------------------------------------------------------------
    Unauthenticated,
    InvalidCredentials,
    Forbidden,

    // --- What is asked about does not exist. ---------------------------------------------------
    NotFound,
    /// The asset a field command names (by id, code or photo) is not in the registry.
    AssetNotFound,

    // --- The input is readable but wrong: fix the named fields. --------------------------------
    ValidationFailed,
    /// A referenced record does not exist (a foreign key the input names).
    InvalidReference,
    /// A field command references photos that were never uploaded.
    UnknownPhoto,
    UnsupportedImage,
    CorruptImage,
    /// A photo was sent to identify an asset, and no QR code could be read in it.
    NoCodeFound,
    TooManyLabels,

    // --- The input conflicts with the current state: re-read, then decide. ---------------------
    /// A unique value is taken (the generic form; the named ones below say which).
    AlreadyExists,
    DuplicateCode,
    CategoryExists,
    DeviceExists,
    UsernameTaken,
    IdentifierInUse,
    /// The record changed since the client read it (optimistic concurrency).
    VersionConflict,
    /// The asset's status does not allow this action.
    IllegalTransition,
    /// A newer field action already changed the asset; this one is kept as history only.
    Superseded,
    StocktakeClosed,
    /// A scanned code matches more than one asset.
    AmbiguousCode,
    ResolutionNotApplicable,

    // --- The server: try again later, or report it. ---------------------------------------------
    Unavailable,
    InternalError,

    /// A code this build does not know, read from a newer server (forward compatibility for
    /// clients). This server never sends it.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// Every code, for exhaustive tests of the mappings built on this enum.
    pub const ALL: [ErrorCode; 35] = {
        use ErrorCode::*;
        [
            BadRequest,
            MalformedJson,
            BadMultipart,
            UnsupportedMediaType,
            PayloadTooLarge,
            ImageTooLarge,
            MethodNotAllowed,
            Timeout,
            Unauthenticated,
            InvalidCredentials,
            Forbidden,
            NotFound,
            AssetNotFound,
            ValidationFailed,
            InvalidReference,
            UnknownPhoto,
            UnsupportedImage,
            CorruptImage,
            NoCodeFound,
            TooManyLabels,
            AlreadyExists,
            DuplicateCode,
            CategoryExists,
            DeviceExists,
            UsernameTaken,
            IdentifierInUse,
            VersionConflict,
            IllegalTransition,
            Superseded,
            StocktakeClosed,
            AmbiguousCode,
            ResolutionNotApplicable,
            Unavailable,
            InternalError,
            Unknown,
        ]
    };

    /// The wire form, e.g. `validation_failed` (what serde writes).
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            BadRequest => "bad_request",
            MalformedJson => "malformed_json",
            BadMultipart => "bad_multipart",
            UnsupportedMediaType => "unsupported_media_type",
            PayloadTooLarge => "payload_too_large",
            ImageTooLarge => "image_too_large",
            MethodNotAllowed => "method_not_allowed",
            Timeout => "timeout",
            Unauthenticated => "unauthenticated",
            InvalidCredentials => "invalid_credentials",
            Forbidden => "forbidden",
            NotFound => "not_found",
            AssetNotFound => "asset_not_found",
            ValidationFailed => "validation_failed",
            InvalidReference => "invalid_reference",
            UnknownPhoto => "unknown_photo",
            UnsupportedImage => "unsupported_image",
            CorruptImage => "corrupt_image",
            NoCodeFound => "no_code_found",
            TooManyLabels => "too_many_labels",
            AlreadyExists => "already_exists",
            DuplicateCode => "duplicate_code",
            CategoryExists => "category_exists",
            DeviceExists => "device_exists",
            UsernameTaken => "username_taken",
            IdentifierInUse => "identifier_in_use",
            VersionConflict => "version_conflict",
            IllegalTransition => "illegal_transition",
            Superseded => "superseded",
            StocktakeClosed => "stocktake_closed",
            AmbiguousCode => "ambiguous_code",
            ResolutionNotApplicable => "resolution_not_applicable",
            Unavailable => "unavailable",
            InternalError => "internal_error",
            Unknown => "unknown",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_is_the_snake_case_name_and_round_trips() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let json = serde_json::to_value(code).expect("serialise");
            assert_eq!(json, serde_json::Value::from(code.as_str()), "{code:?}");
            let back: ErrorCode = serde_json::from_value(json).expect("deserialise");
            assert_eq!(back, code);
            assert!(seen.insert(code.as_str()), "{code:?} shares its wire form");
            assert!(
                code.as_str()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_'),
                "{code:?}"
            );
        }
    }

    #[test]
    fn a_code_from_a_newer_server_reads_as_unknown() {
        let code: ErrorCode = serde_json::from_str("\"quota_exceeded\"").expect("deserialise");
        assert_eq!(code, ErrorCode::Unknown);
    }

    #[test]
    fn all_lists_every_variant_in_order() {
        // Discriminants run 0..n in declaration order and `Unknown` is declared last, so ALL is
        // complete exactly when its i-th entry has discriminant i and it ends with `Unknown`.
        for (i, code) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(*code as usize, i, "{code:?} is out of place in ALL");
        }
        assert_eq!(ErrorCode::Unknown as usize + 1, ErrorCode::ALL.len());
    }
}
