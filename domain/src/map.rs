//! The map read models (issue 13): the assets of a bounding box, clustered on the server above
//! a count, and heat cells (density, status share, utilisation) at the map's zoom.
//!
//! Both group by the cell key kept on every asset at ingest (`assets.map_cell`,
//! [`mobile_shared::geo_cell`]): a bbox is a few ranges of the key (one index range scan each,
//! `assets_map_cell`, migration 0016) and a cell at map zoom `z` is `map_cell / 4^(20−z)`, so a
//! request is a fixed number of statements whose cost follows the assets inside the box, never
//! the fleet, and nothing is counted in Rust beyond folding one row per (cell, status).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use mobile_shared::geo_cell::{self, Bbox};
use mobile_shared::map::{
    FeatureCollectionType, FeatureType, Geometry, HeatCell, HeatCells, HeatFeature, HeatMetric,
    MapAssetFeature, MapAssetProps, MapAssets, StatusShare,
};
use mobile_shared::AssetStatus;
use tracing::Instrument;
use uuid::Uuid;

use crate::alerts::{self, StaleThreshold};
use crate::assets::AssetFilter;
use crate::error::DomainError;
use crate::store::{on_read, on_tx, Store};

/// Above this many assets in the box the answer is clusters. 2,000 points are about 300 kB of
/// GeoJSON and draw in one frame in MapLibre on a tablet; more is what made Traccar's page slow
/// (issue 13), and at that density single markers overlap anyway.
pub const ASSET_LIMIT: u64 = 2_000;
/// Clusters are cells this many zooms below the map's: a map tile is 256 px, so a cluster is a
/// 64 px square at the map's zoom.
pub const CLUSTER_LEVELS: u8 = 2;
/// Heat cells are 32 px squares: finer than clusters, coarse enough to read as a density.
pub const HEAT_LEVELS: u8 = 3;
/// The deepest map zoom accepted (MapLibre's default `maxZoom`).
pub const MAX_ZOOM: u8 = 22;
/// An available asset whose engine hours and odometer did not rise for this long is idle in
/// the heat map's status share: a week covers a rental yard's usual turnover, so a machine
/// standing longer is capital not earning.
pub const IDLE_AFTER_DAYS: u32 = 7;
/// The longest utilisation period: a year (and a leap day), like the stale threshold.
pub const MAX_PERIOD_DAYS: i64 = 366;
/// The utilisation period when none is given.
pub const DEFAULT_PERIOD_DAYS: i64 = 7;
/// Rows per backfill batch (`Store::migrate`): a short write transaction each.
const BACKFILL_BATCH: i64 = 1_000;

/// A `bbox` parameter: 422 naming `bbox` when it is not one.
pub fn parse_bbox(s: Option<&str>) -> Result<Bbox, DomainError> {
    let s =
        s.ok_or_else(|| DomainError::field("bbox", "is required: minLon,minLat,maxLon,maxLat"))?;
    Bbox::parse(s).map_err(|e| DomainError::field("bbox", e.to_string()))
}

/// A `zoom` parameter (MapLibre's zoom is fractional: its floor is used): 422 naming `zoom`
/// outside 0..=22.
pub fn parse_zoom(z: Option<f64>) -> Result<u8, DomainError> {
    match z {
        None => Err(DomainError::field("zoom", "is required: 0-22")),
        Some(z) if z.is_finite() && (0.0..=f64::from(MAX_ZOOM)).contains(&z) => Ok(z.floor() as u8),
        Some(_) => Err(DomainError::field("zoom", "must be 0-22")),
    }
}

/// A utilisation period, as whole UTC days (the rollup's grain).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from_day: NaiveDate,
    pub to_day: NaiveDate,
}

