//! The OpenAPI document tells the truth, so clients generated from it work.
//!
//! The walks read the document the router is built with and fail on what would mislead a
//! client: a parameter declared in the path that is not a `{placeholder}` of it, a JSON write or
//! a secured operation that does not list the statuses the shared extractors answer, an error
//! response that is not the problem format, a bound that differs from the constant the server
//! checks. `documented_errors_happen` then asks a running server for every error status a
//! shared response set documents, so no operation lists one it cannot give.
//! `every_role_meets_the_matrix_on_every_operation` walks every documented operation with no
//! token and with every role, against `Role::may`: generated from the document, so a new
//! route cannot escape it (api/tests/auth_roles.rs checks by hand which action each route
//! needs, and that the allowed roles succeed).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use mobile_shared::{Action, Role};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

domain::backend_matrix!(
    TestApp:
    documented_errors_happen,
    field_history_limit_is_bounded,
    every_role_meets_the_matrix_on_every_operation,
);

/// Operations every signed-in user may call, with the action each checks (`None`: no role
/// check). 403 cannot happen on them, so they must not list it; every other secured operation
/// must. Checked against `Role::may` below and against the server in `documented_errors_happen`.
const EVERY_ROLE: &[(&str, &str, Option<Action>)] = &[
    ("post", "/api/v1/auth/logout", None),
    ("get", "/api/v1/auth/session", None),
    ("patch", "/api/v1/auth/session", None),
    ("get", "/api/v1/photos/{sha256}", Some(Action::AssetRead)),
    ("delete", "/api/v1/auth/session", None),
    ("get", "/api/v1/auth/2fa", Some(Action::OwnTwoFactor)),
    ("post", "/api/v1/auth/2fa/setup", Some(Action::OwnTwoFactor)),
    (
        "post",
        "/api/v1/auth/2fa/confirm",
        Some(Action::OwnTwoFactor),
    ),
    (
        "post",
        "/api/v1/auth/2fa/disable",
        Some(Action::OwnTwoFactor),
    ),
    (
        "post",
        "/api/v1/auth/2fa/recovery-codes",
        Some(Action::OwnTwoFactor),
    ),
    ("get", "/api/v1/assets", Some(Action::AssetRead)),
    ("get", "/api/v1/notifications", Some(Action::InboxRead)),
    (
        "post",
        "/api/v1/notifications/{id}/read",
        Some(Action::InboxRead),
    ),
    ("get", "/api/v1/assets/{id}", Some(Action::AssetRead)),
    (
        "get",
        "/api/v1/assets/{id}/identifiers",
        Some(Action::AssetRead),
    ),
    (
        "get",
        "/api/v1/assets/{id}/field-history",
        Some(Action::AssetRead),
    ),
    (
        "get",
        "/api/v1/assets/{id}/label.svg",
        Some(Action::AssetRead),
    ),
    (
        "get",
        "/api/v1/assets/{id}/label.png",
        Some(Action::AssetRead),
    ),
    ("get", "/api/v1/labels/sheet.svg", Some(Action::AssetRead)),
    (
        "get",
        "/api/v1/assets/{id}/positions",
        Some(Action::PositionRead),
    ),
    ("get", "/api/v1/events", Some(Action::PositionRead)),
    ("get", "/api/v1/resolve", Some(Action::ResolveCode)),
    (
        "get",
        "/api/v1/maintenance/plans",
        Some(Action::MaintenanceRead),
    ),
    (
        "get",
        "/api/v1/maintenance/plans/{id}",
        Some(Action::MaintenanceRead),
    ),
    (
        "get",
        "/api/v1/assets/{id}/maintenance",
        Some(Action::MaintenanceRead),
    ),
    (
        "get",
        "/api/v1/alerts/service-due",
        Some(Action::MaintenanceRead),
    ),
    ("get", "/api/v1/work-orders", Some(Action::WorkOrderRead)),
    (
        "get",
        "/api/v1/assets/{id}/blocks",
        Some(Action::WorkOrderRead),
    ),
    (
        "get",
        "/api/v1/work-orders/{id}",
        Some(Action::WorkOrderRead),
    ),
    (
        "get",
        "/api/v1/kpis/maintenance",
        Some(Action::WorkOrderRead),
    ),
    ("get", "/api/v1/alerts/stale", Some(Action::PositionRead)),
    ("get", "/api/v1/alerts/off-site", Some(Action::PositionRead)),
    ("get", "/api/v1/map/sites", Some(Action::PositionRead)),
    ("get", "/api/v1/map/assets", Some(Action::PositionRead)),
    ("get", "/api/v1/map/heat", Some(Action::PositionRead)),
    ("get", "/api/v1/categories", Some(Action::CategoryRead)),
    ("get", "/api/v1/sites", Some(Action::SiteRead)),
    ("get", "/api/v1/sites/{id}", Some(Action::SiteRead)),
    ("get", "/api/v1/stocktakes", Some(Action::StocktakeRead)),
    (
        "get",
        "/api/v1/stocktakes/{id}",
        Some(Action::StocktakeRead),
    ),
    (
        "get",
        "/api/v1/stocktakes/{id}/report",
        Some(Action::StocktakeRead),
    ),
    ("get", "/api/v1/tasks", Some(Action::TaskWork)),
    ("get", "/api/v1/tasks/{id}", Some(Action::TaskWork)),
    (
        "post",
        "/api/v1/tasks/{id}/complete",
        Some(Action::TaskWork),
    ),
];

