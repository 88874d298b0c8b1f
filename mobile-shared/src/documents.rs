//! Wire types of the contract archive: the signed documents kept with a contract
//! (`/api/v1/contracts/{id}/documents`, `/api/v1/contract-documents`).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A document in the archive: what was uploaded, to which contract, and the SHA-256 of its
/// bytes (the file a user downloads hashes to it; the bytes are stored once per hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContractDocument {
    pub id: Uuid,
    pub contract_id: Uuid,
    pub contract_number: String,
    pub customer_id: Uuid,
    pub customer_name: String,
    /// 64 lower-case hex digits.
    pub sha256: String,
    pub size_bytes: u64,
    /// `application/pdf`.
    pub content_type: String,
    pub filename: String,
    pub title: Option<String>,
    /// The day it was signed.
    pub signed_on: Option<NaiveDate>,
    /// Whether the stored bytes are sealed (encrypted at rest with the operator's key).
    pub sealed: bool,
    pub uploaded_by: Option<Uuid>,
    pub uploaded_at: DateTime<Utc>,
}

/// Searching the archive (`GET /api/v1/contract-documents?…`): all optional, combined with AND.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct DocumentSearch {
    pub customer_id: Option<Uuid>,
    /// Documents of contracts with a line for this asset (its code, as printed on the label).
    pub asset_code: Option<String>,
    /// Signed on or after this day.
    pub signed_from: Option<NaiveDate>,
    /// Signed on or before this day.
    pub signed_to: Option<NaiveDate>,
}
