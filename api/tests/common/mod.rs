//! Harness for the HTTP API tests: a real server on a port-0 listener over a fresh, migrated
//! database (SQLite, or PostgreSQL when `FIELDOPS_TEST_POSTGRES_URL` is set), spoken to over
//! HTTP with reqwest, exactly as a phone or a script would.
//!
//! The listener is bound before the server task is spawned, so requests can go at once: no
//! sleeps, no fixed ports. Dropping the [`TestApp`] stops the server and removes its database.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU32, Ordering};

use domain::testing::{Fixture, TestDb};
use domain::Backend;
use mobile_shared::Role;
use reqwest::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::multipart::{Form, Part};
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// Password of the first admin the harness creates.
pub const ADMIN_PASSWORD: &str = "admin-password-1";
/// Password of every user [`TestApp::user_with_role`] creates.
pub const USER_PASSWORD: &str = "user-password-1";
/// Body limit of the test server, small so the 413 test stays cheap.
pub const BODY_LIMIT: usize = 64 * 1024;

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub client: Client,
    /// Bearer token of the first admin (`admin`).
    pub admin_token: String,
    pub backend: Backend,
    /// The server's in-process event bus: an `Ingestor` publishing to it reaches the server's
    /// live stream on SQLite (on PostgreSQL the database carries the events).
    pub events: domain::events::EventBus,
    stop: Option<oneshot::Sender<()>>,
    // Declared last so it is dropped after the server has been told to stop.
    pub db: TestDb,
}

impl Fixture for TestApp {
    /// A server with [`BODY_LIMIT`], small so the 413 test stays cheap.
    async fn open(backend: Backend) -> Option<TestApp> {
        let config = api::ApiConfig {
            body_limit: BODY_LIMIT,
            ..Default::default()
        };
        TestApp::start(backend, config).await
    }
}

impl TestApp {
    /// Starts a server with `config` on a fresh database; `None` after
    /// [`domain::testing::skip_or_fail`] when the backend is not configured.
    pub async fn start(backend: Backend, config: api::ApiConfig) -> Option<TestApp> {
        let db = TestDb::open(backend).await?;
        assert_eq!(
            db.store.backend(),
            backend,
            "the test database is on the wrong backend"
        );
        domain::users::ensure_first_admin(&db.store, Some(ADMIN_PASSWORD.into()))
            .await
            .expect("create first admin");
        let state = api::AppState::new(db.store.clone(), config);
        let events = state.events.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(api::serve(listener, state, async move {
            let _ = stopped.await;
        }));
        let client = Client::builder().build().expect("http client");
        let mut app = TestApp {
            base: format!("http://{addr}"),
            client,
            admin_token: String::new(),
            backend,
            events,
            stop: Some(stop),
            db,
        };
        app.admin_token = app.login("admin", ADMIN_PASSWORD).await;
        Some(app)
    }

    /// Creates an open task due in an hour, assigned to `role`, as a clock rule would.
    pub async fn task_for_role(&self, role: Role) -> mobile_shared::tasks::Task {
        let new = domain::tasks::NewTask {
            kind: "inspection".into(),
            title: format!("Inspect for {role}"),
            subject: None,
            assignee_user_id: None,
            assignee_role: Some(role),
            due_at: chrono::Utc::now() + chrono::Duration::hours(1),
            dedupe_key: None,
            source: "test_rule".into(),
        };
        domain::tasks::create(&self.db.store, &domain::Actor::system(), new)
            .await
            .expect("create a task")
            .0
    }

    pub fn admin(&self) -> &str {
        &self.admin_token
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request to `path`, with the bearer token when one is given.
    pub fn request<'a>(
        &self,
        method: Method,
        path: &str,
        token: impl Into<Option<&'a str>>,
    ) -> RequestBuilder {
        let rb = self.client.request(method, self.url(path));
        match token.into() {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    pub async fn get<'a>(&self, path: &str, token: impl Into<Option<&'a str>>) -> Response {
        self.request(Method::GET, path, token)
            .send()
            .await
            .expect("send GET")
    }

    /// Sends a request, with a JSON body when one is given.
    pub async fn send<'a>(
        &self,
        method: Method,
        path: &str,
        token: impl Into<Option<&'a str>>,
        body: Option<&Value>,
    ) -> Response {
        let mut req = self.request(method.clone(), path, token);
        if let Some(body) = body {
            req = req.json(body);
        }
        req.send()
            .await
            .unwrap_or_else(|e| panic!("send {method} {path}: {e}"))
    }

