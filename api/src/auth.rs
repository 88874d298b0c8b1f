//! Authentication (a bearer token or the console's session cookie → the signed-in user) and
//! authorisation by role. Handlers take [`CurrentUser`] and call [`CurrentUser::require`]; the
//! decision itself is `Role::may`, the one permission matrix in `mobile_shared::authz`, whichever
//! way the user signed in.
//!
//! The cookie holds a session token of the same table as bearer tokens (stored hashed), so
//! revoking, expiry and disabled users work the same. A browser sends cookies on its own, so a
//! cookie-authenticated request that may change something (not GET/HEAD/OPTIONS) must also carry
//! [`CSRF_HEADER`] (a page of another site cannot set a custom header without a CORS preflight,
//! which this server never grants) and, when the browser names an `Origin`, come from this
//! server's origin; the cookie itself is `SameSite=Strict`. Bearer tokens are never sent by a
//! browser on its own, so they need neither.
//!
//! The audit log records how a request signed in as its source: `console` for the session
//! cookie (only the web console holds one: it is HttpOnly and set by `POST /auth/session`),
//! `api` for a bearer token (phones, scripts, integrations), whoever sends it. With the
//! source go the client's address and user agent ([`crate::client`]).

use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, COOKIE, HOST, ORIGIN};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use domain::users::{self, AuthUser, SessionScope};
use domain::{Actor, ClientContext};
use mobile_shared::wire::AuditSource;
use mobile_shared::Action;
use mobile_shared::ErrorCode;

use crate::error::ApiError;
use crate::AppState;

/// The bearer token of a request, if it sent one.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

/// Name of the console's session cookie.
pub const SESSION_COOKIE: &str = "fieldops_session";

/// Header the console sends with every cookie-authenticated write (value `1`).
pub const CSRF_HEADER: &str = "x-fieldops-csrf";