impl Period {
    /// `from..to` (default: the last 7 days up to now): 422 naming `from` unless
    /// `from < to` and at most 366 days apart.
    pub fn new(
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Period, DomainError> {
        let to = to.unwrap_or_else(crate::clock::now);
        let from = from.unwrap_or(to - Duration::days(DEFAULT_PERIOD_DAYS));
        if from >= to {
            return Err(DomainError::field("from", "must be before `to`"));
        }
        if to - from > Duration::days(MAX_PERIOD_DAYS) {
            return Err(DomainError::field(
                "from",
                format!("the period may span at most {MAX_PERIOD_DAYS} days"),
            ));
        }
        // `to` is exclusive: a period ending at midnight does not include the next day.
        let last = to - Duration::microseconds(1);
        Ok(Period {
            from_day: from.date_naive(),
            to_day: last.date_naive().max(from.date_naive()),
        })
    }
}

/// SQL that keeps the rows of `col` (a cell key) in the box's cover ranges. The ranges are
/// integers computed here, inlined so the statement keeps fixed bind numbers.
fn in_ranges(col: &str, bbox: &Bbox) -> String {
    let ors: Vec<String> = geo_cell::bbox_ranges(bbox)
        .into_iter()
        .map(|(lo, hi)| format!("{col} BETWEEN {lo} AND {hi}"))
        .collect();
    format!("({})", ors.join(" OR "))
}

/// The assets of the box (live, positioned), with the exact position test after the cover's
/// ranges; `$1..$4` are south, north, west, east.
fn in_bbox(bbox: &Bbox) -> String {
    let lon = if bbox.crosses_antimeridian() {
        "(a.pos_lon >= $3 OR a.pos_lon <= $4)"
    } else {
        "a.pos_lon >= $3 AND a.pos_lon <= $4"
    };
    format!(
        "a.deleted_at IS NULL AND a.map_cell IS NOT NULL AND {ranges} \
         AND a.pos_lat >= $1 AND a.pos_lat <= $2 AND {lon}",
        ranges = in_ranges("a.map_cell", bbox)
    )
}

/// The filters of `/api/v1/assets` over `a`, in `$5..$8` (status, site, category id, text).
/// The filters over `a`, with status, site, category and text pattern in `$5`..`$8`. The text
/// condition is written only when there is a text (`$8` is still named, so every statement
/// binds the same parameters): it reads code, name and serial, which are not in the
/// `assets_map_cell` index, and a condition the planner cannot drop (`$8 IS NULL OR …` over
/// those columns) would turn the grouped index scan into a row lookup per asset (~0.5 s at
/// 100,000 assets).
fn filters(text: bool) -> String {
    let text = if text {
        "($8 IS NULL OR lower(a.code) LIKE $8 ESCAPE '\\' OR lower(a.name) LIKE $8 ESCAPE '\\' \
         OR lower(a.serial) LIKE $8 ESCAPE '\\')"
    } else {
        "$8 IS NULL"
    };
    format!(
        "($5 IS NULL OR a.status = $5) AND ($6 IS NULL OR a.site_id = $6) \
         AND ($7 IS NULL OR a.category_id = $7) AND {text}"
    )
}

fn point(lat: f64, lon: f64) -> Geometry {
    Geometry::Point {
        coordinates: [lon, lat],
    }
}

fn cell_level(zoom: u8, above: u8) -> u8 {
    (zoom + above).min(geo_cell::FINE_ZOOM)
}

#[derive(sqlx::FromRow)]
struct PointRow {
    id: Uuid,
    code: String,
    name: String,
    status: String,
    category_id: Option<Uuid>,
    site_id: Option<Uuid>,
    pos_lat: f64,
    pos_lon: f64,
    pos_at: Option<DateTime<Utc>>,
    stale: i64,
}

#[derive(sqlx::FromRow)]
struct ClusterRow {
    cell: i64,
    status: String,
    n: i64,
    stale: i64,
    lat: f64,
    lon: f64,
    lo: i64,
    hi: i64,
}

/// The assets in `bbox` matching `filter`: each one while there are at most [`ASSET_LIMIT`],
/// else one cluster per cell at `zoom + 2` at the mean position of its assets. Filters mean
/// what they mean in `/api/v1/assets` (an unknown category matches nothing).
pub async fn assets(
    store: &Store,
    bbox: &Bbox,
    zoom: u8,
    filter: &AssetFilter,
    threshold: StaleThreshold,
) -> Result<MapAssets, DomainError> {
    let level = cell_level(zoom, CLUSTER_LEVELS);
    let mut out = MapAssets {
        kind: FeatureCollectionType::FeatureCollection,
        features: Vec::new(),
        total: 0,
        clustered: false,
        limit: ASSET_LIMIT,
        level,
        threshold_hours: threshold.hours(),
    };
    let category_id = match filter.category.as_deref().map(str::trim) {
        Some(key) if !key.is_empty() => match crate::categories::resolve_read(store, key).await? {
            Some(id) => Some(id),
            None => return Ok(out),
        },
        _ => None,
    };
    let q = filter
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(crate::assets::like_pattern);
    let status = filter.status.map(|s| s.as_str());
    let site = filter.site_id;
    let cutoff = threshold.cutoff(crate::clock::now());
    // The alert lists' rule, over the asset row alone (the tracker's state is kept on it).
    let stale = alerts::stale_rule("$9");
    let bbox_sql = in_bbox(bbox);
    let filters_sql = filters(q.is_some());
    let (s, n, w, e) = (bbox.south, bbox.north, bbox.west, bbox.east);

    let count_sql = format!("SELECT COUNT(*) FROM assets a WHERE {bbox_sql} AND {filters_sql}");
    let total: i64 = on_read!(store, |p| sqlx::query_scalar(&count_sql)
        .bind(s)
        .bind(n)
        .bind(w)
        .bind(e)
        .bind(status)
        .bind(site)
        .bind(category_id)
        .bind(&q)
        .fetch_one(p)
        .await)?;
    out.total = u64::try_from(total).unwrap_or(0);
    if out.total == 0 {
        return Ok(out);
    }
    if out.total <= ASSET_LIMIT {
        let sql = format!(
            "SELECT a.id, a.code, a.name, a.status, a.category_id, a.site_id, a.pos_lat, \
             a.pos_lon, a.pos_at, CAST(CASE WHEN {stale} THEN 1 ELSE 0 END AS BIGINT) AS stale \
             FROM assets a WHERE {bbox_sql} AND {filters_sql} ORDER BY a.id LIMIT $10"
        );
        let rows: Vec<PointRow> = on_read!(store, |p| sqlx::query_as(&sql)
            .bind(s)
            .bind(n)
            .bind(w)
            .bind(e)
            .bind(status)
            .bind(site)
            .bind(category_id)
            .bind(&q)
            .bind(cutoff)
            .bind(ASSET_LIMIT as i64)
            .fetch_all(p)
            .await)?;
        for r in rows {
            out.features.push(MapAssetFeature {
                kind: FeatureType::Feature,
                geometry: point(r.pos_lat, r.pos_lon),
                properties: MapAssetProps::Asset {
                    id: r.id,
                    code: r.code,
                    name: r.name,
                    status: status_of(&r.status)?,
                    category_id: r.category_id,
                    site_id: r.site_id,
                    stale: r.stale != 0,
                    pos_at: r.pos_at,
                },
            });
        }
        return Ok(out);
    }
    out.clustered = true;
    let sql = format!(
        "SELECT a.map_cell / $10 AS cell, a.status, COUNT(*) AS n, \
         COUNT(CASE WHEN {stale} THEN 1 END) AS stale, AVG(a.pos_lat) AS lat, \
         AVG(a.pos_lon) AS lon, MIN(a.map_cell) AS lo, MAX(a.map_cell) AS hi \
         FROM assets a WHERE {bbox_sql} AND {filters_sql} GROUP BY 1, 2 ORDER BY 1, 2"
    );
    let rows: Vec<ClusterRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(s)
        .bind(n)
        .bind(w)
        .bind(e)
        .bind(status)
        .bind(site)
        .bind(category_id)
        .bind(&q)
        .bind(cutoff)
        .bind(geo_cell::divisor(level))
        .fetch_all(p)
        .await)?;
    // Rows of one cell are adjacent: fold them into one cluster (mean position weighted by
    // each status's count).
    struct Acc {
        cell: i64,
        count: u64,
        stale: u64,
        lat: f64,
        lon: f64,
        lo: i64,
        hi: i64,
        by_status: BTreeMap<String, u64>,
    }
    let mut accs: Vec<Acc> = Vec::new();
    for r in rows {
        let k = u64::try_from(r.n).unwrap_or(0);
        if accs.last().is_none_or(|a| a.cell != r.cell) {
            accs.push(Acc {
                cell: r.cell,
                count: 0,
                stale: 0,
                lat: 0.0,
                lon: 0.0,
                lo: r.lo,
                hi: r.hi,
                by_status: BTreeMap::new(),
            });
        }
        let Some(a) = accs.last_mut() else { continue };
        a.lat += r.lat * k as f64;
        a.lon += r.lon * k as f64;
        a.count += k;
        a.stale += u64::try_from(r.stale).unwrap_or(0);
        a.lo = a.lo.min(r.lo);
        a.hi = a.hi.max(r.hi);
        *a.by_status.entry(r.status).or_default() += k;
    }
    for a in accs {
        let c = a.count.max(1) as f64;
        // The cluster splits where its assets stop sharing one cell of the next level.
        let split_level = geo_cell::common_zoom(a.lo, a.hi).saturating_add(1);
        let expansion_zoom = split_level
            .saturating_sub(CLUSTER_LEVELS)
            .clamp(zoom.saturating_add(1).min(MAX_ZOOM), MAX_ZOOM);
        out.features.push(MapAssetFeature {
            kind: FeatureType::Feature,
            geometry: point(a.lat / c, a.lon / c),
            properties: MapAssetProps::Cluster {
                cell: a.cell.to_string(),
                count: a.count,
                by_status: a.by_status,
                stale: a.stale,
                expansion_zoom,
            },
        });
    }
    Ok(out)
}

