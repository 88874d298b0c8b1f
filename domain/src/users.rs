//! Users, login sessions (with the second factor and the brute-force limit) and first-run setup.

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use mobile_shared::wire::{AuditSource, LoginRequest, LoginResponse, NewUser, Page, User};
use mobile_shared::Role;
use uuid::Uuid;

use mobile_shared::ErrorCode;

use crate::actor::Actor;
use crate::audit::Change;
use crate::entity::Entity;
use crate::error::{DomainError, Validator};
use crate::login_throttle::{self, ThrottleKey, ThrottlePolicy};
use crate::pagination::PageRequest;
use crate::store::{on_read, on_tx, Store, Tx};
use crate::two_factor::{self, TwoFactorPolicy};
use crate::{clock, secrets};

pub const MIN_PASSWORD_LEN: usize = 10;
pub const MAX_PASSWORD_LEN: usize = 1024;

#[derive(sqlx::FromRow)]
struct UserRow {
    id: Uuid,
    username: String,
    role: String,
    disabled: bool,
    created_at: DateTime<Utc>,
    email: Option<String>,
    locale: Option<String>,
}

impl UserRow {
    fn into_user(self) -> Result<User, DomainError> {
        Ok(User {
            id: self.id,
            role: self
                .role
                .parse::<Role>()
                .map_err(|e| DomainError::Internal(e.to_string()))?,
            username: self.username,
            disabled: self.disabled,
            created_at: self.created_at,
            email: self.email,
            locale: self.locale,
        })
    }
}

const USER_COLUMNS: &str = "id, username, role, disabled, created_at, email, locale";

fn validate_username(v: &mut Validator, username: &str) {
    let ok_chars = username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if username.len() < 3 || username.len() > 64 || !ok_chars {
        v.add(
            "username",
            "must be 3-64 characters: letters, digits and . _ - @",
        );
    }
}

fn validate_password(v: &mut Validator, password: &str) {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        v.add(
            "password",
            format!("must be at least {MIN_PASSWORD_LEN} characters"),
        );
    } else if n > MAX_PASSWORD_LEN {
        v.add(
            "password",
            format!("must be at most {MAX_PASSWORD_LEN} characters"),
        );
    }
}

/// Creates a user. Usernames are stored lower-case so logins are case-insensitive.
pub async fn create(store: &Store, actor: &Actor, new: NewUser) -> Result<User, DomainError> {
    let username = new.username.trim().to_ascii_lowercase();
    let email = normalize_email(new.email);
    let mut v = Validator::new();
    validate_username(&mut v, &username);
    validate_password(&mut v, &new.password);
    if let Some(e) = &email {
        validate_email(&mut v, e);
    }
    v.finish()?;
    let hash = secrets::hash_password(new.password).await?;
    let now = clock::now();
    let user = User {
        id: clock::new_id(),
        username,
        role: new.role,
        disabled: false,
        created_at: now,
        email,
        locale: None,
    };
    let mut tx = store.begin().await?;
    let sql = "INSERT INTO users (id, username, password_hash, role, disabled, created_at, \
               updated_at, email) VALUES ($1, $2, $3, $4, $5, $6, $6, $7)";
    on_tx!(
        &mut tx,
        execute(
            sqlx::query(sql)
                .bind(user.id)
                .bind(&user.username)
                .bind(&hash)
                .bind(user.role.as_str())
                .bind(false)
                .bind(now)
                .bind(&user.email)
        )
    )
    .map_err(|e| {
        e.unique_as(ErrorCode::UsernameTaken, || {
            format!("a user named `{}` already exists", user.username)
        })
    })?;
    tx.commit_audited(actor, Change::created(Entity::User, user.id, &user))
        .await?;
    Ok(user)
}

pub async fn get(store: &Store, id: Uuid) -> Result<User, DomainError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    let row: Option<UserRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(p)
        .await)?;
    row.ok_or(DomainError::not_found(Entity::User))?.into_user()
}

pub async fn list(store: &Store, page: PageRequest) -> Result<Page<User>, DomainError> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2"
    );
    let rows: Vec<UserRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(page.after)
        .bind(page.fetch())
        .fetch_all(p)
        .await)?;
    page.try_page(rows, |r| r.id, UserRow::into_user)
}

pub const MAX_EMAIL_LEN: usize = 254;

/// A plausible address: one `@` with something on both sides, a dot in the domain, no spaces or
/// angle brackets (the SMTP server has the final word; this catches typos early).
fn validate_email(v: &mut Validator, email: &str) {
    let ok = email.len() <= MAX_EMAIL_LEN
        && !email.contains(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | ',' | ';'))
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.contains('@')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if !ok {
        v.add("email", "must be an e-mail address, at most 254 characters");
    }
}

