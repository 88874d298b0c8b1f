//! The field-command contract between phones and the server, including offline sync.
//!
//! A technician's phone turns every scan into a [`FieldCommand`] with its own UUID and the
//! phone's clock time. Online, it posts one command; offline, it queues them and later posts
//! them as a [`CommandBatch`]. The server applies each command exactly once (a replay returns the
//! original answer as `duplicate`), in device-time order, and never lets a command that arrives
//! late override a newer state: see [`FieldAction::changes_state`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::maintenance::WorkOrder;
use crate::on_hire::OnHirePeriod;
use crate::wire::Asset;
use crate::ErrorCode;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// Most commands in one batch.
pub const MAX_BATCH: usize = 1000;
/// Longest free-text note.
pub const MAX_NOTES: usize = 4000;
/// Most photos referenced by one command.
pub const MAX_PHOTOS: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FieldAction {
    /// Identify the machine; changes nothing.
    Lookup,
    /// Hand the machine over at a customer site: it goes on rent there.
    Deliver,
    /// Take it back to a depot: available, or in maintenance if the inspection failed.
    Return,
    /// Record its condition (grade, checklist, notes, photos, hours, fuel).
    Inspect,
    /// Move it from one site to another.
    Transfer,
    /// Record an engine-hour reading.
    Meter,
    /// Count it in a stocktake.
    Audit,
    /// Start work on the machine's work order (`work_order_id`, or its one active order): the
    /// order goes in progress and an available machine into maintenance.
    StartWork,
    /// Complete the work order: the meter reading (`engine_hours`), notes and photos go on the
    /// order, the service is recorded under its plan, the machine comes out of maintenance.
    CompleteWork,
}

impl FieldAction {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldAction::Lookup => "lookup",
            FieldAction::Deliver => "deliver",
            FieldAction::Return => "return",
            FieldAction::Inspect => "inspect",
            FieldAction::Transfer => "transfer",
            FieldAction::Meter => "meter",
            FieldAction::Audit => "audit",
            FieldAction::StartWork => "start_work",
            FieldAction::CompleteWork => "complete_work",
        }
    }

    /// Whether the action moves the asset's status or site. Such a command whose device time is
    /// older than the asset's last applied one is kept as history but not applied (`superseded`).
    ///
    /// `start_work` and `complete_work` are not among them, although they may move the status
    /// between available and in maintenance: that move belongs to the work order, whose own
    /// state machine orders them (a start synced after the completion finds the order closed
    /// and is refused `work_order_closed`), and whose end restores the status only if nothing
    /// else moved the machine meanwhile. Counting them here would let a stale work-order scan
    /// push `field_at` forward and supersede a genuine return or transfer made in between.
    pub fn changes_state(self) -> bool {
        matches!(
            self,
            FieldAction::Deliver | FieldAction::Return | FieldAction::Transfer
        )
    }
}

/// Condition grade from an inspection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    Good,
    Fair,
    Poor,
    /// Not fit to rent: a return with this grade sends the machine to maintenance.
    Damaged,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Good => "good",
            Condition::Fair => "fair",
            Condition::Poor => "poor",
            Condition::Damaged => "damaged",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PhonePosition {
    #[cfg_attr(feature = "openapi", schema(minimum = -90, maximum = 90))]
    pub lat: f64,
    #[cfg_attr(feature = "openapi", schema(minimum = -180, maximum = 180))]
    pub lon: f64,
    /// Horizontal accuracy reported by the phone, metres.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub accuracy_m: Option<f64>,
}

/// One scan and what the technician did with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FieldCommand {
    /// Made on the phone; the idempotency key.
    pub id: Uuid,
    pub action: FieldAction,
    /// The scanned text (QR, barcode, NFC UID, EPC…); or give `asset_id`; or neither with a photo.
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub asset_id: Option<Uuid>,
    /// The phone's clock when the scan happened.
    pub device_time: DateTime<Utc>,
    #[serde(default)]
    pub position: Option<PhonePosition>,
    /// Destination for deliver / return / transfer.
    #[serde(default)]
    pub site_id: Option<Uuid>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 4000))]
    pub notes: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub engine_hours: Option<f64>,
    /// SHA-256 (hex) of photos uploaded before with `POST /api/v1/photos`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 20))]
    pub photos: Vec<String>,
    /// Deliver: the person who received the machine.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub contact: Option<String>,
    /// Deliver: the rental contract it goes out under, as free text (stored as is).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub contract_ref: Option<String>,
    /// Deliver: the contract line it goes out under (from `GET /api/v1/delivery/open-lines`).
    /// Without it the server picks the customer's open line for the asset, if there is one.
    #[serde(default)]
    pub contract_line_id: Option<Uuid>,
    /// Inspect / return: condition grade.
    #[serde(default)]
    pub condition: Option<Condition>,
    /// Inspect / return: checklist answers (item → answer).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub checklist: Option<BTreeMap<String, serde_json::Value>>,
    /// Inspect: fuel level, percent.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 100))]
    pub fuel_pct: Option<f64>,
    /// Return: whether the return inspection passed (false → in maintenance).
    #[serde(default)]
    pub inspection_passed: Option<bool>,
    /// Audit: the stocktake this count belongs to.
    #[serde(default)]
    pub stocktake_id: Option<Uuid>,
    /// start_work / complete_work: the order; default: the machine's one active order.
    #[serde(default)]
    pub work_order_id: Option<Uuid>,
    /// With a photo upload: keep the photo as evidence even if no code is found in it.
    #[serde(default)]
    pub keep_photo: bool,
}

