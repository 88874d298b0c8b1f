//! Stocktake sessions: wire types of `/api/v1/stocktakes…`, shared with the phone app.
//!
//! A stocktake counts the machines at one site. Starting it snapshots the assets the registry
//! records at that site (the *expected* set); technicians then post what they scan (QR text,
//! asset codes, RFID EPC bursts with many repeats) and the server keeps each asset once (the
//! *seen* set) and every value it could not match (the *unknown* codes). The report compares the
//! two sets; resolutions turn its findings into registry changes in one call.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::wire::Asset;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// Most values one scan post may carry. An RFID reader's inventory round is a few hundred reads;
/// the bound keeps one request (and the transaction behind it) short.
pub const MAX_SCAN_CODES: usize = 2000;

/// Whether a stocktake still takes scans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StocktakeStatus {
    /// Scans are recorded.
    Open,
    /// The count is closed: scans are refused, the report no longer changes through scans.
    Completed,
}

impl StocktakeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StocktakeStatus::Open => "open",
            StocktakeStatus::Completed => "completed",
        }
    }
}

impl fmt::Display for StocktakeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown stocktake status `{0}` (expected open or completed)")]
pub struct UnknownStocktakeStatus(pub String);

impl FromStr for StocktakeStatus {
    type Err = UnknownStocktakeStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "open" => Ok(StocktakeStatus::Open),
            "completed" => Ok(StocktakeStatus::Completed),
            other => Err(UnknownStocktakeStatus(other.to_owned())),
        }
    }
}

/// `POST /api/v1/stocktakes`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewStocktake {
    /// The site whose machines are counted.
    pub site_id: Uuid,
}

/// A stocktake session with its counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Stocktake {
    pub id: Uuid,
    pub site_id: Uuid,
    pub status: StocktakeStatus,
    /// Username of whoever started it.
    pub started_by: String,
    pub started_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// Assets recorded at the site when the stocktake started (the snapshot).
    pub expected_count: i64,
    /// Distinct assets seen so far.
    pub seen_count: i64,
    /// Distinct scanned values that matched no asset.
    pub unknown_count: i64,
}

/// `POST /api/v1/stocktakes/{id}/scans`: one burst of scanned values.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StocktakeScans {
    /// 1 to [`MAX_SCAN_CODES`] values as read: QR text, asset codes, label URLs, EPC hex.
    /// Repeats are expected (RFID readers report a tag many times) and deduplicated.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 2000))]
    pub codes: Vec<String>,
}

/// What one burst did. Replaying a burst answers `new_assets: 0`, everything else the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ScanBurstResult {
    /// Values received and recorded (each either as a sighting of an asset or as an unknown
    /// code), repeats included: the length of `codes`.
    pub accepted: usize,
    /// Assets seen for the first time in this stocktake.
    pub new_assets: usize,
    /// Values that matched an asset already counted, in this burst or an earlier one.
    pub repeats: usize,
    /// Distinct values (trimmed) that matched no single asset, in the order first sent.
    pub unknown: Vec<String>,
}

/// A seen asset that the registry records at another site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WrongLocation {
    pub asset: Asset,
    /// Where the registry says the asset is.
    pub recorded_site_id: Uuid,
}

/// A scanned value that matched no asset, with how often it was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UnknownCode {
    pub value: String,
    pub reads: i64,
}

/// The comparison of what was expected at the site with what was seen there. Assets appear as
/// the registry records them now, ordered by code; deleted assets are left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct StocktakeReport {
    pub stocktake: Stocktake,
    /// Seen and expected — or seen and recorded at this site now (moved here during the count,
    /// or resolved with `move_here`).
    pub found: Vec<Asset>,
    /// Expected and not seen.
    pub missing: Vec<Asset>,
    /// Seen, not expected, and recorded at no site.
    pub unexpected: Vec<Asset>,
    /// Seen, not expected, and recorded at another site.
    pub wrong_location: Vec<WrongLocation>,
    /// Values that matched no asset, by value.
    pub unknown_codes: Vec<UnknownCode>,
}

/// What to do about one finding of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// A seen asset is recorded at the stocktake's site from now on.
    MoveHere,
    /// A missing asset becomes `lost` (if its status allows that transition).
    MarkLost,
}

impl Resolution {
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::MoveHere => "move_here",
            Resolution::MarkLost => "mark_lost",
        }
    }
}

/// `POST /api/v1/stocktakes/{id}/resolve`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ResolveFinding {
    pub asset_id: Uuid,
    pub resolution: Resolution,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        for s in [StocktakeStatus::Open, StocktakeStatus::Completed] {
            assert_eq!(s.as_str().parse::<StocktakeStatus>(), Ok(s));
            assert_eq!(
                serde_json::to_value(s).ok(),
                Some(serde_json::json!(s.as_str()))
            );
        }
        assert!("closed".parse::<StocktakeStatus>().is_err());
    }

    #[test]
    fn resolutions_are_snake_case() {
        let r: Result<ResolveFinding, _> = serde_json::from_value(serde_json::json!({
            "asset_id": Uuid::nil(), "resolution": "move_here"
        }));
        assert!(matches!(
            r,
            Ok(ResolveFinding {
                resolution: Resolution::MoveHere,
                ..
            })
        ));
        assert_eq!(Resolution::MarkLost.as_str(), "mark_lost");
    }
}
