//! Two-factor authentication: TOTP (RFC 6238) enrolment and codes, one-time recovery codes, and
//! the policy of which roles must use it. The login that asks for a code is `users::login`.
//!
//! - **Enrolment** is two steps: [`start_enrolment`] makes a fresh secret (160 random bits) and
//!   keeps it as pending; [`confirm`] activates it only with a code the authenticator app made
//!   from it (so a user cannot lock themselves out with a secret their app never took), and
//!   returns [`RECOVERY_CODES`] one-time recovery codes, shown that once. Starting again while
//!   enrolled re-keys: the old secret works until the new one is confirmed.
//! - **Codes**: SHA-1, 6 digits, 30-second steps (what every authenticator app defaults to),
//!   one step of clock skew either way. A code is accepted only for a step later than the last
//!   accepted one, so a code seen over a shoulder or in a proxy log cannot be replayed.
//! - **Recovery codes** are random (about 50 bits each), stored only as argon2id hashes with
//!   the password helpers of [`crate::secrets`], and each works once.
//! - **Disabling** and renewing recovery codes need proof of the person — the password or a
//!   current code — besides the session; a wrong proof counts as a failed login
//!   ([`crate::login_throttle`]). A role the policy requires cannot disable; an operator resets
//!   a locked-out user with [`reset`] (`fieldops user reset-2fa`).
//!
//! Every change (setup, enable, disable, reset, recovery code used or renewed) is audited as a
//! `user.two_factor_*` action on the user, with counts but never a secret or code.

use chrono::{DateTime, Utc};
use mobile_shared::wire::{RecoveryCodes, TwoFactorProof, TwoFactorStatus};
use mobile_shared::{ErrorCode, Role};
use rand::Rng;
use serde_json::json;
use totp_rs::{Algorithm, Secret, TOTP};
use uuid::Uuid;

use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::entity::Entity;
use crate::error::DomainError;
use crate::login_throttle::{self, ThrottleKey, ThrottlePolicy};
use crate::store::{on_read, on_tx, Store, Tx};
use crate::{clock, secrets};

/// Recovery codes made at enrolment and on each renewal.
pub const RECOVERY_CODES: usize = 10;
/// Bytes of a TOTP secret: 160 bits, the HMAC-SHA-1 block RFC 4226 recommends.
const SECRET_BYTES: usize = 20;
/// Seconds per TOTP step.
const STEP_SECS: i64 = 30;
/// Digits of a TOTP code.
const DIGITS: usize = 6;
/// Steps of clock skew accepted either way (phones drift; a code typed at a step's end).
const SKEW_STEPS: i64 = 1;
/// Characters of a recovery code (no 0/o, 1/l/i: they are read off paper), and its length:
/// 10 of 31 characters is about 50 bits.
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
const RECOVERY_LEN: usize = 10;
/// Longest code text looked at; anything longer is simply wrong (no hashing of megabytes).
const MAX_CODE_LEN: usize = 64;

/// Which roles must use two-factor authentication. A user of such a role without it gets only
/// an enrolment session at login (`users::login`). The server's policy comes from
/// `--require-2fa-roles` (default `admin`); [`TwoFactorPolicy::default`] requires nobody.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TwoFactorPolicy {
    required: Vec<Role>,
}

impl TwoFactorPolicy {
    /// A policy requiring two-factor authentication of `roles`.
    pub fn required_for(roles: impl IntoIterator<Item = Role>) -> TwoFactorPolicy {
        let mut required: Vec<Role> = Vec::new();
        for role in roles {
            if !required.contains(&role) {
                required.push(role);
            }
        }
        TwoFactorPolicy { required }
    }

    /// Whether users of `role` must use two-factor authentication.
    pub fn requires(&self, role: Role) -> bool {
        self.required.contains(&role)
    }

    /// The roles that must, in the order given.
    pub fn roles(&self) -> &[Role] {
        &self.required
    }
}

