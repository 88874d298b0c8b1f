//! Daily backups on the clock (`serve --backup-dir DIR --backup-keep N`, SQLite only): the rule
//! `daily_backup` takes one backup a day into `DIR` and keeps the newest N.
//!
//! A day's backup is due at 03:00 UTC ([`due_at`]) and is the file
//! `fieldops-backup-YYYYMMDD.tar.gz` of that day ([`archive_name`]). The archive on disk is
//! the rule's record of what is done, not a row: a window that reaches the present starts the
//! backup when the latest due day has no archive and none is being taken. So a second look
//! (another tick, a restart) finds the day done; a crash or a failure mid-backup leaves no
//! archive (it is renamed into place only when complete), and a later tick takes it again (a
//! restart at once, after a failure [`RETRY_AFTER`] later);
//! after downtime the catch-up windows (in the past) do nothing and the one that reaches the
//! present takes one backup of now, not one per missed day, which would all hold the same data.
//!
//! The backup itself runs beside the clock, not inside the rule's transaction: on SQLite that
//! transaction holds the one writer, which ingest needs, and a backup may take minutes. It
//! reads through a reader connection (`VACUUM INTO`, see [`super`]), so it waits for nothing.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, NaiveTime, Utc};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::classification::rule::Now;
use crate::error::DomainError;
use crate::schedule::{Rule, RuleFuture, Window};
use crate::store::{Backend, Store, Tx};

/// The hour (UTC) a day's backup is due: after the nightly classification (02:00).
pub const DAILY_HOUR_UTC: u32 = 3;
/// How far in the past a window may end and still be "now".
pub const CATCH_UP_SLACK: Duration = Duration::hours(1);
/// How long after a failed backup the rule waits before trying again: a full disk or a
/// missing directory would otherwise cost a whole database copy at every tick.
pub const RETRY_AFTER: Duration = Duration::minutes(10);
/// Largest `--backup-keep`.
pub const MAX_KEEP: usize = 3650;
const NAME_PREFIX: &str = "fieldops-backup-";
const NAME_SUFFIX: &str = ".tar.gz";
/// Staging files older than this in the backup directory were left by a killed process.
const STALE_STAGING: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The latest 03:00 UTC at or before `t`.
pub fn due_at(t: DateTime<Utc>) -> DateTime<Utc> {
    let hour = NaiveTime::from_hms_opt(DAILY_HOUR_UTC, 0, 0).unwrap_or(NaiveTime::MIN);
    let today = t.date_naive().and_time(hour).and_utc();
    if today <= t {
        today
    } else {
        today - Duration::days(1)
    }
}

/// The archive's file name for the backup due at `due`.
pub fn archive_name(due: DateTime<Utc>) -> String {
    format!("{NAME_PREFIX}{}{NAME_SUFFIX}", due.format("%Y%m%d"))
}

/// Whether `name` is a scheduled archive's name (the only files retention deletes).
fn is_archive_name(name: &str) -> bool {
    name.strip_prefix(NAME_PREFIX)
        .and_then(|rest| rest.strip_suffix(NAME_SUFFIX))
        .is_some_and(|day| day.len() == 8 && day.bytes().all(|b| b.is_ascii_digit()))
}

/// How a scheduled backup ended, for the process's metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The archive was written: the snapshot's time and the archive's size.
    Written { at: DateTime<Utc>, bytes: u64 },
    /// It failed (logged; tried again after [`RETRY_AFTER`]).
    Failed,
}

/// Told of every [`Outcome`] ([`DailyBackups::with_observer`]).
pub type Observer = Arc<dyn Fn(&Outcome) + Send + Sync>;

/// The daily backups of one process: where, how many, and the backup in progress. Cheap to
/// clone; [`DailyBackups::rule`] is what the scheduler runs.
#[derive(Clone)]
pub struct DailyBackups {
    inner: Arc<Inner>,
    /// What "now" is to the rule: the wall clock, or a test's.
    now: Now,
    observer: Option<Observer>,
}

