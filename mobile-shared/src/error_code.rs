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

/// Declares [`ErrorCode`], its [`ErrorCode::ALL`] and [`ErrorCode::as_str`] from one table, so
/// the list of codes is written once.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident => $wire:literal,)*) => {
        /// A machine-readable reason for a refusal. Grouped below by what the client should do
        /// about it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
            /// A code this build does not know, read from a newer server (forward
            /// compatibility for clients). This server never sends it.
            #[serde(other)]
            Unknown,
        }

        impl ErrorCode {
            /// Every code, for exhaustive tests of the mappings built on this enum.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)* ErrorCode::Unknown];

            /// The wire form, e.g. `validation_failed` (what serde writes).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $wire,)*
                    ErrorCode::Unknown => "unknown",
                }
            }
        }
    };
}

error_codes! {
    // --- The request itself cannot be read: fix the client. ---------------------------------
    BadRequest => "bad_request",
    MalformedJson => "malformed_json",
    BadMultipart => "bad_multipart",
    UnsupportedMediaType => "unsupported_media_type",
    PayloadTooLarge => "payload_too_large",
    /// An image whose header promises more pixels than the decoder will unpack (bomb guard).
    ImageTooLarge => "image_too_large",
    /// An imported spreadsheet with too many rows, or an XLSX that would inflate past the
    /// limits (a zip bomb).
    SpreadsheetTooLarge => "spreadsheet_too_large",
    /// An imported file that is not the spreadsheet its name says (content or extension), or
    /// that cannot be read as one.
    UnsupportedSpreadsheet => "unsupported_spreadsheet",
    MethodNotAllowed => "method_not_allowed",
    Timeout => "timeout",

    // --- Who is asking. ----------------------------------------------------------------------
    Unauthenticated => "unauthenticated",
    InvalidCredentials => "invalid_credentials",
    Forbidden => "forbidden",
    /// A write authenticated by the console's session cookie came without the anti-CSRF header
    /// or from another origin.
    CsrfRejected => "csrf_rejected",
    /// The password was right and the account uses two-factor authentication: send the login
    /// again with `totp_code` (from the authenticator app) or `recovery_code`.
    TwoFactorRequired => "two_factor_required",
    /// The login's `totp_code` or `recovery_code` is wrong, expired or already used (it counts
    /// as a failed login).
    InvalidTwoFactorCode => "invalid_two_factor_code",
    /// The user's role requires two-factor authentication and the user has none yet:
    /// `detail.enrolment_token` is a short-lived bearer token that reaches only the enrolment
    /// routes (`/api/v1/auth/2fa/…`); enrol, then log in with a code.
    TwoFactorEnrolmentRequired => "two_factor_enrolment_required",
    /// The user's role requires two-factor authentication, so it cannot be turned off.
    TwoFactorRequiredByPolicy => "two_factor_required_by_policy",
    /// Too many failed logins for this account or from this address: locked for a while;
    /// `Retry-After` (and `detail.retry_after_secs`) say how long.
    TooManyAttempts => "too_many_attempts",

    // --- What is asked about does not exist. ---------------------------------------------------
    NotFound => "not_found",
    /// The asset a field command names (by id, code or photo) is not in the registry.
    AssetNotFound => "asset_not_found",

    // --- The input is readable but wrong: fix the named fields. --------------------------------
    ValidationFailed => "validation_failed",
    /// A referenced record does not exist (a foreign key the input names).
    InvalidReference => "invalid_reference",
    /// A field command references photos that were never uploaded.
    UnknownPhoto => "unknown_photo",
    /// An upload to the contract archive that is not a PDF document.
    NotAPdf => "not_a_pdf",
    UnsupportedImage => "unsupported_image",
    CorruptImage => "corrupt_image",
    /// A photo was sent to identify an asset, and no QR code could be read in it.
    NoCodeFound => "no_code_found",
    TooManyLabels => "too_many_labels",
    /// An imported CSV file that is not UTF-8 text; `detail.line` is the first bad line.
    SpreadsheetEncoding => "spreadsheet_encoding",
    /// An imported XLSX cell holds a formula (`detail.cell`): imports take values only.
    SpreadsheetFormula => "spreadsheet_formula",
    /// An imported file's header lacks a required field, or a column mapping names a column
    /// or field that does not exist; `detail` names them.
    SpreadsheetColumns => "spreadsheet_columns",
    /// An all-or-nothing import found bad rows and wrote nothing; `detail` is the report with
    /// each row's errors.
    ImportRowsRejected => "import_rows_rejected",

    // --- The input conflicts with the current state: re-read, then decide. ---------------------
    /// A unique value is taken (the generic form; the named ones below say which).
    AlreadyExists => "already_exists",
    DuplicateCode => "duplicate_code",
    CategoryExists => "category_exists",
    DeviceExists => "device_exists",
    UsernameTaken => "username_taken",
    IdentifierInUse => "identifier_in_use",
    /// The record changed since the client read it (optimistic concurrency).
    VersionConflict => "version_conflict",
    /// The asset's status does not allow this action.
    IllegalTransition => "illegal_transition",
    /// A newer field action already changed the asset; this one is kept as history only.
    Superseded => "superseded",
    StocktakeClosed => "stocktake_closed",
    /// The task is done or cancelled already; `detail.state` says which.
    TaskClosed => "task_closed",
    /// A scanned code matches more than one asset.
    AmbiguousCode => "ambiguous_code",
    ResolutionNotApplicable => "resolution_not_applicable",
    /// This occurrence of a maintenance plan is already recorded as done for the asset.
    ServiceAlreadyRecorded => "service_already_recorded",
    /// The asset already has an active work order for this plan.
    WorkOrderOpen => "work_order_open",
    /// The work order is done or cancelled.
    WorkOrderClosed => "work_order_closed",
    /// A work-order field action found no active work order for the asset; `detail` says so.
    NoActiveWorkOrder => "no_active_work_order",
    /// A work-order field action without `work_order_id` found several active orders for the
    /// asset; `detail.work_order_ids` lists them: send one as `work_order_id`.
    AmbiguousWorkOrder => "ambiguous_work_order",
    /// The complaint is closed already; `detail.closed_at` says when.
    ComplaintClosed => "complaint_closed",
    /// The picklist already has this value (retired ones too: bring it back instead).
    PicklistValueExists => "picklist_value_exists",
    /// The asset is booked (a signed contract line or maintenance) on overlapping days;
    /// `detail.booking` is the conflicting booking.
    BookingConflict => "booking_conflict",
    /// The customer's renewals are frozen; `detail.reason` says why.
    RenewalsFrozen => "renewals_frozen",
    /// This half (finance or legal) of the renewal is approved already.
    AlreadyApproved => "already_approved",
    /// An auto-renew contract renews only after finance and legal approved;
    /// `detail.missing` names the missing halves.
    ApprovalsMissing => "approvals_missing",
    /// A delivery names a line of a contract that is not signed or active (a draft, an ended
    /// or terminated one); `detail.status` says which.
    ContractNotOpen => "contract_not_open",
    /// A delivery names a contract line of another customer than the one the delivery site
    /// belongs to; `detail` names both customers.
    ContractCustomerMismatch => "contract_customer_mismatch",
    /// A delivery names a category line whose whole quantity is on hire already;
    /// `detail.quantity` and `detail.on_hire` say so.
    ContractLineFull => "contract_line_full",

    // --- The server: try again later, or report it. ---------------------------------------------
    Unavailable => "unavailable",
    InternalError => "internal_error",
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
        for &code in ErrorCode::ALL {
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
    fn the_table_lists_every_variant_once_in_order() {
        // The macro writes ALL from the same table as the enum; discriminants run 0..n in
        // declaration order, so this also catches a table that lost its order.
        for (i, code) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(*code as usize, i, "{code:?} is out of place in ALL");
        }
        assert_eq!(ErrorCode::ALL.last(), Some(&ErrorCode::Unknown));
    }
}