    pub async fn post<'a>(
        &self,
        path: &str,
        token: impl Into<Option<&'a str>>,
        body: &Value,
    ) -> Response {
        self.send(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch<'a>(
        &self,
        path: &str,
        token: impl Into<Option<&'a str>>,
        body: &Value,
    ) -> Response {
        self.send(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn delete<'a>(&self, path: &str, token: impl Into<Option<&'a str>>) -> Response {
        self.request(Method::DELETE, path, token)
            .send()
            .await
            .expect("send DELETE")
    }

    /// `POST /api/v1/auth/login` without a token.
    pub async fn login_attempt(&self, username: &str, password: &str) -> Response {
        let body = json!({"username": username, "password": password});
        self.post("/api/v1/auth/login", None, &body).await
    }

    /// Logs in and returns the token; panics unless the login succeeds.
    pub async fn login(&self, username: &str, password: &str) -> String {
        let resp = self.login_attempt(username, password).await;
        let (status, body) = json_body(resp).await;
        assert_eq!(status, StatusCode::OK, "login as {username}: {body}");
        body["token"].as_str().expect("token").to_owned()
    }

    /// Creates a user with `role` (as admin, over HTTP) and returns its bearer token.
    pub async fn user_with_role(&self, role: Role) -> String {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let username = format!("{}-{}", role.as_str(), SEQ.fetch_add(1, Ordering::Relaxed));
        let resp = self
            .post(
                "/api/v1/users",
                self.admin(),
                &json!({"username": username, "password": USER_PASSWORD, "role": role.as_str()}),
            )
            .await;
        let (status, body) = json_body(resp).await;
        assert_eq!(status, StatusCode::CREATED, "create {username}: {body}");
        assert_eq!(body["role"], role.as_str());
        self.login(&username, USER_PASSWORD).await
    }

    /// POSTs `body` to `path` as admin and returns what was created; panics unless 201.
    pub async fn create(&self, path: &str, body: &Value) -> Value {
        let resp = self.post(path, self.admin(), body).await;
        let (status, created) = json_body(resp).await;
        assert_eq!(status, StatusCode::CREATED, "POST {path} {body}: {created}");
        created
    }

    /// Creates an asset as admin from `body` and returns it; panics unless 201.
    pub async fn create_asset(&self, body: Value) -> Value {
        self.create("/api/v1/assets", &body).await
    }

    /// Creates an asset with just a code and a name.
    pub async fn asset(&self, code: &str) -> Value {
        self.create_asset(json!({"code": code, "name": format!("Machine {code}")}))
            .await
    }

    /// Creates a site as admin and returns it; panics unless 201.
    pub async fn create_site(&self, body: Value) -> Value {
        self.create("/api/v1/sites", &body).await
    }

    /// Creates a category as admin and returns it; panics unless 201.
    pub async fn create_category(&self, name: &str) -> Value {
        self.create("/api/v1/categories", &json!({"name": name}))
            .await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Status and JSON body of any response (`Value::Null` for an empty body).
pub async fn json_body(resp: Response) -> (StatusCode, Value) {
    let status = resp.status();
    let bytes = resp.bytes().await.expect("read body");
    if bytes.is_empty() {
        return (status, Value::Null);
    }
    let value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{status}: body is not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, value)
}

/// A response header as text; empty when absent or not text.
pub fn header(resp: &Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// Status and body of an error response, checking what every error response must have: the
/// JSON content type, an `x-request-id`, and the problem shape `{"error", "message", …}`.
pub async fn problem(resp: Response) -> (StatusCode, Value) {
    let status = resp.status();
    assert!(
        status.is_client_error() || status.is_server_error(),
        "expected an error status, got {status}"
    );
    let content_type = header(&resp, CONTENT_TYPE.as_str());
    assert!(
        content_type.starts_with("application/json"),
        "{status}: error content type is `{content_type}`"
    );
    let request_id = header(&resp, "x-request-id");
    assert!(!request_id.is_empty(), "{status}: no x-request-id header");
    let (status, body) = json_body(resp).await;
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()
            && e.chars().all(|c| c.is_ascii_lowercase() || c == '_')),
        "{status}: `error` is not a snake_case code: {body}"
    );
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{status}: no message: {body}"
    );
    (status, body)
}