/// Trimmed; blank means none.
fn normalize_email(email: Option<String>) -> Option<String> {
    email.map(|e| e.trim().to_owned()).filter(|e| !e.is_empty())
}

/// User `id`, row-locked in `tx` for a change of one of its settings (404 if there is none).
async fn locked_user(tx: &mut Tx, id: Uuid) -> Result<User, DomainError> {
    tx.lock_row("users", id).await?;
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    let row: Option<UserRow> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(c)
        .await)?;
    row.ok_or(DomainError::not_found(Entity::User))?.into_user()
}

/// Sets (or with `None` clears) the e-mail address notifications are sent to.
pub async fn set_email(
    store: &Store,
    actor: &Actor,
    id: Uuid,
    email: Option<String>,
) -> Result<User, DomainError> {
    let email = normalize_email(email);
    let mut tx = store.begin().await?;
    let before = locked_user(&mut tx, id).await?;
    // Checked after the lookup: a missing user is "not found" whatever the body says.
    if let Some(e) = &email {
        let mut v = Validator::new();
        validate_email(&mut v, e);
        v.finish()?;
    }
    let sql = "UPDATE users SET email = $1, updated_at = $2 WHERE id = $3";
    on_tx!(
        &mut tx,
        execute(sqlx::query(sql).bind(&email).bind(clock::now()).bind(id))
    )?;
    let after = User {
        email,
        ..before.clone()
    };
    tx.commit_audited(actor, Change::updated(Entity::User, id, &before, &after))
        .await?;
    Ok(after)
}

/// The console languages a user may choose (web/i18n/<locale>.json).
pub const LOCALES: [&str; 2] = ["en", "zh-CN"];

/// Sets (or with `None` clears) the console language of user `id`; a user sets their own
/// (`PATCH /api/v1/auth/session`). Audited like every change to a user.
pub async fn set_locale(
    store: &Store,
    actor: &Actor,
    id: Uuid,
    locale: Option<String>,
) -> Result<User, DomainError> {
    // Checked before the lookup: the caller is the signed-in user, who exists.
    if let Some(l) = &locale {
        if !LOCALES.contains(&l.as_str()) {
            return Err(DomainError::field(
                "locale",
                format!("must be one of {}", LOCALES.join(", ")),
            ));
        }
    }
    let mut tx = store.begin().await?;
    let before = locked_user(&mut tx, id).await?;
    let sql = "UPDATE users SET locale = $1, updated_at = $2 WHERE id = $3";
    on_tx!(
        &mut tx,
        execute(sqlx::query(sql).bind(&locale).bind(clock::now()).bind(id))
    )?;
    let after = User {
        locale,
        ..before.clone()
    };
    tx.commit_audited(actor, Change::updated(Entity::User, id, &before, &after))
        .await?;
    Ok(after)
}

/// On an empty database, creates the `admin` user. Returns the password when it was generated
/// here (the caller shows it once); `None` when users already exist or a password was given.
pub async fn ensure_first_admin(
    store: &Store,
    password: Option<String>,
) -> Result<Option<String>, DomainError> {
    let count: i64 = on_read!(store, |p| sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(p)
        .await)?;
    if count > 0 {
        return Ok(None);
    }
    let (password, generated) = match password {
        Some(p) => (p, false),
        None => (secrets::random_password(), true),
    };
    let new = NewUser {
        username: "admin".into(),
        password: password.clone(),
        role: Role::Admin,
        email: None,
    };
    create(store, &Actor::system(), new).await?;
    Ok(generated.then_some(password))
}

/// The user behind a valid bearer token.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: Uuid,
    pub username: String,
    pub role: Role,
}

#[derive(sqlx::FromRow)]
struct CredentialRow {
    id: Uuid,
    username: String,
    role: String,
    disabled: bool,
    created_at: DateTime<Utc>,
    email: Option<String>,
    locale: Option<String>,
    password_hash: String,
}

/// What a session may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionScope {
    /// Every route the user's role allows.
    Full,
    /// Only the two-factor enrolment routes: given at login to a user whose role requires
    /// two-factor authentication and who has none yet.
    TwoFactorEnrolment,
}

impl SessionScope {
    fn as_str(self) -> &'static str {
        match self {
            SessionScope::Full => "full",
            SessionScope::TwoFactorEnrolment => "two_factor_enrolment",
        }
    }

    fn parse(s: &str) -> Option<SessionScope> {
        [SessionScope::Full, SessionScope::TwoFactorEnrolment]
            .into_iter()
            .find(|scope| scope.as_str() == s)
    }
}

/// How long an enrolment session lasts: enough to scan a QR code and type a code.
pub const ENROLMENT_SESSION_MINUTES: i64 = 15;

