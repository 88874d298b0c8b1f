//! Contract numbers: gapless per series and year (`C-2026-000123`). The counter row of
//! `contract_numbers` is incremented by an upsert in the creating transaction, so the number is
//! the transaction's until it ends: a creation that fails rolls the counter back with it (no
//! gap), and on PostgreSQL a concurrent creation in the same series and year waits on the row
//! lock the upsert holds (no duplicate). On SQLite the single writer serialises them.

use crate::error::DomainError;
use crate::store::{on_tx, Tx};

/// The series of ordinary contracts.
pub const DEFAULT_SERIES: &str = "C";

/// A number taken in a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Number {
    pub series: String,
    pub year: i32,
    pub seq: i32,
    /// `<series>-<year>-<seq, 6 digits>`.
    pub text: String,
}

/// Takes the next number of `series` in `year` inside the caller's transaction. Call it after
/// the input is validated: the counter row stays locked until the transaction ends.
pub(crate) async fn allocate(tx: &mut Tx, series: &str, year: i32) -> Result<Number, DomainError> {
    let sql = "INSERT INTO contract_numbers (series, year, last_seq) VALUES ($1, $2, 1) \
               ON CONFLICT (series, year) DO UPDATE SET last_seq = contract_numbers.last_seq + 1 \
               RETURNING last_seq";
    let seq: i32 = on_tx!(tx, |c| sqlx::query_scalar(sql)
        .bind(series)
        .bind(year)
        .fetch_one(c)
        .await)?;
    Ok(Number {
        series: series.to_owned(),
        year,
        seq,
        text: format!("{series}-{year}-{seq:06}"),
    })
}