struct Inner {
    store: Store,
    data_dir: PathBuf,
    dir: PathBuf,
    keep: usize,
    running: Mutex<Option<JoinHandle<()>>>,
    /// When the last backup failed (by the rule's clock), until one succeeds.
    failed_at: Mutex<Option<DateTime<Utc>>>,
}

impl std::fmt::Debug for DailyBackups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DailyBackups")
            .field("data_dir", &self.inner.data_dir)
            .field("dir", &self.inner.dir)
            .field("keep", &self.inner.keep)
            .finish_non_exhaustive()
    }
}

impl DailyBackups {
    /// Daily backups of `store` and the blobs under `data_dir` into `dir`, keeping the newest
    /// `keep` (1 to [`MAX_KEEP`]). Refused on PostgreSQL (its own tools back it up).
    pub fn new(
        store: Store,
        data_dir: impl Into<PathBuf>,
        dir: impl Into<PathBuf>,
        keep: usize,
    ) -> Result<DailyBackups, DomainError> {
        if store.backend() == Backend::Postgres {
            return Err(DomainError::Config(
                "scheduled backups (--backup-dir) are for SQLite; back PostgreSQL up with \
                 pg_dump or point-in-time recovery (README, \"Backups\")"
                    .to_owned(),
            ));
        }
        if !(1..=MAX_KEEP).contains(&keep) {
            return Err(DomainError::field(
                "backup_keep",
                format!("must be between 1 and {MAX_KEEP}"),
            ));
        }
        Ok(DailyBackups {
            inner: Arc::new(Inner {
                store,
                data_dir: data_dir.into(),
                dir: dir.into(),
                keep,
                running: Mutex::new(None),
                failed_at: Mutex::new(None),
            }),
            now: Arc::new(crate::clock::now),
            observer: None,
        })
    }

    /// The same backups judged by another clock (tests that move time).
    pub fn with_clock(self, now: Now) -> DailyBackups {
        DailyBackups { now, ..self }
    }

    /// The same backups, telling `observer` how each ends (the process's metrics).
    pub fn with_observer(self, observer: Observer) -> DailyBackups {
        DailyBackups {
            observer: Some(observer),
            ..self
        }
    }

    /// The clock rule that starts these backups.
    pub fn rule(&self) -> DailyBackupRule {
        DailyBackupRule(self.clone())
    }

    /// Waits for the backup in progress, if any (tests; a graceful stop).
    pub async fn idle(&self) {
        let running = self
            .inner
            .running
            .lock()
            .map(|mut r| r.take())
            .unwrap_or(None);
        if let Some(handle) = running {
            let _ = handle.await;
        }
    }

    /// Starts the backup into `path` unless one is running or the last one failed less than
    /// [`RETRY_AFTER`] ago; whether it started.
    fn start(&self, path: PathBuf) -> bool {
        let now = (self.now)();
        let failed_at = self.inner.failed_at.lock().map(|f| *f).unwrap_or(None);
        if failed_at.is_some_and(|at| now < at + RETRY_AFTER) {
            return false;
        }
        let Ok(mut running) = self.inner.running.lock() else {
            return false;
        };
        if running.as_ref().is_some_and(|h| !h.is_finished()) {
            return false;
        }
        let this = self.clone();
        let span = tracing::info_span!("backup.daily", archive = %path.display());
        *running = Some(tokio::spawn(
            async move { this.take(&path).await }.instrument(span),
        ));
        true
    }

