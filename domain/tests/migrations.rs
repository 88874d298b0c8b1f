//! Migrations applied to databases that already hold data, on SQLite and PostgreSQL: each
//! scenario fills a database migrated up to the migration under test through the services,
//! migrates, and asserts that every row and reference is still there and still enforced.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, Utc};
use domain::maintenance::orders;
use domain::tasks::{self, NewTask};
use domain::testing::{Fixture, TestDb};
use domain::{assets, users, Actor, Backend};
use mobile_shared::maintenance::NewWorkOrder;
use mobile_shared::wire::{AuditSource, NewAsset, NewUser};
use mobile_shared::Role;
use uuid::Uuid;

/// A database at the release before migration 0012 (the maintenance planner role).
struct Before0012(TestDb);

impl Fixture for Before0012 {
    async fn open(backend: Backend) -> Option<Self> {
        let db = TestDb::open_before(backend, 12).await?;
        db.audit_columns_of_today(true).await;
        Some(Before0012(db))
    }
}

domain::backend_matrix!(Before0012: migration_0012_keeps_rows_and_references);

const PASSWORD: &str = "long-enough-pw";

async fn add_user(db: &TestDb, name: &str, role: Role) -> Result<Actor, domain::DomainError> {
    let new = NewUser {
        username: name.into(),
        password: PASSWORD.into(),
        role,
        email: Some(format!("{name}@fieldops.test")),
    };
    let user = users::create(&db.store, &Actor::system(), new).await?;
    Ok(Actor::user(user.id, name, role, AuditSource::Api))
}

/// Opens a session for `name` as `users::login` stores it, but past the service: the service
/// reads the user's columns of today (0017's `locale`), which a database before 0012 does not
/// have yet.
async fn login(db: &TestDb, name: &str) -> String {
    let token = domain::secrets::random_token(32);
    let now = Utc::now();
    // The text sqlx writes for a `DateTime<Utc>` on SQLite; PostgreSQL casts it.
    let at = |t: chrono::DateTime<Utc>| {
        let text = t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false);
        match db.store.backend() {
            Backend::Sqlite => format!("'{text}'"),
            Backend::Postgres => format!("CAST('{text}' AS TIMESTAMPTZ)"),
        }
    };
    let inserted = db
        .execute(&format!(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) \
             SELECT '{}', id, {}, {} FROM users WHERE username = '{name}'",
            domain::secrets::token_hash(&token),
            at(now),
            at(now + Duration::hours(1)),
        ))
        .await;
    assert_eq!(inserted, 1, "{name}");
    token
}

fn task_for(user: Option<Uuid>, role: Option<Role>, key: &str) -> NewTask {
    NewTask {
        kind: "inspection".into(),
        title: format!("Inspect {key}"),
        subject: None,
        assignee_user_id: user,
        assignee_role: role,
        due_at: Utc::now() + Duration::days(1),
        dedupe_key: Some(key.into()),
        source: "manual".into(),
    }
}

/// A task's id, assignee user and role, closer and state.
type TaskRow = (Uuid, Option<Uuid>, Option<String>, Option<Uuid>, String);

/// Everything 0012 could lose or break, read in one comparable form.
#[derive(Debug, PartialEq)]
struct Snapshot {
    users: Vec<(Uuid, String, String, Option<String>)>,
    sessions: Vec<(String, Uuid)>,
    tasks: Vec<TaskRow>,
    work_orders: Vec<(Uuid, Option<Uuid>)>,
    deliveries: Vec<(Uuid, Option<Uuid>)>,
    /// The columns and indexes of the two rebuilt tables (the names and definitions SQLite
    /// keeps; PostgreSQL only alters constraints, but is held to the same).
    schema: Vec<(String,)>,
}