fn status_of(s: &str) -> Result<AssetStatus, DomainError> {
    s.parse()
        .map_err(|e: mobile_shared::status::UnknownStatus| DomainError::Internal(e.to_string()))
}

fn polygon(code: i64, level: u8) -> (Geometry, [f64; 2]) {
    let b = geo_cell::bounds(code, level);
    let (lat, lon) = b.centre();
    (
        Geometry::Polygon {
            coordinates: vec![vec![
                [b.west, b.south],
                [b.east, b.south],
                [b.east, b.north],
                [b.west, b.north],
                [b.west, b.south],
            ]],
        },
        [lon, lat],
    )
}

#[derive(sqlx::FromRow)]
struct StatusCellRow {
    cell: i64,
    n: i64,
    rented: i64,
    available: i64,
    idle: i64,
    maintenance: i64,
}

#[derive(sqlx::FromRow)]
struct UsageCellRow {
    cell: i64,
    n: i64,
    hours: Option<f64>,
    km: Option<f64>,
}

/// Heat cells of `bbox` at `zoom + 3`: live positioned assets per cell (`count`), with their
/// status share (`status`), or the engine hours and km used per cell over `period`
/// (`utilisation`, from the daily usage rollup ingest keeps, attributed to the cell the asset
/// was in at the end of each day). One grouped statement.
pub async fn heat(
    store: &Store,
    bbox: &Bbox,
    zoom: u8,
    metric: HeatMetric,
    period: Period,
) -> Result<HeatCells, DomainError> {
    let level = cell_level(zoom, HEAT_LEVELS);
    let mut out = HeatCells {
        kind: FeatureCollectionType::FeatureCollection,
        features: Vec::new(),
        metric,
        level,
        max_count: 0,
        idle_after_days: IDLE_AFTER_DAYS,
        from_day: None,
        to_day: None,
    };
    let div = geo_cell::divisor(level);
    let (s, n, w, e) = (bbox.south, bbox.north, bbox.west, bbox.east);
    match metric {
        HeatMetric::Count | HeatMetric::Status => {
            let idle_cutoff = crate::clock::now() - Duration::days(i64::from(IDLE_AFTER_DAYS));
            let sql = format!(
                "SELECT a.map_cell / $5 AS cell, COUNT(*) AS n, \
                 COUNT(CASE WHEN a.status = 'on_rent' THEN 1 END) AS rented, \
                 COUNT(CASE WHEN a.status = 'available' AND a.used_at >= $6 THEN 1 END) \
                   AS available, \
                 COUNT(CASE WHEN a.status = 'available' \
                   AND (a.used_at IS NULL OR a.used_at < $6) THEN 1 END) AS idle, \
                 COUNT(CASE WHEN a.status IN ('in_maintenance', 'out_of_service') THEN 1 END) \
                   AS maintenance \
                 FROM assets a WHERE {bbox_sql} GROUP BY 1 ORDER BY 1",
                bbox_sql = in_bbox(bbox)
            );
            let rows: Vec<StatusCellRow> = on_read!(store, |p| sqlx::query_as(&sql)
                .bind(s)
                .bind(n)
                .bind(w)
                .bind(e)
                .bind(div)
                .bind(idle_cutoff)
                .fetch_all(p)
                .await)?;
            let n = |v: i64| u64::try_from(v).unwrap_or(0);
            for r in rows {
                let (geometry, centre) = polygon(r.cell, level);
                out.max_count = out.max_count.max(n(r.n));
                out.features.push(HeatFeature {
                    kind: FeatureType::Feature,
                    geometry,
                    properties: HeatCell {
                        cell: r.cell.to_string(),
                        count: n(r.n),
                        by_status: (metric == HeatMetric::Status).then(|| StatusShare {
                            rented: n(r.rented),
                            available: n(r.available),
                            in_maintenance: n(r.maintenance),
                            idle: n(r.idle),
                        }),
                        engine_hours: None,
                        km: None,
                        centre,
                    },
                });
            }
        }
        HeatMetric::Utilisation => {
            out.from_day = Some(period.from_day);
            out.to_day = Some(period.to_day);
            let sql = format!(
                "SELECT u.map_cell / $1 AS cell, COUNT(DISTINCT u.asset_id) AS n, \
                 CAST(SUM(COALESCE(u.hours_hi - u.hours_lo, 0)) AS DOUBLE PRECISION) AS hours, \
                 CAST(SUM(COALESCE(u.km_hi - u.km_lo, 0)) AS DOUBLE PRECISION) AS km \
                 FROM asset_usage_daily u WHERE u.day >= $2 AND u.day <= $3 \
                 AND u.map_cell IS NOT NULL AND {ranges} GROUP BY 1 ORDER BY 1",
                ranges = in_ranges("u.map_cell", bbox)
            );
            let rows: Vec<UsageCellRow> = on_read!(store, |p| sqlx::query_as(&sql)
                .bind(div)
                .bind(period.from_day)
                .bind(period.to_day)
                .fetch_all(p)
                .await)?;
            for r in rows {
                // The cover's ranges overshoot the box at its edges: keep the cells that
                // overlap it (the rollup has the cell, not the position).
                let b = geo_cell::bounds(r.cell, level);
                let overlaps = b.south <= bbox.north
                    && b.north >= bbox.south
                    && bbox
                        .parts()
                        .iter()
                        .any(|p| b.west <= p.east && b.east >= p.west);
                if !overlaps {
                    continue;
                }
                let (geometry, centre) = polygon(r.cell, level);
                let count = u64::try_from(r.n).unwrap_or(0);
                out.max_count = out.max_count.max(count);
                out.features.push(HeatFeature {
                    kind: FeatureType::Feature,
                    geometry,
                    properties: HeatCell {
                        cell: r.cell.to_string(),
                        count,
                        by_status: None,
                        engine_hours: Some(r.hours.unwrap_or(0.0).max(0.0)),
                        km: Some(r.km.unwrap_or(0.0).max(0.0)),
                        centre,
                    },
                });
            }
        }
    }
    Ok(out)
}

