//! The brute-force limit on logins: failed attempts are counted per account and per client
//! address, in the database so that every API process sees the same counts, and a key that
//! reaches its limit within the window is locked for a while; the lock lifts by itself when its
//! time passes (it is a timestamp compared on each attempt, so nothing has to run to lift it).
//!
//! Accounts are keyed by the username as typed (lower-case), whether or not such a user exists:
//! an unknown name locks exactly like a known one, so a lockout tells nothing about which
//! accounts exist. A client address is keyed by itself, or for IPv6 by its /64 (one host
//! usually holds a whole /64, so single addresses would give it 2^64 tries).
//!
//! A successful login forgets its account's failures ([`clear_in`]); an address's failures are
//! never reset by a success, or one valid account would let its holder guess others' passwords
//! without limit. The table prunes itself in the transactions that grow it (rows whose window
//! and lock are over), so it holds at most a window's worth of failing keys.

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};

use crate::error::DomainError;
use crate::store::{on_read, on_tx, Store, Tx};

/// How many failures lock what, for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failed logins of one account within `window` that lock it.
    pub account_max_failures: u32,
    /// Failed logins from one client address (an IPv6 /64) within `window` that lock it. Higher
    /// than the account's: an office behind one NAT address shares it.
    pub client_max_failures: u32,
    /// How far back failures count.
    pub window: Duration,
    /// How long a lock lasts.
    pub lockout: Duration,
}

impl Default for ThrottlePolicy {
    /// 5 failures of an account, or 20 from an address, within 15 minutes lock it for 15 minutes.
    fn default() -> Self {
        ThrottlePolicy {
            account_max_failures: 5,
            client_max_failures: 20,
            window: Duration::minutes(15),
            lockout: Duration::minutes(15),
        }
    }
}

/// What a failed attempt is counted against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThrottleKey {
    /// A username as typed, normalised like logins are (trimmed, lower-case).
    Account(String),
    /// The client's address.
    Client(IpAddr),
}

impl ThrottleKey {
    /// The account key of `username` as a login would type it.
    pub fn account(username: &str) -> ThrottleKey {
        ThrottleKey::Account(username.trim().to_ascii_lowercase())
    }

    /// The row key: `user:<name>` or `ip:<address>` (`ip:<prefix>/64` for IPv6).
    fn stored(&self) -> String {
        match self {
            ThrottleKey::Account(name) => format!("user:{name}"),
            ThrottleKey::Client(ip) => match ip.to_canonical() {
                IpAddr::V4(v4) => format!("ip:{v4}"),
                IpAddr::V6(v6) => {
                    let s = v6.segments();
                    let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                    format!("ip:{prefix}/64")
                }
            },
        }
    }

    fn limit(&self, policy: &ThrottlePolicy) -> u32 {
        match self {
            ThrottleKey::Account(_) => policy.account_max_failures,
            ThrottleKey::Client(_) => policy.client_max_failures,
        }
        .max(1)
    }
}

/// The keys one login attempt is counted against: its account, and its client address when
/// the server knows it.
pub fn keys_for(username: &str, client: Option<IpAddr>) -> Vec<ThrottleKey> {
    let mut keys = vec![ThrottleKey::account(username)];
    keys.extend(client.map(ThrottleKey::Client));
    keys
}

/// Seconds until `until`, at least one (a `Retry-After` of 0 would invite a retry storm).
fn seconds_until(until: DateTime<Utc>, at: DateTime<Utc>) -> u64 {
    let ms = (until - at).num_milliseconds().max(0);
    u64::try_from((ms + 999) / 1000).unwrap_or(1).max(1)
}

/// Refuses with [`DomainError::TooManyAttempts`] while any of `keys` is locked at `at` (the
/// longest lock decides the wait). Checked before the password, so a locked account costs no
/// hashing and answers the same whatever the password.
pub async fn check(
    store: &Store,
    keys: &[ThrottleKey],
    at: DateTime<Utc>,
) -> Result<(), DomainError> {
    let mut until: Option<DateTime<Utc>> = None;
    for key in keys {
        let sql = "SELECT locked_until FROM login_throttle WHERE key = $1 AND locked_until > $2";
        let locked: Option<DateTime<Utc>> = on_read!(store, |p| sqlx::query_scalar(sql)
            .bind(key.stored())
            .bind(at)
            .fetch_optional(p)
            .await)?;
        until = until.max(locked);
    }
    match until {
        Some(until) => Err(DomainError::TooManyAttempts {
            retry_after_secs: seconds_until(until, at),
        }),
        None => Ok(()),
    }
}

