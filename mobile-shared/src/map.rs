//! Wire types of the map read models (`/api/v1/map/assets`, `/api/v1/map/heat`): GeoJSON
//! FeatureCollections (RFC 7946) that MapLibre draws as they come, with the cells' keys from
//! [`crate::geo_cell`].

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::AssetStatus;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// GeoJSON's `"type": "FeatureCollection"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub enum FeatureCollectionType {
    FeatureCollection,
}

/// GeoJSON's `"type": "Feature"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub enum FeatureType {
    Feature,
}

/// A GeoJSON geometry: a point `[lon, lat]` or a polygon (one ring, closed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(tag = "type")]
pub enum Geometry {
    Point { coordinates: [f64; 2] },
    Polygon { coordinates: Vec<Vec<[f64; 2]>> },
}

/// What a feature of `/api/v1/map/assets` is: one asset, or a server-side cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MapAssetProps {
    Asset {
        id: Uuid,
        code: String,
        name: String,
        status: AssetStatus,
        category_id: Option<Uuid>,
        site_id: Option<Uuid>,
        /// The stale rule of `/api/v1/alerts/stale` with the request's threshold.
        stale: bool,
        pos_at: Option<DateTime<Utc>>,
    },
    Cluster {
        /// The cell's key at `level` (decimal string: keys exceed JavaScript's safe integers
        /// only at finer levels, but one form for all).
        cell: String,
        count: u64,
        /// Assets by status (statuses with none are absent).
        by_status: BTreeMap<String, u64>,
        /// How many of them are stale.
        stale: u64,
        /// The map zoom at which this cluster splits into smaller clusters or assets.
        expansion_zoom: u8,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MapAssetFeature {
    #[serde(rename = "type")]
    pub kind: FeatureType,
    pub geometry: Geometry,
    pub properties: MapAssetProps,
}

/// `/api/v1/map/assets`: the assets in the bbox, or their clusters when there are more than
/// `limit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MapAssets {
    #[serde(rename = "type")]
    pub kind: FeatureCollectionType,
    pub features: Vec<MapAssetFeature>,
    /// Assets matched in the bbox (all of them, clustered or not).
    pub total: u64,
    /// Whether `features` are clusters (`total` above `limit`).
    pub clustered: bool,
    /// The most assets sent one by one.
    pub limit: u64,
    /// The cell zoom of the clusters (map zoom + 2: a cluster is about 64 px wide).
    pub level: u8,
    pub threshold_hours: u32,
}

/// The heat map's metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HeatMetric {
    /// Live assets per cell.
    Count,
    /// Live assets per cell with their status share.
    Status,
    /// Engine hours and km used per cell over `from..to`.
    Utilisation,
}

impl HeatMetric {
    pub fn parse(s: &str) -> Option<HeatMetric> {
        match s {
            "count" => Some(HeatMetric::Count),
            "status" => Some(HeatMetric::Status),
            "utilisation" => Some(HeatMetric::Utilisation),
            _ => None,
        }
    }
}

/// The status share of a heat cell, in the four groups a dispatcher reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct StatusShare {
    /// `on_rent`.
    pub rented: u64,
    /// `available` and used (engine hours or odometer rose) within `idle_after_days`.
    pub available: u64,
    /// `in_maintenance` or `out_of_service`.
    pub in_maintenance: u64,
    /// `available` but not used within `idle_after_days` (or never).
    pub idle: u64,
}

/// One heat cell (a map tile at `level`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct HeatCell {
    /// The cell's key at `level`, a decimal string.
    pub cell: String,
    /// Assets (count, status) or assets that reported usage (utilisation).
    pub count: u64,
    /// `status` metric: the share of `count` (lost and retired assets are in no group).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by_status: Option<StatusShare>,
    /// `utilisation`: engine hours used in the period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine_hours: Option<f64>,
    /// `utilisation`: km driven in the period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub km: Option<f64>,
    /// The cell's centre `[lon, lat]` (for a heatmap layer's points).
    pub centre: [f64; 2],
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct HeatFeature {
    #[serde(rename = "type")]
    pub kind: FeatureType,
    /// The cell's square.
    pub geometry: Geometry,
    pub properties: HeatCell,
}

/// `/api/v1/map/heat`: the cells of the bbox that hold something.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct HeatCells {
    #[serde(rename = "type")]
    pub kind: FeatureCollectionType,
    pub features: Vec<HeatFeature>,
    pub metric: HeatMetric,
    /// The cells' zoom (map zoom + 3: a cell is about 32 px wide).
    pub level: u8,
    /// The largest `count` among the cells (a colour ramp's top).
    pub max_count: u64,
    /// Days without use after which an available asset counts as idle.
    pub idle_after_days: u32,
    /// `utilisation`: the UTC days summed, inclusive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_day: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_day: Option<NaiveDate>,
}
