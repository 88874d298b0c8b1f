//! Tags on assets (QR, barcode, NFC UID, RFID EPC, IMEI) and resolving scanned text to an asset.
//! A removed tag keeps its row, so the history of which tag was on which machine survives.

use chrono::{DateTime, Utc};
use mobile_shared::tag::normalize_tag_value;
use mobile_shared::wire::{Identifier, MatchedIdentifier, NewIdentifier, Resolved};
use mobile_shared::{normalize_asset_code, ErrorCode, IdentifierKind};
use serde_json::json;
use uuid::Uuid;

use crate::actor::Actor;
use crate::assets::{self, AssetRow, SELECT_ASSET};
use crate::audit::Change;
use crate::clock;
use crate::entity::Entity;
use crate::error::DomainError;
use crate::store::{on_read, on_tx, Store};

#[derive(sqlx::FromRow)]
struct IdentifierRow {
    id: Uuid,
    asset_id: Uuid,
    kind: String,
    value: String,
    created_at: DateTime<Utc>,
    removed_at: Option<DateTime<Utc>>,
}

impl IdentifierRow {
    fn into_identifier(self) -> Result<Identifier, DomainError> {
        Ok(Identifier {
            id: self.id,
            asset_id: self.asset_id,
            kind: self
                .kind
                .parse()
                .map_err(|e: mobile_shared::IdentifierError| {
                    DomainError::Internal(e.to_string())
                })?,
            value: self.value,
            active: self.removed_at.is_none(),
            created_at: self.created_at,
            removed_at: self.removed_at,
        })
    }
}

const IDENTIFIER_COLUMNS: &str = "id, asset_id, kind, value, created_at, removed_at";

/// Attaches a tag to an asset. An active tag with the same kind and value on any asset is a
/// conflict: move a tag by removing it first. An RFID tag registered by its pure-identity URI
/// and the same tag registered as hex are two stored values, so no conflict here; scans then
/// match both (see `mobile_shared::tag::normalize_tag_value`).
pub async fn add(
    store: &Store,
    actor: &Actor,
    asset_id: Uuid,
    new: NewIdentifier,
) -> Result<Identifier, DomainError> {
    let value = normalize_tag_value(new.kind, &new.value)
        .map_err(|e| DomainError::field("value", e.to_string()))?;
    let mut tx = store.begin().await?;
    assets::load(&mut tx, asset_id).await?;
    let ident = Identifier {
        id: clock::new_id(),
        asset_id,
        kind: new.kind,
        value,
        active: true,
        created_at: clock::now(),
        removed_at: None,
    };
    let sql = "INSERT INTO asset_identifiers (id, asset_id, kind, value, created_at, created_by) \
               VALUES ($1, $2, $3, $4, $5, $6)";
    let inserted = on_tx!(
        &mut tx,
        execute(
            sqlx::query(sql)
                .bind(ident.id)
                .bind(asset_id)
                .bind(ident.kind.as_str())
                .bind(&ident.value)
                .bind(ident.created_at)
                .bind(&actor.name)
        )
    );
    if let Err(e) = inserted {
        return Err(match e.code() {
            ErrorCode::AlreadyExists => {
                // PostgreSQL refuses further statements in a failed transaction: roll back,
                // then name the asset that holds the tag so the technician knows where it is.
                drop(tx);
                let holder: Option<Uuid> = on_read!(store, |p| {
                    sqlx::query_scalar(
                    "SELECT asset_id FROM asset_identifiers WHERE kind = $1 AND value = $2 AND removed_at IS NULL"
                )
                .bind(ident.kind.as_str())
                .bind(&ident.value)
                .fetch_optional(p)
                .await
                })?;
                DomainError::conflict_with(
                    ErrorCode::IdentifierInUse,
                    format!(
                        "{} `{}` is already active on an asset; remove it there first",
                        ident.kind, ident.value
                    ),
                    json!({ "asset_id": holder }),
                )
            }
            _ => e,
        });
    }
    tx.commit_audited(
        actor,
        Change::action("identifier.add", Entity::Asset, asset_id).after(&ident),
    )
    .await?;
    Ok(ident)
}