    /// Takes the backup into `path`, then applies the retention; logs the outcome (a failure
    /// is retried after [`RETRY_AFTER`], since the archive is missing).
    async fn take(&self, path: &Path) {
        let inner = &self.inner;
        let result = super::create(&inner.store, &inner.data_dir, path).await;
        if let Ok(mut failed_at) = inner.failed_at.lock() {
            *failed_at = result.is_err().then(|| (self.now)());
        }
        if let Some(observe) = &self.observer {
            observe(&match &result {
                Ok(created) => Outcome::Written {
                    at: created.manifest.created_at,
                    bytes: created.archive_bytes,
                },
                Err(_) => Outcome::Failed,
            });
        }
        match result {
            Ok(created) => {
                tracing::info!(
                    bytes = created.archive_bytes,
                    members = created.manifest.members.len(),
                    schema_version = created.manifest.schema_version,
                    "backup written"
                );
                if !created.missing_blobs.is_empty() {
                    tracing::warn!(
                        missing = created.missing_blobs.len(),
                        first = %created.missing_blobs[0],
                        "backup: blobs the database names are not in the data directory"
                    );
                }
            }
            Err(e) => {
                tracing::error!(error = %e, retry_after = %RETRY_AFTER, "backup failed");
                return;
            }
        }
        let dir = inner.dir.clone();
        let keep = inner.keep;
        match tokio::task::spawn_blocking(move || prune(&dir, keep)).await {
            Ok(Ok(removed)) if !removed.is_empty() => {
                tracing::info!(?removed, keep, "old backups removed");
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "backup retention"),
            Err(e) => tracing::warn!(error = %e, "backup retention task"),
        }
    }
}

/// Deletes scheduled archives in `dir` beyond the newest `keep` (by their day) and staging
/// files a killed backup left; nothing else in `dir` is touched. The names it removed.
pub fn prune(dir: &Path, keep: usize) -> std::io::Result<Vec<String>> {
    let mut archives = Vec::new();
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_archive_name(&name) && entry.file_type()?.is_file() {
            archives.push(name);
        } else if name.starts_with(super::TEMP_PREFIX) {
            let age = entry.metadata()?.modified()?.elapsed().unwrap_or_default();
            if age > STALE_STAGING {
                let path = entry.path();
                if entry.file_type()?.is_dir() {
                    std::fs::remove_dir_all(&path)?;
                } else {
                    std::fs::remove_file(&path)?;
                }
                removed.push(name);
            }
        }
    }
    // The day is in the name, zero-padded: name order is day order.
    archives.sort();
    let excess = archives.len().saturating_sub(keep);
    for name in archives.into_iter().take(excess) {
        std::fs::remove_file(dir.join(&name))?;
        removed.push(name);
    }
    Ok(removed)
}

/// The rule `daily_backup` ([`DailyBackups::rule`]).
#[derive(Debug, Clone)]
pub struct DailyBackupRule(DailyBackups);

impl Rule for DailyBackupRule {
    fn name(&self) -> &'static str {
        "daily_backup"
    }

    fn evaluate<'a>(&'a self, _tx: &'a mut Tx, window: Window) -> RuleFuture<'a> {
        Box::pin(async move {
            let backups = &self.0;
            if window.to < (backups.now)() - CATCH_UP_SLACK {
                return Ok(0);
            }
            let path = backups.inner.dir.join(archive_name(due_at(window.to)));
            let done = tokio::fs::try_exists(&path).await.unwrap_or(false);
            Ok(u64::from(!done && self.0.start(path)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_day_is_due_at_three_utc_and_named_by_its_day() {
        let t = |d: u32, h: u32, m: u32| Utc.with_ymd_and_hms(2030, 1, d, h, m, 0).unwrap();
        for (at, want) in [
            (t(2, 0, 0), t(1, 3, 0)),
            (t(2, 2, 59), t(1, 3, 0)),
            (t(2, 3, 0), t(2, 3, 0)),
            (t(2, 23, 59), t(2, 3, 0)),
        ] {
            assert_eq!(due_at(at), want, "{at}");
        }
        let name = archive_name(t(2, 3, 0));
        assert_eq!(name, "fieldops-backup-20300102.tar.gz");
        assert!(is_archive_name(&name));
        for other in [
            "fieldops-backup-2030010.tar.gz",
            "fieldops-backup-20300102.tar",
            "fieldops-backup-2030010x.tar.gz",
            "notes.txt",
            "my-fieldops-backup-20300102.tar.gz",
        ] {
            assert!(!is_archive_name(other), "{other}");
        }
    }
}
