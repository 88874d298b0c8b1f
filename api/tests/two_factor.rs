//! Two-factor authentication and the login lockout over HTTP, on both databases: enrolment
//! with the QR code, logins that need a code, recovery codes, the policy's enrolment-only
//! session, disabling, the admin's reset, and lockouts per account and per client address
//! with `Retry-After`. Codes are computed with totp-rs as an authenticator app would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use domain::login_throttle::ThrottlePolicy;
use domain::testing::Fixture;
use domain::two_factor::TwoFactorPolicy;
use domain::Backend;
use mobile_shared::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};
use totp_rs::{Algorithm, Secret, TOTP};

domain::backend_matrix!(
    TwoFactorApp:
    enrolment_then_logins_need_a_code,
    the_policy_gives_an_enrolment_only_session,
);
mod lockout {
    use super::*;
    domain::backend_matrix!(LockoutApp: accounts_and_addresses_lock_with_retry_after);
}

const PASSWORD: &str = "a-long-password-1";

/// A server whose policy requires two-factor authentication of the finance role (not of
/// admins: the harness logs in as its admin with a password).
struct TwoFactorApp(TestApp);

impl Fixture for TwoFactorApp {
    async fn open(backend: Backend) -> Option<TwoFactorApp> {
        let config = api::ApiConfig {
            two_factor: TwoFactorPolicy::required_for([Role::Finance]),
            ..Default::default()
        };
        TestApp::start(backend, config).await.map(TwoFactorApp)
    }
}

/// A server with a tight brute-force limit: 3 failures lock an account, 5 an address.
struct LockoutApp(TestApp);

impl Fixture for LockoutApp {
    async fn open(backend: Backend) -> Option<LockoutApp> {
        let config = api::ApiConfig {
            login_throttle: ThrottlePolicy {
                account_max_failures: 3,
                client_max_failures: 5,
                ..ThrottlePolicy::default()
            },
            ..Default::default()
        };
        TestApp::start(backend, config).await.map(LockoutApp)
    }
}

/// Creates `username` with `role` and [`PASSWORD`]; returns its id.
async fn add_user(app: &TestApp, username: &str, role: Role) -> String {
    let user = app
        .create(
            "/api/v1/users",
            &json!({"username": username, "password": PASSWORD, "role": role.as_str()}),
        )
        .await;
    s(&user, "id").to_owned()
}

/// The authenticator code for `secret`, `ahead` steps from now.
fn code(secret: &str, ahead: i64) -> String {
    let bytes = Secret::Encoded(secret.to_owned()).to_bytes().unwrap();
    let at = chrono::Utc::now().timestamp() + 30 * ahead;
    TOTP::new(Algorithm::SHA1, 6, 0, 30, bytes, None, "test".into())
        .unwrap()
        .generate(at as u64)
}

async fn login_body(app: &TestApp, body: Value) -> reqwest::Response {
    app.post("/api/v1/auth/login", None, &body).await
}

fn with_code(username: &str, field: &str, code: &str) -> Value {
    json!({"username": username, "password": PASSWORD, field: code})
}