/// A started enrolment: what an authenticator app needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolment {
    /// Base32, no padding.
    pub secret: String,
    /// `otpauth://totp/<issuer>:<username>?secret=…&issuer=…`.
    pub otpauth_uri: String,
}

#[derive(sqlx::FromRow)]
struct StateRow {
    secret: Option<String>,
    pending_secret: Option<String>,
    enabled_at: Option<DateTime<Utc>>,
}

async fn state(store: &Store, user_id: Uuid) -> Result<Option<StateRow>, DomainError> {
    let sql = "SELECT secret, pending_secret, enabled_at FROM user_two_factor \
               WHERE user_id = $1";
    Ok(on_read!(store, |p| sqlx::query_as(sql)
        .bind(user_id)
        .fetch_optional(p)
        .await)?)
}

async fn recovery_codes_left(store: &Store, user_id: Uuid) -> Result<u32, DomainError> {
    let sql = "SELECT COUNT(*) FROM user_recovery_codes WHERE user_id = $1 AND used_at IS NULL";
    let n: i64 = on_read!(store, |p| sqlx::query_scalar(sql)
        .bind(user_id)
        .fetch_one(p)
        .await)?;
    Ok(u32::try_from(n).unwrap_or(0))
}

/// The two-factor state of user `user_id` (of `role`) under `policy`.
pub async fn status(
    store: &Store,
    user_id: Uuid,
    role: Role,
    policy: &TwoFactorPolicy,
) -> Result<TwoFactorStatus, DomainError> {
    let row = state(store, user_id).await?;
    Ok(TwoFactorStatus {
        enabled: row.as_ref().is_some_and(|r| r.secret.is_some()),
        enabled_at: row.as_ref().and_then(|r| r.enabled_at),
        pending: row.as_ref().is_some_and(|r| r.pending_secret.is_some()),
        recovery_codes_left: recovery_codes_left(store, user_id).await?,
        required: policy.requires(role),
    })
}

/// Whether user `user_id` has two-factor authentication enabled.
pub async fn is_enabled(store: &Store, user_id: Uuid) -> Result<bool, DomainError> {
    Ok(state(store, user_id)
        .await?
        .is_some_and(|r| r.secret.is_some()))
}

/// `text` without `:` (the otpauth label's separator) and trimmed; `fallback` when empty.
fn label_part(text: &str, fallback: &str) -> String {
    let cleaned = text.replace(':', " ").trim().to_owned();
    if cleaned.is_empty() {
        fallback.to_owned()
    } else {
        cleaned
    }
}

fn totp(secret_base32: &str, issuer: &str, account: &str) -> Result<TOTP, DomainError> {
    let bytes = Secret::Encoded(secret_base32.to_owned())
        .to_bytes()
        .map_err(|e| DomainError::Internal(format!("stored TOTP secret: {e:?}")))?;
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        // Skew is handled here (`matching_step`), which also needs the step that matched.
        0,
        STEP_SECS as u64,
        bytes,
        Some(label_part(issuer, "fieldops")),
        label_part(account, "user"),
    )
    .map_err(|e| DomainError::Internal(format!("TOTP: {e}")))
}

/// The time step (of [`STEP_SECS`]) whose code `code` is, within [`SKEW_STEPS`] of `at`, if
/// any. Spaces in the code are ignored (apps show `123 456`).
fn matching_step(secret_base32: &str, code: &str, at: DateTime<Utc>) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = totp(secret_base32, "", "").ok()?;
    let now_step = at.timestamp().div_euclid(STEP_SECS);
    (now_step - SKEW_STEPS..=now_step + SKEW_STEPS)
        .filter(|step| *step >= 0)
        .find(|step| {
            let made = totp.generate((step * STEP_SECS) as u64);
            secrets::constant_time_eq(made.as_bytes(), code.as_bytes())
        })
}

