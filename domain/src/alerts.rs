//! The dispatcher's alert lists and the per-site status table (issue 13): assets possibly lost
//! or damaged (stale position, silent or offline tracker), assets outside every site fence
//! without a delivery, and what each site holds by status.
//!
//! Each answer is a fixed number of statements whatever the fleet size: a page read and a count
//! (lists) or one grouped read (the table). The tracker shown for an asset is its most recently
//! seen one, found by one probe of `devices_asset_seen` per candidate row; the lists walk
//! `assets_pos_at` / `assets_off_site` (migration 0014).

use chrono::{DateTime, Duration, Utc};
use mobile_shared::alerts::{
    AlertPage, NamedRef, OffSiteAsset, SiteStatusRow, SiteTable, StaleAsset, StaleReason,
    StatusCount, TimedPosition, TrackerState,
};
use mobile_shared::wire::{LatLon, SiteKind};
use mobile_shared::AssetStatus;
use uuid::Uuid;

use crate::error::DomainError;
use crate::pagination::PageRequest;
use crate::store::{on_read, Store};

/// Hours without a position after which an asset is stale, unless configured otherwise.
pub const DEFAULT_STALE_AFTER_HOURS: u32 = 24;
/// The largest threshold accepted: a year. Beyond it "stale" says nothing a dispatcher can use.
pub const MAX_STALE_AFTER_HOURS: u32 = 24 * 366;

/// The tracker an alert shows for asset `a`: the most recently seen of its trackers.
const TRACKER_JOIN: &str = "LEFT JOIN devices d ON d.id = (SELECT d2.id FROM devices d2 \
     WHERE d2.asset_id = a.id ORDER BY d2.last_seen_at DESC NULLS LAST LIMIT 1)";

/// Assets the alerts look at: live, and not retired (a sold or scrapped machine is not lost).
const IN_FLEET: &str = "a.deleted_at IS NULL AND a.status <> 'retired'";

/// The stale rule over `a` and its tracker `d`, with the position cutoff in `cutoff` (a bind
/// parameter): a position older than the cutoff, no position although it has a tracker, or a
/// tracker that is offline (by its own word or by the silence watch). One text for the list,
/// its count and the site table, so the header, the list and the table agree.
fn stale_rule(cutoff: &str) -> String {
    format!(
        "((a.pos_at IS NULL AND d.id IS NOT NULL) OR a.pos_at < {cutoff} \
         OR d.offline_cause IS NOT NULL)"
    )
}

/// The tracker the alert lists show for asset `asset_id` (its most recently seen one), for the
/// console's drawer; `None` without a tracker.
pub async fn tracker_of(
    store: &Store,
    asset_id: Uuid,
) -> Result<Option<TrackerState>, DomainError> {
    let row: Option<(String, Option<bool>, Option<DateTime<Utc>>)> =
        on_read!(store, |p| sqlx::query_as(
            "SELECT device_id, online, last_seen_at FROM devices WHERE asset_id = $1 \
             ORDER BY last_seen_at DESC NULLS LAST LIMIT 1"
        )
        .bind(asset_id)
        .fetch_optional(p)
        .await)?;
    Ok(row.map(|(device_id, online, last_seen_at)| TrackerState {
        device_id,
        online: online.unwrap_or(false),
        last_seen_at,
    }))
}

/// The stale rule for the other read models of the fleet (the map): the join it needs on the
/// asset alias `a` and its predicate, with the position cutoff in the bind parameter `cutoff`.
/// One place, so a change of the rule (e.g. the tracker's state moving onto the asset row,
/// which drops the join) reaches the map with the alert lists.
pub(crate) fn stale_sql(cutoff: &str) -> (&'static str, String) {
    (TRACKER_JOIN, stale_rule(cutoff))
}

/// A validated stale threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaleThreshold(u32);

impl StaleThreshold {
    /// `hours`, or `default` when absent; 422 naming `threshold_hours` outside 1..=a year.
    pub fn new(hours: Option<i64>, default: u32) -> Result<StaleThreshold, DomainError> {
        let hours = hours.unwrap_or(i64::from(default));
        match u32::try_from(hours) {
            Ok(h) if (1..=MAX_STALE_AFTER_HOURS).contains(&h) => Ok(StaleThreshold(h)),
            _ => Err(DomainError::field(
                "threshold_hours",
                format!("must be 1-{MAX_STALE_AFTER_HOURS} hours"),
            )),
        }
    }

