//! Reliability KPIs from the work orders: downtime, availability, MTBF, MTTR, services on time.
//! Every figure is a query over recorded facts (each order's start, end and due date), with its
//! definition on [`MaintenanceKpi`]'s fields.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use mobile_shared::maintenance::{MaintenanceKpi, MaintenanceKpiQuery};
use uuid::Uuid;

use crate::error::DomainError;
use crate::store::{on_read, Store};

#[derive(sqlx::FromRow)]
struct OrderTimes {
    plan_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    cancelled_at: Option<DateTime<Utc>>,
    due_on: Option<NaiveDate>,
}

/// The KPIs over `[from, to)` (default: the 30 days before now), for the fleet, one category or
/// one asset.
pub async fn maintenance(
    store: &Store,
    q: &MaintenanceKpiQuery,
    now: DateTime<Utc>,
) -> Result<MaintenanceKpi, DomainError> {
    let to = q.to.map_or(now, |t| t.min(now));
    let from = q.from.unwrap_or(to - Duration::days(30));
    if from >= to {
        return Err(DomainError::field("from", "must be before `to` and now"));
    }
    let scope = "a.deleted_at IS NULL AND ($1 IS NULL OR a.category_id = $1) \
                 AND ($2 IS NULL OR a.id = $2)";
    let sql = format!(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN a.status = 'in_maintenance' THEN 1 ELSE 0 END), 0) \
         FROM assets a WHERE {scope} AND a.status <> 'retired'"
    );
    let (assets, in_maintenance): (i64, i64) = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(q.category_id)
        .bind(q.asset_id)
        .fetch_one(p)
        .await)?;
    // Orders that touch the period: opened in it, or worked during it.
    let sql = format!(
        "SELECT w.plan_id, w.created_at, w.started_at, w.completed_at, w.cancelled_at, w.due_on \
         FROM work_orders w JOIN assets a ON a.id = w.asset_id WHERE {scope} \
         AND w.created_at < $4 AND (w.created_at >= $3 OR w.started_at IS NOT NULL) \
         AND COALESCE(w.completed_at, w.cancelled_at, $4) >= $3"
    );
    let orders: Vec<OrderTimes> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(q.category_id)
        .bind(q.asset_id)
        .bind(from)
        .bind(to)
        .fetch_all(p)
        .await)?;
    Ok(compute(from, to, assets, in_maintenance, &orders))
}

fn hours(d: Duration) -> f64 {
    d.num_milliseconds() as f64 / 3_600_000.0
}

fn compute(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    assets: i64,
    in_maintenance: i64,
    orders: &[OrderTimes],
) -> MaintenanceKpi {
    let in_period = |t: DateTime<Utc>| from <= t && t < to;
    // Downtime: each worked order's [started, ended) clipped to the period.
    let downtime: f64 = orders
        .iter()
        .filter_map(|o| {
            let start = o.started_at?.max(from);
            let end = o.completed_at.or(o.cancelled_at).unwrap_or(to).min(to);
            (end > start).then(|| hours(end - start))
        })
        .sum();
    // Failures: unplanned orders (no plan: breakdowns, failed inspections) opened in the period.
    let failures: Vec<&OrderTimes> = orders
        .iter()
        .filter(|o| o.plan_id.is_none() && in_period(o.created_at))
        .collect();
    let repairs: Vec<f64> = orders
        .iter()
        .filter(|o| o.plan_id.is_none())
        .filter_map(|o| {
            let done = o.completed_at.filter(|t| in_period(*t))?;
            Some(hours(done - o.started_at.unwrap_or(o.created_at)))
        })
        .collect();
    let services: Vec<bool> = orders
        .iter()
        .filter(|o| o.plan_id.is_some())
        .filter_map(|o| {
            let done = o.completed_at.filter(|t| in_period(*t))?;
            // On time: done by the end of its due day.
            let due = o
                .due_on
                .map(|d| (d + Duration::days(1)).and_time(NaiveTime::MIN).and_utc());
            Some(due.is_none_or(|due| done < due))
        })
        .collect();
    let fleet_hours = assets.max(0) as f64 * hours(to - from);
    let operating = (fleet_hours - downtime).max(0.0);
    let ratio = |num: f64, den: f64| (den > 0.0).then(|| num / den);
    MaintenanceKpi {
        from,
        to,
        assets,
        in_maintenance,
        availability_now: ratio((assets - in_maintenance) as f64, assets as f64),
        availability_time_weighted: ratio(operating, fleet_hours),
        downtime_hours: downtime,
        failures: failures.len() as i64,
        mtbf_hours: ratio(operating, failures.len() as f64),
        mttr_hours: ratio(repairs.iter().sum(), repairs.len() as f64),
        services_done: services.len() as i64,
        services_on_time: services.iter().filter(|on_time| **on_time).count() as i64,
        services_late: services.iter().filter(|on_time| !**on_time).count() as i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap() + Duration::hours(h)
    }

    fn order(plan: bool, created: i64, started: Option<i64>, done: Option<i64>) -> OrderTimes {
        OrderTimes {
            plan_id: plan.then(Uuid::nil),
            created_at: t(created),
            started_at: started.map(t),
            completed_at: done.map(t),
            cancelled_at: None,
            due_on: Some(t(created).date_naive()),
        }
    }

    #[test]
    fn the_definitions_hold_on_a_small_fleet() {
        // 10 assets over 100 h = 1,000 asset-hours. A breakdown worked 10 h (h 20-30), one
        // started before the period and still in progress (h -5 → now = 100: clipped to 100 h),
        // a service done on its due day, one done two days late.
        let orders = [
            order(false, 18, Some(20), Some(30)),
            order(false, -10, Some(-5), None),
            order(true, 40, Some(41), Some(42)),
            order(true, 0, Some(60), Some(60)),
        ];
        let k = compute(t(0), t(100), 10, 1, &orders);
        assert_eq!(k.downtime_hours, 10.0 + 100.0 + 1.0 + 0.0);
        assert_eq!(k.failures, 1, "the breakdown opened in the period");
        assert_eq!(k.mttr_hours, Some(10.0));
        assert_eq!(k.availability_now, Some(0.9));
        assert_eq!(
            k.availability_time_weighted,
            Some((1000.0 - 111.0) / 1000.0)
        );
        assert_eq!(k.mtbf_hours, Some(889.0));
        assert_eq!(
            (k.services_done, k.services_on_time, k.services_late),
            (2, 1, 1)
        );
    }

    #[test]
    fn an_empty_fleet_has_no_ratios_rather_than_a_division_by_zero() {
        let k = compute(t(0), t(10), 0, 0, &[]);
        assert_eq!(
            (k.availability_now, k.mtbf_hours, k.mttr_hours),
            (None, None, None)
        );
        assert_eq!(k.downtime_hours, 0.0);
    }
}