/// The session token in the request's `Cookie` headers, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// The `Set-Cookie` value that stores `token` for `max_age`, or (with `None`) deletes the cookie.
pub fn session_set_cookie(
    token: Option<&str>,
    max_age: chrono::Duration,
    secure: bool,
) -> HeaderValue {
    let (value, max_age) = match token {
        Some(t) => (t, max_age.num_seconds().max(0)),
        None => ("", 0),
    };
    let secure = if secure { "; Secure" } else { "" };
    // Tokens are URL-safe characters, so the value needs no quoting.
    let cookie = format!(
        "{SESSION_COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    );
    HeaderValue::from_str(&cookie)
        .unwrap_or_else(|_| HeaderValue::from_static("fieldops_session=; Path=/; Max-Age=0"))
}

/// Whether the session cookie is marked `Secure` under this configuration.
pub fn cookie_is_secure(config: &crate::ApiConfig) -> bool {
    config.secure_cookies || config.public_url.starts_with("https://")
}

/// How a request authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    Bearer(&'a str),
    Cookie(&'a str),
}

impl<'a> Credential<'a> {
    /// The audit source of a request signed in with this credential (module documentation).
    pub fn source(self) -> AuditSource {
        match self {
            Credential::Bearer(_) => AuditSource::Api,
            Credential::Cookie(_) => AuditSource::Console,
        }
    }

    /// The bearer token if the request sent one, else the session cookie.
    pub fn of(parts: &'a Parts) -> Option<Credential<'a>> {
        bearer_token(parts)
            .map(Credential::Bearer)
            .or_else(|| session_cookie(&parts.headers).map(Credential::Cookie))
    }

    pub fn token(self) -> &'a str {
        match self {
            Credential::Bearer(t) | Credential::Cookie(t) => t,
        }
    }
}

/// Refuses a request whose `Origin` (when the browser sends one) is not this server: the
/// `Host` it was sent to, or the configured public URL.
pub fn check_origin(headers: &HeaderMap, config: &crate::ApiConfig) -> Result<(), ApiError> {
    let Some(origin) = headers.get(ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("");
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    let same_host = origin
        .split_once("://")
        .is_some_and(|(_, rest)| Some(rest) == host);
    let public = config.public_url.trim_end_matches('/');
    if same_host || origin == public {
        Ok(())
    } else {
        tracing::info!(origin, "refused: cross-origin request");
        Err(ApiError::new(
            ErrorCode::CsrfRejected,
            "the request comes from another origin",
        ))
    }
}

/// The CSRF rules for a cookie-authenticated request (see the module documentation).
fn check_csrf(parts: &Parts, config: &crate::ApiConfig) -> Result<(), ApiError> {
    if parts.method.is_safe() {
        return Ok(());
    }
    if parts.headers.get(CSRF_HEADER).is_none_or(|v| v != "1") {
        tracing::info!("refused: cookie-authenticated write without the CSRF header");
        return Err(ApiError::new(
            ErrorCode::CsrfRejected,
            format!("a write signed in by cookie must send the header `{CSRF_HEADER}: 1`"),
        ));
    }
    check_origin(&parts.headers, config)
}

/// The user behind a session token, if it is valid: for pages, which show the login page
/// instead of an error.
pub async fn session_user(state: &AppState, headers: &HeaderMap) -> Option<AuthUser> {
    let token = session_cookie(headers)?;
    match users::authenticate(&state.store, token).await {
        Ok(user) => user,
        Err(e) => {
            tracing::warn!("session check failed: {e}");
            None
        }
    }
}

/// Where a signed-in request came from: how it signed in and its client.
#[derive(Debug, Clone)]
pub struct RequestOrigin {
    /// `api` (bearer token) or `console` (session cookie).
    pub source: AuditSource,
    /// The client's address and user agent ([`crate::client::context_of`]).
    pub client: ClientContext,
}

/// The signed-in user and where the request came from. Extracting it fails with 401 when the
/// token is missing or invalid.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub AuthUser, pub RequestOrigin);

impl CurrentUser {
    /// 403 unless the user's role may perform `action`.
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        if self.0.role.may(action) {
            Ok(())
        } else {
            tracing::info!(user = %self.0.username, role = %self.0.role, action = action.as_str(), "forbidden");
            Err(ApiError::forbidden(action.as_str()))
        }
    }

    /// The audit-log actor for writes made through the API: the user, how they signed in,
    /// and their client's address and user agent.
    pub fn actor(&self) -> Actor {
        Actor::user(
            self.0.id,
            self.0.username.clone(),
            self.0.role,
            self.1.source,
        )
        .with_client(self.1.client.clone())
    }
}

/// How the request was signed in, and its client, for the audit log.
fn origin_of(parts: &Parts, state: &AppState, credential: &Credential<'_>) -> RequestOrigin {
    RequestOrigin {
        source: credential.source(),
        client: crate::client::context_of(parts, &state.config.trusted_proxies),
    }
}

/// The request's credential (401 without one), with the CSRF rules applied to a cookie.
fn checked_credential<'a>(
    parts: &'a Parts,
    config: &crate::ApiConfig,
) -> Result<Credential<'a>, ApiError> {
    let credential = Credential::of(parts).ok_or_else(ApiError::unauthenticated)?;
    if let Credential::Cookie(_) = credential {
        check_csrf(parts, config)?;
    }
    Ok(credential)
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let credential = checked_credential(parts, &state.config)?;
        let user = users::authenticate(&state.store, credential.token())
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        tracing::Span::current().record("user", user.username.as_str());
        Ok(CurrentUser(user, origin_of(parts, state, &credential)))
    }
}

/// The signed-in user of a full session, or of the enrolment-only session a login gives a user
/// whose role requires two-factor authentication and who has none yet: the extractor of the
/// enrolment routes, and of no other (every other route takes [`CurrentUser`], which refuses
/// an enrolment session with 401).
#[derive(Debug, Clone)]
pub struct EnrollingUser {
    pub user: CurrentUser,
    pub scope: SessionScope,
}

impl FromRequestParts<AppState> for EnrollingUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let credential = checked_credential(parts, &state.config)?;
        let (user, scope) = users::authenticate_enrolling(&state.store, credential.token())
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        tracing::Span::current().record("user", user.username.as_str());
        Ok(EnrollingUser {
            user: CurrentUser(user, origin_of(parts, state, &credential)),
            scope,
        })
    }
}
