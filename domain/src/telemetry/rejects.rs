//! The reject table: telemetry the gateway refused (bad topic, malformed payload, unknown
//! device…), kept with the raw payload so an operator can see what a device sent and replay it,
//! bounded to the newest rows. Written by ingest in the batch's transaction; read by the API.

use chrono::{DateTime, Utc};
use mobile_shared::wire::Page;
use uuid::Uuid;

use crate::clock;
use crate::error::DomainError;
use crate::pagination::PageRequest;
use crate::store::{on_read, on_tx, Store, Tx};

/// Rows per multi-row INSERT: 7 columns × 1000 stays far below SQLite's 32,766 bound parameters.
const CHUNK: usize = 1000;

/// A refused message, as ingest stores it.
pub(super) struct RejectRow {
    pub(super) topic: String,
    pub(super) device_id: Option<String>,
    pub(super) reason: &'static str,
    pub(super) detail: String,
    pub(super) payload: Vec<u8>,
    pub(super) received_at: DateTime<Utc>,
}

/// Stores a batch's rejects in its transaction, then drops all but the newest `keep` rows.
pub(super) async fn write_rejects(
    tx: &mut Tx,
    rejects: &[RejectRow],
    keep: i64,
) -> Result<(), DomainError> {
    if rejects.is_empty() {
        return Ok(());
    }
    for chunk in rejects.chunks(CHUNK) {
        on_tx!(
            tx,
            insert_values(
                "INSERT INTO telemetry_rejects (id, received_at, topic, device_id, reason, \
            detail, payload) ",
                chunk,
                |b, r| b
                    .push_bind(clock::new_id())
                    .push_bind(r.received_at)
                    .push_bind(r.topic.clone())
                    .push_bind(r.device_id.clone())
                    .push_bind(r.reason)
                    .push_bind(r.detail.clone())
                    .push_bind(r.payload.clone())
            )
        )?;
    }
    // Bounded: drop everything older than the newest `keep` rows (ids are time-ordered).
    let sql = "DELETE FROM telemetry_rejects WHERE id < \
               (SELECT id FROM telemetry_rejects ORDER BY id DESC LIMIT 1 OFFSET $1)";
    on_tx!(tx, execute(sqlx::query(sql).bind(keep.max(1) - 1)))?;
    Ok(())
}

/// A stored reject, for inspection.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct StoredReject {
    pub id: Uuid,
    pub received_at: DateTime<Utc>,
    pub topic: String,
    pub device_id: Option<String>,
    pub reason: String,
    pub detail: String,
    #[serde(serialize_with = "payload_as_text")]
    pub payload: Vec<u8>,
}

fn payload_as_text<S: serde::Serializer>(p: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(p))
}

/// Newest first.
pub async fn list_rejects(
    store: &Store,
    reason: Option<&str>,
    page: PageRequest,
) -> Result<Page<StoredReject>, DomainError> {
    let sql = "SELECT id, received_at, topic, device_id, reason, detail, payload FROM telemetry_rejects \
               WHERE ($1 IS NULL OR reason = $1) AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3";
    let rows: Vec<StoredReject> = on_read!(store, |p| sqlx::query_as(sql)
        .bind(reason)
        .bind(page.after)
        .bind(page.fetch())
        .fetch_all(p)
        .await)?;
    Ok(page.page(rows, |r| r.id, |r| r))
}