impl FieldCommand {
    /// A command with a fresh client id and nothing but its action, device time and scanned code
    /// (if any); callers set the action's own fields.
    pub fn new(action: FieldAction, code: Option<String>, device_time: DateTime<Utc>) -> Self {
        FieldCommand {
            id: Uuid::now_v7(),
            action,
            code,
            asset_id: None,
            device_time,
            position: None,
            site_id: None,
            notes: None,
            engine_hours: None,
            photos: vec![],
            contact: None,
            contract_ref: None,
            contract_line_id: None,
            condition: None,
            checklist: None,
            fuel_pct: None,
            inspection_passed: None,
            stocktake_id: None,
            work_order_id: None,
            keep_photo: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CommandStatus {
    Applied,
    /// Seen before: this is the original answer.
    Duplicate,
    Rejected,
}

/// Why a command was rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CommandError {
    /// e.g. `asset_not_found`, `illegal_transition`, `superseded`, `validation_failed`: the same
    /// code the single-command route answers with.
    pub error: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<BTreeMap<String, String>>,
    /// Machine-readable context, e.g. the current state, or `work_order_ids` to choose from
    /// when a work-order action found no single active order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub detail: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CommandResult {
    pub id: Uuid,
    pub status: CommandStatus,
    /// The asset's state after the command (or now, for a rejected one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<Asset>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<CommandError>,
    /// Texts decoded from an uploaded photo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoded: Option<Vec<String>>,
    /// The photos stored with this command.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub photos: Vec<String>,
    /// The work order the command started, completed, or (a failed return) opened or joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_order: Option<WorkOrder>,
    /// The on-hire period a delivery opened or a return closed, when the asset went out under
    /// a contract line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_hire: Option<OnHirePeriod>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CommandBatch {
    /// 1 to 1000 commands.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 1000))]
    pub commands: Vec<FieldCommand>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct BatchResults {
    /// One per command, in the order given.
    pub results: Vec<CommandResult>,
}

/// Answer to a photo upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PhotoStored {
    pub sha256: String,
    pub size_bytes: u64,
    pub content_type: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minimal_command_parses() {
        let c: FieldCommand = serde_json::from_str(
            r#"{"id":"01a20626-7392-7405-a24d-3b3a6b8018ee","action":"deliver","code":"EX-1","device_time":"2026-11-23T08:15:02Z"}"#,
        )
        .unwrap();
        assert_eq!(c.action, FieldAction::Deliver);
        assert!(c.photos.is_empty());
        assert!(FieldAction::Deliver.changes_state());
        assert!(!FieldAction::Inspect.changes_state());
    }

    #[test]
    fn work_order_actions_have_stable_wire_names_and_do_not_move_field_state() {
        for (action, wire) in [
            (FieldAction::StartWork, "start_work"),
            (FieldAction::CompleteWork, "complete_work"),
        ] {
            assert_eq!(action.as_str(), wire);
            assert_eq!(serde_json::to_value(action).unwrap(), wire);
            assert!(!action.changes_state());
        }
        let c: FieldCommand = serde_json::from_str(
            r#"{"id":"01a20626-7392-7405-a24d-3b3a6b8018ee","action":"complete_work","code":"EX-1","device_time":"2026-11-23T08:15:02Z","work_order_id":"01a20626-7392-7405-a24d-3b3a6b8018ef","engine_hours":512.5}"#,
        )
        .unwrap();
        assert_eq!(c.action, FieldAction::CompleteWork);
        assert!(c.work_order_id.is_some());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let r: Result<FieldCommand, _> = serde_json::from_str(
            r#"{"id":"01a20626-7392-7405-a24d-3b3a6b8018ee","action":"lookup","device_time":"2026-11-23T08:15:02Z","colour":"red"}"#,
        );
        assert!(r.is_err());
    }
}
