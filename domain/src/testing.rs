//! Test support shared by every crate's database-backed tests: a fresh, migrated database per
//! test on either backend, the one backend matrix ([`backend_matrix!`](crate::backend_matrix)
//! over a [`Fixture`]), and the one rule for a missing part of the test environment
//! ([`skip_or_fail`]).
//!
//! SQLite tests get a file in a temporary directory. PostgreSQL tests run when
//! `FIELDOPS_TEST_POSTGRES_URL` names a server (e.g. `postgres://postgres@127.0.0.1:5432/test`);
//! each test creates its own uniquely named database there and drops it afterwards, even when
//! the test fails. When the variable is set, an unreachable server fails the test loudly.
//!
//! A missing part (the PostgreSQL URL, the external broker's URL, the `mosquitto` binary, the QR
//! sample photos) makes a test print `SKIPPED: …` and pass on a workstation, and FAIL when the
//! environment variable `CI` is set to anything non-empty: CI must never go green on half the
//! matrix.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Postgres, Sqlite};

use mobile_shared::wire::{AuditEntry, DeviceCreated, NewDevice, NewSite, SiteKind};
use uuid::Uuid;

use crate::pagination::MAX_LIMIT;
use crate::store::{on_read, on_tx, Store, StoreOptions};
use crate::{audit, devices, sites, Actor, Backend, DomainError, Entity, PageRequest};
use mobile_shared::ErrorCode;

/// Names the PostgreSQL server the PostgreSQL half of the matrix runs on.
pub const POSTGRES_URL_VAR: &str = "FIELDOPS_TEST_POSTGRES_URL";
/// Names the external MQTT broker (a Mosquitto) the tests that need one run against.
pub const MQTT_URL_VAR: &str = "FIELDOPS_TEST_MQTT_URL";
/// Set (to anything non-empty) by CI, where a missing part of the test environment fails.
pub const CI_VAR: &str = "CI";

/// What a test does when part of its environment is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// Print this `SKIPPED: …` line and pass.
    Skip(String),
    /// Fail with this message.
    Fail(String),
}

/// The decision, without side effects: `ci` is the value of `CI` (`None` when unset), `what`
/// names the test or the part of it that cannot run, `how` says what would make it run.
pub fn missing_decision(ci: Option<&str>, what: &str, how: &str) -> Missing {
    if ci.is_some_and(|v| !v.trim().is_empty()) {
        Missing::Fail(format!(
            "{what} cannot run: {how}. {CI_VAR} is set, so a missing part of the test \
             environment fails the test instead of skipping it"
        ))
    } else {
        Missing::Skip(format!("SKIPPED: {what} ({how})"))
    }
}

/// Every skip site calls this: without `CI` it prints `SKIPPED: {what} ({how})` and returns (the
/// caller then returns without testing); with `CI` it panics, failing the test.
#[track_caller]
pub fn skip_or_fail(what: &str, how: &str) {
    match missing_decision(std::env::var(CI_VAR).ok().as_deref(), what, how) {
        Missing::Skip(line) => eprintln!("{line}"),
        Missing::Fail(message) => panic!("{message}"),
    }
}

/// The non-empty value of the environment variable `var` naming an external service, or `None`
/// after [`skip_or_fail`] (`what` names the test that needs it).
#[track_caller]
pub fn service_url(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Some(v),
        _ => {
            let example = match var {
                POSTGRES_URL_VAR => " (e.g. postgres://postgres@127.0.0.1:5432/test)",
                MQTT_URL_VAR => " (e.g. mqtt://127.0.0.1:1883)",
                _ => "",
            };
            skip_or_fail(what, &format!("set {var}{example} to run it"));
            None
        }
    }
}

/// What one test of the matrix runs on: opened fresh for each test on the given backend, and
/// handed by value to the scenario, which drops it (and with it its database) at the end.
///
/// `open` answers `None` only after [`skip_or_fail`] (a PostgreSQL test without
/// `FIELDOPS_TEST_POSTGRES_URL`, a broker test without its broker); the test then passes
/// without running, or, under `CI`, has already failed.
///
/// ```ignore
/// struct Shop { db: TestDb, prices: Vec<i64> }
///
/// impl Fixture for Shop {
///     async fn open(backend: Backend) -> Option<Shop> {
///         let db = TestDb::open(backend).await?;
///         Some(Shop { db, prices: vec![1, 2, 3] })
///     }
/// }
///
/// async fn prices_add_up(shop: Shop) { /* … */ }
///
/// domain::backend_matrix!(Shop: prices_add_up);
/// ```
///
/// The future need not be `Send`: each test awaits its fixture on its own runtime, and a
/// harness that polls with an async closure (which cannot promise `Send` yet) can still be one.
pub trait Fixture: Sized {
    fn open(backend: Backend) -> impl Future<Output = Option<Self>>;
}

