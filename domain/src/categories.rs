//! Asset categories (excavator, generator, lift…).

use chrono::{DateTime, Utc};
use mobile_shared::wire::{Category, NewCategory, Page};
use uuid::Uuid;

use mobile_shared::ErrorCode;

use crate::actor::Actor;
use crate::audit::Change;
use crate::clock;
use crate::entity::Entity;
use crate::error::{DomainError, Validator};
use crate::pagination::PageRequest;
use crate::store::{on_read, on_tx, Store, Tx};

#[derive(sqlx::FromRow)]
struct CategoryRow {
    id: Uuid,
    name: String,
    description: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<CategoryRow> for Category {
    fn from(r: CategoryRow) -> Self {
        Category {
            id: r.id,
            name: r.name,
            description: r.description,
            created_at: r.created_at,
        }
    }
}

pub async fn create(
    store: &Store,
    actor: &Actor,
    new: NewCategory,
) -> Result<Category, DomainError> {
    let name = new.name.trim().to_owned();
    let mut v = Validator::new();
    if name.is_empty() || name.chars().count() > 100 {
        v.add("name", "must be 1-100 characters");
    }
    v.finish()?;
    let cat = Category {
        id: clock::new_id(),
        name,
        description: new
            .description
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty()),
        created_at: clock::now(),
    };
    let mut tx = store.begin().await?;
    let sql = "INSERT INTO categories (id, name, description, created_at) VALUES ($1, $2, $3, $4)";
    on_tx!(
        &mut tx,
        execute(
            sqlx::query(sql)
                .bind(cat.id)
                .bind(&cat.name)
                .bind(&cat.description)
                .bind(cat.created_at)
        )
    )
    .map_err(|e| {
        e.unique_as(ErrorCode::CategoryExists, || {
            format!("a category named `{}` already exists", cat.name)
        })
    })?;
    tx.commit_audited(actor, Change::created(Entity::Category, cat.id, &cat))
        .await?;
    Ok(cat)
}

pub async fn list(store: &Store, page: PageRequest) -> Result<Page<Category>, DomainError> {
    let sql = "SELECT id, name, description, created_at FROM categories \
               WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2";
    let rows: Vec<CategoryRow> = on_read!(store, |p| sqlx::query_as(sql)
        .bind(page.after)
        .bind(page.fetch())
        .fetch_all(p)
        .await)?;
    Ok(page.page(rows, |r| r.id, Category::from))
}

/// Finds a category by id (if `key` is a UUID) or by exact name, inside a write transaction.
pub(crate) async fn resolve(tx: &mut Tx, key: &str) -> Result<Option<Uuid>, DomainError> {
    let key = key.trim();
    let by_id = Uuid::parse_str(key).ok();
    let sql = "SELECT id FROM categories WHERE id = $1 OR name = $2";
    let id: Option<Uuid> = on_tx!(tx, |c| sqlx::query_scalar(sql)
        .bind(by_id)
        .bind(key)
        .fetch_optional(c)
        .await)?;
    Ok(id)
}

/// Same as [`resolve`], on the read pool (for list filters).
pub(crate) async fn resolve_read(store: &Store, key: &str) -> Result<Option<Uuid>, DomainError> {
    let key = key.trim();
    let by_id = Uuid::parse_str(key).ok();
    let sql = "SELECT id FROM categories WHERE id = $1 OR name = $2";
    let id: Option<Uuid> = on_read!(store, |p| sqlx::query_scalar(sql)
        .bind(by_id)
        .bind(key)
        .fetch_optional(p)
        .await)?;
    Ok(id)
}
