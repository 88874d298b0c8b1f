//! The dispatcher's alert lists and the per-site status table (issue 13): assets possibly lost
//! or damaged (stale position, silent or offline tracker), assets outside every site fence
//! without a delivery, and what each site holds by status.
//!
//! Each answer is a fixed number of statements whatever the fleet size: a page read and a count
//! (lists) or one grouped read (the table), and each walks an index rather than the fleet. The
//! rules read `assets` only: the tracker state they need is kept on the asset row (migration
//! 0018), so no statement looks at an asset's devices or fence events per row.
//!
//! The tracker state on an asset (`tracker_id`, `tracker_seen_at`, `tracker_offline_cause`: its
//! most recently seen bound tracker, that tracker's last contact and why it is offline) is kept
//! by ingest's multi-row asset update (a reading makes its tracker online and, when it is now
//! the newest seen, the asset's tracker), and by `devices::refresh_trackers` in the transaction
//! of every other change of a device's binding, `online` or `last_seen_at`: the status topic,
//! the silence watch, registration, unbinding. The last fence exit (`fence_exit_at`,
//! `fence_exit_site_id`) is kept by ingest next to the `geofence_events` row it writes.

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

/// Assets the alerts look at: live, and not retired (a sold or scrapped machine is not lost).
/// Written exactly as in the partial indexes of migration 0018, which SQLite matches by term.
pub(crate) const IN_FLEET: &str = "a.deleted_at IS NULL AND a.status <> 'retired'";

/// The stale rule over `a` alone as three disjoint parts, in the stale list's order, with the
/// position cutoff in `cutoff` (a bind parameter): never positioned although a tracker is bound;
/// a position older than the cutoff; a newer position but a tracker that is offline (by its
/// own word or by the silence watch). Disjoint and ordered, so the list is the parts one after
/// the other and the count their sum, each an index walk (migration 0018: `assets_stale_no_pos`,
/// `assets_stale_pos`, `assets_stale_offline`) instead of a filter over the fleet.
pub(crate) fn stale_parts(cutoff: &str) -> [String; 3] {
    [
        "(a.pos_at IS NULL AND a.tracker_id IS NOT NULL)".to_owned(),
        format!("a.pos_at < {cutoff}"),
        format!("(a.pos_at >= {cutoff} AND a.tracker_offline_cause IS NOT NULL)"),
    ]
}

