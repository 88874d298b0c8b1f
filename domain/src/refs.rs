//! Reference checks: whether a record that an input names exists, inside the caller's
//! transaction. A service checks its references here so that it can name the field at fault
//! (422 `validation_failed` on `site_id`) instead of tripping a foreign key with no field. This
//! module depends on nothing but the store, so every service may use it without the services
//! depending on each other.

use uuid::Uuid;

use crate::error::DomainError;
use crate::store::{on_tx, Tx};

/// Whether a site exists.
pub(crate) async fn site_exists(tx: &mut Tx, id: Uuid) -> Result<bool, DomainError> {
    let found: Option<i32> = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT 1 FROM sites WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await)?;
    Ok(found.is_some())
}

/// Whether an asset exists and is not deleted (a deleted asset keeps its row for history).
pub(crate) async fn asset_exists(tx: &mut Tx, id: Uuid) -> Result<bool, DomainError> {
    let found: Option<i32> = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT 1 FROM assets WHERE id = $1 AND deleted_at IS NULL"
    )
    .bind(id)
    .fetch_optional(c)
    .await)?;
    Ok(found.is_some())
}

/// Whether a category exists.
pub(crate) async fn category_exists(tx: &mut Tx, id: Uuid) -> Result<bool, DomainError> {
    let found: Option<i32> = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT 1 FROM categories WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await)?;
    Ok(found.is_some())
}

/// Whether a user exists (disabled ones too: history may name them).
pub(crate) async fn user_exists(tx: &mut Tx, id: Uuid) -> Result<bool, DomainError> {
    let found: Option<i32> = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT 1 FROM users WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await)?;
    Ok(found.is_some())
}

/// Whether a customer exists and is not deleted.
pub(crate) async fn customer_exists(tx: &mut Tx, id: Uuid) -> Result<bool, DomainError> {
    let found: Option<i32> = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT 1 FROM customers WHERE id = $1 AND deleted_at IS NULL"
    )
    .bind(id)
    .fetch_optional(c)
    .await)?;
    Ok(found.is_some())
}
