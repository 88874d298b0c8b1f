//! Audit retention: entries older than the retention period (`--audit-retention-days`, two
//! years by default) are deleted, by the clock's rule [`RetentionRule`] and by
//! `fieldops audit purge`.
//!
//! The log is append-only in the database (migration 0028's triggers): a DELETE goes through
//! only inside a transaction marked as the purge (PostgreSQL: `SET LOCAL fieldops.audit_purge`;
//! SQLite: a row in `audit_purge`, removed again before commit). [`purge_batch_in`] is the one
//! place that marks a transaction so, deletes one batch of the oldest entries and records the
//! purge itself (how many, the cutoff) in the same transaction.
//!
//! Batches keep each transaction short (on SQLite the one writer is what ingest waits for): a
//! clock window deletes at most one batch, so a large backlog (retention switched on over
//! years of entries) drains over a few ticks instead of in one long transaction.

use chrono::{DateTime, Duration, Utc};

use super::{record, Change};
use crate::actor::Actor;
use crate::entity::Entity;
use crate::error::DomainError;
use crate::schedule::{Rule, RuleFuture, Window};
use crate::store::{on_tx, Backend, Store, Tx};

/// Days entries are kept unless configured otherwise: two years.
pub const DEFAULT_RETENTION_DAYS: u32 = 730;

/// Entries one purge transaction deletes at most.
pub const PURGE_BATCH: u32 = 5_000;

/// Deletes at most `batch` entries older than `cutoff`, oldest first, in `tx`, and records the
/// purge (`audit_log.purge`: `deleted`, `cutoff`) when it deleted any. Returns how many.
/// Idempotent: a second run finds nothing older than the cutoff left to delete.
pub(crate) async fn purge_batch_in(
    tx: &mut Tx,
    actor: &Actor,
    cutoff: DateTime<Utc>,
    batch: u32,
) -> Result<u64, DomainError> {
    allow_purge(tx, true).await?;
    let sql = "DELETE FROM audit_log WHERE id IN \
               (SELECT id FROM audit_log WHERE at < $1 ORDER BY at LIMIT $2)";
    let deleted = on_tx!(
        tx,
        execute(sqlx::query(sql).bind(cutoff).bind(i64::from(batch.max(1))))
    )?;
    // Closed again at once: nothing else this transaction does may delete entries.
    allow_purge(tx, false).await?;
    if deleted > 0 {
        let change = Change::action(
            format!("{}.purge", Entity::AuditLog),
            Entity::AuditLog,
            uuid::Uuid::nil(),
        )
        .after(&serde_json::json!({ "deleted": deleted, "cutoff": cutoff }));
        record(tx, actor, change).await?;
    }
    Ok(deleted)
}

/// Opens or closes the append-only triggers' exception for this transaction.
async fn allow_purge(tx: &mut Tx, on: bool) -> Result<(), DomainError> {
    let sql = match (tx.backend(), on) {
        (Backend::Postgres, true) => "SET LOCAL fieldops.audit_purge = 'on'",
        (Backend::Postgres, false) => "SET LOCAL fieldops.audit_purge = 'off'",
        (Backend::Sqlite, true) => "INSERT INTO audit_purge (marker) VALUES (1)",
        (Backend::Sqlite, false) => "DELETE FROM audit_purge",
    };
    on_tx!(tx, execute(sqlx::query(sql)))?;
    Ok(())
}

/// The cutoff for keeping `days` days before `now`.
pub fn cutoff(now: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    now - Duration::days(i64::from(days))
}

/// Deletes every entry older than `cutoff`, a batch per transaction (each recording its own
/// `audit_log.purge` entry), and returns how many: `fieldops audit purge`.
pub async fn purge(
    store: &Store,
    actor: &Actor,
    cutoff: DateTime<Utc>,
    batch: u32,
) -> Result<u64, DomainError> {
    let mut total = 0;
    loop {
        let mut tx = store.begin().await?;
        let deleted = purge_batch_in(&mut tx, actor, cutoff, batch).await?;
        tx.commit().await?;
        total += deleted;
        if deleted < u64::from(batch.max(1)) {
            return Ok(total);
        }
    }
}

/// The clock rule `audit_retention`: each window deletes one batch of the entries older than
/// the window's end minus the retention. After downtime the catch-up windows each delete a
/// batch; the rule is idempotent (what is gone stays gone) and needs no state of its own.
#[derive(Debug, Clone, Copy)]
pub struct RetentionRule {
    /// Entries are kept this many days.
    pub days: u32,
    /// Entries one window deletes at most.
    pub batch: u32,
}

impl RetentionRule {
    /// Keeps `days` days, purging [`PURGE_BATCH`] entries per window.
    pub fn new(days: u32) -> RetentionRule {
        RetentionRule {
            days,
            batch: PURGE_BATCH,
        }
    }
}

impl Rule for RetentionRule {
    fn name(&self) -> &'static str {
        "audit_retention"
    }

    fn evaluate<'a>(&'a self, tx: &'a mut Tx, window: Window) -> RuleFuture<'a> {
        Box::pin(async move {
            let cutoff = cutoff(window.to, self.days);
            purge_batch_in(tx, &Actor::clock(), cutoff, self.batch).await
        })
    }
}