/// Declares each named scenario (`async fn name(fixture: F)`, in the invoking module) as two
/// tests, `sqlite::name` and `postgres::name`. Each opens a fresh `F` with
/// [`Fixture::open`](crate::testing::Fixture::open) on a multi-threaded tokio runtime (2 workers)
/// and calls `super::name(fixture)`.
///
/// ```ignore
/// use domain::testing::TestDb;
///
/// async fn assets_start_available(db: TestDb) { /* … */ }
/// async fn codes_are_unique(db: TestDb) { /* … */ }
///
/// domain::backend_matrix!(TestDb: assets_start_available, codes_are_unique);
/// ```
///
/// Another dimension (a broker, say) is a module per value, each invoking the matrix with its
/// own fixture type; `use super::*` there brings the scenarios (and the fixture types) in, so
/// the tests are `embedded::sqlite::name`, `mosquitto::postgres::name` and so on:
///
/// ```ignore
/// async fn readings_arrive(env: Env<impl BrokerKind>) { /* … */ }
///
/// mod embedded {
///     use super::*;
///     domain::backend_matrix!(Env<Embedded>: readings_arrive);
/// }
/// mod mosquitto {
///     use super::*;
///     domain::backend_matrix!(Env<Mosquitto>: readings_arrive);
/// }
/// ```
#[macro_export]
macro_rules! backend_matrix {
    ($fixture:ty: $($name:ident),+ $(,)?) => {
        mod sqlite {
            $crate::backend_matrix!(@tests Sqlite, $fixture, $($name),+);
        }
        mod postgres {
            $crate::backend_matrix!(@tests Postgres, $fixture, $($name),+);
        }
    };
    (@tests $backend:ident, $fixture:ty, $($name:ident),+) => {
        // The fixture type is written as the invoking module sees it.
        #[allow(unused_imports)]
        use super::*;
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let opened = <$fixture as $crate::testing::Fixture>::open(
                    $crate::Backend::$backend,
                )
                .await;
                if let Some(fixture) = opened {
                    super::$name(fixture).await;
                }
            }
        )+
    };
}

/// A migrated database that is removed when dropped.
pub struct TestDb {
    pub store: Store,
    /// URL a separate process (the real binary) can use to reach the same database.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_admin: Option<(String, String)>,
}

impl Fixture for TestDb {
    async fn open(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => Some(TestDb::sqlite().await),
            Backend::Postgres => TestDb::postgres().await,
        }
    }
}

impl TestDb {
    /// A fresh database on `backend`, or `None` after [`skip_or_fail`] (the same as
    /// [`Fixture::open`], callable without the trait in scope).
    pub async fn open(backend: Backend) -> Option<TestDb> {
        <TestDb as Fixture>::open(backend).await
    }

    pub async fn sqlite() -> TestDb {
        let db = TestDb::sqlite_empty().await;
        db.store.migrate().await.expect("migrate sqlite");
        db
    }

    /// `None` after [`skip_or_fail`] when no PostgreSQL test URL is configured.
    pub async fn postgres() -> Option<TestDb> {
        let db = TestDb::postgres_empty().await?;
        db.store.migrate().await.expect("migrate postgres");
        Some(db)
    }

