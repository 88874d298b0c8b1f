//! The clock: one durable scheduler that runs every time-based [`Rule`] over the time that passed
//! since it last ran, exactly once per window, catching up after downtime, with one evaluator at
//! a time across processes.
//!
//! Each rule has a mark (`schedule_marks.evaluated_through`). A tick evaluates the window
//! `(mark, now]` in chunks of at most [`Scheduler::with_chunk`]; for each chunk the rule's writes,
//! the mark's move and the `schedule_runs` log row commit in ONE transaction, so a crash re-runs
//! the chunk and never skips or doubles it. The mark row is read `FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, so while one process evaluates a rule another skips it; on SQLite the single
//! writer serialises the transactions and the re-read mark makes a second evaluation a no-op.
//! One tokio interval drives every rule: no rule sleeps on its own.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tracing::Instrument;

use crate::clock;
use crate::error::DomainError;
use crate::store::{on_read, on_tx, RowLock, Store, Tx};

/// The time window `(from, to]` a rule evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Window {
    /// Whether `t` falls in `(from, to]`.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from < t && t <= self.to
    }
}

/// What a rule's evaluation returns: how many things it did.
pub type RuleFuture<'a> = Pin<Box<dyn Future<Output = Result<u64, DomainError>> + Send + 'a>>;

/// A time-based rule: given a window of time that just passed, do what fell due in it.
///
/// `evaluate` writes only through `tx` (the transaction that also moves the rule's mark) and
/// must be idempotent per window, e.g. by creating tasks with [`crate::tasks::create_in`] under
/// a dedupe key derived from what fell due: the window itself is evaluated once, but a key keeps
/// a rule that is re-registered under another name from doubling work.
pub trait Rule: Send + Sync {
    /// Stable name: the key of the rule's mark. Renaming it starts the rule afresh.
    fn name(&self) -> &'static str;
    fn evaluate<'a>(&'a self, tx: &'a mut Tx, window: Window) -> RuleFuture<'a>;
}

/// One committed evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRun {
    pub rule: &'static str,
    pub window: Window,
    pub count: u64,
}

/// What one tick did, for metrics and logs.
#[derive(Debug, Default)]
pub struct TickReport {
    pub runs: Vec<RuleRun>,
    /// Rules another process was evaluating (PostgreSQL), left to it.
    pub skipped: Vec<&'static str>,
    /// Rules whose evaluation failed; their window is retried next tick.
    pub errors: Vec<(&'static str, String)>,
    /// How far the oldest mark of this scheduler's rules is behind the tick's `now`.
    pub behind: Option<Duration>,
}

/// Runs the registered rules. Cheap to share; one per process.
pub struct Scheduler {
    store: Store,
    rules: Vec<Arc<dyn Rule>>,
    instance: String,
    chunk: Duration,
    keep_runs: Duration,
    marks_ready: AtomicBool,
}

/// Default longest window one transaction evaluates: a catch-up after a week down is 7 short
/// transactions instead of one long one.
pub const DEFAULT_CHUNK: Duration = Duration::days(1);
/// How long `schedule_runs` rows are kept.
pub const KEEP_RUNS: Duration = Duration::days(7);

impl Scheduler {
    /// A scheduler without rules; `instance` names this process in `schedule_runs`.
    pub fn new(store: Store, instance: impl Into<String>) -> Scheduler {
        Scheduler {
            store,
            rules: Vec::new(),
            instance: instance.into(),
            chunk: DEFAULT_CHUNK,
            keep_runs: KEEP_RUNS,
            marks_ready: AtomicBool::new(false),
        }
    }

    /// The built-in rules of this build: [`crate::tasks::OverdueRule`] and maintenance's
    /// [`crate::maintenance::forecast::DailySweepRule`] and
    /// [`crate::maintenance::orders::OrdersRule`], and the nightly customer classification
    /// ([`crate::classification::rule::ClassificationRule`]).
    pub fn with_builtin_rules(self) -> Scheduler {
        let store = self.store.clone();
        self.with_rule(crate::tasks::OverdueRule)
            .with_rule(crate::maintenance::forecast::DailySweepRule)
            .with_rule(crate::maintenance::orders::OrdersRule { store })
            .with_rule(crate::classification::rule::ClassificationRule::default())
    }

    pub fn with_rule(mut self, rule: impl Rule + 'static) -> Scheduler {
        self.rules.push(Arc::new(rule));
        self
    }

    /// The longest window one transaction evaluates (at least a second).
    pub fn with_chunk(mut self, chunk: Duration) -> Scheduler {
        self.chunk = chunk.max(Duration::seconds(1));
        self
    }

    pub fn rule_names(&self) -> Vec<&'static str> {
        self.rules.iter().map(|r| r.name()).collect()
    }