/// The rules a login runs under.
#[derive(Debug, Clone)]
pub struct LoginPolicy {
    /// Lifetime of a full session.
    pub session_ttl: Duration,
    /// The brute-force limit.
    pub throttle: ThrottlePolicy,
    /// Which roles must use two-factor authentication.
    pub two_factor: TwoFactorPolicy,
}

impl LoginPolicy {
    /// Sessions of `ttl`, the default brute-force limit, two-factor authentication required of
    /// nobody (but still asked of every user who enabled it).
    pub fn with_ttl(ttl: Duration) -> LoginPolicy {
        LoginPolicy {
            session_ttl: ttl,
            throttle: ThrottlePolicy::default(),
            two_factor: TwoFactorPolicy::default(),
        }
    }
}

/// Counts a failed attempt against `keys` and gives the answer: `answer`, or
/// [`DomainError::TooManyAttempts`] when this failure locked a key.
async fn failed(
    store: &Store,
    keys: &[ThrottleKey],
    policy: &LoginPolicy,
    at: DateTime<Utc>,
    answer: DomainError,
) -> DomainError {
    match login_throttle::record_failure(store, keys, &policy.throttle, at).await {
        Ok(Some(locked)) => locked,
        Ok(None) => answer,
        Err(e) => e,
    }
}

fn invalid_code() -> DomainError {
    DomainError::conflict(
        ErrorCode::InvalidTwoFactorCode,
        "the two-factor code is wrong, expired or already used",
    )
}

/// Stores a session of `scope` for `user_id` from `at` until `expires_at` in `tx`; returns its
/// token (only its hash is stored).
async fn insert_session(
    tx: &mut Tx,
    user_id: Uuid,
    scope: SessionScope,
    at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<String, DomainError> {
    let token = secrets::random_token(32);
    let sql = "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, scope) \
               VALUES ($1, $2, $3, $4, $5)";
    on_tx!(
        tx,
        execute(
            sqlx::query(sql)
                .bind(secrets::token_hash(&token))
                .bind(user_id)
                .bind(at)
                .bind(expires_at)
                .bind(scope.as_str())
        )
    )?;
    Ok(token)
}

/// Logs in at `at` from `client` (when known) and opens a full session, in this order:
///
/// 1. A locked account or address is refused ([`DomainError::TooManyAttempts`]) before the
///    password is looked at ([`login_throttle`]).
/// 2. Wrong password, unknown user and disabled user all give the same
///    [`DomainError::InvalidCredentials`], in the same time, and count as a failure.
/// 3. A user with two-factor authentication must send `totp_code` or `recovery_code`: none is
///    `two_factor_required` (not a failure: the password was right), a wrong, stale or
///    replayed one is `invalid_two_factor_code` and counts as a failure.
/// 4. A user without it whose role `policy` requires it gets no session but
///    `two_factor_enrolment_required`, whose `detail.enrolment_token` is a
///    [`SessionScope::TwoFactorEnrolment`] session of [`ENROLMENT_SESSION_MINUTES`].
///
/// A login that gets past the password forgets the account's failures; a recovery code used
/// is audited. The account is keyed by the name as typed, so none of this tells whether the
/// account exists.
pub async fn login(
    store: &Store,
    req: &LoginRequest,
    client: Option<IpAddr>,
    policy: &LoginPolicy,
    at: DateTime<Utc>,
) -> Result<LoginResponse, DomainError> {
    if req.totp_code.is_some() && req.recovery_code.is_some() {
        return Err(DomainError::field(
            "recovery_code",
            "send either `totp_code` or `recovery_code`, not both",
        ));
    }
    let username = req.username.trim().to_ascii_lowercase();
    let keys = login_throttle::keys_for(&username, client);
    login_throttle::check(store, &keys, at).await?;
    let sql = format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE username = $1");
    let row: Option<CredentialRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(&username)
        .fetch_optional(p)
        .await)?;
    let hash = row.as_ref().map(|r| r.password_hash.clone());
    let verified = secrets::verify_password(req.password.clone(), hash).await;
    let row = match row {
        Some(r) if verified && !r.disabled => r,
        _ => return Err(failed(store, &keys, policy, at, DomainError::InvalidCredentials).await),
    };
    let user = UserRow {
        id: row.id,
        username: row.username,
        role: row.role,
        disabled: row.disabled,
        created_at: row.created_at,
        email: row.email,
        locale: row.locale,
    }
    .into_user()?;
    let account = ThrottleKey::account(&username);
    let matched = if two_factor::is_enabled(store, user.id).await? {
        let (code, recovery) = match (&req.totp_code, &req.recovery_code) {
            (Some(code), None) => (code, false),
            (None, Some(code)) => (code, true),
            _ => {
                return Err(DomainError::conflict(
                    ErrorCode::TwoFactorRequired,
                    "this account uses two-factor authentication: send `totp_code` (from the \
                     authenticator app) or `recovery_code` with the password",
                ))
            }
        };
        match two_factor::match_code(store, user.id, code, recovery, at).await? {
            Some(m) => Some(m),
            None => return Err(failed(store, &keys, policy, at, invalid_code()).await),
        }
    } else if policy.two_factor.requires(user.role) {
        let expires_at = at + Duration::minutes(ENROLMENT_SESSION_MINUTES);
        let mut tx = store.begin().await?;
        login_throttle::clear_in(&mut tx, &account).await?;
        let token = insert_session(
            &mut tx,
            user.id,
            SessionScope::TwoFactorEnrolment,
            at,
            expires_at,
        )
        .await?;
        tx.commit().await?;
        return Err(DomainError::conflict_with(
            ErrorCode::TwoFactorEnrolmentRequired,
            format!(
                "the role {} must use two-factor authentication: enrol with \
                 `detail.enrolment_token` as the bearer token (POST /api/v1/auth/2fa/setup, \
                 then POST /api/v1/auth/2fa/confirm), then log in with a code",
                user.role
            ),
            serde_json::json!({ "enrolment_token": token, "expires_at": expires_at }),
        ));
    } else {
        None
    };
    let actor = Actor::user(user.id, user.username.clone(), user.role, AuditSource::Api);
    let expires_at = at + policy.session_ttl;
    let mut tx = store.begin().await?;
    if let Some(m) = matched {
        if !two_factor::use_factor(&mut tx, &actor, user.id, m, at).await? {
            tx.rollback().await?;
            return Err(failed(store, &keys, policy, at, invalid_code()).await);
        }
    }
    login_throttle::clear_in(&mut tx, &account).await?;
    let token = insert_session(&mut tx, user.id, SessionScope::Full, at, expires_at).await?;
    tx.commit().await?;
    Ok(LoginResponse {
        token,
        expires_at,
        user,
    })
}

