//! Stocktake sessions: counting the machines at one site.
//!
//! Starting a stocktake snapshots the assets recorded at the site (`stocktake_expected`), so the
//! count is compared with what the registry said *when counting began*, not with a list that
//! moves while technicians walk the yard. Scans arrive in bursts (an RFID reader reports each
//! tag many times); every burst is resolved set-based — a handful of statements however long
//! it is — and recorded with upserts keyed by the tables' primary keys, so repeats within a
//! burst, across bursts, replays and concurrent technicians all leave each asset seen once
//! (`reads` counts the repeats). Values matching no single asset are kept in
//! `stocktake_unknown` for someone to look at.
//!
//! Concurrency: a scan holds a share lock on its stocktake row (PostgreSQL; SQLite has a single
//! writer) and completion an exclusive one, so no scan can land in a stocktake after it was
//! completed. Upserts run in key order, so concurrent bursts never deadlock each other.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use mobile_shared::identifier::MAX_IDENTIFIER_LEN;
use mobile_shared::stocktake::{
    NewStocktake, Resolution, ResolveFinding, ScanBurstResult, Stocktake, StocktakeReport,
    StocktakeStatus, UnknownCode, WrongLocation, MAX_SCAN_CODES,
};
use mobile_shared::wire::{Asset, Page};
use mobile_shared::{AssetStatus, ErrorCode};
use serde_json::json;
use sqlx::QueryBuilder;
use uuid::Uuid;

use crate::actor::Actor;
use crate::assets::{self, AssetRow, SELECT_ASSET};
use crate::audit::{self, Change};
use crate::entity::Entity;
use crate::error::{DomainError, Validator};
use crate::identifiers::{self, Candidate};
use crate::pagination::PageRequest;
use crate::store::{on_read, on_tx, RowLock, Store, Tx};
use crate::{clock, refs};

/// Values per multi-row statement: at most 5 parameters a row keeps a chunk far below SQLite's
/// 32766 bound parameters.
const CHUNK: usize = 1000;

#[derive(sqlx::FromRow)]
struct StocktakeRow {
    id: Uuid,
    site_id: Uuid,
    status: String,
    started_by: String,
    started_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
    expected_count: i64,
    seen_count: i64,
    unknown_count: i64,
}

impl StocktakeRow {
    fn into_stocktake(self) -> Result<Stocktake, DomainError> {
        Ok(Stocktake {
            id: self.id,
            site_id: self.site_id,
            status: self.status.parse().map_err(
                |e: mobile_shared::stocktake::UnknownStocktakeStatus| {
                    DomainError::Internal(e.to_string())
                },
            )?,
            started_by: self.started_by,
            started_at: self.started_at,
            completed_at: self.completed_at,
            expected_count: self.expected_count,
            seen_count: self.seen_count,
            unknown_count: self.unknown_count,
        })
    }
}

/// The session with its counts; the primary keys make each count an index range scan.
const SELECT_STOCKTAKE: &str = "SELECT s.id, s.site_id, s.status, s.started_by, s.started_at, \
    s.completed_at, \
    (SELECT COUNT(*) FROM stocktake_expected e WHERE e.stocktake_id = s.id) AS expected_count, \
    (SELECT COUNT(*) FROM stocktake_seen v WHERE v.stocktake_id = s.id) AS seen_count, \
    (SELECT COUNT(*) FROM stocktake_unknown u WHERE u.stocktake_id = s.id) AS unknown_count \
    FROM stocktakes s";

/// Filters for listing stocktakes; all optional, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct StocktakeFilter {
    pub site_id: Option<Uuid>,
    pub status: Option<StocktakeStatus>,
}

