//! Maintenance service plans and the forecast of the next service: wire types and the pure rule
//! that turns a plan, where the asset stands and how fast it is used into "250 h service, due
//! ≈ 14 Dec (in 8 days at 6.2 h/day)". Pure, so the server, the phone apps and the tests compute
//! the same answer from the same inputs; the server only loads the inputs (`domain::maintenance`).
//!
//! The rule, in one place (each point is a unit test below):
//! - A plan has one interval per metric (engine hours, calendar days, odometer km); the service
//!   is due at whichever comes first.
//! - **Anchor `completion`:** the next due point is the last completion (or the plan's baseline
//!   for the asset) plus the interval. **Anchor `fixed`:** due points sit on a grid (multiples of
//!   the interval from 0 h / 0 km, or from the plan's `starts_on` date); when the asset has passed
//!   several grid points since the last completion, the missed ones are skipped (counted in
//!   `skipped`) and the latest passed one is due.
//! - **Nested services:** occurrence `n` performs the largest service whose `multiple` divides
//!   `n` (250 h / 500 h / 1000 h = multiples 1 / 2 / 4: the 4th occurrence is the 1000 h service,
//!   which absorbs the 250 h and 500 h services due at the same time).
//! - **Forecast date** of a meter metric: today + ⌊remaining ÷ usage per day⌋, usage never below
//!   a floor ([`HOURS_PER_DAY_FLOOR`], [`KM_PER_DAY_FLOOR`]) so an idle machine still gets a date.
//! - **Urgency:** `overdue` once a due point is passed, `due` on the day it is reached, `soon`
//!   within the lead (`lead_days` before the date, or `lead_hours` before the engine-hour point),
//!   `ok` otherwise.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// Usage assumed when less is measured, so that the forecast of an idle (or newly tracked)
/// machine is a far date rather than none. Half an hour a day: a machine that is used at all.
pub const HOURS_PER_DAY_FLOOR: f64 = 0.5;
/// The odometer's floor, likewise.
pub const KM_PER_DAY_FLOOR: f64 = 5.0;
/// Lead when a plan names none: the maintenance team is told ten days ahead.
pub const DEFAULT_LEAD_DAYS: u32 = 10;

/// What an interval counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    EngineHours,
    Days,
    OdometerKm,
}

impl Metric {
    pub const ALL: [Metric; 3] = [Metric::EngineHours, Metric::Days, Metric::OdometerKm];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::EngineHours => "engine_hours",
            Metric::Days => "days",
            Metric::OdometerKm => "odometer_km",
        }
    }

    /// The largest interval accepted: beyond it a plan is a typo (40 years of running hours,
    /// ten years, a million km).
    pub fn max_every(self) -> u32 {
        match self {
            Metric::EngineHours => 100_000,
            Metric::Days => 3_650,
            Metric::OdometerKm => 1_000_000,
        }
    }
}

/// "Every 250 engine hours", "every 365 days".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Interval {
    pub metric: Metric,
    /// Whole hours, days or km; at most 100,000 h, 3,650 days or 1,000,000 km.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1_000_000))]
    pub every: u32,
}

/// Where the next due point is counted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    /// From the last completion: a late service moves every later one.
    #[default]
    Completion,
    /// On a fixed grid (multiples of the interval): a late service does not move the next
    /// one, and grid points passed without a service are skipped and counted.
    Fixed,
}

impl Anchor {
    pub fn as_str(self) -> &'static str {
        match self {
            Anchor::Completion => "completion",
            Anchor::Fixed => "fixed",
        }
    }
}

/// One of a plan's nested services: performed on every `multiple`-th occurrence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PlanService {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub name: String,
    /// 1 = every occurrence; 2 = every second (the 500 h service of a 250 h plan)…
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100))]
    pub multiple: u32,
}

impl PlanService {
    /// Nested services from `(name, multiple)` pairs: `[("250 h", 1), ("500 h", 2)]`.
    pub fn nested(list: &[(&str, u32)]) -> Vec<PlanService> {
        list.iter()
            .map(|&(name, multiple)| PlanService {
                name: name.into(),
                multiple,
            })
            .collect()
    }
}

/// A service plan, for a category (every excavator) or one asset. An asset's own plans replace
/// its category's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Plan {
    pub id: Uuid,
    pub name: String,
    pub category_id: Option<Uuid>,
    pub asset_id: Option<Uuid>,
    pub intervals: Vec<Interval>,
    pub lead_days: u32,
    pub lead_hours: Option<u32>,
    pub anchor: Anchor,
    /// Nested services, largest multiple first; one with multiple 1 always.
    pub services: Vec<PlanService>,
    /// Origin of the fixed calendar grid.
    pub starts_on: NaiveDate,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewPlan {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub name: String,
    /// Exactly one of `category_id` and `asset_id`.
    #[serde(default)]
    pub category_id: Option<Uuid>,
    #[serde(default)]
    pub asset_id: Option<Uuid>,
    /// At least one; at most one per metric.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 3))]
    pub intervals: Vec<Interval>,
    /// Default 10; shorter than a calendar interval.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(maximum = 365))]
    pub lead_days: Option<u32>,
    /// Shorter than the engine-hour interval.
    #[serde(default)]
    pub lead_hours: Option<u32>,
    #[serde(default)]
    pub anchor: Option<Anchor>,
    /// Default: one service named like the plan, every occurrence.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 10))]
    pub services: Option<Vec<PlanService>>,
    /// Default: the day the plan is created.
    #[serde(default)]
    pub starts_on: Option<NaiveDate>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PlanPatch {
    /// The `version` you read; a stale one answers 409.
    pub version: i64,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub name: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 3))]
    pub intervals: Option<Vec<Interval>>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(maximum = 365))]
    pub lead_days: Option<u32>,
    /// `null` removes the engine-hour lead.
    #[serde(
        default,
        deserialize_with = "crate::wire::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<u32>))]
    pub lead_hours: Option<Option<u32>>,
    #[serde(default)]
    pub anchor: Option<Anchor>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 10))]
    pub services: Option<Vec<PlanService>>,
    #[serde(default)]
    pub starts_on: Option<NaiveDate>,
}