/// Counts one failed attempt at `at` against each of `keys`, in its own transaction, and locks
/// every key that reaches its limit (logged at warn). Returns the error the attempt answers
/// with when it locked a key ([`DomainError::TooManyAttempts`]), else `None`.
pub async fn record_failure(
    store: &Store,
    keys: &[ThrottleKey],
    policy: &ThrottlePolicy,
    at: DateTime<Utc>,
) -> Result<Option<DomainError>, DomainError> {
    let mut tx = store.begin().await?;
    let window_start = at - policy.window;
    let prune = "DELETE FROM login_throttle WHERE window_start <= $1 \
                 AND (locked_until IS NULL OR locked_until <= $2)";
    on_tx!(
        &mut tx,
        execute(sqlx::query(prune).bind(window_start).bind(at))
    )?;
    let mut locked_until = None;
    for key in keys {
        let stored = key.stored();
        // A window that began before `window_start` is over: the count starts again at 1.
        let count = "INSERT INTO login_throttle (key, failures, window_start, locked_until) \
                     VALUES ($1, 1, $2, NULL) \
                     ON CONFLICT (key) DO UPDATE SET \
                       failures = CASE WHEN login_throttle.window_start <= $3 THEN 1 \
                                       ELSE login_throttle.failures + 1 END, \
                       window_start = CASE WHEN login_throttle.window_start <= $3 THEN $2 \
                                           ELSE login_throttle.window_start END \
                     RETURNING CAST(failures AS BIGINT)";
        let failures: i64 = on_tx!(&mut tx, |c| sqlx::query_scalar(count)
            .bind(&stored)
            .bind(at)
            .bind(window_start)
            .fetch_one(&mut *c)
            .await)?;
        if failures >= i64::from(key.limit(policy)) {
            let until = at + policy.lockout;
            // The count starts afresh after the lock, so the next lock needs as many failures.
            let lock = "UPDATE login_throttle SET locked_until = $1, failures = 0, \
                        window_start = $2 WHERE key = $3";
            on_tx!(
                &mut tx,
                execute(sqlx::query(lock).bind(until).bind(at).bind(&stored))
            )?;
            tracing::warn!(
                key = %stored,
                failures,
                locked_until = %until,
                "login locked: too many failed attempts"
            );
            locked_until = locked_until.max(Some(until));
        }
    }
    tx.commit().await?;
    Ok(locked_until.map(|until| DomainError::TooManyAttempts {
        retry_after_secs: seconds_until(until, at),
    }))
}

/// Forgets `key`'s failures and lock inside the caller's transaction (a successful login's,
/// or an operator's unlock).
pub(crate) async fn clear_in(tx: &mut Tx, key: &ThrottleKey) -> Result<(), DomainError> {
    let sql = "DELETE FROM login_throttle WHERE key = $1";
    on_tx!(tx, execute(sqlx::query(sql).bind(key.stored())))?;
    Ok(())
}

/// Lifts `key`'s lock and forgets its failures (an operator's unlock).
pub async fn clear(store: &Store, key: &ThrottleKey) -> Result<(), DomainError> {
    let mut tx = store.begin().await?;
    clear_in(&mut tx, key).await?;
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_normalised() {
        assert_eq!(ThrottleKey::account("  Alice ").stored(), "user:alice");
        let v4: IpAddr = "192.0.2.7".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        assert_eq!(ThrottleKey::Client(v4).stored(), "ip:192.0.2.7");
        // An IPv4 client seen through an IPv6 socket is the same client.
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap_or(v4);
        assert_eq!(ThrottleKey::Client(mapped).stored(), "ip:192.0.2.7");
        // Two addresses of one /64 are one key.
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap_or(v4);
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap_or(v4);
        assert_eq!(ThrottleKey::Client(a).stored(), "ip:2001:db8:1:2::/64");
        assert_eq!(
            ThrottleKey::Client(a).stored(),
            ThrottleKey::Client(b).stored()
        );
        assert_eq!(keys_for("bob", None), vec![ThrottleKey::account("bob")]);
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        let at = Utc::now();
        assert_eq!(seconds_until(at + Duration::milliseconds(1500), at), 2);
        assert_eq!(seconds_until(at, at), 1);
        assert_eq!(seconds_until(at + Duration::minutes(15), at), 900);
    }
}
