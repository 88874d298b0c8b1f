//! Hour and odometer services evaluated where the readings arrive: inside the ingest
//! transaction, for the assets of the batch, with one set-based read whatever the number of
//! plans in the fleet.
//!
//! The forecast needs 30 days of snapshots, every plan's anchor and the nested services: far too
//! much per batch. But the forecast is monotonic in the meter: for a service not yet in its lead
//! window, there is one meter value from which it is ([`MetricDue::opens_at`]). The clock's sweep
//! computes the forecast anyway, so it leaves that value in `maintenance_triggers`
//! ([`refresh_in`]), and each asset's lowest one per meter in `maintenance_thresholds`. Ingest
//! reads the latter with the asset rows it loads and locks anyway (a LEFT JOIN: no extra
//! statement), and only for the assets whose new meters reach it selects the triggers crossed
//! ([`fire_in`]) and opens their orders in the same transaction. Calendar services stay
//! with the clock, whose tick is the only thing that moves them.
//!
//! A trigger is a cache, never the truth: ingest joins the plan (same version, not deleted) and
//! the asset (the plan still applies), opening an order spends it, recording a service deletes
//! it, and the next pass of the sweep rewrites it with the utilisation of the day. A stale
//! threshold can only open an order a little early or leave it to the sweep, which opens every
//! order in its window whatever the triggers say.
//!
//! [`MetricDue::opens_at`]: mobile_shared::maintenance::MetricDue::opens_at

use std::collections::HashSet;

use chrono::{DateTime, Days, Utc};
use mobile_shared::maintenance::{days_until, AssetMaintenance, Metric, Plan, Urgency};
use uuid::Uuid;

use crate::actor::Actor;
use crate::error::DomainError;
use crate::store::{on_read, on_tx, Conn, Store, Tx};

use super::orders::{self, Opening};

/// Rows per statement on SQLite (bind parameters stay far under its limit of 32,766).
pub(super) const CHUNK: usize = 1000;

#[derive(sqlx::FromRow)]
struct Crossed {
    asset_id: Uuid,
    plan_id: Uuid,
    current: f64,
    due_at: f64,
    per_day: f64,
    occurrence: i32,
    service: String,
    title: String,
}

/// The triggers that `asset_ids` (assets whose meters this batch moved, already written in `tx`)
/// crossed, still valid: same plan version, plan live, still applying to the asset.
const CROSSED: &str = "SELECT t.asset_id, t.plan_id, \
       CASE t.metric WHEN 'engine_hours' THEN a.engine_hours ELSE a.odometer_km END AS current, \
       t.due_at, t.per_day, t.occurrence, t.service, t.title \
     FROM maintenance_triggers t \
     JOIN maintenance_plans p ON p.id = t.plan_id AND p.version = t.plan_version \
       AND p.deleted_at IS NULL \
     JOIN assets a ON a.id = t.asset_id AND (p.asset_id = a.id OR p.category_id = a.category_id) \
     WHERE ((t.metric = 'engine_hours' AND a.engine_hours >= t.opens_at) \
         OR (t.metric = 'odometer_km' AND a.odometer_km >= t.opens_at)) \
       AND t.asset_id";