/// How close a service is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// Not within the lead.
    Ok,
    /// Within the lead: `lead_days` before its date, or `lead_hours` before its engine-hour point.
    Soon,
    /// Reached today.
    Due,
    /// A due point is passed.
    Overdue,
}

impl Urgency {
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Ok => "ok",
            Urgency::Soon => "soon",
            Urgency::Due => "due",
            Urgency::Overdue => "overdue",
        }
    }

    pub const ALL: [Urgency; 4] = [Urgency::Ok, Urgency::Soon, Urgency::Due, Urgency::Overdue];

    /// Its place in the order of urgency (ok 0 … overdue 3): what the database sorts by.
    pub fn rank(self) -> i16 {
        match self {
            Urgency::Ok => 0,
            Urgency::Soon => 1,
            Urgency::Due => 2,
            Urgency::Overdue => 3,
        }
    }

    pub fn from_rank(rank: i64) -> Option<Urgency> {
        Urgency::ALL
            .into_iter()
            .find(|u| i64::from(u.rank()) == rank)
    }
}

/// Where the counting starts for one asset under one plan: the last completion, or the
/// baseline taken when the plan began to apply to the asset (occurrence 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Anchoring {
    pub at: DateTime<Utc>,
    pub engine_hours: Option<f64>,
    pub odometer_km: Option<f64>,
    /// The occurrence completed at `at` (0 for a baseline).
    pub occurrence: u32,
}

/// Where the asset stands now and how fast it is used.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Usage {
    pub engine_hours: Option<f64>,
    pub odometer_km: Option<f64>,
    /// Measured over the utilisation window; `None` when there is not enough history.
    pub hours_per_day: Option<f64>,
    pub km_per_day: Option<f64>,
    /// A meter reading went backwards (a replaced meter or a fault) and was not applied.
    pub meter_flagged: bool,
}

/// One metric's next due point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MetricDue {
    pub metric: Metric,
    /// The meter value the service is due at (hours or km); `null` for days.
    pub due_at: Option<f64>,
    /// The day the service is due (days), or is forecast to be reached (meters).
    pub date: Option<NaiveDate>,
    /// Hours, km or days left; negative when passed. `null` when the asset has no reading of
    /// this meter yet.
    pub remaining: Option<f64>,
    /// Usage per day the date was computed with (measured, never below the floor).
    pub per_day: Option<f64>,
    pub urgency: Urgency,
}

/// The next service of one asset under one plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ServiceForecast {
    pub plan_id: Uuid,
    pub plan: String,
    /// The nested service due (the largest one the occurrence absorbs the others into).
    pub service: String,
    pub occurrence: u32,
    /// The metric that comes first.
    pub metric: Metric,
    pub due_at_hours: Option<f64>,
    pub due_at_km: Option<f64>,
    pub due_date: Option<NaiveDate>,
    /// When the service is due, whichever metric comes first; `null` when no metric can be
    /// evaluated yet (no meter reading).
    pub forecast_date: Option<NaiveDate>,
    pub urgency: Urgency,
    /// Fixed-grid occurrences passed without a service since the last one.
    pub skipped: u32,
    /// A meter reading went backwards and is not applied: the meter may have been replaced.
    pub meter_flagged: bool,
    /// Each metric's own due point.
    pub metrics: Vec<MetricDue>,
}

/// A service done on an asset under a plan, logged by hand (work done outside fieldops, or
/// before it) — work orders record the same when they complete.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewServiceRecord {
    pub plan_id: Uuid,
    /// Default: now. Not in the future, not before the plan's previous service on the asset.
    #[serde(default)]
    pub done_at: Option<DateTime<Utc>>,
    /// The meters when the service was done; default: the asset's current ones.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub engine_hours: Option<f64>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub odometer_km: Option<f64>,
}

/// A service done: the new anchor of the asset under the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ServiceRecord {
    pub asset_id: Uuid,
    pub plan_id: Uuid,
    pub occurrence: u32,
    /// The nested service this occurrence performed.
    pub service: String,
    /// Fixed-grid occurrences passed without a service before this one.
    pub skipped: u32,
    pub done_at: DateTime<Utc>,
    pub engine_hours: Option<f64>,
    pub odometer_km: Option<f64>,
    pub recorded_at: DateTime<Utc>,
}

/// Where a work order is: open → scheduled → in progress → done | cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WorkOrderState {
    Open,
    Scheduled,
    InProgress,
    Done,
    Cancelled,
}

impl WorkOrderState {
    pub const ALL: [WorkOrderState; 5] = [
        WorkOrderState::Open,
        WorkOrderState::Scheduled,
        WorkOrderState::InProgress,
        WorkOrderState::Done,
        WorkOrderState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WorkOrderState::Open => "open",
            WorkOrderState::Scheduled => "scheduled",
            WorkOrderState::InProgress => "in_progress",
            WorkOrderState::Done => "done",
            WorkOrderState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<WorkOrderState> {
        WorkOrderState::ALL.into_iter().find(|w| w.as_str() == s)
    }

    /// Whether the order is still to be worked (the states the one-open-order rule counts).
    pub fn is_active(self) -> bool {
        matches!(
            self,
            WorkOrderState::Open | WorkOrderState::Scheduled | WorkOrderState::InProgress
        )
    }

    /// The one transition table. `done` is reached only by completing (which records the
    /// meters and re-anchors the plan); an order may go back from scheduled to open
    /// (unscheduled) and from in progress to scheduled (work paused for parts).
    pub fn can_become(self, next: WorkOrderState) -> bool {
        use WorkOrderState::*;
        matches!(
            (self, next),
            (Open, Scheduled | InProgress | Done | Cancelled)
                | (Scheduled, Open | InProgress | Done | Cancelled)
                | (InProgress, Scheduled | Done | Cancelled)
        )
    }
}

/// One line of a work order's checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChecklistItem {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub item: String,
    #[serde(default)]
    pub done: bool,
}