    pub fn hours(self) -> u32 {
        self.0
    }

    pub(crate) fn cutoff(self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - Duration::hours(i64::from(self.0))
    }
}

/// A page request of an alert list. The lists are ordered by a time that can be absent (never
/// positioned, never inside a fence: those first) and then by id, so the cursor carries both;
/// an id alone (`PageRequest`) could not resume inside a run of equal times.
#[derive(Debug, Clone, Copy)]
pub struct AlertPageRequest {
    limit: u32,
    after: Option<(Option<DateTime<Utc>>, Uuid)>,
}

impl AlertPageRequest {
    /// 422 naming `limit` (the bounds every list has) or `cursor`.
    pub fn new(limit: Option<u32>, cursor: Option<&str>) -> Result<AlertPageRequest, DomainError> {
        let limit = PageRequest::new(limit, None)?.limit;
        let after = match cursor {
            None | Some("") => None,
            Some(c) => Some(
                decode_cursor(c)
                    .ok_or_else(|| DomainError::field("cursor", "is not a cursor from this API"))?,
            ),
        };
        Ok(AlertPageRequest { limit, after })
    }

    fn fetch(&self) -> i64 {
        i64::from(self.limit) + 1
    }

    /// Keeps `limit` rows and makes the cursor from the last one's (time, id).
    fn page<R, T>(
        &self,
        mut rows: Vec<R>,
        total: i64,
        key: impl Fn(&R) -> (Option<DateTime<Utc>>, Uuid),
        item: impl FnMut(R) -> Result<T, DomainError>,
    ) -> Result<AlertPage<T>, DomainError> {
        let mut next_cursor = None;
        if rows.len() > self.limit as usize {
            rows.truncate(self.limit as usize);
            next_cursor = rows.last().map(|r| {
                let (at, id) = key(r);
                encode_cursor(at, id)
            });
        }
        Ok(AlertPage {
            items: rows.into_iter().map(item).collect::<Result<_, _>>()?,
            next_cursor,
            total: u64::try_from(total).unwrap_or(0),
        })
    }
}

/// `<µs since the epoch or n>.<uuid>`: opaque to clients, exact to the microsecond the
/// database stores.
fn encode_cursor(at: Option<DateTime<Utc>>, id: Uuid) -> String {
    match at {
        Some(at) => format!("{}.{id}", at.timestamp_micros()),
        None => format!("n.{id}"),
    }
}

fn decode_cursor(c: &str) -> Option<(Option<DateTime<Utc>>, Uuid)> {
    let (at, id) = c.split_once('.')?;
    let id = Uuid::parse_str(id).ok()?;
    let at = match at {
        "n" => None,
        micros => Some(DateTime::from_timestamp_micros(micros.parse().ok()?)?),
    };
    Some((at, id))
}

/// Rows after the cursor in the order `<col> NULLS FIRST, id`, with the cursor's id in `$id`
/// and time in `$at` (both NULL: first page). Rows with a NULL time come first, so a cursor in
/// that run continues with larger ids there and then every row with a time.
fn after_cursor(col: &str, id: &str, at: &str) -> String {
    format!(
        "({id} IS NULL \
          OR ({at} IS NULL AND ({col} IS NOT NULL OR x.id > {id})) \
          OR {col} > {at} OR ({col} = {at} AND x.id > {id}))"
    )
}

fn named(id: Option<Uuid>, name: Option<String>) -> Option<NamedRef> {
    Some(NamedRef {
        id: id?,
        name: name?,
    })
}

fn position(
    lat: Option<f64>,
    lon: Option<f64>,
    at: Option<DateTime<Utc>>,
) -> Option<TimedPosition> {
    Some(TimedPosition {
        lat: lat?,
        lon: lon?,
        at: at?,
    })
}

fn status_of(s: &str) -> Result<AssetStatus, DomainError> {
    s.parse()
        .map_err(|e: mobile_shared::status::UnknownStatus| DomainError::Internal(e.to_string()))
}

