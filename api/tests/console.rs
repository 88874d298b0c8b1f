//! The console over plain HTTP: the session cookie (attributes, the same role matrix as bearer
//! tokens, CSRF rules, logout), the pages (login page without a session, CSP), and the embedded
//! static files (types, ETags). The page in a real browser: `console_browser.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use mobile_shared::Role;
use reqwest::header::{CONTENT_TYPE, COOKIE, ETAG, IF_NONE_MATCH, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::json;

domain::backend_matrix!(
    TestApp:
    session_cookie_is_httponly_strict_and_hides_the_token,
    cookie_authenticates_with_the_role_matrix,
    cookie_writes_need_the_csrf_header_and_our_origin,
    deleting_the_session_revokes_it_and_clears_the_cookie,
    logout_by_cookie_revokes_the_session,
    pages_need_a_session_and_carry_a_strict_csp,
    static_files_have_types_and_etags,
    every_role_sets_its_own_language,
);

/// Logs in through the console route; returns the `Cookie` header value and the response body.
async fn cookie_login(
    app: &TestApp,
    username: &str,
    password: &str,
) -> (String, serde_json::Value) {
    let resp = app
        .request(Method::POST, "/api/v1/auth/session", None)
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    let set_cookie = header(&resp, SET_COOKIE.as_str());
    let body = expect_json(resp, StatusCode::OK).await;
    let pair = set_cookie.split(';').next().unwrap().trim().to_owned();
    assert!(pair.starts_with("fieldops_session="), "{set_cookie}");
    (pair, body)
}

fn with_cookie(app: &TestApp, method: Method, path: &str, cookie: &str) -> reqwest::RequestBuilder {
    app.request(method, path, None).header(COOKIE, cookie)
}

async fn session_cookie_is_httponly_strict_and_hides_the_token(app: TestApp) {
    let resp = app
        .request(Method::POST, "/api/v1/auth/session", None)
        .json(&json!({"username": "Admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    let set_cookie = header(&resp, SET_COOKIE.as_str());
    let body = expect_json(resp, StatusCode::OK).await;
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(
            set_cookie.contains(attribute),
            "{attribute} missing: {set_cookie}"
        );
    }
    // Plain HTTP and not configured: not Secure (the browser would drop it).
    assert!(!set_cookie.contains("Secure"), "{set_cookie}");
    assert_eq!(body["user"]["username"], "admin");
    assert!(
        body.get("token").is_none(),
        "the token is only in the cookie: {body}"
    );
    let token = set_cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("fieldops_session=");
    assert!(token.len() >= 20);
    // The token is a session like any other: it works as a bearer token too.
    assert_eq!(
        app.get("/api/v1/assets", token).await.status(),
        StatusCode::OK
    );

    // A wrong password sets no cookie and gets the one answer of the bearer login.
    let resp = app
        .request(Method::POST, "/api/v1/auth/session", None)
        .json(&json!({"username": "admin", "password": "wrong-password"}))
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get(SET_COOKIE).is_none());
    expect_problem(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;

    // Served over HTTPS (public URL or configured): Secure.
    let secure = TestApp::start(
        app.backend,
        api::ApiConfig {
            secure_cookies: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let resp = secure
        .request(Method::POST, "/api/v1/auth/session", None)
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert!(header(&resp, SET_COOKIE.as_str()).contains("; Secure"));
}

async fn cookie_authenticates_with_the_role_matrix(app: TestApp) {
    app.user_with_role(Role::Viewer).await;
    let viewer = app.get_ok("/api/v1/users?limit=500", app.admin()).await;
    let viewer_name = items(&viewer)
        .iter()
        .map(|u| s(u, "username").to_owned())
        .find(|u| u != "admin")
        .unwrap();
    let (cookie, _) = cookie_login(&app, &viewer_name, USER_PASSWORD).await;

    let me = expect_json(
        with_cookie(&app, Method::GET, "/api/v1/auth/session", &cookie)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["role"], "viewer");
    assert_eq!(me["username"], viewer_name.as_str());
    // Reads the viewer may do, the cookie may do.
    let resp = with_cookie(&app, Method::GET, "/api/v1/assets", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // What the viewer may not do, the cookie may not do either: 403, not a CSRF refusal.
    let resp = with_cookie(&app, Method::POST, "/api/v1/assets", &cookie)
        .header("x-fieldops-csrf", "1")
        .json(&json!({"code": "COOKIE-1", "name": "by cookie"}))
        .send()
        .await
        .unwrap();
    expect_problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let resp = with_cookie(&app, Method::GET, "/api/v1/users", &cookie)
        .send()
        .await
        .unwrap();
    expect_problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
    // A garbage cookie is no session.
    let resp = with_cookie(
        &app,
        Method::GET,
        "/api/v1/assets",
        "fieldops_session=garbage",
    )
    .send()
    .await
    .unwrap();
    expect_unauthenticated(resp).await;
}

async fn cookie_writes_need_the_csrf_header_and_our_origin(app: TestApp) {
    let (cookie, _) = cookie_login(&app, "admin", ADMIN_PASSWORD).await;
    let new = |code: &str| json!({"code": code, "name": "csrf probe"});

    // No header: refused before anything is written.
    let resp = with_cookie(&app, Method::POST, "/api/v1/assets", &cookie)
        .json(&new("CSRF-1"))
        .send()
        .await
        .unwrap();
    expect_problem(resp, StatusCode::FORBIDDEN, "csrf_rejected").await;
    let resp = with_cookie(&app, Method::POST, "/api/v1/assets", &cookie)
        .header("x-fieldops-csrf", "0")
        .json(&new("CSRF-1"))
        .send()
        .await
        .unwrap();
    expect_problem(resp, StatusCode::FORBIDDEN, "csrf_rejected").await;
    // The header, but sent from another site's page.
    let resp = with_cookie(&app, Method::POST, "/api/v1/assets", &cookie)
        .header("x-fieldops-csrf", "1")
        .header("origin", "https://evil.example")
        .json(&new("CSRF-1"))
        .send()
        .await
        .unwrap();
    expect_problem(resp, StatusCode::FORBIDDEN, "csrf_rejected").await;
    let listed = app.get_ok("/api/v1/assets?q=CSRF-1", app.admin()).await;
    assert!(items(&listed).is_empty(), "a refused write wrote: {listed}");

    // The header from our own origin: written, and audited as the cookie's user.
    let resp = with_cookie(&app, Method::POST, "/api/v1/assets", &cookie)
        .header("x-fieldops-csrf", "1")
        .header("origin", app.base.clone())
        .json(&new("CSRF-2"))
        .send()
        .await
        .unwrap();
    let created = expect_json(resp, StatusCode::CREATED).await;
    let audit = app.audit(&[("entity_id", s(&created, "id"))]).await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["actor"], "admin", "{audit:?}");

    // Bearer tokens are not sent by browsers on their own: no header needed.
    let resp = app
        .post("/api/v1/assets", app.admin(), &new("CSRF-3"))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);

    // Logging in from another site's page is refused (login CSRF).
    let resp = app
        .request(Method::POST, "/api/v1/auth/session", None)
        .header("origin", "https://evil.example")
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get(SET_COOKIE).is_none());
    expect_problem(resp, StatusCode::FORBIDDEN, "csrf_rejected").await;
}

async fn deleting_the_session_revokes_it_and_clears_the_cookie(app: TestApp) {
    let (cookie, _) = cookie_login(&app, "admin", ADMIN_PASSWORD).await;
    // Logging out is a write: without the header a foreign page could sign the user out.
    let resp = with_cookie(&app, Method::DELETE, "/api/v1/auth/session", &cookie)
        .send()
        .await
        .unwrap();
    expect_problem(resp, StatusCode::FORBIDDEN, "csrf_rejected").await;
    let resp = with_cookie(&app, Method::DELETE, "/api/v1/auth/session", &cookie)
        .header("x-fieldops-csrf", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let cleared = header(&resp, SET_COOKIE.as_str());
    assert!(
        cleared.starts_with("fieldops_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    // The old cookie is dead server-side, whatever the browser keeps.
    let resp = with_cookie(&app, Method::GET, "/api/v1/assets", &cookie)
        .send()
        .await
        .unwrap();
    expect_unauthenticated(resp).await;
    // Bearer sessions of the same user live on.
    assert_eq!(
        app.get("/api/v1/assets", app.admin()).await.status(),
        StatusCode::OK
    );
}

/// `POST /api/v1/auth/logout` signed in by the cookie (it used to look only for a bearer token
/// and answered 401): the same CSRF rules as any cookie write, then the session is dead.
async fn logout_by_cookie_revokes_the_session(app: TestApp) {
    let (cookie, _) = cookie_login(&app, "admin", ADMIN_PASSWORD).await;
    let resp = with_cookie(&app, Method::POST, "/api/v1/auth/logout", &cookie)
        .send()
        .await
        .unwrap();
    expect_problem(resp, StatusCode::FORBIDDEN, "csrf_rejected").await;
    let resp = with_cookie(&app, Method::POST, "/api/v1/auth/logout", &cookie)
        .header("x-fieldops-csrf", "1")
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    expect_problem(resp, StatusCode::FORBIDDEN, "csrf_rejected").await;
    // Still signed in after the refused attempts.
    let resp = with_cookie(&app, Method::GET, "/api/v1/auth/session", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    let resp = with_cookie(&app, Method::POST, "/api/v1/auth/logout", &cookie)
        .header("x-fieldops-csrf", "1")
        .header("origin", app.base.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let cleared = header(&resp, SET_COOKIE.as_str());
    assert!(
        cleared.starts_with("fieldops_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    for (method, path) in [
        (Method::GET, "/api/v1/auth/session"),
        (Method::GET, "/api/v1/assets"),
    ] {
        let resp = with_cookie(&app, method, path, &cookie)
            .send()
            .await
            .unwrap();
        expect_unauthenticated(resp).await;
    }
    // A second logout with the dead cookie: 401, not a crash or a 204.
    let resp = with_cookie(&app, Method::POST, "/api/v1/auth/logout", &cookie)
        .header("x-fieldops-csrf", "1")
        .send()
        .await
        .unwrap();
    expect_unauthenticated(resp).await;
    // Bearer sessions of the same user live on.
    assert_eq!(
        app.get("/api/v1/assets", app.admin()).await.status(),
        StatusCode::OK
    );
}

async fn pages_need_a_session_and_carry_a_strict_csp(app: TestApp) {
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in ["/", "/console", "/console?status=lost"] {
        let resp = no_redirects.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(
            header(&resp, CONTENT_TYPE.as_str()),
            "text/html; charset=utf-8"
        );
        assert_eq!(header(&resp, "cache-control"), "no-store");
        let csp = header(&resp, "content-security-policy");
        for directive in [
            "default-src 'none'",
            "script-src 'self';",
            "worker-src 'self' blob:",
            "img-src 'self' data: blob:;",
            "frame-ancestors 'none'",
        ] {
            assert!(
                csp.contains(directive),
                "{path}: {directive} missing in {csp}"
            );
        }
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        let html = resp.text().await.unwrap();
        assert!(
            html.contains("id=\"login-form\""),
            "{path} without a session: login page"
        );
        assert!(!html.contains("<script>"), "no inline script");
    }

    let (cookie, _) = cookie_login(&app, "admin", ADMIN_PASSWORD).await;
    let resp = no_redirects
        .get(app.url("/"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(&resp, LOCATION.as_str()), "/console");
    let resp = no_redirects
        .get(app.url("/console"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    assert!(html.contains("id=\"map\"") && !html.contains("login-form"));
    // No style configured: the page gets an empty one and draws the offline basemap.
    assert!(
        html.contains("<meta name=\"fieldops:map-style\" content=\"\">"),
        "{html}"
    );

    // A configured style URL reaches the page (escaped) and its origin the CSP.
    let styled = TestApp::start(
        app.backend,
        api::ApiConfig {
            map_style_url: Some("https://tiles.example.org/style.json?a=1&b=\"2\"".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (cookie, _) = cookie_login(&styled, "admin", ADMIN_PASSWORD).await;
    let resp = no_redirects
        .get(styled.url("/console"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    let csp = header(&resp, "content-security-policy");
    assert!(
        csp.contains("connect-src 'self' https://tiles.example.org;"),
        "{csp}"
    );
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("content=\"https://tiles.example.org/style.json?a=1&amp;b=&quot;2&quot;\""),
        "{html}"
    );
}

async fn static_files_have_types_and_etags(app: TestApp) {
    for (path, content_type) in [
        ("/static/js/console.mjs", "text/javascript; charset=utf-8"),
        (
            "/static/vendor/maplibre-gl/dist/maplibre-gl.mjs",
            "text/javascript; charset=utf-8",
        ),
        (
            "/static/vendor/maplibre-gl/dist/maplibre-gl-worker.mjs",
            "text/javascript; charset=utf-8",
        ),
        (
            "/static/vendor/maplibre-gl/dist/maplibre-gl.css",
            "text/css; charset=utf-8",
        ),
        (
            "/static/vendor/world-atlas/countries-110m.json",
            "application/json; charset=utf-8",
        ),
        ("/static/i18n/zh-CN.json", "application/json; charset=utf-8"),
    ] {
        // Static files need no session: they hold no data.
        let resp = app.get(path, None).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&resp, CONTENT_TYPE.as_str()), content_type, "{path}");
        assert_eq!(header(&resp, "x-content-type-options"), "nosniff");
        let etag = header(&resp, ETAG.as_str());
        let bytes = resp.bytes().await.unwrap();
        let on_disk = std::fs::read(format!(
            "{}/../web/{}",
            env!("CARGO_MANIFEST_DIR"),
            &path["/static/".len()..]
        ))
        .unwrap();
        assert!(bytes == on_disk, "{path}: served bytes differ from web/");
        let again = app
            .request(Method::GET, path, None)
            .header(IF_NONE_MATCH, &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert!(again.bytes().await.unwrap().is_empty());
    }
    // Only the page's files are served: not the npm manifests, not the pages' templates.
    for path in [
        "/static/package.json",
        "/static/vendor.list",
        "/static/pages/console.html",
        "/static/../Cargo.toml",
        "/static/nothing.js",
    ] {
        let resp = app.get(path, None).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

// ---- i18n catalogues (no server) ----------------------------------------------------------------

fn web_file(path: &str) -> String {
    std::fs::read_to_string(format!("{}/../web/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn catalogue_keys(lang: &str) -> std::collections::BTreeSet<String> {
    let v: serde_json::Value =
        serde_json::from_str(&web_file(&format!("i18n/{lang}.json"))).unwrap();
    let map = v.as_object().unwrap();
    for (key, value) in map {
        assert!(
            value.as_str().is_some_and(|s| !s.trim().is_empty()),
            "{lang}: {key} is not a non-empty string"
        );
    }
    map.keys().cloned().collect()
}

/// Every language has every string: a key missing in one catalogue would show as its key.
#[test]
fn the_catalogues_have_the_same_keys() {
    let en = catalogue_keys("en");
    let zh = catalogue_keys("zh-CN");
    let only_en: Vec<_> = en.difference(&zh).collect();
    let only_zh: Vec<_> = zh.difference(&en).collect();
    assert!(
        only_en.is_empty() && only_zh.is_empty(),
        "only in en: {only_en:?}; only in zh-CN: {only_zh:?}"
    );
}

/// Every key the pages name exists: `data-i18n*` attributes, `t('…')` literals, and the keys
/// built from the server's enums (`status.<status>`, `status.<status>.count`, `role.<role>`).
#[test]
fn every_key_the_pages_use_is_in_the_catalogue() {
    let en = catalogue_keys("en");
    let mut used = std::collections::BTreeSet::new();
    let attribute = |src: &str, attr: &str, out: &mut std::collections::BTreeSet<String>| {
        let needle = format!("{attr}=\"");
        for part in src.split(&needle).skip(1) {
            out.insert(part.split('"').next().unwrap().to_owned());
        }
    };
    for page in ["pages/login.html", "pages/console.html"] {
        let html = web_file(page);
        for attr in ["data-i18n", "data-i18n-title", "data-i18n-placeholder"] {
            attribute(&html, attr, &mut used);
        }
    }
    for script in [
        "js/login.mjs",
        "js/console.mjs",
        "js/drawer.mjs",
        "js/lists.mjs",
        "js/office.mjs",
        "js/contracts.mjs",
    ] {
        let js = web_file(script);
        // `t('key'` where `t` is the whole name (not `get('`, `createElement('`).
        for (at, _) in js.match_indices("t('") {
            // `ctx.t('key'` too: the drawer and the lists get `t` in their context object.
            let before = js[..at].chars().next_back();
            let of_ctx = js[..at].ends_with("ctx.");
            if !of_ctx && before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
                continue;
            }
            let rest = &js[at + 3..];
            used.insert(rest.split('\'').next().unwrap().to_owned());
        }
    }
    for status in mobile_shared::AssetStatus::ALL {
        let wire = serde_json::to_value(status).unwrap();
        let wire = wire.as_str().unwrap();
        used.insert(format!("status.{wire}"));
        used.insert(format!("status.{wire}.count"));
        assert!(
            web_file("js/console.mjs").contains(&format!("{wire}: '#")),
            "no colour for {wire}"
        );
    }
    for role in Role::ALL {
        used.insert(format!("role.{role}"));
    }
    // Keys the drawer and the lists build from the server's enums.
    let wire = |v: serde_json::Value| v.as_str().unwrap().to_owned();
    {
        use mobile_shared::scan::FieldAction::*;
        for action in [
            Lookup,
            Deliver,
            Return,
            Inspect,
            Transfer,
            Meter,
            Audit,
            StartWork,
            CompleteWork,
        ] {
            used.insert(format!("drawer.scan.action.{}", action.as_str()));
        }
    }
    for urgency in mobile_shared::maintenance::Urgency::ALL {
        used.insert(format!(
            "drawer.urgency.{}",
            wire(serde_json::to_value(urgency).unwrap())
        ));
    }
    for reason in [
        mobile_shared::alerts::StaleReason::PositionOld,
        mobile_shared::alerts::StaleReason::NoPosition,
        mobile_shared::alerts::StaleReason::TrackerOffline,
        mobile_shared::alerts::StaleReason::TrackerSilent,
    ] {
        used.insert(format!(
            "list.reason.{}",
            wire(serde_json::to_value(reason).unwrap())
        ));
    }
    for state in mobile_shared::maintenance::WorkOrderState::ALL {
        let state = wire(serde_json::to_value(state).unwrap());
        if state != "done" && state != "cancelled" {
            used.insert(format!("drawer.work_order.state.{state}"));
        }
    }
    for list in ["assets", "stale", "off_site", "service_due", "sites"] {
        used.insert(format!("list.{list}"));
    }
    assert!(used.len() > 30, "the scan found too few keys: {used:?}");
    let missing: Vec<_> = used.difference(&en).collect();
    assert!(
        missing.is_empty(),
        "keys used but not in the catalogue: {missing:?}"
    );
}

/// `PATCH /api/v1/auth/session {locale}`: each role sets its own console language (by cookie
/// with the CSRF header, or by bearer token), the session answer carries it, `null` clears it,
/// anything else is a 422 naming `locale`, and the change is audited.
async fn every_role_sets_its_own_language(app: TestApp) {
    let me = app.get_ok("/api/v1/auth/session", app.admin()).await;
    assert_eq!(me["locale"], serde_json::Value::Null, "{me}");
    for role in Role::ALL {
        let token = app.user_with_role(role).await;
        let set = expect_json(
            app.patch(
                "/api/v1/auth/session",
                token.as_str(),
                &json!({"locale": "zh-CN"}),
            )
            .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(set["locale"], "zh-CN", "{role:?}: {set}");
        let me = app.get_ok("/api/v1/auth/session", token.as_str()).await;
        assert_eq!(me["locale"], "zh-CN", "{role:?}");
        // Only their own: the admin's stays unset.
        assert_eq!(
            app.get_ok("/api/v1/auth/session", app.admin()).await["locale"],
            serde_json::Value::Null
        );
    }
    for bad in [
        json!({"locale": "fr"}),
        json!({"locale": "zh-cn"}),
        json!({"locale": 7}),
        json!({}),
    ] {
        let resp = app.patch("/api/v1/auth/session", app.admin(), &bad).await;
        expect_only_field(resp, "locale").await;
    }
    // By cookie, as the console does: the CSRF header is required.
    let (cookie, _) = cookie_login(&app, "admin", ADMIN_PASSWORD).await;
    let refused = with_cookie(&app, Method::PATCH, "/api/v1/auth/session", &cookie)
        .json(&json!({"locale": "en"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let set = expect_json(
        with_cookie(&app, Method::PATCH, "/api/v1/auth/session", &cookie)
            .header("x-fieldops-csrf", "1")
            .json(&json!({"locale": "en"}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(set["locale"], "en");
    let cleared = expect_json(
        app.patch(
            "/api/v1/auth/session",
            app.admin(),
            &json!({"locale": null}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(cleared["locale"], serde_json::Value::Null);
    let changes = app.audit(&[("entity", "user")]).await;
    assert!(
        changes
            .iter()
            .filter(|e| e["after"].get("locale").is_some_and(|l| l == "en"))
            .count()
            >= 1,
        "{changes:?}"
    );
}