    /// A database on `backend` with only the migrations numbered below `version` applied, the
    /// way the releases before `version` applied them (sqlx's migrator on the store's pool as
    /// configured: on SQLite, foreign keys on). For tests of migration `version` on a database
    /// with data in it: fill it through the services, then `store.migrate()` applies the rest.
    /// `None` after [`skip_or_fail`].
    pub async fn open_before(backend: Backend, version: i64) -> Option<TestDb> {
        let db = match backend {
            Backend::Sqlite => TestDb::sqlite_empty().await,
            Backend::Postgres => TestDb::postgres_empty().await?,
        };
        // The tree as files, less the later migrations: sqlx's public way to run a prefix.
        let tree = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../migrations")
            .join(backend.as_str());
        let prefix = tempfile::tempdir().expect("temp dir");
        for entry in std::fs::read_dir(&tree).expect("read the migrations tree") {
            let path = entry.expect("a migration file").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let number = name.split('_').next().and_then(|n| n.parse::<i64>().ok());
            if number.is_some_and(|n| n < version) {
                std::fs::copy(&path, prefix.path().join(name)).expect("copy a migration");
            }
        }
        let migrator = sqlx::migrate::Migrator::new(prefix.path())
            .await
            .expect("read the migrations");
        let applied = match &db.store.0 {
            // From 0012 on, a release migrates SQLite with foreign keys off (0012 rebuilds
            // tables and refuses to run otherwise, `store::sqlite`); the writer pool is one
            // connection, so the pragma holds for the migrator's run.
            crate::store::Pools::Sqlite { write, .. } if version > 12 => {
                sqlx::query("PRAGMA foreign_keys = OFF")
                    .execute(write)
                    .await
                    .expect("foreign keys off");
                let applied = migrator.run(write).await;
                sqlx::query("PRAGMA foreign_keys = ON")
                    .execute(write)
                    .await
                    .expect("foreign keys on");
                applied
            }
            crate::store::Pools::Sqlite { write, .. } => migrator.run(write).await,
            crate::store::Pools::Postgres(pool) => migrator.run(pool).await,
        };
        applied.unwrap_or_else(|e| panic!("migrate {backend:?} up to {version}: {e}"));
        Some(db)
    }

