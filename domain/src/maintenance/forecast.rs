//! The forecast of an asset's next services: loads where the asset stands, how fast it is used
//! and where each plan's counting starts, and hands them to the pure rule
//! (`mobile_shared::maintenance::forecast`). Also keeps the two kinds of history the rule reads:
//! daily meter snapshots (utilisation) and the services done (anchors).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use mobile_shared::maintenance::{
    forecast, most_pressing, Anchoring, AssetMaintenance, Plan, ServiceForecast, Usage,
};
use uuid::Uuid;

use crate::entity::Entity;
use crate::error::DomainError;
use crate::store::{on_read, on_tx, Store, Tx};

use super::plans;

/// Utilisation is averaged over this many days.
pub const UTILISATION_WINDOW_DAYS: i64 = 30;
/// Less history than this gives no measured utilisation (the floor applies): a few hours of a
/// working day are no average.
pub const MIN_UTILISATION_SPAN: Duration = Duration::hours(20);
/// Snapshots older than this are pruned; the window needs 30 days.
pub const SNAPSHOT_RETENTION_DAYS: i64 = 90;

#[derive(sqlx::FromRow)]
struct AssetMeters {
    id: Uuid,
    category_id: Option<Uuid>,
    engine_hours: Option<f64>,
    odometer_km: Option<f64>,
    hours_flagged: bool,
    odometer_flagged: bool,
}

#[derive(sqlx::FromRow)]
struct AnchorRow {
    asset_id: Uuid,
    plan_id: Uuid,
    occurrence: i32,
    at: DateTime<Utc>,
    engine_hours: Option<f64>,
    odometer_km: Option<f64>,
}

#[derive(sqlx::FromRow)]
struct SnapshotRow {
    asset_id: Uuid,
    taken_at: DateTime<Utc>,
    engine_hours: Option<f64>,
    odometer_km: Option<f64>,
}

/// Each applying plan's next service for one asset, as of `now`.
pub async fn for_asset(
    store: &Store,
    asset_id: Uuid,
    now: DateTime<Utc>,
) -> Result<AssetMaintenance, DomainError> {
    let plans = plans::all(store).await?;
    for_assets(store, &plans, &[asset_id], now)
        .await?
        .pop()
        .ok_or(DomainError::not_found(Entity::Asset))
}

