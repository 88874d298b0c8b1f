//! The asset registry: create, read, list with filters, update with optimistic concurrency,
//! soft delete. Status changes go through [`AssetStatus::can_become`], the one transition table.

use chrono::{DateTime, NaiveDate, Utc};
use mobile_shared::wire::{
    Asset, AssetPatch, DepreciationMethod, NewAsset, Page, Position, PositionSource,
};
use mobile_shared::{normalize_asset_code, AssetStatus, ErrorCode};
use serde_json::json;
use uuid::Uuid;

use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::entity::Entity;
use crate::error::{DomainError, Validator};
use crate::pagination::PageRequest;
use crate::store::{on_read, on_tx, Store, Tx};
use crate::{categories, clock, devices, refs};

const MAX_TEXT: usize = 200;

#[derive(sqlx::FromRow)]
pub(crate) struct AssetRow {
    id: Uuid,
    code: String,
    name: String,
    status: String,
    category_id: Option<Uuid>,
    category_name: Option<String>,
    make: Option<String>,
    model: Option<String>,
    serial: Option<String>,
    home_site_id: Option<Uuid>,
    site_id: Option<Uuid>,
    pos_lat: Option<f64>,
    pos_lon: Option<f64>,
    pos_at: Option<DateTime<Utc>>,
    pos_source: Option<String>,
    engine_hours: Option<f64>,
    odometer_km: Option<f64>,
    purchase_date: Option<NaiveDate>,
    purchase_price_cents: Option<i64>,
    depreciation_method: String,
    useful_life_months: Option<i32>,
    residual_value_cents: Option<i64>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl AssetRow {
    pub(crate) fn into_asset(self) -> Result<Asset, DomainError> {
        let position = match (self.pos_lat, self.pos_lon, self.pos_at) {
            (Some(lat), Some(lon), Some(at)) => Some(Position {
                lat,
                lon,
                at,
                source: self
                    .pos_source
                    .as_deref()
                    .and_then(PositionSource::parse)
                    .unwrap_or(PositionSource::Manual),
            }),
            _ => None,
        };
        Ok(Asset {
            id: self.id,
            code: self.code,
            name: self.name,
            status: self
                .status
                .parse()
                .map_err(|e: mobile_shared::status::UnknownStatus| {
                    DomainError::Internal(e.to_string())
                })?,
            category_id: self.category_id,
            category: self.category_name,
            make: self.make,
            model: self.model,
            serial: self.serial,
            home_site_id: self.home_site_id,
            site_id: self.site_id,
            position,
            engine_hours: self.engine_hours,
            odometer_km: self.odometer_km,
            purchase_date: self.purchase_date,
            purchase_price_cents: self.purchase_price_cents,
            depreciation_method: DepreciationMethod::parse(&self.depreciation_method)
                .unwrap_or(DepreciationMethod::None),
            useful_life_months: self.useful_life_months,
            residual_value_cents: self.residual_value_cents,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
            next_service: None,
            tracker: None,
        })
    }
}

pub(crate) const SELECT_ASSET: &str = "SELECT a.id, a.code, a.name, a.status, a.category_id, \
    c.name AS category_name, a.make, a.model, a.serial, a.home_site_id, a.site_id, a.pos_lat, \
    a.pos_lon, a.pos_at, a.pos_source, a.engine_hours, a.odometer_km, a.purchase_date, \
    a.purchase_price_cents, a.depreciation_method, a.useful_life_months, a.residual_value_cents, \
    a.version, a.created_at, a.updated_at \
    FROM assets a LEFT JOIN categories c ON c.id = a.category_id";

/// Filters for listing assets; all optional, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct AssetFilter {
    pub status: Option<AssetStatus>,
    pub site_id: Option<Uuid>,
    /// Category name or id.
    pub category: Option<String>,
    /// Free text, case-insensitive, on code, name and serial.
    pub q: Option<String>,
}

fn text(v: &mut Validator, field: &str, value: Option<String>) -> Option<String> {
    let value = value
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())?;
    if value.chars().count() > MAX_TEXT {
        v.add(field, format!("must be at most {MAX_TEXT} characters"));
    }
    Some(value)
}

fn non_negative(v: &mut Validator, field: &str, value: Option<f64>) {
    if let Some(x) = value {
        if !x.is_finite() || x < 0.0 {
            v.add(field, "must be a finite number ≥ 0");
        }
    }
}

fn non_negative_int(v: &mut Validator, field: &str, value: Option<i64>) {
    if matches!(value, Some(x) if x < 0) {
        v.add(field, "must be ≥ 0");
    }
}