/// Starts a stocktake at a site: the expected set is the site's (non-deleted) assets now.
pub async fn start(
    store: &Store,
    actor: &Actor,
    new: NewStocktake,
) -> Result<Stocktake, DomainError> {
    let mut tx = store.begin().await?;
    if !refs::site_exists(&mut tx, new.site_id).await? {
        return Err(DomainError::field("site_id", "no such site"));
    }
    let id = clock::new_id();
    let now = clock::now();
    on_tx!(
        &mut tx,
        execute(
            sqlx::query(
                "INSERT INTO stocktakes (id, site_id, status, started_by, started_at) \
         VALUES ($1, $2, 'open', $3, $4)"
            )
            .bind(id)
            .bind(new.site_id)
            .bind(&actor.name)
            .bind(now)
        )
    )?;
    on_tx!(
        &mut tx,
        execute(
            sqlx::query(
                "INSERT INTO stocktake_expected (stocktake_id, asset_id) \
         SELECT $1, id FROM assets WHERE site_id = $2 AND deleted_at IS NULL"
            )
            .bind(id)
            .bind(new.site_id)
        )
    )?;
    let stocktake = load(&mut tx, id).await?;
    tx.commit_audited(
        actor,
        Change::action("stocktake.start", Entity::Stocktake, id).after(&stocktake),
    )
    .await?;
    Ok(stocktake)
}

/// Reads a stocktake inside a write transaction.
async fn load(tx: &mut Tx, id: Uuid) -> Result<Stocktake, DomainError> {
    let sql = format!("{SELECT_STOCKTAKE} WHERE s.id = $1");
    let row: Option<StocktakeRow> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(c)
        .await)?;
    row.ok_or(DomainError::not_found(Entity::Stocktake))?
        .into_stocktake()
}

pub async fn get(store: &Store, id: Uuid) -> Result<Stocktake, DomainError> {
    let sql = format!("{SELECT_STOCKTAKE} WHERE s.id = $1");
    let row: Option<StocktakeRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(p)
        .await)?;
    row.ok_or(DomainError::not_found(Entity::Stocktake))?
        .into_stocktake()
}

/// Oldest first; the cursor is the id of the last stocktake of the previous page.
pub async fn list(
    store: &Store,
    filter: &StocktakeFilter,
    page: PageRequest,
) -> Result<Page<Stocktake>, DomainError> {
    let sql = format!(
        "{SELECT_STOCKTAKE} WHERE ($1 IS NULL OR s.site_id = $1) AND ($2 IS NULL OR s.status = $2) \
         AND ($3 IS NULL OR s.id > $3) ORDER BY s.id LIMIT $4"
    );
    let rows: Vec<StocktakeRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(filter.site_id)
        .bind(filter.status.map(|s| s.as_str()))
        .bind(page.after)
        .bind(page.fetch())
        .fetch_all(p)
        .await)?;
    page.try_page(rows, |r| r.id, StocktakeRow::into_stocktake)
}

#[derive(sqlx::FromRow)]
struct Head {
    site_id: Uuid,
    status: String,
}

/// Reads and locks the stocktake row for the transaction's work: scans hold it shared (many at
/// once, but none while the stocktake is being completed); completion holds it for update (it
/// waits for the scans in flight and keeps new ones out until it commits).
async fn lock(tx: &mut Tx, id: Uuid, mode: RowLock) -> Result<Head, DomainError> {
    let sql = format!(
        "SELECT site_id, status FROM stocktakes WHERE id = $1{}",
        tx.row_lock(mode)
    );
    let head: Option<Head> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(c)
        .await)?;
    head.ok_or(DomainError::not_found(Entity::Stocktake))
}

/// Locks an open stocktake for recording sightings; a completed one is a 409.
async fn open_for_scans(tx: &mut Tx, id: Uuid) -> Result<Head, DomainError> {
    let head = lock(tx, id, RowLock::Share).await?;
    if head.status != StocktakeStatus::Open.as_str() {
        return Err(DomainError::conflict_with(
            ErrorCode::StocktakeClosed,
            "the stocktake is completed and takes no more scans",
            json!({ "stocktake_id": id, "status": head.status }),
        ));
    }
    Ok(head)
}

