//! Valid JSON with a value of the wrong type is a 422 naming the field, whatever the type the
//! field expects (an enum, a number, a string, an object) and however deep it is; only a body
//! that is not JSON at all is a 400.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

domain::backend_matrix!(TestApp:
    wrong_types_are_422_naming_the_field,
    malformed_json_stays_400
);

const COMMAND_ID: &str = "01a20626-7392-7405-a24d-3b3a6b8018ee";

async fn wrong_types_are_422_naming_the_field(app: TestApp) {
    let cases: [(&str, Value, &str); 10] = [
        // A number, a bool, an array or null where an enum string goes.
        ("/api/v1/sites", json!({"name": "x", "kind": 5}), "kind"),
        ("/api/v1/sites", json!({"name": "x", "kind": true}), "kind"),
        ("/api/v1/sites", json!({"name": "x", "kind": null}), "kind"),
        (
            "/api/v1/assets",
            json!({"code": "WT-1", "name": "x", "status": []}),
            "status",
        ),
        (
            "/api/v1/users",
            json!({"username": "wrong-types", "password": "long-enough-1", "role": 1}),
            "role",
        ),
        // A string where a number goes.
        (
            "/api/v1/assets",
            json!({"code": "WT-2", "name": "x", "engine_hours": "many"}),
            "engine_hours",
        ),
        // An object where a string goes.
        (
            "/api/v1/sites",
            json!({"name": {}, "kind": "depot"}),
            "name",
        ),
        // Nested: in an object, in an array, in a tagged object (serde buffers a tagged
        // object before reading its fields, so the path ends at the object).
        (
            "/api/v1/sites",
            json!({"name": "x", "kind": "depot", "location": {"lat": "north", "lon": 1.0}}),
            "location.lat",
        ),
        (
            "/api/v1/sites",
            json!({"name": "x", "kind": "depot",
                   "geofence": {"type": "circle", "center": {"lat": 1.0, "lon": 1.0}, "radius_m": "big"}}),
            "geofence",
        ),
        (
            "/api/v1/scans/batch",
            json!({"commands": [{"id": COMMAND_ID, "action": 7,
                                 "device_time": "2026-11-23T08:15:02Z"}]}),
            "commands[0].action",
        ),
    ];
    for (path, body, field) in cases {
        let resp = app.post(path, app.admin(), &body).await;
        let problem = expect_fields(resp, &[field]).await;
        assert_eq!(
            problem["fields"].as_object().unwrap().len(),
            1,
            "{path} {body}: {problem}"
        );
        assert!(
            s(&problem["fields"], field).contains("invalid type"),
            "{path} {body}: {problem}"
        );
    }
    // Nothing was created on the way.
    let sites = expect_json(app.get("/api/v1/sites", app.admin()).await, StatusCode::OK).await;
    assert_eq!(sites["items"], json!([]), "{sites}");
    let assets = expect_json(app.get("/api/v1/assets", app.admin()).await, StatusCode::OK).await;
    assert_eq!(assets["items"], json!([]), "{assets}");

    // The multipart `command` part of a scan is read the same way.
    let form = reqwest::multipart::Form::new().text(
        "command",
        json!({"id": COMMAND_ID, "action": 7, "device_time": "2026-11-23T08:15:02Z"}).to_string(),
    );
    let resp = app
        .request(Method::POST, "/api/v1/scans", app.admin())
        .multipart(form)
        .send()
        .await
        .unwrap();
    expect_fields(resp, &["action"]).await;
}

async fn malformed_json_stays_400(app: TestApp) {
    for body in [
        &br#"{"name":"x","kind":5"#[..],
        br#"{"name":"x","kind":}"#,
        br#"{"name":"x","kind":5,}"#,
        // A type error first does not hide a syntax error after it.
        br#"{"name":5,"kind":"depot""#,
        br#"{"name":"x","kind":nope}"#,
    ] {
        let resp = app
            .request(Method::POST, "/api/v1/sites", app.admin())
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        let problem = expect_problem(resp, StatusCode::BAD_REQUEST, "malformed_json").await;
        assert!(
            problem.get("fields").is_none(),
            "{}: {problem}",
            String::from_utf8_lossy(body)
        );
    }
}
