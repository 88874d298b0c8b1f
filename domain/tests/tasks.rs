//! The task engine and the clock, on SQLite and PostgreSQL: dedupe keys (also under concurrent
//! creators), list filters and scopes, closing rules, the on-time KPI, the overdue rule, catch-up
//! after downtime in chunks, a crash between "due" and "created", and two schedulers on one
//! database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, TimeZone, Utc};
use domain::schedule::{Rule, RuleFuture, Scheduler, Window};
use domain::tasks::{self, NewTask, OverdueRule, Scope};
use domain::testing::{assert_conflict, assert_not_found, TestDb};
use domain::{users, Actor, DomainError, Entity, PageRequest, Store, StoreOptions, Tx};
use mobile_shared::tasks::{Task, TaskFilter, TaskKpiQuery, TaskState, TaskStateFilter};
use mobile_shared::wire::{AuditSource, NewUser};
use mobile_shared::{ErrorCode, Role};
use uuid::Uuid;

domain::backend_matrix!(
    TestDb:
    same_dedupe_key_creates_one_task,
    concurrent_creators_create_one_task,
    invalid_tasks_name_their_fields,
    lists_filter_by_assignee_role_state_due_and_kind,
    my_tasks_are_mine_and_my_roles_open_ones,
    closing_twice_is_a_conflict_and_audited,
    kpi_counts_on_time_late_and_overdue,
    overdue_rule_stamps_each_task_once,
    catch_up_covers_a_gap_in_chunks_each_window_once,
    crash_between_due_and_created_creates_once,
    two_schedulers_never_evaluate_a_window_twice,
);

/// A fixed instant, so windows do not depend on when the test runs.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()
}

fn hours(h: i64) -> DateTime<Utc> {
    t0() + Duration::hours(h)
}

fn new_task(kind: &str, due_at: DateTime<Utc>) -> NewTask {
    NewTask {
        kind: kind.into(),
        title: format!("Do the {kind}"),
        subject: None,
        assignee_user_id: None,
        assignee_role: Some(Role::Technician),
        due_at,
        dedupe_key: None,
        source: "test_rule".into(),
    }
}

async fn add_user(db: &TestDb, name: &str, role: Role) -> Actor {
    let new = NewUser {
        username: name.into(),
        password: "long-enough-pw".into(),
        role,
        email: None,
    };
    let user = users::create(&db.store, &Actor::system(), new)
        .await
        .unwrap();
    Actor::user(user.id, name, role, AuditSource::Api)
}

fn mine(actor: &Actor) -> Scope {
    Scope::Mine {
        user_id: actor.user_id.unwrap(),
        role: actor.role.unwrap(),
    }
}

async fn list(db: &TestDb, scope: Scope, filter: TaskFilter) -> Vec<Task> {
    let page = PageRequest::new(Some(500), None).unwrap();
    tasks::list(&db.store, scope, &filter, hours(10), page)
        .await
        .unwrap()
        .items
}

fn titles(tasks: &[Task]) -> Vec<&str> {
    tasks.iter().map(|t| t.title.as_str()).collect()
}

async fn same_dedupe_key_creates_one_task(db: TestDb) {
    let mut new = new_task("inspection", hours(1));
    new.dedupe_key = Some("inspection:A-1:2030-01-01".into());
    let (first, created) = tasks::create(&db.store, &Actor::system(), new.clone())
        .await
        .unwrap();
    assert!(created);
    assert!(first.automated && first.state == TaskState::Open);
    // The second call, even with another title, answers the first task.
    new.title = "Something else".into();
    let (second, created) = tasks::create(&db.store, &Actor::system(), new)
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(second, first);
    // A task without a key is never deduplicated.
    for _ in 0..2 {
        tasks::create(&db.store, &Actor::system(), new_task("call", hours(1)))
            .await
            .unwrap();
    }
    db.assert_counts(&[
        ("SELECT COUNT(*) FROM tasks", 3),
        (
            "SELECT COUNT(*) FROM audit_log WHERE action = 'task.create'",
            3,
        ),
    ])
    .await;
}