/// Fills `map_cell` of positioned assets that have none (rows positioned before migration
/// 0016), a batch per transaction; returns how many. Run by `Store::migrate`: the key needs
/// a logarithm and bit interleaving that SQL has no portable form for. Not audited: a derived
/// index key, not business data.
pub(crate) async fn backfill_cells(store: &Store) -> Result<u64, DomainError> {
    let mut done = 0;
    loop {
        let mut tx = store.begin().await?;
        let rows: Vec<(Uuid, f64, f64)> = on_tx!(&mut tx, |c| sqlx::query_as(
            "SELECT id, pos_lat, pos_lon FROM assets WHERE map_cell IS NULL \
             AND pos_lat IS NOT NULL AND pos_lon IS NOT NULL LIMIT $1"
        )
        .bind(BACKFILL_BATCH)
        .fetch_all(&mut *c)
        .await)?;
        if rows.is_empty() {
            tx.rollback().await?;
            return Ok(done);
        }
        let cells: Vec<(Uuid, i64)> = rows
            .iter()
            .map(|(id, lat, lon)| (*id, geo_cell::cell_of(*lat, *lon)))
            .collect();
        on_tx!(&mut tx, |c| {
            let mut qb = sqlx::QueryBuilder::new("WITH v(id, cell) AS (");
            qb.push_values(&cells, |mut b, (id, cell)| {
                b.push_bind(*id).push_bind(*cell);
            });
            qb.push(") UPDATE assets SET map_cell = v.cell FROM v WHERE assets.id = v.id");
            qb.build().execute(&mut *c).await.map(|r| r.rows_affected())
        })?;
        tx.commit().await?;
        done += cells.len() as u64;
    }
}