/// Asserts an error response's status and code and returns its body.
pub async fn expect_problem(resp: Response, status: StatusCode, code: &str) -> Value {
    let (got, body) = problem(resp).await;
    assert_eq!(got, status, "{body}");
    assert_eq!(body["error"], code, "{body}");
    body
}

/// Asserts a 422 `validation_failed` that names each of `fields`, and returns its body.
pub async fn expect_fields(resp: Response, fields: &[&str]) -> Value {
    let body = expect_problem(resp, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    for f in fields {
        assert!(
            body["fields"].get(*f).is_some_and(Value::is_string),
            "field `{f}` not named: {body}"
        );
    }
    body
}

/// Asserts a 401 `unauthenticated` with `WWW-Authenticate: Bearer`.
pub async fn expect_unauthenticated(resp: Response) {
    let challenge = header(&resp, WWW_AUTHENTICATE.as_str());
    assert_eq!(challenge, "Bearer");
    expect_problem(resp, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

/// Asserts a 422 `validation_failed` that names `field` and nothing else; returns its body.
pub async fn expect_only_field(resp: Response, field: &str) -> Value {
    let body = expect_fields(resp, &[field]).await;
    let named = body["fields"].as_object().map_or(0, |f| f.len());
    assert_eq!(named, 1, "only `{field}` should be named: {body}");
    body
}

/// Asserts a success status and returns the JSON body.
pub async fn expect_json(resp: Response, status: StatusCode) -> Value {
    let (got, body) = json_body(resp).await;
    assert_eq!(got, status, "{body}");
    body
}

/// A JSON string field of `v`, panicking with the value when absent.
pub fn s<'v>(v: &'v Value, key: &str) -> &'v str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` is not a string in {v}"))
}

/// Asserts a 404 `not_found` and returns its body.
pub async fn expect_not_found(resp: Response) -> Value {
    expect_problem(resp, StatusCode::NOT_FOUND, "not_found").await
}

/// Asserts a 403 `forbidden` and returns its body.
pub async fn expect_forbidden(resp: Response) -> Value {
    expect_problem(resp, StatusCode::FORBIDDEN, "forbidden").await
}

/// The `items` of a list page.
pub fn items(page: &Value) -> &Vec<Value> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no `items` list in {page}"))
}

impl TestApp {
    /// GET that must answer 200; returns the JSON body.
    pub async fn get_ok<'a>(&self, path: &str, token: impl Into<Option<&'a str>>) -> Value {
        expect_json(self.get(path, token).await, StatusCode::OK).await
    }

    /// GET as admin that must be refused as invalid, naming each of `fields`; returns the
    /// problem body.
    pub async fn get_invalid(&self, path: &str, fields: &[&str]) -> Value {
        expect_fields(self.get(path, self.admin()).await, fields).await
    }

    /// The body of a GET that must answer 200, as text.
    pub async fn get_text<'a>(&self, path: &str, token: impl Into<Option<&'a str>>) -> String {
        let resp = self.get(path, token).await;
        assert_eq!(resp.status(), StatusCode::OK, "GET {path}");
        resp.text().await.expect("read body")
    }

    /// POST that must answer `status`; returns the JSON body.
    pub async fn post_expect<'a>(
        &self,
        path: &str,
        token: impl Into<Option<&'a str>>,
        body: &Value,
        status: StatusCode,
    ) -> Value {
        expect_json(self.post(path, token, body).await, status).await
    }

    /// `POST /api/v1/assets/{id}/identifiers` with `token`.
    pub async fn add_tag_as<'a>(
        &self,
        token: impl Into<Option<&'a str>>,
        asset: &Value,
        kind: &str,
        value: &str,
    ) -> Response {
        self.post(
            &format!("/api/v1/assets/{}/identifiers", s(asset, "id")),
            token,
            &json!({"kind": kind, "value": value}),
        )
        .await
    }

    /// `POST /api/v1/assets/{id}/identifiers` as admin.
    pub async fn add_tag(&self, asset: &Value, kind: &str, value: &str) -> Response {
        self.add_tag_as(self.admin(), asset, kind, value).await
    }

    /// Tags an asset as admin; panics unless 201. Returns the identifier.
    pub async fn tag(&self, asset: &Value, kind: &str, value: &str) -> Value {
        expect_json(self.add_tag(asset, kind, value).await, StatusCode::CREATED).await
    }

    /// `GET /api/v1/resolve?code={text}` with `token`.
    pub async fn resolve<'a>(&self, token: impl Into<Option<&'a str>>, text: &str) -> Response {
        self.request(Method::GET, "/api/v1/resolve", token)
            .query(&[("code", text)])
            .send()
            .await
            .expect("send GET resolve")
    }

    /// One page of audit entries matching `query` (as admin), newest first.
    pub async fn audit(&self, query: &[(&str, &str)]) -> Vec<Value> {
        let resp = self
            .request(Method::GET, "/api/v1/audit-log", self.admin())
            .query(query)
            .send()
            .await
            .expect("send GET audit-log");
        items(&expect_json(resp, StatusCode::OK).await).clone()
    }
}

