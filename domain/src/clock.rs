//! Time and ids. Times are UTC with microsecond precision, which both backends store exactly,
//! so a value read back equals the value written. Ids are UUIDv7 (time-ordered), which makes
//! the primary key a usable keyset-pagination order.

use chrono::{DateTime, SubsecRound, Utc};
use uuid::Uuid;

pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub fn new_id() -> Uuid {
    Uuid::now_v7()
}
