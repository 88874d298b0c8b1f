//! Drafts: creating one (`POST /contracts`), changing it (`PATCH`, optimistic version) and
//! adding lines, with every check a draft must pass — the customer in the caller's scope and
//! not deleted, the site the customer's, the customer's currency, each line an asset XOR a
//! category and quantity, money in minor units, no asset booked on the draft's days.
//! [`insert_draft`] is shared with renewals (the successor draft).

use chrono::{Datelike, NaiveDate};
use mobile_shared::contracts::{
    BillingCycle, Contract, ContractPatch, ContractStatus, NewContract, NewContractLine, MAX_LINES,
    MAX_NOTE_LEN, MAX_QUANTITY,
};
use mobile_shared::money::MAX_AMOUNT_MINOR;
use mobile_shared::ErrorCode;
use serde_json::json;
use uuid::Uuid;

use super::{availability, load_in, not_in, numbering, touch};
use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::clock;
use crate::customers::Scope;
use crate::entity::Entity;
use crate::error::{DomainError, Validator};
use crate::store::{on_tx, Store, Tx};

/// A draft to insert, validated.
pub(super) struct Draft {
    pub customer_id: Uuid,
    pub site_id: Option<Uuid>,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub currency: String,
    pub deposit_cents: i64,
    pub billing_cycle: BillingCycle,
    pub auto_renew: bool,
    pub notes: Option<String>,
    pub predecessor_id: Option<Uuid>,
    pub lines: Vec<NewContractLine>,
}

fn check_period(v: &mut Validator, starts_on: NaiveDate, ends_on: NaiveDate) {
    if ends_on < starts_on {
        v.add("ends_on", "must not be before starts_on");
    }
}

pub(super) fn check_money(v: &mut Validator, field: &str, cents: i64) {
    if !(0..=MAX_AMOUNT_MINOR).contains(&cents) {
        v.add(field, "must be an integer 0-1000000000000 (minor units)");
    }
}

pub(super) fn clean_note(v: &mut Validator, field: &str, note: Option<String>) -> Option<String> {
    let note = note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if note
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NOTE_LEN)
    {
        v.add(field, format!("must be at most {MAX_NOTE_LEN} characters"));
    }
    note
}

/// Checks one line's shape (asset XOR category + quantity, rate) under `field` (`lines[2]`).
fn check_line_shape(v: &mut Validator, field: &str, line: &NewContractLine) {
    match (line.asset_id, line.category_id) {
        (Some(_), None) => {
            if line.quantity.is_some_and(|q| q != 1) {
                v.add(
                    &format!("{field}.quantity"),
                    "an asset line rents one asset",
                );
            }
        }
        (None, Some(_)) => {
            if !line
                .quantity
                .is_some_and(|q| (1..=MAX_QUANTITY).contains(&q))
            {
                v.add(
                    &format!("{field}.quantity"),
                    format!("a category line needs a quantity of 1-{MAX_QUANTITY}"),
                );
            }
        }
        _ => v.add(
            &format!("{field}.asset_id"),
            "name either an asset, or a category and a quantity",
        ),
    }
    check_money(v, &format!("{field}.rate_cents"), line.rate_cents);
}

/// Checks what lines name exists (assets live and not retired, categories), and that no asset
/// is on two lines of one contract (`already`: the assets of its existing lines).
async fn check_line_refs(
    tx: &mut Tx,
    v: &mut Validator,
    lines: &[(String, &NewContractLine)],
    already: &[Uuid],
) -> Result<(), DomainError> {
    let mut seen: Vec<Uuid> = already.to_vec();
    for (field, line) in lines {
        if let Some(asset) = line.asset_id {
            let status: Option<String> = on_tx!(tx, |c| sqlx::query_scalar(
                "SELECT status FROM assets WHERE id = $1 AND deleted_at IS NULL"
            )
            .bind(asset)
            .fetch_optional(c)
            .await)?;
            match status.as_deref() {
                None => v.add(&format!("{field}.asset_id"), "no such asset"),
                Some("retired") => v.add(&format!("{field}.asset_id"), "the asset is retired"),
                Some(_) if seen.contains(&asset) => {
                    v.add(&format!("{field}.asset_id"), "the asset is on another line")
                }
                Some(_) => seen.push(asset),
            }
        }
        if let Some(category) = line.category_id {
            if !crate::refs::category_exists(tx, category).await? {
                v.add(&format!("{field}.category_id"), "no such category");
            }
        }
    }
    Ok(())
}

