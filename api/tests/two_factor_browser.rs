//! The console's login with two-factor authentication in a real browser (headless Chromium
//! through chromedriver, the harness of tests/browser/): a user whose role must use it enrols
//! from the login page (QR code, confirming code, recovery codes) and then signs in with a
//! code. SKIPPED without chromium and chromedriver unless `CI` is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
mod common;

use browser::*;
use common::*;
use domain::testing::Fixture;
use domain::two_factor::TwoFactorPolicy;
use domain::Backend;
use fantoccini::Locator;
use mobile_shared::Role;
use serde_json::json;
use totp_rs::{Algorithm, Secret, TOTP};

domain::backend_matrix!(TwoFactorBrowserApp: a_required_role_enrols_on_the_login_page_then_signs_in_with_a_code);

struct TwoFactorBrowserApp {
    app: TestApp,
    driver: Driver,
}

impl Fixture for TwoFactorBrowserApp {
    async fn open(backend: Backend) -> Option<TwoFactorBrowserApp> {
        let driver = Driver::start("two-factor browser test").await?;
        let config = api::ApiConfig {
            two_factor: TwoFactorPolicy::required_for([Role::Finance]),
            ..Default::default()
        };
        let app = TestApp::start(backend, config).await?;
        Some(TwoFactorBrowserApp { app, driver })
    }
}

/// The authenticator code for `secret`, `ahead` steps from now.
fn code(secret: &str, ahead: i64) -> String {
    let bytes = Secret::Encoded(secret.to_owned()).to_bytes().unwrap();
    let at = chrono::Utc::now().timestamp() + 30 * ahead;
    TOTP::new(Algorithm::SHA1, 6, 0, 30, bytes, None, "test".into())
        .unwrap()
        .generate(at as u64)
}

async fn type_into(c: &fantoccini::Client, css: &str, text: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

async fn click(c: &fantoccini::Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn a_required_role_enrols_on_the_login_page_then_signs_in_with_a_code(
    fx: TwoFactorBrowserApp,
) {
    let app = &fx.app;
    app.create(
        "/api/v1/users",
        &json!({"username": "fran", "password": USER_PASSWORD, "role": "finance"}),
    )
    .await;
    let c = fx.driver.browser("en-US").await;
    c.goto(&app.url("/")).await.unwrap();
    fill_login(&c, "fran", USER_PASSWORD).await;
    // The enrolment panel with the QR code and the key replaces the form.
    let secret = wait_for(
        &c,
        "the enrolment panel",
        "return !document.getElementById('enrol').hidden \
         && document.querySelector('#enrol-qr svg path.qr') \
         && document.getElementById('enrol-secret').textContent",
    )
    .await;
    let secret = secret.as_str().unwrap().to_owned();
    // For a look at the enrolment panel: FIELDOPS_TEST_SCREENSHOT=/tmp/enrol.png.
    if let Ok(path) = std::env::var("FIELDOPS_TEST_SCREENSHOT") {
        std::fs::write(path, c.screenshot().await.unwrap()).unwrap();
    }
    assert!(c.get_named_cookie("fieldops_session").await.is_err());
    type_into(&c, "#enrol-code", &code(&secret, 0)).await;
    click(&c, "#enrol-submit").await;
    let shown = wait_for(
        &c,
        "the recovery codes",
        "return !document.getElementById('recovery').hidden \
         && document.querySelectorAll('#recovery-codes li').length",
    )
    .await;
    assert_eq!(shown, json!(10));
    click(&c, "#recovery-done").await;
    wait_for(
        &c,
        "the code field",
        "return !document.getElementById('login-form').hidden \
         && !document.getElementById('login-code-row').hidden",
    )
    .await;
    // The password is still filled in: the code is all that is left to type.
    type_into(&c, "#code", &code(&secret, 1)).await;
    click(&c, "#login-submit").await;
    wait_for(
        &c,
        "the console",
        "return location.pathname === '/console' && document.body.dataset.ready === '1'",
    )
    .await;
    assert!(c.get_named_cookie("fieldops_session").await.is_ok());
    assert_eq!(page_errors(&c).await, "");
    c.close().await.unwrap();
}
