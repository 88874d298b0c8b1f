//! Password hashing and random secrets.
//!
//! Two schemes, chosen by what each password is:
//!
//! - **People's passwords** (chosen by a person, so guessable) use argon2id: deliberately slow and
//!   memory-hard, so a stolen table is expensive to attack. Hashing runs on tokio's blocking pool,
//!   never on the async worker threads.
//! - **Tracker (MQTT) passwords** are 24 random bytes made by [`random_token`] (192 bits), so no
//!   amount of hashing cost changes how hard they are to guess; a slow hash would only make every
//!   MQTT CONNECT expensive (100k trackers reconnecting after a broker restart would burn minutes
//!   of CPU on argon2). They are stored in Mosquitto's own `password_file` format instead,
//!   `$7$<iterations>$<base64 salt>$<base64 PBKDF2-SHA512>`, exactly as `mosquitto_passwd`
//!   writes it, so the same stored value is checked cheaply by the embedded broker and can be
//!   exported verbatim to an external Mosquitto (`fieldops device export-mosquitto`).
//!   Rows written before this change hold argon2id hashes; [`verify_device_password`] still
//!   accepts those, so no migration is needed.

use std::sync::OnceLock;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

use crate::error::DomainError;

/// Hashes a person's password with argon2id and a random salt (PHC string format).
pub async fn hash_password(password: String) -> Result<String, DomainError> {
    tokio::task::spawn_blocking(move || hash_password_blocking(&password))
        .await
        .map_err(|e| DomainError::Internal(format!("hashing task: {e}")))?
}

pub fn hash_password_blocking(password: &str) -> Result<String, DomainError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| DomainError::Internal(format!("password hashing: {e}")))
}

/// Verifies `password` against a stored hash. With `None` (no such user) it verifies against a
/// fixed dummy hash anyway, so the answer takes as long whether or not the user exists.
pub async fn verify_password(password: String, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let dummy = dummy_hash();
        let (hash, real) = match &hash {
            Some(h) => (h.as_str(), true),
            None => (dummy, false),
        };
        let ok = PasswordHash::new(hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        ok && real
    })
    .await
    .unwrap_or(false)
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password_blocking("fieldops-timing-equaliser").unwrap_or_default())
}

/// PBKDF2 iterations for tracker passwords: what `mosquitto_passwd` (2.0) writes. The passwords
/// are random 192-bit tokens, so more iterations would add CPU per CONNECT and no security.
pub const DEVICE_HASH_ITERATIONS: u32 = 101;

/// PBKDF2 iterations for a password an operator chooses (the gateway's account on an external
/// broker): it may be guessable, and it is checked once per gateway connection, so it can afford
/// the cost. Mosquitto reads the count from each line, so both counts work there.
pub const OPERATOR_HASH_ITERATIONS: u32 = 100_000;

/// Mosquitto 2.0 reads a 12-byte salt and a 64-byte (SHA-512 sized) digest.
const MOSQUITTO_SALT_LEN: usize = 12;
const MOSQUITTO_HASH_LEN: usize = 64;
/// A stored hash asking for more work than this is treated as corrupt rather than run: it would
/// let one bad row stall a broker thread.
const MAX_ITERATIONS: u32 = 10_000_000;

/// Hashes a tracker password in Mosquitto's `$7$` format (see the module docs for why not argon2).
pub fn hash_device_password(password: &str) -> String {
    mosquitto_hash(password, DEVICE_HASH_ITERATIONS)
}

/// `$7$<iterations>$<base64 salt>$<base64 hash>`: PBKDF2-HMAC-SHA512 over a random 12-byte salt,
/// standard base64 with padding, the line format of Mosquitto's `password_file`.
pub fn mosquitto_hash(password: &str, iterations: u32) -> String {
    let mut salt = [0u8; MOSQUITTO_SALT_LEN];
    rand::thread_rng().fill_bytes(&mut salt);
    let mut hash = [0u8; MOSQUITTO_HASH_LEN];
    pbkdf2::pbkdf2_hmac::<Sha512>(password.as_bytes(), &salt, iterations.max(1), &mut hash);
    format!(
        "$7${}${}${}",
        iterations.max(1),
        STANDARD.encode(salt),
        STANDARD.encode(hash)
    )
}

/// Whether a stored hash is in Mosquitto's `$7$` format (and so can be exported to Mosquitto).
pub fn is_mosquitto_hash(stored: &str) -> bool {
    parse_mosquitto_hash(stored).is_some()
}

