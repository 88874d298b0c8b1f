//! Numbered events for every process of one database.
//!
//! A live stream's `Last-Event-ID` must mean the same thing on every API process, so events are
//! numbered by their transaction's place in COMMIT order:
//!
//! - **PostgreSQL**: the publishing transaction, as its last statements, increments the one-row
//!   counter `event_stream.seq` (migration 0015) and NOTIFYs its events on
//!   [`CHANNEL`]. The counter's row lock is held until commit, so the numbers follow commit
//!   order; a NOTIFY is delivered only if the transaction commits, to every listening
//!   connection, in commit order (PostgreSQL serialises the commits of notifying transactions
//!   anyway, so the counter adds no waiting of its own). The counter is transactional: a
//!   rolled-back transaction leaves no hole, and a listener that sees one knows it missed
//!   something. A payload is limited to 8000 bytes, so a batch travels as several parts,
//!   each carrying its sequence number and the index of its first event.
//! - **SQLite**: one process (one writer), so the in-process [`EventBus`] numbers the batches
//!   it publishes; nothing is written to the database.
//!
//! [`Source`] is the reading side: what [`super::live`] consumes.

use std::time::Duration;

use serde::Deserialize;
use sqlx::postgres::PgListener;
use tokio::sync::broadcast;

use super::{EventBus, FleetEvent, LiveItem, Numbered};
use crate::error::DomainError;
use crate::store::{Conn, Pools, Store, Tx};

/// The NOTIFY channel of live events.
pub const CHANNEL: &str = "fieldops_events";

/// PostgreSQL refuses payloads of 8000 bytes or more; the rest is the part's frame.
const MAX_PAYLOAD: usize = 7900;

/// Whether the events of a transaction have left the process through the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Staged {
    /// No: [`EventBus::publish_staged`] numbers them for this process's live streams.
    Local,
    /// Yes (PostgreSQL NOTIFY): every process, this one included, reads them from there.
    Database,
}

/// Hands the events of `tx` to the other processes of the database, delivered only if `tx`
/// commits. Call it as the last thing before commit (it takes the counter's row lock), then
/// [`EventBus::publish_staged`] after the commit.
pub async fn stage(tx: &mut Tx, events: &[FleetEvent]) -> Result<Staged, DomainError> {
    let Conn::Postgres(c) = &mut tx.0 else {
        return Ok(Staged::Local);
    };
    if events.is_empty() {
        return Ok(Staged::Database);
    }
    let items: Vec<Option<String>> = events
        .iter()
        .map(|e| {
            serde_json::to_string(e)
                .map_err(|err| {
                    tracing::error!(kind = e.kind(), "live event not serialisable: {err}")
                })
                .ok()
        })
        .collect();
    let seq: i64 =
        sqlx::query_scalar("UPDATE event_stream SET seq = seq + 1 WHERE id = 1 RETURNING seq")
            .fetch_one(&mut **c)
            .await?;
    let parts = encode_parts(u64::try_from(seq).unwrap_or(0), &items);
    // One round trip whatever the number of parts; ORDER BY keeps them in index order (the
    // target list is evaluated after the sort).
    sqlx::query(
        "SELECT pg_notify($1, p) FROM UNNEST($2::text[]) WITH ORDINALITY AS t(p, n) ORDER BY n",
    )
    .bind(CHANNEL)
    .bind(&parts)
    .execute(&mut **c)
    .await?;
    Ok(Staged::Database)
}

/// Packs a batch's events into payloads under [`MAX_PAYLOAD`]: `{"s":seq,"i":first,"e":[…]}`.
/// An event that could not be serialised (`None`), or that alone would not fit, is left out
/// but keeps its index, so listeners see a hole and tell their clients to resync.
fn encode_parts(seq: u64, items: &[Option<String>]) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current: Option<(String, usize)> = None; // (payload so far, events in it)
    for (index, item) in items.iter().enumerate() {
        let Some(json) = item else {
            if let Some((p, _)) = current.take() {
                parts.push(p + "]}");
            }
            continue;
        };
        if let Some((p, n)) = current.as_mut() {
            if p.len() + 1 + json.len() + 2 <= MAX_PAYLOAD {
                p.push(',');
                p.push_str(json);
                *n += 1;
                continue;
            }
            if let Some((p, _)) = current.take() {
                parts.push(p + "]}");
            }
        }
        let head = format!("{{\"s\":{seq},\"i\":{index},\"e\":[");
        if head.len() + json.len() + 2 > MAX_PAYLOAD {
            tracing::error!(
                bytes = json.len(),
                "live event larger than a NOTIFY payload, left out"
            );
            continue;
        }
        current = Some((head + json, 1));
    }
    if let Some((p, _)) = current {
        parts.push(p + "]}");
    }
    parts
}