async fn concurrent_creators_create_one_task(db: TestDb) {
    let mut handles = Vec::new();
    for _ in 0..8 {
        let store = db.store.clone();
        handles.push(tokio::spawn(async move {
            let mut new = new_task("renewal", hours(5));
            new.dedupe_key = Some("renewal:contract-7".into());
            tasks::create(&store, &Actor::system(), new).await.unwrap()
        }));
    }
    let mut ids = Vec::new();
    let mut created = 0;
    for h in handles {
        let (task, c) = h.await.unwrap();
        ids.push(task.id);
        created += usize::from(c);
    }
    assert_eq!(created, 1, "exactly one creator created it");
    ids.dedup();
    assert_eq!(ids.len(), 1, "every creator got the same task");
    db.assert_counts(&[("SELECT COUNT(*) FROM tasks", 1)]).await;
}

async fn invalid_tasks_name_their_fields(db: TestDb) {
    let mut new = new_task("Not Snake", hours(1));
    new.title = "  ".into();
    new.assignee_role = None;
    new.dedupe_key = Some(String::new());
    let err = tasks::create(&db.store, &Actor::system(), new)
        .await
        .unwrap_err();
    let DomainError::Validation(fields) = err else {
        panic!("expected a validation error, got {err:?}");
    };
    let names: Vec<&str> = fields.keys().map(String::as_str).collect();
    assert_eq!(names, ["assignee", "dedupe_key", "kind", "title"]);
    db.assert_counts(&[("SELECT COUNT(*) FROM tasks", 0)]).await;
}

async fn lists_filter_by_assignee_role_state_due_and_kind(db: TestDb) {
    let tech = add_user(&db, "tina", Role::Technician).await;
    let disp = add_user(&db, "dan", Role::Dispatcher).await;
    let mut to_tina = new_task("inspection", hours(2));
    to_tina.title = "tina early".into();
    to_tina.assignee_user_id = tech.user_id;
    to_tina.assignee_role = None;
    let mut to_tina_late = to_tina.clone();
    to_tina_late.title = "tina late".into();
    to_tina_late.due_at = hours(20);
    let mut to_disp = new_task("call", hours(3));
    to_disp.title = "dispatch call".into();
    to_disp.assignee_role = Some(Role::Dispatcher);
    let mut done = new_task("call", hours(1));
    done.title = "done call".into();
    for new in [to_tina, to_tina_late, to_disp, done] {
        tasks::create(&db.store, &Actor::system(), new)
            .await
            .unwrap();
    }
    let all = list(&db, Scope::All, TaskFilter::default()).await;
    assert_eq!(
        titles(&all),
        ["tina early", "tina late", "dispatch call", "done call"]
    );
    tasks::complete(&db.store, &disp, Scope::All, all[3].id)
        .await
        .unwrap();

    let by = |f: TaskFilter| list(&db, Scope::All, f);
    let tina = tech.user_id.unwrap().to_string();
    let cases: Vec<(TaskFilter, Vec<&str>)> = vec![
        (
            TaskFilter {
                assignee: Some(tina.clone()),
                ..TaskFilter::default()
            },
            vec!["tina early", "tina late"],
        ),
        (
            TaskFilter {
                role: Some(Role::Dispatcher),
                ..TaskFilter::default()
            },
            vec!["dispatch call"],
        ),
        (
            TaskFilter {
                state: Some(TaskStateFilter::Done),
                ..TaskFilter::default()
            },
            vec!["done call"],
        ),
        (
            // "now" is hour 10 in `list`: open and due before it.
            TaskFilter {
                state: Some(TaskStateFilter::Overdue),
                ..TaskFilter::default()
            },
            vec!["tina early", "dispatch call"],
        ),
        (
            TaskFilter {
                state: Some(TaskStateFilter::Open),
                due_before: Some(hours(3)),
                ..TaskFilter::default()
            },
            vec!["tina early"],
        ),
        (
            TaskFilter {
                kind: Some("call".into()),
                ..TaskFilter::default()
            },
            vec!["dispatch call", "done call"],
        ),
    ];
    for (filter, want) in cases {
        assert_eq!(titles(&by(filter.clone()).await), want, "{filter:?}");
    }
    // Keyset paging walks the same order.
    let first = PageRequest::new(Some(3), None).unwrap();
    let page = tasks::list(
        &db.store,
        Scope::All,
        &TaskFilter::default(),
        hours(10),
        first,
    )
    .await
    .unwrap();
    assert_eq!(page.items.len(), 3);
    let next = PageRequest::new(Some(3), page.next_cursor.as_deref()).unwrap();
    let rest = tasks::list(
        &db.store,
        Scope::All,
        &TaskFilter::default(),
        hours(10),
        next,
    )
    .await
    .unwrap();
    assert_eq!(titles(&rest.items), ["done call"]);
    assert!(rest.next_cursor.is_none());
    // A bad assignee names the field.
    let bad = TaskFilter {
        assignee: Some("someone".into()),
        ..TaskFilter::default()
    };
    let err = tasks::list(&db.store, Scope::All, &bad, hours(10), first)
        .await
        .unwrap_err();
    assert!(matches!(err, DomainError::Validation(f) if f.contains_key("assignee")));
}

