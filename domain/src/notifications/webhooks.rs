//! Webhook endpoints: where signed POSTs of notifications go, which kinds each receives, and
//! the per-endpoint signing secret.
//!
//! The secret (Standard Webhooks `whsec_` + base64 of 32 random bytes) is generated here and
//! shown once, in the create answer. It is stored as is, not hashed: every delivery is signed
//! with it (HMAC-SHA256), so the server must be able to read it back. Lists never include it.

use base64::Engine;
use chrono::{DateTime, Utc};
use mobile_shared::notifications::{
    NewWebhookEndpoint, WebhookCreated, WebhookEndpoint, WebhookPatch,
};
use mobile_shared::wire::Page;
use rand::RngCore;
use sqlx::types::Json;
use uuid::Uuid;

use super::{enqueue, NewNotification, Recipient};
use crate::actor::Actor;
use crate::audit::{record, Change};
use crate::clock;
use crate::entity::Entity;
use crate::error::{DomainError, Validator};
use crate::pagination::PageRequest;
use crate::store::{on_read, on_tx, Store, Tx};

/// The event filter that matches every kind.
pub const ALL_KINDS: &str = "*";
/// The prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";
const SECRET_BYTES: usize = 32;
const MAX_URL_LEN: usize = 2000;

#[derive(sqlx::FromRow)]
struct EndpointRow {
    id: Uuid,
    url: String,
    description: Option<String>,
    event_kinds: Json<Vec<String>>,
    enabled: bool,
    source: String,
    created_at: DateTime<Utc>,
}

impl From<EndpointRow> for WebhookEndpoint {
    fn from(r: EndpointRow) -> Self {
        WebhookEndpoint {
            id: r.id,
            url: r.url,
            description: r.description,
            event_kinds: r.event_kinds.0,
            enabled: r.enabled,
            from_config: r.source == SOURCE_CONFIG,
            created_at: r.created_at,
        }
    }
}

/// An endpoint row with its secret (only the configuration sync compares secrets).
#[derive(sqlx::FromRow)]
struct WithSecret {
    #[sqlx(flatten)]
    endpoint: EndpointRow,
    secret: String,
}

const ENDPOINT_COLUMNS: &str = "id, url, description, event_kinds, enabled, source, created_at";
const SOURCE_API: &str = "api";
const SOURCE_CONFIG: &str = "config";

/// A new random signing secret.
pub fn new_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// An absolute http(s) URL with a host; no spaces, no fragment.
fn validate_url(v: &mut Validator, url: &str) {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?']).next().unwrap_or(""));
    let ok = url.len() <= MAX_URL_LEN
        && host.is_some_and(|h| !h.is_empty() && !h.starts_with(':') && !h.contains('@'))
        && !url.contains(char::is_whitespace)
        && !url.contains('#');
    if !ok {
        v.add(
            "url",
            "must be an http:// or https:// URL with a host, at most 2000 characters",
        );
    }
}

/// A validated endpoint definition.
struct Definition {
    url: String,
    description: Option<String>,
    event_kinds: Vec<String>,
}

/// Trims and checks an endpoint's fields; `field` prefixes the names in errors (`webhooks[2].`
/// for the configuration file).
fn define(
    v: &mut Validator,
    field: &str,
    url: &str,
    description: Option<String>,
    event_kinds: Option<Vec<String>>,
) -> Definition {
    let url = url.trim().to_owned();
    let mut kinds: Vec<String> = event_kinds
        .unwrap_or_else(|| vec![ALL_KINDS.to_owned()])
        .into_iter()
        .map(|k| k.trim().to_owned())
        .collect();
    kinds.sort();
    kinds.dedup();
    let mut fv = Validator::new();
    validate_url(&mut fv, &url);
    if kinds.is_empty()
        || kinds
            .iter()
            .any(|k| k.is_empty() || k.len() > 100 || k.contains(char::is_whitespace))
    {
        fv.add(
            "event_kinds",
            "must list 1 or more kinds (1-100 characters, no spaces), or `*`",
        );
    }
    let description = description
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty());
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 500)
    {
        fv.add("description", "must be at most 500 characters");
    }
    if let Err(DomainError::Validation(fields)) = fv.finish() {
        for (name, message) in fields {
            v.add(&format!("{field}{name}"), message);
        }
    }
    Definition {
        url,
        description,
        event_kinds: kinds,
    }
}

