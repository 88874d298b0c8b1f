//! The error contract (status, code, JSON body, request id) and the operational endpoints.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

domain::backend_matrix!(
    TestApp:
    malformed_json_is_400,
    trailing_data_after_json_is_400,
    json_of_the_wrong_shape_is_422_naming_the_field,
    wrong_content_type_is_415,
    oversized_body_is_413_json,
    unknown_route_and_wrong_method_are_json,
    request_ids_are_set_or_echoed,
    health_and_readiness_are_public,
    metrics_count_requests_by_route,
    openapi_documents_every_route,
);

async fn post_raw(
    app: &TestApp,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> reqwest::Response {
    let mut req = app.request(Method::POST, path, app.admin()).body(body);
    if let Some(ct) = content_type {
        req = req.header(CONTENT_TYPE, ct);
    }
    req.send().await.unwrap()
}

/// Posts `body` as `application/json` to `path`.
async fn post_json_bytes(app: &TestApp, path: &str, body: &[u8]) -> reqwest::Response {
    post_raw(app, path, Some("application/json"), body.to_vec()).await
}

async fn asset_count(app: &TestApp) -> usize {
    items(&app.get_ok("/api/v1/assets", app.admin()).await).len()
}

async fn malformed_json_is_400(app: TestApp) {
    let cases: [(&str, &[u8]); 5] = [
        ("/api/v1/assets", b"{\"code\": "),
        ("/api/v1/assets", b"{code: 1}"),
        ("/api/v1/assets", b""),
        ("/api/v1/assets", b"not json"),
        // Login is no different.
        ("/api/v1/auth/login", b"{"),
    ];
    for (path, body) in cases {
        let resp = post_json_bytes(&app, path, body).await;
        let problem = expect_problem(resp, StatusCode::BAD_REQUEST, "malformed_json").await;
        let case = String::from_utf8_lossy(body);
        assert!(
            problem.get("fields").is_none(),
            "{path} {case:?}: {problem}"
        );
    }
    assert_eq!(asset_count(&app).await, 0);
}

/// A JSON value followed by anything but whitespace is not a JSON document; accepting it would
/// let a truncated or concatenated body through half-read.
async fn trailing_data_after_json_is_400(app: TestApp) {
    for body in [
        &br#"{"code":"TR-1","name":"b"} trailing"#[..],
        br#"{"code":"TR-2","name":"b"}{"code":"TR-3","name":"c"}"#,
    ] {
        let resp = post_json_bytes(&app, "/api/v1/assets", body).await;
        expect_problem(resp, StatusCode::BAD_REQUEST, "malformed_json").await;
    }
    // Trailing whitespace is fine.
    let body = b"{\"code\":\"TR-4\",\"name\":\"b\"}\n \n";
    let resp = post_json_bytes(&app, "/api/v1/assets", body).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(asset_count(&app).await, 1);
}

async fn json_of_the_wrong_shape_is_422_naming_the_field(app: TestApp) {
    let admin = Some(app.admin());
    // (path, token, body, the one field named, what its message says)
    let cases = [
        // A missing required field is named.
        (
            "/api/v1/assets",
            admin,
            json!({"name": "no code"}),
            "code",
            Some("missing field"),
        ),
        (
            "/api/v1/auth/login",
            None,
            json!({"username": "admin"}),
            "password",
            None,
        ),
        // An unknown field is refused, and the message says which.
        (
            "/api/v1/assets",
            admin,
            json!({"code": "U-1", "name": "x", "colour": "red"}),
            "colour",
            Some("unknown field"),
        ),
        // A missing field inside a tagged object is named by its path.
        (
            "/api/v1/sites",
            admin,
            json!({"name": "x", "kind": "depot",
                   "geofence": {"type": "circle", "center": {"lat": 1.0, "lon": 1.0}}}),
            "geofence.radius_m",
            None,
        ),
        // A value of the wrong type is named, nested ones by their path.
        (
            "/api/v1/assets",
            admin,
            json!({"code": 42, "name": "x"}),
            "code",
            None,
        ),
        (
            "/api/v1/assets",
            admin,
            json!({"code": "T-1", "name": "x", "status": "broken"}),
            "status",
            None,
        ),
        (
            "/api/v1/sites",
            admin,
            json!({"name": "x", "kind": "depot", "location": {"lat": "north", "lon": 1.0}}),
            "location.lat",
            None,
        ),
    ];
    for (path, token, body, field, says) in cases {
        let problem = expect_only_field(app.post(path, token, &body).await, field).await;
        if let Some(text) = says {
            assert!(
                s(&problem["fields"], field).contains(text),
                "{body}: {problem}"
            );
        }
    }
    assert_eq!(asset_count(&app).await, 0);
}

async fn wrong_content_type_is_415(app: TestApp) {
    let ct1 = br#"{"code":"CT-1","name":"x"}"#;
    let ct2 = br#"{"code":"CT-2","name":"x"}"#;
    // (content type, body, answer): parameters and `+json` types are JSON.
    let cases: [(Option<&str>, &[u8], StatusCode); 5] = [
        (Some("text/plain"), ct1, StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (
            Some("application/x-www-form-urlencoded"),
            ct1,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (None, ct1, StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (
            Some("application/json; charset=utf-8"),
            ct1,
            StatusCode::CREATED,
        ),
        (
            Some("application/merge-patch+json"),
            ct2,
            StatusCode::CREATED,
        ),
    ];
    for (ct, body, status) in cases {
        let resp = post_raw(&app, "/api/v1/assets", ct, body.to_vec()).await;
        if status == StatusCode::CREATED {
            assert_eq!(resp.status(), status, "{ct:?}");
        } else {
            expect_problem(resp, status, "unsupported_media_type").await;
        }
    }
    assert_eq!(asset_count(&app).await, 2);
}

async fn oversized_body_is_413_json(app: TestApp) {
    // (code, name, refused for its size): just under the limit is read, and then refused for
    // its content, not its size.
    let cases = [
        ("BIG-1", "x".repeat(BODY_LIMIT + 1024), true),
        ("BIG-2", "y".repeat(BODY_LIMIT - 100), false),
    ];
    for (code, name, too_large) in cases {
        let body = json!({"code": code, "name": name});
        let resp = app.post("/api/v1/assets", app.admin(), &body).await;
        if too_large {
            expect_problem(resp, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
        } else {
            expect_fields(resp, &["name"]).await;
        }
    }
    // The server is fine afterwards.
    assert_eq!(asset_count(&app).await, 0);
}

async fn unknown_route_and_wrong_method_are_json(app: TestApp) {
    for path in [
        "/nope",
        "/api/v1/nope",
        "/api/v2/assets",
        "/api/v1/assets/x/y/z",
    ] {
        let body = expect_not_found(app.get(path, app.admin()).await).await;
        assert_eq!(body["error"], "not_found");
        // Without a token too: an unknown route is not a secret.
        expect_not_found(app.get(path, None).await).await;
    }

    for (method, path) in [
        (Method::PUT, "/api/v1/assets"),
        (Method::DELETE, "/api/v1/assets"),
        (Method::POST, "/healthz"),
        (Method::GET, "/api/v1/auth/login"),
        (
            Method::PUT,
            "/api/v1/sites/0190f0f0-0000-7000-8000-000000000000",
        ),
    ] {
        let resp = app
            .request(method.clone(), path, app.admin())
            .send()
            .await
            .unwrap();
        let allow = header(&resp, "allow");
        expect_problem(resp, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
        assert!(!allow.is_empty(), "{method} {path}: no Allow header");
        assert!(
            !allow.contains(method.as_str()),
            "{method} {path}: Allow: {allow}"
        );
    }
}

async fn request_ids_are_set_or_echoed(app: TestApp) {
    // Every response carries an id, successes included; each request its own.
    let a = app.get("/healthz", None).await;
    let b = app.get("/healthz", None).await;
    let id = |r: &reqwest::Response| header(r, "x-request-id");
    assert!(!id(&a).is_empty());
    assert_ne!(id(&a), id(&b));
    // An id sent by a proxy is kept, so logs on both sides match.
    let resp = app
        .request(Method::GET, "/api/v1/assets/not-there", app.admin())
        .header("x-request-id", "trace-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(id(&resp), "trace-abc-123");
    expect_not_found(resp).await;
}

async fn health_and_readiness_are_public(app: TestApp) {
    let health = app.get_ok("/healthz", None).await;
    assert_eq!(health, json!({"status": "ok"}));
    let ready = app.get_ok("/readyz", None).await;
    assert_eq!(
        ready,
        json!({"status": "ready", "database": "ok", "broker": "not_used"})
    );
    // A bad token does not make them fail.
    assert_eq!(
        app.get("/healthz", "garbage").await.status(),
        StatusCode::OK
    );
}

async fn metrics_count_requests_by_route(app: TestApp) {
    let a = app.asset("MET-1").await;
    assert_eq!(
        app.get("/api/v1/assets", app.admin()).await.status(),
        StatusCode::OK
    );
    let one = format!("/api/v1/assets/{}", s(&a, "id"));
    assert_eq!(app.get(&one, app.admin()).await.status(), StatusCode::OK);
    assert_eq!(
        app.get("/api/v1/nope", app.admin()).await.status(),
        StatusCode::NOT_FOUND
    );

    let resp = app.get("/metrics", app.admin()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let ct = resp
        .headers()
        .get(CONTENT_TYPE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(ct.contains("text"), "content type {ct}");
    let text = resp.text().await.unwrap();
    assert!(text.contains("fieldops_http_requests_total"), "{text}");
    assert!(
        text.contains("fieldops_http_request_duration_seconds"),
        "{text}"
    );
    let has = |parts: &[&str]| {
        text.lines().any(|l| {
            l.starts_with("fieldops_http_requests_total{") && parts.iter().all(|p| l.contains(p))
        })
    };
    for labels in [
        &[
            r#"route="/api/v1/assets""#,
            r#"method="GET""#,
            r#"status="200""#,
        ][..],
        &[
            r#"route="/api/v1/assets""#,
            r#"method="POST""#,
            r#"status="201""#,
        ],
        // Routes are labelled by template, never by the raw path.
        &[r#"route="/api/v1/assets/{id}""#],
    ] {
        assert!(has(labels), "{labels:?}: {text}");
    }
    assert!(!text.contains(s(&a, "id")), "{text}");
    assert!(!text.contains("/api/v1/nope"), "{text}");
}

/// The routes the router serves, each of which the OpenAPI document must list (it may list
/// more as the product grows; every documented one must be served, which is checked too).
const ROUTES: [&str; 17] = [
    "/api/v1/auth/login",
    "/api/v1/auth/logout",
    "/api/v1/assets",
    "/api/v1/assets/{id}",
    "/api/v1/assets/{id}/identifiers",
    "/api/v1/assets/{id}/identifiers/{identifier_id}",
    "/api/v1/resolve",
    "/api/v1/categories",
    "/api/v1/sites",
    "/api/v1/sites/{id}",
    "/api/v1/users",
    "/api/v1/users/{id}",
    "/api/v1/devices",
    "/api/v1/audit-log",
    "/healthz",
    "/readyz",
    "/metrics",
];

async fn openapi_documents_every_route(app: TestApp) {
    let resp = app.get("/api/openapi.json", None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let doc = expect_json(resp, StatusCode::OK).await;
    assert!(s(&doc, "openapi").starts_with("3."), "{}", doc["openapi"]);
    let paths = doc["paths"].as_object().expect("paths");
    for route in ROUTES {
        assert!(paths.contains_key(route), "`{route}` is not documented");
    }
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http", "{scheme}");
    assert_eq!(
        scheme["scheme"]
            .as_str()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("bearer")
    );
    // Documented schemas include the error body.
    assert!(doc["components"]["schemas"]["Problem"].is_object());

    // And the other way round: every documented operation is served. A throwaway session,
    // because one of them is logout.
    let token = app.login("admin", ADMIN_PASSWORD).await;
    let any_id = uuid::Uuid::now_v7().to_string();
    for (path, ops) in paths {
        for (method, _) in ops.as_object().unwrap() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            let method: Method = method.to_ascii_uppercase().parse().unwrap();
            let concrete = with_params(path, &any_id);
            let resp = app
                .request(method.clone(), &concrete, token.as_str())
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            assert_ne!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is documented but not served"
            );
            assert!(
                !(status == StatusCode::NOT_FOUND && body["message"] == "no such route"),
                "{method} {path} is documented but not served"
            );
        }
    }
}

/// The path with every `{param}` replaced by `value`.
fn with_params(path: &str, value: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') && seg.ends_with('}') {
                value
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}