async fn my_tasks_are_mine_and_my_roles_open_ones(db: TestDb) {
    let tina = add_user(&db, "tina", Role::Technician).await;
    let theo = add_user(&db, "theo", Role::Technician).await;
    let vera = add_user(&db, "vera", Role::Viewer).await;
    let mut personal = new_task("inspection", hours(1));
    personal.title = "tina's".into();
    personal.assignee_user_id = tina.user_id;
    let mut theos = personal.clone();
    theos.title = "theo's".into();
    theos.assignee_user_id = theo.user_id;
    let mut role_a = new_task("inspection", hours(1));
    role_a.title = "role a".into();
    let mut role_b = role_a.clone();
    role_b.title = "role b".into();
    let mut ids = Vec::new();
    for new in [personal, theos, role_a, role_b] {
        ids.push(
            tasks::create(&db.store, &Actor::system(), new)
                .await
                .unwrap()
                .0
                .id,
        );
    }
    // Theo closes one role task; Tina no longer sees it, Theo still does.
    tasks::complete(&db.store, &theo, mine(&theo), ids[3])
        .await
        .unwrap();
    let me = TaskFilter {
        assignee: Some("me".into()),
        ..TaskFilter::default()
    };
    assert_eq!(
        titles(&list(&db, mine(&tina), me.clone()).await),
        ["tina's", "role a"]
    );
    assert_eq!(
        titles(&list(&db, mine(&theo), TaskFilter::default()).await),
        ["theo's", "role a", "role b"]
    );
    // Someone else's filter cannot widen "mine".
    let others = TaskFilter {
        assignee: Some(theo.user_id.unwrap().to_string()),
        ..TaskFilter::default()
    };
    assert!(list(&db, mine(&tina), others).await.is_empty());
    assert!(list(&db, mine(&vera), me).await.is_empty());
    // Outside one's scope a task does not exist, to read or to complete.
    let err = tasks::get(&db.store, mine(&tina), ids[1])
        .await
        .unwrap_err();
    assert_not_found(&err, Entity::Task);
    let err = tasks::complete(&db.store, &vera, mine(&vera), ids[2])
        .await
        .unwrap_err();
    assert_not_found(&err, Entity::Task);
    assert_eq!(
        tasks::get(&db.store, mine(&tina), ids[0]).await.unwrap().id,
        ids[0]
    );
}

async fn closing_twice_is_a_conflict_and_audited(db: TestDb) {
    let disp = add_user(&db, "dan", Role::Dispatcher).await;
    let (a, _) = tasks::create(&db.store, &Actor::system(), new_task("call", hours(1)))
        .await
        .unwrap();
    let (b, _) = tasks::create(&db.store, &Actor::system(), new_task("call", hours(1)))
        .await
        .unwrap();
    let done = tasks::complete(&db.store, &disp, Scope::All, a.id)
        .await
        .unwrap();
    assert_eq!(done.state, TaskState::Done);
    assert_eq!(done.done_by, disp.user_id);
    assert!(done.done_at.is_some());
    let cancelled = tasks::cancel(&db.store, &disp, Scope::All, b.id)
        .await
        .unwrap();
    assert_eq!(cancelled.state, TaskState::Cancelled);
    for id in [a.id, b.id] {
        for again in [
            tasks::complete(&db.store, &disp, Scope::All, id).await,
            tasks::cancel(&db.store, &disp, Scope::All, id).await,
        ] {
            let err = again.unwrap_err();
            assert_conflict(&err, ErrorCode::TaskClosed, "closing a closed task");
            let DomainError::Conflict { detail, .. } = &err else {
                unreachable!()
            };
            let want = if id == a.id { "done" } else { "cancelled" };
            assert_eq!(detail.as_ref().unwrap()["state"], want);
        }
    }
    let missing = tasks::complete(&db.store, &disp, Scope::All, Uuid::now_v7())
        .await
        .unwrap_err();
    assert_not_found(&missing, Entity::Task);
    db.assert_counts(&[
        (
            "SELECT COUNT(*) FROM audit_log WHERE action = 'task.complete'",
            1,
        ),
        (
            "SELECT COUNT(*) FROM audit_log WHERE action = 'task.cancel'",
            1,
        ),
    ])
    .await;
}