/// Starts (or restarts) enrolment of `user_id` at `at`: a fresh secret kept as pending until
/// [`confirm`]. An enabled secret stays in force meanwhile (re-keying a new phone). `issuer`
/// and `username` label the entry in the authenticator app.
pub async fn start_enrolment(
    store: &Store,
    actor: &Actor,
    user_id: Uuid,
    username: &str,
    issuer: &str,
    at: DateTime<Utc>,
) -> Result<Enrolment, DomainError> {
    let mut raw = [0u8; SECRET_BYTES];
    rand::thread_rng().fill(&mut raw[..]);
    let secret = match Secret::Raw(raw.to_vec()).to_encoded() {
        Secret::Encoded(s) => s,
        Secret::Raw(_) => return Err(DomainError::Internal("TOTP secret encoding".into())),
    };
    let otpauth_uri = totp(&secret, issuer, username)?.get_url();
    let mut tx = store.begin().await?;
    tx.lock_row("users", user_id).await?;
    let sql = "INSERT INTO user_two_factor (user_id, pending_secret, pending_at) \
               VALUES ($1, $2, $3) \
               ON CONFLICT (user_id) DO UPDATE SET pending_secret = $2, pending_at = $3";
    on_tx!(
        &mut tx,
        execute(sqlx::query(sql).bind(user_id).bind(&secret).bind(at))
    )
    .map_err(|e| match e {
        DomainError::InvalidReference { .. } => DomainError::not_found(Entity::User),
        e => e,
    })?;
    let change = Change::action("user.two_factor_setup", Entity::User, user_id)
        .after(&json!({ "pending": true }));
    tx.commit_audited(actor, change).await?;
    Ok(Enrolment {
        secret,
        otpauth_uri,
    })
}

/// A fresh set of recovery codes, as shown to the user (`xxxxx-xxxxx`).
fn new_recovery_codes() -> Vec<String> {
    let mut rng = rand::thread_rng();
    (0..RECOVERY_CODES)
        .map(|_| {
            let chars: String = (0..RECOVERY_LEN)
                .map(|_| char::from(RECOVERY_ALPHABET[rng.gen_range(0..RECOVERY_ALPHABET.len())]))
                .collect();
            format!(
                "{}-{}",
                &chars[..RECOVERY_LEN / 2],
                &chars[RECOVERY_LEN / 2..]
            )
        })
        .collect()
}

/// A recovery code as stored and compared: without dashes and spaces, lower-case.
fn normalize_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Replaces user `user_id`'s recovery codes with fresh ones in `tx`; returns them as shown.
async fn replace_recovery_codes(
    tx: &mut Tx,
    user_id: Uuid,
    at: DateTime<Utc>,
) -> Result<Vec<String>, DomainError> {
    let codes = new_recovery_codes();
    let mut rows = Vec::with_capacity(codes.len());
    for code in &codes {
        rows.push((
            clock::new_id(),
            secrets::hash_password(normalize_recovery_code(code)).await?,
        ));
    }
    let sql = "DELETE FROM user_recovery_codes WHERE user_id = $1";
    on_tx!(tx, execute(sqlx::query(sql).bind(user_id)))?;
    on_tx!(
        tx,
        insert_values(
            "INSERT INTO user_recovery_codes (id, user_id, code_hash, created_at) ",
            &rows,
            |b, (id, hash)| b
                .push_bind(*id)
                .push_bind(user_id)
                .push_bind(hash.clone())
                .push_bind(at)
        )
    )?;
    Ok(codes)
}