/// Most part lines on one work order.
pub const MAX_PARTS: usize = 100;
/// Most units of one part line: a sanity bound (a typo of 1000000 filters is refused).
pub const MAX_PART_QUANTITY: u32 = 100_000;
/// Most photos on one work order.
pub const MAX_ORDER_PHOTOS: usize = 50;

/// One line of the parts used on a work order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WorkOrderPart {
    /// The manufacturer's or the store's part number.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub part_no: Option<String>,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub description: String,
    /// A count of units (parts are counted, not measured: a litre of oil is a unit too).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100_000))]
    pub quantity: u32,
    /// The price of one unit, in integer minor units.
    #[serde(default)]
    pub unit_cost: Option<crate::money::Money>,
}

/// A work order: the maintenance kind of task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WorkOrder {
    pub id: Uuid,
    pub asset_id: Uuid,
    /// The plan whose service it does; `null` for a breakdown or inspection order.
    pub plan_id: Option<Uuid>,
    pub service: Option<String>,
    pub occurrence: Option<u32>,
    pub title: String,
    pub state: WorkOrderState,
    pub assignee: Option<Uuid>,
    pub due_at: Option<NaiveDate>,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub checklist: Vec<ChecklistItem>,
    pub notes: Option<String>,
    /// Opened by the clock when the service entered its lead window.
    pub automatic: bool,
    /// Its task (assignee, due time, the on-time KPI).
    pub task_id: Option<Uuid>,
    /// When work started (the asset went into maintenance) and ended: the downtime window.
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// The meters when it was completed.
    pub engine_hours: Option<f64>,
    pub odometer_km: Option<f64>,
    /// Parts used.
    #[serde(default)]
    pub parts: Vec<WorkOrderPart>,
    /// SHA-256 (hex) of photos uploaded with `POST /api/v1/photos`.
    #[serde(default)]
    pub photos: Vec<String>,
    /// The field command (scan event) that opened this order: a return whose inspection failed.
    #[serde(default)]
    pub scan_event_id: Option<Uuid>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A work order opened by hand (a breakdown, an inspection failure).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewWorkOrder {
    pub asset_id: Uuid,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub title: String,
    /// A plan of the asset's whose service this is, if any.
    #[serde(default)]
    pub plan_id: Option<Uuid>,
    #[serde(default)]
    pub assignee: Option<Uuid>,
    /// Default: today.
    #[serde(default)]
    pub due_at: Option<NaiveDate>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub checklist: Vec<ChecklistItem>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 10000))]
    pub notes: Option<String>,
}

/// A change to a work order. Send the `version` you read.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WorkOrderPatch {
    pub version: i64,
    /// `open`, `scheduled`, `in_progress` or `cancelled` (`done` is `POST …/complete`).
    #[serde(default)]
    pub state: Option<WorkOrderState>,
    #[serde(
        default,
        deserialize_with = "crate::wire::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Uuid>))]
    pub assignee: Option<Option<Uuid>>,
    #[serde(default)]
    pub due_at: Option<NaiveDate>,
    #[serde(
        default,
        deserialize_with = "crate::wire::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<DateTime<Utc>>))]
    pub scheduled_for: Option<Option<DateTime<Utc>>>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub checklist: Option<Vec<ChecklistItem>>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 10000))]
    pub notes: Option<String>,
    /// Replaces the part list.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub parts: Option<Vec<WorkOrderPart>>,
    /// Replaces the photo list (SHA-256 of uploaded photos).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 50))]
    pub photos: Option<Vec<String>>,
}

/// Completing a work order: the meters when the work was done (default: the asset's now).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CompleteWorkOrder {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub engine_hours: Option<f64>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub odometer_km: Option<f64>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 10000))]
    pub notes: Option<String>,
    /// Replaces the part list.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub parts: Option<Vec<WorkOrderPart>>,
    /// Added to the order's photos (SHA-256 of uploaded photos).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 50))]
    pub photos: Vec<String>,
}

/// Filters of `GET /api/v1/kpis/maintenance`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct MaintenanceKpiQuery {
    /// Start of the period (RFC 3339). Default: 30 days before `to`.
    pub from: Option<DateTime<Utc>>,
    /// End of the period (RFC 3339), at the latest now. Default: now.
    pub to: Option<DateTime<Utc>>,
    /// Only this category's assets.
    pub category_id: Option<Uuid>,
    /// Only this asset.
    pub asset_id: Option<Uuid>,
}

