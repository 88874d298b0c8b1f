//! Login and logout: bearer tokens for API clients, the session cookie for the console.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{AppendHeaders, IntoResponse};
use axum::Json;
use domain::audit::sessions as audit_sessions;
use domain::users::{self, LoginPolicy};
use domain::ClientContext;
use mobile_shared::wire::{
    AuditSource, LoginRequest, LoginResponse, Problem, SessionInfo, SessionPatch, User,
};

use crate::auth::{check_origin, cookie_is_secure, session_set_cookie, Credential, CurrentUser};
use crate::client::Client;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::openapi::{JsonBodyErrors, Unauthenticated};
use crate::{ApiConfig, AppState};

/// Exchange a username and password (and, for an account with two-factor authentication, a
/// `totp_code` or `recovery_code`) for a bearer token.
///
/// Failed logins are limited per account and per client address: after too many within a
/// window the account or address is locked for a while (429 with `Retry-After`), whatever the
/// password; a lock lifts by itself. Unknown accounts lock like known ones.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), JsonBodyErrors, LoginErrors))]
pub async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    Ok(Json(
        open_session(&state, &req, AuditSource::Api, &client).await?,
    ))
}

/// What a login can answer besides success and the JSON body errors.
#[derive(utoipa::IntoResponses)]
pub enum LoginErrors {
    #[response(
        status = 401,
        description = "`invalid_credentials`: wrong username or password, or the user is disabled; \
            `two_factor_required`: the password is right and the account uses two-factor \
            authentication: send `totp_code` or `recovery_code`; `invalid_two_factor_code`: the \
            code is wrong, expired or used (a failed login)",
        headers(("www-authenticate" = String, description = "`Bearer`"))
    )]
    Unauthorized(Problem),
    #[response(
        status = 403,
        description = "`two_factor_enrolment_required`: the user's role must use two-factor \
            authentication and the user has none; `detail.enrolment_token` (until \
            `detail.expires_at`) is a bearer token for the enrolment routes only \
            (`/api/v1/auth/2fa/setup`, `/api/v1/auth/2fa/confirm`)"
    )]
    EnrolmentRequired(Problem),
    #[response(
        status = 429,
        description = "`too_many_attempts`: this account or address is locked after too many \
            failed logins; try again after `Retry-After` seconds",
        headers(("retry-after" = u64, description = "seconds until the lock lifts"))
    )]
    Locked(Problem),
}

/// The login rules of this server.
pub(crate) fn login_policy(config: &ApiConfig) -> LoginPolicy {
    LoginPolicy {
        session_ttl: config.session_ttl,
        throttle: config.login_throttle.clone(),
        two_factor: config.two_factor.clone(),
    }
}

/// Checks the credentials and opens a session (one rule for both ways of logging in). The
/// outcome, success or refusal, is an audit entry (`domain::audit::sessions`); the per-address
/// limit counts the client the audit log names (a `--trusted-proxy`'s `X-Forwarded-For`).
async fn open_session(
    state: &AppState,
    req: &LoginRequest,
    source: AuditSource,
    client: &ClientContext,
) -> ApiResult<LoginResponse> {
    let result =
        if req.username.len() > 256 || req.password.len() > domain::users::MAX_PASSWORD_LEN * 4 {
            Err(domain::DomainError::InvalidCredentials)
        } else {
            let policy = login_policy(&state.config);
            users::login(&state.store, req, client.ip, &policy, domain::clock::now()).await
        };
    audit_sessions::record_login(
        &state.store,
        source,
        client,
        &req.username,
        result.as_ref().map(|r| &r.user),
    )
    .await?;
    match result {
        Ok(resp) => {
            tracing::info!(user = %resp.user.username, "login");
            Ok(resp)
        }
        Err(e) => {
            tracing::info!(user = %req.username, client = ?client.ip, code = %e.code(), "login refused");
            Err(e.into())
        }
    }
}

/// Log in for the console: the session token is set as an HttpOnly, `SameSite=Strict` cookie
/// (`Secure` over HTTPS) and is not in the body. The cookie then authenticates every API route
/// like a bearer token, with the same role checks; writes signed in by cookie must send
/// `X-Fieldops-Csrf: 1` and come from this server's origin.
#[utoipa::path(post, path = "/api/v1/auth/session", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = SessionInfo, headers(("set-cookie" = String, description = "`fieldops_session=…; HttpOnly; SameSite=Strict`"))),
        JsonBodyErrors, LoginErrors,
        (status = 403, body = Problem, description = "`csrf_rejected`: the request comes from another origin; \
            `two_factor_enrolment_required`: as for `POST /api/v1/auth/login`")))]
