//! What field scans record against rental contracts (issue 14, item 7): on-hire periods (which
//! asset went out under which contract line, from the delivery scan to the return scan), the
//! contract's physical state derived from them, damage found at return inspections, and the
//! minimal rows a technician's delivery lookup shows.
//!
//! The physical state is never typed by anyone: [`PhysicalState::derive`] computes it from the
//! periods, here, so the server and a phone holding the same periods agree.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Money;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// Where a contract's machines physically are, derived from its on-hire periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PhysicalState {
    /// Nothing has gone out under the contract yet.
    NotDelivered,
    /// Machines are out, and none that came back is missing from its line: nothing returned
    /// yet, or what came back was sent out again or replaced (a swapped machine).
    Out,
    /// Some machines are out, and some that came back left their line short.
    PartlyReturned,
    /// Things went out and every one of them came back.
    AllReturned,
}

/// One contract line's on-hire counts: what [`PhysicalState::derive`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineCounts {
    /// How many the line rents (1 for an asset line).
    pub quantity: u32,
    /// Periods open now: machines on hire under the line.
    pub on_hire: u64,
    /// Periods closed by a return.
    pub returned: u64,
}

impl PhysicalState {
    /// The contract's state from its lines' counts. A return leaves its line short unless the
    /// line is back at its quantity (re-delivered, or a replacement went out): per line, the
    /// returns still outstanding are `min(returned, quantity − on_hire)`. So an asset line
    /// delivered, returned and delivered again is `out`, like a swap, and a line of three with
    /// two out and one back is `partly_returned`.
    pub fn derive(lines: &[LineCounts]) -> PhysicalState {
        let on_hire: u64 = lines.iter().map(|l| l.on_hire).sum();
        let periods: u64 = on_hire + lines.iter().map(|l| l.returned).sum::<u64>();
        let short = lines.iter().any(|l| {
            l.returned
                .min(u64::from(l.quantity).saturating_sub(l.on_hire))
                > 0
        });
        match (periods, on_hire) {
            (0, _) => PhysicalState::NotDelivered,
            (_, 0) => PhysicalState::AllReturned,
            _ if short => PhysicalState::PartlyReturned,
            _ => PhysicalState::Out,
        }
    }

    /// The wire form, e.g. `partly_returned` (what serde writes).
    pub fn as_str(self) -> &'static str {
        match self {
            PhysicalState::NotDelivered => "not_delivered",
            PhysicalState::Out => "out",
            PhysicalState::PartlyReturned => "partly_returned",
            PhysicalState::AllReturned => "all_returned",
        }
    }
}

/// One asset on hire under one contract line: opened by a delivery scan, closed by the return
/// scan. Times are the phones' device times (when it happened, not when it synced).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct OnHirePeriod {
    pub id: Uuid,
    pub contract_id: Uuid,
    pub contract_number: String,
    pub contract_line_id: Uuid,
    pub line_no: i32,
    pub asset_id: Uuid,
    pub asset_code: String,
    pub on_hire_at: DateTime<Utc>,
    /// Absent while the asset is still on hire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub off_hire_at: Option<DateTime<Utc>>,
    /// The delivery command's id.
    pub delivery_scan_id: Uuid,
    /// The return command's id, once returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_scan_id: Option<Uuid>,
}

/// `GET /api/v1/contracts/{id}/on-hire`: the contract's physical state and every on-hire
/// period, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ContractOnHire {
    pub contract_id: Uuid,
    pub contract_number: String,
    pub physical_state: PhysicalState,
    /// Assets on hire now (open periods).
    pub on_hire: u64,
    /// Periods closed by a return.
    pub returned: u64,
    pub periods: Vec<OnHirePeriod>,
}

/// Damage found at a return inspection, recorded against the contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ContractDamage {
    pub id: Uuid,
    pub contract_id: Uuid,
    pub contract_line_id: Uuid,
    pub asset_id: Uuid,
    pub asset_code: String,
    /// The return or inspection command that found it.
    pub scan_event_id: Uuid,
    pub description: String,
    /// SHA-256 keys of the photos taken with it (`GET /api/v1/photos/{sha256}`).
    pub photos: Vec<String>,
    /// Device time of the scan that found it.
    pub recorded_at: DateTime<Utc>,
    /// Set by the office once estimated; absent until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_cost: Option<Money>,
}

/// One row of the technicians' delivery lookup (`GET /api/v1/delivery/open-lines`): what a
/// delivery or return needs and nothing more (no rates, deposits or notes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DeliveryLine {
    pub contract_id: Uuid,
    pub contract_number: String,
    pub customer_legal_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_name: Option<String>,
    /// Send as `contract_line_id` with the delivery.
    pub contract_line_id: Uuid,
    pub line_no: i32,
    /// A line for one specific asset…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_code: Option<String>,
    /// …or a quantity of a category, allocated at delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category_name: Option<String>,
    pub quantity: i32,
    /// Assets on hire under the line now.
    pub on_hire: u64,
    /// Periods under the line closed by a return.
    pub returned: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(quantity: u32, on_hire: u64, returned: u64) -> LineCounts {
        LineCounts {
            quantity,
            on_hire,
            returned,
        }
    }

    #[test]
    fn the_physical_state_follows_the_periods() {
        use PhysicalState::*;
        for (lines, state, wire) in [
            (vec![], NotDelivered, "not_delivered"),
            (
                vec![line(1, 0, 0), line(3, 0, 0)],
                NotDelivered,
                "not_delivered",
            ),
            (vec![line(1, 1, 0)], Out, "out"),
            // Two of three delivered, none back: out (the third may follow).
            (vec![line(3, 2, 0)], Out, "out"),
            // Delivered, returned, delivered again (or swapped): the line is full again.
            (vec![line(1, 1, 1)], Out, "out"),
            (vec![line(2, 2, 3)], Out, "out"),
            (vec![line(2, 1, 1)], PartlyReturned, "partly_returned"),
            (vec![line(3, 1, 1)], PartlyReturned, "partly_returned"),
            (
                vec![line(1, 1, 0), line(1, 0, 1)],
                PartlyReturned,
                "partly_returned",
            ),
            (vec![line(1, 0, 1)], AllReturned, "all_returned"),
            (
                vec![line(4, 0, 4), line(1, 0, 0)],
                AllReturned,
                "all_returned",
            ),
        ] {
            assert_eq!(PhysicalState::derive(&lines), state, "{lines:?}");
            assert_eq!(state.as_str(), wire);
            assert_eq!(serde_json::to_value(state).unwrap(), wire);
        }
    }
}
