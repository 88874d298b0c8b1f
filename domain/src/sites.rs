//! Sites: depots, customer sites and workshops, each with an optional geofence.

use chrono::{DateTime, Utc};
use mobile_shared::wire::{Geofence, LatLon, NewSite, Page, Site, SiteKind, SitePatch};
use mobile_shared::ErrorCode;
use serde_json::json;
use sqlx::types::Json;
use uuid::Uuid;

use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::clock;
use crate::entity::Entity;
use crate::error::{DomainError, Validator};
use crate::pagination::PageRequest;
use crate::refs;
use crate::store::{on_read, on_tx, RowLock, Store, Tx};

/// Largest circular geofence: 100 km is already a region, not a site.
pub const MAX_RADIUS_M: f64 = 100_000.0;
pub const MAX_POLYGON_POINTS: usize = 1_000;

#[derive(sqlx::FromRow)]
struct SiteRow {
    id: Uuid,
    name: String,
    kind: String,
    address: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
    geofence: Option<Json<Geofence>>,
    customer_id: Option<Uuid>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl SiteRow {
    fn into_site(self) -> Site {
        Site {
            id: self.id,
            name: self.name,
            kind: SiteKind::parse(&self.kind).unwrap_or(SiteKind::Depot),
            address: self.address,
            location: match (self.lat, self.lon) {
                (Some(lat), Some(lon)) => Some(LatLon { lat, lon }),
                _ => None,
            },
            geofence: self.geofence.map(|g| g.0),
            customer_id: self.customer_id,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

const SITE_COLUMNS: &str =
    "id, name, kind, address, lat, lon, geofence, customer_id, version, created_at, updated_at";

/// Whether a coordinate pair is on the globe.
pub fn valid_lat_lon(p: &LatLon) -> bool {
    p.lat.is_finite()
        && p.lon.is_finite()
        && (-90.0..=90.0).contains(&p.lat)
        && (-180.0..=180.0).contains(&p.lon)
}

fn validate_geofence(v: &mut Validator, g: &Geofence) {
    match g {
        Geofence::Circle { center, radius_m } => {
            if !valid_lat_lon(center) {
                v.add(
                    "geofence.center",
                    "latitude must be in [-90, 90] and longitude in [-180, 180]",
                );
            }
            if !radius_m.is_finite() || *radius_m <= 0.0 || *radius_m > MAX_RADIUS_M {
                v.add(
                    "geofence.radius_m",
                    format!("must be > 0 and at most {MAX_RADIUS_M} m"),
                );
            }
        }
        Geofence::Polygon { points } => {
            let mut distinct: Vec<(u64, u64)> = points
                .iter()
                .map(|p| (p.lat.to_bits(), p.lon.to_bits()))
                .collect();
            distinct.sort_unstable();
            distinct.dedup();
            if distinct.len() < 3 {
                v.add(
                    "geofence.points",
                    "a polygon needs at least 3 distinct points",
                );
            } else if points.len() > MAX_POLYGON_POINTS {
                v.add(
                    "geofence.points",
                    format!("at most {MAX_POLYGON_POINTS} points"),
                );
            } else if !points.iter().all(valid_lat_lon) {
                v.add(
                    "geofence.points",
                    "latitude must be in [-90, 90] and longitude in [-180, 180]",
                );
            }
        }
    }
}

/// A site belongs to a customer only if it is a customer site, and only to a live customer.
async fn check_customer(
    tx: &mut Tx,
    v: &mut Validator,
    kind: SiteKind,
    customer_id: Option<Uuid>,
) -> Result<(), DomainError> {
    let Some(customer) = customer_id else {
        return Ok(());
    };
    if kind != SiteKind::CustomerSite {
        v.add("customer_id", "only a customer_site belongs to a customer");
    } else if !refs::customer_exists(tx, customer).await? {
        v.add("customer_id", "no such customer");
    }
    Ok(())
}

pub async fn create(store: &Store, actor: &Actor, new: NewSite) -> Result<Site, DomainError> {
    let mut tx = store.begin().await?;
    let site = create_in(&mut tx, actor, new, None).await?;
    tx.commit().await?;
    Ok(site)
}

/// [`create`] inside the caller's transaction, with its audit entry; `code` is the site's
/// short code (spreadsheet imports key sites by it), normalised like an asset code.
pub(crate) async fn create_in(
    tx: &mut Tx,
    actor: &Actor,
    new: NewSite,
    code: Option<&str>,
) -> Result<Site, DomainError> {
    let mut v = Validator::new();
    let code = code
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .and_then(|c| v.check("code", mobile_shared::normalize_asset_code(c)));
    let name = new.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        v.add("name", "must be 1-200 characters");
    }
    if let Some(loc) = &new.location {
        if !valid_lat_lon(loc) {
            v.add(
                "location",
                "latitude must be in [-90, 90] and longitude in [-180, 180]",
            );
        }
    }
    if let Some(g) = &new.geofence {
        validate_geofence(&mut v, g);
    }
    check_customer(tx, &mut v, new.kind, new.customer_id).await?;
    v.finish()?;
    let now = clock::now();
    let site = Site {
        id: clock::new_id(),
        name,
        kind: new.kind,
        address: new
            .address
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty()),
        location: new.location,
        geofence: new.geofence,
        customer_id: new.customer_id,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let sql = format!(
        "INSERT INTO sites ({SITE_COLUMNS}, code) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11)"
    );
    on_tx!(
        tx,
        execute(
            sqlx::query(&sql)
                .bind(site.id)
                .bind(&site.name)
                .bind(site.kind.as_str())
                .bind(&site.address)
                .bind(site.location.map(|l| l.lat))
                .bind(site.location.map(|l| l.lon))
                .bind(site.geofence.clone().map(Json))
                .bind(site.customer_id)
                .bind(site.version)
                .bind(now)
                .bind(&code)
        )
    )
    .map_err(|e| {
        e.unique_as(ErrorCode::DuplicateCode, || {
            format!(
                "a site with code `{}` already exists",
                code.as_deref().unwrap_or_default()
            )
        })
    })?;
    audit::record(tx, actor, Change::created(Entity::Site, site.id, &site)).await?;
    Ok(site)
}

pub async fn get(store: &Store, id: Uuid) -> Result<Site, DomainError> {
    let sql = format!("SELECT {SITE_COLUMNS} FROM sites WHERE id = $1");
    let row: Option<SiteRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(p)
        .await)?;
    Ok(row.ok_or(DomainError::not_found(Entity::Site))?.into_site())
}

pub async fn list(
    store: &Store,
    kind: Option<SiteKind>,
    page: PageRequest,
) -> Result<Page<Site>, DomainError> {
    let sql = format!(
        "SELECT {SITE_COLUMNS} FROM sites WHERE ($1 IS NULL OR kind = $1) AND ($2 IS NULL OR id > $2) \
         ORDER BY id LIMIT $3"
    );
    let rows: Vec<SiteRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(kind.map(|k| k.as_str()))
        .bind(page.after)
        .bind(page.fetch())
        .fetch_all(p)
        .await)?;
    Ok(page.page(rows, |r| r.id, SiteRow::into_site))
}

/// Renames a site, changes its address, or gives a customer site its customer. Send the
/// `version` read: a stale one is 409 `version_conflict` with the current site.
pub async fn update(
    store: &Store,
    actor: &Actor,
    id: Uuid,
    patch: SitePatch,
) -> Result<Site, DomainError> {
    let mut tx = store.begin().await?;
    let sql = format!(
        "SELECT {SITE_COLUMNS} FROM sites WHERE id = $1{}",
        tx.row_lock(RowLock::Update)
    );
    let row: Option<SiteRow> = on_tx!(&mut tx, |c| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(c)
        .await)?;
    let before = row.ok_or(DomainError::not_found(Entity::Site))?.into_site();
    if patch.version != before.version {
        return Err(DomainError::conflict_with(
            ErrorCode::VersionConflict,
            format!(
                "the site was changed by someone else (current version {})",
                before.version
            ),
            json!({ "current_version": before.version, "site": before }),
        ));
    }
    let mut after = before.clone();
    let mut v = Validator::new();
    if let Some(name) = patch.name {
        after.name = name.trim().to_owned();
        if after.name.is_empty() || after.name.chars().count() > 200 {
            v.add("name", "must be 1-200 characters");
        }
    }
    if let Some(address) = patch.address {
        after.address = address
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty());
    }
    if let Some(customer_id) = patch.customer_id {
        after.customer_id = customer_id;
        check_customer(&mut tx, &mut v, after.kind, customer_id).await?;
    }
    v.finish()?;
    after.version = before.version + 1;
    after.updated_at = clock::now();
    let sql = "UPDATE sites SET name = $1, address = $2, customer_id = $3, version = $4, \
               updated_at = $5 WHERE id = $6";
    on_tx!(
        &mut tx,
        execute(
            sqlx::query(sql)
                .bind(&after.name)
                .bind(&after.address)
                .bind(after.customer_id)
                .bind(after.version)
                .bind(after.updated_at)
                .bind(id)
        )
    )?;
    tx.commit_audited(actor, Change::updated(Entity::Site, id, &before, &after))
        .await?;
    Ok(after)
}