/// The maintenance view of many assets at once (the clock's sweep reads the fleet in chunks):
/// a fixed number of queries whatever the number of assets, plans or history rows. `plans` are
/// all live plans ([`plans::all`]); assets that do not exist (or are deleted) are left out.
pub async fn for_assets(
    store: &Store,
    plans: &[Plan],
    asset_ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<Vec<AssetMaintenance>, DomainError> {
    if asset_ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids = in_list(asset_ids.len());
    let sql = format!(
        "SELECT id, category_id, engine_hours, odometer_km, hours_flagged, odometer_flagged \
         FROM assets WHERE deleted_at IS NULL AND id IN ({ids})"
    );
    let assets: Vec<AssetMeters> = on_read!(store, |p| {
        let mut q = sqlx::query_as(&sql);
        for id in asset_ids {
            q = q.bind(*id);
        }
        q.fetch_all(p).await
    })?;
    // The latest row of each plan's history for each asset is its anchor.
    let sql = format!(
        "SELECT h.asset_id, h.plan_id, h.occurrence, h.at, h.engine_hours, h.odometer_km \
         FROM maintenance_history h WHERE h.asset_id IN ({ids}) AND h.occurrence = \
           (SELECT MAX(occurrence) FROM maintenance_history \
            WHERE asset_id = h.asset_id AND plan_id = h.plan_id)"
    );
    let anchors: Vec<AnchorRow> = on_read!(store, |p| {
        let mut q = sqlx::query_as(&sql);
        for id in asset_ids {
            q = q.bind(*id);
        }
        q.fetch_all(p).await
    })?;
    // Utilisation: each asset's oldest snapshot of the window.
    let since = (now - Duration::days(UTILISATION_WINDOW_DAYS)).date_naive();
    let n = asset_ids.len();
    let sql = format!(
        "SELECT s.asset_id, s.taken_at, s.engine_hours, s.odometer_km \
         FROM asset_meter_snapshots s WHERE s.asset_id IN ({ids}) AND s.day = \
           (SELECT MIN(day) FROM asset_meter_snapshots \
            WHERE asset_id = s.asset_id AND day >= ${})",
        n + 1
    );
    let oldest: Vec<SnapshotRow> = on_read!(store, |p| {
        let mut q = sqlx::query_as(&sql);
        for id in asset_ids {
            q = q.bind(*id);
        }
        q.bind(since).fetch_all(p).await
    })?;

    let today = now.date_naive();
    Ok(assets
        .iter()
        .map(|asset| {
            let snapshot = oldest.iter().find(|s| s.asset_id == asset.id);
            let (hours_per_day, km_per_day) = utilisation(asset, snapshot, now);
            let usage = Usage {
                engine_hours: asset.engine_hours,
                odometer_km: asset.odometer_km,
                hours_per_day,
                km_per_day,
                meter_flagged: asset.hours_flagged || asset.odometer_flagged,
            };
            let services: Vec<ServiceForecast> =
                plans::applying(plans, asset.id, asset.category_id)
                    .map(|plan| {
                        // A plan without a baseline for this asset (it joined the category after
                        // the plan was made; the daily sweep writes one) counts from now.
                        let anchoring = anchors
                            .iter()
                            .find(|h| h.asset_id == asset.id && h.plan_id == plan.id)
                            .map(|h| Anchoring {
                                at: h.at,
                                engine_hours: h.engine_hours,
                                odometer_km: h.odometer_km,
                                occurrence: u32::try_from(h.occurrence).unwrap_or(0),
                            })
                            .unwrap_or(Anchoring {
                                at: now,
                                engine_hours: asset.engine_hours,
                                odometer_km: asset.odometer_km,
                                occurrence: 0,
                            });
                        forecast(plan, &anchoring, &usage, today)
                    })
                    .collect();
            AssetMaintenance {
                asset_id: asset.id,
                engine_hours: asset.engine_hours,
                odometer_km: asset.odometer_km,
                hours_per_day,
                km_per_day,
                next_service: most_pressing(&services).cloned(),
                services,
            }
        })
        .collect())
}

/// `$1, $2, … $n`.
fn in_list(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Hours and km per calendar day: the current meters against the oldest snapshot of the window,
/// over the time between. `None` with less than [`MIN_UTILISATION_SPAN`] of history. Never
/// negative: the applied meters never go backwards (a reading below them is flagged, not
/// applied), so a replaced meter reads as a machine not used until it catches up.
fn utilisation(
    asset: &AssetMeters,
    oldest: Option<&SnapshotRow>,
    now: DateTime<Utc>,
) -> (Option<f64>, Option<f64>) {
    let Some(oldest) = oldest else {
        return (None, None);
    };
    let span = now - oldest.taken_at;
    if span < MIN_UTILISATION_SPAN {
        return (None, None);
    }
    let days = span.num_seconds() as f64 / 86_400.0;
    let rate = |now: Option<f64>, then: Option<f64>| match (now, then) {
        (Some(now), Some(then)) => Some(((now - then) / days).max(0.0)),
        _ => None,
    };
    (
        rate(asset.engine_hours, oldest.engine_hours),
        rate(asset.odometer_km, oldest.odometer_km),
    )
}

/// Takes today's meter snapshot of every asset that has a meter and none for `now`'s day yet,
/// and prunes old ones: one statement each, whatever the fleet's size. Run by the clock once a
/// day (and safe to run more often: a day keeps its first snapshot).
pub async fn snapshot_meters(tx: &mut Tx, now: DateTime<Utc>) -> Result<u64, DomainError> {
    let day: NaiveDate = now.date_naive();
    let sql =
        "INSERT INTO asset_meter_snapshots (asset_id, day, taken_at, engine_hours, odometer_km) \
               SELECT id, $1, $2, engine_hours, odometer_km FROM assets \
               WHERE deleted_at IS NULL AND (engine_hours IS NOT NULL OR odometer_km IS NOT NULL) \
               ON CONFLICT DO NOTHING";
    let taken = on_tx!(tx, execute(sqlx::query(sql).bind(day).bind(now)))?;
    let cutoff = day - Duration::days(SNAPSHOT_RETENTION_DAYS);
    on_tx!(
        tx,
        execute(sqlx::query("DELETE FROM asset_meter_snapshots WHERE day < $1").bind(cutoff))
    )?;
    Ok(taken)
}

/// The clock's daily maintenance sweep: on the first look of a UTC day, today's meter snapshots
/// and the baselines of assets that joined a plan's category since. Asked every minute, it costs
/// one index probe until the day turns; everything it writes is keyed, so running it twice (two
/// processes, a retried window) writes nothing the second time. Returns the rows written.
pub async fn daily_sweep(tx: &mut Tx, now: DateTime<Utc>) -> Result<u64, DomainError> {
    let sql = "SELECT 1 FROM asset_meter_snapshots WHERE day = $1 LIMIT 1";
    let taken: Option<i32> = on_tx!(tx, |c| sqlx::query_scalar(sql)
        .bind(now.date_naive())
        .fetch_optional(c)
        .await)?;
    if taken.is_some() {
        return Ok(0);
    }
    let snapshots = snapshot_meters(tx, now).await?;
    let baselines = plans::baselines(tx, None, now).await?;
    Ok(snapshots + baselines)
}

/// The clock rule `maintenance_daily`: [`daily_sweep`] as of the window's end, so a day's
/// snapshot is taken at the first tick after midnight UTC. A window the clock is catching up on
/// after downtime (ending more than [`CATCH_UP_SLACK`] ago) takes none: a snapshot records the
/// meters as they are NOW, and dating today's values on a past day would read as a machine that
/// stood still; the window that reaches the present takes today's.
#[derive(Debug, Clone, Copy, Default)]
pub struct DailySweepRule;

/// How far in the past a window may end and still be "now" for the daily sweep.
pub const CATCH_UP_SLACK: Duration = Duration::hours(1);

impl crate::schedule::Rule for DailySweepRule {
    fn name(&self) -> &'static str {
        "maintenance_daily"
    }

    fn evaluate<'a>(
        &'a self,
        tx: &'a mut Tx,
        window: crate::schedule::Window,
    ) -> crate::schedule::RuleFuture<'a> {
        Box::pin(async move {
            if window.to < crate::clock::now() - CATCH_UP_SLACK {
                return Ok(0);
            }
            daily_sweep(tx, window.to).await
        })
    }
}
