//! Issue 15, item 2: the audit trail. Entries carry the client's address, user agent and
//! source; the log is append-only in the database (migration 0028's triggers) except for the
//! retention purge, which the clock runs in batches and catches up after downtime.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use domain::audit::retention::{self, RetentionRule};
use domain::audit::AuditFilter;
use domain::schedule::Scheduler;
use domain::testing::TestDb;
use domain::{Actor, Backend, ClientContext};
use mobile_shared::wire::{AuditSource, NewSite, SiteKind};
use mobile_shared::Role;
use uuid::Uuid;

domain::backend_matrix!(
    TestDb:
    entries_carry_the_client_and_filter_by_it,
    the_log_refuses_updates_and_deletes,
    the_purge_deletes_only_old_entries_and_records_itself,
    the_clock_purges_in_batches_and_catches_up,
    clock_rules_act_as_the_clock,
);

/// A database at the release before migration 0028.
struct Before0028(TestDb);

impl domain::testing::Fixture for Before0028 {
    async fn open(backend: Backend) -> Option<Self> {
        TestDb::open_before(backend, 28).await.map(Before0028)
    }
}

mod upgrade {
    use super::*;
    domain::backend_matrix!(Before0028: migration_0028_keeps_every_entry);
}

fn site(name: &str) -> NewSite {
    NewSite {
        name: name.to_owned(),
        kind: SiteKind::Depot,
        customer_id: None,
        address: None,
        location: None,
        geofence: None,
    }
}

/// The statement inserting an entry dated `at` past every service (the services date
/// entries now), as an entry written that long ago would be.
fn entry_sql(db: &TestDb, at: DateTime<Utc>, action: &str, source: &str) -> String {
    let id = match db.store.backend() {
        Backend::Sqlite => "randomblob(16)",
        Backend::Postgres => "gen_random_uuid()",
    };
    // The SQLite text form is sqlx's (RFC 3339, `+00:00`), so range comparisons hold.
    let at = at.to_rfc3339_opts(SecondsFormat::Micros, false);
    format!(
        "INSERT INTO audit_log (id, at, actor, source, action, entity, entity_id) \
         VALUES ({id}, '{at}', 'old', '{source}', '{action}', 'site', {id})"
    )
}

/// Inserts an `api` entry of `action` dated `at` (see [`entry_sql`]).
async fn old_entry(db: &TestDb, at: DateTime<Utc>, action: &str) {
    db.execute(&entry_sql(db, at, action, "api")).await;
}

async fn count(db: &TestDb, action: &str) -> i64 {
    db.count(&format!(
        "SELECT COUNT(*) FROM audit_log WHERE action = '{action}'"
    ))
    .await
}

async fn entries_carry_the_client_and_filter_by_it(db: TestDb) {
    let client = ClientContext::new(
        Some("203.0.113.7".parse().unwrap()),
        Some("fieldops-test/1.0"),
    );
    let actor = Actor::user(
        Uuid::now_v7(),
        "dora",
        Role::Dispatcher,
        AuditSource::Console,
    )
    .with_client(client);
    let made = domain::sites::create(&db.store, &actor, site("Yard"))
        .await
        .unwrap();
    domain::sites::create(&db.store, &Actor::cli(), site("Other"))
        .await
        .unwrap();

    let by_ip = db
        .audit(AuditFilter {
            ip: Some("203.0.113.7".parse().unwrap()),
            ..AuditFilter::default()
        })
        .await;
    assert_eq!(by_ip.len(), 1, "{by_ip:?}");
    let e = &by_ip[0];
    assert_eq!(
        (e.entity_id, e.action.as_str(), e.actor.as_str()),
        (made.id, "site.create", "dora")
    );
    assert_eq!(e.ip.as_deref(), Some("203.0.113.7"));
    assert_eq!(e.user_agent.as_deref(), Some("fieldops-test/1.0"));
    assert_eq!(e.source, AuditSource::Console);

    // A change no request made has neither.
    let by_source = db
        .audit(AuditFilter {
            source: Some(AuditSource::Cli),
            ..AuditFilter::default()
        })
        .await;
    assert_eq!(by_source.len(), 1, "{by_source:?}");
    assert_eq!(
        (by_source[0].ip.as_ref(), by_source[0].user_agent.as_ref()),
        (None, None)
    );
    for (source, want) in [(AuditSource::Console, 1), (AuditSource::Clock, 0)] {
        let got = db
            .audit(AuditFilter {
                source: Some(source),
                ..AuditFilter::default()
            })
            .await;
        assert_eq!(got.len(), want, "{source:?}");
    }
    // Filters combine.
    let none = db
        .audit(AuditFilter {
            ip: Some("203.0.113.7".parse().unwrap()),
            source: Some(AuditSource::Api),
            ..AuditFilter::default()
        })
        .await;
    assert!(none.is_empty(), "{none:?}");
}