/// What the stale list is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct StaleFilter {
    pub site_id: Option<Uuid>,
    /// A category's id or name.
    pub category: Option<String>,
}

#[derive(sqlx::FromRow)]
struct StaleRow {
    id: Uuid,
    code: String,
    name: String,
    status: String,
    site_id: Option<Uuid>,
    site_name: Option<String>,
    category_id: Option<Uuid>,
    category_name: Option<String>,
    pos_lat: Option<f64>,
    pos_lon: Option<f64>,
    pos_at: Option<DateTime<Utc>>,
    tracker: Option<String>,
    tracker_online: Option<bool>,
    tracker_seen: Option<DateTime<Utc>>,
    offline_cause: Option<String>,
}

impl StaleRow {
    fn into_item(
        self,
        now: DateTime<Utc>,
        cutoff: DateTime<Utc>,
    ) -> Result<StaleAsset, DomainError> {
        let last_position = position(self.pos_lat, self.pos_lon, self.pos_at);
        let mut reasons = Vec::new();
        match self.pos_at {
            None if self.tracker.is_some() => reasons.push(StaleReason::NoPosition),
            Some(at) if at < cutoff => reasons.push(StaleReason::PositionOld),
            _ => {}
        }
        match self.offline_cause.as_deref() {
            Some("status") => reasons.push(StaleReason::TrackerOffline),
            Some(_) => reasons.push(StaleReason::TrackerSilent),
            None => {}
        }
        Ok(StaleAsset {
            asset_id: self.id,
            code: self.code,
            name: self.name,
            status: status_of(&self.status)?,
            site: named(self.site_id, self.site_name),
            category: named(self.category_id, self.category_name),
            age_seconds: self.pos_at.map(|at| (now - at).num_seconds().max(0)),
            last_position,
            reasons,
            tracker: self.tracker.map(|device_id| TrackerState {
                device_id,
                online: self.tracker_online.unwrap_or(false),
                last_seen_at: self.tracker_seen,
            }),
        })
    }
}

/// Checks the filter's references: 422 naming `site_id` or `category` when they name nothing
/// (a typo must not read as "nothing is stale there"). Returns the category's id.
async fn resolve_filter(store: &Store, filter: &StaleFilter) -> Result<Option<Uuid>, DomainError> {
    if let Some(site) = filter.site_id {
        let found: Option<i32> = on_read!(store, |p| sqlx::query_scalar(
            "SELECT 1 FROM sites WHERE id = $1"
        )
        .bind(site)
        .fetch_optional(p)
        .await)?;
        if found.is_none() {
            return Err(DomainError::field("site_id", "no such site"));
        }
    }
    match filter.category.as_deref().map(str::trim) {
        Some(key) if !key.is_empty() => crate::categories::resolve_read(store, key)
            .await?
            .map(Some)
            .ok_or_else(|| DomainError::field("category", "no such category")),
        _ => Ok(None),
    }
}