fn check_life(v: &mut Validator, months: Option<i32>) {
    if matches!(months, Some(m) if !(1..=1200).contains(&m)) {
        v.add("useful_life_months", "must be between 1 and 1200");
    }
}

/// Checks the references of an asset inside the transaction, naming the field at fault.
async fn check_refs(
    tx: &mut Tx,
    v: &mut Validator,
    home_site_id: Option<Uuid>,
    site_id: Option<Uuid>,
) -> Result<(), DomainError> {
    for (field, id) in [("home_site_id", home_site_id), ("site_id", site_id)] {
        if let Some(id) = id {
            if !refs::site_exists(tx, id).await? {
                v.add(field, "no such site");
            }
        }
    }
    Ok(())
}

async fn category_id(
    tx: &mut Tx,
    v: &mut Validator,
    key: Option<&str>,
) -> Result<Option<Uuid>, DomainError> {
    let Some(key) = key.map(str::trim).filter(|k| !k.is_empty()) else {
        return Ok(None);
    };
    let id = categories::resolve(tx, key).await?;
    if id.is_none() {
        v.add("category", format!("no category named `{key}`"));
    }
    Ok(id)
}

fn duplicate_code(code: &str) -> impl FnOnce(DomainError) -> DomainError + '_ {
    move |e| {
        e.unique_as(ErrorCode::DuplicateCode, || {
            format!("an asset with code `{code}` already exists")
        })
    }
}

pub async fn create(store: &Store, actor: &Actor, new: NewAsset) -> Result<Asset, DomainError> {
    let mut tx = store.begin().await?;
    let asset = create_in(&mut tx, actor, new).await?;
    tx.commit().await?;
    Ok(asset)
}

/// [`create`] inside the caller's transaction, with its audit entry (spreadsheet imports write
/// many records in one transaction through the same checks).
pub(crate) async fn create_in(
    tx: &mut Tx,
    actor: &Actor,
    new: NewAsset,
) -> Result<Asset, DomainError> {
    let mut v = Validator::new();
    let code = v.check("code", normalize_asset_code(&new.code));
    let name = text(&mut v, "name", Some(new.name));
    if name.is_none() {
        v.add("name", "must not be empty");
    }
    let make = text(&mut v, "make", new.make);
    let model = text(&mut v, "model", new.model);
    let serial = text(&mut v, "serial", new.serial);
    non_negative(&mut v, "engine_hours", new.engine_hours);
    non_negative(&mut v, "odometer_km", new.odometer_km);
    non_negative_int(&mut v, "purchase_price_cents", new.purchase_price_cents);
    non_negative_int(&mut v, "residual_value_cents", new.residual_value_cents);
    check_life(&mut v, new.useful_life_months);

    let site_id = new.site_id.or(new.home_site_id);
    check_refs(tx, &mut v, new.home_site_id, site_id).await?;
    let category_id = category_id(tx, &mut v, new.category.as_deref()).await?;
    v.finish()?;
    let (Some(code), Some(name)) = (code, name) else {
        return Err(DomainError::Internal("validated fields missing".into()));
    };

    let now = clock::now();
    let id = clock::new_id();
    let sql = "INSERT INTO assets (id, code, name, status, category_id, make, model, serial, \
               home_site_id, site_id, engine_hours, odometer_km, purchase_date, purchase_price_cents, \
               depreciation_method, useful_life_months, residual_value_cents, version, created_at, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, 1, $18, $18)";
    on_tx!(
        tx,
        execute(
            sqlx::query(sql)
                .bind(id)
                .bind(&code)
                .bind(&name)
                .bind(new.status.unwrap_or(AssetStatus::Available).as_str())
                .bind(category_id)
                .bind(&make)
                .bind(&model)
                .bind(&serial)
                .bind(new.home_site_id)
                .bind(site_id)
                .bind(new.engine_hours)
                .bind(new.odometer_km)
                .bind(new.purchase_date)
                .bind(new.purchase_price_cents)
                .bind(
                    new.depreciation_method
                        .unwrap_or(DepreciationMethod::None)
                        .as_str()
                )
                .bind(new.useful_life_months)
                .bind(new.residual_value_cents)
                .bind(now)
        )
    )
    .map_err(duplicate_code(&code))?;
    let asset = load(tx, id).await?;
    audit::record(tx, actor, Change::created(Entity::Asset, id, &asset)).await?;
    Ok(asset)
}

/// Reads an asset inside a write transaction.
pub(crate) async fn load(tx: &mut Tx, id: Uuid) -> Result<Asset, DomainError> {
    let sql = format!("{SELECT_ASSET} WHERE a.id = $1 AND a.deleted_at IS NULL");
    let row: Option<AssetRow> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(c)
        .await)?;
    row.ok_or(DomainError::not_found(Entity::Asset))?
        .into_asset()
}