async fn the_log_refuses_updates_and_deletes(db: TestDb) {
    db.add_site("Depot").await;
    let before = db.count("SELECT COUNT(*) FROM audit_log").await;
    assert!(before >= 1);
    for sql in [
        "UPDATE audit_log SET actor = 'someone else'",
        "UPDATE audit_log SET ip = '192.0.2.1'",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE action = 'site.create'",
    ] {
        let err = db.try_execute(sql).await.expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    if db.store.backend() == Backend::Postgres {
        let err = db
            .try_execute("TRUNCATE audit_log")
            .await
            .expect_err("truncate");
        assert!(err.to_string().contains("append-only"), "{err}");
    }
    assert_eq!(db.count("SELECT COUNT(*) FROM audit_log").await, before);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM audit_log WHERE actor = 'someone else'")
            .await,
        0
    );
    // Inserting stays open: the log grows.
    db.add_site("Second depot").await;
    assert_eq!(db.count("SELECT COUNT(*) FROM audit_log").await, before + 1);
}

async fn the_purge_deletes_only_old_entries_and_records_itself(db: TestDb) {
    let now = Utc::now();
    for days in [800, 760, 740, 731, 700] {
        old_entry(&db, now - Duration::days(days), "old.entry").await;
    }
    db.add_site("Depot").await;
    let cutoff = retention::cutoff(now, 730);
    let deleted = retention::purge(&db.store, &Actor::cli(), cutoff, 3)
        .await
        .unwrap();
    assert_eq!(deleted, 4, "the four entries older than two years");
    assert_eq!(
        count(&db, "old.entry").await,
        1,
        "the 700-day-old entry stays"
    );
    assert_eq!(count(&db, "site.create").await, 1);
    // One entry per batch (3 + 1), saying how many and the cutoff, by the CLI.
    let purges = db
        .audit(AuditFilter {
            action: Some("audit_log.purge".into()),
            ..AuditFilter::default()
        })
        .await;
    let mut counts: Vec<u64> = purges
        .iter()
        .map(|p| p.after.as_ref().unwrap()["deleted"].as_u64().unwrap())
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, [1, 3]);
    for p in &purges {
        assert_eq!(
            (p.source, p.actor.as_str(), p.entity.as_str()),
            (AuditSource::Cli, "cli", "audit_log")
        );
        assert_eq!(p.entity_id, Uuid::nil());
        let recorded: DateTime<Utc> =
            serde_json::from_value(p.after.as_ref().unwrap()["cutoff"].clone()).unwrap();
        assert_eq!(recorded.timestamp_micros(), cutoff.timestamp_micros());
    }
    // Idempotent: nothing left to delete, nothing recorded.
    assert_eq!(
        retention::purge(&db.store, &Actor::cli(), cutoff, 3)
            .await
            .unwrap(),
        0
    );
    assert_eq!(count(&db, "audit_log.purge").await, 2);
    // The purge closed its exception behind it.
    let err = db
        .try_execute("DELETE FROM audit_log")
        .await
        .expect_err("delete after a purge");
    assert!(err.to_string().contains("append-only"), "{err}");
}

