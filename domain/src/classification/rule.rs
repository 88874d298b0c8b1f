//! The clock rule `customer_classification`: the nightly run, once per night.
//!
//! A night is due at 02:00 UTC ([`due_at`]). A window runs the classification when the latest
//! due night has no run yet (`classification_runs.due_at`) and the window reaches the present:
//! so it runs at the first tick after 02:00, once; after downtime the clock's catch-up windows
//! (in the past) run nothing and the window that reaches the present runs it once, not once per
//! missed night — a classification is of now, and a night's run dated on a past night would
//! measure today's contracts anyway. A database never classified runs at its first window.
//! The run and the mark's move commit together, so a crash re-runs it and a second process
//! (PostgreSQL: the mark is locked) or a second look (SQLite) finds the night done.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveTime, Utc};

use crate::actor::Actor;
use crate::schedule::{Rule, RuleFuture, Window};
use crate::store::{on_tx, Tx};

/// The hour (UTC) a night's run is due.
pub const NIGHTLY_HOUR_UTC: u32 = 2;
/// How far in the past a window may end and still be "now" (as the daily maintenance sweep).
pub const CATCH_UP_SLACK: Duration = Duration::hours(1);

/// The latest 02:00 UTC at or before `t`.
pub fn due_at(t: DateTime<Utc>) -> DateTime<Utc> {
    let hour = NaiveTime::from_hms_opt(NIGHTLY_HOUR_UTC, 0, 0).unwrap_or(NaiveTime::MIN);
    let today = t.date_naive().and_time(hour).and_utc();
    if today <= t {
        today
    } else {
        today - Duration::days(1)
    }
}

/// What "now" is to the rule: the wall clock, or a test's.
pub type Now = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The nightly classification on the clock ([`crate::schedule::Scheduler`]).
#[derive(Clone)]
pub struct ClassificationRule {
    now: Now,
}

impl Default for ClassificationRule {
    fn default() -> Self {
        ClassificationRule {
            now: Arc::new(crate::clock::now),
        }
    }
}

impl std::fmt::Debug for ClassificationRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClassificationRule").finish_non_exhaustive()
    }
}

impl ClassificationRule {
    /// The rule with another clock (tests that move time).
    pub fn with_clock(now: Now) -> Self {
        ClassificationRule { now }
    }
}

/// The due night of the latest run, if any.
async fn last_due(tx: &mut Tx) -> Result<Option<DateTime<Utc>>, crate::DomainError> {
    let sql = "SELECT due_at FROM classification_runs ORDER BY due_at DESC LIMIT 1";
    on_tx!(tx, |c| sqlx::query_scalar(sql)
        .fetch_optional(&mut *c)
        .await)
    .map_err(Into::into)
}

impl Rule for ClassificationRule {
    fn name(&self) -> &'static str {
        "customer_classification"
    }

    fn evaluate<'a>(&'a self, tx: &'a mut Tx, window: Window) -> RuleFuture<'a> {
        Box::pin(async move {
            if window.to < (self.now)() - CATCH_UP_SLACK {
                return Ok(0);
            }
            let due = due_at(window.to);
            if last_due(tx).await?.is_some_and(|last| last >= due) {
                return Ok(0);
            }
            let summary = super::run_in(tx, &Actor::clock(), window.to, due).await?;
            Ok(summary.customers)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_night_is_due_at_two_utc() {
        let t = |d: u32, h: u32, m: u32| Utc.with_ymd_and_hms(2030, 1, d, h, m, 0).unwrap();
        let cases = [
            (t(2, 0, 0), t(1, 2, 0)),
            (t(2, 1, 59), t(1, 2, 0)),
            (t(2, 2, 0), t(2, 2, 0)),
            (t(2, 2, 1), t(2, 2, 0)),
            (t(2, 23, 59), t(2, 2, 0)),
        ];
        for (at, want) in cases {
            assert_eq!(due_at(at), want, "{at}");
        }
    }
}