pub async fn get(store: &Store, id: Uuid) -> Result<Asset, DomainError> {
    let sql = format!("{SELECT_ASSET} WHERE a.id = $1 AND a.deleted_at IS NULL");
    let row: Option<AssetRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(p)
        .await)?;
    row.ok_or(DomainError::not_found(Entity::Asset))?
        .into_asset()
}

/// Escapes LIKE wildcards so user text matches literally.
pub(crate) fn like_pattern(q: &str) -> String {
    let mut out = String::with_capacity(q.len() + 2);
    out.push('%');
    for ch in q.trim().to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('%');
    out
}

pub async fn list(
    store: &Store,
    filter: &AssetFilter,
    page: PageRequest,
) -> Result<Page<Asset>, DomainError> {
    let category_id = match filter.category.as_deref().map(str::trim) {
        Some(key) if !key.is_empty() => match categories::resolve_read(store, key).await? {
            Some(id) => Some(id),
            // An unknown category matches nothing; that is an empty page, not an error.
            None => {
                return Ok(Page {
                    items: vec![],
                    next_cursor: None,
                })
            }
        },
        _ => None,
    };
    let q = filter
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(like_pattern);
    let sql = format!(
        "{SELECT_ASSET} WHERE a.deleted_at IS NULL \
         AND ($1 IS NULL OR a.status = $1) AND ($2 IS NULL OR a.site_id = $2) \
         AND ($3 IS NULL OR a.category_id = $3) \
         AND ($4 IS NULL OR lower(a.code) LIKE $4 ESCAPE '\\' OR lower(a.name) LIKE $4 ESCAPE '\\' \
              OR lower(a.serial) LIKE $4 ESCAPE '\\') \
         AND ($5 IS NULL OR a.id > $5) ORDER BY a.id LIMIT $6"
    );
    let rows: Vec<AssetRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(filter.status.map(|s| s.as_str()))
        .bind(filter.site_id)
        .bind(category_id)
        .bind(&q)
        .bind(page.after)
        .bind(page.fetch())
        .fetch_all(p)
        .await)?;
    page.try_page(rows, |r| r.id, AssetRow::into_asset)
}

/// Answer for a stale `version`: 409 with the current version, so the client can re-read.
fn stale(current: &Asset) -> DomainError {
    DomainError::conflict_with(
        ErrorCode::VersionConflict,
        format!(
            "the asset was changed by someone else (current version {})",
            current.version
        ),
        json!({ "current_version": current.version, "asset": current }),
    )
}

/// Refuses an illegal status change with 409 and the current state.
pub(crate) fn check_transition(current: &Asset, next: AssetStatus) -> Result<(), DomainError> {
    if current.status.can_become(next) {
        return Ok(());
    }
    Err(DomainError::conflict_with(
        ErrorCode::IllegalTransition,
        format!("an asset that is {} cannot become {}", current.status, next),
        json!({ "current_status": current.status, "asset": current }),
    ))
}