fn decode_part(payload: &str) -> Result<Numbered, serde_json::Error> {
    #[derive(Deserialize)]
    struct Part {
        s: u64,
        i: u32,
        e: Vec<serde_json::Value>,
    }
    let part: Part = serde_json::from_str(payload)?;
    Ok(Numbered {
        seq: part.s,
        first: part.i,
        items: part
            .e
            .into_iter()
            .map(|v| LiveItem::from_json(v.to_string()))
            .collect(),
    })
}

/// What a [`Source`] yields.
#[derive(Debug)]
pub(crate) enum Incoming {
    Batch(Numbered),
    /// Events may have been lost (a lagging local receiver, a lost database connection).
    Gap,
    /// The store was closed.
    Closed,
}

/// The numbered events of every process (PostgreSQL) or of this one (SQLite).
pub(crate) enum Source {
    Local(broadcast::Receiver<Numbered>),
    Postgres {
        store: Store,
        listener: Option<PgListener>,
    },
}

impl Source {
    /// Subscribes; on PostgreSQL, LISTENs before returning, so what commits afterwards is seen.
    pub(crate) async fn open(store: &Store, bus: &EventBus) -> Source {
        match &store.0 {
            Pools::Sqlite { .. } => Source::Local(bus.subscribe_local()),
            Pools::Postgres(_) => {
                let mut source = Source::Postgres {
                    store: store.clone(),
                    listener: None,
                };
                if let Source::Postgres { store, listener } = &mut source {
                    *listener = listen(store).await;
                }
                source
            }
        }
    }

    pub(crate) async fn next(&mut self) -> Incoming {
        match self {
            Source::Local(rx) => match rx.recv().await {
                Ok(batch) => Incoming::Batch(batch),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "live events: local receiver lagged");
                    Incoming::Gap
                }
                Err(broadcast::error::RecvError::Closed) => Incoming::Closed,
            },
            Source::Postgres { store, listener } => loop {
                let Some(l) = listener.as_mut() else {
                    if store.is_closed() {
                        return Incoming::Closed;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    *listener = listen(store).await;
                    if listener.is_some() {
                        // Whatever committed while we were not listening is lost.
                        return Incoming::Gap;
                    }
                    continue;
                };
                match l.try_recv().await {
                    Ok(Some(n)) => match decode_part(n.payload()) {
                        Ok(batch) => return Incoming::Batch(batch),
                        Err(e) => {
                            tracing::error!("live events: unreadable NOTIFY payload: {e}");
                            return Incoming::Gap;
                        }
                    },
                    // sqlx reconnected (and LISTENs again): notifications in between are lost.
                    Ok(None) => {
                        tracing::warn!("live events: LISTEN connection lost and re-established");
                        return Incoming::Gap;
                    }
                    Err(sqlx::Error::PoolClosed) => return Incoming::Closed,
                    Err(e) => {
                        tracing::warn!("live events: LISTEN connection failed: {e}");
                        *listener = None;
                    }
                }
            },
        }
    }
}

async fn listen(store: &Store) -> Option<PgListener> {
    let Pools::Postgres(pool) = &store.0 else {
        return None;
    };
    let result = async {
        let mut l = PgListener::connect_with(pool).await?;
        l.listen(CHANNEL).await?;
        Ok::<_, sqlx::Error>(l)
    }
    .await;
    match result {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::warn!("live events: cannot LISTEN on {CHANNEL}: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn item(n: usize) -> Option<String> {
        Some(format!(
            "{{\"type\":\"position\",\"asset_id\":\"0190f2a4-0000-7000-8000-{n:012}\",\"lat\":48.1,\"lon\":11.5}}"
        ))
    }

    #[test]
    fn parts_fit_a_notify_and_keep_every_index() {
        let items: Vec<Option<String>> = (0..500).map(item).collect();
        let parts = encode_parts(42, &items);
        assert!(parts.len() > 1, "500 events need several parts");
        let mut next = 0u32;
        for p in &parts {
            assert!(p.len() < 8000, "{} bytes", p.len());
            let batch = decode_part(p).unwrap();
            assert_eq!((batch.seq, batch.first), (42, next));
            next += u32::try_from(batch.items.len()).unwrap();
            assert_eq!(batch.items[0].kind, "position");
        }
        assert_eq!(next, 500);
    }

    #[test]
    fn a_left_out_event_leaves_a_hole_in_the_indexes() {
        let items = vec![item(0), None, item(2), Some("x".repeat(9000))];
        let parts = encode_parts(7, &items);
        let batches: Vec<Numbered> = parts.iter().map(|p| decode_part(p).unwrap()).collect();
        let indexes: Vec<(u32, usize)> = batches.iter().map(|b| (b.first, b.items.len())).collect();
        assert_eq!(indexes, [(0, 1), (2, 1)]);
    }
}