/// [`backfill_cells`] with a span, for `Store::migrate`.
pub(crate) async fn backfill_after_migrate(store: &Store) -> Result<(), DomainError> {
    let n = backfill_cells(store)
        .instrument(tracing::info_span!("map_cell_backfill"))
        .await?;
    if n > 0 {
        tracing::info!(assets = n, "map cells computed for positioned assets");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn names(e: DomainError, field: &str) -> bool {
        matches!(e, DomainError::Validation(f) if f.len() == 1 && f.contains_key(field))
    }

    #[test]
    fn zooms_and_bboxes_name_their_parameter() {
        assert_eq!(parse_zoom(Some(7.9)).unwrap(), 7);
        assert_eq!(parse_zoom(Some(22.0)).unwrap(), 22);
        for bad in [None, Some(-1.0), Some(22.5), Some(f64::NAN)] {
            assert!(names(parse_zoom(bad).unwrap_err(), "zoom"), "{bad:?}");
        }
        assert!(parse_bbox(Some("1,2,3,4")).is_ok());
        for bad in [None, Some("1,2,3"), Some("1,4,3,2")] {
            assert!(names(parse_bbox(bad).unwrap_err(), "bbox"), "{bad:?}");
        }
    }

    #[test]
    fn periods_are_bounded_days() {
        let t = |s: &str| Some(DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc));
        let p = Period::new(t("2026-11-01T00:00:00Z"), t("2026-11-08T00:00:00Z")).unwrap();
        assert_eq!(p.from_day.to_string(), "2026-11-01");
        assert_eq!(p.to_day.to_string(), "2026-11-07");
        let p = Period::new(t("2026-11-01T10:00:00Z"), t("2026-11-01T11:00:00Z")).unwrap();
        assert_eq!(p.from_day, p.to_day);
        for (from, to) in [
            ("2026-11-08T00:00:00Z", "2026-11-01T00:00:00Z"),
            ("2026-11-01T00:00:00Z", "2026-11-01T00:00:00Z"),
            ("2024-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
        ] {
            assert!(names(Period::new(t(from), t(to)).unwrap_err(), "from"));
        }
        assert!(Period::new(None, None).is_ok());
    }

    #[test]
    fn levels_stop_at_the_key() {
        assert_eq!(cell_level(3, CLUSTER_LEVELS), 5);
        assert_eq!(cell_level(20, HEAT_LEVELS), geo_cell::FINE_ZOOM);
    }
}
