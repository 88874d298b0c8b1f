//! The phone's HTTP side: one reqwest client with a bearer token, every request counted, and
//! answers classified the way the scan contract defines them (ARCHITECTURE.md, "Field commands
//! and offline sync"): a single rejected command is an HTTP error whose `detail` is the stored
//! result, so only statuses outside that contract count as HTTP errors.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use mobile_shared::scan::{BatchResults, CommandBatch, CommandResult, FieldCommand, PhotoStored};
use mobile_shared::wire::{LoginRequest, LoginResponse, Page, Problem};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// One request may take this long (a batch of 1,000 commands on a busy SQLite server included).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest page the list routes serve.
pub(crate) const PAGE_LIMIT: u32 = 500;

/// HTTP counts shared by every phone.
#[derive(Debug, Default)]
pub(crate) struct HttpStats {
    requests: AtomicU64,
    /// Non-2xx answers outside the command contract, by `status code` (or `transport`).
    errors: Mutex<BTreeMap<String, u64>>,
}

impl HttpStats {
    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub(crate) fn errors(&self) -> BTreeMap<String, u64> {
        self.errors.lock().map(|e| e.clone()).unwrap_or_default()
    }

    fn error(&self, key: String) {
        if let Ok(mut e) = self.errors.lock() {
            *e.entry(key).or_default() += 1;
        }
    }
}

/// How the server answered one field command.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    /// 200, or a 404/409/422 problem carrying the command's stored result in `detail`.
    Result {
        http: u16,
        result: Box<CommandResult>,
    },
    /// 422 `no_code_found`: no QR code in the photo; nothing was stored, a retake may work.
    NoCode,
    /// Anything else (counted as an HTTP error): a status the contract does not give a command,
    /// or no answer at all.
    Failed(String),
}

/// A logged-in API client. Clones share the connection pool and the counters.
#[derive(Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    base: String,
    token: String,
    stats: Arc<HttpStats>,
}

impl Http {
    /// Logs in as `username`; fails with the server's message when the login is refused.
    pub(crate) async fn login(
        base: &str,
        username: &str,
        password: &str,
        stats: Arc<HttpStats>,
    ) -> Result<Http> {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("building the HTTP client")?;
        let mut http = Http {
            client,
            base: base.trim_end_matches('/').to_owned(),
            token: String::new(),
            stats,
        };
        let body = LoginRequest::new(username, password);
        let login: LoginResponse = http
            .json(Method::POST, "/api/v1/auth/login", &[], Some(&body))
            .await
            .with_context(|| format!("logging in as {username} at {}", http.base))?;
        http.token = login.token;
        Ok(http)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let rb = self.client.request(method, self.url(path));
        if self.token.is_empty() {
            rb
        } else {
            rb.bearer_auth(&self.token)
        }
    }

    /// Sends and reads the whole body; a transport failure is counted and returned as an error.
    async fn send(&self, rb: reqwest::RequestBuilder, what: &str) -> Result<(StatusCode, Vec<u8>)> {
        let outcome = async {
            let resp = rb.send().await?;
            let status = resp.status();
            let bytes = resp.bytes().await?;
            Ok::<_, reqwest::Error>((status, bytes.to_vec()))
        }
        .await;
        match outcome {
            Ok((status, body)) => {
                if status.is_server_error() {
                    // Every 5xx counts, whoever asked: the run then exits non-zero.
                    self.stats.error(status.as_u16().to_string());
                }
                Ok((status, body))
            }
            Err(e) => {
                self.stats.error("transport".into());
                Err(anyhow::Error::new(e).context(format!("{what}: no answer")))
            }
        }
    }

    /// A JSON request whose answer must be a 2xx with a `T` body (setup and reads: anything
    /// else is an error naming the route and the server's problem).
    pub(crate) async fn json<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<T> {
        let what = format!("{method} {path}");
        let mut rb = self.request(method, path).query(query);
        if let Some(b) = body {
            rb = rb.json(b);
        }
        let (status, bytes) = self.send(rb, &what).await?;
        if !status.is_success() {
            if status.is_client_error() {
                self.stats.error(status.as_u16().to_string());
            }
            bail!("{what} answered {status}: {}", problem_text(&bytes));
        }
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{what} answered {status} with an unexpected body"))
    }

    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T> {
        self.json::<(), T>(Method::GET, path, query, None).await
    }

    pub(crate) async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T> {
        self.json(Method::POST, path, &[], Some(body)).await
    }