async fn snapshot(db: &TestDb) -> Snapshot {
    let schema = match db.store.backend() {
        Backend::Sqlite => {
            "SELECT t.name || '.' || c.name || ' ' || c.type || ' notnull=' || c.\"notnull\" \
                 || ' default=' || coalesce(c.dflt_value, '-') || ' pk=' || c.pk \
             FROM (SELECT 'users' AS name UNION ALL SELECT 'tasks') t, pragma_table_info(t.name) c \
             UNION ALL \
             SELECT 'index ' || name || ': ' || coalesce(sql, 'auto') FROM sqlite_schema \
             WHERE type = 'index' AND tbl_name IN ('users', 'tasks') \
             ORDER BY 1"
        }
        Backend::Postgres => {
            "SELECT table_name || '.' || column_name || ' ' || data_type || ' nullable=' \
                 || is_nullable || ' default=' || coalesce(column_default, '-') \
             FROM information_schema.columns WHERE table_name IN ('users', 'tasks') \
             UNION ALL \
             SELECT 'index ' || indexname || ': ' || indexdef FROM pg_indexes \
             WHERE tablename IN ('users', 'tasks') \
             ORDER BY 1"
        }
    };
    Snapshot {
        users: db
            .rows("SELECT id, username, role, email FROM users ORDER BY id")
            .await,
        sessions: db
            .rows("SELECT token_hash, user_id FROM sessions ORDER BY token_hash")
            .await,
        tasks: db
            .rows(
                "SELECT id, assignee_user_id, assignee_role, done_by, state FROM tasks \
                 ORDER BY id",
            )
            .await,
        work_orders: db
            .rows("SELECT id, task_id FROM work_orders ORDER BY id")
            .await,
        deliveries: db
            .rows("SELECT id, user_id FROM notification_deliveries ORDER BY id")
            .await,
        schema: db.rows(schema).await,
    }
}

/// SQLite rebuilds `users` and `tasks` (create, copy, drop, rename) with foreign keys off;
/// PostgreSQL alters their CHECKs. Either way: every row and every reference to them survives
/// (sessions, tasks, work orders, inbox deliveries), the references are enforced again
/// afterwards (a user's sessions go with the user; a user tasks name cannot go), sessions still
/// log in, and the new role is accepted where roles are stored — and was refused before.
async fn migration_0012_keeps_rows_and_references(Before0012(db): Before0012) {
    let planner_before = add_user(&db, "early-planner", Role::MaintenancePlanner).await;
    assert!(
        planner_before.is_err(),
        "before 0012 the database refuses the role: {planner_before:?}"
    );

    // A world in use: users with sessions, tasks for a user and for a role (one done), a work
    // order with its task and its inbox deliveries to the technicians.
    let tech = add_user(&db, "tech", Role::Technician).await.unwrap();
    let disp = add_user(&db, "disp", Role::Dispatcher).await.unwrap();
    let leaver = add_user(&db, "leaver", Role::Viewer).await.unwrap();
    let tech_token = login(&db, "tech").await;
    login(&db, "disp").await;
    login(&db, "leaver").await;
    login(&db, "leaver").await;
    let (mine, _) = tasks::create(&db.store, &disp, task_for(tech.user_id, None, "mine"))
        .await
        .unwrap();
    tasks::create(
        &db.store,
        &disp,
        task_for(None, Some(Role::Dispatcher), "theirs"),
    )
    .await
    .unwrap();
    tasks::complete(&db.store, &tech, tasks::Scope::All, mine.id)
        .await
        .unwrap();
    let asset = assets::create(
        &db.store,
        &disp,
        NewAsset {
            code: "MIG-1".into(),
            name: "Excavator".into(),
            ..NewAsset::default()
        },
    )
    .await
    .unwrap();
    orders::create(
        &db.store,
        &disp,
        NewWorkOrder {
            asset_id: asset.id,
            title: "Hydraulic leak".into(),
            plan_id: None,
            assignee: None,
            due_at: None,
            checklist: Vec::new(),
            notes: None,
        },
    )
    .await
    .unwrap();

    let before = snapshot(&db).await;
    assert_eq!(before.users.len(), 3);
    assert_eq!(before.sessions.len(), 4);
    assert_eq!(
        before.tasks.len(),
        3,
        "two by hand, one with the work order"
    );
    assert!(before.work_orders[0].1.is_some(), "the order has its task");
    assert!(
        before.deliveries.iter().any(|d| d.1 == tech.user_id),
        "the technician's inbox has the order: {:?}",
        before.deliveries
    );

    db.audit_columns_of_today(false).await;
    db.store.migrate().await.expect("migrate to 0012");

    let mut after = snapshot(&db).await;
    // `migrate` runs every later migration too: columns they add are not 0012's doing.
    const LATER_COLUMNS: [&str; 1] = ["users.locale "]; // 0017
    const LATER_INDEXES: [&str; 1] = ["index tasks_subject:"]; // 0021
    after.schema.retain(|(c,)| {
        !LATER_COLUMNS
            .iter()
            .chain(LATER_INDEXES.iter())
            .any(|l| c.starts_with(l))
    });
    assert_eq!(after, before, "0012 changed rows or columns");
    if db.store.backend() == Backend::Sqlite {
        db.assert_counts(&[("SELECT count(*) FROM pragma_foreign_key_check", 0)])
            .await;
    }
    let who = users::authenticate(&db.store, &tech_token)
        .await
        .unwrap()
        .expect("a session from before still logs in");
    assert_eq!(who.id, tech.user_id.unwrap());

    // References point at the new tables and are enforced: deleting a user takes its sessions
    // (ON DELETE CASCADE), and a user that tasks name cannot be deleted.
    let leaver_id = leaver.user_id.unwrap();
    db.execute("DELETE FROM users WHERE username = 'leaver'")
        .await;
    let left: Vec<(String, Uuid)> = db.rows("SELECT token_hash, user_id FROM sessions").await;
    assert_eq!(left.len(), 2, "the leaver's two sessions went with it");
    assert!(left.iter().all(|(_, user)| *user != leaver_id));
    let refused = db
        .try_execute("DELETE FROM users WHERE username = 'tech'")
        .await;
    assert!(refused.is_err(), "tasks name tech: {refused:?}");
    let orphan = db
        .try_execute(&format!(
            "UPDATE work_orders SET task_id = {} WHERE task_id IS NOT NULL",
            match db.store.backend() {
                Backend::Sqlite => "x'00000000000000000000000000000001'",
                Backend::Postgres => "'00000000-0000-0000-0000-000000000001'",
            }
        ))
        .await;
    assert!(orphan.is_err(), "work_orders.task_id → tasks: {orphan:?}");

    // The new role is stored where roles are: a user, and a task for the role.
    let planner = add_user(&db, "planner", Role::MaintenancePlanner)
        .await
        .expect("0012 accepts the role");
    login(&db, "planner").await;
    let (for_planners, _) = tasks::create(
        &db.store,
        &planner,
        task_for(None, Some(Role::MaintenancePlanner), "planners"),
    )
    .await
    .unwrap();
    assert_eq!(for_planners.assignee_role, Some(Role::MaintenancePlanner));
    let bad = db
        .try_execute("UPDATE users SET role = 'superuser' WHERE username = 'planner'")
        .await;
    assert!(bad.is_err(), "the CHECK still refuses other roles: {bad:?}");
}

