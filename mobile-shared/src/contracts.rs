//! Wire types of contracts, their lines, renewal approvals, asset bookings (contract periods
//! and maintenance blocks) and the availability query (`/api/v1/contracts`,
//! `/api/v1/availability`, `/api/v1/assets/{id}/blocks`). The shapes named in issue 14 ("wire
//! shapes other programs rely on") are a contract: extend, never rename.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// Declares a snake_case wire enum with `ALL`, `as_str` and `parse` from one list.
macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $wire:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            pub const ALL: &[$name] = &[$($name::$variant,)*];

            /// The wire (and stored) form.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)*
                }
            }

            /// The value whose wire form is `s`.
            pub fn parse(s: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }
    };
}

wire_enum! {
    /// Where a contract is in its lifecycle: draft → signed → active → expiring (inside the
    /// warning window before its end) → renewed | ended | terminated.
    ContractStatus {
        Draft => "draft",
        Signed => "signed",
        Active => "active",
        /// Active, and inside the warning window before its end.
        Expiring => "expiring",
        /// A successor contract (its renewal) was signed.
        Renewed => "renewed",
        Ended => "ended",
        Terminated => "terminated",
    }
}

impl ContractStatus {
    /// Signed and not over: its asset lines hold bookings and it can be ended, terminated or
    /// renewed.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            ContractStatus::Signed | ContractStatus::Active | ContractStatus::Expiring
        )
    }
}

wire_enum! {
    /// The period a line's rate is per.
    RatePeriod {
        Day => "day",
        Week => "week",
        Month => "month",
    }
}

wire_enum! {
    /// How often the contract is invoiced.
    BillingCycle {
        Weekly => "weekly",
        Monthly => "monthly",
        EndOfHire => "end_of_hire",
    }
}

wire_enum! {
    /// The half of a renewal approval: finance or legal.
    ApprovalKind {
        Finance => "finance",
        Legal => "legal",
    }
}

wire_enum! {
    /// Why an asset is booked: a contract line, or maintenance (a block or a work order window).
    BookingKind {
        Contract => "contract",
        Maintenance => "maintenance",
    }
}

/// Longest free texts (notes, reasons).
pub const MAX_NOTE_LEN: usize = 2_000;
/// Most lines on one contract.
pub const MAX_LINES: usize = 200;
/// Largest quantity of a category line.
pub const MAX_QUANTITY: i32 = 10_000;

/// A line to add: a specific asset (`asset_id`), or a category and a quantity to allocate at
/// delivery (`category_id` + `quantity`), never both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewContractLine {
    #[serde(default)]
    pub asset_id: Option<Uuid>,
    #[serde(default)]
    pub category_id: Option<Uuid>,
    /// With `category_id`: how many (1-10000). With `asset_id`: absent or 1.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10000))]
    pub quantity: Option<i32>,
    /// Per `rate_period`, in minor units of the contract's currency (the customer's).
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub rate_cents: i64,
    pub rate_period: RatePeriod,
}

/// `POST /api/v1/contracts`: a draft. Its currency is the customer's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewContract {
    pub customer_id: Uuid,
    /// A site of the customer's.
    #[serde(default)]
    pub site_id: Option<Uuid>,
    /// First day of hire (inclusive).
    pub starts_on: NaiveDate,
    /// Last day of hire (inclusive), not before `starts_on`.
    pub ends_on: NaiveDate,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 200))]
    pub lines: Vec<NewContractLine>,
    /// Minor units of the contract's currency. Default 0.
    #[serde(default)]
    pub deposit_cents: Option<i64>,
    /// Renews only after both finance and legal approved. Default false.
    #[serde(default)]
    pub auto_renew: Option<bool>,
    /// Default `monthly`.
    #[serde(default)]
    pub billing_cycle: Option<BillingCycle>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub notes: Option<String>,
}

/// One line of a contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ContractLine {
    pub id: Uuid,
    /// 1, 2, … in the order added.
    pub line_no: i32,
    pub asset_id: Option<Uuid>,
    pub category_id: Option<Uuid>,
    pub quantity: i32,
    pub rate_cents: i64,
    pub rate_period: RatePeriod,
    /// When the delivery scan put it on hire (field scans; absent until then).
    pub on_hire_at: Option<DateTime<Utc>>,
    /// When the return scan took it off hire.
    pub off_hire_at: Option<DateTime<Utc>>,
}

/// A contract with its lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Contract {
    pub id: Uuid,
    /// Gapless per series and year, e.g. `C-2026-000123`.
    pub number: String,
    pub customer_id: Uuid,
    pub site_id: Option<Uuid>,
    pub status: ContractStatus,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    /// ISO 4217: every amount of the contract is in its minor units.
    pub currency: String,
    pub deposit_cents: i64,
    pub billing_cycle: BillingCycle,
    pub auto_renew: bool,
    /// The contract this one renews: following it back gives the history of terms and prices.
    pub predecessor_id: Option<Uuid>,
    pub notes: Option<String>,
    pub signed_at: Option<DateTime<Utc>>,
    pub signed_by: Option<Uuid>,
    pub ended_at: Option<DateTime<Utc>>,
    pub terminated_at: Option<DateTime<Utc>>,
    pub termination_reason: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub lines: Vec<ContractLine>,
}