// ---- field scans (api/tests/scans*.rs) -------------------------------------------------------

/// Photo limit of [`ScanApp`]: small, so the over-limit test sends little.
pub const SCAN_PHOTO_LIMIT: usize = 1024 * 1024;

/// A [`TestApp`] configured for field scans: the default JSON body limit (a batch of 1000
/// commands fits), [`SCAN_PHOTO_LIMIT`], and photos kept in a temporary directory that is
/// removed with it (the default `./data` would write into the checkout).
pub struct ScanApp {
    pub app: TestApp,
    /// `data_dir` of the server; photo bytes live under `photos/`.
    pub data_dir: tempfile::TempDir,
}

impl std::ops::Deref for ScanApp {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

impl Fixture for ScanApp {
    async fn open(backend: Backend) -> Option<ScanApp> {
        let data_dir = tempfile::tempdir().expect("photo dir");
        let config = api::ApiConfig {
            data_dir: data_dir.path().to_owned(),
            photo_limit: SCAN_PHOTO_LIMIT,
            ..Default::default()
        };
        let app = TestApp::start(backend, config).await?;
        Some(ScanApp { app, data_dir })
    }
}

impl ScanApp {
    /// The stored bytes of a photo, if the blob store has them.
    pub fn photo_bytes(&self, sha256: &str) -> Option<Vec<u8>> {
        std::fs::read(
            self.data_dir
                .path()
                .join("photos")
                .join(&sha256[..2])
                .join(sha256),
        )
        .ok()
    }
}

/// Sites, users and a clock for one field-scan scenario.
pub struct ScanFixture {
    pub depot: String,
    pub customer: String,
    pub workshop: String,
    /// Bearer token of a technician.
    pub tech: String,
    pub viewer: String,
    /// Device times are minutes after this instant (whole seconds, a day in the past, so that
    /// none is in the future).
    pub base: chrono::DateTime<chrono::Utc>,
}

impl ScanFixture {
    pub async fn new(app: &TestApp) -> ScanFixture {
        let id = |v: Value| s(&v, "id").to_owned();
        let depot = id(app
            .create_site(json!({"name": "Depot", "kind": "depot"}))
            .await);
        let customer = id(app
            .create_site(json!({"name": "Customer yard", "kind": "customer_site"}))
            .await);
        let workshop = id(app
            .create_site(json!({"name": "Workshop", "kind": "workshop"}))
            .await);
        let tech = app.user_with_role(Role::Technician).await;
        let viewer = app.user_with_role(Role::Viewer).await;
        let now = chrono::Utc::now();
        let base = now
            - chrono::Duration::days(1)
            - chrono::Duration::nanoseconds(i64::from(chrono::Timelike::nanosecond(&now)));
        ScanFixture {
            depot,
            customer,
            workshop,
            tech,
            viewer,
            base,
        }
    }