/// Confirms the pending enrolment of `user_id` with a `code` the authenticator app shows at
/// `at`: the pending secret becomes the active one and fresh recovery codes are returned (shown
/// this once; earlier ones stop working). A wrong code is a validation error on `code` and
/// changes nothing; no pending enrolment is a conflict.
pub async fn confirm(
    store: &Store,
    actor: &Actor,
    user_id: Uuid,
    code: &str,
    at: DateTime<Utc>,
) -> Result<RecoveryCodes, DomainError> {
    let row = state(store, user_id).await?;
    let was_enabled = row.as_ref().is_some_and(|r| r.secret.is_some());
    let Some(pending) = row.and_then(|r| r.pending_secret) else {
        return Err(DomainError::conflict(
            ErrorCode::IllegalTransition,
            "no enrolment is pending: start one with POST /api/v1/auth/2fa/setup",
        ));
    };
    let Some(step) = matching_step(&pending, code, at) else {
        return Err(DomainError::field(
            "code",
            "is not the authenticator's current code for the new secret",
        ));
    };
    let mut tx = store.begin().await?;
    tx.lock_row("users", user_id).await?;
    // Only the secret the code was checked against is activated (a concurrent restart of the
    // enrolment replaced it: then nothing changes and the user confirms the new one).
    let sql = "UPDATE user_two_factor SET secret = pending_secret, pending_secret = NULL, \
               pending_at = NULL, enabled_at = $1, last_step = $2 \
               WHERE user_id = $3 AND pending_secret = $4";
    let updated = on_tx!(
        &mut tx,
        execute(
            sqlx::query(sql)
                .bind(at)
                .bind(step)
                .bind(user_id)
                .bind(&pending)
        )
    )?;
    if updated != 1 {
        return Err(DomainError::conflict(
            ErrorCode::IllegalTransition,
            "the enrolment was restarted meanwhile: confirm with a code for the new secret",
        ));
    }
    let codes = replace_recovery_codes(&mut tx, user_id, at).await?;
    let change = Change::action("user.two_factor_enable", Entity::User, user_id)
        .before(&json!({ "enabled": was_enabled }))
        .after(&json!({ "enabled": true, "recovery_codes_left": codes.len() }));
    tx.commit_audited(actor, change).await?;
    Ok(RecoveryCodes {
        recovery_codes: codes,
    })
}

/// A second factor that matched, not yet used up ([`use_factor`] does that, in the
/// transaction that acts on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Matched {
    /// An authenticator code of this time step.
    Totp { step: i64 },
    /// The unused recovery code with this id.
    Recovery { id: Uuid },
}

/// Which second factor of user `user_id` `code` is at `at`: an authenticator code (6 digits)
/// of the active secret, or one of the unused recovery codes. `None` when it is neither (also
/// when the user has no two-factor authentication). Reads only; recovery codes cost an argon2
/// verification each, so this runs before any transaction is opened.
pub(crate) async fn match_code(
    store: &Store,
    user_id: Uuid,
    code: &str,
    recovery_allowed: bool,
    at: DateTime<Utc>,
) -> Result<Option<Matched>, DomainError> {
    if code.len() > MAX_CODE_LEN {
        return Ok(None);
    }
    let Some(secret) = state(store, user_id).await?.and_then(|r| r.secret) else {
        return Ok(None);
    };
    if let Some(step) = matching_step(&secret, code, at) {
        return Ok(Some(Matched::Totp { step }));
    }
    if !recovery_allowed {
        return Ok(None);
    }
    let normalized = normalize_recovery_code(code);
    if normalized.len() != RECOVERY_LEN {
        return Ok(None);
    }
    let sql = "SELECT id, code_hash FROM user_recovery_codes \
               WHERE user_id = $1 AND used_at IS NULL ORDER BY id";
    let rows: Vec<(Uuid, String)> = on_read!(store, |p| sqlx::query_as(sql)
        .bind(user_id)
        .fetch_all(p)
        .await)?;
    for (id, hash) in rows {
        if secrets::verify_password(normalized.clone(), Some(hash)).await {
            return Ok(Some(Matched::Recovery { id }));
        }
    }
    Ok(None)
}