/// Inserts an endpoint (enabled) and audits it, without its secret.
async fn insert(
    tx: &mut Tx,
    def: Definition,
    secret: &str,
    source: &str,
) -> Result<WebhookEndpoint, DomainError> {
    let now = clock::now();
    let endpoint = WebhookEndpoint {
        id: clock::new_id(),
        url: def.url,
        description: def.description,
        event_kinds: def.event_kinds,
        enabled: true,
        from_config: source == SOURCE_CONFIG,
        created_at: now,
    };
    let sql = "INSERT INTO webhook_endpoints (id, url, description, event_kinds, enabled, secret, \
                 source, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)";
    on_tx!(
        tx,
        execute(
            sqlx::query(sql)
                .bind(endpoint.id)
                .bind(&endpoint.url)
                .bind(&endpoint.description)
                .bind(Json(&endpoint.event_kinds))
                .bind(true)
                .bind(secret)
                .bind(source)
                .bind(now)
        )
    )?;
    Ok(endpoint)
}

/// Registers an endpoint (enabled) and answers it with its new secret, the only time the
/// secret is shown.
pub async fn create(
    store: &Store,
    actor: &Actor,
    new: NewWebhookEndpoint,
) -> Result<WebhookCreated, DomainError> {
    let mut v = Validator::new();
    let def = define(&mut v, "", &new.url, new.description, new.event_kinds);
    v.finish()?;
    let secret = new_secret();
    let mut tx = store.begin().await?;
    let endpoint = insert(&mut tx, def, &secret, SOURCE_API).await?;
    // The audit snapshot is the endpoint without its secret.
    tx.commit_audited(
        actor,
        Change::created(Entity::WebhookEndpoint, endpoint.id, &endpoint),
    )
    .await?;
    Ok(WebhookCreated { endpoint, secret })
}

/// An endpoint declared in the configuration file, with the secret the operator chose (the
/// receiver must know it, so it is not generated here).
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfiguredEndpoint {
    pub url: String,
    /// `whsec_` + base64 of at least 24 bytes.
    pub secret: String,
    #[serde(default)]
    pub event_kinds: Option<Vec<String>>,
    #[serde(default)]
    pub description: Option<String>,
}

impl std::fmt::Debug for ConfiguredEndpoint {
    // Settings are logged at startup: never the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfiguredEndpoint")
            .field("url", &self.url)
            .field("secret", &"***")
            .field("event_kinds", &self.event_kinds)
            .field("description", &self.description)
            .finish()
    }
}

/// A secret an operator wrote: the Standard Webhooks form with enough key bytes.
fn validate_secret(v: &mut Validator, field: &str, secret: &str) {
    let bytes = secret
        .strip_prefix(SECRET_PREFIX)
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok());
    if bytes.is_none_or(|b| b.len() < 24) {
        v.add(
            field,
            "must be `whsec_` + base64 of at least 24 random bytes (e.g. `whsec_$(openssl rand -base64 32)`)",
        );
    }
}