/// Reliability KPIs over the period `[from, to)`, from the work orders' recorded times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MaintenanceKpi {
    pub from: DateTime<Utc>,
    /// The end of the period actually counted (`to`, at the latest now).
    pub to: DateTime<Utc>,
    /// Assets in scope (not retired).
    pub assets: i64,
    /// Of them, in maintenance now.
    pub in_maintenance: i64,
    /// (assets − in maintenance) ÷ assets, now. Target ≥ 0.92.
    pub availability_now: Option<f64>,
    /// 1 − downtime hours ÷ (assets × period hours): the share of the period the fleet was
    /// not in a worked order.
    pub availability_time_weighted: Option<f64>,
    /// Hours of work orders in progress (started → completed or cancelled, or still running),
    /// clipped to the period, summed over assets.
    pub downtime_hours: f64,
    /// Unplanned work orders (no plan: breakdowns, failed inspections) opened in the period.
    pub failures: i64,
    /// Mean time between failures: operating hours (assets × period hours − downtime) ÷
    /// failures; `null` without failures.
    pub mtbf_hours: Option<f64>,
    /// Mean time to repair: over unplanned orders completed in the period, completion − start
    /// (or − opening, if never started); `null` without any.
    pub mttr_hours: Option<f64>,
    /// Planned services (orders with a plan) completed in the period…
    pub services_done: i64,
    /// … by the end of their due day…
    pub services_on_time: i64,
    /// … or after it.
    pub services_late: i64,
}

/// The maintenance view of one asset: each applying plan's next service, and the one that
/// presses most.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AssetMaintenance {
    pub asset_id: Uuid,
    pub engine_hours: Option<f64>,
    pub odometer_km: Option<f64>,
    /// Engine hours per calendar day over the last 30 days (daily meter snapshots, including
    /// hours derived from ignition); `null` until a day of history exists.
    pub hours_per_day: Option<f64>,
    pub km_per_day: Option<f64>,
    /// The most urgent service, then the soonest: what a dispatcher is told.
    pub next_service: Option<ServiceForecast>,
    pub services: Vec<ServiceForecast>,
}

/// An asset whose most pressing service is in its lead window or past it: a line of the
/// dispatcher's "due for service" list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ServiceDue {
    pub asset_id: Uuid,
    pub code: String,
    pub name: String,
    pub status: crate::AssetStatus,
    pub site_id: Option<Uuid>,
    /// Forecast now, when the list is read.
    pub next_service: ServiceForecast,
    /// The active work order of that service's plan, if one is open.
    pub work_order_id: Option<Uuid>,
}

/// `GET /api/v1/alerts/service-due`: a page of the list, and how many assets it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ServiceDueList {
    pub items: Vec<ServiceDue>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
    /// Assets in the list (as of the clock's last pass over each).
    pub total: i64,
}

/// The service that presses most: the most urgent, then the soonest.
pub fn most_pressing(services: &[ServiceForecast]) -> Option<&ServiceForecast> {
    services.iter().min_by_key(|s| {
        (
            std::cmp::Reverse(s.urgency),
            s.forecast_date.is_none(),
            s.forecast_date,
        )
    })
}

/// Whole days until a meter at `current` reaches `due_at` at `per_day` (> 0): the forecast's
/// rule, also used by ingest when a reading crosses a threshold. 0 when reached or passed.
pub fn days_until(due_at: f64, current: f64, per_day: f64) -> i64 {
    let remaining = due_at - current;
    if remaining <= 0.0 {
        0
    } else {
        // The epsilon keeps 49.6 h at 6.2 h/day at 8 days, not 7.999….
        (remaining / per_day + 1e-9).floor() as i64
    }
}

impl MetricDue {
    /// The meter value from which this metric's service is inside `plan`'s lead window, at the
    /// usage per day it was forecast with; `None` for the calendar, or without a due point.
    ///
    /// The clock's sweep stores it for every service not yet in its window, and ingest compares
    /// each new reading with it (`current >= opens_at`): the full forecast (30 days of
    /// snapshots, anchors) is too costly per batch, this comparison is one indexed read. The
    /// days part is "fewer than lead + 1 days of use left" ([`days_until`] rounds down), nudged
    /// by a millionth of a day so that exactly lead + 1 days still reads as outside.
    pub fn opens_at(&self, plan: &Plan) -> Option<f64> {
        let due = self.due_at?;
        let per_day = self.per_day.filter(|p| *p > 0.0)?;
        let by_days = due - (f64::from(plan.lead_days) + 1.0) * per_day + per_day * 1e-6;
        let by_hours = plan
            .lead_hours
            .filter(|_| self.metric == Metric::EngineHours)
            .map(|h| due - f64::from(h));
        Some(by_hours.map_or(by_days, |h| h.min(by_days)))
    }
}

/// The service `occurrence` performs: the largest whose multiple divides it.
pub fn service_for(services: &[PlanService], occurrence: u32) -> Option<&PlanService> {
    services
        .iter()
        .filter(|s| s.multiple > 0 && occurrence % s.multiple == 0)
        .max_by_key(|s| s.multiple)
}

/// The next service of an asset under `plan`, seen on `today`.
pub fn forecast(
    plan: &Plan,
    anchoring: &Anchoring,
    usage: &Usage,
    today: NaiveDate,
) -> ServiceForecast {
    // Each metric's due point and occurrence; the earliest date (then the most urgent) wins.
    let mut metrics: Vec<(MetricDue, u32, u32)> = plan
        .intervals
        .iter()
        .map(|i| metric_due(plan, *i, anchoring, usage, today))
        .collect();
    metrics.sort_by_key(|(m, _, _)| (m.date.is_none(), m.date, std::cmp::Reverse(m.urgency)));
    let (occurrence, skipped) = metrics
        .first()
        .map(|(_, n, s)| (*n, *s))
        .unwrap_or((anchoring.occurrence + 1, 0));
    let urgency = metrics
        .iter()
        .map(|(m, _, _)| m.urgency)
        .max()
        .unwrap_or(Urgency::Ok);
    let pick = |metric: Metric| {
        metrics
            .iter()
            .find(|(m, _, _)| m.metric == metric)
            .map(|(m, _, _)| m)
    };
    let due_at = |metric| pick(metric).and_then(|m| m.due_at);
    ServiceForecast {
        plan_id: plan.id,
        plan: plan.name.clone(),
        service: service_for(&plan.services, occurrence)
            .map(|s| s.name.clone())
            .unwrap_or_else(|| plan.name.clone()),
        occurrence,
        metric: metrics
            .first()
            .map(|(m, _, _)| m.metric)
            .unwrap_or(Metric::Days),
        due_at_hours: due_at(Metric::EngineHours),
        due_at_km: due_at(Metric::OdometerKm),
        due_date: pick(Metric::Days).and_then(|m| m.date),
        forecast_date: metrics.first().and_then(|(m, _, _)| m.date),
        urgency,
        skipped,
        meter_flagged: usage.meter_flagged,
        metrics: metrics.into_iter().map(|(m, _, _)| m).collect(),
    }
}