/// Uses up a matched factor in `tx`: an authenticator code moves the last accepted step (a
/// code of that step or an earlier one is refused from then on), a recovery code is marked
/// used and audited as `user.two_factor_recovery_use`. `false` when it was used meanwhile
/// (a replayed code, or a concurrent login with the same recovery code): then it does not count.
pub(crate) async fn use_factor(
    tx: &mut Tx,
    actor: &Actor,
    user_id: Uuid,
    matched: Matched,
    at: DateTime<Utc>,
) -> Result<bool, DomainError> {
    match matched {
        Matched::Totp { step } => {
            let sql = "UPDATE user_two_factor SET last_step = $1 \
                       WHERE user_id = $2 AND secret IS NOT NULL \
                         AND (last_step IS NULL OR last_step < $1)";
            let n = on_tx!(tx, execute(sqlx::query(sql).bind(step).bind(user_id)))?;
            Ok(n == 1)
        }
        Matched::Recovery { id } => {
            let sql = "UPDATE user_recovery_codes SET used_at = $1 \
                       WHERE id = $2 AND user_id = $3 AND used_at IS NULL";
            let n = on_tx!(
                tx,
                execute(sqlx::query(sql).bind(at).bind(id).bind(user_id))
            )?;
            if n != 1 {
                return Ok(false);
            }
            let sql =
                "SELECT COUNT(*) FROM user_recovery_codes WHERE user_id = $1 AND used_at IS NULL";
            let left: i64 = on_tx!(tx, |c| sqlx::query_scalar(sql)
                .bind(user_id)
                .fetch_one(&mut *c)
                .await)?;
            let change = Change::action("user.two_factor_recovery_use", Entity::User, user_id)
                .after(&json!({ "recovery_codes_left": left }));
            audit::record(tx, actor, change).await?;
            Ok(true)
        }
    }
}

/// Checks `proof` (exactly one of password and code) for the signed-in user `user_id`
/// (`username`) at `at`, for a sensitive change. A wrong proof counts as a failed login of the
/// account, and a locked account is refused before anything is checked. Returns the matched
/// code, if the proof was one, for the caller to use up in its transaction.
async fn check_proof(
    store: &Store,
    user_id: Uuid,
    username: &str,
    proof: &TwoFactorProof,
    throttle: &ThrottlePolicy,
    at: DateTime<Utc>,
) -> Result<Option<Matched>, DomainError> {
    let (field, ok, matched) = match (&proof.password, &proof.code) {
        (Some(password), None) => {
            let keys = [ThrottleKey::account(username)];
            login_throttle::check(store, &keys, at).await?;
            let sql = "SELECT password_hash FROM users WHERE id = $1";
            let hash: Option<String> = on_read!(store, |p| sqlx::query_scalar(sql)
                .bind(user_id)
                .fetch_optional(p)
                .await)?;
            let ok =
                password.len() <= 4096 && secrets::verify_password(password.clone(), hash).await;
            ("password", ok, None)
        }
        (None, Some(code)) => {
            let keys = [ThrottleKey::account(username)];
            login_throttle::check(store, &keys, at).await?;
            let matched = match_code(store, user_id, code, true, at).await?;
            ("code", matched.is_some(), matched)
        }
        _ => {
            return Err(DomainError::field(
                "password",
                "send either `password` or `code` (an authenticator or recovery code)",
            ))
        }
    };
    if ok {
        return Ok(matched);
    }
    let keys = [ThrottleKey::account(username)];
    if let Some(locked) = login_throttle::record_failure(store, &keys, throttle, at).await? {
        return Err(locked);
    }
    Err(DomainError::field(field, "is wrong"))
}

