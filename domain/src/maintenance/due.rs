//! The fleet's "due for service" list: every asset whose most pressing service is in its lead
//! window or past it, most urgent first, then the soonest.
//!
//! Forecasting the whole fleet per request is seconds at 100,000 assets, so the clock's sweep,
//! which forecasts every asset anyway, keeps each pressing asset's rank and date in
//! `asset_service_status` ([`refresh_in`]). A request reads a page of that index and forecasts
//! only the page's assets again ([`list`]): what it shows is live, and an asset serviced since
//! the sweep's last pass drops out of the page; the order and `total` are as of that pass. (A
//! row whose plan was retired is left out at once: the sweep no longer visits such an asset.)

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use mobile_shared::maintenance::{
    most_pressing, AssetMaintenance, ServiceDue, ServiceDueList, Urgency,
};
use mobile_shared::AssetStatus;
use uuid::Uuid;

use crate::error::DomainError;
use crate::pagination::PageRequest;
use crate::store::{on_read, on_tx, Store, Tx};

use super::triggers::{delete_rows_of, in_list, CHUNK};
use super::{forecast, plans};

/// Rewrites the status rows of a slice of the fleet from its fresh forecasts (the sweep's).
pub(super) async fn refresh_in(
    tx: &mut Tx,
    views: &[AssetMaintenance],
    asset_ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<u64, DomainError> {
    delete_rows_of(tx, "asset_service_status", asset_ids).await?;
    let pressing: Vec<(
        Uuid,
        &mobile_shared::maintenance::ServiceForecast,
        NaiveDate,
    )> = views
        .iter()
        .filter_map(|v| {
            let next = v.next_service.as_ref()?;
            (next.urgency >= Urgency::Soon)
                .then_some(())
                .and(next.forecast_date)
                .map(|date| (v.asset_id, next, date))
        })
        .collect();
    let mut written = 0;
    for chunk in pressing.chunks(CHUNK) {
        written += on_tx!(
            tx,
            insert_values(
                "INSERT INTO asset_service_status (asset_id, plan_id, service, urgency_rank, \
                 forecast_date, computed_at) ",
                chunk,
                |b, (asset, next, date)| b
                    .push_bind(*asset)
                    .push_bind(next.plan_id)
                    .push_bind(&next.service)
                    .push_bind(next.urgency.rank())
                    .push_bind(*date)
                    .push_bind(now),
                // Two sweeps (processes) may rewrite one slice at once: the last one wins.
                " ON CONFLICT (asset_id) DO UPDATE SET plan_id = excluded.plan_id, \
                 service = excluded.service, urgency_rank = excluded.urgency_rank, \
                 forecast_date = excluded.forecast_date, computed_at = excluded.computed_at"
            )
        )?;
    }
    Ok(written)
}

/// Where a page ends: the sort key of its last row (`rank|date|asset`).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cursor {
    rank: i16,
    date: NaiveDate,
    asset: Uuid,
}

