//! The standard picklists (industry, source channel, region, complaint category): values are
//! rows an admin adds, relabels and retires, never code. A record stores the `value`; a value
//! retired later stays on the records that have it but cannot be chosen again ([`is_live`]).

use chrono::{DateTime, Utc};
use mobile_shared::customers::{
    NewPicklistValue, Picklist, PicklistValue, PicklistValuePatch, MAX_PICKLIST_LABEL_LEN,
    MAX_PICKLIST_VALUE_LEN,
};
use mobile_shared::ErrorCode;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::actor::Actor;
use crate::audit::Change;
use crate::clock;
use crate::entity::Entity;
use crate::error::{DomainError, Validator};
use crate::store::{on_read, on_tx, RowLock, Store, Tx};

#[derive(sqlx::FromRow)]
struct ValueRow {
    list: String,
    value: String,
    label: String,
    position: i32,
    retired_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl TryFrom<ValueRow> for PicklistValue {
    type Error = DomainError;
    fn try_from(r: ValueRow) -> Result<PicklistValue, DomainError> {
        Ok(PicklistValue {
            list: Picklist::parse(&r.list).ok_or_else(|| {
                DomainError::Internal(format!("picklist value of unknown list `{}`", r.list))
            })?,
            value: r.value,
            label: r.label,
            position: r.position,
            retired_at: r.retired_at,
            created_at: r.created_at,
        })
    }
}

const COLUMNS: &str = "list, value, label, position, retired_at, created_at";

/// The audit log names records by UUID; a picklist value's key is (list, value), so its entries
/// carry a stable id derived from that key (the same value always has the same id).
fn audit_id(list: Picklist, value: &str) -> Uuid {
    let digest = Sha256::digest(format!("picklist:{}:{value}", list.as_str()));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(bytes)
}

/// The values of a list in display order (position, then value); retired ones only when asked.
pub async fn list(
    store: &Store,
    list: Picklist,
    include_retired: bool,
) -> Result<Vec<PicklistValue>, DomainError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM picklist_values WHERE list = $1 AND ($2 OR retired_at IS NULL) \
         ORDER BY position, value"
    );
    let rows: Vec<ValueRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(list.as_str())
        .bind(include_retired)
        .fetch_all(p)
        .await)?;
    rows.into_iter().map(PicklistValue::try_from).collect()
}

/// Whether `value` is a live (not retired) value of `list`, inside the writing transaction.
pub(crate) async fn is_live(tx: &mut Tx, list: Picklist, value: &str) -> Result<bool, DomainError> {
    let found: Option<i32> = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT 1 FROM picklist_values WHERE list = $1 AND value = $2 AND retired_at IS NULL"
    )
    .bind(list.as_str())
    .bind(value)
    .fetch_optional(c)
    .await)?;
    Ok(found.is_some())
}

fn check_label(v: &mut Validator, label: &str) {
    if label.is_empty() || label.chars().count() > MAX_PICKLIST_LABEL_LEN {
        v.add(
            "label",
            format!("must be 1-{MAX_PICKLIST_LABEL_LEN} characters"),
        );
    }
}

fn check_position(v: &mut Validator, position: Option<i32>) {
    if position.is_some_and(|p| !(0..=10_000).contains(&p)) {
        v.add("position", "must be 0-10000");
    }
}

/// Adds a value (by default after the list's last one). A value the list has, retired or not,
/// is 409 `picklist_value_exists`.
pub async fn add(
    store: &Store,
    actor: &Actor,
    list: Picklist,
    new: NewPicklistValue,
) -> Result<PicklistValue, DomainError> {
    let mut v = Validator::new();
    let value = new.value.trim().to_owned();
    let snake = value.starts_with(|c: char| c.is_ascii_lowercase())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !snake || value.len() > MAX_PICKLIST_VALUE_LEN {
        v.add(
            "value",
            format!("must be snake_case, 1-{MAX_PICKLIST_VALUE_LEN} characters"),
        );
    }
    let label = new.label.trim().to_owned();
    check_label(&mut v, &label);
    check_position(&mut v, new.position);
    v.finish()?;
    let mut tx = store.begin().await?;
    let position = match new.position {
        Some(p) => p,
        None => {
            let last: Option<i32> = on_tx!(&mut tx, |c| sqlx::query_scalar(
                "SELECT MAX(position) FROM picklist_values WHERE list = $1"
            )
            .bind(list.as_str())
            .fetch_one(c)
            .await)?;
            last.map_or(1, |p| p.saturating_add(1))
        }
    };
    let added = PicklistValue {
        list,
        value,
        label,
        position,
        retired_at: None,
        created_at: clock::now(),
    };
    let sql = format!("INSERT INTO picklist_values ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)");
    on_tx!(
        &mut tx,
        execute(
            sqlx::query(&sql)
                .bind(list.as_str())
                .bind(&added.value)
                .bind(&added.label)
                .bind(added.position)
                .bind(added.retired_at)
                .bind(added.created_at)
        )
    )
    .map_err(|e| {
        e.unique_as(ErrorCode::PicklistValueExists, || {
            format!(
                "the {} picklist already has `{}`",
                list.as_str(),
                added.value
            )
        })
    })?;
    let id = audit_id(list, &added.value);
    tx.commit_audited(actor, Change::created(Entity::PicklistValue, id, &added))
        .await?;
    Ok(added)
}

/// Relabels, moves, retires or brings back a value (404 for a value the list does not have).
pub async fn update(
    store: &Store,
    actor: &Actor,
    list: Picklist,
    value: &str,
    patch: PicklistValuePatch,
) -> Result<PicklistValue, DomainError> {
    let mut tx = store.begin().await?;
    let sql = format!(
        "SELECT {COLUMNS} FROM picklist_values WHERE list = $1 AND value = $2{}",
        tx.row_lock(RowLock::Update)
    );
    let row: Option<ValueRow> = on_tx!(&mut tx, |c| sqlx::query_as(&sql)
        .bind(list.as_str())
        .bind(value)
        .fetch_optional(c)
        .await)?;
    let before: PicklistValue = row
        .ok_or(DomainError::not_found(Entity::PicklistValue))?
        .try_into()?;
    let mut after = before.clone();
    let mut v = Validator::new();
    if let Some(label) = patch.label {
        after.label = label.trim().to_owned();
        check_label(&mut v, &after.label);
    }
    check_position(&mut v, patch.position);
    v.finish()?;
    if let Some(position) = patch.position {
        after.position = position;
    }
    match patch.retired {
        Some(true) if before.retired_at.is_none() => after.retired_at = Some(clock::now()),
        Some(false) => after.retired_at = None,
        _ => {}
    }
    let sql = "UPDATE picklist_values SET label = $1, position = $2, retired_at = $3 \
               WHERE list = $4 AND value = $5";
    on_tx!(
        &mut tx,
        execute(
            sqlx::query(sql)
                .bind(&after.label)
                .bind(after.position)
                .bind(after.retired_at)
                .bind(list.as_str())
                .bind(value)
        )
    )?;
    let id = audit_id(list, value);
    tx.commit_audited(
        actor,
        Change::updated(Entity::PicklistValue, id, &before, &after),
    )
    .await?;
    Ok(after)
}
