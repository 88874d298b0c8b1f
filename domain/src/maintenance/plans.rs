//! Service plans: create, read, change and retire them, with the validation that keeps a plan
//! meaningful (an interval, sane bounds, a lead shorter than the interval, nested services that
//! divide) and the baselines that start each asset's counting when a plan begins to apply.

use chrono::{DateTime, NaiveDate, Utc};
use mobile_shared::maintenance::{
    Anchor, Interval, Metric, NewPlan, Plan, PlanPatch, PlanService, DEFAULT_LEAD_DAYS,
};
use mobile_shared::wire::Page;
use serde_json::json;
use sqlx::types::Json;
use uuid::Uuid;

use mobile_shared::ErrorCode;

use crate::actor::Actor;
use crate::audit::Change;
use crate::clock;
use crate::entity::Entity;
use crate::error::{DomainError, Validator};
use crate::pagination::PageRequest;
use crate::refs;
use crate::store::{on_read, on_tx, Store, Tx};

use super::triggers;

/// Longest lead accepted: a year's notice is a calendar, not a lead.
pub const MAX_LEAD_DAYS: u32 = 365;
/// Most nested services in one plan (250 h … 8000 h is six).
pub const MAX_SERVICES: usize = 10;
/// Largest service multiple: the 100th occurrence.
pub const MAX_MULTIPLE: u32 = 100;