async fn the_clock_purges_in_batches_and_catches_up(db: TestDb) {
    let rule = RetentionRule {
        days: 730,
        batch: 2,
    };
    let scheduler = Scheduler::new(db.store.clone(), "test").with_rule(rule);
    // Microseconds, as both databases keep them (the mark is stored at this time).
    let t0 = domain::clock::now();
    // First tick: the rule's mark starts now; nothing to evaluate.
    assert!(scheduler.tick(t0).await.runs.is_empty());
    // Window k (k = 1, 2, 3 days after t0) purges what is older than t0 + k days - 730 days.
    let day = Duration::days(1);
    let ages = [
        Duration::days(800),
        Duration::days(760),
        Duration::days(740),
        Duration::hours(729 * 24 + 12),
        Duration::hours(728 * 24 + 12),
        Duration::days(700),
    ];
    for age in ages {
        old_entry(&db, t0 - age, "old.entry").await;
    }
    // Down for three days: the next tick catches up window by window, a batch each.
    let report = scheduler.tick(t0 + day * 3).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let counts: Vec<u64> = report.runs.iter().map(|r| r.count).collect();
    assert_eq!(counts, [2, 2, 1], "{:?}", report.runs);
    assert_eq!(
        count(&db, "old.entry").await,
        1,
        "the 700-day-old entry stays"
    );
    let purges = db
        .audit(AuditFilter {
            action: Some("audit_log.purge".into()),
            ..AuditFilter::default()
        })
        .await;
    assert_eq!(purges.len(), 3, "one entry per window that deleted");
    for p in &purges {
        assert_eq!((p.source, p.actor.as_str()), (AuditSource::Clock, "clock"));
    }
    // Caught up: the same time again evaluates nothing; a later window finds nothing to do
    // and records nothing.
    assert!(scheduler.tick(t0 + day * 3).await.runs.is_empty());
    let later = scheduler.tick(t0 + day * 3 + Duration::minutes(1)).await;
    assert_eq!(later.runs.iter().map(|r| r.count).collect::<Vec<_>>(), [0]);
    assert_eq!(count(&db, "audit_log.purge").await, 3);
    // Through the filter as well.
    let by_clock = db
        .audit(AuditFilter {
            source: Some(AuditSource::Clock),
            ..AuditFilter::default()
        })
        .await;
    assert_eq!(by_clock.len(), 3);
}

/// 0028 on a log in use: every entry survives with its values (SQLite rebuilds the table),
/// the new columns are empty for old entries, the indexes are back, the two new sources are
/// accepted and others still refused, and the triggers hold.
async fn migration_0028_keeps_every_entry(Before0028(db): Before0028) {
    let now = Utc::now();
    for source in ["api", "mqtt", "cli", "system"] {
        db.execute(&entry_sql(&db, now, &format!("old.{source}"), source))
            .await;
    }
    let read = "SELECT source || ':' || action || ':' || at FROM audit_log ORDER BY action";
    let before: Vec<(String,)> = db.rows(read).await;
    assert_eq!(before.len(), 4);
    let bad = db
        .try_execute(&entry_sql(&db, now, "early", "console"))
        .await;
    assert!(bad.is_err(), "before 0028 the source list is the old one");

    db.store.migrate().await.expect("migrate through 0028");
    let after: Vec<(String,)> = db.rows(read).await;
    assert_eq!(after, before);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM audit_log WHERE ip IS NULL AND user_agent IS NULL")
            .await,
        4
    );
    let indexes = match db.store.backend() {
        Backend::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'index' \
             AND name IN ('audit_log_entity', 'audit_log_at')"
        }
        Backend::Postgres => {
            "SELECT COUNT(*) FROM pg_indexes \
             WHERE indexname IN ('audit_log_entity', 'audit_log_at')"
        }
    };
    assert_eq!(db.count(indexes).await, 2);
    for source in ["console", "clock"] {
        db.execute(&entry_sql(&db, now, "new.source", source)).await;
    }
    let err = db
        .try_execute(&entry_sql(&db, now, "new.source", "telepathy"))
        .await
        .expect_err("an unknown source");
    assert!(err.to_string().to_lowercase().contains("check"), "{err}");
    let err = db
        .try_execute("DELETE FROM audit_log")
        .await
        .expect_err("append-only after the upgrade");
    assert!(err.to_string().contains("append-only"), "{err}");
}

/// What a clock rule does is recorded as the clock's (source `clock`), not the system's: the
/// overdue rule stamping a task.
async fn clock_rules_act_as_the_clock(db: TestDb) {
    let t0 = domain::clock::now();
    let scheduler = Scheduler::new(db.store.clone(), "test").with_rule(domain::tasks::OverdueRule);
    scheduler.tick(t0).await;
    let new = domain::tasks::NewTask {
        kind: "inspection".into(),
        title: "Inspect".into(),
        subject: None,
        assignee_user_id: None,
        assignee_role: Some(Role::Technician),
        due_at: t0 + Duration::minutes(30),
        dedupe_key: None,
        source: "manual".into(),
    };
    domain::tasks::create(&db.store, &Actor::system(), new)
        .await
        .unwrap();
    let report = scheduler.tick(t0 + Duration::hours(1)).await;
    assert_eq!(report.runs.iter().map(|r| r.count).sum::<u64>(), 1);
    let overdue = db
        .audit(AuditFilter {
            action: Some("task.overdue".into()),
            ..AuditFilter::default()
        })
        .await;
    assert_eq!(overdue.len(), 1, "{overdue:?}");
    assert_eq!(
        (overdue[0].source, overdue[0].actor.as_str()),
        (AuditSource::Clock, "clock")
    );
}