/// One metric: its due point, date, urgency, and the occurrence and skipped count it implies.
fn metric_due(
    plan: &Plan,
    interval: Interval,
    anchoring: &Anchoring,
    usage: &Usage,
    today: NaiveDate,
) -> (MetricDue, u32, u32) {
    let every = f64::from(interval.every.max(1));
    let lead_days = i64::from(plan.lead_days);
    match interval.metric {
        Metric::Days => {
            let origin = plan.starts_on;
            let since = |d: NaiveDate| (d - origin).num_days().max(0) as f64;
            let anchor_day = anchoring.at.date_naive();
            let (steps_from_origin, occurrence, skipped) = match plan.anchor {
                Anchor::Completion => (None, anchoring.occurrence + 1, 0),
                Anchor::Fixed => {
                    let (index, skipped) = grid(since(anchor_day), since(today), every);
                    (Some(index), index, skipped)
                }
            };
            let date = match steps_from_origin {
                Some(index) => {
                    origin + chrono::Days::new(u64::from(index) * u64::from(interval.every))
                }
                None => anchor_day + chrono::Days::new(u64::from(interval.every)),
            };
            let remaining = (date - today).num_days();
            let urgency = if remaining < 0 {
                Urgency::Overdue
            } else if remaining == 0 {
                Urgency::Due
            } else if remaining <= lead_days {
                Urgency::Soon
            } else {
                Urgency::Ok
            };
            let due = MetricDue {
                metric: Metric::Days,
                due_at: None,
                date: Some(date),
                remaining: Some(remaining as f64),
                per_day: None,
                urgency,
            };
            (due, occurrence, skipped)
        }
        Metric::EngineHours | Metric::OdometerKm => {
            let hours = interval.metric == Metric::EngineHours;
            let (anchor_value, current, measured, floor) = if hours {
                (
                    anchoring.engine_hours,
                    usage.engine_hours,
                    usage.hours_per_day,
                    HOURS_PER_DAY_FLOOR,
                )
            } else {
                (
                    anchoring.odometer_km,
                    usage.odometer_km,
                    usage.km_per_day,
                    KM_PER_DAY_FLOOR,
                )
            };
            // A baseline taken before the first reading counts from zero.
            let anchor_value = anchor_value.unwrap_or(0.0).max(0.0);
            let (due_at, occurrence, skipped) = match (plan.anchor, current) {
                (Anchor::Completion, _) | (Anchor::Fixed, None) => {
                    let due_at = match plan.anchor {
                        Anchor::Completion => anchor_value + every,
                        Anchor::Fixed => ((anchor_value / every).floor() + 1.0) * every,
                    };
                    let occurrence = match plan.anchor {
                        Anchor::Completion => anchoring.occurrence + 1,
                        Anchor::Fixed => (due_at / every).round() as u32,
                    };
                    (due_at, occurrence, 0)
                }
                (Anchor::Fixed, Some(current)) => {
                    let (index, skipped) = grid(anchor_value, current, every);
                    (f64::from(index) * every, index, skipped)
                }
            };
            let per_day = measured.unwrap_or(0.0).max(floor);
            let Some(current) = current else {
                let due = MetricDue {
                    metric: interval.metric,
                    due_at: Some(due_at),
                    date: None,
                    remaining: None,
                    per_day: Some(per_day),
                    urgency: Urgency::Ok,
                };
                return (due, occurrence, skipped);
            };
            let remaining = due_at - current;
            let days = days_until(due_at, current, per_day);
            let date = today + chrono::Days::new(days.max(0) as u64);
            let lead_hours = plan.lead_hours.map(f64::from).filter(|_| hours);
            let urgency = if remaining < 0.0 {
                Urgency::Overdue
            } else if days == 0 {
                Urgency::Due
            } else if days <= lead_days || lead_hours.is_some_and(|l| remaining <= l) {
                Urgency::Soon
            } else {
                Urgency::Ok
            };
            let due = MetricDue {
                metric: interval.metric,
                due_at: Some(due_at),
                date: Some(date),
                remaining: Some(remaining),
                per_day: Some(per_day),
                urgency,
            };
            (due, occurrence, skipped)
        }
    }
}