/// Opens the orders of the services whose threshold the batch's new meters crossed, in ingest's
/// transaction (after the assets are written and locked). Returns how many opened. An order
/// already opened for the occurrence (by the sweep, another batch, or a planner who cancelled
/// it) is left as it is: the database's unique indexes decide, as for the sweep.
pub(crate) async fn fire_in(
    tx: &mut Tx,
    asset_ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<u64, DomainError> {
    if asset_ids.is_empty() {
        return Ok(0);
    }
    let mut crossed: Vec<Crossed> = Vec::new();
    match &mut tx.0 {
        // One statement text for every batch size: prepared once per connection.
        Conn::Postgres(c) => {
            let sql = format!("{CROSSED} = ANY($1) ORDER BY t.asset_id, t.plan_id, t.metric");
            crossed = sqlx::query_as(&sql)
                .bind(asset_ids)
                .fetch_all(&mut **c)
                .await?;
        }
        Conn::Sqlite(c) => {
            for chunk in asset_ids.chunks(CHUNK) {
                let mut qb = sqlx::QueryBuilder::new(CROSSED);
                in_list(&mut qb, chunk);
                qb.push(" ORDER BY t.asset_id, t.plan_id, t.metric");
                crossed.extend(qb.build_query_as().fetch_all(&mut **c).await?);
            }
        }
    }
    // Both meters of one plan may cross in one batch: one order.
    crossed.dedup_by_key(|c| (c.asset_id, c.plan_id));
    let actor = Actor::ingest();
    let mut opened = 0;
    for c in crossed {
        let days = days_until(c.due_at, c.current, c.per_day);
        let opening = Opening {
            asset_id: c.asset_id,
            plan_id: Some(c.plan_id),
            service: Some(c.service),
            occurrence: u32::try_from(c.occurrence).ok(),
            title: c.title,
            assignee: None,
            due_on: now.date_naive() + Days::new(u64::try_from(days).unwrap_or(0)),
            checklist: Vec::new(),
            notes: None,
            automatic: true,
        };
        opened += u64::from(orders::open_automatic_in(tx, &actor, opening).await?);
    }
    // Every threshold these assets reached is spent: its order is open now (or was already),
    // or it was stale (plan changed or retired, asset re-planned) and the sweep will lay a new
    // one. Without this an asset in its window would send every later batch here.
    for chunk in asset_ids.chunks(CHUNK) {
        on_tx!(tx, |c| {
            let mut qb = sqlx::QueryBuilder::new(
                "DELETE FROM maintenance_triggers WHERE opens_at <= (SELECT CASE \
                   maintenance_triggers.metric WHEN 'engine_hours' THEN a.engine_hours \
                   ELSE a.odometer_km END FROM assets a WHERE a.id = maintenance_triggers.asset_id) \
                 AND asset_id",
            );
            in_list(&mut qb, chunk);
            qb.build().execute(&mut *c).await.map(|r| r.rows_affected())
        })?;
    }
    rethreshold_in(tx, asset_ids).await?;
    Ok(opened)
}

/// Sets each asset's lowest threshold per meter (`maintenance_thresholds`, what ingest reads
/// with the asset rows) to the lowest of its triggers; an asset without triggers gets no row.
async fn rethreshold_in(tx: &mut Tx, asset_ids: &[Uuid]) -> Result<(), DomainError> {
    delete_rows_of(tx, "maintenance_thresholds", asset_ids).await?;
    for chunk in asset_ids.chunks(CHUNK) {
        on_tx!(tx, |c| {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO maintenance_thresholds (asset_id, hours_opens_at, km_opens_at) \
                 SELECT asset_id, \
                   MIN(CASE WHEN metric = 'engine_hours' THEN opens_at END), \
                   MIN(CASE WHEN metric = 'odometer_km' THEN opens_at END) \
                 FROM maintenance_triggers WHERE asset_id",
            );
            in_list(&mut qb, chunk);
            // Two sweeps (processes) may rewrite one slice at once: the last one wins.
            qb.push(
                " GROUP BY asset_id ON CONFLICT (asset_id) DO UPDATE SET \
                 hours_opens_at = excluded.hours_opens_at, km_opens_at = excluded.km_opens_at",
            );
            qb.build().execute(&mut *c).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}

/// How many thresholds are laid (benchmarks and operators' curiosity).
pub async fn count(store: &Store) -> Result<i64, DomainError> {
    let sql = "SELECT COUNT(*) FROM maintenance_triggers";
    Ok(on_read!(store, |p| sqlx::query_scalar(sql)
        .fetch_one(p)
        .await)?)
}

/// Deletes an asset's triggers (of one plan, or all): when an order opens, a service is
/// recorded, or the asset's own plans change (which replaces its category's).
pub(crate) async fn forget_in(
    tx: &mut Tx,
    asset_id: Uuid,
    plan_id: Option<Uuid>,
) -> Result<u64, DomainError> {
    let sql = "DELETE FROM maintenance_triggers WHERE asset_id = $1 \
               AND ($2 IS NULL OR plan_id = $2)";
    let n = on_tx!(tx, execute(sqlx::query(sql).bind(asset_id).bind(plan_id)))?;
    rethreshold_in(tx, &[asset_id]).await?;
    Ok(n)
}

struct Trigger<'a> {
    asset_id: Uuid,
    plan: &'a Plan,
    metric: Metric,
    opens_at: f64,
    due_at: f64,
    per_day: f64,
    occurrence: i32,
    service: &'a str,
}

/// Rewrites the triggers of a slice of the fleet from its fresh forecasts (the sweep's): one per
/// asset, plan and meter whose service is not yet in its lead window and has no active order.
/// Services already in the window are the sweep's to open; an active order makes ingest's
/// attempt pointless.
pub(super) async fn refresh_in(
    tx: &mut Tx,
    plans: &[Plan],
    views: &[AssetMaintenance],
    asset_ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<u64, DomainError> {
    delete_rows_of(tx, "maintenance_triggers", asset_ids).await?;
    let active = active_orders(tx, asset_ids).await?;
    let mut rows: Vec<Trigger> = Vec::new();
    for view in views {
        for f in &view.services {
            if f.urgency != Urgency::Ok || active.contains(&(view.asset_id, f.plan_id)) {
                continue;
            }
            let Some(plan) = plans.iter().find(|p| p.id == f.plan_id) else {
                continue;
            };
            for m in &f.metrics {
                let (Some(opens_at), Some(due_at), Some(per_day)) =
                    (m.opens_at(plan), m.due_at, m.per_day)
                else {
                    continue;
                };
                rows.push(Trigger {
                    asset_id: view.asset_id,
                    plan,
                    metric: m.metric,
                    opens_at,
                    due_at,
                    per_day,
                    occurrence: i32::try_from(f.occurrence).unwrap_or(i32::MAX),
                    service: &f.service,
                });
            }
        }
    }
    let mut written = 0;
    // 11 columns: under SQLite's bind limit per statement.
    for chunk in rows.chunks(CHUNK) {
        written += on_tx!(
            tx,
            insert_values(
                "INSERT INTO maintenance_triggers (asset_id, plan_id, metric, plan_version, \
                 opens_at, due_at, per_day, occurrence, service, title, computed_at) ",
                chunk,
                |b, t| b
                    .push_bind(t.asset_id)
                    .push_bind(t.plan.id)
                    .push_bind(t.metric.as_str())
                    .push_bind(t.plan.version)
                    .push_bind(t.opens_at)
                    .push_bind(t.due_at)
                    .push_bind(t.per_day)
                    .push_bind(t.occurrence)
                    .push_bind(t.service)
                    .push_bind(orders::title(t.plan, t.service))
                    .push_bind(now),
                // Two sweeps (processes) may rewrite one slice at once: the last one wins.
                " ON CONFLICT (asset_id, plan_id, metric) DO UPDATE SET \
                 plan_version = excluded.plan_version, opens_at = excluded.opens_at, \
                 due_at = excluded.due_at, per_day = excluded.per_day, \
                 occurrence = excluded.occurrence, service = excluded.service, \
                 title = excluded.title, computed_at = excluded.computed_at"
            )
        )?;
    }
    rethreshold_in(tx, asset_ids).await?;
    Ok(written)
}

/// (asset, plan) pairs of the slice with an active order.
async fn active_orders(
    tx: &mut Tx,
    asset_ids: &[Uuid],
) -> Result<HashSet<(Uuid, Uuid)>, DomainError> {
    let mut out = HashSet::new();
    for chunk in asset_ids.chunks(CHUNK) {
        let rows: Vec<(Uuid, Uuid)> = on_tx!(tx, |c| {
            let mut qb = sqlx::QueryBuilder::new(
                "SELECT asset_id, plan_id FROM work_orders WHERE plan_id IS NOT NULL \
                 AND state IN ('open','scheduled','in_progress') AND asset_id",
            );
            in_list(&mut qb, chunk);
            qb.build_query_as().fetch_all(&mut *c).await
        })?;
        out.extend(rows);
    }
    Ok(out)
}

/// Deletes the rows of `assets` from one of the sweep's per-asset caches (`table`, a constant).
pub(super) async fn delete_rows_of(
    tx: &mut Tx,
    table: &'static str,
    assets: &[Uuid],
) -> Result<u64, DomainError> {
    let mut deleted = 0;
    for chunk in assets.chunks(CHUNK) {
        deleted += on_tx!(tx, |c| {
            let mut qb = sqlx::QueryBuilder::new(format!("DELETE FROM {table} WHERE asset_id"));
            in_list(&mut qb, chunk);
            qb.build().execute(&mut *c).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(deleted)
}

/// Appends ` IN ($1, $2, …)` binding `ids`.
pub(super) fn in_list<'a, DB>(qb: &mut sqlx::QueryBuilder<'a, DB>, ids: &'a [Uuid])
where
    DB: sqlx::Database,
    Uuid: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    qb.push(" IN (");
    let mut list = qb.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    qb.push(")");
}