pub async fn create_session(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<impl IntoResponse> {
    // No session exists yet, so no CSRF header is asked; the JSON content type already needs a
    // CORS preflight from another site, and a foreign Origin is refused outright (login CSRF).
    check_origin(&headers, &state.config)?;
    let resp = open_session(&state, &req, AuditSource::Console, &client).await?;
    let cookie = session_set_cookie(
        Some(&resp.token),
        state.config.session_ttl,
        cookie_is_secure(&state.config),
    );
    Ok((
        AppendHeaders([(SET_COOKIE, cookie)]),
        Json(SessionInfo {
            expires_at: resp.expires_at,
            user: resp.user,
        }),
    ))
}

/// The signed-in user (by cookie or bearer token): the console reads who is signed in.
#[utoipa::path(get, path = "/api/v1/auth/session", tag = "auth", security(("bearer" = []), ("session" = [])),
    responses((status = 200, body = User), Unauthenticated))]
pub async fn get_session(
    State(state): State<AppState>,
    user: CurrentUser,
) -> ApiResult<Json<User>> {
    Ok(Json(users::get(&state.store, user.0.id).await?))
}

/// The signed-in user's own settings: `locale`, the console's language. Every role may change
/// its own (no role check: it is nobody else's data); audited as a change to the user.
#[utoipa::path(patch, path = "/api/v1/auth/session", tag = "auth", security(("bearer" = []), ("session" = [])),
    request_body = SessionPatch,
    responses((status = 200, body = User), Unauthenticated, JsonBodyErrors))]
pub async fn patch_session(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(patch): ApiJson<SessionPatch>,
) -> ApiResult<Json<User>> {
    let locale = patch
        .locale
        .ok_or_else(|| domain::DomainError::field("locale", "is required (null clears it)"))?;
    Ok(Json(
        users::set_locale(&state.store, &user.actor(), user.0.id, locale).await?,
    ))
}

/// Log out: revokes the session this request is signed in with (cookie or bearer token) and
/// deletes the cookie.
#[utoipa::path(delete, path = "/api/v1/auth/session", tag = "auth", security(("bearer" = []), ("session" = [])),
    responses((status = 204, headers(("set-cookie" = String, description = "deletes the cookie"))), Unauthenticated))]
pub async fn delete_session(
    State(state): State<AppState>,
    user: CurrentUser,
    parts: Parts,
) -> ApiResult<impl IntoResponse> {
    end_session(&state, user, &parts).await
}

/// Log out: revokes the session this request is signed in with — the bearer token, or the
/// console's session cookie (with the CSRF header, like every cookie write) — and deletes the
/// cookie. The same as `DELETE /api/v1/auth/session`.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = []), ("session" = [])),
    responses((status = 204, headers(("set-cookie" = String, description = "deletes the cookie"))), Unauthenticated))]
pub async fn logout(
    State(state): State<AppState>,
    user: CurrentUser,
    parts: Parts,
) -> ApiResult<impl IntoResponse> {
    end_session(&state, user, &parts).await
}

/// One logout for both routes. `CurrentUser` has already authenticated the credential (and,
/// for a cookie, checked the CSRF rules); the credential it used is the one revoked. Logout by
/// cookie used to answer 401 on `POST /auth/logout`, which looked only for a bearer token.
async fn end_session(
    state: &AppState,
    user: CurrentUser,
    parts: &Parts,
) -> ApiResult<impl IntoResponse> {
    let credential = Credential::of(parts).ok_or_else(ApiError::unauthenticated)?;
    users::logout(&state.store, credential.token()).await?;
    audit_sessions::record_logout(&state.store, &user.actor()).await?;
    tracing::info!(user = %user.0.username, "logout");
    let cookie = session_set_cookie(
        None,
        state.config.session_ttl,
        cookie_is_secure(&state.config),
    );
    Ok((
        StatusCode::NO_CONTENT,
        AppendHeaders([(SET_COOKIE, cookie)]),
    ))
}