async fn kpi_counts_on_time_late_and_overdue(db: TestDb) {
    let now = Utc::now().duration_trunc(Duration::seconds(1)).unwrap();
    let disp = add_user(&db, "dan", Role::Dispatcher).await;
    let past = |h: i64| now - Duration::hours(h);
    let mut ids = Vec::new();
    // Due 5 h ago, 4 h ago, 3 h ago, 2 h ago; one due in the future; one manual; one cancelled.
    for h in [5, 4, 3, 2] {
        let mut new = new_task("inspection", past(h));
        new.title = format!("due {h} h ago");
        ids.push(
            tasks::create(&db.store, &Actor::system(), new)
                .await
                .unwrap()
                .0
                .id,
        );
    }
    tasks::create(
        &db.store,
        &Actor::system(),
        new_task("inspection", now + Duration::hours(1)),
    )
    .await
    .unwrap();
    let mut manual = new_task("inspection", past(3));
    manual.source = tasks::MANUAL.into();
    let manual = tasks::create(&db.store, &Actor::system(), manual)
        .await
        .unwrap()
        .0;
    assert!(!manual.automated);
    let (cancelled, _) = tasks::create(&db.store, &Actor::system(), new_task("call", past(3)))
        .await
        .unwrap();
    tasks::cancel(&db.store, &disp, Scope::All, cancelled.id)
        .await
        .unwrap();
    // Two done now, after their due time (late); move one's done_at before its due (on time).
    tasks::complete(&db.store, &disp, Scope::All, ids[0])
        .await
        .unwrap();
    tasks::complete(&db.store, &disp, Scope::All, ids[1])
        .await
        .unwrap();
    tasks::complete(&db.store, &disp, Scope::All, manual.id)
        .await
        .unwrap();
    let early = format!(
        "UPDATE tasks SET done_at = '{}' WHERE title = 'due 5 h ago'",
        past(6).to_rfc3339()
    );
    assert_eq!(db.execute(&early).await, 1);

    let q = TaskKpiQuery {
        from: Some(past(24)),
        ..TaskKpiQuery::default()
    };
    let kpi = tasks::kpi(&db.store, &q, now).await.unwrap();
    assert_eq!(
        (kpi.due, kpi.done_on_time, kpi.done_late, kpi.open_overdue),
        (4, 1, 1, 2)
    );
    assert_eq!(kpi.on_time_ratio, Some(0.25));
    assert_eq!(kpi.to, now, "the window ends at now");
    let with_manual = TaskKpiQuery {
        include_manual: Some(true),
        ..q.clone()
    };
    let kpi = tasks::kpi(&db.store, &with_manual, now).await.unwrap();
    assert_eq!((kpi.due, kpi.done_late), (5, 2));
    let calls = TaskKpiQuery {
        kind: Some("call".into()),
        ..q
    };
    let kpi = tasks::kpi(&db.store, &calls, now).await.unwrap();
    assert_eq!((kpi.due, kpi.on_time_ratio), (0, None));
}

/// A calendar-like test rule: for every whole hour in its window, an inspection falls due and a
/// task is created for it under the key `inspection:<hour>`. `fail` makes that many evaluations
/// fail AFTER creating their tasks, as a crash between "created" and "committed" would.
#[derive(Default)]
struct HourlyInspections {
    fail: AtomicU32,
}

impl Rule for HourlyInspections {
    fn name(&self) -> &'static str {
        "hourly_inspections"
    }

    fn evaluate<'a>(&'a self, tx: &'a mut Tx, window: Window) -> RuleFuture<'a> {
        Box::pin(async move {
            let mut hour = window.from.duration_trunc(Duration::hours(1)).unwrap();
            let mut created = 0;
            while hour <= window.to {
                if window.contains(hour) {
                    let mut new = new_task("inspection", hour + Duration::hours(1));
                    new.dedupe_key = Some(format!("inspection:{}", hour.to_rfc3339()));
                    new.source = "hourly_inspections".into();
                    let (_, c) = tasks::create_in(tx, &Actor::system(), new).await?;
                    created += u64::from(c);
                }
                hour += Duration::hours(1);
            }
            if self
                .fail
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(DomainError::Internal("injected crash before commit".into()));
            }
            Ok(created)
        })
    }
}