#[derive(sqlx::FromRow)]
struct ScopedSessionRow {
    id: Uuid,
    username: String,
    role: String,
    scope: String,
}

/// The user a token belongs to and what its session may do, if the token is known, unexpired,
/// not revoked, and its user is not disabled.
async fn session(
    store: &Store,
    token: &str,
) -> Result<Option<(AuthUser, SessionScope)>, DomainError> {
    let sql = "SELECT u.id, u.username, u.role, s.scope FROM sessions s \
               JOIN users u ON u.id = s.user_id \
               WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND u.disabled = $3";
    let row: Option<ScopedSessionRow> = on_read!(store, |p| sqlx::query_as(sql)
        .bind(secrets::token_hash(token))
        .bind(clock::now())
        .bind(false)
        .fetch_optional(p)
        .await)?;
    row.map(|r| {
        let scope = SessionScope::parse(&r.scope)
            .ok_or_else(|| DomainError::Internal(format!("unknown session scope `{}`", r.scope)))?;
        let role = r
            .role
            .parse()
            .map_err(|e: mobile_shared::authz::UnknownRole| DomainError::Internal(e.to_string()))?;
        Ok((
            AuthUser {
                id: r.id,
                role,
                username: r.username,
            },
            scope,
        ))
    })
    .transpose()
}

/// The user a bearer token belongs to, if the token is known, unexpired, not revoked, its user
/// is not disabled, and it is a full session (an enrolment session reaches only
/// [`authenticate_enrolling`]'s routes).
pub async fn authenticate(store: &Store, token: &str) -> Result<Option<AuthUser>, DomainError> {
    Ok(session(store, token)
        .await?
        .filter(|(_, scope)| *scope == SessionScope::Full)
        .map(|(user, _)| user))
}

/// The user a token belongs to and its session's scope, full or enrolment-only: for the
/// two-factor enrolment routes, the only ones an enrolment session reaches.
pub async fn authenticate_enrolling(
    store: &Store,
    token: &str,
) -> Result<Option<(AuthUser, SessionScope)>, DomainError> {
    session(store, token).await
}

/// The user named `username` (as a login would type it), or not found.
pub async fn find_by_username(store: &Store, username: &str) -> Result<User, DomainError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
    let row: Option<UserRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(username.trim().to_ascii_lowercase())
        .fetch_optional(p)
        .await)?;
    row.ok_or(DomainError::not_found(Entity::User))?.into_user()
}

/// Revokes a token. Revoking an unknown or already revoked token is not an error.
pub async fn logout(store: &Store, token: &str) -> Result<(), DomainError> {
    let mut tx = store.begin().await?;
    let sql = "UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL";
    on_tx!(
        &mut tx,
        execute(
            sqlx::query(sql)
                .bind(clock::now())
                .bind(secrets::token_hash(token))
        )
    )?;
    tx.commit().await
}