/// Puts the configuration file's endpoints in the database, keyed by URL: new ones are created,
/// existing ones take the file's secret, kinds and description and are enabled, and endpoints
/// the file no longer lists are disabled (kept, with their delivery log). Endpoints registered
/// over the API are left alone. One transaction; each change audited. Answers how many
/// endpoints the file now enables.
pub async fn sync_configured(
    store: &Store,
    actor: &Actor,
    configured: &[ConfiguredEndpoint],
) -> Result<usize, DomainError> {
    let mut v = Validator::new();
    let mut defs = Vec::new();
    for (i, c) in configured.iter().enumerate() {
        let field = format!("webhooks[{i}].");
        validate_secret(&mut v, &format!("{field}secret"), &c.secret);
        let def = define(
            &mut v,
            &field,
            &c.url,
            c.description.clone(),
            c.event_kinds.clone(),
        );
        if defs
            .iter()
            .any(|(d, _): &(Definition, &str)| d.url == def.url)
        {
            v.add(&format!("{field}url"), "is listed twice");
        }
        defs.push((def, c.secret.as_str()));
    }
    v.finish()?;
    let mut tx = store.begin().await?;
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS}, secret FROM webhook_endpoints WHERE source = $1 ORDER BY id{}",
        tx.row_lock(crate::store::RowLock::Update)
    );
    let rows: Vec<WithSecret> = on_tx!(&mut tx, |c| sqlx::query_as(&sql)
        .bind(SOURCE_CONFIG)
        .fetch_all(c)
        .await)?;
    let mut existing: Vec<(WebhookEndpoint, String)> = rows
        .into_iter()
        .map(|r| (WebhookEndpoint::from(r.endpoint), r.secret))
        .collect();
    let enabled = defs.len();
    for (def, secret) in defs {
        match existing.iter().position(|(e, _)| e.url == def.url) {
            Some(i) => {
                let (before, old_secret) = existing.swap_remove(i);
                let after = WebhookEndpoint {
                    description: def.description,
                    event_kinds: def.event_kinds,
                    enabled: true,
                    ..before.clone()
                };
                if after == before && old_secret == secret {
                    continue;
                }
                let sql = "UPDATE webhook_endpoints SET description = $1, event_kinds = $2, \
                             enabled = $3, secret = $4, updated_at = $5 WHERE id = $6";
                on_tx!(
                    &mut tx,
                    execute(
                        sqlx::query(sql)
                            .bind(&after.description)
                            .bind(Json(&after.event_kinds))
                            .bind(true)
                            .bind(secret)
                            .bind(clock::now())
                            .bind(after.id)
                    )
                )?;
                // A rotated secret shows as an update with equal snapshots: the secret itself
                // is never audited.
                record(
                    &mut tx,
                    actor,
                    Change::updated(Entity::WebhookEndpoint, after.id, &before, &after),
                )
                .await?;
            }
            None => {
                let endpoint = insert(&mut tx, def, secret, SOURCE_CONFIG).await?;
                record(
                    &mut tx,
                    actor,
                    Change::created(Entity::WebhookEndpoint, endpoint.id, &endpoint),
                )
                .await?;
            }
        }
    }
    for (before, _) in existing.into_iter().filter(|(e, _)| e.enabled) {
        let sql = "UPDATE webhook_endpoints SET enabled = $1, updated_at = $2 WHERE id = $3";
        on_tx!(
            &mut tx,
            execute(
                sqlx::query(sql)
                    .bind(false)
                    .bind(clock::now())
                    .bind(before.id)
            )
        )?;
        let after = WebhookEndpoint {
            enabled: false,
            ..before.clone()
        };
        record(
            &mut tx,
            actor,
            Change::updated(Entity::WebhookEndpoint, before.id, &before, &after),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(enabled)
}

pub async fn list(store: &Store, page: PageRequest) -> Result<Page<WebhookEndpoint>, DomainError> {
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints \
         WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2"
    );
    let rows: Vec<EndpointRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(page.after)
        .bind(page.fetch())
        .fetch_all(p)
        .await)?;
    Ok(page.page(rows, |r| r.id, WebhookEndpoint::from))
}

async fn get_tx(tx: &mut Tx, id: Uuid) -> Result<WebhookEndpoint, DomainError> {
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1{}",
        tx.row_lock(crate::store::RowLock::Update)
    );
    let row: Option<EndpointRow> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(c)
        .await)?;
    Ok(row
        .ok_or(DomainError::not_found(Entity::WebhookEndpoint))?
        .into())
}