async fn runs(db: &TestDb, rule: &str) -> Vec<(DateTime<Utc>, DateTime<Utc>, i64)> {
    db.rows(&format!(
        "SELECT window_from, window_to, count FROM schedule_runs WHERE rule = '{rule}' \
         ORDER BY window_from"
    ))
    .await
}

/// Asserts the logged windows of `rule` tile `(from, to]` exactly: contiguous, no overlap.
async fn assert_tiled(db: &TestDb, rule: &str, from: DateTime<Utc>, to: DateTime<Utc>) {
    let runs = runs(db, rule).await;
    assert!(!runs.is_empty(), "{rule} never ran");
    assert_eq!(runs[0].0, from, "{runs:?}");
    for pair in runs.windows(2) {
        assert_eq!(pair[0].1, pair[1].0, "windows must meet exactly: {runs:?}");
    }
    assert_eq!(runs.last().unwrap().1, to, "{runs:?}");
}

async fn overdue_rule_stamps_each_task_once(db: TestDb) {
    let clock = Scheduler::new(db.store.clone(), "test").with_rule(OverdueRule);
    clock.tick(hours(0)).await;
    let mut ids = Vec::new();
    for h in [1, 2, 30] {
        ids.push(
            tasks::create(&db.store, &Actor::system(), new_task("call", hours(h)))
                .await
                .unwrap()
                .0
                .id,
        );
    }
    let disp = add_user(&db, "dan", Role::Dispatcher).await;
    let report = clock.tick(hours(3)).await;
    assert_eq!(report.runs.len(), 1);
    assert_eq!(report.runs[0].count, 2);
    assert_eq!(report.behind, Some(Duration::zero()));
    // Ticking again at the same instant does nothing; later, the third comes due.
    assert!(clock.tick(hours(3)).await.runs.is_empty());
    tasks::complete(&db.store, &disp, Scope::All, ids[2])
        .await
        .unwrap();
    let report = clock.tick(hours(40)).await;
    assert_eq!(report.runs.iter().map(|r| r.count).sum::<u64>(), 0);
    let stamped = tasks::get(&db.store, Scope::All, ids[0]).await.unwrap();
    assert_eq!(stamped.overdue_at, Some(hours(3)));
    db.assert_counts(&[
        ("SELECT COUNT(*) FROM tasks WHERE overdue_at IS NOT NULL", 2),
        (
            "SELECT COUNT(*) FROM audit_log WHERE action = 'task.overdue'",
            2,
        ),
        // Each overdue task notifies its assignee once, in the stamping transaction.
        (
            "SELECT COUNT(*) FROM notifications WHERE kind = 'task.overdue'",
            2,
        ),
    ])
    .await;
}

async fn catch_up_covers_a_gap_in_chunks_each_window_once(db: TestDb) {
    let clock = Scheduler::new(db.store.clone(), "test")
        .with_rule(HourlyInspections::default())
        .with_chunk(Duration::hours(10));
    // First sight of the rule: it starts now, without replaying history.
    assert!(clock.tick(hours(0)).await.runs.is_empty());
    // Down for 35 hours: one tick catches up in 4 chunks (10 + 10 + 10 + 5 hours).
    let report = clock.tick(hours(35)).await;
    let windows: Vec<(DateTime<Utc>, DateTime<Utc>, u64)> = report
        .runs
        .iter()
        .map(|r| (r.window.from, r.window.to, r.count))
        .collect();
    assert_eq!(
        windows,
        [
            (hours(0), hours(10), 10),
            (hours(10), hours(20), 10),
            (hours(20), hours(30), 10),
            (hours(30), hours(35), 5),
        ]
    );
    assert_eq!(report.behind, Some(Duration::zero()));
    // A restarted process (a new scheduler) resumes from the durable mark.
    let restarted = Scheduler::new(db.store.clone(), "restarted")
        .with_rule(HourlyInspections::default())
        .with_chunk(Duration::hours(10));
    assert!(restarted.tick(hours(35)).await.runs.is_empty());
    restarted.tick(hours(37)).await;
    assert_tiled(&db, "hourly_inspections", hours(0), hours(37)).await;
    db.assert_counts(&[
        ("SELECT COUNT(*) FROM tasks", 37),
        ("SELECT COUNT(DISTINCT dedupe_key) FROM tasks", 37),
        ("SELECT COUNT(*) FROM schedule_runs", 5),
        ("SELECT CAST(SUM(count) AS BIGINT) FROM schedule_runs", 37),
    ])
    .await;
    // The run log keeps a week: far in the future, the next run prunes the old rows.
    restarted.tick(hours(37 + 24 * 8)).await;
    let kept = runs(&db, "hourly_inspections").await;
    assert!(!kept.is_empty());
    assert!(kept.iter().all(|r| r.1 >= hours(37 + 24)), "{kept:?}");
}