/// `PATCH /api/v1/contracts/{id}`: a change to a draft. Send the `version` you read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ContractPatch {
    pub version: i64,
    #[serde(
        default,
        deserialize_with = "crate::wire::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Uuid>))]
    pub site_id: Option<Option<Uuid>>,
    #[serde(default)]
    pub starts_on: Option<NaiveDate>,
    #[serde(default)]
    pub ends_on: Option<NaiveDate>,
    #[serde(default)]
    pub deposit_cents: Option<i64>,
    #[serde(default)]
    pub auto_renew: Option<bool>,
    #[serde(default)]
    pub billing_cycle: Option<BillingCycle>,
    #[serde(
        default,
        deserialize_with = "crate::wire::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, max_length = 2000))]
    pub notes: Option<Option<String>>,
}

/// The filters of `GET /api/v1/contracts` (the renewal pipeline: by status and end date).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ContractFilter {
    #[serde(default)]
    pub status: Option<ContractStatus>,
    #[serde(default)]
    pub customer_id: Option<Uuid>,
    /// Only contracts ending on or before this day.
    #[serde(default)]
    pub ends_before: Option<NaiveDate>,
    /// Only contracts ending on or after this day.
    #[serde(default)]
    pub ends_after: Option<NaiveDate>,
}

/// `POST /api/v1/contracts/{id}/end`: the hire ends (everything returned). The bookings are
/// released from the day after `ends_on`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EndContract {
    /// The last day of hire; default today. Not after the contract's `ends_on`.
    #[serde(default)]
    pub ends_on: Option<NaiveDate>,
}

/// `POST /api/v1/contracts/{id}/terminate`: ended early, for a reason; bookings are released
/// from tomorrow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TerminateContract {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 2000))]
    pub reason: String,
}

/// A changed rate of one line in a renewal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RateChange {
    /// The predecessor's line.
    pub line_no: i32,
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub rate_cents: i64,
}

/// `POST /api/v1/contracts/{id}/renew`: a successor draft from the day after this contract's
/// end to `ends_on`, with the same lines (rates changed by `rate_changes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RenewContract {
    pub ends_on: NaiveDate,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 200))]
    pub rate_changes: Vec<RateChange>,
}

/// `POST /api/v1/contracts/{id}/approvals`: the caller's approval of a renewal. Its kind is the
/// caller's role (finance, legal); an admin names it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewApproval {
    #[serde(default)]
    pub kind: Option<ApprovalKind>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub note: Option<String>,
}

/// One renewal approval: who approved which half, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Approval {
    pub id: Uuid,
    pub contract_id: Uuid,
    pub kind: ApprovalKind,
    pub approved_by: Uuid,
    pub approved_at: DateTime<Utc>,
    pub note: Option<String>,
}

/// A period an asset is taken (inclusive days): by a contract line from signing, or by
/// maintenance. `released_at` set: no longer taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Booking {
    pub id: Uuid,
    pub asset_id: Uuid,
    pub kind: BookingKind,
    pub contract_id: Option<Uuid>,
    pub contract_line_id: Option<Uuid>,
    pub work_order_id: Option<Uuid>,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub reason: Option<String>,
    pub released_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// `POST /api/v1/assets/{id}/blocks`: the asset is taken for maintenance on these days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewBlock {
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 2000))]
    pub reason: String,
}

/// One asset free for a whole period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FreeAsset {
    pub id: Uuid,
    pub code: String,
    pub name: String,
}

/// `GET /api/v1/availability`: the assets of a category free for the whole period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Availability {
    pub category_id: Uuid,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// How many are free (`assets.len()`).
    pub free: i64,
    /// Which, by code.
    pub assets: Vec<FreeAsset>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_their_wire_forms() {
        for s in ContractStatus::ALL {
            let json = serde_json::to_value(s).unwrap_or_default();
            assert_eq!(json, serde_json::Value::from(s.as_str()));
            assert_eq!(ContractStatus::parse(s.as_str()), Some(*s));
        }
        assert_eq!(BillingCycle::EndOfHire.as_str(), "end_of_hire");
        assert_eq!(RatePeriod::parse("fortnight"), None);
    }

    #[test]
    fn the_issue_s_create_shape_reads() {
        let body = serde_json::json!({
            "customer_id": Uuid::nil(), "starts_on": "2026-01-01", "ends_on": "2026-01-31",
            "lines": [{"asset_id": Uuid::nil(), "rate_cents": 1000, "rate_period": "day"},
                      {"category_id": Uuid::nil(), "quantity": 2, "rate_cents": 0, "rate_period": "month"}],
            "deposit_cents": 50000, "auto_renew": true, "billing_cycle": "weekly"
        });
        let new: Result<NewContract, _> = serde_json::from_value(body);
        assert!(new.is_ok_and(|n| n.lines.len() == 2));
    }
}