/// Turns off two-factor authentication of the signed-in user `user_id` (`username`, `role`),
/// given proof of the person ([`TwoFactorProof`]). Refused when `policy` requires it of the
/// role; an operator resets instead ([`reset`]).
#[allow(clippy::too_many_arguments)]
pub async fn disable(
    store: &Store,
    actor: &Actor,
    user_id: Uuid,
    username: &str,
    role: Role,
    proof: &TwoFactorProof,
    policy: &TwoFactorPolicy,
    throttle: &ThrottlePolicy,
    at: DateTime<Utc>,
) -> Result<(), DomainError> {
    if policy.requires(role) {
        return Err(DomainError::conflict(
            ErrorCode::TwoFactorRequiredByPolicy,
            format!("the role {role} must use two-factor authentication; it cannot be turned off"),
        ));
    }
    if !is_enabled(store, user_id).await? {
        return Err(DomainError::conflict(
            ErrorCode::IllegalTransition,
            "two-factor authentication is not enabled",
        ));
    }
    let matched = check_proof(store, user_id, username, proof, throttle, at).await?;
    let mut tx = store.begin().await?;
    tx.lock_row("users", user_id).await?;
    if let Some(m) = matched {
        if !use_factor(&mut tx, actor, user_id, m, at).await? {
            return Err(DomainError::field("code", "is wrong"));
        }
    }
    let left = remove_in(&mut tx, user_id).await?;
    let change = Change::action("user.two_factor_disable", Entity::User, user_id)
        .before(&json!({ "enabled": true, "recovery_codes_left": left }))
        .after(&json!({ "enabled": false }));
    tx.commit_audited(actor, change).await
}

/// Deletes user `user_id`'s two-factor state and recovery codes in `tx`; returns how many
/// recovery codes were left.
async fn remove_in(tx: &mut Tx, user_id: Uuid) -> Result<i64, DomainError> {
    let sql = "SELECT COUNT(*) FROM user_recovery_codes WHERE user_id = $1 AND used_at IS NULL";
    let left: i64 = on_tx!(tx, |c| sqlx::query_scalar(sql)
        .bind(user_id)
        .fetch_one(&mut *c)
        .await)?;
    let sql = "DELETE FROM user_recovery_codes WHERE user_id = $1";
    on_tx!(tx, execute(sqlx::query(sql).bind(user_id)))?;
    let sql = "DELETE FROM user_two_factor WHERE user_id = $1";
    on_tx!(tx, execute(sqlx::query(sql).bind(user_id)))?;
    Ok(left)
}

/// Replaces the recovery codes of the signed-in user `user_id` (`username`) with fresh ones,
/// given proof of the person; the old ones stop working.
pub async fn renew_recovery_codes(
    store: &Store,
    actor: &Actor,
    user_id: Uuid,
    username: &str,
    proof: &TwoFactorProof,
    throttle: &ThrottlePolicy,
    at: DateTime<Utc>,
) -> Result<RecoveryCodes, DomainError> {
    if !is_enabled(store, user_id).await? {
        return Err(DomainError::conflict(
            ErrorCode::IllegalTransition,
            "two-factor authentication is not enabled",
        ));
    }
    let matched = check_proof(store, user_id, username, proof, throttle, at).await?;
    let mut tx = store.begin().await?;
    tx.lock_row("users", user_id).await?;
    if let Some(m) = matched {
        if !use_factor(&mut tx, actor, user_id, m, at).await? {
            return Err(DomainError::field("code", "is wrong"));
        }
    }
    let codes = replace_recovery_codes(&mut tx, user_id, at).await?;
    let change = Change::action("user.two_factor_recovery_renew", Entity::User, user_id)
        .after(&json!({ "recovery_codes_left": codes.len() }));
    tx.commit_audited(actor, change).await?;
    Ok(RecoveryCodes {
        recovery_codes: codes,
    })
}