async fn crash_between_due_and_created_creates_once(db: TestDb) {
    let rule = HourlyInspections::default();
    rule.fail.store(2, Ordering::SeqCst);
    let clock = Scheduler::new(db.store.clone(), "test").with_rule(rule);
    clock.tick(hours(0)).await;
    // The inspection at hour 1 falls due; the evaluation creates its task and "crashes" before
    // commit, twice: nothing is created, and the mark does not move.
    for _ in 0..2 {
        let report = clock.tick(hours(1)).await;
        assert_eq!(report.errors.len(), 1, "{report:?}");
        assert!(report.runs.is_empty());
        assert_eq!(report.behind, Some(Duration::hours(1)));
        db.assert_counts(&[
            ("SELECT COUNT(*) FROM tasks", 0),
            ("SELECT COUNT(*) FROM audit_log WHERE entity = 'task'", 0),
        ])
        .await;
    }
    // After the "restart" the window is evaluated again and the task is created exactly once.
    let report = clock.tick(hours(2)).await;
    assert_eq!(report.runs.len(), 1);
    assert_eq!(report.runs[0].window.from, hours(0));
    clock.tick(hours(2)).await;
    db.assert_counts(&[
        ("SELECT COUNT(*) FROM tasks", 2),
        (
            "SELECT COUNT(*) FROM tasks WHERE dedupe_key LIKE 'inspection:2030-01-01T01:%'",
            1,
        ),
        ("SELECT COUNT(*) FROM audit_log WHERE entity = 'task'", 2),
    ])
    .await;
    assert_tiled(&db, "hourly_inspections", hours(0), hours(2)).await;
}

async fn two_schedulers_never_evaluate_a_window_twice(db: TestDb) {
    // Two "processes": each its own pool on the same database, ticking at the same instants.
    let other = Store::connect(&db.url, &StoreOptions::default())
        .await
        .unwrap();
    let make = |store: Store, name: &str| {
        Arc::new(
            Scheduler::new(store, name)
                .with_rule(HourlyInspections::default())
                .with_rule(OverdueRule)
                .with_chunk(Duration::hours(1)),
        )
    };
    let a = make(db.store.clone(), "a");
    let b = make(other.clone(), "b");
    a.tick(hours(0)).await;
    b.tick(hours(0)).await;
    let mut skipped = 0;
    for step in 1..=6 {
        let now = hours(step * 4);
        let (ra, rb) = tokio::join!(a.tick(now), b.tick(now));
        assert!(
            ra.errors.is_empty() && rb.errors.is_empty(),
            "{ra:?} {rb:?}"
        );
        skipped += ra.skipped.len() + rb.skipped.len();
    }
    // On PostgreSQL the loser of a mark skips it (SKIP LOCKED); SQLite's one writer serialises
    // the two instead, and the re-read mark turns the second evaluation into a no-op.
    match db.store.backend() {
        domain::Backend::Postgres => assert!(skipped > 0, "the two never met at a mark"),
        domain::Backend::Sqlite => assert_eq!(skipped, 0),
    }
    // One more tick, alone, so the overdue rule has surely seen every task the concurrent
    // ticks created (they may have committed after its last window).
    a.tick(hours(25)).await;
    for rule in ["hourly_inspections", "overdue_tasks"] {
        assert_tiled(&db, rule, hours(0), hours(25)).await;
    }
    db.assert_counts(&[
        ("SELECT COUNT(*) FROM tasks", 25),
        (
            "SELECT COUNT(*) FROM schedule_runs WHERE rule = 'hourly_inspections'",
            25,
        ),
        // Tasks due at hours 2..=25 became overdue by hour 25, each stamped once.
        (
            "SELECT COUNT(*) FROM tasks WHERE overdue_at IS NOT NULL",
            24,
        ),
        (
            "SELECT COUNT(*) FROM audit_log WHERE action = 'task.overdue'",
            24,
        ),
    ])
    .await;
    other.close().await;
}