    /// Every item of a paginated list, following `next_cursor`, stopping after `max` items.
    pub(crate) async fn list<T: DeserializeOwned>(
        &self,
        path: &str,
        filters: &[(&str, String)],
        max: usize,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        while out.len() < max {
            let mut query = filters.to_vec();
            query.push(("limit", PAGE_LIMIT.to_string()));
            if let Some(c) = &cursor {
                query.push(("cursor", c.clone()));
            }
            let page: Page<T> = self.get(path, &query).await?;
            out.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        out.truncate(max);
        Ok(out)
    }

    /// Raw bytes of a 2xx answer (label images).
    pub(crate) async fn bytes(&self, path: &str) -> Result<Vec<u8>> {
        let what = format!("GET {path}");
        let (status, bytes) = self.send(self.request(Method::GET, path), &what).await?;
        if !status.is_success() {
            if status.is_client_error() {
                self.stats.error(status.as_u16().to_string());
            }
            bail!("{what} answered {status}: {}", problem_text(&bytes));
        }
        Ok(bytes)
    }

    /// `POST /api/v1/photos` with the image as the body.
    pub(crate) async fn upload_photo(&self, png: &[u8]) -> Result<PhotoStored> {
        let what = "POST /api/v1/photos";
        let rb = self
            .request(Method::POST, "/api/v1/photos")
            .header(reqwest::header::CONTENT_TYPE, "image/png")
            .body(png.to_vec());
        let (status, bytes) = self.send(rb, what).await?;
        if status != StatusCode::CREATED {
            if status.is_client_error() {
                self.stats.error(status.as_u16().to_string());
            }
            bail!("{what} answered {status}: {}", problem_text(&bytes));
        }
        serde_json::from_slice(&bytes).with_context(|| format!("{what}: unexpected body"))
    }

    /// `POST /api/v1/scans`: JSON, or multipart with the photo when there is one.
    pub(crate) async fn command(&self, cmd: &FieldCommand, photo: Option<&[u8]>) -> Answer {
        let rb = self.request(Method::POST, "/api/v1/scans");
        let rb = match photo {
            None => rb.json(cmd),
            Some(png) => match multipart(cmd, png) {
                Ok(form) => rb.multipart(form),
                Err(e) => return Answer::Failed(format!("building the multipart body: {e:#}")),
            },
        };
        match self.send(rb, "POST /api/v1/scans").await {
            Ok((status, body)) => self.classify(status, &body),
            Err(e) => Answer::Failed(format!("{e:#}")),
        }
    }

    fn classify(&self, status: StatusCode, body: &[u8]) -> Answer {
        if status == StatusCode::OK {
            return match serde_json::from_slice::<CommandResult>(body) {
                Ok(result) => Answer::Result {
                    http: 200,
                    result: Box::new(result),
                },
                Err(e) => Answer::Failed(format!("200 with a body that is no result: {e}")),
            };
        }
        let problem = serde_json::from_slice::<Problem>(body).ok();
        if let Some(p) = &problem {
            if status == StatusCode::UNPROCESSABLE_ENTITY
                && p.error == mobile_shared::ErrorCode::NoCodeFound
            {
                return Answer::NoCode;
            }
            let stored = p
                .detail
                .clone()
                .and_then(|d| serde_json::from_value::<CommandResult>(d).ok());
            if let (Some(result), true) = (stored, status.is_client_error()) {
                return Answer::Result {
                    http: status.as_u16(),
                    result: Box::new(result),
                };
            }
        }
        if status.is_client_error() {
            self.stats.error(status.as_u16().to_string());
        }
        Answer::Failed(format!("{status}: {}", problem_text(body)))
    }

    /// `POST /api/v1/scans/batch`; the results, checked to answer each command in order.
    pub(crate) async fn batch(&self, commands: &[FieldCommand]) -> Result<Vec<CommandResult>> {
        let body = CommandBatch {
            commands: commands.to_vec(),
        };
        let results: BatchResults = self.post("/api/v1/scans/batch", &body).await?;
        if results.results.len() != commands.len() {
            bail!(
                "a batch of {} commands was answered with {} results",
                commands.len(),
                results.results.len()
            );
        }
        if let Some((c, r)) = commands
            .iter()
            .zip(&results.results)
            .find(|(c, r)| c.id != r.id)
        {
            bail!(
                "batch answers out of order: command {} answered as {}",
                c.id,
                r.id
            );
        }
        Ok(results.results)
    }
}

fn multipart(cmd: &FieldCommand, png: &[u8]) -> Result<reqwest::multipart::Form> {
    let part = reqwest::multipart::Part::bytes(png.to_vec())
        .file_name("label.png")
        .mime_str("image/png")?;
    Ok(reqwest::multipart::Form::new()
        .text("command", serde_json::to_string(cmd)?)
        .part("photo", part))
}

/// `error: message` of a problem body, or the start of whatever else the body was.
fn problem_text(body: &[u8]) -> String {
    match serde_json::from_slice::<Problem>(body) {
        Ok(p) => format!("{}: {}", p.error, p.message),
        Err(_) => String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
    }
}