/// The SQLite rebuild run with foreign keys on (say by `sqlx migrate run`, not `Store::migrate`)
/// would let `DROP TABLE users` cascade into `sessions`: it refuses instead, and nothing changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_0012_refuses_to_run_with_foreign_keys_on() {
    let db = TestDb::open_before(Backend::Sqlite, 12).await.unwrap();
    db.audit_columns_of_today(true).await;
    add_user(&db, "tech", Role::Technician).await.unwrap();
    login(&db, "tech").await;
    db.audit_columns_of_today(false).await;

    let tree = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/sqlite");
    let migrator = sqlx::migrate::Migrator::new(tree).await.unwrap();
    // sqlx's own connection defaults: foreign keys on.
    let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
    let err = migrator
        .run(&pool)
        .await
        .expect_err("0012 with foreign keys on");
    assert!(err.to_string().contains("foreign_keys = 0"), "{err}");
    pool.close().await;

    db.assert_counts(&[
        ("SELECT count(*) FROM sessions", 1),
        ("SELECT count(*) FROM users", 1),
        (
            "SELECT count(*) FROM _sqlx_migrations WHERE version = 12",
            0,
        ),
    ])
    .await;
    // Through the store it runs.
    db.store.migrate().await.unwrap();
    db.assert_counts(&[
        ("SELECT count(*) FROM sessions", 1),
        (
            "SELECT count(*) FROM _sqlx_migrations WHERE version = 12",
            1,
        ),
    ])
    .await;
}