/// Assets possibly lost or damaged, oldest position first (never positioned first), with the
/// count of the whole list.
pub async fn stale(
    store: &Store,
    threshold: StaleThreshold,
    filter: &StaleFilter,
    page: AlertPageRequest,
) -> Result<AlertPage<StaleAsset>, DomainError> {
    let category_id = resolve_filter(store, filter).await?;
    let now = crate::clock::now();
    let cutoff = threshold.cutoff(now);
    // $1 cutoff, $2 site, $3 category; the page adds $4 cursor id, $5 cursor time, $6 limit.
    let from_where = format!(
        "FROM assets a {TRACKER_JOIN} \
         LEFT JOIN sites s ON s.id = a.site_id \
         LEFT JOIN categories c ON c.id = a.category_id \
         WHERE {IN_FLEET} AND {stale} \
         AND ($2 IS NULL OR a.site_id = $2) AND ($3 IS NULL OR a.category_id = $3)",
        stale = stale_rule("$1"),
    );
    let list = format!(
        "SELECT * FROM (SELECT a.id, a.code, a.name, a.status, a.site_id, s.name AS site_name, \
         a.category_id, c.name AS category_name, a.pos_lat, a.pos_lon, a.pos_at, \
         d.device_id AS tracker, d.online AS tracker_online, d.last_seen_at AS tracker_seen, \
         d.offline_cause {from_where}) x \
         WHERE {after} ORDER BY x.pos_at ASC NULLS FIRST, x.id LIMIT $6",
        after = after_cursor("x.pos_at", "$4", "$5"),
    );
    let count = format!("SELECT COUNT(*) {from_where}");
    let (after_id, after_at) = split(page.after);
    let rows: Vec<StaleRow> = on_read!(store, |p| sqlx::query_as(&list)
        .bind(cutoff)
        .bind(filter.site_id)
        .bind(category_id)
        .bind(after_id)
        .bind(after_at)
        .bind(page.fetch())
        .fetch_all(p)
        .await)?;
    let total: i64 = on_read!(store, |p| sqlx::query_scalar(&count)
        .bind(cutoff)
        .bind(filter.site_id)
        .bind(category_id)
        .fetch_one(p)
        .await)?;
    page.page(
        rows,
        total,
        |r| (r.pos_at, r.id),
        |r| r.into_item(now, cutoff),
    )
}

fn split(after: Option<(Option<DateTime<Utc>>, Uuid)>) -> (Option<Uuid>, Option<DateTime<Utc>>) {
    match after {
        Some((at, id)) => (Some(id), at),
        None => (None, None),
    }
}

#[derive(sqlx::FromRow)]
struct OffSiteRow {
    id: Uuid,
    code: String,
    name: String,
    status: String,
    site_id: Option<Uuid>,
    site_name: Option<String>,
    pos_lat: Option<f64>,
    pos_lon: Option<f64>,
    pos_at: Option<DateTime<Utc>>,
    left_at: Option<DateTime<Utc>>,
    left_site_id: Option<Uuid>,
    left_site_name: Option<String>,
}

/// Assets whose current position is inside no site fence and that are not on rent (a delivery
/// puts an asset on rent: it left with paperwork), longest out first (never seen inside a fence
/// first). `geofence_site_id` is kept by ingest for GPS positions; with no fence defined
/// anywhere nothing can be off-site, so the list is empty then.
pub async fn off_site(
    store: &Store,
    page: AlertPageRequest,
) -> Result<AlertPage<OffSiteAsset>, DomainError> {
    // $1 cursor id, $2 cursor time, $3 limit.
    let from_where = "FROM assets a \
         LEFT JOIN geofence_events g ON g.id = (SELECT g2.id FROM geofence_events g2 \
              WHERE g2.asset_id = a.id AND g2.kind = 'exit' ORDER BY g2.ts DESC LIMIT 1) \
         LEFT JOIN sites s ON s.id = a.site_id \
         LEFT JOIN sites ls ON ls.id = g.site_id \
         WHERE a.geofence_site_id IS NULL AND a.pos_at IS NOT NULL AND a.deleted_at IS NULL \
         AND a.status NOT IN ('on_rent', 'retired') \
         AND EXISTS (SELECT 1 FROM sites f WHERE f.geofence IS NOT NULL)";
    let list = format!(
        "SELECT * FROM (SELECT a.id, a.code, a.name, a.status, a.site_id, s.name AS site_name, \
         a.pos_lat, a.pos_lon, a.pos_at, g.ts AS left_at, g.site_id AS left_site_id, \
         ls.name AS left_site_name {from_where}) x \
         WHERE {after} ORDER BY x.left_at ASC NULLS FIRST, x.id LIMIT $3",
        after = after_cursor("x.left_at", "$1", "$2"),
    );
    let count = format!("SELECT COUNT(*) {from_where}");
    let (after_id, after_at) = split(page.after);
    let rows: Vec<OffSiteRow> = on_read!(store, |p| sqlx::query_as(&list)
        .bind(after_id)
        .bind(after_at)
        .bind(page.fetch())
        .fetch_all(p)
        .await)?;
    let total: i64 = on_read!(store, |p| sqlx::query_scalar(&count).fetch_one(p).await)?;
    page.page(
        rows,
        total,
        |r| (r.left_at, r.id),
        |r| {
            Ok(OffSiteAsset {
                asset_id: r.id,
                code: r.code,
                name: r.name,
                status: status_of(&r.status)?,
                site: named(r.site_id, r.site_name),
                position: position(r.pos_lat, r.pos_lon, r.pos_at).ok_or_else(|| {
                    DomainError::Internal(format!("asset {} has a partial position", r.id))
                })?,
                left_at: r.left_at,
                left_site: named(r.left_site_id, r.left_site_name),
            })
        },
    )
}