/// The customer's currency, if the customer exists, is not deleted and is in `scope`.
async fn customer_currency(
    tx: &mut Tx,
    scope: Scope,
    id: Uuid,
) -> Result<Option<String>, DomainError> {
    let sql = "SELECT currency FROM customers WHERE id = $1 AND deleted_at IS NULL \
               AND ($2 IS NULL OR account_manager_id = $2)";
    Ok(on_tx!(tx, |c| sqlx::query_scalar(sql)
        .bind(id)
        .bind(scope.manager())
        .fetch_optional(c)
        .await)?)
}

/// Checks that `site` is one of the customer's.
async fn check_site(
    tx: &mut Tx,
    v: &mut Validator,
    customer: Uuid,
    site: Option<Uuid>,
) -> Result<(), DomainError> {
    let Some(site) = site else { return Ok(()) };
    let owner: Option<Option<Uuid>> = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT customer_id FROM sites WHERE id = $1"
    )
    .bind(site)
    .fetch_optional(c)
    .await)?;
    match owner {
        None => v.add("site_id", "no such site"),
        Some(owner) if owner != Some(customer) => v.add("site_id", "not a site of this customer"),
        Some(_) => {}
    }
    Ok(())
}

/// Refuses (409 `booking_conflict`) a period in which an asset line's asset is booked.
async fn ensure_lines_free(
    tx: &mut Tx,
    assets: Vec<Uuid>,
    starts_on: NaiveDate,
    ends_on: NaiveDate,
) -> Result<(), DomainError> {
    for asset in assets {
        availability::ensure_free(tx, asset, starts_on, ends_on).await?;
    }
    Ok(())
}

async fn insert_line(
    tx: &mut Tx,
    contract_id: Uuid,
    line_no: i32,
    line: &NewContractLine,
) -> Result<(), DomainError> {
    let sql = "INSERT INTO contract_lines (id, contract_id, line_no, asset_id, category_id, \
               quantity, rate_cents, rate_period, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
    on_tx!(
        tx,
        execute(
            sqlx::query(sql)
                .bind(clock::new_id())
                .bind(contract_id)
                .bind(line_no)
                .bind(line.asset_id)
                .bind(line.category_id)
                .bind(line.quantity.unwrap_or(1))
                .bind(line.rate_cents)
                .bind(line.rate_period.as_str())
                .bind(clock::now())
        )
    )?;
    Ok(())
}

/// Inserts a validated draft with its number and lines, in the caller's transaction; refuses a
/// line whose asset is booked on the draft's days (409 `booking_conflict`), before the number
/// is taken.
pub(super) async fn insert_draft(
    tx: &mut Tx,
    actor: &Actor,
    d: Draft,
) -> Result<Contract, DomainError> {
    ensure_lines_free(
        tx,
        d.lines.iter().filter_map(|l| l.asset_id).collect(),
        d.starts_on,
        d.ends_on,
    )
    .await?;
    let now = clock::now();
    let number = numbering::allocate(tx, numbering::DEFAULT_SERIES, now.year()).await?;
    let id = clock::new_id();
    let sql = format!(
        "INSERT INTO contracts (id, number, series, year, seq, customer_id, site_id, status, \
         starts_on, ends_on, currency, deposit_cents, billing_cycle, auto_renew, predecessor_id, \
         notes, created_by, version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, \
         '{}', $8, $9, $10, $11, $12, $13, $14, $15, $16, 1, $17, $17)",
        ContractStatus::Draft.as_str()
    );
    on_tx!(
        tx,
        execute(
            sqlx::query(&sql)
                .bind(id)
                .bind(&number.text)
                .bind(&number.series)
                .bind(number.year)
                .bind(number.seq)
                .bind(d.customer_id)
                .bind(d.site_id)
                .bind(d.starts_on)
                .bind(d.ends_on)
                .bind(&d.currency)
                .bind(d.deposit_cents)
                .bind(d.billing_cycle.as_str())
                .bind(d.auto_renew)
                .bind(d.predecessor_id)
                .bind(&d.notes)
                .bind(actor.user_id)
                .bind(now)
        )
    )
    .map_err(|e| {
        e.unique_as(ErrorCode::AlreadyExists, || {
            "this contract is renewed already".to_owned()
        })
    })?;
    for (i, line) in d.lines.iter().enumerate() {
        insert_line(tx, id, i32::try_from(i + 1).unwrap_or(i32::MAX), line).await?;
    }
    load_in(tx, Scope::All, id, false).await
}