/// An operator's reset of user `user_id` who lost their authenticator and recovery codes: the
/// two-factor state and recovery codes are deleted (a role that requires it enrols again at
/// the next login), the user's sessions end (the lost phone may hold one) and the account's
/// login lock is lifted. Audited as
/// `user.two_factor_reset`. Not found if there is no such user.
pub async fn reset(store: &Store, actor: &Actor, user_id: Uuid) -> Result<(), DomainError> {
    let mut tx = store.begin().await?;
    tx.lock_row("users", user_id).await?;
    let sql = "SELECT username FROM users WHERE id = $1";
    let username: Option<String> = on_tx!(&mut tx, |c| sqlx::query_scalar(sql)
        .bind(user_id)
        .fetch_optional(&mut *c)
        .await)?;
    let username = username.ok_or(DomainError::not_found(Entity::User))?;
    let was_enabled = {
        let sql = "SELECT COUNT(*) FROM user_two_factor WHERE user_id = $1 AND secret IS NOT NULL";
        let n: i64 = on_tx!(&mut tx, |c| sqlx::query_scalar(sql)
            .bind(user_id)
            .fetch_one(&mut *c)
            .await)?;
        n > 0
    };
    let left = remove_in(&mut tx, user_id).await?;
    login_throttle::clear_in(&mut tx, &ThrottleKey::account(&username)).await?;
    // The lost phone may still hold a signed-in session: every session of the user ends.
    let sql = "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL";
    on_tx!(
        &mut tx,
        execute(sqlx::query(sql).bind(clock::now()).bind(user_id))
    )?;
    let change = Change::action("user.two_factor_reset", Entity::User, user_id)
        .before(&json!({ "enabled": was_enabled, "recovery_codes_left": left }))
        .after(&json!({ "enabled": false }));
    tx.commit_audited(actor, change).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> String {
        match Secret::Raw(vec![7u8; SECRET_BYTES]).to_encoded() {
            Secret::Encoded(s) => s,
            Secret::Raw(_) => unreachable!(),
        }
    }

    #[test]
    fn codes_match_their_step_within_one_step_of_skew() {
        let s = secret();
        let t = totp(&s, "fieldops", "alice").unwrap();
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let step = at.timestamp() / STEP_SECS;
        let code = t.generate(at.timestamp() as u64);
        assert_eq!(matching_step(&s, &code, at), Some(step));
        // Typed with a space, as apps show it.
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert_eq!(matching_step(&s, &spaced, at), Some(step));
        let previous = t.generate((at.timestamp() - STEP_SECS) as u64);
        assert_eq!(matching_step(&s, &previous, at), Some(step - 1));
        let too_old = t.generate((at.timestamp() - 2 * STEP_SECS) as u64);
        assert_ne!(too_old, code);
        assert_eq!(matching_step(&s, &too_old, at), None);
        for bad in ["", "12345", "1234567", "abcdef", "１２３４５６"] {
            assert_eq!(matching_step(&s, bad, at), None, "{bad}");
        }
    }

    #[test]
    fn the_otpauth_uri_names_issuer_and_account() {
        let t = totp(&secret(), "ACME: Rentals", "alice@example.com").unwrap();
        let uri = t.get_url();
        assert!(
            uri.starts_with("otpauth://totp/ACME%20%20Rentals:alice%40example.com?secret="),
            "{uri}"
        );
        assert!(uri.contains("issuer=ACME%20%20Rentals"), "{uri}");
    }

    #[test]
    fn recovery_codes_are_distinct_and_normalise() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), RECOVERY_CODES);
        for c in &codes {
            assert_eq!(c.len(), RECOVERY_LEN + 1);
            assert_eq!(normalize_recovery_code(c).len(), RECOVERY_LEN);
        }
        assert_eq!(normalize_recovery_code(" AbCde-fGhjk "), "abcdefghjk");
    }

    #[test]
    fn the_policy_lists_roles_once() {
        let p = TwoFactorPolicy::required_for([Role::Admin, Role::Finance, Role::Admin]);
        assert_eq!(p.roles(), [Role::Admin, Role::Finance]);
        assert!(p.requires(Role::Finance) && !p.requires(Role::Viewer));
        assert!(!TwoFactorPolicy::default().requires(Role::Admin));
    }
}