impl Cursor {
    fn parse(s: &str) -> Result<Cursor, DomainError> {
        let bad = || DomainError::field("cursor", "is not a cursor from this API");
        let mut parts = s.splitn(3, '|');
        let (Some(rank), Some(date), Some(asset)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        Ok(Cursor {
            rank: rank.parse().map_err(|_| bad())?,
            date: date.parse().map_err(|_| bad())?,
            asset: asset.parse().map_err(|_| bad())?,
        })
    }

    fn format(&self) -> String {
        format!("{}|{}|{}", self.rank, self.date, self.asset)
    }
}

#[derive(sqlx::FromRow)]
struct StatusRow {
    asset_id: Uuid,
    urgency_rank: i16,
    forecast_date: NaiveDate,
}

#[derive(sqlx::FromRow)]
struct AssetRow {
    id: Uuid,
    code: String,
    name: String,
    status: String,
    site_id: Option<Uuid>,
}

/// A page of the list: assets at least `min` urgent (`soon` or worse), most urgent first, then
/// the soonest; each re-forecast as of `now`.
pub async fn list(
    store: &Store,
    min: Urgency,
    limit: Option<u32>,
    cursor: Option<&str>,
    now: DateTime<Utc>,
) -> Result<ServiceDueList, DomainError> {
    if min == Urgency::Ok {
        return Err(DomainError::field(
            "urgency",
            "must be soon, due or overdue: the list holds pressing services only",
        ));
    }
    // The one validation of `limit` (the cursor is this list's own).
    let limit = PageRequest::new(limit, None)?.limit;
    let after = cursor
        .filter(|c| !c.is_empty())
        .map(Cursor::parse)
        .transpose()?;
    let sql = "SELECT s.asset_id, s.urgency_rank, s.forecast_date FROM asset_service_status s \
               JOIN assets a ON a.id = s.asset_id AND a.deleted_at IS NULL \
               JOIN maintenance_plans p ON p.id = s.plan_id AND p.deleted_at IS NULL \
               WHERE s.urgency_rank >= $1 AND ($2 IS NULL OR s.urgency_rank < $2 \
                 OR (s.urgency_rank = $2 AND (s.forecast_date > $3 \
                   OR (s.forecast_date = $3 AND s.asset_id > $4)))) \
               ORDER BY s.urgency_rank DESC, s.forecast_date, s.asset_id LIMIT $5";
    let mut rows: Vec<StatusRow> = on_read!(store, |p| sqlx::query_as(sql)
        .bind(min.rank())
        .bind(after.map(|c| c.rank))
        .bind(after.map(|c| c.date))
        .bind(after.map(|c| c.asset))
        .bind(i64::from(limit) + 1)
        .fetch_all(p)
        .await)?;
    let next_cursor = (rows.len() > limit as usize)
        .then(|| {
            rows.truncate(limit as usize);
            rows.last().map(|r| {
                Cursor {
                    rank: r.urgency_rank,
                    date: r.forecast_date,
                    asset: r.asset_id,
                }
                .format()
            })
        })
        .flatten();
    let sql = "SELECT COUNT(*) FROM asset_service_status s \
               JOIN assets a ON a.id = s.asset_id AND a.deleted_at IS NULL \
               JOIN maintenance_plans p ON p.id = s.plan_id AND p.deleted_at IS NULL \
               WHERE s.urgency_rank >= $1";
    let total: i64 = on_read!(store, |p| sqlx::query_scalar(sql)
        .bind(min.rank())
        .fetch_one(p)
        .await)?;

    let ids: Vec<Uuid> = rows.iter().map(|r| r.asset_id).collect();
    let items = if ids.is_empty() {
        Vec::new()
    } else {
        let plans = plans::all(store).await?;
        let mut live: HashMap<Uuid, AssetMaintenance> =
            forecast::for_assets(store, &plans, &ids, now)
                .await?
                .into_iter()
                .map(|v| (v.asset_id, v))
                .collect();
        let assets: HashMap<Uuid, AssetRow> = on_read!(store, |p| {
            let mut qb = sqlx::QueryBuilder::new(
                "SELECT id, code, name, status, site_id FROM assets WHERE id",
            );
            in_list(&mut qb, &ids);
            qb.build_query_as().fetch_all(p).await
        })?
        .into_iter()
        .map(|a: AssetRow| (a.id, a))
        .collect();
        let orders: HashMap<(Uuid, Uuid), Uuid> = on_read!(store, |p| {
            let mut qb = sqlx::QueryBuilder::new(
                "SELECT asset_id, plan_id, id FROM work_orders WHERE plan_id IS NOT NULL \
                 AND state IN ('open','scheduled','in_progress') AND asset_id",
            );
            in_list(&mut qb, &ids);
            qb.build_query_as().fetch_all(p).await
        })?
        .into_iter()
        .map(|(asset, plan, id): (Uuid, Uuid, Uuid)| ((asset, plan), id))
        .collect();
        let mut items = Vec::with_capacity(ids.len());
        for id in &ids {
            let (Some(view), Some(asset)) = (live.remove(id), assets.get(id)) else {
                continue;
            };
            // Serviced (or re-planned) since the sweep's pass: no longer on the list.
            let Some(next) = most_pressing(&view.services).filter(|n| n.urgency >= min) else {
                continue;
            };
            items.push(ServiceDue {
                asset_id: *id,
                code: asset.code.clone(),
                name: asset.name.clone(),
                status: asset.status.parse().unwrap_or(AssetStatus::Available),
                site_id: asset.site_id,
                work_order_id: orders.get(&(*id, next.plan_id)).copied(),
                next_service: next.clone(),
            });
        }
        items
    };
    Ok(ServiceDueList {
        items,
        next_cursor,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let c = Cursor {
            rank: 3,
            date: "2026-12-06".parse().unwrap(),
            asset: Uuid::now_v7(),
        };
        assert_eq!(Cursor::parse(&c.format()).unwrap(), c);
        for bad in [
            "",
            "3",
            "3|2026-12-06",
            "x|2026-12-06|00000000-0000-0000-0000-000000000000",
            "3|yesterday|00000000-0000-0000-0000-000000000000",
            "3|2026-12-06|nope",
        ] {
            assert!(Cursor::parse(bad).is_err(), "{bad}");
        }
    }
}