/// Enables or disables an endpoint. A disabled endpoint gets no new deliveries, and its pending
/// ones fail at their next attempt ("endpoint disabled"; an admin can retry them later).
pub async fn update(
    store: &Store,
    actor: &Actor,
    id: Uuid,
    patch: WebhookPatch,
) -> Result<WebhookEndpoint, DomainError> {
    let mut tx = store.begin().await?;
    let before = get_tx(&mut tx, id).await?;
    let after = WebhookEndpoint {
        enabled: patch.enabled,
        ..before.clone()
    };
    let sql = "UPDATE webhook_endpoints SET enabled = $1, updated_at = $2 WHERE id = $3";
    on_tx!(
        &mut tx,
        execute(
            sqlx::query(sql)
                .bind(patch.enabled)
                .bind(clock::now())
                .bind(id)
        )
    )?;
    tx.commit_audited(
        actor,
        Change::updated(Entity::WebhookEndpoint, id, &before, &after),
    )
    .await?;
    Ok(after)
}

/// Enqueues a `webhook.test` notification addressed to this endpoint alone (whether it is
/// subscribed to that kind or not); answers the notification id.
pub async fn send_test(store: &Store, actor: &Actor, id: Uuid) -> Result<Uuid, DomainError> {
    let mut tx = store.begin().await?;
    let endpoint = get_tx(&mut tx, id).await?;
    let notification = enqueue(
        &mut tx,
        NewNotification {
            kind: "webhook.test".into(),
            title: "Test event".into(),
            body: format!("A test event sent by {}", actor.name),
            data: serde_json::json!({ "endpoint_id": id, "requested_by": actor.name }),
            subject: Some((Entity::WebhookEndpoint, id)),
            recipients: vec![Recipient::Endpoint(id)],
        },
    )
    .await?;
    tx.commit_audited(
        actor,
        Change::action("webhook_endpoint.test", Entity::WebhookEndpoint, id).after(&endpoint),
    )
    .await?;
    Ok(notification)
}

/// An endpoint a notification goes to.
pub(super) struct Target {
    pub id: Uuid,
    pub url: String,
}

/// The enabled endpoints a notification of `kind` goes to: the `addressed` ones if any,
/// otherwise every endpoint subscribed to `kind` or to `*`.
pub(super) async fn targets(
    tx: &mut Tx,
    kind: &str,
    addressed: &[Uuid],
) -> Result<Vec<Target>, DomainError> {
    let sql = "SELECT id, url, event_kinds FROM webhook_endpoints WHERE enabled = $1 ORDER BY id";
    let rows: Vec<(Uuid, String, Json<Vec<String>>)> =
        on_tx!(tx, |c| sqlx::query_as(sql).bind(true).fetch_all(c).await)?;
    Ok(rows
        .into_iter()
        .filter(|(id, _, kinds)| {
            if addressed.is_empty() {
                kinds.0.iter().any(|k| k == ALL_KINDS || k == kind)
            } else {
                addressed.contains(id)
            }
        })
        .map(|(id, url, _)| Target { id, url })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        for ok in [
            "http://127.0.0.1:8080/hook",
            "https://example.com",
            "https://a.b/c?d=e",
        ] {
            let mut v = Validator::new();
            validate_url(&mut v, ok);
            assert!(v.finish().is_ok(), "{ok}");
        }
        for bad in [
            "ftp://x",
            "http://",
            "https:///x",
            "http://a b",
            "example.com",
            "http://u@h/",
        ] {
            let mut v = Validator::new();
            validate_url(&mut v, bad);
            assert!(v.finish().is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_are_standard_webhooks_secrets() {
        let s = new_secret();
        let raw = s.strip_prefix(SECRET_PREFIX).expect("prefix");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(raw)
            .expect("base64");
        assert_eq!(bytes.len(), SECRET_BYTES);
        assert_ne!(s, new_secret());
    }
}
