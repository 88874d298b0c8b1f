//! Issue 15, item 2, over HTTP: every entry records the client's address, user agent and
//! source; `X-Forwarded-For` counts only from a trusted proxy; logins (good and bad) and
//! logouts are logged; the admin's filters and CSV export.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use domain::testing::Fixture;
use domain::Backend;
use mobile_shared::Role;
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE, COOKIE, SET_COOKIE, USER_AGENT};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

domain::backend_matrix!(
    TestApp:
    api_writes_record_the_client_and_source,
    console_writes_are_recorded_as_console,
    logins_failed_logins_and_logouts_are_logged,
    the_filters_narrow_and_refuse_bad_values,
    the_csv_export_is_complete_safe_and_audited,
);

mod proxies {
    use super::*;
    domain::backend_matrix!(Proxied: forwarded_for_counts_only_from_a_trusted_proxy);
}

/// The admin's audit entries of `action`, newest first.
async fn entries(app: &TestApp, action: &str) -> Vec<Value> {
    app.audit(&[("action", action)]).await
}

async fn api_writes_record_the_client_and_source(app: TestApp) {
    let resp = app
        .request(Method::POST, "/api/v1/assets", app.admin())
        .header(USER_AGENT, "fieldops-phone/2.1 (test)")
        // Not a trusted proxy's: ignored.
        .header("x-forwarded-for", "198.51.100.23")
        .json(&json!({"code": "AUD-1", "name": "Audited"}))
        .send()
        .await
        .unwrap();
    let asset = expect_json(resp, StatusCode::CREATED).await;
    let created = entries(&app, "asset.create").await;
    assert_eq!(created.len(), 1, "{created:?}");
    let e = &created[0];
    assert_eq!(e["entity_id"], asset["id"]);
    assert_eq!(e["source"], "api", "a bearer token is the API");
    assert_eq!(e["ip"], "127.0.0.1", "the peer, not the forged header: {e}");
    assert_eq!(e["user_agent"], "fieldops-phone/2.1 (test)");
    assert_eq!(e["actor"], "admin");
}

/// Logs in through the console's route; returns the `Cookie` header value.
async fn cookie_login(app: &TestApp, username: &str, password: &str, agent: &str) -> String {
    let resp = app
        .request(Method::POST, "/api/v1/auth/session", None)
        .header(USER_AGENT, agent)
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    let set_cookie = header(&resp, SET_COOKIE.as_str());
    expect_json(resp, StatusCode::OK).await;
    set_cookie.split(';').next().unwrap().trim().to_owned()
}