/// Records that an asset was seen in an open stocktake (one read), for callers that already
/// resolved the asset and run their own transaction and audit entry — the field-command service
/// uses it for the `audit` action. Conflict `stocktake_closed` when completed, NotFound when the
/// stocktake or the asset does not exist.
pub(crate) async fn record_seen_in_tx(
    tx: &mut Tx,
    stocktake_id: Uuid,
    asset_id: Uuid,
    seen_by: &str,
    at: DateTime<Utc>,
) -> Result<(), DomainError> {
    open_for_scans(tx, stocktake_id).await?;
    let live: i64 = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM assets WHERE id = $1 AND deleted_at IS NULL"
    )
    .bind(asset_id)
    .fetch_one(c)
    .await)?;
    if live == 0 {
        return Err(DomainError::not_found(Entity::Asset));
    }
    upsert_seen(
        tx,
        stocktake_id,
        &BTreeMap::from([(asset_id, 1)]),
        seen_by,
        at,
    )
    .await?;
    Ok(())
}

/// Checks a burst: 1 to [`MAX_SCAN_CODES`] values, each readable as scanned text (the same rule
/// as `/api/v1/resolve`). Returns the trimmed values.
fn check_codes(codes: &[String]) -> Result<Vec<&str>, DomainError> {
    if codes.is_empty() || codes.len() > MAX_SCAN_CODES {
        return Err(DomainError::field(
            "codes",
            format!("must hold 1 to {MAX_SCAN_CODES} values"),
        ));
    }
    let mut v = Validator::new();
    let trimmed: Vec<&str> = codes.iter().map(|c| c.trim()).collect();
    for (i, t) in trimmed.iter().enumerate() {
        let field = format!("codes[{i}]");
        if t.is_empty() {
            v.add(&field, "must not be empty");
        } else if t.chars().count() > MAX_IDENTIFIER_LEN {
            v.add(
                &field,
                format!("must be at most {MAX_IDENTIFIER_LEN} characters"),
            );
        } else if identifiers::candidates(t).is_empty() {
            v.add(&field, "is unreadable");
        }
    }
    v.finish()?;
    Ok(trimmed)
}

/// Records one burst of scanned values in an open stocktake.
///
/// Each distinct value is resolved like `identifiers::resolve` (asset codes first, then active
/// tags; see [`resolve_values`]); matched assets are upserted into `stocktake_seen` (reads
/// added), everything else into `stocktake_unknown` — including a value whose tags name several
/// assets, which a person has to sort out. Replaying a burst changes only `reads`.
pub async fn scan(
    store: &Store,
    actor: &Actor,
    id: Uuid,
    codes: &[String],
) -> Result<ScanBurstResult, DomainError> {
    let values = check_codes(codes)?;
    // Distinct values in the order first sent, with how often each was read.
    let mut distinct: Vec<(&str, i32)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for v in &values {
        match index.get(v) {
            Some(&i) => distinct[i].1 += 1,
            None => {
                index.insert(v, distinct.len());
                distinct.push((v, 1));
            }
        }
    }

    let mut tx = store.begin().await?;
    open_for_scans(&mut tx, id).await?;
    let texts: Vec<&str> = distinct.iter().map(|(v, _)| *v).collect();
    let resolved = resolve_values(&mut tx, &texts).await?;

    let mut seen: BTreeMap<Uuid, i32> = BTreeMap::new();
    let mut unknown: BTreeMap<String, i32> = BTreeMap::new();
    let mut unknown_order: Vec<String> = Vec::new();
    let mut matched_reads = 0usize;
    for ((value, reads), asset) in distinct.iter().zip(&resolved) {
        match asset {
            Some(asset) => {
                *seen.entry(*asset).or_default() += reads;
                matched_reads += usize::try_from(*reads).unwrap_or_default();
            }
            None => {
                unknown.insert((*value).to_owned(), *reads);
                unknown_order.push((*value).to_owned());
            }
        }
    }
    let now = clock::now();
    let new_assets = upsert_seen(&mut tx, id, &seen, &actor.name, now).await?;
    upsert_unknown(&mut tx, id, &unknown, now).await?;
    let result = ScanBurstResult {
        accepted: codes.len(),
        new_assets,
        repeats: matched_reads - new_assets,
        unknown: unknown_order,
    };
    // One entry per burst, with counts: the rows themselves are the per-value history.
    tx.commit_audited(
        actor,
        Change::action("stocktake.scan", Entity::Stocktake, id).after(&json!({
            "accepted": result.accepted,
            "new_assets": result.new_assets,
            "repeats": result.repeats,
            "unknown": result.unknown.len(),
        })),
    )
    .await?;
    Ok(result)
}