/// Deactivates a tag. Its row stays for history.
pub async fn remove(
    store: &Store,
    actor: &Actor,
    asset_id: Uuid,
    identifier_id: Uuid,
) -> Result<Identifier, DomainError> {
    let mut tx = store.begin().await?;
    let sql = format!(
        "SELECT {IDENTIFIER_COLUMNS} FROM asset_identifiers WHERE id = $1 AND asset_id = $2 AND removed_at IS NULL"
    );
    let row: Option<IdentifierRow> = on_tx!(&mut tx, |c| sqlx::query_as(&sql)
        .bind(identifier_id)
        .bind(asset_id)
        .fetch_optional(c)
        .await)?;
    let before = row
        .ok_or(DomainError::not_found(Entity::Identifier))?
        .into_identifier()?;
    let now = clock::now();
    on_tx!(
        &mut tx,
        execute(
            sqlx::query(
                "UPDATE asset_identifiers SET removed_at = $1, removed_by = $2 WHERE id = $3"
            )
            .bind(now)
            .bind(&actor.name)
            .bind(identifier_id)
        )
    )?;
    let after = Identifier {
        active: false,
        removed_at: Some(now),
        ..before.clone()
    };
    tx.commit_audited(
        actor,
        Change::action("identifier.remove", Entity::Asset, asset_id)
            .before(&before)
            .after(&after),
    )
    .await?;
    Ok(after)
}

/// Every tag the asset has had, active first, then by age.
pub async fn list_for_asset(
    store: &Store,
    asset_id: Uuid,
    include_removed: bool,
) -> Result<Vec<Identifier>, DomainError> {
    assets::get(store, asset_id).await?;
    let sql = format!(
        "SELECT {IDENTIFIER_COLUMNS} FROM asset_identifiers WHERE asset_id = $1 \
         AND ($2 OR removed_at IS NULL) ORDER BY removed_at IS NOT NULL, id"
    );
    let rows: Vec<IdentifierRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(asset_id)
        .bind(include_removed)
        .fetch_all(p)
        .await)?;
    rows.into_iter()
        .map(IdentifierRow::into_identifier)
        .collect()
}

/// What to look for, in order, when resolving scanned text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// `None` matches asset codes; `Some` matches active identifiers of that kind.
    pub kind: Option<IdentifierKind>,
    pub value: String,
}

/// The lookups scanned text stands for: first what the tag parser recognises (GS1 Digital Link
/// and element strings, EPC hex and URIs, NFC UIDs, URLs — see `mobile_shared::tag`), then the
/// text itself as an asset code and as a tag value of each kind, and — for a URL — the same for
/// its last path segment (our label URLs end in the asset code).
pub fn candidates(text: &str) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    let mut push = |c: Candidate| {
        if !out.contains(&c) {
            out.push(c);
        }
    };
    if let Ok(scanned) = mobile_shared::tag::parse(text) {
        for c in scanned.candidates {
            push(Candidate {
                kind: c.kind,
                value: c.value,
            });
        }
    }
    let mut texts = vec![text.trim().to_owned()];
    if let Some(segment) = url_last_segment(text) {
        texts.push(segment);
    }
    for t in &texts {
        if let Ok(code) = normalize_asset_code(t) {
            push(Candidate {
                kind: None,
                value: code,
            });
        }
        for kind in IdentifierKind::ALL {
            if let Ok(value) = normalize_tag_value(kind, t) {
                push(Candidate {
                    kind: Some(kind),
                    value,
                });
            }
        }
    }
    out
}