pub async fn update(
    store: &Store,
    actor: &Actor,
    id: Uuid,
    patch: AssetPatch,
) -> Result<Asset, DomainError> {
    let mut tx = store.begin().await?;
    let before = load(&mut tx, id).await?;
    if patch.version != before.version {
        return Err(stale(&before));
    }
    let mut v = Validator::new();
    let mut next = before.clone();
    if let Some(code) = &patch.code {
        if let Some(code) = v.check("code", normalize_asset_code(code)) {
            next.code = code;
        }
    }
    if let Some(name) = patch.name {
        match text(&mut v, "name", Some(name)) {
            Some(n) => next.name = n,
            None => v.add("name", "must not be empty"),
        }
    }
    if let Some(status) = patch.status {
        check_transition(&before, status)?;
        next.status = status;
    }
    if let Some(make) = patch.make {
        next.make = text(&mut v, "make", make);
    }
    if let Some(model) = patch.model {
        next.model = text(&mut v, "model", model);
    }
    if let Some(serial) = patch.serial {
        next.serial = text(&mut v, "serial", serial);
    }
    if let Some(h) = patch.home_site_id {
        next.home_site_id = h;
    }
    if let Some(s) = patch.site_id {
        next.site_id = s;
    }
    if let Some(h) = patch.engine_hours {
        non_negative(&mut v, "engine_hours", Some(h));
        next.engine_hours = Some(h);
    }
    if let Some(o) = patch.odometer_km {
        non_negative(&mut v, "odometer_km", Some(o));
        next.odometer_km = Some(o);
    }
    if let Some(d) = patch.purchase_date {
        next.purchase_date = d;
    }
    if let Some(p) = patch.purchase_price_cents {
        non_negative_int(&mut v, "purchase_price_cents", p);
        next.purchase_price_cents = p;
    }
    if let Some(m) = patch.depreciation_method {
        next.depreciation_method = m;
    }
    if let Some(m) = patch.useful_life_months {
        check_life(&mut v, m);
        next.useful_life_months = m;
    }
    if let Some(r) = patch.residual_value_cents {
        non_negative_int(&mut v, "residual_value_cents", r);
        next.residual_value_cents = r;
    }
    check_refs(
        &mut tx,
        &mut v,
        patch.home_site_id.flatten(),
        patch.site_id.flatten(),
    )
    .await?;
    if let Some(cat) = &patch.category {
        next.category_id = category_id(&mut tx, &mut v, cat.as_deref()).await?;
    }
    v.finish()?;

    let now = clock::now();
    let sql = "UPDATE assets SET code = $1, name = $2, status = $3, category_id = $4, make = $5, \
               model = $6, serial = $7, home_site_id = $8, site_id = $9, engine_hours = $10, \
               odometer_km = $11, purchase_date = $12, purchase_price_cents = $13, \
               depreciation_method = $14, useful_life_months = $15, residual_value_cents = $16, \
               version = version + 1, updated_at = $17 \
               WHERE id = $18 AND version = $19 AND deleted_at IS NULL";
    let done = on_tx!(
        &mut tx,
        execute(
            sqlx::query(sql)
                .bind(&next.code)
                .bind(&next.name)
                .bind(next.status.as_str())
                .bind(next.category_id)
                .bind(&next.make)
                .bind(&next.model)
                .bind(&next.serial)
                .bind(next.home_site_id)
                .bind(next.site_id)
                .bind(next.engine_hours)
                .bind(next.odometer_km)
                .bind(next.purchase_date)
                .bind(next.purchase_price_cents)
                .bind(next.depreciation_method.as_str())
                .bind(next.useful_life_months)
                .bind(next.residual_value_cents)
                .bind(now)
                .bind(id)
                .bind(before.version)
        )
    )
    .map_err(duplicate_code(&next.code))?;
    if done == 0 {
        // Another writer got in between our read and our write (PostgreSQL only: SQLite has
        // a single writer), so the version moved.
        let current = load(&mut tx, id).await?;
        return Err(stale(&current));
    }
    let after = load(&mut tx, id).await?;
    tx.commit_audited(actor, Change::updated(Entity::Asset, id, &before, &after))
        .await?;
    Ok(after)
}

/// Changes an asset's status inside the caller's transaction (a work order starting or ending),
/// through the one transition table, with its audit entry; returns the asset after.
pub(crate) async fn set_status_in(
    tx: &mut Tx,
    actor: &Actor,
    id: Uuid,
    next: AssetStatus,
) -> Result<Asset, DomainError> {
    let before = load(tx, id).await?;
    if before.status == next {
        return Ok(before);
    }
    check_transition(&before, next)?;
    let sql = "UPDATE assets SET status = $1, version = version + 1, updated_at = $2 WHERE id = $3";
    on_tx!(
        tx,
        execute(
            sqlx::query(sql)
                .bind(next.as_str())
                .bind(clock::now())
                .bind(id)
        )
    )?;
    let after = load(tx, id).await?;
    audit::record(
        tx,
        actor,
        Change::updated(Entity::Asset, id, &before, &after),
    )
    .await?;
    Ok(after)
}

/// Deletes an asset from the registry. The row is kept (soft delete) because history —
/// positions, scans, audit entries — refers to it; its code becomes free and its tags inactive.
pub async fn delete(store: &Store, actor: &Actor, id: Uuid) -> Result<(), DomainError> {
    let mut tx = store.begin().await?;
    let before = load(&mut tx, id).await?;
    let now = clock::now();
    tx.soft_delete("assets", id, now).await?;
    on_tx!(
        &mut tx,
        execute(
            sqlx::query(
                "UPDATE asset_identifiers SET removed_at = $1, removed_by = $2 \
                 WHERE asset_id = $3 AND removed_at IS NULL"
            )
            .bind(now)
            .bind(&actor.name)
            .bind(id)
        )
    )?;
    devices::unbind_asset(&mut tx, actor, id, now).await?;
    tx.commit_audited(actor, Change::deleted(Entity::Asset, id, &before))
        .await
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern(" Ex_1% "), "%ex\\_1\\%%");
    }
}