/// The stale rule over `a` alone (see [`stale_parts`]), as one condition: for the site table and
/// for the map's markers (`/map/assets`), so the header, the lists, the table and the map agree.
pub(crate) fn stale_rule(cutoff: &str) -> String {
    format!("({})", stale_parts(cutoff).join(" OR "))
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

/// Where a page starts in the order `<col> NULLS FIRST, <id>`, as a condition on the run of
/// rows with a time (`timed`) and on the run without (`untimed`); `None` when no row of that
/// run comes after the cursor. The cursor's id is `$id`, its time `$at`. Written per cursor
/// shape, not with `$at IS NULL OR …`, so each condition is an index range start: a row value
/// comparison both databases seek to, rather than a filter over every row before the cursor.
struct After {
    timed: Option<String>,
    untimed: Option<String>,
}

fn after(
    cursor: Option<(Option<DateTime<Utc>>, Uuid)>,
    col: &str,
    id_col: &str,
    at: &str,
    id: &str,
) -> After {
    match cursor {
        None => After {
            timed: Some("1 = 1".into()),
            untimed: Some("1 = 1".into()),
        },
        // Inside the run without a time: the rest of that run, then every timed row.
        Some((None, _)) => After {
            timed: Some("1 = 1".into()),
            untimed: Some(format!("{id_col} > {id}")),
        },
        Some((Some(_), _)) => After {
            timed: Some(format!("({col}, {id_col}) > ({at}, {id})")),
            untimed: None,
        },
    }
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
    // $1 cutoff, $2 site, $3 category, $4 cursor id, $5 cursor time, $6 limit. A filter is
    // named only when given: `$2 IS NULL OR …` would keep PostgreSQL's generic plan (and
    // SQLite's only plan) from an index-only count.
    let mut filters = String::new();
    if filter.site_id.is_some() {
        filters.push_str(" AND a.site_id = $2");
    }
    if category_id.is_some() {
        filters.push_str(" AND a.category_id = $3");
    }
    let [no_pos, old, offline] = stale_parts("$1");
    let start = after(page.after, "a.pos_at", "a.id", "$5", "$4");
    // Each part in its own order (its index's), under the page size; the parts follow each
    // other in list order, so the outer sort merges at most 3 × limit rows, and only the page's
    // rows are joined to their site, category and tracker (primary key probes).
    let part = |name: &str, rule: &str, from: &Option<String>, order: &str| {
        from.as_ref().map(|from| {
            format!(
                "SELECT * FROM (SELECT a.id, a.code, a.name, a.status, a.site_id, a.category_id, \
                 a.pos_lat, a.pos_lon, a.pos_at, a.tracker_id FROM assets a \
                 WHERE {IN_FLEET} AND {rule}{filters} AND {from} ORDER BY {order} LIMIT $6) {name}"
            )
        })
    };
    let parts: Vec<String> = [
        part("no_pos", &no_pos, &start.untimed, "a.id"),
        part("old", &old, &start.timed, "a.pos_at, a.id"),
        part("offline", &offline, &start.timed, "a.pos_at, a.id"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let list = format!(
        "SELECT x.id, x.code, x.name, x.status, x.site_id, s.name AS site_name, x.category_id, \
         c.name AS category_name, x.pos_lat, x.pos_lon, x.pos_at, d.device_id AS tracker, \
         d.online AS tracker_online, d.last_seen_at AS tracker_seen, d.offline_cause \
         FROM (SELECT * FROM ({parts}) u ORDER BY u.pos_at ASC NULLS FIRST, u.id LIMIT $6) x \
         LEFT JOIN sites s ON s.id = x.site_id \
         LEFT JOIN categories c ON c.id = x.category_id \
         LEFT JOIN devices d ON d.id = x.tracker_id \
         ORDER BY x.pos_at ASC NULLS FIRST, x.id",
        parts = parts.join(" UNION ALL "),
    );
    let count = format!(
        "SELECT {}",
        [no_pos, old, offline]
            .iter()
            .map(|rule| format!(
                "(SELECT COUNT(*) FROM assets a WHERE {IN_FLEET} AND {rule}{filters})"
            ))
            .collect::<Vec<_>>()
            .join(" + ")
    );
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

/// Off-site candidates: positioned inside no fence, live, neither on rent nor retired. Written
/// exactly as the partial index `assets_off_site` (migration 0018), which holds just them in
/// list order.
const OFF_SITE: &str = "a.geofence_site_id IS NULL AND a.pos_at IS NOT NULL \
     AND a.deleted_at IS NULL AND a.status NOT IN ('on_rent', 'retired')";

/// Assets whose current position is inside no site fence and that are not on rent (a delivery
/// puts an asset on rent: it left with paperwork), longest out first (never seen inside a fence
/// first). `geofence_site_id` and the last exit (`fence_exit_at`, `fence_exit_site_id`) are
/// kept by ingest for GPS positions; with no fence defined anywhere nothing can be off-site, so
/// the list is empty then.
pub async fn off_site(
    store: &Store,
    page: AlertPageRequest,
) -> Result<AlertPage<OffSiteAsset>, DomainError> {
    // $1 cursor id, $2 cursor time, $3 limit.
    let fenced = "EXISTS (SELECT 1 FROM sites f WHERE f.geofence IS NOT NULL)";
    let start = after(page.after, "a.fence_exit_at", "a.id", "$2", "$1");
    let from = match (start.untimed, start.timed) {
        (Some(untimed), Some(timed)) if untimed == timed => untimed,
        (Some(untimed), Some(timed)) => {
            format!("((a.fence_exit_at IS NULL AND {untimed}) OR (a.fence_exit_at IS NOT NULL AND {timed}))")
        }
        (None, Some(timed)) => timed,
        (Some(untimed), None) => format!("a.fence_exit_at IS NULL AND {untimed}"),
        (None, None) => "1 = 0".into(),
    };
    let list = format!(
        "SELECT a.id, a.code, a.name, a.status, a.site_id, s.name AS site_name, \
         a.pos_lat, a.pos_lon, a.pos_at, a.fence_exit_at AS left_at, \
         a.fence_exit_site_id AS left_site_id, ls.name AS left_site_name \
         FROM assets a \
         LEFT JOIN sites s ON s.id = a.site_id \
         LEFT JOIN sites ls ON ls.id = a.fence_exit_site_id \
         WHERE {OFF_SITE} AND {from} AND {fenced} \
         ORDER BY a.fence_exit_at ASC NULLS FIRST, a.id LIMIT $3"
    );
    let count = format!("SELECT COUNT(*) FROM assets a WHERE {OFF_SITE} AND {fenced}");
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
    // The assets are grouped first, in one pass over the covering index `assets_site_status`
    // (site, status and the columns the stale rule reads), then joined to the sites.
    let sql = format!(
        "SELECT s.id, s.name, s.kind, s.lat, s.lon, g.status, COALESCE(g.n, 0) AS n, \
         COALESCE(g.stale, 0) AS stale \
         FROM sites s \
         LEFT JOIN (SELECT a.site_id, a.status, COUNT(*) AS n, \
              SUM(CASE WHEN a.status <> 'retired' AND {stale} THEN 1 ELSE 0 END) AS stale \
              FROM assets a WHERE a.deleted_at IS NULL AND a.site_id IS NOT NULL \
              GROUP BY a.site_id, a.status) g ON g.site_id = s.id \
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
