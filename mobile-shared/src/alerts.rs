//! Wire types of the dispatcher's alert lists (`/api/v1/alerts/…`) and the per-site status
//! table (`/api/v1/map/sites`): what the console's header counts and lists show.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::wire::{LatLon, SiteKind};
use crate::AssetStatus;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// Why an asset is flagged "possibly lost or damaged". An asset can have several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StaleReason {
    /// Its last position is older than the threshold.
    PositionOld,
    /// It has a tracker but never had a position.
    NoPosition,
    /// Its tracker said it went offline (status topic or MQTT last will).
    TrackerOffline,
    /// Its tracker was marked offline by the silence watch (no telemetry for a while).
    TrackerSilent,
}

/// A position with the time it was taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TimedPosition {
    pub lat: f64,
    pub lon: f64,
    pub at: DateTime<Utc>,
}

/// The tracker an alert shows for an asset: its most recently seen one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TrackerState {
    pub device_id: String,
    pub online: bool,
    /// Last message of any kind from it; absent if it never reported.
    pub last_seen_at: Option<DateTime<Utc>>,
}

/// A reference to a named record (site, category), for display without a second request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct NamedRef {
    pub id: Uuid,
    pub name: String,
}

/// An asset flagged stale (possibly lost or damaged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct StaleAsset {
    pub asset_id: Uuid,
    pub code: String,
    pub name: String,
    pub status: AssetStatus,
    pub site: Option<NamedRef>,
    pub category: Option<NamedRef>,
    /// Absent when it never had a position.
    pub last_position: Option<TimedPosition>,
    /// Seconds since `last_position.at` when the list was read; absent without a position.
    pub age_seconds: Option<i64>,
    /// Never empty.
    pub reasons: Vec<StaleReason>,
    pub tracker: Option<TrackerState>,
}

/// An asset inside no site fence and not on rent: it left a depot without paperwork.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct OffSiteAsset {
    pub asset_id: Uuid,
    pub code: String,
    pub name: String,
    pub status: AssetStatus,
    /// The site the registry has it at.
    pub site: Option<NamedRef>,
    pub position: TimedPosition,
    /// When it last left a fence (its latest `exit` crossing); absent if it was never seen
    /// inside one.
    pub left_at: Option<DateTime<Utc>>,
    /// The site whose fence it left then.
    pub left_site: Option<NamedRef>,
}

/// One page of an alert list: a keyset page plus the count of the whole list (the header's
/// number), taken in the same read.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AlertPage<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
    /// How many assets the whole list holds (every page), with the same filters.
    pub total: u64,
}

/// How many assets of one status a site holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct StatusCount {
    pub status: AssetStatus,
    pub count: u64,
}

/// One row of the per-site table: what a depot holds, by status, and how much of it is stale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SiteStatusRow {
    pub site_id: Uuid,
    pub name: String,
    pub kind: SiteKind,
    pub location: Option<LatLon>,
    /// Every status of `AssetStatus`, in its order, zeros included.
    pub by_status: Vec<StatusCount>,
    /// Live assets recorded at the site (retired ones included under their status).
    pub total: u64,
    /// Assets of the site the stale list would show (same rule and threshold).
    pub stale: u64,
}

/// The per-site table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SiteTable {
    /// The threshold the stale counts used, in hours.
    pub threshold_hours: u32,
    /// Sites by name.
    pub sites: Vec<SiteStatusRow>,
}