/// The role with the fewest rights: it holds exactly the actions of [`EVERY_ROLE`], so it is
/// refused (403) wherever an operation lists 403.
const LEAST: Role = Role::Viewer;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// One operation of the document.
struct Op {
    method: String,
    path: String,
    op: Value,
}

impl Op {
    fn name(&self) -> String {
        format!("{} {}", self.method.to_ascii_uppercase(), self.path)
    }

    fn lists(&self, status: &str) -> bool {
        self.op["responses"].get(status).is_some()
    }

    fn params_in<'a>(&'a self, place: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(move |p| p["in"] == place)
    }

    fn is_json_write(&self) -> bool {
        self.op["requestBody"]["content"]
            .get("application/json")
            .is_some()
    }

    fn is_secured(&self) -> bool {
        self.op["security"]
            .as_array()
            .is_some_and(|s| !s.is_empty())
    }

    fn every_role(&self) -> Option<&'static (&'static str, &'static str, Option<Action>)> {
        EVERY_ROLE
            .iter()
            .find(|(m, p, _)| *m == self.method && *p == self.path)
    }
}

fn document() -> Value {
    serde_json::to_value(api::openapi_document()).expect("the document serialises")
}

fn operations(doc: &Value) -> Vec<Op> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if METHODS.contains(&method.as_str()) {
                ops.push(Op {
                    method: method.clone(),
                    path: path.clone(),
                    op: op.clone(),
                });
            }
        }
    }
    assert!(ops.len() > 30, "only {} operations", ops.len());
    ops
}