    /// Device time `minutes` after [`ScanFixture::base`], as RFC 3339.
    pub fn t(&self, minutes: i64) -> String {
        (self.base + chrono::Duration::minutes(minutes))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    /// `action` on `asset` at device time [`ScanFixture::t`]`(minutes)`, `extra` merged in.
    pub fn cmd(&self, action: &str, asset: &Value, minutes: i64, extra: Value) -> Value {
        command(action, asset, &self.t(minutes), extra)
    }

    /// The technician delivers `asset` to the customer site at minute `minutes`; must apply.
    pub async fn deliver(&self, app: &TestApp, asset: &Value, minutes: i64) -> Value {
        let cmd = self.cmd("deliver", asset, minutes, json!({"site_id": self.customer}));
        app.scan_ok(&self.tech, &cmd).await
    }

    /// `n` available assets at the depot, coded `{prefix}-0`, `{prefix}-1`, ….
    pub async fn assets(&self, app: &TestApp, prefix: &str, n: usize) -> Vec<Value> {
        let mut assets = Vec::with_capacity(n);
        for i in 0..n {
            assets.push(self.asset(app, &format!("{prefix}-{i}")).await);
        }
        assets
    }

    /// An available asset at the depot (its home site).
    pub async fn asset(&self, app: &TestApp, code: &str) -> Value {
        app.create_asset(
            json!({"code": code, "name": format!("Machine {code}"), "home_site_id": self.depot}),
        )
        .await
    }
}

/// A field command with a fresh id: `action`, the asset by `asset_id`, device time `at`, and
/// `extra` fields merged in.
pub fn command(action: &str, asset: &Value, at: &str, extra: Value) -> Value {
    let mut c = json!({
        "id": uuid::Uuid::now_v7(),
        "action": action,
        "asset_id": asset["id"],
        "device_time": at,
    });
    if let (Some(obj), Value::Object(more)) = (c.as_object_mut(), extra) {
        obj.extend(more);
    }
    c
}

impl TestApp {
    /// `POST /api/v1/scans` with a JSON command.
    pub async fn scan<'a>(&self, token: impl Into<Option<&'a str>>, cmd: &Value) -> Response {
        self.post("/api/v1/scans", token, cmd).await
    }

    /// Posts a command that must be answered 200 `applied`; returns the result.
    pub async fn scan_ok(&self, token: &str, cmd: &Value) -> Value {
        let result = expect_json(self.scan(token, cmd).await, StatusCode::OK).await;
        assert_eq!(result["status"], "applied", "{cmd} → {result}");
        assert_eq!(result["id"], cmd["id"], "{result}");
        result
    }

    /// Posts a command that must be refused with `status` and the error `code`; returns the
    /// problem body.
    pub async fn scan_refused(
        &self,
        token: &str,
        cmd: &Value,
        status: StatusCode,
        code: &str,
    ) -> Value {
        expect_problem(self.scan(token, cmd).await, status, code).await
    }

    /// Posts a command that must be refused as invalid, naming each of `fields`; returns the
    /// problem body.
    pub async fn scan_invalid(&self, token: &str, cmd: &Value, fields: &[&str]) -> Value {
        expect_fields(self.scan(token, cmd).await, fields).await
    }

    /// Sends all `commands` at once, one request each; each must be answered 200. Returns the
    /// results in the order given.
    pub async fn scan_all(&self, token: &str, commands: &[Value]) -> Vec<Value> {
        // Spawned tasks rather than `futures::join_all`: this harness is also compiled into
        // the simulators' tests, which do not depend on `futures`.
        let sends: Vec<_> = commands
            .iter()
            .map(|c| {
                let req = self.request(Method::POST, "/api/v1/scans", token).json(c);
                tokio::spawn(async move {
                    let resp = req.send().await.expect("send POST /api/v1/scans");
                    expect_json(resp, StatusCode::OK).await
                })
            })
            .collect();
        let mut results = Vec::with_capacity(sends.len());
        for send in sends {
            results.push(send.await.expect("scan task"));
        }
        results
    }

    /// Posts a batch that must be answered 200; returns its `results`.
    pub async fn scan_batch_ok(&self, token: &str, commands: &[Value]) -> Vec<Value> {
        let body = expect_json(self.scan_batch(token, commands).await, StatusCode::OK).await;
        body["results"]
            .as_array()
            .unwrap_or_else(|| panic!("no results in {body}"))
            .clone()
    }

