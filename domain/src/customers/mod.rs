//! Customers: the record the rental office keeps about who rents — create, read, change with
//! optimistic `version`, soft delete. The list and its tier/grade summary are in [`list`];
//! contacts, the contact log, complaints and the picklists in their own modules; the clock
//! rules that keep the office following up in [`rules`]. Who reaches which customer is
//! [`Scope`], decided once.

pub mod complaints;
pub mod contacts;
pub mod follow_ups;
pub mod list;
pub mod picklists;
pub mod rules;
mod scope;

use chrono::{DateTime, Utc};
use mobile_shared::customers::{
    Customer, CustomerDetail, CustomerKind, CustomerPatch, CustomerSite, CustomerStatus,
    NewCustomer, Picklist, MAX_NAME_LEN, MAX_PAYMENT_TERMS_DAYS, MAX_TAGS, MAX_TAG_LEN,
    MAX_TEXT_LEN,
};
use mobile_shared::money::{is_currency_code, MAX_AMOUNT_MINOR};
use mobile_shared::{Action, ErrorCode, Role};
use serde_json::json;
use sqlx::types::Json;
use uuid::Uuid;

use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::clock;
use crate::entity::Entity;
use crate::error::{DomainError, Validator};
use crate::store::{on_read, on_tx, RowLock, Store, Tx};

pub use scope::Scope;