#[derive(sqlx::FromRow)]
struct PlanRow {
    id: Uuid,
    name: String,
    category_id: Option<Uuid>,
    asset_id: Option<Uuid>,
    every_hours: Option<i32>,
    every_days: Option<i32>,
    every_km: Option<i32>,
    lead_days: i32,
    lead_hours: Option<i32>,
    anchor: String,
    services: Json<Vec<PlanService>>,
    starts_on: NaiveDate,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl PlanRow {
    fn into_plan(self) -> Plan {
        let count = |v: Option<i32>| v.and_then(|v| u32::try_from(v).ok());
        let intervals = [
            (Metric::EngineHours, self.every_hours),
            (Metric::Days, self.every_days),
            (Metric::OdometerKm, self.every_km),
        ]
        .into_iter()
        .filter_map(|(metric, every)| count(every).map(|every| Interval { metric, every }))
        .collect();
        Plan {
            id: self.id,
            name: self.name,
            category_id: self.category_id,
            asset_id: self.asset_id,
            intervals,
            lead_days: count(Some(self.lead_days)).unwrap_or(0),
            lead_hours: count(self.lead_hours),
            anchor: match self.anchor.as_str() {
                "fixed" => Anchor::Fixed,
                _ => Anchor::Completion,
            },
            services: self.services.0,
            starts_on: self.starts_on,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

pub(crate) const PLAN_COLUMNS: &str = "id, name, category_id, asset_id, every_hours, every_days, \
     every_km, lead_days, lead_hours, anchor, services, starts_on, version, created_at, updated_at";

/// The interval of `metric`, as the column stores it.
fn every(plan: &Plan, metric: Metric) -> Option<i32> {
    plan.intervals
        .iter()
        .find(|i| i.metric == metric)
        .and_then(|i| i32::try_from(i.every).ok())
}

/// Checks a whole plan (new, or patched) and puts its services in their stored order.
fn validate(v: &mut Validator, plan: &mut Plan) {
    let name = plan.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        v.add("name", "must be 1-200 characters");
    }
    plan.name = name;
    if plan.intervals.is_empty() {
        v.add(
            "intervals",
            "a plan needs at least one interval (engine_hours, days or odometer_km)",
        );
    }
    for (i, interval) in plan.intervals.iter().enumerate() {
        let max = interval.metric.max_every();
        if interval.every == 0 || interval.every > max {
            v.add(
                &format!("intervals[{i}].every"),
                format!("must be 1-{max} for {}", interval.metric.as_str()),
            );
        }
        if plan.intervals[..i]
            .iter()
            .any(|o| o.metric == interval.metric)
        {
            v.add(
                &format!("intervals[{i}].metric"),
                format!("{} is given twice", interval.metric.as_str()),
            );
        }
    }
    if plan.lead_days > MAX_LEAD_DAYS {
        v.add("lead_days", format!("must be at most {MAX_LEAD_DAYS}"));
    }
    let interval_of = |m: Metric| plan.intervals.iter().find(|i| i.metric == m);
    if let Some(days) = interval_of(Metric::Days) {
        if plan.lead_days >= days.every {
            v.add(
                "lead_days",
                format!(
                    "must be shorter than the {}-day interval (the order would open before the \
                     previous service is due)",
                    days.every
                ),
            );
        }
    }
    if let Some(lead) = plan.lead_hours {
        match interval_of(Metric::EngineHours) {
            Some(hours) if lead >= hours.every => v.add(
                "lead_hours",
                format!("must be shorter than the {} h interval", hours.every),
            ),
            None => v.add("lead_hours", "needs an engine_hours interval"),
            _ => {}
        }
    }
    if plan.services.is_empty() {
        plan.services = vec![PlanService {
            name: plan.name.clone(),
            multiple: 1,
        }];
    }
    if plan.services.len() > MAX_SERVICES {
        v.add("services", format!("at most {MAX_SERVICES} services"));
    }
    for (i, s) in plan.services.iter_mut().enumerate() {
        s.name = s.name.trim().to_owned();
        if s.name.is_empty() || s.name.chars().count() > 100 {
            v.add(&format!("services[{i}].name"), "must be 1-100 characters");
        }
        if s.multiple == 0 || s.multiple > MAX_MULTIPLE {
            v.add(
                &format!("services[{i}].multiple"),
                format!("must be 1-{MAX_MULTIPLE}"),
            );
        }
    }
    let mut multiples: Vec<u32> = plan.services.iter().map(|s| s.multiple).collect();
    multiples.sort_unstable();
    if multiples.windows(2).any(|w| w[0] == w[1]) {
        v.add("services", "each service needs its own multiple");
    }
    if !multiples.contains(&1) {
        v.add(
            "services",
            "one service must have multiple 1 (the one done every time)",
        );
    }
    plan.services.sort_by_key(|s| std::cmp::Reverse(s.multiple));
}

/// Checks what the plan applies to, inside the transaction that writes it.
async fn check_scope(tx: &mut Tx, v: &mut Validator, plan: &Plan) -> Result<(), DomainError> {
    match (plan.category_id, plan.asset_id) {
        (Some(_), Some(_)) | (None, None) => {
            v.add(
                "category_id",
                "give exactly one of category_id and asset_id",
            );
        }
        (Some(category), None) => {
            if !refs::category_exists(tx, category).await? {
                v.add("category_id", "no such category");
            }
        }
        (None, Some(asset)) => {
            if !refs::asset_exists(tx, asset).await? {
                v.add("asset_id", "no such asset");
            }
        }
    }
    Ok(())
}

pub async fn create(store: &Store, actor: &Actor, new: NewPlan) -> Result<Plan, DomainError> {
    let now = clock::now();
    let mut plan = Plan {
        id: clock::new_id(),
        name: new.name,
        category_id: new.category_id,
        asset_id: new.asset_id,
        intervals: new.intervals,
        lead_days: new.lead_days.unwrap_or(DEFAULT_LEAD_DAYS),
        lead_hours: new.lead_hours,
        anchor: new.anchor.unwrap_or_default(),
        services: new.services.unwrap_or_default(),
        starts_on: new.starts_on.unwrap_or_else(|| now.date_naive()),
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let mut v = Validator::new();
    validate(&mut v, &mut plan);
    let mut tx = store.begin().await?;
    check_scope(&mut tx, &mut v, &plan).await?;
    v.finish()?;
    let sql = format!(
        "INSERT INTO maintenance_plans ({PLAN_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)"
    );
    on_tx!(
        &mut tx,
        execute(
            sqlx::query(&sql)
                .bind(plan.id)
                .bind(&plan.name)
                .bind(plan.category_id)
                .bind(plan.asset_id)
                .bind(every(&plan, Metric::EngineHours))
                .bind(every(&plan, Metric::Days))
                .bind(every(&plan, Metric::OdometerKm))
                .bind(i32::try_from(plan.lead_days).unwrap_or(i32::MAX))
                .bind(plan.lead_hours.and_then(|h| i32::try_from(h).ok()))
                .bind(plan.anchor.as_str())
                .bind(Json(&plan.services))
                .bind(plan.starts_on)
                .bind(plan.version)
                .bind(now)
        )
    )?;
    baselines(&mut tx, Some(plan.id), now).await?;
    if let Some(asset) = plan.asset_id {
        // The asset's own plans replace its category's: their thresholds no longer hold.
        triggers::forget_in(&mut tx, asset, None).await?;
    }
    tx.commit_audited(
        actor,
        Change::created(Entity::MaintenancePlan, plan.id, &plan),
    )
    .await?;
    Ok(plan)
}

/// Starts the counting of every asset a plan applies to that has none yet: occurrence 0 at
/// `at`, with the asset's meters as they stand. For one plan (when it is created) or, with
/// `None`, for all of them (assets that joined a category since, or whose meter was first read
/// since; the clock's daily sweep). A meter plan waits for the asset's first reading of that
/// meter: an unknown meter is not 0 h, and counting from 0 would make a machine bought at
/// 3,000 h overdue at once (until then the forecast counts from now). One statement whatever
/// the fleet's size; an existing baseline is left alone.
pub async fn baselines(
    tx: &mut Tx,
    plan: Option<Uuid>,
    at: DateTime<Utc>,
) -> Result<u64, DomainError> {
    let sql = "INSERT INTO maintenance_history \
                   (asset_id, plan_id, occurrence, at, engine_hours, odometer_km, recorded_at) \
               SELECT a.id, p.id, 0, $1, a.engine_hours, a.odometer_km, $1 \
               FROM maintenance_plans p JOIN assets a \
                 ON a.id = p.asset_id OR a.category_id = p.category_id \
               WHERE p.deleted_at IS NULL AND a.deleted_at IS NULL AND ($2 IS NULL OR p.id = $2) \
                 AND ((p.every_hours IS NULL AND p.every_km IS NULL) \
                   OR (p.every_hours IS NOT NULL AND a.engine_hours IS NOT NULL) \
                   OR (p.every_km IS NOT NULL AND a.odometer_km IS NOT NULL)) \
               ON CONFLICT DO NOTHING";
    on_tx!(tx, execute(sqlx::query(sql).bind(at).bind(plan)))
}

pub async fn get(store: &Store, id: Uuid) -> Result<Plan, DomainError> {
    let sql = format!(
        "SELECT {PLAN_COLUMNS} FROM maintenance_plans WHERE id = $1 AND deleted_at IS NULL"
    );
    let row: Option<PlanRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(p)
        .await)?;
    Ok(row
        .ok_or(DomainError::not_found(Entity::MaintenancePlan))?
        .into_plan())
}

/// Plans, optionally only a category's or an asset's own.
pub async fn list(
    store: &Store,
    category_id: Option<Uuid>,
    asset_id: Option<Uuid>,
    page: PageRequest,
) -> Result<Page<Plan>, DomainError> {
    let sql = format!(
        "SELECT {PLAN_COLUMNS} FROM maintenance_plans WHERE deleted_at IS NULL \
         AND ($1 IS NULL OR category_id = $1) AND ($2 IS NULL OR asset_id = $2) \
         AND ($3 IS NULL OR id > $3) ORDER BY id LIMIT $4"
    );
    let rows: Vec<PlanRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(category_id)
        .bind(asset_id)
        .bind(page.after)
        .bind(page.fetch())
        .fetch_all(p)
        .await)?;
    Ok(page.page(rows, |r| r.id, PlanRow::into_plan))
}

/// Every live plan. Plans are few (tens, a few hundred), so the forecast reads them once and
/// picks each asset's in memory instead of joining per asset.
pub async fn all(store: &Store) -> Result<Vec<Plan>, DomainError> {
    let sql = format!(
        "SELECT {PLAN_COLUMNS} FROM maintenance_plans WHERE deleted_at IS NULL ORDER BY id"
    );
    let rows: Vec<PlanRow> = on_read!(store, |p| sqlx::query_as(&sql).fetch_all(p).await)?;
    Ok(rows.into_iter().map(PlanRow::into_plan).collect())
}

/// The plans of `plans` that apply to an asset: its own if it has any (they replace its
/// category's), otherwise its category's.
pub fn applying<'p>(
    plans: &'p [Plan],
    asset_id: Uuid,
    category_id: Option<Uuid>,
) -> impl Iterator<Item = &'p Plan> + 'p {
    let own = plans.iter().any(|p| p.asset_id == Some(asset_id));
    plans.iter().filter(move |p| {
        if own {
            p.asset_id == Some(asset_id)
        } else {
            p.asset_id.is_none() && category_id.is_some() && p.category_id == category_id
        }
    })
}

/// Whether `plan` applies to the asset (see [`applying`]), inside a transaction.
pub(crate) async fn applies(tx: &mut Tx, plan: &Plan, asset_id: Uuid) -> Result<bool, DomainError> {
    if plan.asset_id.is_some() {
        return Ok(plan.asset_id == Some(asset_id));
    }
    let sql = "SELECT a.category_id, EXISTS (SELECT 1 FROM maintenance_plans p \
               WHERE p.asset_id = a.id AND p.deleted_at IS NULL) AS own \
               FROM assets a WHERE a.id = $1 AND a.deleted_at IS NULL";
    let row: Option<(Option<Uuid>, bool)> = on_tx!(tx, |c| sqlx::query_as(sql)
        .bind(asset_id)
        .fetch_optional(c)
        .await)?;
    Ok(row
        .is_some_and(|(category, own)| !own && category.is_some() && category == plan.category_id))
}

pub(crate) async fn load(tx: &mut Tx, id: Uuid) -> Result<Plan, DomainError> {
    let sql = format!(
        "SELECT {PLAN_COLUMNS} FROM maintenance_plans WHERE id = $1 AND deleted_at IS NULL"
    );
    let row: Option<PlanRow> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(c)
        .await)?;
    Ok(row
        .ok_or(DomainError::not_found(Entity::MaintenancePlan))?
        .into_plan())
}