    /// Creates the missing marks at `now`: a rule seen for the first time starts from now
    /// rather than replaying all of history. Existing marks are left alone.
    async fn ensure_marks(&self, now: DateTime<Utc>) -> Result<(), DomainError> {
        if self.marks_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut tx = self.store.begin().await?;
        for rule in &self.rules {
            let sql = "INSERT INTO schedule_marks (rule, evaluated_through) VALUES ($1, $2) \
                       ON CONFLICT (rule) DO NOTHING";
            on_tx!(
                &mut tx,
                execute(sqlx::query(sql).bind(rule.name()).bind(now))
            )?;
        }
        tx.commit().await?;
        self.marks_ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Evaluates every rule up to `now`, catching up in chunks. Never fails: a failing rule is
    /// reported and retried from the same mark on the next tick.
    pub async fn tick(&self, now: DateTime<Utc>) -> TickReport {
        let mut report = TickReport::default();
        if let Err(e) = self.ensure_marks(now).await {
            tracing::warn!(error = %e, "clock: cannot create rule marks");
            report.errors.push(("*", e.to_string()));
            return report;
        }
        for rule in &self.rules {
            let span = tracing::info_span!("clock.rule", rule = rule.name());
            self.catch_up(rule.as_ref(), now, &mut report)
                .instrument(span)
                .await;
        }
        match self.marks().await {
            Ok(marks) => {
                report.behind = self
                    .rules
                    .iter()
                    .filter_map(|r| marks.get(r.name()))
                    .min()
                    .map(|oldest| (now - *oldest).max(Duration::zero()));
            }
            Err(e) => tracing::warn!(error = %e, "clock: cannot read rule marks"),
        }
        report
    }

    /// Evaluates `rule` chunk by chunk up to `now`.
    async fn catch_up(&self, rule: &dyn Rule, now: DateTime<Utc>, report: &mut TickReport) {
        loop {
            match self.evaluate_next(rule, now).await {
                Ok(Step::Ran(run)) => {
                    let caught_up = run.window.to >= now;
                    tracing::debug!(from = %run.window.from, to = %run.window.to, count = run.count, "clock: window evaluated");
                    report.runs.push(run);
                    if caught_up {
                        return;
                    }
                }
                Ok(Step::UpToDate) => return,
                Ok(Step::Busy) => {
                    report.skipped.push(rule.name());
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "clock: rule failed; its window is retried next tick");
                    report.errors.push((rule.name(), e.to_string()));
                    return;
                }
            }
        }
    }

    /// One chunk: lock the mark, evaluate `(mark, min(mark + chunk, now)]`, move the mark and log
    /// the run, all in one transaction.
    async fn evaluate_next(
        &self,
        rule: &dyn Rule,
        now: DateTime<Utc>,
    ) -> Result<Step, DomainError> {
        let mut tx = self.store.begin().await?;
        let sql = format!(
            "SELECT evaluated_through FROM schedule_marks WHERE rule = $1{}",
            tx.row_lock(RowLock::SkipLocked)
        );
        let mark: Option<DateTime<Utc>> = on_tx!(&mut tx, |c| sqlx::query_scalar(&sql)
            .bind(rule.name())
            .fetch_optional(c)
            .await)?;
        // The mark exists (ensure_marks), so no row means another transaction holds it.
        let Some(from) = mark else {
            tx.rollback().await?;
            return Ok(Step::Busy);
        };
        if from >= now {
            // Released now, not when sqlx gets round to it: the next tick (this process or
            // another) must find the mark free.
            tx.rollback().await?;
            return Ok(Step::UpToDate);
        }
        let window = Window {
            from,
            to: (from + self.chunk).min(now),
        };
        let started_at = clock::now();
        let count = rule.evaluate(&mut tx, window).await?;
        let sql = "UPDATE schedule_marks SET evaluated_through = $1 WHERE rule = $2";
        on_tx!(
            &mut tx,
            execute(sqlx::query(sql).bind(window.to).bind(rule.name()))
        )?;
        let sql = "INSERT INTO schedule_runs (id, rule, window_from, window_to, instance, \
                   started_at, finished_at, count) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
        on_tx!(
            &mut tx,
            execute(
                sqlx::query(sql)
                    .bind(clock::new_id())
                    .bind(rule.name())
                    .bind(window.from)
                    .bind(window.to)
                    .bind(&self.instance)
                    .bind(started_at)
                    .bind(clock::now())
                    .bind(i64::try_from(count).unwrap_or(i64::MAX))
            )
        )?;
        // The log prunes itself in the transaction that grows it: no separate job. By window
        // (the rules' time), which is what the retention is about.
        let sql = "DELETE FROM schedule_runs WHERE rule = $1 AND window_to < $2";
        on_tx!(
            &mut tx,
            execute(
                sqlx::query(sql)
                    .bind(rule.name())
                    .bind(now - self.keep_runs)
            )
        )?;
        tx.commit().await?;
        Ok(Step::Ran(RuleRun {
            rule: rule.name(),
            window,
            count,
        }))
    }

    /// Every rule's mark.
    pub async fn marks(&self) -> Result<HashMap<String, DateTime<Utc>>, DomainError> {
        let sql = "SELECT rule, evaluated_through FROM schedule_marks";
        let rows: Vec<(String, DateTime<Utc>)> =
            on_read!(&self.store, |p| sqlx::query_as(sql).fetch_all(p).await)?;
        Ok(rows.into_iter().collect())
    }

    /// Ticks every `every` until `stop` resolves, handing each report to `on_tick`. A tick in
    /// progress finishes first (it is at most one chunk per rule past the stop), so shutdown
    /// never leaves a half-evaluated window: it would roll back anyway.
    pub async fn run(
        self,
        every: std::time::Duration,
        stop: impl Future<Output = ()>,
        mut on_tick: impl FnMut(&TickReport),
    ) {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = interval.tick() => {
                    let span = tracing::info_span!("clock.tick", instance = %self.instance);
                    let report = self.tick(clock::now()).instrument(span).await;
                    on_tick(&report);
                }
            }
        }
        tracing::info!("clock stopped");
    }
}

enum Step {
    Ran(RuleRun),
    UpToDate,
    Busy,
}