#[derive(sqlx::FromRow)]
struct SiteCountRow {
    id: Uuid,
    name: String,
    kind: String,
    lat: Option<f64>,
    lon: Option<f64>,
    status: Option<String>,
    n: i64,
    stale: i64,
}

/// Per site: live assets recorded there by status, and how many of them are stale. One grouped
/// read (site × status); sites without assets are listed with zeros.
pub async fn site_table(
    store: &Store,
    threshold: StaleThreshold,
) -> Result<SiteTable, DomainError> {
    let cutoff = threshold.cutoff(crate::clock::now());
    let sql = format!(
        "SELECT s.id, s.name, s.kind, s.lat, s.lon, a.status, COUNT(a.id) AS n, \
         COALESCE(SUM(CASE WHEN a.status <> 'retired' AND {stale} THEN 1 ELSE 0 END), 0) \
         AS stale \
         FROM sites s \
         LEFT JOIN assets a ON a.site_id = s.id AND a.deleted_at IS NULL \
         {TRACKER_JOIN} \
         GROUP BY s.id, s.name, s.kind, s.lat, s.lon, a.status \
         ORDER BY s.name, s.id",
        stale = stale_rule("$1"),
    );
    let rows: Vec<SiteCountRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(cutoff)
        .fetch_all(p)
        .await)?;
    let mut sites: Vec<SiteStatusRow> = Vec::new();
    for r in rows {
        // Rows of one site are adjacent (ordered by name, id).
        if sites.last().is_none_or(|s| s.site_id != r.id) {
            sites.push(SiteStatusRow {
                site_id: r.id,
                name: r.name,
                kind: SiteKind::parse(&r.kind).unwrap_or(SiteKind::Depot),
                location: match (r.lat, r.lon) {
                    (Some(lat), Some(lon)) => Some(LatLon { lat, lon }),
                    _ => None,
                },
                by_status: AssetStatus::ALL
                    .into_iter()
                    .map(|status| StatusCount { status, count: 0 })
                    .collect(),
                total: 0,
                stale: 0,
            });
        }
        let Some(site) = sites.last_mut() else {
            continue;
        };
        let Some(status) = r.status.as_deref() else {
            continue; // the LEFT JOIN's row of a site without assets
        };
        let status = status_of(status)?;
        let n = u64::try_from(r.n).unwrap_or(0);
        if let Some(c) = site.by_status.iter_mut().find(|c| c.status == status) {
            c.count += n;
        }
        site.total += n;
        site.stale += u64::try_from(r.stale).unwrap_or(0);
    }
    Ok(SiteTable {
        threshold_hours: threshold.hours(),
        sites,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let id = Uuid::now_v7();
        let at = DateTime::from_timestamp_micros(1_790_000_000_123_456);
        for key in [(None, id), (at, id)] {
            assert_eq!(decode_cursor(&encode_cursor(key.0, key.1)), Some(key));
        }
        for bad in ["", "n", "x.y", "12.not-a-uuid", &id.to_string(), "1e9.{id}"] {
            assert!(decode_cursor(bad).is_none(), "{bad}");
            assert!(AlertPageRequest::new(None, Some("zz")).is_err());
        }
    }

    #[test]
    fn thresholds_are_bounded() {
        assert_eq!(StaleThreshold::new(None, 24).unwrap().hours(), 24);
        assert_eq!(StaleThreshold::new(Some(1), 24).unwrap().hours(), 1);
        for bad in [0, -5, i64::from(MAX_STALE_AFTER_HOURS) + 1, i64::MAX] {
            assert!(StaleThreshold::new(Some(bad), 24).is_err(), "{bad}");
        }
    }
}