/// Starts and confirms enrolment with `token`; returns the secret and the recovery codes.
async fn enrol(app: &TestApp, token: &str) -> (String, Vec<String>) {
    let setup = expect_json(
        app.post("/api/v1/auth/2fa/setup", token, &json!({})).await,
        StatusCode::OK,
    )
    .await;
    let secret = s(&setup, "secret").to_owned();
    let confirmed = expect_json(
        app.post(
            "/api/v1/auth/2fa/confirm",
            token,
            &json!({"code": code(&secret, 0)}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let codes = confirmed["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (secret, codes)
}

async fn audit_actions(app: &TestApp, user_id: &str) -> Vec<String> {
    let mut actions: Vec<String> = app
        .audit(&[("entity_id", user_id)])
        .await
        .iter()
        .map(|e| s(e, "action").to_owned())
        .collect();
    actions.reverse();
    actions
}

async fn enrolment_then_logins_need_a_code(TwoFactorApp(app): TwoFactorApp) {
    let id = add_user(&app, "tess", Role::Technician).await;
    let token = app.login("tess", PASSWORD).await;
    let status = app.get_ok("/api/v1/auth/2fa", token.as_str()).await;
    assert_eq!(
        status,
        json!({"enabled": false, "enabled_at": null, "pending": false,
               "recovery_codes_left": 0, "required": false})
    );

    // Setup: the secret, its otpauth URI, and a QR code of that URI drawn by asset-labels.
    let setup = expect_json(
        app.post("/api/v1/auth/2fa/setup", token.as_str(), &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    let secret = s(&setup, "secret").to_owned();
    let uri = s(&setup, "otpauth_uri");
    assert_eq!(
        uri,
        format!("otpauth://totp/fieldops:tess?secret={secret}&issuer=fieldops")
    );
    let drawn = asset_labels::qr_matrices_in_svg(s(&setup, "qr_svg"));
    assert_eq!(drawn, [asset_labels::QrMatrix::encode(uri).unwrap()]);

    // A wrong code confirms nothing; the right one returns ten recovery codes.
    let wrong = app
        .post(
            "/api/v1/auth/2fa/confirm",
            token.as_str(),
            &json!({"code": "12345x"}),
        )
        .await;
    expect_only_field(wrong, "code").await;
    let confirmed = expect_json(
        app.post(
            "/api/v1/auth/2fa/confirm",
            token.as_str(),
            &json!({"code": code(&secret, 0)}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let recovery: Vec<String> = confirmed["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);
    let status = app.get_ok("/api/v1/auth/2fa", token.as_str()).await;
    assert_eq!(status["enabled"], true);
    assert_eq!(status["recovery_codes_left"], 10);

    // The password alone: 401 two_factor_required.
    let resp = app.login_attempt("tess", PASSWORD).await;
    assert_eq!(header(&resp, "www-authenticate"), "Bearer");
    expect_problem(resp, StatusCode::UNAUTHORIZED, "two_factor_required").await;
    // A wrong code: 401 invalid_two_factor_code.
    let resp = login_body(&app, with_code("tess", "totp_code", "000000")).await;
    expect_problem(resp, StatusCode::UNAUTHORIZED, "invalid_two_factor_code").await;
    // The next step's code (the current one confirmed the enrolment and is used up).
    let resp = login_body(&app, with_code("tess", "totp_code", &code(&secret, 1))).await;
    let session = expect_json(resp, StatusCode::OK).await;
    assert_eq!(
        app.get("/api/v1/assets", s(&session, "token"))
            .await
            .status(),
        StatusCode::OK
    );
    // A recovery code works once.
    let resp = login_body(&app, with_code("tess", "recovery_code", &recovery[0])).await;
    expect_json(resp, StatusCode::OK).await;
    let resp = login_body(&app, with_code("tess", "recovery_code", &recovery[0])).await;
    expect_problem(resp, StatusCode::UNAUTHORIZED, "invalid_two_factor_code").await;
    let status = app.get_ok("/api/v1/auth/2fa", token.as_str()).await;
    assert_eq!(status["recovery_codes_left"], 9);
    // Both kinds of code at once is a malformed login.
    let both = json!({"username": "tess", "password": PASSWORD,
                      "totp_code": "123456", "recovery_code": recovery[1]});
    expect_only_field(login_body(&app, both).await, "recovery_code").await;

    // New recovery codes need proof; the old ones stop working.
    let wrong = app
        .post(
            "/api/v1/auth/2fa/recovery-codes",
            token.as_str(),
            &json!({"password": "not-my-password"}),
        )
        .await;
    expect_only_field(wrong, "password").await;
    let renewed = expect_json(
        app.post(
            "/api/v1/auth/2fa/recovery-codes",
            token.as_str(),
            &json!({"password": PASSWORD}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(renewed["recovery_codes"].as_array().unwrap().len(), 10);
    let resp = login_body(&app, with_code("tess", "recovery_code", &recovery[1])).await;
    expect_problem(resp, StatusCode::UNAUTHORIZED, "invalid_two_factor_code").await;

    // Disabling needs proof too; then the password alone logs in again.
    let off = app
        .post(
            "/api/v1/auth/2fa/disable",
            token.as_str(),
            &json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(off.status(), StatusCode::NO_CONTENT);
    app.login("tess", PASSWORD).await;

    // Each successful login is an entry of its own (failed ones name no user).
    assert_eq!(
        audit_actions(&app, &id).await,
        [
            "user.create",
            "user.login",
            "user.two_factor_setup",
            "user.two_factor_enable",
            "user.login",
            "user.two_factor_recovery_use",
            "user.login",
            "user.two_factor_recovery_renew",
            "user.two_factor_disable",
            "user.login",
        ]
    );
    // No secret or code ever reaches the audit log.
    let entries = serde_json::to_string(&app.audit(&[("entity_id", &id)]).await).unwrap();
    assert!(!entries.contains(&secret) && !entries.contains(&recovery[2]));
}

async fn the_policy_gives_an_enrolment_only_session(TwoFactorApp(app): TwoFactorApp) {
    let id = add_user(&app, "fin", Role::Finance).await;
    let resp = app.login_attempt("fin", PASSWORD).await;
    let problem =
        expect_problem(resp, StatusCode::FORBIDDEN, "two_factor_enrolment_required").await;
    let enrolment = s(&problem["detail"], "enrolment_token").to_owned();
    // The console's login says the same.
    let resp = app
        .post(
            "/api/v1/auth/session",
            None,
            &json!({"username": "fin", "password": PASSWORD}),
        )
        .await;
    expect_problem(resp, StatusCode::FORBIDDEN, "two_factor_enrolment_required").await;

    // The enrolment token reaches the enrolment routes and nothing else.
    expect_unauthenticated(app.get("/api/v1/assets", enrolment.as_str()).await).await;
    expect_unauthenticated(app.get("/api/v1/auth/session", enrolment.as_str()).await).await;
    expect_unauthenticated(
        app.post(
            "/api/v1/auth/2fa/disable",
            enrolment.as_str(),
            &json!({"password": PASSWORD}),
        )
        .await,
    )
    .await;
    let status = app.get_ok("/api/v1/auth/2fa", enrolment.as_str()).await;
    assert_eq!(status["required"], true);
    assert_eq!(status["enabled"], false);
    let (secret, _) = enrol(&app, &enrolment).await;
    // Confirming ended the enrolment session.
    expect_unauthenticated(app.get("/api/v1/auth/2fa", enrolment.as_str()).await).await;

    // Now a login with a code is a full session.
    let resp = login_body(&app, with_code("fin", "totp_code", &code(&secret, 1))).await;
    let session = expect_json(resp, StatusCode::OK).await;
    let token = s(&session, "token").to_owned();
    assert_eq!(
        app.get("/api/v1/contracts", token.as_str()).await.status(),
        StatusCode::OK
    );
    // The role must keep it.
    let resp = app
        .post(
            "/api/v1/auth/2fa/disable",
            token.as_str(),
            &json!({"password": PASSWORD}),
        )
        .await;
    expect_problem(resp, StatusCode::CONFLICT, "two_factor_required_by_policy").await;

    // An admin resets it (a lost phone): the next login enrols again.
    let path = format!("/api/v1/users/{id}/2fa");
    let forbidden = app.delete(&path, token.as_str()).await;
    expect_forbidden(forbidden).await;
    assert_eq!(
        app.delete(&path, app.admin()).await.status(),
        StatusCode::NO_CONTENT
    );
    // Its sessions ended (the lost phone may hold one).
    expect_unauthenticated(app.get("/api/v1/contracts", token.as_str()).await).await;
    let resp = app.login_attempt("fin", PASSWORD).await;
    expect_problem(resp, StatusCode::FORBIDDEN, "two_factor_enrolment_required").await;
    let reset = app
        .audit(&[("entity_id", &id), ("action", "user.two_factor_reset")])
        .await;
    assert_eq!(reset.len(), 1);
    assert_eq!(reset[0]["actor"], "admin");
}

/// A 429 `too_many_attempts` with a `Retry-After` of at most 15 minutes.
async fn expect_locked(resp: reqwest::Response) {
    let retry: u64 = header(&resp, "retry-after")
        .parse()
        .expect("Retry-After seconds");
    assert!((1..=900).contains(&retry), "{retry}");
    let problem = expect_problem(resp, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    assert_eq!(problem["detail"]["retry_after_secs"], retry);
}

async fn accounts_and_addresses_lock_with_retry_after(LockoutApp(app): LockoutApp) {
    add_user(&app, "amy", Role::Technician).await;
    add_user(&app, "ben", Role::Technician).await;
    // Three failures lock the account: the third answers 429 already.
    for _ in 0..2 {
        let resp = app.login_attempt("amy", "wrong-password").await;
        expect_problem(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    expect_locked(app.login_attempt("amy", "wrong-password").await).await;
    // Locked: the right password is refused the same way.
    expect_locked(app.login_attempt("amy", PASSWORD).await).await;
    // Another account from the same address is fine: 3 failures from here so far, 5 lock it.
    app.login("ben", PASSWORD).await;

    // An account that does not exist answers exactly like one that does.
    let resp = app.login_attempt("nobody", "wrong-password").await;
    expect_problem(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    // The fifth failure from this address locks the address: ben is refused too now.
    expect_locked(app.login_attempt("nobody", "wrong-password").await).await;
    expect_locked(app.login_attempt("ben", PASSWORD).await).await;

    // Locks lift by themselves when their time passes: moved into the past here.
    app.db
        .execute("UPDATE login_throttle SET locked_until = window_start")
        .await;
    app.login("amy", PASSWORD).await;
    app.login("ben", PASSWORD).await;
}