    async fn sqlite_empty() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("fieldops.db").display());
        let store = Store::connect(&url, &StoreOptions::default())
            .await
            .expect("open sqlite");
        TestDb {
            store,
            url,
            _dir: Some(dir),
            pg_admin: None,
        }
    }

    async fn postgres_empty() -> Option<TestDb> {
        let admin_url = service_url(POSTGRES_URL_VAR, "PostgreSQL test")?;
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "fieldops_test_{}_{}_{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            &Uuid::new_v4().simple().to_string()[..8]
        );
        let admin = Store::connect(&admin_url, &StoreOptions::default())
            .await
            .unwrap_or_else(|e| {
                panic!("{POSTGRES_URL_VAR} is set but PostgreSQL is unreachable: {e}")
            });
        let create = format!("CREATE DATABASE {name}");
        on_read!(&admin, execute(sqlx::query(&create))).expect("create test database");
        admin.close().await;
        let url = with_database(&admin_url, &name);
        let store = Store::connect(&url, &StoreOptions::default())
            .await
            .expect("connect to test database");
        Some(TestDb {
            store,
            url,
            _dir: None,
            pg_admin: Some((admin_url, name)),
        })
    }

    /// Runs a scalar `SELECT COUNT(*) …` (or any single i64) for assertions on what changed.
    pub async fn count(&self, sql: &str) -> i64 {
        self.scalar(sql).await
    }

    /// Asserts each `(sql, want)`: the single i64 `sql` selects is `want`.
    pub async fn assert_counts(&self, expected: &[(&str, i64)]) {
        for (sql, want) in expected {
            assert_eq!(self.count(sql).await, *want, "{sql}");
        }
    }

    /// Registers the tracker `device_id` (bound to `asset_id`, if any) as the system would, and
    /// returns it with its one-time MQTT password.
    pub async fn add_device(&self, device_id: &str, asset_id: Option<Uuid>) -> DeviceCreated {
        let new = NewDevice {
            device_id: device_id.to_owned(),
            asset_id,
        };
        devices::create(&self.store, &Actor::system(), new)
            .await
            .unwrap_or_else(|e| panic!("add device {device_id}: {e}"))
    }

    /// Creates the depot `name` (no address, location or geofence) as the system would, and
    /// returns its id.
    pub async fn add_site(&self, name: &str) -> Uuid {
        let new = NewSite {
            name: name.to_owned(),
            kind: SiteKind::Depot,
            customer_id: None,
            address: None,
            location: None,
            geofence: None,
        };
        sites::create(&self.store, &Actor::system(), new)
            .await
            .unwrap_or_else(|e| panic!("add site {name}: {e}"))
            .id
    }

    /// The audit entries `filter` selects (up to 500), newest first.
    pub async fn audit(&self, filter: audit::AuditFilter) -> Vec<AuditEntry> {
        let page = PageRequest::new(Some(MAX_LIMIT), None).expect("a valid page");
        audit::list(&self.store, &filter, page)
            .await
            .unwrap_or_else(|e| panic!("audit log {filter:?}: {e}"))
            .items
    }

    /// The single value `sql` selects (one row, one column), decoded as `T`.
    pub async fn scalar<T>(&self, sql: &str) -> T
    where
        T: for<'r> sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
        T: for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
        T: Send + Unpin,
    {
        on_read!(&self.store, |p| sqlx::query_scalar::<_, T>(sql)
            .fetch_one(p)
            .await)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Every row `sql` selects, each decoded as `T` (a tuple of the columns, for instance).
    pub async fn rows<T>(&self, sql: &str) -> Vec<T>
    where
        T: for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow>,
        T: Send + Unpin,
    {
        on_read!(&self.store, |p| sqlx::query_as::<_, T>(sql)
            .fetch_all(p)
            .await)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Adds (or drops again) the audit columns the services write today (0028's `ip` and
    /// `user_agent`) on a database opened before them: a test fills an old database through
    /// the services with them added, and drops them before migrating, so the migrations run on
    /// the schema of their time.
    pub async fn audit_columns_of_today(&self, add: bool) {
        for column in ["ip", "user_agent"] {
            let sql = if add {
                format!("ALTER TABLE audit_log ADD COLUMN {column} TEXT")
            } else {
                format!("ALTER TABLE audit_log DROP COLUMN {column}")
            };
            self.execute(&sql).await;
        }
    }

    /// Runs one statement in its own committed write transaction, past every service: for
    /// setting up states the services would never write. Returns the rows it affected.
    pub async fn execute(&self, sql: &str) -> u64 {
        self.try_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// [`TestDb::execute`] that hands back the database's error, for tests of how errors are
    /// classified (the statement is rolled back).
    pub async fn try_execute(&self, sql: &str) -> Result<u64, sqlx::Error> {
        let mut tx = self.store.begin().await.expect("begin a transaction");
        let affected = on_tx!(&mut tx, |c| sqlx::query(sql)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        tx.commit().await.expect("commit");
        Ok(affected)
    }
}

/// Asserts that `err` is the conflict `code`; `case` names what was tried, for the message.
#[track_caller]
pub fn assert_conflict(err: &DomainError, code: ErrorCode, case: &str) {
    assert!(
        matches!(err, DomainError::Conflict { code: c, .. } if *c == code),
        "{case}: expected the conflict {code}, got {err:?}"
    );
}

/// Asserts that `err` says the `entity` was not found.
#[track_caller]
pub fn assert_not_found(err: &DomainError, entity: Entity) {
    assert!(
        matches!(err, DomainError::NotFound { entity: e } if *e == entity),
        "expected {entity} not found, got {err:?}"
    );
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.pg_admin.take() else {
            return;
        };
        // Drop cannot be async; a short-lived runtime on its own thread does the cleanup, and
        // FORCE ends the connections of the pool we are abandoning.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    if let Ok(admin) = Store::connect(&admin_url, &StoreOptions::default()).await {
                        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        let _ = on_read!(&admin, execute(sqlx::query(&sql)));
                        admin.close().await;
                    }
                });
            }
        })
        .join();
    }
}

/// The same server URL with another database name.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{db}?{q}"),
        None => format!("{root}/{db}"),
    }
}

#[cfg(test)]
mod tests {
    use super::{missing_decision, Missing};

    #[test]
    fn database_name_is_swapped() {
        assert_eq!(
            super::with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            super::with_database("postgres://u:p@h/test?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(super::with_database("postgres://h", "x"), "postgres://h/x");
    }

    #[test]
    fn a_missing_part_skips_without_ci_and_fails_with_it() {
        let how = "set FIELDOPS_TEST_POSTGRES_URL to run it";
        for (ci, skips) in [
            (None, true),
            (Some(""), true),
            (Some("  "), true),
            (Some("1"), false),
            (Some("true"), false),
            (Some("false"), false),
        ] {
            match missing_decision(ci, "PostgreSQL test", how) {
                Missing::Skip(line) => {
                    assert!(skips, "CI={ci:?} skipped: {line}");
                    assert_eq!(line, format!("SKIPPED: PostgreSQL test ({how})"));
                }
                Missing::Fail(message) => {
                    assert!(!skips, "CI={ci:?} failed: {message}");
                    assert!(
                        message.starts_with("PostgreSQL test cannot run: set ")
                            && message.contains("CI is set"),
                        "CI={ci:?}: {message}"
                    );
                }
            }
        }
    }
}
