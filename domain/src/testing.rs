//! Test support: a fresh, migrated database per test on either backend.
//!
//! SQLite tests get a file in a temporary directory. PostgreSQL tests run only when
//! `FIELDOPS_TEST_POSTGRES_URL` names a server (e.g. `postgres://postgres@127.0.0.1:5432/test`);
//! each test creates its own uniquely named database there and drops it afterwards, even when
//! the test fails. When the variable is set, an unreachable server fails the test loudly.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::store::{Store, StoreOptions};
use crate::{on_read, Backend};

pub const POSTGRES_URL_VAR: &str = "FIELDOPS_TEST_POSTGRES_URL";

/// A migrated database that is removed when dropped.
pub struct TestDb {
    pub store: Store,
    /// URL a separate process (the real binary) can use to reach the same database.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_admin: Option<(String, String)>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("fieldops.db").display());
        let store = Store::connect(&url, &StoreOptions::default())
            .await
            .expect("open sqlite");
        store.migrate().await.expect("migrate sqlite");
        TestDb {
            store,
            url,
            _dir: Some(dir),
            pg_admin: None,
        }
    }

    /// `None` (after printing why) when no PostgreSQL test URL is configured.
    pub async fn postgres() -> Option<TestDb> {
        let Ok(admin_url) = std::env::var(POSTGRES_URL_VAR) else {
            eprintln!("SKIPPED: PostgreSQL test (set {POSTGRES_URL_VAR} to run it)");
            return None;
        };
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "fieldops_test_{}_{}_{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let admin = Store::connect(&admin_url, &StoreOptions::default())
            .await
            .unwrap_or_else(|e| {
                panic!("{POSTGRES_URL_VAR} is set but PostgreSQL is unreachable: {e}")
            });
        let create = format!("CREATE DATABASE {name}");
        on_read!(&admin, |p| sqlx::query(&create)
            .execute(p)
            .await
            .map(|_| ()))
        .expect("create test database");
        admin.close().await;
        let url = with_database(&admin_url, &name);
        let store = Store::connect(&url, &StoreOptions::default())
            .await
            .expect("connect to test database");
        store.migrate().await.expect("migrate postgres");
        Some(TestDb {
            store,
            url,
            _dir: None,
            pg_admin: Some((admin_url, name)),
        })
    }

    pub async fn open(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => Some(TestDb::sqlite().await),
            Backend::Postgres => TestDb::postgres().await,
        }
    }

    /// Runs a scalar `SELECT COUNT(*) …` (or any single i64) for assertions on what changed.
    pub async fn count(&self, sql: &str) -> i64 {
        on_read!(&self.store, |p| sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(p)
            .await)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
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
                        let _ =
                            on_read!(&admin, |p| sqlx::query(&sql).execute(p).await.map(|_| ()));
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

/// Declares each named `async fn(TestDb)` scenario as two tests, `sqlite::<name>` and
/// `postgres::<name>`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::testing::TestDb::sqlite().await;
                    super::$name(db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(db) = $crate::testing::TestDb::postgres().await {
                        super::$name(db).await;
                    }
                }
            )*
        }
    };
}

#[cfg(test)]
mod tests {
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
}