/// Resolves scanned texts to assets with a few set-based queries, following the rules of
/// `identifiers::resolve` for each text: the first of its code candidates that is a live asset's
/// code wins; otherwise its tag candidates must match active tags of exactly one asset. `None`
/// for no match and for a text whose tags name several assets (ambiguous).
async fn resolve_values(tx: &mut Tx, texts: &[&str]) -> Result<Vec<Option<Uuid>>, DomainError> {
    let cands: Vec<Vec<Candidate>> = texts.iter().map(|t| identifiers::candidates(t)).collect();
    let mut codes: BTreeSet<&str> = BTreeSet::new();
    let mut tag_values: BTreeSet<&str> = BTreeSet::new();
    for c in cands.iter().flatten() {
        match c.kind {
            None => codes.insert(&c.value),
            Some(_) => tag_values.insert(&c.value),
        };
    }

    let mut by_code: HashMap<String, Uuid> = HashMap::new();
    let codes: Vec<&str> = codes.into_iter().collect();
    for chunk in codes.chunks(CHUNK) {
        let rows: Vec<(Uuid, String)> = on_tx!(tx, |c| {
            let mut qb = QueryBuilder::new(
                "SELECT id, code FROM assets WHERE deleted_at IS NULL AND code IN (",
            );
            let mut sep = qb.separated(", ");
            for code in chunk {
                sep.push_bind(*code);
            }
            qb.push(")");
            qb.build_query_as().fetch_all(&mut *c).await
        })?;
        by_code.extend(rows.into_iter().map(|(id, code)| (code, id)));
    }

    // Tag values are looked up by value (indexed) and matched to their kind here.
    let mut by_tag: HashMap<(String, String), Vec<Uuid>> = HashMap::new();
    let tag_values: Vec<&str> = tag_values.into_iter().collect();
    for chunk in tag_values.chunks(CHUNK) {
        let rows: Vec<(Uuid, String, String)> = on_tx!(tx, |c| {
            let mut qb = QueryBuilder::new(
                "SELECT i.asset_id, i.kind, i.value FROM asset_identifiers i \
                 JOIN assets a ON a.id = i.asset_id \
                 WHERE i.removed_at IS NULL AND a.deleted_at IS NULL AND i.value IN (",
            );
            let mut sep = qb.separated(", ");
            for value in chunk {
                sep.push_bind(*value);
            }
            qb.push(")");
            qb.build_query_as().fetch_all(&mut *c).await
        })?;
        for (asset, kind, value) in rows {
            by_tag.entry((kind, value)).or_default().push(asset);
        }
    }

    Ok(cands
        .iter()
        .map(|cs| {
            if let Some(id) = cs
                .iter()
                .filter(|c| c.kind.is_none())
                .find_map(|c| by_code.get(&c.value))
            {
                return Some(*id);
            }
            let mut found: Vec<Uuid> = Vec::new();
            for c in cs {
                let Some(kind) = c.kind else { continue };
                let key = (kind.as_str().to_owned(), c.value.clone());
                for id in by_tag.get(&key).into_iter().flatten() {
                    if !found.contains(id) {
                        found.push(*id);
                    }
                }
            }
            match found.as_slice() {
                [one] => Some(*one),
                _ => None,
            }
        })
        .collect())
}

