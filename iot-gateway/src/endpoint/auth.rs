//! Who may connect: registered trackers, username = device id, password checked against the
//! stored hash, successes cached briefly.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::{secrets, DomainError, Store};

/// How long a successful check is remembered. After a restart every tracker reconnects at once,
/// and trackers on flaky links reconnect often; remembering a verified (username, password)
/// pair for a minute makes those repeats a hash-map lookup instead of a database query plus
/// PBKDF2. Short, because a deleted device keeps working until it expires.
pub const DEFAULT_AUTH_CACHE_TTL: Duration = Duration::from_secs(60);

/// Checks tracker credentials with [`domain::devices::verify_credentials`], caching successes.
///
/// Cheap to clone (shared state). Only successes are cached: caching a failure would let a
/// wrong password lock out a tracker fixed a second later, and would let anyone fill the map
/// with garbage.
#[derive(Clone)]
pub struct DeviceAuth {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    ttl: Duration,
    cache: Mutex<AuthCache>,
}

/// Verified `username \0 sha256(password)` keys and when each stops counting.
#[derive(Default)]
struct AuthCache {
    entries: HashMap<String, Instant>,
    /// Size at which expired entries are swept next (amortised: the map never holds more than
    /// about twice the trackers verified within one TTL).
    sweep_at: usize,
}

impl std::fmt::Debug for DeviceAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceAuth")
            .field("ttl", &self.inner.ttl)
            .finish_non_exhaustive()
    }
}

impl DeviceAuth {
    /// Checks trackers against `store`, caching successes for [`DEFAULT_AUTH_CACHE_TTL`].
    pub fn new(store: Store) -> DeviceAuth {
        DeviceAuth::with_ttl(store, DEFAULT_AUTH_CACHE_TTL)
    }

    /// Like [`DeviceAuth::new`], caching successes for `ttl` (zero disables the cache).
    pub fn with_ttl(store: Store, ttl: Duration) -> DeviceAuth {
        DeviceAuth {
            inner: Arc::new(Inner {
                store,
                ttl,
                cache: Mutex::new(AuthCache::default()),
            }),
        }
    }

    /// The same store with another cache lifetime (and an empty cache).
    pub fn cache_ttl(&self, ttl: Duration) -> DeviceAuth {
        DeviceAuth::with_ttl(self.inner.store.clone(), ttl)
    }

    /// Whether `username` is a registered device whose password is `password`. `Err` when the
    /// database could not answer (the caller decides how to refuse; nothing is cached).
    /// Refusals are logged at info level with the client id and username, never the password.
    pub async fn verify(
        &self,
        client_id: &str,
        username: &str,
        password: &str,
    ) -> Result<bool, DomainError> {
        let key = format!("{username}\0{}", secrets::token_hash(password));
        if self.cached(&key) {
            return Ok(true);
        }
        let ok = domain::devices::verify_credentials(&self.inner.store, username, password).await?;
        if ok {
            self.remember(key);
        } else {
            tracing::info!(
                client_id,
                username,
                "MQTT connection refused: unknown device or wrong password"
            );
        }
        Ok(ok)
    }

    fn cached(&self, key: &str) -> bool {
        let now = Instant::now();
        let Ok(cache) = self.inner.cache.lock() else {
            return false;
        };
        cache.entries.get(key).is_some_and(|until| *until > now)
    }

    fn remember(&self, key: String) {
        if self.inner.ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        let Ok(mut cache) = self.inner.cache.lock() else {
            return;
        };
        if cache.entries.len() >= cache.sweep_at {
            cache.entries.retain(|_, until| *until > now);
            cache.sweep_at = (cache.entries.len() * 2).max(1024);
        }
        cache.entries.insert(key, now + self.inner.ttl);
    }
}