/// The last non-empty path segment of an http(s) URL, percent-decoded; a `code` query
/// parameter wins when present.
fn url_last_segment(text: &str) -> Option<String> {
    let t = text.trim();
    let rest = t
        .strip_prefix("https://")
        .or_else(|| t.strip_prefix("http://"))
        .or_else(|| t.strip_prefix("HTTPS://"))
        .or_else(|| t.strip_prefix("HTTP://"))?;
    let rest = rest.split('#').next().unwrap_or("");
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if let Some(q) = query {
        for pair in q.split('&') {
            if let Some(v) = pair.strip_prefix("code=") {
                return percent_decode(v).filter(|s| !s.is_empty());
            }
        }
    }
    let path = path.split_once('/').map(|(_, p)| p).unwrap_or("");
    let seg = path.split('/').rev().find(|s| !s.is_empty())?;
    percent_decode(seg)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[derive(sqlx::FromRow)]
struct MatchRow {
    asset_id: Uuid,
    kind: String,
    value: String,
}

/// Finds the asset that scanned text stands for. Asset codes win over tags; if the text
/// matches tags on more than one asset, that is a conflict the user must see.
pub async fn resolve(store: &Store, text: &str) -> Result<Resolved, DomainError> {
    let cands = candidates(text);
    if cands.is_empty() {
        return Err(DomainError::field("code", "is empty or unreadable"));
    }
    for c in cands.iter().filter(|c| c.kind.is_none()) {
        let sql = format!("{SELECT_ASSET} WHERE a.code = $1 AND a.deleted_at IS NULL");
        let row: Option<AssetRow> = on_read!(store, |p| sqlx::query_as(&sql)
            .bind(&c.value)
            .fetch_optional(p)
            .await)?;
        if let Some(row) = row {
            return Ok(Resolved {
                asset: row.into_asset()?,
                matched: MatchedIdentifier {
                    kind: "code".into(),
                    value: c.value.clone(),
                },
            });
        }
    }
    let mut found: Vec<MatchRow> = Vec::new();
    for c in cands.iter() {
        let Some(kind) = c.kind else { continue };
        let rows: Vec<MatchRow> = on_read!(store, |p| {
            sqlx::query_as(
            "SELECT asset_id, kind, value FROM asset_identifiers WHERE kind = $1 AND value = $2 AND removed_at IS NULL"
        )
        .bind(kind.as_str())
        .bind(&c.value)
        .fetch_all(p)
        .await
        })?;
        for r in rows {
            if !found.iter().any(|f| f.asset_id == r.asset_id) {
                found.push(r);
            }
        }
    }
    match found.len() {
        0 => Err(DomainError::not_found(Entity::Asset)),
        1 => {
            let m = found.remove(0);
            Ok(Resolved {
                asset: assets::get(store, m.asset_id).await?,
                matched: MatchedIdentifier {
                    kind: m.kind,
                    value: m.value,
                },
            })
        }
        _ => Err(DomainError::conflict_with(
            ErrorCode::AmbiguousCode,
            "the scanned text matches tags on more than one asset",
            json!({ "asset_ids": found.iter().map(|f| f.asset_id).collect::<Vec<_>>() }),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_yield_their_last_segment() {
        assert_eq!(
            url_last_segment("https://fleet.example.com/a/EX-0042").as_deref(),
            Some("EX-0042")
        );
        assert_eq!(
            url_last_segment("https://fleet.example.com/a/EX%2D0042/").as_deref(),
            Some("EX-0042")
        );
        assert_eq!(
            url_last_segment("https://x.example/resolve?code=EX-7&x=1").as_deref(),
            Some("EX-7")
        );
        assert_eq!(url_last_segment("EX-0042"), None);
        assert_eq!(url_last_segment("https://host.example"), None);
        assert_eq!(url_last_segment("https://h.example/%ZZ"), None);
        assert_eq!(url_last_segment("https://h.example/%4"), None);
    }

    #[test]
    fn rfid_reads_also_look_for_a_tag_registered_by_its_identity() {
        // Stocktake bursts resolve through these candidates as well.
        let c = candidates("3474257BF40000000000162E");
        assert!(c.contains(&Candidate {
            kind: Some(IdentifierKind::RfidEpc),
            value: "urn:epc:id:giai:0614141.5678".into()
        }));
    }

    #[test]
    fn candidates_put_the_code_first() {
        let c = candidates(" ex-0042 ");
        assert_eq!(
            c[0],
            Candidate {
                kind: None,
                value: "EX-0042".into()
            }
        );
        assert!(c.contains(&Candidate {
            kind: Some(IdentifierKind::Qr),
            value: "ex-0042".into()
        }));
    }
}