/// Adds sightings (asset → reads) to a stocktake and returns how many assets were new to it.
///
/// One upsert per chunk, rows in asset-id order so concurrent bursts lock keys in the same order
/// (no deadlock). The returned `reads` tells new from known: a new row holds exactly this
/// burst's reads, a known one holds more (it had at least one before).
async fn upsert_seen(
    tx: &mut Tx,
    stocktake_id: Uuid,
    seen: &BTreeMap<Uuid, i32>,
    seen_by: &str,
    at: DateTime<Utc>,
) -> Result<usize, DomainError> {
    let rows: Vec<(Uuid, i32)> = seen.iter().map(|(a, n)| (*a, *n)).collect();
    let mut new = 0;
    for chunk in rows.chunks(CHUNK) {
        let returned: Vec<(Uuid, i32)> = on_tx!(tx, |c| {
            let mut qb = QueryBuilder::new(
                "INSERT INTO stocktake_seen (stocktake_id, asset_id, first_seen_at, seen_by, reads) ",
            );
            qb.push_values(chunk, |mut b, (asset, reads)| {
                b.push_bind(stocktake_id)
                    .push_bind(*asset)
                    .push_bind(at)
                    .push_bind(seen_by)
                    .push_bind(*reads);
            });
            qb.push(
                " ON CONFLICT (stocktake_id, asset_id) \
                 DO UPDATE SET reads = stocktake_seen.reads + excluded.reads \
                 RETURNING asset_id, reads",
            );
            qb.build_query_as().fetch_all(&mut *c).await
        })?;
        new += returned
            .iter()
            .filter(|(asset, reads)| seen.get(asset) == Some(reads))
            .count();
    }
    Ok(new)
}

/// Adds unknown values (value → reads) to a stocktake, in value order like [`upsert_seen`].
async fn upsert_unknown(
    tx: &mut Tx,
    stocktake_id: Uuid,
    unknown: &BTreeMap<String, i32>,
    at: DateTime<Utc>,
) -> Result<(), DomainError> {
    let rows: Vec<(&String, i32)> = unknown.iter().map(|(v, n)| (v, *n)).collect();
    for chunk in rows.chunks(CHUNK) {
        on_tx!(
            tx,
            insert_values(
                "INSERT INTO stocktake_unknown (stocktake_id, value, first_seen_at, reads) ",
                chunk,
                |b, (value, reads)| b
                    .push_bind(stocktake_id)
                    .push_bind(value.as_str())
                    .push_bind(at)
                    .push_bind(*reads),
                " ON CONFLICT (stocktake_id, value) \
                 DO UPDATE SET reads = stocktake_unknown.reads + excluded.reads"
            )
        )?;
    }
    Ok(())
}

/// Closes the count and answers the report. Completing a completed stocktake changes nothing
/// and answers the report again, so a phone may retry.
pub async fn complete(
    store: &Store,
    actor: &Actor,
    id: Uuid,
) -> Result<StocktakeReport, DomainError> {
    let mut tx = store.begin().await?;
    let head = lock(&mut tx, id, RowLock::Update).await?;
    if head.status == StocktakeStatus::Open.as_str() {
        let before = load(&mut tx, id).await?;
        on_tx!(
            &mut tx,
            execute(
                sqlx::query(
                    "UPDATE stocktakes SET status = 'completed', completed_at = $1 WHERE id = $2"
                )
                .bind(clock::now())
                .bind(id)
            )
        )?;
        let after = load(&mut tx, id).await?;
        tx.commit_audited(
            actor,
            Change::action("stocktake.complete", Entity::Stocktake, id)
                .before(&before)
                .after(&after),
        )
        .await?;
    } else {
        drop(tx);
    }
    report(store, id).await
}

/// Where a counted asset stands. Pure, so the rules read in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Finding {
    Found,
    Missing,
    Unexpected,
    WrongLocation(Uuid),
}

