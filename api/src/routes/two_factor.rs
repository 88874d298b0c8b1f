//! Two-factor authentication (TOTP) of the signed-in user — its state, enrolment (setup, then
//! confirm with a code), disabling, renewing recovery codes — and an admin's reset of another
//! user's. The rules are `domain::two_factor`'s; this module maps them to HTTP.
//!
//! The state, setup and confirm routes also take the enrolment-only session a login gives a
//! user whose role must use two-factor authentication and who has none
//! ([`EnrollingUser`]); confirming ends such a session, and the user then logs in with a code.
//! Disabling and renewing need a full session and proof of the person (password or code).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use domain::two_factor;
use domain::users::{self, SessionScope};
use mobile_shared::wire::{
    Problem, RecoveryCodes, TwoFactorCode, TwoFactorProof, TwoFactorSetup, TwoFactorStatus,
};
use mobile_shared::Action;
use uuid::Uuid;

use crate::auth::{Credential, CurrentUser, EnrollingUser};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::openapi::{AuthErrors, JsonBodyErrors, NotFound, Unauthenticated};
use crate::AppState;

/// Pixels per side of the enrolment QR code (a phone camera reads it off a screen at that size).
const QR_SIZE_PX: u32 = 240;

/// The signed-in user's two-factor state: enabled, an enrolment pending, recovery codes left,
/// and whether the server's policy requires it of the user's role.
#[utoipa::path(get, path = "/api/v1/auth/2fa", tag = "auth", security(("bearer" = []), ("session" = [])),
    responses((status = 200, body = TwoFactorStatus), Unauthenticated))]
pub async fn status(
    State(state): State<AppState>,
    who: EnrollingUser,
) -> ApiResult<Json<TwoFactorStatus>> {
    who.user.require(Action::OwnTwoFactor)?;
    let me = &who.user.0;
    Ok(Json(
        two_factor::status(&state.store, me.id, me.role, &state.config.two_factor).await?,
    ))
}

/// Start enrolment (or re-keying, when enabled already): a fresh secret for the authenticator
/// app, as text, as an `otpauth://` URI and as a QR code (SVG). Nothing changes for logins
/// until it is confirmed with a code; starting again replaces the pending secret.
#[utoipa::path(post, path = "/api/v1/auth/2fa/setup", tag = "auth", security(("bearer" = []), ("session" = [])),
    responses((status = 200, body = TwoFactorSetup), Unauthenticated))]
pub async fn setup(
    State(state): State<AppState>,
    who: EnrollingUser,
) -> ApiResult<Json<TwoFactorSetup>> {
    who.user.require(Action::OwnTwoFactor)?;
    let me = &who.user.0;
    let enrolment = two_factor::start_enrolment(
        &state.store,
        &who.user.actor(),
        me.id,
        &me.username,
        &state.config.company_name,
        domain::clock::now(),
    )
    .await?;
    let qr_svg = asset_labels::qr_svg(&enrolment.otpauth_uri, QR_SIZE_PX).map_err(|e| {
        tracing::error!(error = %e, "enrolment QR code");
        ApiError::internal()
    })?;
    Ok(Json(TwoFactorSetup {
        secret: enrolment.secret,
        otpauth_uri: enrolment.otpauth_uri,
        qr_svg,
    }))
}

/// Confirm the pending enrolment with the code the authenticator app shows: two-factor
/// authentication is on from now, and the answer holds the one-time recovery codes (shown
/// this once). An enrolment-only session ends here: log in again with a code.
#[utoipa::path(post, path = "/api/v1/auth/2fa/confirm", tag = "auth", security(("bearer" = []), ("session" = [])),
    request_body = TwoFactorCode,
    responses((status = 200, body = RecoveryCodes), Unauthenticated, JsonBodyErrors,
        (status = 409, body = Problem, description = "`illegal_transition`: no enrolment is pending")))]
pub async fn confirm(
    State(state): State<AppState>,
    who: EnrollingUser,
    parts: axum::http::request::Parts,
    ApiJson(body): ApiJson<TwoFactorCode>,
) -> ApiResult<Json<RecoveryCodes>> {
    who.user.require(Action::OwnTwoFactor)?;
    let me = &who.user.0;
    let codes = two_factor::confirm(
        &state.store,
        &who.user.actor(),
        me.id,
        &body.code,
        domain::clock::now(),
    )
    .await?;
    if who.scope == SessionScope::TwoFactorEnrolment {
        if let Some(credential) = Credential::of(&parts) {
            users::logout(&state.store, credential.token()).await?;
        }
    }
    tracing::info!(user = %me.username, "two-factor authentication enabled");
    Ok(Json(codes))
}

/// Turn two-factor authentication off, with the password or a current code as proof (a wrong
/// one counts as a failed login). Refused for a role the server requires it of.
#[utoipa::path(post, path = "/api/v1/auth/2fa/disable", tag = "auth", security(("bearer" = []), ("session" = [])),
    request_body = TwoFactorProof,
    responses((status = 204), Unauthenticated, JsonBodyErrors,
        (status = 409, body = Problem, description = "`two_factor_required_by_policy`: the role must use it; `illegal_transition`: it is not enabled"),
        (status = 429, body = Problem, description = "`too_many_attempts`: the account is locked after failed attempts",
            headers(("retry-after" = u64, description = "seconds until the lock lifts")))))]
pub async fn disable(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(proof): ApiJson<TwoFactorProof>,
) -> ApiResult<StatusCode> {
    user.require(Action::OwnTwoFactor)?;
    let me = &user.0;
    two_factor::disable(
        &state.store,
        &user.actor(),
        me.id,
        &me.username,
        me.role,
        &proof,
        &state.config.two_factor,
        &state.config.login_throttle,
        domain::clock::now(),
    )
    .await?;
    tracing::info!(user = %me.username, "two-factor authentication disabled");
    Ok(StatusCode::NO_CONTENT)
}

/// Replace the recovery codes with fresh ones (shown this once; the old ones stop working),
/// with the password or a current code as proof.
#[utoipa::path(post, path = "/api/v1/auth/2fa/recovery-codes", tag = "auth", security(("bearer" = []), ("session" = [])),
    request_body = TwoFactorProof,
    responses((status = 200, body = RecoveryCodes), Unauthenticated, JsonBodyErrors,
        (status = 409, body = Problem, description = "`illegal_transition`: two-factor authentication is not enabled"),
        (status = 429, body = Problem, description = "`too_many_attempts`: the account is locked after failed attempts",
            headers(("retry-after" = u64, description = "seconds until the lock lifts")))))]
pub async fn renew_recovery_codes(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(proof): ApiJson<TwoFactorProof>,
) -> ApiResult<Json<RecoveryCodes>> {
    user.require(Action::OwnTwoFactor)?;
    let me = &user.0;
    Ok(Json(
        two_factor::renew_recovery_codes(
            &state.store,
            &user.actor(),
            me.id,
            &me.username,
            &proof,
            &state.config.login_throttle,
            domain::clock::now(),
        )
        .await?,
    ))
}

/// Reset another user's two-factor authentication (they lost their phone and their recovery
/// codes): it is off (a role that requires it enrols again at the next login) and the
/// account's login lock is lifted. Admins; audited.
#[utoipa::path(delete, path = "/api/v1/users/{id}/2fa", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 204), AuthErrors, NotFound))]
pub async fn reset_user(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    user.require(Action::UserWrite)?;
    two_factor::reset(&state.store, &user.actor(), id).await?;
    tracing::info!(admin = %user.0.username, user_id = %id, "two-factor authentication reset");
    Ok(StatusCode::NO_CONTENT)
}