fn stale(current: &Plan) -> DomainError {
    DomainError::conflict_with(
        ErrorCode::VersionConflict,
        format!(
            "the plan was changed by someone else (current version {})",
            current.version
        ),
        json!({ "current_version": current.version, "plan": current }),
    )
}

/// Changes a plan. What it applies to does not change (retire it and create another): the
/// history of services done under it stays meaningful.
pub async fn update(
    store: &Store,
    actor: &Actor,
    id: Uuid,
    patch: PlanPatch,
) -> Result<Plan, DomainError> {
    let mut tx = store.begin().await?;
    let before = load(&mut tx, id).await?;
    if patch.version != before.version {
        return Err(stale(&before));
    }
    let mut next = before.clone();
    if let Some(name) = patch.name {
        next.name = name;
    }
    if let Some(intervals) = patch.intervals {
        next.intervals = intervals;
    }
    if let Some(lead) = patch.lead_days {
        next.lead_days = lead;
    }
    if let Some(lead) = patch.lead_hours {
        next.lead_hours = lead;
    }
    if let Some(anchor) = patch.anchor {
        next.anchor = anchor;
    }
    if let Some(services) = patch.services {
        next.services = services;
    }
    if let Some(starts_on) = patch.starts_on {
        next.starts_on = starts_on;
    }
    let mut v = Validator::new();
    validate(&mut v, &mut next);
    v.finish()?;
    let now = clock::now();
    let sql = "UPDATE maintenance_plans SET name = $1, every_hours = $2, every_days = $3, \
               every_km = $4, lead_days = $5, lead_hours = $6, anchor = $7, services = $8, \
               starts_on = $9, version = version + 1, updated_at = $10 \
               WHERE id = $11 AND version = $12 AND deleted_at IS NULL";
    let done = on_tx!(
        &mut tx,
        execute(
            sqlx::query(sql)
                .bind(&next.name)
                .bind(every(&next, Metric::EngineHours))
                .bind(every(&next, Metric::Days))
                .bind(every(&next, Metric::OdometerKm))
                .bind(i32::try_from(next.lead_days).unwrap_or(i32::MAX))
                .bind(next.lead_hours.and_then(|h| i32::try_from(h).ok()))
                .bind(next.anchor.as_str())
                .bind(Json(&next.services))
                .bind(next.starts_on)
                .bind(now)
                .bind(id)
                .bind(before.version)
        )
    )?;
    if done == 0 {
        // Another writer got in between (PostgreSQL; SQLite has one writer).
        return Err(stale(&load(&mut tx, id).await?));
    }
    let after = load(&mut tx, id).await?;
    tx.commit_audited(
        actor,
        Change::updated(Entity::MaintenancePlan, id, &before, &after),
    )
    .await?;
    Ok(after)
}

/// Retires a plan: it stops applying (and an asset's category plans apply again once its own
/// are all retired). The row stays for the services recorded under it.
pub async fn delete(store: &Store, actor: &Actor, id: Uuid) -> Result<(), DomainError> {
    let mut tx = store.begin().await?;
    let before = load(&mut tx, id).await?;
    let now = clock::now();
    tx.soft_delete("maintenance_plans", id, now).await?;
    tx.commit_audited(actor, Change::deleted(Entity::MaintenancePlan, id, &before))
        .await
}