/// FOUND = expected and seen, or seen and recorded at this site now (moved here during the
/// count, or resolved with `move_here`); MISSING = expected, not seen; of the seen and not
/// expected, WRONG_LOCATION when recorded at another site, UNEXPECTED when recorded at none.
fn classify(expected: bool, seen: bool, recorded: Option<Uuid>, site: Uuid) -> Option<Finding> {
    match (expected, seen, recorded) {
        (true, true, _) => Some(Finding::Found),
        (true, false, _) => Some(Finding::Missing),
        (false, true, Some(r)) if r == site => Some(Finding::Found),
        (false, true, Some(r)) => Some(Finding::WrongLocation(r)),
        (false, true, None) => Some(Finding::Unexpected),
        (false, false, _) => None,
    }
}

/// The stocktake's report: expected vs seen, with assets as the registry records them now.
pub async fn report(store: &Store, id: Uuid) -> Result<StocktakeReport, DomainError> {
    let stocktake = get(store, id).await?;
    // Assets first, then the id sets: the sets only grow, so every asset read is in one of
    // them even while technicians keep scanning.
    let sql = format!(
        "{SELECT_ASSET} WHERE a.deleted_at IS NULL AND (\
         a.id IN (SELECT asset_id FROM stocktake_expected WHERE stocktake_id = $1) \
         OR a.id IN (SELECT asset_id FROM stocktake_seen WHERE stocktake_id = $1))"
    );
    let rows: Vec<AssetRow> =
        on_read!(store, |p| sqlx::query_as(&sql).bind(id).fetch_all(p).await)?;
    let expected: Vec<Uuid> = on_read!(store, |p| sqlx::query_scalar(
        "SELECT asset_id FROM stocktake_expected WHERE stocktake_id = $1"
    )
    .bind(id)
    .fetch_all(p)
    .await)?;
    let seen: Vec<Uuid> = on_read!(store, |p| sqlx::query_scalar(
        "SELECT asset_id FROM stocktake_seen WHERE stocktake_id = $1"
    )
    .bind(id)
    .fetch_all(p)
    .await)?;
    let unknown: Vec<(String, i32)> = on_read!(store, |p| sqlx::query_as(
        "SELECT value, reads FROM stocktake_unknown WHERE stocktake_id = $1"
    )
    .bind(id)
    .fetch_all(p)
    .await)?;
    let expected: HashSet<Uuid> = expected.into_iter().collect();
    let seen: HashSet<Uuid> = seen.into_iter().collect();
    // Sorted here, not by ORDER BY: PostgreSQL sorts text by the database's collation, SQLite
    // by bytes, and the report must read the same on both.
    let mut rows = rows
        .into_iter()
        .map(AssetRow::into_asset)
        .collect::<Result<Vec<Asset>, _>>()?;
    rows.sort_by(|a, b| a.code.cmp(&b.code).then(a.id.cmp(&b.id)));
    let mut unknown = unknown;
    unknown.sort();

    let mut report = StocktakeReport {
        stocktake,
        found: Vec::new(),
        missing: Vec::new(),
        unexpected: Vec::new(),
        wrong_location: Vec::new(),
        unknown_codes: unknown
            .into_iter()
            .map(|(value, reads)| UnknownCode {
                value,
                reads: i64::from(reads),
            })
            .collect(),
    };
    for asset in rows {
        let finding = classify(
            expected.contains(&asset.id),
            seen.contains(&asset.id),
            asset.site_id,
            report.stocktake.site_id,
        );
        match finding {
            Some(Finding::Found) => report.found.push(asset),
            Some(Finding::Missing) => report.missing.push(asset),
            Some(Finding::Unexpected) => report.unexpected.push(asset),
            Some(Finding::WrongLocation(recorded_site_id)) => {
                report.wrong_location.push(WrongLocation {
                    asset,
                    recorded_site_id,
                })
            }
            None => {}
        }
    }
    Ok(report)
}