/// Creates a draft (`POST /contracts`): the customer exists and is in the caller's scope, the
/// site is the customer's, the currency is the customer's, each line names an asset or a
/// category and quantity, and no asset line's asset is booked on the draft's days.
pub async fn create(
    store: &Store,
    actor: &Actor,
    new: NewContract,
) -> Result<Contract, DomainError> {
    let mut tx = store.begin().await?;
    let contract = create_in(&mut tx, actor, new, None).await?;
    tx.commit().await?;
    Ok(contract)
}

/// [`create`] inside the caller's transaction, with its audit entry. `external_ref` is the
/// number the contract had in the spreadsheet it was imported from (imports key by it).
pub(crate) async fn create_in(
    tx: &mut Tx,
    actor: &Actor,
    new: NewContract,
    external_ref: Option<&str>,
) -> Result<Contract, DomainError> {
    let mut v = Validator::new();
    let external_ref = external_ref.map(str::trim).filter(|r| !r.is_empty());
    if external_ref.is_some_and(|r| r.chars().count() > 64) {
        v.add("external_ref", "must be at most 64 characters");
    }
    check_period(&mut v, new.starts_on, new.ends_on);
    let deposit_cents = new.deposit_cents.unwrap_or(0);
    check_money(&mut v, "deposit_cents", deposit_cents);
    let notes = clean_note(&mut v, "notes", new.notes);
    if new.lines.len() > MAX_LINES {
        v.add("lines", format!("at most {MAX_LINES} lines"));
    }
    let fields: Vec<(String, &NewContractLine)> = new
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| (format!("lines[{i}]"), l))
        .collect();
    for (field, line) in &fields {
        check_line_shape(&mut v, field, line);
    }
    let currency = customer_currency(tx, Scope::of_actor(actor), new.customer_id).await?;
    if currency.is_none() {
        v.add("customer_id", "no such customer");
    }
    check_site(tx, &mut v, new.customer_id, new.site_id).await?;
    check_line_refs(tx, &mut v, &fields, &[]).await?;
    v.finish()?;
    let draft = Draft {
        customer_id: new.customer_id,
        site_id: new.site_id,
        starts_on: new.starts_on,
        ends_on: new.ends_on,
        currency: currency.unwrap_or_default(),
        deposit_cents,
        billing_cycle: new.billing_cycle.unwrap_or(BillingCycle::Monthly),
        auto_renew: new.auto_renew.unwrap_or(false),
        notes,
        predecessor_id: None,
        lines: new.lines,
    };
    let contract = insert_draft(tx, actor, draft).await?;
    if let Some(external_ref) = external_ref {
        on_tx!(
            tx,
            execute(
                sqlx::query("UPDATE contracts SET external_ref = $1 WHERE id = $2")
                    .bind(external_ref)
                    .bind(contract.id)
            )
        )
        .map_err(|e| {
            e.unique_as(ErrorCode::AlreadyExists, || {
                format!("a contract imported as `{external_ref}` exists already")
            })
        })?;
    }
    audit::record(
        tx,
        actor,
        Change::created(Entity::Contract, contract.id, &contract),
    )
    .await?;
    Ok(contract)
}