struct MosquittoHash {
    iterations: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

fn parse_mosquitto_hash(stored: &str) -> Option<MosquittoHash> {
    let rest = stored.strip_prefix("$7$")?;
    let mut parts = rest.split('$');
    let (Some(iterations), Some(salt), Some(hash), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let iterations: u32 = iterations.parse().ok()?;
    if iterations == 0 || iterations > MAX_ITERATIONS {
        return None;
    }
    let salt = STANDARD.decode(salt).ok()?;
    let hash = STANDARD.decode(hash.trim_end()).ok()?;
    if salt.is_empty() || hash.len() != MOSQUITTO_HASH_LEN {
        return None;
    }
    Some(MosquittoHash {
        iterations,
        salt,
        hash,
    })
}

/// Checks `password` against a `$7$` hash (a line's part after `user:` in a Mosquitto
/// `password_file`). CPU-bound but short at [`DEVICE_HASH_ITERATIONS`]; a malformed hash is a
/// mismatch.
pub fn verify_mosquitto_hash(password: &str, stored: &str) -> bool {
    let Some(parsed) = parse_mosquitto_hash(stored) else {
        return false;
    };
    let mut computed = [0u8; MOSQUITTO_HASH_LEN];
    pbkdf2::pbkdf2_hmac::<Sha512>(
        password.as_bytes(),
        &parsed.salt,
        parsed.iterations,
        &mut computed,
    );
    constant_time_eq(&computed, &parsed.hash)
}

/// Verifies a tracker password against its stored hash: `$7$` (current) or `$argon2id$` (rows
/// written before tracker hashes moved to the Mosquitto format). With `None` (no such device) it
/// still runs a `$7$` check against a dummy hash, so an unknown device costs the same as a wrong
/// password. Runs on the blocking pool: cheap for `$7$`, but a legacy argon2 hash is not.
pub async fn verify_device_password(password: String, stored: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || match stored.as_deref() {
        Some(h) if h.starts_with("$7$") => verify_mosquitto_hash(&password, h),
        Some(h) if h.starts_with("$argon2") => PasswordHash::new(h)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false),
        Some(_) => false,
        None => {
            let _ = verify_mosquitto_hash(&password, dummy_device_hash());
            false
        }
    })
    .await
    .unwrap_or(false)
}

fn dummy_device_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_device_password("fieldops-timing-equaliser"))
}

/// Compares two secrets (or digests) in time independent of where they differ. Lengths are
/// not hidden; compare fixed-length digests when that matters.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// A random secret of `bytes` bytes, base64url without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// A password a person can copy: 20 characters from an unambiguous alphabet (~115 bits).
pub fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..20)
        .map(|_| {
            let i = (rng.next_u32() as usize) % ALPHABET.len();
            char::from(ALPHABET[i])
        })
        .collect()
}

/// Bearer tokens are stored only as their SHA-256: they are long random values, so a fast hash
/// suffices and lets every request look its token up by hash.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_differ_by_salt() {
        let a = hash_password("correct horse".into()).await.unwrap();
        let b = hash_password("correct horse".into()).await.unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("$argon2id$"));
        assert!(verify_password("correct horse".into(), Some(a.clone())).await);
        assert!(!verify_password("wrong".into(), Some(a)).await);
        assert!(!verify_password("fieldops-timing-equaliser".into(), None).await);
    }

    /// A line written by `mosquitto_passwd -c -b f user pass` (Mosquitto 2.0.11).
    const MOSQUITTO_PASSWD_LINE: &str = "user:$7$101$bkjHsNxhdjFEGdx5$U/CWTkXu8d4C6bzsb2MDuifnylDoo0AtYdMGPDjgg6v4ikfW5Aw9A/CkmWuTgN4rAg5HJR+huFhiBfXPj+4+PQ==";

    #[test]
    fn mosquitto_format_round_trips_and_reads_mosquitto_passwd_output() {
        let h = hash_device_password("s3cret");
        let parts: Vec<&str> = h.split('$').collect();
        assert_eq!(parts[..3], ["", "7", "101"]);
        assert_eq!(STANDARD.decode(parts[3]).unwrap().len(), 12);
        assert_eq!(STANDARD.decode(parts[4]).unwrap().len(), 64);
        assert!(verify_mosquitto_hash("s3cret", &h));
        assert!(!verify_mosquitto_hash("s3cret ", &h));
        assert_ne!(h, hash_device_password("s3cret"));
        let (_, stored) = MOSQUITTO_PASSWD_LINE.split_once(':').unwrap();
        assert!(is_mosquitto_hash(stored));
        assert!(verify_mosquitto_hash("pass", stored));
        assert!(!verify_mosquitto_hash("Pass", stored));
        let slow = mosquitto_hash("op", 1000);
        assert!(slow.starts_with("$7$1000$"));
        assert!(verify_mosquitto_hash("op", &slow));
    }

    #[test]
    fn malformed_mosquitto_hashes_never_verify() {
        for bad in [
            "",
            "$7$",
            "$7$0$AAAA$AAAA",
            "$7$101$bkjHsNxhdjFEGdx5$AAAA",
            "$7$99999999999$bkjHsNxhdjFEGdx5$AAAA",
            "$6$abc$def",
            "$7$101$!!$!!",
        ] {
            assert!(!is_mosquitto_hash(bad), "{bad}");
            assert!(!verify_mosquitto_hash("", bad), "{bad}");
        }
    }

    #[tokio::test]
    async fn device_passwords_accept_both_schemes() {
        let new = hash_device_password("tok");
        let legacy = hash_password("tok".into()).await.unwrap();
        assert!(verify_device_password("tok".into(), Some(new.clone())).await);
        assert!(verify_device_password("tok".into(), Some(legacy.clone())).await);
        assert!(!verify_device_password("tik".into(), Some(new)).await);
        assert!(!verify_device_password("tik".into(), Some(legacy)).await);
        assert!(!verify_device_password("fieldops-timing-equaliser".into(), None).await);
        assert!(!verify_device_password("tok".into(), Some("plain".into())).await);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        assert_ne!(random_token(32), random_token(32));
        assert_eq!(random_token(32).len(), 43);
        assert_eq!(token_hash("abc").len(), 64);
        assert_eq!(random_password().len(), 20);
    }
}