fn not_applicable(asset: &Asset, resolution: Resolution, why: &str) -> DomainError {
    DomainError::conflict_with(
        ErrorCode::ResolutionNotApplicable,
        format!("cannot {} asset {}: {why}", resolution.as_str(), asset.code),
        json!({ "resolution": resolution, "asset": asset }),
    )
}

/// Applies one resolution from the report to the asset, in one transaction with its audit
/// entries: the asset change as `asset.update` (before → after, version bumped, exactly what a
/// PATCH records) and `stocktake.resolve` on the stocktake.
///
/// `move_here` applies to an asset seen in this stocktake: it is recorded at the stocktake's
/// site. `mark_lost` applies to an expected asset that was not seen: its status becomes `lost`
/// if the transition table allows it (409 `illegal_transition` with the current state if not).
/// An asset already in the wanted state is answered unchanged, so a retry writes nothing.
pub async fn resolve(
    store: &Store,
    actor: &Actor,
    id: Uuid,
    finding: ResolveFinding,
) -> Result<Asset, DomainError> {
    let mut tx = store.begin().await?;
    let head = lock(&mut tx, id, RowLock::Share).await?;
    // Read-modify-write of the asset: hold its row so a concurrent edit waits for us.
    tx.lock_row("assets", finding.asset_id).await?;
    let before = assets::load(&mut tx, finding.asset_id).await?;
    let (expected, seen): (i64, i64) = on_tx!(&mut tx, |c| sqlx::query_as(
        "SELECT \
         (SELECT COUNT(*) FROM stocktake_expected WHERE stocktake_id = $1 AND asset_id = $2), \
         (SELECT COUNT(*) FROM stocktake_seen WHERE stocktake_id = $1 AND asset_id = $2)"
    )
    .bind(id)
    .bind(finding.asset_id)
    .fetch_one(c)
    .await)?;
    let (site_id, status) = match finding.resolution {
        Resolution::MoveHere => {
            if seen == 0 {
                return Err(not_applicable(
                    &before,
                    finding.resolution,
                    "it was not seen in this stocktake",
                ));
            }
            (Some(head.site_id), before.status)
        }
        Resolution::MarkLost => {
            if seen > 0 {
                return Err(not_applicable(
                    &before,
                    finding.resolution,
                    "it was seen in this stocktake",
                ));
            }
            if expected == 0 {
                return Err(not_applicable(
                    &before,
                    finding.resolution,
                    "it was not expected at this site",
                ));
            }
            assets::check_transition(&before, AssetStatus::Lost)?;
            (before.site_id, AssetStatus::Lost)
        }
    };
    if site_id == before.site_id && status == before.status {
        return Ok(before);
    }
    let now = clock::now();
    let done = on_tx!(
        &mut tx,
        execute(
            sqlx::query(
                "UPDATE assets SET site_id = $1, status = $2, version = version + 1, \
                 updated_at = $3 WHERE id = $4 AND version = $5 AND deleted_at IS NULL"
            )
            .bind(site_id)
            .bind(status.as_str())
            .bind(now)
            .bind(before.id)
            .bind(before.version)
        )
    )?;
    if done == 0 {
        // Cannot happen while the row is held (PostgreSQL) or the writer is ours (SQLite).
        return Err(DomainError::Internal(
            "asset changed during a stocktake resolution".into(),
        ));
    }
    let after = assets::load(&mut tx, before.id).await?;
    audit::record(
        &mut tx,
        actor,
        Change::updated(Entity::Asset, after.id, &before, &after),
    )
    .await?;
    tx.commit_audited(
        actor,
        Change::action("stocktake.resolve", Entity::Stocktake, id).after(&json!({
            "asset_id": after.id,
            "resolution": finding.resolution,
            "asset_version": after.version,
        })),
    )
    .await?;
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_the_rules() {
        let here = Uuid::now_v7();
        let there = Uuid::now_v7();
        assert_eq!(
            classify(true, true, Some(there), here),
            Some(Finding::Found)
        );
        assert_eq!(
            classify(true, false, Some(here), here),
            Some(Finding::Missing)
        );
        assert_eq!(
            classify(false, true, Some(here), here),
            Some(Finding::Found)
        );
        assert_eq!(
            classify(false, true, Some(there), here),
            Some(Finding::WrongLocation(there))
        );
        assert_eq!(classify(false, true, None, here), Some(Finding::Unexpected));
        assert_eq!(classify(false, false, Some(here), here), None);
    }

    #[test]
    fn bursts_are_checked() {
        assert!(check_codes(&[]).is_err());
        let too_many = vec!["EX-1".to_owned(); MAX_SCAN_CODES + 1];
        assert!(check_codes(&too_many).is_err());
        let Err(DomainError::Validation(fields)) =
            check_codes(&["EX-1".into(), "  ".into(), "x".repeat(600)])
        else {
            panic!("expected a validation error");
        };
        assert!(fields.contains_key("codes[1]"));
        assert!(fields.contains_key("codes[2]"));
        assert!(!fields.contains_key("codes[0]"));
        assert_eq!(check_codes(&[" EX-1 ".into()]).ok(), Some(vec!["EX-1"]));
    }

    /// `record_seen_in_tx` is crate-private (the field-command service calls it), so its
    /// scenarios live here; they run on both backends like the integration suites.
    #[cfg(feature = "testing")]
    mod record_seen {
        use super::super::*;
        use crate::testing::TestDb;
        use mobile_shared::wire::{AuditSource, NewAsset, NewSite, SiteKind};
        use mobile_shared::Role;

        async fn records_once_and_refuses_when_closed(db: TestDb) {
            let actor = Actor::user(Uuid::now_v7(), "tech", Role::Technician, AuditSource::Api);
            let site = crate::sites::create(
                &db.store,
                &actor,
                NewSite {
                    name: "Yard".into(),
                    kind: SiteKind::Depot,
                    customer_id: None,
                    address: None,
                    location: None,
                    geofence: None,
                },
            )
            .await
            .unwrap();
            let asset = assets::create(
                &db.store,
                &actor,
                NewAsset {
                    code: "EX-1".into(),
                    name: "Excavator".into(),
                    ..NewAsset::default()
                },
            )
            .await
            .unwrap();
            let st = start(&db.store, &actor, NewStocktake { site_id: site.id })
                .await
                .unwrap();
            for _ in 0..2 {
                let mut tx = db.store.begin().await.unwrap();
                record_seen_in_tx(&mut tx, st.id, asset.id, "tech", clock::now())
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            }
            assert_eq!(
                db.count("SELECT COUNT(*) FROM stocktake_seen").await,
                1,
                "one row per asset"
            );
            assert_eq!(
                db.count("SELECT CAST(SUM(reads) AS BIGINT) FROM stocktake_seen")
                    .await,
                2
            );

            let mut tx = db.store.begin().await.unwrap();
            let err = record_seen_in_tx(&mut tx, st.id, Uuid::now_v7(), "tech", clock::now())
                .await
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    DomainError::NotFound {
                        entity: Entity::Asset
                    }
                ),
                "{err:?}"
            );
            drop(tx);
            let mut tx = db.store.begin().await.unwrap();
            let err = record_seen_in_tx(&mut tx, Uuid::now_v7(), asset.id, "tech", clock::now())
                .await
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    DomainError::NotFound {
                        entity: Entity::Stocktake
                    }
                ),
                "{err:?}"
            );
            drop(tx);

            complete(&db.store, &actor, st.id).await.unwrap();
            let mut tx = db.store.begin().await.unwrap();
            let err = record_seen_in_tx(&mut tx, st.id, asset.id, "tech", clock::now())
                .await
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    DomainError::Conflict {
                        code: ErrorCode::StocktakeClosed,
                        ..
                    }
                ),
                "{err:?}"
            );
        }

        crate::backend_matrix!(crate::testing::TestDb: records_once_and_refuses_when_closed);
    }
}