fn placeholders(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

/// Fails with every offending operation at once.
fn assert_none(what: &str, offenders: Vec<String>) {
    assert!(
        offenders.is_empty(),
        "{what}:\n  {}",
        offenders.join("\n  ")
    );
}

/// Every `$ref` in `v`, with where it stands.
fn refs(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if k == "$ref" {
                    if let Some(r) = child.as_str() {
                        out.push((at.to_owned(), r.to_owned()));
                    }
                } else {
                    refs(child, &format!("{at}/{k}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                refs(child, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_reference_resolves() {
    let doc = document();
    let mut all = Vec::new();
    refs(&doc, "", &mut all);
    assert!(!all.is_empty());
    let missing = all
        .into_iter()
        .filter(|(_, r)| {
            let Some(pointer) = r.strip_prefix('#') else {
                return true;
            };
            doc.pointer(pointer).is_none()
        })
        .map(|(at, r)| format!("{at} → {r}"))
        .collect();
    assert_none("references to nothing", missing);
}

#[test]
fn problems_carry_the_typed_error_codes() {
    let doc = document();
    let codes = doc
        .pointer("/components/schemas/ErrorCode/enum")
        .and_then(Value::as_array)
        .expect("ErrorCode is an enum of strings");
    for code in mobile_shared::ErrorCode::ALL {
        assert!(
            codes.contains(&json!(code.as_str())),
            "{code:?} missing from the document"
        );
    }
}

#[test]
fn path_parameters_are_path_placeholders() {
    let doc = document();
    let mut bad = Vec::new();
    for op in operations(&doc) {
        let holes = placeholders(&op.path);
        let declared: Vec<&str> = op
            .params_in("path")
            .filter_map(|p| p["name"].as_str())
            .collect();
        for name in &declared {
            if !holes.contains(name) {
                bad.push(format!("{}: `{name}` is declared in: path", op.name()));
            }
        }
        for hole in &holes {
            if !declared.contains(hole) {
                bad.push(format!("{}: `{{{hole}}}` is not declared", op.name()));
            }
        }
    }
    assert_none("path parameters that are not placeholders", bad);
}

#[test]
fn json_writes_list_the_body_errors() {
    let doc = document();
    let mut bad = Vec::new();
    for op in operations(&doc).iter().filter(|op| op.is_json_write()) {
        for status in ["400", "413", "415", "422"] {
            if !op.lists(status) {
                bad.push(format!("{} does not list {status}", op.name()));
            }
        }
    }
    assert_none("JSON writes without JsonBodyErrors", bad);
}

#[test]
fn secured_operations_list_401_and_403_where_a_role_can_be_refused() {
    let doc = document();
    let ops = operations(&doc);
    let mut bad = Vec::new();
    for op in ops.iter().filter(|op| op.is_secured()) {
        if !op.lists("401") {
            bad.push(format!("{} does not list 401", op.name()));
        }
        match (op.every_role(), op.lists("403")) {
            (None, false) => bad.push(format!(
                "{} does not list 403 (or belongs in EVERY_ROLE)",
                op.name()
            )),
            (Some(_), true) => bad.push(format!(
                "{} lists 403, which no role can get there",
                op.name()
            )),
            _ => {}
        }
    }
    assert_none("secured operations without their auth errors", bad);

    for (method, path, action) in EVERY_ROLE {
        let op = ops
            .iter()
            .find(|op| op.method == *method && op.path == *path)
            .unwrap_or_else(|| panic!("EVERY_ROLE names {method} {path}, which is not documented"));
        assert!(op.is_secured(), "{} is not secured", op.name());
        if let Some(action) = action {
            for role in Role::ALL {
                assert!(role.may(*action), "{role} may not {}", action.as_str());
            }
        }
    }
    for action in Action::ALL {
        let every_role_has_it = EVERY_ROLE.iter().any(|(_, _, a)| *a == Some(action));
        if !every_role_has_it {
            assert!(!LEAST.may(action), "{LEAST} may {}", action.as_str());
        }
    }
}

#[test]
fn operations_with_query_parameters_list_422() {
    let doc = document();
    let mut bad = Vec::new();
    for op in operations(&doc) {
        if op.params_in("query").next().is_some() && !op.lists("422") {
            bad.push(op.name());
        }
    }
    assert_none("operations with query parameters without 422", bad);
}

#[test]
fn error_responses_are_problems() {
    let doc = document();
    let mut bad = Vec::new();
    for op in operations(&doc) {
        for (status, resp) in op.op["responses"].as_object().unwrap() {
            if !status.starts_with('4') {
                continue;
            }
            let schema = &resp["content"]["application/json"]["schema"]["$ref"];
            if schema != "#/components/schemas/Problem" {
                bad.push(format!("{} {status}", op.name()));
            }
        }
    }
    assert_none("4xx responses that are not the problem format", bad);
    assert!(doc["components"]["schemas"]["Problem"].is_object());
}

fn param<'d>(doc: &'d Value, method: &str, path: &str, name: &str) -> &'d Value {
    doc["paths"][path][method]["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("{method} {path} has no parameter `{name}`"))
}

fn property<'d>(doc: &'d Value, schema: &str, name: &str) -> &'d Value {
    let p = &doc["components"]["schemas"][schema]["properties"][name];
    assert!(p.is_object(), "{schema}.{name} is not documented");
    p
}

#[test]
fn concrete_facts() {
    let doc = document();
    let limit = param(&doc, "get", "/api/v1/assets", "limit");
    assert_eq!(limit["in"], "query", "{limit}");
    assert_eq!(limit["required"], false, "{limit}");
    assert_eq!(limit["schema"]["minimum"], 1, "{limit}");
    assert_eq!(
        limit["schema"]["maximum"],
        domain::pagination::MAX_LIMIT,
        "{limit}"
    );
    let code = param(&doc, "get", "/api/v1/resolve", "code");
    assert_eq!(
        (&code["in"], &code["required"]),
        (&json!("query"), &json!(true))
    );

    let history = param(&doc, "get", "/api/v1/assets/{id}/field-history", "limit");
    assert_eq!(history["in"], "query");
    assert_eq!(history["schema"]["minimum"], 1);
    assert_eq!(history["schema"]["maximum"], 1000);
    let size = param(&doc, "get", "/api/v1/assets/{id}/label.png", "size");
    assert_eq!(size["schema"]["minimum"], asset_labels::PNG_MIN_WIDTH);
    assert_eq!(size["schema"]["maximum"], asset_labels::PNG_MAX_WIDTH);

    let metrics = &doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"];
    assert!(
        metrics.get("application/openmetrics-text").is_some(),
        "{metrics}"
    );
    assert!(metrics.get("text/plain").is_none(), "{metrics}");
    assert!(
        doc["paths"]["/api/v1/assets/{id}/identifiers"]["post"]["responses"]
            .get("404")
            .is_some()
    );

    // Literal bounds in the attributes, against the constants the server checks.
    use mobile_shared::identifier::{MAX_ASSET_CODE_LEN, MAX_IDENTIFIER_LEN};
    use mobile_shared::scan::{MAX_BATCH, MAX_NOTES, MAX_PHOTOS};
    let bounds: [(&str, &str, &str, Value); 13] = [
        (
            "NewUser",
            "password",
            "minLength",
            json!(domain::users::MIN_PASSWORD_LEN),
        ),
        (
            "NewUser",
            "password",
            "maxLength",
            json!(domain::users::MAX_PASSWORD_LEN),
        ),
        ("NewAsset", "code", "maxLength", json!(MAX_ASSET_CODE_LEN)),
        ("AssetPatch", "code", "maxLength", json!(MAX_ASSET_CODE_LEN)),
        (
            "NewIdentifier",
            "value",
            "maxLength",
            json!(MAX_IDENTIFIER_LEN),
        ),
        (
            "NewDevice",
            "device_id",
            "maxLength",
            json!(mobile_shared::telemetry::MAX_DEVICE_ID_LEN),
        ),
        ("CommandBatch", "commands", "minItems", json!(1)),
        ("CommandBatch", "commands", "maxItems", json!(MAX_BATCH)),
        ("FieldCommand", "notes", "maxLength", json!(MAX_NOTES)),
        ("FieldCommand", "photos", "maxItems", json!(MAX_PHOTOS)),
        (
            "StocktakeScans",
            "codes",
            "maxItems",
            json!(mobile_shared::stocktake::MAX_SCAN_CODES),
        ),
        ("LatLon", "lat", "maximum", json!(90)),
        ("PhonePosition", "lon", "minimum", json!(-180)),
    ];
    for (schema, field, keyword, expected) in bounds {
        let got = &property(&doc, schema, field)[keyword];
        assert_eq!(
            got.as_f64(),
            expected.as_f64(),
            "{schema}.{field}.{keyword}"
        );
    }
    let geofence = doc["components"]["schemas"]["Geofence"]["oneOf"].to_string();
    assert!(
        geofence.contains(&format!(
            "\"maxItems\":{}",
            domain::sites::MAX_POLYGON_POINTS
        )),
        "{geofence}"
    );
    assert!(
        geofence.contains(&format!("\"maximum\":{}", domain::sites::MAX_RADIUS_M)),
        "{geofence}"
    );
}

/// A minimal value of `schema` that deserializes: required fields only, the first enum value,
/// `minItems` items, `minLength` characters. Enough to get past the JSON extractor to the
/// handler (its role check, its lookup by id), never meant to pass domain validation.
fn example(doc: &Value, schema: &Value) -> Value {
    if let Some(name) = schema["$ref"].as_str().and_then(|r| r.rsplit('/').next()) {
        return example(doc, &doc["components"]["schemas"][name]);
    }
    if let Some(first) = schema["enum"].get(0) {
        return first.clone();
    }
    if let Some(alts) = schema["oneOf"].as_array() {
        let alt = alts.iter().find(|a| a["type"] != "null").expect("oneOf");
        return example(doc, alt);
    }
    let ty = match &schema["type"] {
        Value::Array(types) => types.iter().find(|t| *t != "null").cloned(),
        t => Some(t.clone()),
    };
    let min = |key: &str| schema[key].as_u64().unwrap_or(0) as usize;
    match ty.as_ref().and_then(Value::as_str) {
        Some("object") => {
            let mut out = serde_json::Map::new();
            for name in schema["required"].as_array().into_iter().flatten() {
                let name = name.as_str().unwrap();
                out.insert(name.to_owned(), example(doc, &schema["properties"][name]));
            }
            Value::Object(out)
        }
        Some("array") => Value::Array(vec![example(doc, &schema["items"]); min("minItems")]),
        Some("string") => match schema["format"].as_str() {
            Some("uuid") => json!(uuid::Uuid::nil()),
            Some("date-time") => json!("2026-01-01T00:00:00Z"),
            Some("date") => json!("2026-01-01"),
            _ => json!("x".repeat(min("minLength").max(1))),
        },
        Some("integer") | Some("number") if schema["minimum"].is_number() => {
            schema["minimum"].clone()
        }
        Some("integer") | Some("number") => json!(1),
        Some("boolean") => json!(true),
        other => panic!("no example for type {other:?}: {schema}"),
    }
}

/// The path with every `{placeholder}` replaced by `value`.
fn concrete(path: &str, value: &str) -> String {
    placeholders(path).iter().fold(path.to_owned(), |p, hole| {
        // A photo is named by its SHA-256, not an id: a well-formed hash no photo has.
        let value = if *hole == "sha256" {
            "0".repeat(64)
        } else {
            value.to_owned()
        };
        p.replace(&format!("{{{hole}}}"), &value)
    })
}

/// A query string that the operation's query extractor refuses: a value of the wrong type for
/// the first parameter that is not free text, or else nothing where a parameter is required.
fn bad_query(op: &Op) -> String {
    let params: Vec<&Value> = op.params_in("query").collect();
    let typed = params.iter().find(|p| {
        let s = &p["schema"];
        s["type"] != "string" || s.get("format").is_some()
    });
    match typed {
        Some(p) => format!("?{}=not-a-value", p["name"].as_str().unwrap()),
        None => {
            assert!(
                params.iter().any(|p| p["required"] == true),
                "{}: no way to provoke its documented 422",
                op.name()
            );
            String::new()
        }
    }
}

enum Body {
    None,
    Json(Value),
    Raw(&'static str, Vec<u8>),
}

async fn call(
    app: &TestApp,
    op: &Op,
    path: &str,
    token: Option<&str>,
    body: Body,
) -> reqwest::Response {
    let method: Method = op.method.to_ascii_uppercase().parse().unwrap();
    let req = app.request(method, path, token);
    let req = match body {
        Body::None => req,
        Body::Json(v) => req.json(&v),
        Body::Raw(content_type, bytes) => req.header(CONTENT_TYPE, content_type).body(bytes),
    };
    req.send().await.expect("send")
}

async fn documented_errors_happen(app: TestApp) {
    let doc = expect_json(app.get("/api/openapi.json", None).await, StatusCode::OK).await;
    assert_eq!(doc, document(), "the served document is the built one");
    let least = app.user_with_role(LEAST).await;
    let id = uuid::Uuid::now_v7().to_string();
    for op in operations(&doc) {
        let name = op.name();
        let path = concrete(&op.path, &id);
        let body = || match op.op["requestBody"]["content"]["application/json"].get("schema") {
            Some(schema) => Body::Json(example(&doc, schema)),
            None => Body::None,
        };
        if op.is_secured() && op.lists("401") {
            let resp = call(&app, &op, &path, None, body()).await;
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{name}");
            expect_unauthenticated(resp).await;
        }
        if op.is_secured() {
            // An operation that checks no action (logout) may end the session it is called with.
            let token = match op.every_role() {
                Some((_, _, None)) => app.user_with_role(LEAST).await,
                _ => least.clone(),
            };
            let resp = call(&app, &op, &path, Some(&token), body()).await;
            if op.lists("403") {
                assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{name}");
                expect_problem(resp, StatusCode::FORBIDDEN, "forbidden").await;
            } else {
                assert_ne!(resp.status(), StatusCode::FORBIDDEN, "{name}");
            }
        }
        if op.is_json_write() {
            let too_big = format!("{{\"x\":\"{}\"}}", "a".repeat(BODY_LIMIT)).into_bytes();
            // An empty object is refused where the body has required fields; where every field
            // is optional (completing a work order), an unknown field is what is refused.
            let schema = &op.op["requestBody"]["content"]["application/json"]["schema"];
            let resolved = match schema["$ref"].as_str().and_then(|r| r.rsplit('/').next()) {
                Some(name) => &doc["components"]["schemas"][name],
                None => schema,
            };
            let invalid = if resolved["required"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
            {
                b"{}".to_vec()
            } else {
                b"{\"no_such_field\":1}".to_vec()
            };
            for (content_type, bytes, status, code) in [
                (
                    "text/plain",
                    b"{}".to_vec(),
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                ),
                (
                    "application/json",
                    b"{".to_vec(),
                    StatusCode::BAD_REQUEST,
                    "malformed_json",
                ),
                (
                    "application/json",
                    invalid.clone(),
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                ),
                (
                    "application/json",
                    too_big,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                ),
            ] {
                let resp = call(
                    &app,
                    &op,
                    &path,
                    Some(app.admin()),
                    Body::Raw(content_type, bytes),
                )
                .await;
                assert_eq!(resp.status(), status, "{name} with {content_type}");
                expect_problem(resp, status, code).await;
            }
        }
        if op.lists("404") && !placeholders(&op.path).is_empty() {
            let resp = call(&app, &op, &path, Some(app.admin()), body()).await;
            assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{name}");
            expect_problem(resp, StatusCode::NOT_FOUND, "not_found").await;
        }
        if op.params_in("query").next().is_some() {
            let query = format!("{path}{}", bad_query(&op));
            let resp = call(&app, &op, &query, Some(app.admin()), body()).await;
            assert_eq!(
                resp.status(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "{name}{query}"
            );
            expect_problem(resp, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        }
    }
}

/// `limit` on the field history is 1-1000 like the schema says; beyond is a 422, not a silent
/// clamp (2147483648 was accepted although the schema said int32).
async fn field_history_limit_is_bounded(app: TestApp) {
    let asset = app
        .create_asset(json!({"code": "FH-1", "name": "history"}))
        .await;
    let path = format!("/api/v1/assets/{}/field-history", s(&asset, "id"));
    for bad in ["0", "1001", "2147483648", "99999999999", "-1", "ten"] {
        let resp = app.get(&format!("{path}?limit={bad}"), app.admin()).await;
        expect_problem(resp, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
    for good in ["1", "1000"] {
        let resp = app.get(&format!("{path}?limit={good}"), app.admin()).await;
        expect_json(resp, StatusCode::OK).await;
    }
    let resp = app.get(&path, app.admin()).await;
    expect_json(resp, StatusCode::OK).await;
}

/// Clients generated from the document know every role a user can have (issue 12 added one).
#[test]
fn the_role_schema_lists_every_role() {
    let doc = document();
    let schema = &doc["components"]["schemas"]["Role"];
    let every: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(schema["enum"], json!(every), "{schema}");
}

/// The action a 403 problem names ("your role may not asset.read").
fn refused_action(problem: &Value) -> Option<Action> {
    let named = problem["message"].as_str()?.rsplit("may not ").next()?;
    Action::ALL.into_iter().find(|a| a.as_str() == named)
}

/// Every secured operation answers 401 without a token, and each role is refused (403) exactly
/// when `Role::may` says so for the action the operation checks: the action a refused role is
/// told it lacks. A role let through must hold that action; a role refused must lack the one
/// named; an operation no role is refused must be one of [`EVERY_ROLE`]. Ids are random, so
/// the allowed calls end in 404 or 422 past the role check, and nothing is changed that
/// matters.
async fn every_role_meets_the_matrix_on_every_operation(app: TestApp) {
    let doc = document();
    let mut tokens = Vec::new();
    for role in Role::ALL {
        tokens.push((role, app.user_with_role(role).await));
    }
    let id = uuid::Uuid::now_v7().to_string();
    let mut bad = Vec::new();
    let mut walked = 0;
    for op in operations(&doc).iter().filter(|op| op.is_secured()) {
        // Logging out ends the session the walk calls with; EVERY_ROLE's test covers these.
        if matches!(op.every_role(), Some((_, _, None))) {
            continue;
        }
        let name = op.name();
        // A parameter that names what the route acts on (a list, not an id) takes its
        // documented example, so the action checked is that of a real target.
        let path = op
            .params_in("path")
            .filter_map(|p| Some((p["name"].as_str()?, p["example"].as_str()?)))
            .fold(op.path.clone(), |path, (name, example)| {
                path.replace(&format!("{{{name}}}"), example)
            });
        let path = concrete(&path, &id);
        let body = || match op.op["requestBody"]["content"]["application/json"].get("schema") {
            Some(schema) => Body::Json(example(&doc, schema)),
            None => Body::None,
        };
        let anonymous = call(&app, op, &path, None, body()).await;
        if anonymous.status() != StatusCode::UNAUTHORIZED {
            bad.push(format!("{name} without a token: {}", anonymous.status()));
        }
        let mut checked: Option<Action> = None;
        let mut passed = Vec::new();
        for (role, token) in &tokens {
            let resp = call(&app, op, &path, Some(token), body()).await;
            let status = resp.status();
            if status == StatusCode::FORBIDDEN {
                let problem: Value = resp.json().await.unwrap_or(Value::Null);
                match refused_action(&problem) {
                    Some(action) if role.may(action) => bad.push(format!(
                        "{name}: {role} refused {} it holds",
                        action.as_str()
                    )),
                    Some(action) => {
                        checked.get_or_insert(action);
                    }
                    None => bad.push(format!(
                        "{name}: {role} refused without an action: {problem}"
                    )),
                }
            } else if status == StatusCode::UNAUTHORIZED {
                bad.push(format!("{name}: {role}'s valid token answered 401"));
            } else {
                passed.push(*role);
            }
        }
        match checked {
            Some(action) => {
                for role in passed.into_iter().filter(|r| !r.may(action)) {
                    bad.push(format!(
                        "{name}: {role} let through without {}",
                        action.as_str()
                    ));
                }
            }
            None if op.every_role().is_none() => {
                bad.push(format!(
                    "{name}: no role is refused, yet it is not in EVERY_ROLE"
                ));
            }
            None => {}
        }
        walked += 1;
    }
    assert!(walked > 100, "walked only {walked} operations");
    assert_none("operations whose answers differ from the role matrix", bad);
}