#[derive(sqlx::FromRow)]
struct CustomerRow {
    id: Uuid,
    legal_name: String,
    kind: String,
    industry: Option<String>,
    region: Option<String>,
    source: Option<String>,
    account_manager_id: Option<Uuid>,
    status: String,
    currency: String,
    credit_limit_cents: Option<i64>,
    payment_terms_days: Option<i32>,
    tags: Json<Vec<String>>,
    notes: Option<String>,
    value_tier: Option<String>,
    credit_grade: Option<String>,
    classified_at: Option<DateTime<Utc>>,
    renewals_frozen_at: Option<DateTime<Utc>>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<CustomerRow> for Customer {
    type Error = DomainError;
    fn try_from(r: CustomerRow) -> Result<Customer, DomainError> {
        let unreadable = |what: &str, v: &str| {
            DomainError::Internal(format!("customer {}: unreadable {what} `{v}`", r.id))
        };
        Ok(Customer {
            kind: CustomerKind::parse(&r.kind).ok_or_else(|| unreadable("kind", &r.kind))?,
            status: CustomerStatus::parse(&r.status)
                .ok_or_else(|| unreadable("status", &r.status))?,
            id: r.id,
            legal_name: r.legal_name,
            industry: r.industry,
            region: r.region,
            source: r.source,
            account_manager_id: r.account_manager_id,
            currency: r.currency,
            credit_limit_cents: r.credit_limit_cents,
            payment_terms_days: r.payment_terms_days,
            tags: r.tags.0,
            notes: r.notes,
            value_tier: r.value_tier,
            credit_grade: r.credit_grade,
            classified_at: r.classified_at,
            renewals_frozen_at: r.renewals_frozen_at,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

pub(crate) const COLUMNS: &str = "id, legal_name, kind, industry, region, source, \
    account_manager_id, status, currency, credit_limit_cents, payment_terms_days, tags, notes, \
    value_tier, credit_grade, classified_at, renewals_frozen_at, version, created_at, updated_at";

/// How far ahead of the server clock a time the office reports (a follow-up, a complaint
/// opened or closed) may be: a phone's or laptop's clock runs fast.
pub(crate) const CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// Trims optional text; blank is absent.
pub(crate) fn clean(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

/// Checks optional free text against [`MAX_TEXT_LEN`].
pub(crate) fn check_text(v: &mut Validator, field: &str, text: Option<&str>) {
    if text.is_some_and(|t| t.chars().count() > MAX_TEXT_LEN) {
        v.add(field, format!("at most {MAX_TEXT_LEN} characters"));
    }
}

/// Checks a whole customer record (new, or patched against `before`), trimming its text.
/// Picklist values and the account manager are checked only when they change, so a value
/// retired since, or a manager who left, does not block other edits.
async fn validate(
    tx: &mut Tx,
    scope: Scope,
    c: &mut Customer,
    before: Option<&Customer>,
) -> Result<(), DomainError> {
    let mut v = Validator::new();
    c.legal_name = c.legal_name.trim().to_owned();
    if c.legal_name.is_empty() || c.legal_name.chars().count() > MAX_NAME_LEN {
        v.add("legal_name", format!("must be 1-{MAX_NAME_LEN} characters"));
    }
    if !is_currency_code(&c.currency) {
        v.add(
            "currency",
            "must be an ISO 4217 code: three upper-case letters",
        );
    }
    if c.credit_limit_cents
        .is_some_and(|l| !(0..=MAX_AMOUNT_MINOR).contains(&l))
    {
        v.add(
            "credit_limit_cents",
            "must be an integer 0-1000000000000 (minor units)",
        );
    }
    if c.payment_terms_days
        .is_some_and(|d| !(0..=MAX_PAYMENT_TERMS_DAYS).contains(&d))
    {
        v.add(
            "payment_terms_days",
            format!("must be 0-{MAX_PAYMENT_TERMS_DAYS}"),
        );
    }
    let mut tags: Vec<String> = Vec::new();
    for tag in &c.tags {
        let tag = tag.trim().to_owned();
        if tag.is_empty() || tag.chars().count() > MAX_TAG_LEN {
            v.add(
                "tags",
                format!("each tag must be 1-{MAX_TAG_LEN} characters"),
            );
        } else if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > MAX_TAGS {
        v.add("tags", format!("at most {MAX_TAGS} tags"));
    }
    c.tags = tags;
    c.notes = clean(c.notes.take());
    check_text(&mut v, "notes", c.notes.as_deref());
    for (list, field, value, old) in [
        (
            Picklist::Industry,
            "industry",
            &mut c.industry,
            before.and_then(|b| b.industry.as_deref()),
        ),
        (
            Picklist::Region,
            "region",
            &mut c.region,
            before.and_then(|b| b.region.as_deref()),
        ),
        (
            Picklist::Source,
            "source",
            &mut c.source,
            before.and_then(|b| b.source.as_deref()),
        ),
    ] {
        *value = clean(value.take());
        if let Some(value) = value.as_deref().filter(|new| Some(*new) != old) {
            if !picklists::is_live(tx, list, value).await? {
                v.add(
                    field,
                    format!("`{value}` is not a value of the {} picklist", list.as_str()),
                );
            }
        }
    }
    let manager_changed = before.is_none_or(|b| b.account_manager_id != c.account_manager_id);
    if manager_changed {
        if let (Scope::ManagedBy(me), manager) = (scope, c.account_manager_id) {
            if manager != Some(me) {
                v.add(
                    "account_manager_id",
                    "a sales user is the account manager of their own customers only",
                );
            }
        }
        if let Some(manager) = c.account_manager_id {
            if !can_manage(tx, manager).await? {
                v.add(
                    "account_manager_id",
                    "no such user, or one who cannot manage customers",
                );
            }
        }
    }
    v.finish()
}

/// Whether `user` exists, is enabled and may manage customers.
async fn can_manage(tx: &mut Tx, user: Uuid) -> Result<bool, DomainError> {
    let row: Option<(String, bool)> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT role, disabled FROM users WHERE id = $1"
    )
    .bind(user)
    .fetch_optional(c)
    .await)?;
    Ok(row.is_some_and(|(role, disabled)| {
        !disabled
            && role
                .parse::<Role>()
                .is_ok_and(|r| r.may(Action::CustomerWrite))
    }))
}

/// Creates a customer (default status `lead`; a sales user's own by default).
pub async fn create(
    store: &Store,
    actor: &Actor,
    new: NewCustomer,
) -> Result<Customer, DomainError> {
    let mut tx = store.begin().await?;
    let customer = create_in(&mut tx, actor, new, None).await?;
    tx.commit().await?;
    Ok(customer)
}

/// [`create`] inside the caller's transaction, with its audit entry. `external_code` is the
/// customer's number in the system a spreadsheet came from (imports key customers by it).
pub(crate) async fn create_in(
    tx: &mut Tx,
    actor: &Actor,
    new: NewCustomer,
    external_code: Option<&str>,
) -> Result<Customer, DomainError> {
    let scope = Scope::of_actor(actor);
    let external_code = external_code.map(str::trim).filter(|c| !c.is_empty());
    if external_code.is_some_and(|c| c.chars().count() > MAX_NAME_LEN) {
        return Err(DomainError::field(
            "external_code",
            format!("must be at most {MAX_NAME_LEN} characters"),
        ));
    }
    let now = clock::now();
    let status = new.status.unwrap_or(CustomerStatus::Lead);
    let mut customer = Customer {
        id: clock::new_id(),
        legal_name: new.legal_name,
        kind: new.kind,
        industry: new.industry,
        region: new.region,
        source: new.source,
        account_manager_id: new.account_manager_id.or(scope.manager()),
        status,
        currency: new.currency.trim().to_owned(),
        credit_limit_cents: new.credit_limit_cents,
        payment_terms_days: new.payment_terms_days,
        tags: new.tags,
        notes: new.notes,
        value_tier: None,
        credit_grade: None,
        classified_at: None,
        renewals_frozen_at: None,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    validate(tx, scope, &mut customer, None).await?;
    if !matches!(status, CustomerStatus::Lead | CustomerStatus::Active) {
        return Err(DomainError::field(
            "status",
            "a new customer is a `lead` or `active`",
        ));
    }
    let sql = "INSERT INTO customers (id, legal_name, kind, industry, region, source, \
               account_manager_id, status, currency, credit_limit_cents, payment_terms_days, \
               tags, notes, version, created_at, updated_at, external_code) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16)";
    on_tx!(
        tx,
        execute(
            sqlx::query(sql)
                .bind(customer.id)
                .bind(&customer.legal_name)
                .bind(customer.kind.as_str())
                .bind(&customer.industry)
                .bind(&customer.region)
                .bind(&customer.source)
                .bind(customer.account_manager_id)
                .bind(customer.status.as_str())
                .bind(&customer.currency)
                .bind(customer.credit_limit_cents)
                .bind(customer.payment_terms_days)
                .bind(Json(&customer.tags))
                .bind(&customer.notes)
                .bind(customer.version)
                .bind(now)
                .bind(external_code)
        )
    )
    .map_err(|e| {
        e.unique_as(ErrorCode::AlreadyExists, || {
            format!(
                "a customer with external code `{}` already exists",
                external_code.unwrap_or_default()
            )
        })
    })?;
    audit::record(
        tx,
        actor,
        Change::created(Entity::Customer, customer.id, &customer),
    )
    .await?;
    Ok(customer)
}

/// One live customer in `scope`, read in `tx` under `lock` (404 otherwise).
pub(crate) async fn load(
    tx: &mut Tx,
    scope: Scope,
    id: Uuid,
    lock: RowLock,
) -> Result<Customer, DomainError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM customers WHERE id = $1 AND deleted_at IS NULL{}",
        tx.row_lock(lock)
    );
    let row: Option<CustomerRow> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(c)
        .await)?;
    in_scope(row, scope)
}

fn in_scope(row: Option<CustomerRow>, scope: Scope) -> Result<Customer, DomainError> {
    match row {
        Some(row) if scope.covers(row.account_manager_id) => row.try_into(),
        _ => Err(DomainError::not_found(Entity::Customer)),
    }
}

/// Checks, inside a writing transaction, that the customer is live and in scope, and holds it
/// (shared) until the transaction ends so it cannot be deleted meanwhile.
pub(crate) async fn hold(tx: &mut Tx, scope: Scope, id: Uuid) -> Result<Customer, DomainError> {
    load(tx, scope, id, RowLock::Share).await
}

/// Whether a live customer is in scope, on the read pool (for the sub-resource lists).
pub(crate) async fn check_readable(
    store: &Store,
    scope: Scope,
    id: Uuid,
) -> Result<(), DomainError> {
    let row: Option<(Option<Uuid>,)> = on_read!(store, |p| sqlx::query_as(
        "SELECT account_manager_id FROM customers WHERE id = $1 AND deleted_at IS NULL"
    )
    .bind(id)
    .fetch_optional(p)
    .await)?;
    match row {
        Some((manager,)) if scope.covers(manager) => Ok(()),
        _ => Err(DomainError::not_found(Entity::Customer)),
    }
}

/// One customer with its contacts and sites (404 outside `scope`).
pub async fn get(store: &Store, scope: Scope, id: Uuid) -> Result<CustomerDetail, DomainError> {
    let sql = format!("SELECT {COLUMNS} FROM customers WHERE id = $1 AND deleted_at IS NULL");
    let row: Option<CustomerRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(p)
        .await)?;
    let customer = in_scope(row, scope)?;
    let contacts = contacts::all_of(store, id).await?;
    let sites: Vec<(Uuid, String)> = on_read!(store, |p| sqlx::query_as(
        "SELECT id, name FROM sites WHERE customer_id = $1 ORDER BY name, id"
    )
    .bind(id)
    .fetch_all(p)
    .await)?;
    Ok(CustomerDetail {
        customer,
        contacts,
        sites: sites
            .into_iter()
            .map(|(id, name)| CustomerSite { id, name })
            .collect(),
    })
}

fn stale(current: &Customer) -> DomainError {
    DomainError::conflict_with(
        ErrorCode::VersionConflict,
        format!(
            "the customer was changed by someone else (current version {})",
            current.version
        ),
        json!({ "current_version": current.version, "customer": current }),
    )
}

/// Changes a customer. Send the `version` read: a stale one is 409 `version_conflict` with the
/// current record; a status move the lifecycle does not allow is 409 `illegal_transition`.
pub async fn update(
    store: &Store,
    actor: &Actor,
    id: Uuid,
    patch: CustomerPatch,
) -> Result<Customer, DomainError> {
    let scope = Scope::of_actor(actor);
    let mut tx = store.begin().await?;
    let before = load(&mut tx, scope, id, RowLock::Update).await?;
    if patch.version != before.version {
        return Err(stale(&before));
    }
    let mut next = before.clone();
    if let Some(name) = patch.legal_name {
        next.legal_name = name;
    }
    if let Some(kind) = patch.kind {
        next.kind = kind;
    }
    if let Some(industry) = patch.industry {
        next.industry = industry;
    }
    if let Some(region) = patch.region {
        next.region = region;
    }
    if let Some(source) = patch.source {
        next.source = source;
    }
    if let Some(manager) = patch.account_manager_id {
        next.account_manager_id = manager;
    }
    if let Some(status) = patch.status {
        if !before.status.can_become(status) {
            return Err(DomainError::conflict_with(
                ErrorCode::IllegalTransition,
                format!(
                    "a {} customer cannot become {}",
                    before.status.as_str(),
                    status.as_str()
                ),
                json!({ "status": before.status }),
            ));
        }
        next.status = status;
    }
    if let Some(currency) = patch.currency {
        next.currency = currency.trim().to_owned();
    }
    if let Some(limit) = patch.credit_limit_cents {
        next.credit_limit_cents = limit;
    }
    if let Some(terms) = patch.payment_terms_days {
        next.payment_terms_days = terms;
    }
    if let Some(tags) = patch.tags {
        next.tags = tags;
    }
    if let Some(notes) = patch.notes {
        next.notes = notes;
    }
    validate(&mut tx, scope, &mut next, Some(&before)).await?;
    let now = clock::now();
    let sql = "UPDATE customers SET legal_name = $1, kind = $2, industry = $3, region = $4, \
               source = $5, account_manager_id = $6, status = $7, currency = $8, \
               credit_limit_cents = $9, payment_terms_days = $10, tags = $11, notes = $12, \
               version = version + 1, updated_at = $13 \
               WHERE id = $14 AND version = $15 AND deleted_at IS NULL";
    on_tx!(
        &mut tx,
        execute(
            sqlx::query(sql)
                .bind(&next.legal_name)
                .bind(next.kind.as_str())
                .bind(&next.industry)
                .bind(&next.region)
                .bind(&next.source)
                .bind(next.account_manager_id)
                .bind(next.status.as_str())
                .bind(&next.currency)
                .bind(next.credit_limit_cents)
                .bind(next.payment_terms_days)
                .bind(Json(&next.tags))
                .bind(&next.notes)
                .bind(now)
                .bind(id)
                .bind(before.version)
        )
    )?;
    next.version = before.version + 1;
    next.updated_at = now;
    tx.commit_audited(actor, Change::updated(Entity::Customer, id, &before, &next))
        .await?;
    Ok(next)
}

/// Soft-deletes a customer: it leaves the lists, its row stays for the contracts, complaints
/// and history that name it.
pub async fn delete(store: &Store, actor: &Actor, id: Uuid) -> Result<(), DomainError> {
    let scope = Scope::of_actor(actor);
    let mut tx = store.begin().await?;
    let before = load(&mut tx, scope, id, RowLock::Update).await?;
    tx.soft_delete("customers", id, clock::now()).await?;
    tx.commit_audited(actor, Change::deleted(Entity::Customer, id, &before))
        .await
}