/// The fixed grid: the next grid index after the anchor, or — when the asset has passed more
/// than one grid point since — the latest passed one, with how many were skipped between.
fn grid(anchor: f64, current: f64, every: f64) -> (u32, u32) {
    let next = (anchor / every).floor() + 1.0;
    let passed = (current / every).floor();
    if passed > next {
        (passed as u32, (passed - next) as u32)
    } else {
        (next as u32, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn plan(intervals: &[(Metric, u32)], anchor: Anchor) -> Plan {
        Plan {
            id: Uuid::nil(),
            name: "service".into(),
            category_id: None,
            asset_id: None,
            intervals: intervals
                .iter()
                .map(|&(metric, every)| Interval { metric, every })
                .collect(),
            lead_days: 10,
            lead_hours: None,
            anchor,
            services: vec![PlanService {
                name: "service".into(),
                multiple: 1,
            }],
            starts_on: day("2026-01-01"),
            version: 1,
            created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            updated_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        }
    }

    fn anchored(date: &str, hours: Option<f64>, km: Option<f64>, occurrence: u32) -> Anchoring {
        Anchoring {
            at: day(date).and_hms_opt(12, 0, 0).unwrap().and_utc(),
            engine_hours: hours,
            odometer_km: km,
            occurrence,
        }
    }

    fn usage(hours: Option<f64>, per_day: Option<f64>) -> Usage {
        Usage {
            engine_hours: hours,
            hours_per_day: per_day,
            ..Usage::default()
        }
    }

    #[test]
    fn the_issue_example_forecasts_the_date_from_utilisation() {
        // 250 h service, anchored at 0 h; at 200.4 h used 6.2 h/day: 49.6 h left = 8 days.
        let p = plan(&[(Metric::EngineHours, 250)], Anchor::Completion);
        let f = forecast(
            &p,
            &anchored("2026-11-01", Some(0.0), None, 0),
            &usage(Some(200.4), Some(6.2)),
            day("2026-12-06"),
        );
        assert_eq!(f.due_at_hours, Some(250.0));
        assert_eq!(f.forecast_date, Some(day("2026-12-14")));
        assert_eq!(f.metric, Metric::EngineHours);
        assert_eq!(f.urgency, Urgency::Soon, "8 days is inside the 10-day lead");
        assert_eq!(f.occurrence, 1);
    }

    #[test]
    fn whichever_comes_first_wins() {
        let p = plan(
            &[(Metric::EngineHours, 500), (Metric::Days, 365)],
            Anchor::Completion,
        );
        let a = anchored("2026-01-01", Some(100.0), None, 0);
        // Heavy use: 500 h arrive (in 40 days) before the year is out.
        let busy = forecast(&p, &a, &usage(Some(200.0), Some(10.0)), day("2026-03-01"));
        assert_eq!(busy.metric, Metric::EngineHours);
        assert_eq!(busy.forecast_date, Some(day("2026-04-10")));
        assert_eq!(
            busy.due_date,
            Some(day("2027-01-01")),
            "both points are shown"
        );
        // Light use: the calendar comes first.
        let idle = forecast(&p, &a, &usage(Some(200.0), Some(0.6)), day("2026-03-01"));
        assert_eq!(idle.metric, Metric::Days);
        assert_eq!(idle.forecast_date, Some(day("2027-01-01")));
        assert_eq!(idle.metrics.len(), 2);
    }

    #[test]
    fn urgency_follows_the_lead_and_the_due_point() {
        let mut p = plan(&[(Metric::Days, 30)], Anchor::Completion);
        let a = anchored("2026-06-01", None, None, 0); // due 2026-07-01
        let at = |d: &str| forecast(&p, &a, &Usage::default(), day(d)).urgency;
        assert_eq!(at("2026-06-15"), Urgency::Ok);
        assert_eq!(at("2026-06-21"), Urgency::Soon, "exactly 10 days ahead");
        assert_eq!(at("2026-06-30"), Urgency::Soon);
        assert_eq!(at("2026-07-01"), Urgency::Due);
        assert_eq!(at("2026-07-02"), Urgency::Overdue);
        p.lead_days = 0;
        let at = |d: &str| forecast(&p, &a, &Usage::default(), day(d)).urgency;
        assert_eq!(at("2026-06-30"), Urgency::Ok);
    }

    #[test]
    fn meters_are_due_on_the_day_they_reach_the_point_and_overdue_past_it() {
        let mut p = plan(&[(Metric::EngineHours, 250)], Anchor::Completion);
        p.lead_days = 2;
        p.lead_hours = Some(50);
        let a = anchored("2026-01-01", Some(0.0), None, 0);
        let at = |h: f64| forecast(&p, &a, &usage(Some(h), Some(8.0)), day("2026-05-01")).urgency;
        assert_eq!(at(100.0), Urgency::Ok, "150 h left: 18 days");
        assert_eq!(at(201.0), Urgency::Soon, "49 h left: inside the hour lead");
        assert_eq!(at(226.0), Urgency::Soon, "24 h left: 3 days; the hour lead");
        assert_eq!(at(243.0), Urgency::Due, "7 h left: reached today");
        assert_eq!(at(250.0), Urgency::Due, "exactly at the point");
        assert_eq!(at(250.5), Urgency::Overdue);
    }

    #[test]
    fn a_meter_enters_the_lead_window_exactly_at_its_threshold() {
        // What ingest compares readings with must agree with the forecast on both sides of it.
        let a = anchored("2026-01-01", Some(0.0), None, 0);
        let today = day("2026-05-01");
        for (lead_hours, per_day, expected) in [
            (None, 6.2, 250.0 - 11.0 * 6.2),
            (None, 0.1, 250.0 - 11.0 * HOURS_PER_DAY_FLOOR), // the floor applies
            (Some(80), 6.2, 170.0),                          // the hour lead is wider
            (Some(20), 6.2, 250.0 - 11.0 * 6.2),             // the day lead is wider
            (None, 400.0, 250.0 - 11.0 * 400.0),             // heavy use: soon from the start
        ] {
            let mut p = plan(&[(Metric::EngineHours, 250)], Anchor::Completion);
            p.lead_hours = lead_hours;
            let f = |h: f64| forecast(&p, &a, &usage(Some(h), Some(per_day)), today);
            let opens = f(0.0).metrics[0].opens_at(&p).unwrap();
            assert!((opens - expected).abs() < 1e-3, "{opens} vs {expected}");
            if opens > 0.0 {
                assert_eq!(f(opens).urgency, Urgency::Soon, "at {opens}");
                assert_eq!(f(opens - 0.01).urgency, Urgency::Ok, "below {opens}");
            }
        }
        // The odometer ignores the hour lead; the calendar has no threshold.
        let mut p = plan(
            &[(Metric::OdometerKm, 5000), (Metric::Days, 365)],
            Anchor::Completion,
        );
        p.lead_hours = Some(4000);
        let km = Usage {
            odometer_km: Some(100.0),
            km_per_day: Some(100.0),
            ..Usage::default()
        };
        let f = forecast(&p, &anchored("2026-01-01", None, Some(0.0), 0), &km, today);
        let by_metric = |m: Metric| f.metrics.iter().find(|d| d.metric == m).unwrap();
        let opens = by_metric(Metric::OdometerKm).opens_at(&p).unwrap();
        assert!((opens - (5000.0 - 1100.0)).abs() < 1e-3);
        assert_eq!(by_metric(Metric::Days).opens_at(&p), None);
        // Without a reading there is a due point and the floor: still a threshold.
        let f = forecast(
            &plan(&[(Metric::EngineHours, 250)], Anchor::Completion),
            &a,
            &Usage::default(),
            today,
        );
        assert!(f.metrics[0].opens_at(&p).is_some());
    }

    #[test]
    fn urgency_ranks_follow_its_order_and_round_trip() {
        for pair in Urgency::ALL.windows(2) {
            assert!(pair[0] < pair[1]);
            assert!(pair[0].rank() < pair[1].rank());
        }
        for u in Urgency::ALL {
            assert_eq!(Urgency::from_rank(i64::from(u.rank())), Some(u));
        }
        assert_eq!(Urgency::from_rank(4), None);
        assert_eq!(Urgency::from_rank(-1), None);
    }

    #[test]
    fn days_until_rounds_down_and_never_goes_negative() {
        assert_eq!(days_until(250.0, 200.4, 6.2), 8);
        assert_eq!(days_until(250.0, 250.0, 6.2), 0);
        assert_eq!(days_until(250.0, 300.0, 6.2), 0);
        assert_eq!(days_until(250.0, 0.0, 0.5), 500);
    }

    #[test]
    fn nested_services_absorb_the_smaller_ones() {
        let services = vec![
            PlanService {
                name: "250 h".into(),
                multiple: 1,
            },
            PlanService {
                name: "500 h".into(),
                multiple: 2,
            },
            PlanService {
                name: "1000 h".into(),
                multiple: 4,
            },
        ];
        let names: Vec<&str> = (1..=8)
            .map(|n| service_for(&services, n).unwrap().name.as_str())
            .collect();
        assert_eq!(
            names,
            ["250 h", "500 h", "250 h", "1000 h", "250 h", "500 h", "250 h", "1000 h"]
        );
        let mut p = plan(&[(Metric::EngineHours, 250)], Anchor::Completion);
        p.services = services;
        // The third completion was at 760 h: the 4th occurrence, at 1010 h, is the 1000 h service.
        let f = forecast(
            &p,
            &anchored("2026-01-01", Some(760.0), None, 3),
            &usage(Some(900.0), Some(5.0)),
            day("2026-02-01"),
        );
        assert_eq!((f.occurrence, f.service.as_str()), (4, "1000 h"));
        assert_eq!(f.due_at_hours, Some(1010.0));
    }

    #[test]
    fn a_fixed_grid_skips_missed_occurrences_and_counts_them() {
        let p = plan(&[(Metric::EngineHours, 250)], Anchor::Fixed);
        // Last service at the 500 h point (done at 510 h); now at 1130 h: 750 was skipped,
        // 1000 is due (passed).
        let f = forecast(
            &p,
            &anchored("2026-01-01", Some(510.0), None, 2),
            &usage(Some(1130.0), Some(5.0)),
            day("2026-02-01"),
        );
        assert_eq!(f.due_at_hours, Some(1000.0));
        assert_eq!((f.occurrence, f.skipped), (4, 1));
        assert_eq!(f.urgency, Urgency::Overdue);
        // A late completion does not move the grid: done at 1010 h, next is 1250 h, not 1260 h.
        let f = forecast(
            &p,
            &anchored("2026-02-02", Some(1010.0), None, 4),
            &usage(Some(1020.0), Some(5.0)),
            day("2026-02-03"),
        );
        assert_eq!(
            (f.due_at_hours, f.occurrence, f.skipped),
            (Some(1250.0), 5, 0)
        );
        // Completion anchor: the same late service moves the next one.
        let c = plan(&[(Metric::EngineHours, 250)], Anchor::Completion);
        let f = forecast(
            &c,
            &anchored("2026-02-02", Some(1010.0), None, 4),
            &usage(Some(1020.0), Some(5.0)),
            day("2026-02-03"),
        );
        assert_eq!(f.due_at_hours, Some(1260.0));
    }

    #[test]
    fn a_fixed_calendar_grid_counts_from_the_plan_start() {
        let p = plan(&[(Metric::Days, 30)], Anchor::Fixed); // starts 2026-01-01
                                                            // Baseline on 2026-01-10; on 2026-04-15 the points of Jan 31, Mar 2, Apr 1 have passed.
        let f = forecast(
            &p,
            &anchored("2026-01-10", None, None, 0),
            &Usage::default(),
            day("2026-04-15"),
        );
        assert_eq!(f.due_date, Some(day("2026-04-01")));
        assert_eq!((f.occurrence, f.skipped), (3, 2));
        assert_eq!(f.urgency, Urgency::Overdue);
        let f = forecast(
            &p,
            &anchored("2026-01-10", None, None, 0),
            &Usage::default(),
            day("2026-01-20"),
        );
        assert_eq!(
            (f.due_date, f.skipped, f.urgency),
            (Some(day("2026-01-31")), 0, Urgency::Ok)
        );
    }

    #[test]
    fn idle_machines_get_a_far_date_from_the_floor_never_none_or_negative() {
        let p = plan(&[(Metric::EngineHours, 250)], Anchor::Completion);
        let a = anchored("2026-01-01", Some(0.0), None, 0);
        for measured in [None, Some(0.0), Some(-3.0), Some(0.1)] {
            let f = forecast(&p, &a, &usage(Some(100.0), measured), day("2026-01-02"));
            // 150 h at the floor of 0.5 h/day.
            assert_eq!(f.forecast_date, Some(day("2026-10-29")), "{measured:?}");
            assert_eq!(f.metrics[0].per_day, Some(HOURS_PER_DAY_FLOOR));
        }
    }

    #[test]
    fn a_flagged_meter_is_reported_and_never_makes_a_service_due() {
        // The applied reading stays at 240 h while the replaced meter reads low: the forecast
        // keeps counting from the applied value, and says the meter is flagged.
        let p = plan(&[(Metric::EngineHours, 250)], Anchor::Completion);
        let u = Usage {
            engine_hours: Some(100.0),
            hours_per_day: Some(2.0),
            meter_flagged: true,
            ..Usage::default()
        };
        let f = forecast(
            &p,
            &anchored("2026-01-01", Some(0.0), None, 0),
            &u,
            day("2026-03-01"),
        );
        assert!(f.meter_flagged);
        assert_eq!(f.urgency, Urgency::Ok);
        assert!(f.metrics[0].remaining.unwrap() > 0.0);
    }

    #[test]
    fn without_a_reading_a_meter_metric_has_a_point_but_no_date() {
        let p = plan(
            &[(Metric::EngineHours, 250), (Metric::Days, 180)],
            Anchor::Completion,
        );
        let f = forecast(
            &p,
            &anchored("2026-01-01", None, None, 0),
            &Usage::default(),
            day("2026-02-01"),
        );
        assert_eq!(f.metric, Metric::Days, "the metric with a date comes first");
        assert_eq!(f.due_at_hours, Some(250.0));
        assert_eq!(f.forecast_date, Some(day("2026-06-30")));
        let only_hours = plan(&[(Metric::EngineHours, 250)], Anchor::Fixed);
        let f = forecast(
            &only_hours,
            &anchored("2026-01-01", None, None, 0),
            &Usage::default(),
            day("2026-02-01"),
        );
        assert_eq!((f.forecast_date, f.urgency), (None, Urgency::Ok));
        assert_eq!(f.due_at_hours, Some(250.0));
    }

    #[test]
    fn odometer_intervals_use_the_km_floor() {
        let p = plan(&[(Metric::OdometerKm, 10_000)], Anchor::Completion);
        let u = Usage {
            odometer_km: Some(2_000.0),
            km_per_day: None,
            ..Usage::default()
        };
        let f = forecast(
            &p,
            &anchored("2026-01-01", None, Some(1_000.0), 0),
            &u,
            day("2026-01-01"),
        );
        assert_eq!(f.due_at_km, Some(11_000.0));
        assert_eq!(f.metrics[0].per_day, Some(KM_PER_DAY_FLOOR));
        assert_eq!(
            f.forecast_date,
            Some(day("2030-12-06")),
            "9,000 km at 5 km/day"
        );
    }

    #[test]
    fn the_most_pressing_service_is_the_most_urgent_then_the_soonest() {
        let p = plan(&[(Metric::Days, 100)], Anchor::Completion);
        let at = |d: &str| {
            forecast(
                &p,
                &anchored(d, None, None, 0),
                &Usage::default(),
                day("2026-06-01"),
            )
        };
        let later = at("2026-05-01"); // due 2026-08-09: ok
        let sooner = at("2026-04-01"); // due 2026-07-10: ok, sooner
        let overdue = at("2026-01-01"); // due 2026-04-11: overdue
        assert_eq!(
            most_pressing(&[later.clone(), sooner.clone()]),
            Some(&sooner)
        );
        assert_eq!(
            most_pressing(&[sooner.clone(), overdue.clone(), later]),
            Some(&overdue)
        );
        assert_eq!(most_pressing(&[]), None);
    }

    #[test]
    fn work_order_states_move_only_forward_or_back_a_step() {
        use WorkOrderState::*;
        // Rows: from; columns: to, in ALL order (open, scheduled, in_progress, done, cancelled).
        let table = [
            (Open, [0, 1, 1, 1, 1]),
            (Scheduled, [1, 0, 1, 1, 1]),
            (InProgress, [0, 1, 0, 1, 1]),
            (Done, [0, 0, 0, 0, 0]),
            (Cancelled, [0, 0, 0, 0, 0]),
        ];
        for (from, row) in table {
            for (to, allowed) in WorkOrderState::ALL.into_iter().zip(row) {
                assert_eq!(from.can_become(to), allowed == 1, "{from:?} -> {to:?}");
            }
            assert_eq!(WorkOrderState::parse(from.as_str()), Some(from));
            assert_eq!(serde_json::to_value(from).unwrap(), from.as_str());
        }
        assert!(Open.is_active() && Scheduled.is_active() && InProgress.is_active());
        assert!(!Done.is_active() && !Cancelled.is_active());
    }

    #[test]
    fn wire_names_are_stable() {
        for m in Metric::ALL {
            let json = serde_json::to_value(m).unwrap();
            assert_eq!(json, m.as_str());
        }
        for (u, s) in [
            (Urgency::Ok, "ok"),
            (Urgency::Soon, "soon"),
            (Urgency::Due, "due"),
            (Urgency::Overdue, "overdue"),
        ] {
            assert_eq!(serde_json::to_value(u).unwrap(), s);
            assert_eq!(u.as_str(), s);
        }
        assert_eq!(serde_json::to_value(Anchor::Fixed).unwrap(), "fixed");
    }
}