async fn console_writes_are_recorded_as_console(app: TestApp) {
    let cookie = cookie_login(&app, "admin", ADMIN_PASSWORD, "Browser/1.0").await;
    let resp = app
        .request(Method::PATCH, "/api/v1/auth/session", None)
        .header(COOKIE, &cookie)
        .header("x-fieldops-csrf", "1")
        .header(USER_AGENT, "Browser/1.0")
        .json(&json!({"locale": "en"}))
        .send()
        .await
        .unwrap();
    expect_json(resp, StatusCode::OK).await;
    let updates = entries(&app, "user.update").await;
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(updates[0]["source"], "console");
    assert_eq!(updates[0]["user_agent"], "Browser/1.0");
    assert_eq!(updates[0]["ip"], "127.0.0.1");
    // The console's login itself is a console login.
    let logins = entries(&app, "user.login").await;
    assert_eq!(logins[0]["source"], "console", "{logins:?}");
    // Logging out by cookie is the console's too.
    let resp = app
        .request(Method::DELETE, "/api/v1/auth/session", None)
        .header(COOKIE, &cookie)
        .header("x-fieldops-csrf", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let logouts = entries(&app, "user.logout").await;
    assert_eq!(logouts.len(), 1);
    assert_eq!(logouts[0]["source"], "console");
}

async fn logins_failed_logins_and_logouts_are_logged(app: TestApp) {
    // The harness logged the admin in once already.
    let logins = entries(&app, "user.login").await;
    assert_eq!(logins.len(), 1, "{logins:?}");
    let token = app
        .request(Method::POST, "/api/v1/auth/login", None)
        .header(USER_AGENT, "script/0.1")
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    let token = expect_json(token, StatusCode::OK).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let logins = entries(&app, "user.login").await;
    assert_eq!(logins.len(), 2);
    let login = &logins[0];
    assert_eq!(
        (
            &login["actor"],
            &login["source"],
            &login["ip"],
            &login["user_agent"]
        ),
        (
            &json!("admin"),
            &json!("api"),
            &json!("127.0.0.1"),
            &json!("script/0.1")
        )
    );
    assert_eq!(login["entity"], "user");
    assert!(login["actor_user_id"].is_string(), "{login}");

    // Wrong password, unknown user, absurd name: each a failed login under the name given
    // (cut to 64 characters), never the password.
    let long = format!("{}-tail", "x".repeat(300));
    for (username, password) in [
        ("admin", "wrong-password-1"),
        ("nobody", "another-secret-2"),
        (long.as_str(), "third-secret-3"),
    ] {
        let resp = app.login_attempt(username, password).await;
        expect_problem(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    let failed = entries(&app, "user.login_failed").await;
    assert_eq!(failed.len(), 3, "{failed:?}");
    let names: Vec<&str> = failed
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["x".repeat(64).as_str(), "nobody", "admin"]);
    for e in &failed {
        let text = e.to_string();
        for secret in ["wrong-password-1", "another-secret-2", "third-secret-3"] {
            assert!(!text.contains(secret), "a password in the log: {text}");
        }
        assert_eq!(e["after"]["reason"], "invalid_credentials");
        assert_eq!(e["after"]["username"], e["actor"]);
        assert!(e["actor_user_id"].is_null(), "{e}");
        assert_eq!(e["entity_id"], uuid::Uuid::nil().to_string());
        assert_eq!(e["ip"], "127.0.0.1");
        assert_eq!(e["source"], "api");
    }

    let resp = app
        .request(Method::POST, "/api/v1/auth/logout", token.as_str())
        .header(USER_AGENT, "script/0.1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let logouts = entries(&app, "user.logout").await;
    assert_eq!(logouts.len(), 1);
    assert_eq!(logouts[0]["actor"], "admin");
    assert_eq!(logouts[0]["user_agent"], "script/0.1");
    assert_eq!(logouts[0]["entity_id"], login["entity_id"]);
}

async fn the_filters_narrow_and_refuse_bad_values(app: TestApp) {
    app.asset("FIL-1").await;
    let by = |q: &'static [(&'static str, &'static str)]| app.audit(q);
    assert_eq!(
        by(&[("ip", "127.0.0.1"), ("action", "asset.create")])
            .await
            .len(),
        1
    );
    assert_eq!(
        by(&[("ip", "::ffff:127.0.0.1"), ("action", "asset.create")])
            .await
            .len(),
        1
    );
    assert_eq!(by(&[("ip", "192.0.2.1")]).await.len(), 0);
    assert_eq!(
        by(&[("source", "api"), ("action", "asset.create")])
            .await
            .len(),
        1
    );
    assert_eq!(
        by(&[("source", "console"), ("action", "asset.create")])
            .await
            .len(),
        0
    );
    assert_eq!(
        by(&[("actor", "admin"), ("entity", "asset")]).await.len(),
        1
    );
    assert_eq!(by(&[("from", "2999-01-01T00:00:00Z")]).await.len(), 0);
    // A bad filter is a 422 whose `query` message names the parameter (the query extractor's
    // convention), and the export writes nothing, not even its own entry.
    for (path, name) in [
        ("/api/v1/audit-log?source=telepathy", "source"),
        ("/api/v1/audit-log?ip=not-an-ip", "ip"),
        ("/api/v1/audit-log/export.csv?ip=not-an-ip", "ip"),
        ("/api/v1/audit-log/export.csv?source=x", "source"),
    ] {
        let body = app.get_invalid(path, &["query"]).await;
        let message = body["fields"]["query"].as_str().unwrap();
        assert!(message.starts_with(name), "{path}: {body}");
    }
    assert!(entries(&app, "audit_log.export").await.is_empty());
}

/// The CSV export's rows, header first.
async fn export(
    app: &TestApp,
    token: &str,
    query: &[(&str, &str)],
) -> (Vec<csv::StringRecord>, String) {
    let resp = app
        .request(Method::GET, "/api/v1/audit-log/export.csv", token)
        .query(query)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let content_type = header(&resp, CONTENT_TYPE.as_str());
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    let disposition = header(&resp, CONTENT_DISPOSITION.as_str());
    assert!(disposition.starts_with("attachment"), "{disposition}");
    let text = resp.text().await.unwrap();
    let rows = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("not CSV ({e}): {text}"));
    (rows, text)
}

async fn the_csv_export_is_complete_safe_and_audited(app: TestApp) {
    // A name and a user agent a spreadsheet would run as formulas.
    let resp = app
        .request(Method::POST, "/api/v1/sites", app.admin())
        .header(USER_AGENT, "@SUM(1+1)*cmd")
        .json(&json!({"name": "=HYPERLINK(\"http://evil\")", "kind": "depot"}))
        .send()
        .await
        .unwrap();
    let site = expect_json(resp, StatusCode::CREATED).await;
    // More than one page of the export (500 entries a page), written past HTTP for speed.
    for i in 0..510 {
        let new = mobile_shared::wire::NewSite {
            name: format!("Bulk, \"site\" {i}"),
            kind: mobile_shared::wire::SiteKind::Depot,
            customer_id: None,
            address: None,
            location: None,
            geofence: None,
        };
        domain::sites::create(&app.db.store, &domain::Actor::cli(), new)
            .await
            .unwrap();
    }

    let (rows, text) = export(&app, app.admin(), &[("action", "site.create")]).await;
    assert_eq!(
        rows[0].iter().collect::<Vec<_>>(),
        [
            "id",
            "at",
            "source",
            "actor",
            "actor_user_id",
            "ip",
            "user_agent",
            "action",
            "entity",
            "entity_id",
            "before",
            "after"
        ]
    );
    assert_eq!(rows.len(), 1 + 511, "every entry, across pages");
    let ids: std::collections::HashSet<&str> = rows[1..].iter().map(|r| &r[0]).collect();
    assert_eq!(ids.len(), 511, "no entry twice");
    // Newest first: the HTTP-made site is the oldest.
    let last = rows.last().unwrap();
    assert_eq!(&last[9], site["id"].as_str().unwrap());
    assert_eq!(&last[2], "api");
    assert_eq!(&last[5], "127.0.0.1");
    assert_eq!(&last[6], "'@SUM(1+1)*cmd", "formula-safe user agent");
    let after: Value = serde_json::from_str(&last[11]).unwrap();
    assert_eq!(
        after["name"], "=HYPERLINK(\"http://evil\")",
        "JSON cells keep their text"
    );
    assert!(
        !text.contains("\n=") && !text.contains(",="),
        "a cell starts with `=`: {text}"
    );
    // Quotes and commas survive the round trip.
    let bulk: Value = serde_json::from_str(&rows[1][11]).unwrap();
    assert_eq!(bulk["name"], "Bulk, \"site\" 509");
    assert_eq!(&rows[1][2], "cli");
    assert_eq!(&rows[1][5], "", "no client for the CLI");

    // The export is itself audited, with its filter.
    let exports = entries(&app, "audit_log.export").await;
    assert_eq!(exports.len(), 1, "{exports:?}");
    assert_eq!(exports[0]["after"]["format"], "csv");
    assert_eq!(exports[0]["after"]["filter"]["action"], "site.create");
    assert_eq!(exports[0]["ip"], "127.0.0.1");

    // Filters apply: nothing matches, only the header.
    let (rows, _) = export(&app, app.admin(), &[("ip", "192.0.2.99")]).await;
    assert_eq!(rows.len(), 1);

    // Admins only; a refusal exports nothing and records no export.
    for role in [Role::Dispatcher, Role::Viewer, Role::Legal] {
        let token = app.user_with_role(role).await;
        let resp = app
            .get("/api/v1/audit-log/export.csv", token.as_str())
            .await;
        expect_forbidden(resp).await;
    }
    assert_eq!(entries(&app, "audit_log.export").await.len(), 2);
    expect_unauthenticated(app.get("/api/v1/audit-log/export.csv", None).await).await;
}

/// Two servers: one trusting the test client's address (127.0.0.1) as a proxy, one trusting
/// only a network the client is not in.
struct Proxied {
    trusting: TestApp,
    other: TestApp,
}

impl Fixture for Proxied {
    async fn open(backend: Backend) -> Option<Proxied> {
        let config = |proxy: &str| api::ApiConfig {
            trusted_proxies: vec![api::client::parse_trusted_proxy(proxy).unwrap()],
            ..Default::default()
        };
        Some(Proxied {
            trusting: TestApp::start(backend, config("127.0.0.0/8")).await?,
            other: TestApp::start(backend, config("10.0.0.0/8")).await?,
        })
    }
}

async fn forwarded_for_counts_only_from_a_trusted_proxy(apps: Proxied) {
    for (app, xff, want) in [
        // From the trusted proxy: the client it names (the rightmost untrusted hop; the
        // forged left part is never reached).
        (&apps.trusting, "6.6.6.6, 203.0.113.50", "203.0.113.50"),
        (&apps.trusting, "2001:db8::7", "2001:db8::7"),
        // A chain of trusted proxies: skipped.
        (&apps.trusting, "203.0.113.51, 127.0.0.9", "203.0.113.51"),
        // Garbage: the peer.
        (&apps.trusting, "bogus", "127.0.0.1"),
        // From a peer that is not a trusted proxy: the header is ignored.
        (&apps.other, "203.0.113.50", "127.0.0.1"),
    ] {
        let code = format!(
            "XFF-{}",
            app.audit(&[("action", "asset.create")]).await.len()
        );
        let resp = app
            .request(Method::POST, "/api/v1/assets", app.admin())
            .header("x-forwarded-for", xff)
            .json(&json!({"code": code, "name": "proxied"}))
            .send()
            .await
            .unwrap();
        expect_json(resp, StatusCode::CREATED).await;
        let newest = &app.audit(&[("action", "asset.create")]).await[0];
        assert_eq!(newest["ip"], want, "X-Forwarded-For: {xff}");
    }
    // Failed logins too: the address an operator would block.
    let resp = apps
        .trusting
        .request(Method::POST, "/api/v1/auth/login", None)
        .header("x-forwarded-for", "203.0.113.66")
        .json(&json!({"username": "admin", "password": "guess"}))
        .send()
        .await
        .unwrap();
    expect_problem(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let failed = apps
        .trusting
        .audit(&[("action", "user.login_failed"), ("ip", "203.0.113.66")])
        .await;
    assert_eq!(failed.len(), 1);
}