/// Changes a draft: site, days, deposit, billing cycle, auto-renew clause, notes. Send the
/// `version` you read (409 `version_conflict` with the current contract otherwise).
pub async fn update(
    store: &Store,
    actor: &Actor,
    id: Uuid,
    patch: ContractPatch,
) -> Result<Contract, DomainError> {
    let mut tx = store.begin().await?;
    let before = load_in(&mut tx, Scope::of_actor(actor), id, true).await?;
    if patch.version != before.version {
        return Err(DomainError::conflict_with(
            ErrorCode::VersionConflict,
            format!(
                "the contract was changed by someone else (current version {})",
                before.version
            ),
            json!({ "current_version": before.version, "contract": before }),
        ));
    }
    if before.status != ContractStatus::Draft {
        return Err(not_in(&before, "changed"));
    }
    let mut v = Validator::new();
    let site_id = patch.site_id.unwrap_or(before.site_id);
    let starts_on = patch.starts_on.unwrap_or(before.starts_on);
    let ends_on = patch.ends_on.unwrap_or(before.ends_on);
    check_period(&mut v, starts_on, ends_on);
    let deposit_cents = patch.deposit_cents.unwrap_or(before.deposit_cents);
    check_money(&mut v, "deposit_cents", deposit_cents);
    let notes = match patch.notes {
        Some(n) => clean_note(&mut v, "notes", n),
        None => before.notes.clone(),
    };
    if site_id != before.site_id {
        check_site(&mut tx, &mut v, before.customer_id, site_id).await?;
    }
    v.finish()?;
    if (starts_on, ends_on) != (before.starts_on, before.ends_on) {
        ensure_lines_free(
            &mut tx,
            before.lines.iter().filter_map(|l| l.asset_id).collect(),
            starts_on,
            ends_on,
        )
        .await?;
    }
    let sql = "UPDATE contracts SET site_id = $1, starts_on = $2, ends_on = $3, \
               deposit_cents = $4, billing_cycle = $5, auto_renew = $6, notes = $7 WHERE id = $8";
    on_tx!(
        &mut tx,
        execute(
            sqlx::query(sql)
                .bind(site_id)
                .bind(starts_on)
                .bind(ends_on)
                .bind(deposit_cents)
                .bind(patch.billing_cycle.unwrap_or(before.billing_cycle).as_str())
                .bind(patch.auto_renew.unwrap_or(before.auto_renew))
                .bind(&notes)
                .bind(id)
        )
    )?;
    touch(&mut tx, id).await?;
    let after = load_in(&mut tx, Scope::All, id, false).await?;
    tx.commit_audited(
        actor,
        Change::updated(Entity::Contract, id, &before, &after),
    )
    .await?;
    Ok(after)
}

/// Adds a line to a draft (`POST /contracts/{id}/lines`); the same checks as at creation.
pub async fn add_line(
    store: &Store,
    actor: &Actor,
    id: Uuid,
    line: NewContractLine,
) -> Result<Contract, DomainError> {
    let mut tx = store.begin().await?;
    let before = load_in(&mut tx, Scope::of_actor(actor), id, true).await?;
    if before.status != ContractStatus::Draft {
        return Err(not_in(&before, "given new lines"));
    }
    let mut v = Validator::new();
    if before.lines.len() >= MAX_LINES {
        v.add("lines", format!("at most {MAX_LINES} lines"));
    }
    let fields = [("line".to_owned(), &line)];
    check_line_shape(&mut v, "line", &line);
    let assets: Vec<Uuid> = before.lines.iter().filter_map(|l| l.asset_id).collect();
    check_line_refs(&mut tx, &mut v, &fields, &assets).await?;
    // The wire names the body's fields without the prefix.
    v.finish().map_err(|e| match e {
        DomainError::Validation(f) => DomainError::Validation(
            f.into_iter()
                .map(|(k, m)| (k.trim_start_matches("line.").to_owned(), m))
                .collect(),
        ),
        e => e,
    })?;
    ensure_lines_free(
        &mut tx,
        line.asset_id.into_iter().collect(),
        before.starts_on,
        before.ends_on,
    )
    .await?;
    let next = before.lines.iter().map(|l| l.line_no).max().unwrap_or(0) + 1;
    insert_line(&mut tx, id, next, &line).await?;
    touch(&mut tx, id).await?;
    let after = load_in(&mut tx, Scope::All, id, false).await?;
    tx.commit_audited(
        actor,
        Change::updated(Entity::Contract, id, &before, &after),
    )
    .await?;
    Ok(after)
}
