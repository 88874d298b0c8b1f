//! Complaints: a minimal record (customer, asset, contract, category, opened, closed) that the
//! complaint-rate KPI ([`rate`]) and the credit grade read. Opened, closed once with a
//! resolution, listed; a complaint is in scope when its customer is.

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use mobile_shared::customers::{
    CloseComplaint, Complaint, ComplaintFilter, ComplaintRate, ComplaintState, NewComplaint,
    Picklist, MAX_TEXT_LEN,
};
use mobile_shared::wire::Page;
use mobile_shared::ErrorCode;
use serde_json::json;
use uuid::Uuid;

use crate::actor::Actor;
use crate::audit::Change;
use crate::clock;
use crate::entity::Entity;
use crate::error::{DomainError, Validator};
use crate::pagination::PageRequest;
use crate::refs;
use crate::store::{on_read, on_tx, RowLock, Store, Tx};

use super::{check_text, clean, picklists, Scope, CLOCK_SKEW};

#[derive(sqlx::FromRow)]
struct ComplaintRow {
    id: Uuid,
    customer_id: Uuid,
    asset_id: Option<Uuid>,
    contract_id: Option<Uuid>,
    category: String,
    description: Option<String>,
    opened_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
    resolution: Option<String>,
    created_by: Option<Uuid>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<ComplaintRow> for Complaint {
    fn from(r: ComplaintRow) -> Complaint {
        Complaint {
            id: r.id,
            customer_id: r.customer_id,
            asset_id: r.asset_id,
            contract_id: r.contract_id,
            category: r.category,
            description: r.description,
            opened_at: r.opened_at,
            closed_at: r.closed_at,
            resolution: r.resolution,
            created_by: r.created_by,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const COLUMNS: &str = "id, customer_id, asset_id, contract_id, category, description, \
    opened_at, closed_at, resolution, created_by, version, created_at, updated_at";

/// The same columns qualified by `c.`, for reads joined with the customer.
fn qualified() -> String {
    COLUMNS
        .split(", ")
        .map(|c| format!("c.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether a live customer is in scope, inside the writing transaction; a customer named in a
/// body (not the path) that is missing or out of scope is an invalid field, said the same way
/// for both so ids do not leak.
async fn customer_in_scope(tx: &mut Tx, scope: Scope, id: Uuid) -> Result<bool, DomainError> {
    match super::hold(tx, scope, id).await {
        Ok(_) => Ok(true),
        Err(DomainError::NotFound { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether a contract exists and is the customer's.
async fn contract_of(tx: &mut Tx, contract: Uuid, customer: Uuid) -> Result<bool, DomainError> {
    let found: Option<i32> = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT 1 FROM contracts WHERE id = $1 AND customer_id = $2"
    )
    .bind(contract)
    .bind(customer)
    .fetch_optional(c)
    .await)?;
    Ok(found.is_some())
}

/// Opens a complaint against a customer in the actor's scope.
pub async fn create(
    store: &Store,
    actor: &Actor,
    new: NewComplaint,
) -> Result<Complaint, DomainError> {
    let mut tx = store.begin().await?;
    let now = clock::now();
    let opened_at = new.opened_at.unwrap_or(now);
    let mut v = Validator::new();
    if !customer_in_scope(&mut tx, Scope::of_actor(actor), new.customer_id).await? {
        v.add("customer_id", "no such customer");
    }
    if let Some(asset) = new.asset_id {
        if !refs::asset_exists(&mut tx, asset).await? {
            v.add("asset_id", "no such asset");
        }
    }
    if let Some(contract) = new.contract_id {
        if !contract_of(&mut tx, contract, new.customer_id).await? {
            v.add("contract_id", "no such contract of this customer");
        }
    }
    let category = new.category.trim().to_owned();
    if !picklists::is_live(&mut tx, Picklist::ComplaintCategory, &category).await? {
        v.add(
            "category",
            format!("`{category}` is not a value of the complaint_category picklist"),
        );
    }
    let description = clean(new.description);
    check_text(&mut v, "description", description.as_deref());
    if opened_at > now + CLOCK_SKEW {
        v.add("opened_at", "must not be in the future");
    }
    v.finish()?;
    let complaint = Complaint {
        id: clock::new_id(),
        customer_id: new.customer_id,
        asset_id: new.asset_id,
        contract_id: new.contract_id,
        category,
        description,
        opened_at,
        closed_at: None,
        resolution: None,
        created_by: actor.user_id,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let sql = format!(
        "INSERT INTO complaints ({COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)"
    );
    on_tx!(
        &mut tx,
        execute(
            sqlx::query(&sql)
                .bind(complaint.id)
                .bind(complaint.customer_id)
                .bind(complaint.asset_id)
                .bind(complaint.contract_id)
                .bind(&complaint.category)
                .bind(&complaint.description)
                .bind(complaint.opened_at)
                .bind(complaint.closed_at)
                .bind(&complaint.resolution)
                .bind(complaint.created_by)
                .bind(complaint.version)
                .bind(now)
        )
    )?;
    tx.commit_audited(
        actor,
        Change::created(Entity::Complaint, complaint.id, &complaint),
    )
    .await?;
    Ok(complaint)
}

/// One complaint whose customer is in `scope` (404 otherwise).
pub async fn get(store: &Store, scope: Scope, id: Uuid) -> Result<Complaint, DomainError> {
    let sql = format!(
        "SELECT {} FROM complaints c JOIN customers k ON k.id = c.customer_id \
         WHERE c.id = $1 AND ($2 IS NULL OR k.account_manager_id = $2)",
        qualified()
    );
    let row: Option<ComplaintRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(id)
        .bind(scope.manager())
        .fetch_optional(p)
        .await)?;
    Ok(row.ok_or(DomainError::not_found(Entity::Complaint))?.into())
}

/// Closes an open complaint with its resolution. A stale `version` is 409 `version_conflict`;
/// a closed complaint 409 `complaint_closed`.
pub async fn close(
    store: &Store,
    actor: &Actor,
    id: Uuid,
    close: CloseComplaint,
) -> Result<Complaint, DomainError> {
    let scope = Scope::of_actor(actor);
    let mut tx = store.begin().await?;
    let sql = format!(
        "SELECT {} FROM complaints c JOIN customers k ON k.id = c.customer_id \
         WHERE c.id = $1 AND ($2 IS NULL OR k.account_manager_id = $2){}",
        qualified(),
        tx.row_lock(RowLock::Update)
    );
    let row: Option<ComplaintRow> = on_tx!(&mut tx, |c| sqlx::query_as(&sql)
        .bind(id)
        .bind(scope.manager())
        .fetch_optional(c)
        .await)?;
    let before: Complaint = row.ok_or(DomainError::not_found(Entity::Complaint))?.into();
    if close.version != before.version {
        return Err(DomainError::conflict_with(
            ErrorCode::VersionConflict,
            format!(
                "the complaint was changed by someone else (current version {})",
                before.version
            ),
            json!({ "current_version": before.version, "complaint": before }),
        ));
    }
    if let Some(closed_at) = before.closed_at {
        return Err(DomainError::conflict_with(
            ErrorCode::ComplaintClosed,
            "the complaint is closed already",
            json!({ "closed_at": closed_at }),
        ));
    }
    let now = clock::now();
    let closed_at = close.closed_at.unwrap_or(now);
    let mut v = Validator::new();
    let resolution = close.resolution.trim().to_owned();
    if resolution.is_empty() || resolution.chars().count() > MAX_TEXT_LEN {
        v.add("resolution", format!("must be 1-{MAX_TEXT_LEN} characters"));
    }
    if closed_at < before.opened_at {
        v.add("closed_at", "must not be before the complaint was opened");
    } else if closed_at > now + CLOCK_SKEW {
        v.add("closed_at", "must not be in the future");
    }
    v.finish()?;
    let after = Complaint {
        closed_at: Some(closed_at),
        resolution: Some(resolution),
        version: before.version + 1,
        updated_at: now,
        ..before.clone()
    };
    let sql = "UPDATE complaints SET closed_at = $1, resolution = $2, version = version + 1, \
               updated_at = $3 WHERE id = $4";
    on_tx!(
        &mut tx,
        execute(
            sqlx::query(sql)
                .bind(after.closed_at)
                .bind(&after.resolution)
                .bind(now)
                .bind(id)
        )
    )?;
    let change = Change::action("complaint.close", Entity::Complaint, id)
        .before(&before)
        .after(&after);
    tx.commit_audited(actor, change).await?;
    Ok(after)
}

/// The complaints whose customer is in `scope`, newest first, filtered.
pub async fn list(
    store: &Store,
    scope: Scope,
    filter: &ComplaintFilter,
    page: PageRequest,
) -> Result<Page<Complaint>, DomainError> {
    let state = filter.state.map(|s| match s {
        ComplaintState::Open => "open",
        ComplaintState::Closed => "closed",
    });
    let sql = format!(
        "SELECT {} FROM complaints c JOIN customers k ON k.id = c.customer_id \
         WHERE ($1 IS NULL OR k.account_manager_id = $1) AND ($2 IS NULL OR c.customer_id = $2) \
         AND ($3 IS NULL OR ($3 = 'open' AND c.closed_at IS NULL) \
              OR ($3 = 'closed' AND c.closed_at IS NOT NULL)) \
         AND ($4 IS NULL OR c.category = $4) AND ($5 IS NULL OR c.opened_at >= $5) \
         AND ($6 IS NULL OR c.opened_at < $6) AND ($7 IS NULL OR c.id < $7) \
         ORDER BY c.id DESC LIMIT $8",
        qualified()
    );
    let rows: Vec<ComplaintRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(scope.manager())
        .bind(filter.customer_id)
        .bind(state)
        .bind(filter.category.as_deref())
        .bind(filter.opened_from)
        .bind(filter.opened_to)
        .bind(page.after)
        .bind(page.fetch())
        .fetch_all(p)
        .await)?;
    Ok(page.page(rows, |r| r.id, Complaint::from))
}

/// The complaint rate of the month holding `day`: customers with a complaint opened in that
/// month over the customers active now (the KPI's target is ≤ 2 %).
pub async fn rate(store: &Store, day: NaiveDate) -> Result<ComplaintRate, DomainError> {
    let month = day.with_day(1).unwrap_or(day);
    let next = month.checked_add_months(Months::new(1)).unwrap_or(month);
    let start = month.and_time(chrono::NaiveTime::MIN).and_utc();
    let end = next.and_time(chrono::NaiveTime::MIN).and_utc();
    let sql = "SELECT \
               (SELECT COUNT(DISTINCT customer_id) FROM complaints \
                WHERE opened_at >= $1 AND opened_at < $2), \
               (SELECT COUNT(*) FROM customers WHERE status = 'active' AND deleted_at IS NULL)";
    let (with_complaints, active): (i64, i64) = on_read!(store, |p| sqlx::query_as(sql)
        .bind(start)
        .bind(end)
        .fetch_one(p)
        .await)?;
    // A ratio, not money: a float is the honest type.
    #[allow(clippy::cast_precision_loss)]
    let rate = (active > 0).then(|| with_complaints as f64 / active as f64);
    Ok(ComplaintRate {
        month,
        customers_with_complaints: with_complaints,
        active_customers: active,
        rate,
    })
}