    /// `POST /api/v1/scans/batch`.
    pub async fn scan_batch<'a>(
        &self,
        token: impl Into<Option<&'a str>>,
        commands: &[Value],
    ) -> Response {
        self.post(
            "/api/v1/scans/batch",
            token,
            &json!({ "commands": commands }),
        )
        .await
    }

    /// `POST /api/v1/photos` with the raw bytes as the body.
    pub async fn upload_photo<'a>(
        &self,
        token: impl Into<Option<&'a str>>,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Response {
        self.request(Method::POST, "/api/v1/photos", token)
            .header(CONTENT_TYPE, content_type)
            .body(bytes)
            .send()
            .await
            .expect("send photo")
    }

    /// POSTs a multipart form.
    pub async fn post_form<'a>(
        &self,
        path: &str,
        token: impl Into<Option<&'a str>>,
        form: Form,
    ) -> Response {
        self.request(Method::POST, path, token)
            .multipart(form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("send multipart POST {path}: {e}"))
    }

    /// `POST /api/v1/scans` as multipart: a `command` part (JSON) and a `photo` part.
    pub async fn scan_with_photo<'a>(
        &self,
        token: impl Into<Option<&'a str>>,
        cmd: &Value,
        photo: Vec<u8>,
        mime: &str,
    ) -> Response {
        let part = photo_part(photo, "photo").mime_str(mime).expect("mime");
        let form = Form::new()
            .text("command", cmd.to_string())
            .part("photo", part);
        self.post_form("/api/v1/scans", token, form).await
    }

    /// The asset now (as admin).
    pub async fn asset_now(&self, asset: &Value) -> Value {
        let path = format!("/api/v1/assets/{}", s(asset, "id"));
        expect_json(self.get(&path, self.admin()).await, StatusCode::OK).await
    }

    /// `GET /api/v1/assets/{id}/field-history` (as admin), newest first.
    pub async fn field_history(&self, asset: &Value) -> Vec<Value> {
        let path = format!("/api/v1/assets/{}/field-history", s(asset, "id"));
        let body = expect_json(self.get(&path, self.admin()).await, StatusCode::OK).await;
        body.as_array().expect("history is an array").clone()
    }

    /// Audit entries about an asset, optionally of one action, newest first (all pages).
    pub async fn asset_audit(&self, asset: &Value, action: Option<&str>) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![
                ("entity", "asset".to_owned()),
                ("entity_id", s(asset, "id").to_owned()),
                ("limit", "500".to_owned()),
            ];
            if let Some(a) = action {
                query.push(("action", a.to_owned()));
            }
            if let Some(c) = &cursor {
                query.push(("cursor", c.clone()));
            }
            let resp = self
                .request(Method::GET, "/api/v1/audit-log", self.admin())
                .query(&query)
                .send()
                .await
                .expect("send GET audit-log");
            let page = expect_json(resp, StatusCode::OK).await;
            out.extend(page["items"].as_array().expect("items").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return out,
            }
        }
    }
}

/// A multipart part holding a photo's bytes under `file_name`.
pub fn photo_part(bytes: Vec<u8>, file_name: &str) -> Part {
    Part::bytes(bytes).file_name(file_name.to_owned())
}

/// A small, valid PNG (a grey gradient, no QR code).
pub fn tiny_png() -> Vec<u8> {
    let img =
        image::GrayImage::from_fn(32, 32, |x, y| image::Luma([((x * 8 + y * 3) % 256) as u8]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("encode PNG");
    out.into_inner()
}

/// The QR sample photos (`shared/qr-samples` beside the checkout, or `QR_SAMPLES_DIR`); `None`
/// after printing why when they are not there.
pub fn qr_samples() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("QR_SAMPLES_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/qr-samples")
        });
    if dir.is_dir() {
        Some(dir)
    } else {
        let how = format!(
            "put the QR sample photos at {} or set QR_SAMPLES_DIR",
            dir.display()
        );
        domain::testing::skip_or_fail("QR sample photo test", &how);
        None
    }
}
