//! A contract's lifecycle after the draft: signing books its asset lines (409
//! `booking_conflict` naming the booking in the way), ending and terminating release the
//! bookings, and one clock rule, [`LifecycleRule`], moves statuses with the calendar: signed →
//! active on the start day, active → expiring inside the warning window, → ended after the end
//! day unless renewed. Every statement of the rule selects by status and day, so a window
//! evaluated again changes nothing, and a tick after downtime catches up on everything missed.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use mobile_shared::contracts::{
    BookingKind, Contract, ContractStatus, EndContract, TerminateContract, MAX_NOTE_LEN,
};
use uuid::Uuid;

use super::availability::{self, Held, NewBooking};
use super::{load_in, not_in, today, touch};
use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::clock;
use crate::customers::Scope;
use crate::entity::Entity;
use crate::error::DomainError;
use crate::schedule::{Rule, RuleFuture, Window};
use crate::store::{on_tx, Store, Tx};

/// Days before its end an active contract becomes `expiring` (the renewal warning window).
pub const WARNING_DAYS: i64 = 30;

/// The status a contract signed (or re-evaluated) on `today` has: `signed` before its start,
/// `expiring` inside the warning window, `active` otherwise.
pub fn status_on(starts_on: NaiveDate, ends_on: NaiveDate, today: NaiveDate) -> ContractStatus {
    if today < starts_on {
        ContractStatus::Signed
    } else if ends_on - Duration::days(WARNING_DAYS) <= today {
        ContractStatus::Expiring
    } else {
        ContractStatus::Active
    }
}

async fn set_status(tx: &mut Tx, id: Uuid, status: ContractStatus) -> Result<(), DomainError> {
    let sql = "UPDATE contracts SET status = $1 WHERE id = $2";
    on_tx!(tx, execute(sqlx::query(sql).bind(status.as_str()).bind(id)))?;
    touch(tx, id).await
}

/// Signs a draft: each asset line books its asset for the contract's days; the contract is
/// `active` (or `expiring`) when it has started, `signed` until then. A renewal's signing marks
/// its predecessor `renewed`. A contract that is not a draft is a 409 `illegal_transition`.
pub async fn sign(store: &Store, actor: &Actor, id: Uuid) -> Result<Contract, DomainError> {
    let mut tx = store.begin().await?;
    let before = load_in(&mut tx, Scope::of_actor(actor), id, true).await?;
    if before.status != ContractStatus::Draft {
        return Err(not_in(&before, "signed"));
    }
    let today = today();
    if before.lines.is_empty() {
        return Err(DomainError::field(
            "lines",
            "a contract needs at least one line",
        ));
    }
    if before.ends_on < today {
        return Err(DomainError::field(
            "ends_on",
            "the contract's end has passed",
        ));
    }
    // Assets are locked in id order, so two signings sharing assets cannot deadlock.
    let mut lines: Vec<_> = before
        .lines
        .iter()
        .filter(|l| l.asset_id.is_some())
        .collect();
    lines.sort_by_key(|l| l.asset_id);
    for line in lines {
        let Some(asset_id) = line.asset_id else {
            continue;
        };
        availability::book_in(
            &mut tx,
            actor,
            NewBooking {
                asset_id,
                kind: BookingKind::Contract,
                contract_line_id: Some(line.id),
                work_order_id: None,
                starts_on: before.starts_on,
                ends_on: before.ends_on,
                reason: None,
            },
        )
        .await?;
    }
    let status = status_on(before.starts_on, before.ends_on, today);
    let sql = "UPDATE contracts SET status = $1, signed_at = $2, signed_by = $3 WHERE id = $4";
    on_tx!(
        &mut tx,
        execute(
            sqlx::query(sql)
                .bind(status.as_str())
                .bind(clock::now())
                .bind(actor.user_id)
                .bind(id)
        )
    )?;
    touch(&mut tx, id).await?;
    if let Some(predecessor) = before.predecessor_id {
        let pred = load_in(&mut tx, Scope::All, predecessor, true).await?;
        if pred.status.is_live() {
            set_status(&mut tx, predecessor, ContractStatus::Renewed).await?;
            let after = load_in(&mut tx, Scope::All, predecessor, false).await?;
            let change = Change::action("contract.renewed", Entity::Contract, predecessor)
                .before(&pred)
                .after(&after);
            audit::record(&mut tx, actor, change).await?;
        }
    }
    let after = load_in(&mut tx, Scope::All, id, false).await?;
    let change = Change::action("contract.sign", Entity::Contract, id)
        .before(&before)
        .after(&after);
    tx.commit_audited(actor, change).await?;
    Ok(after)
}

/// Ends a signed contract on `ends_on` (default today: everything returned): its bookings are
/// released from the next day, its end day becomes that day, its status `ended`.
pub async fn end(
    store: &Store,
    actor: &Actor,
    id: Uuid,
    body: EndContract,
) -> Result<Contract, DomainError> {
    let mut tx = store.begin().await?;
    let before = load_in(&mut tx, Scope::of_actor(actor), id, true).await?;
    if !before.status.is_live() && before.status != ContractStatus::Renewed {
        return Err(not_in(&before, "ended"));
    }
    let day = body.ends_on.unwrap_or_else(today);
    if day > before.ends_on {
        return Err(DomainError::field(
            "ends_on",
            "is after the contract's end: renew it instead",
        ));
    }
    if day < before.starts_on {
        return Err(DomainError::field(
            "ends_on",
            "is before the contract's start: terminate it instead",
        ));
    }
    let next = day.succ_opt().unwrap_or(day);
    availability::release_from(&mut tx, Held::Contract(id), next).await?;
    let sql = "UPDATE contracts SET status = $1, ended_at = $2, ends_on = $3 WHERE id = $4";
    on_tx!(
        &mut tx,
        execute(
            sqlx::query(sql)
                .bind(ContractStatus::Ended.as_str())
                .bind(clock::now())
                .bind(day)
                .bind(id)
        )
    )?;
    touch(&mut tx, id).await?;
    let after = load_in(&mut tx, Scope::All, id, false).await?;
    let change = Change::action("contract.end", Entity::Contract, id)
        .before(&before)
        .after(&after);
    tx.commit_audited(actor, change).await?;
    Ok(after)
}

/// Terminates a draft or a signed contract early, for a reason: bookings are released from
/// tomorrow (today stays taken: the machine is still out).
pub async fn terminate(
    store: &Store,
    actor: &Actor,
    id: Uuid,
    body: TerminateContract,
) -> Result<Contract, DomainError> {
    let reason = body.reason.trim().to_owned();
    if reason.is_empty() || reason.chars().count() > MAX_NOTE_LEN {
        return Err(DomainError::field(
            "reason",
            format!("must be 1-{MAX_NOTE_LEN} characters"),
        ));
    }
    let mut tx = store.begin().await?;
    let before = load_in(&mut tx, Scope::of_actor(actor), id, true).await?;
    if !before.status.is_live() && before.status != ContractStatus::Draft {
        return Err(not_in(&before, "terminated"));
    }
    let tomorrow = today().succ_opt().unwrap_or_else(today);
    availability::release_from(&mut tx, Held::Contract(id), tomorrow).await?;
    let sql = "UPDATE contracts SET status = $1, terminated_at = $2, termination_reason = $3 \
               WHERE id = $4";
    on_tx!(
        &mut tx,
        execute(
            sqlx::query(sql)
                .bind(ContractStatus::Terminated.as_str())
                .bind(clock::now())
                .bind(&reason)
                .bind(id)
        )
    )?;
    touch(&mut tx, id).await?;
    let after = load_in(&mut tx, Scope::All, id, false).await?;
    let change = Change::action("contract.terminate", Entity::Contract, id)
        .before(&before)
        .after(&after);
    tx.commit_audited(actor, change).await?;
    Ok(after)
}

/// Moves every contract `from` → `to` that `condition` (binding `$3`, a day) selects; audits
/// each as `action`. Answers how many moved.
async fn advance(
    tx: &mut Tx,
    actor: &Actor,
    (from, to, action): (&[ContractStatus], ContractStatus, &'static str),
    condition: &str,
    day: NaiveDate,
    now: DateTime<Utc>,
) -> Result<u64, DomainError> {
    let statuses: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_str())).collect();
    let ended = if to == ContractStatus::Ended {
        ", ended_at = $2"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE contracts SET status = $1, version = version + 1, updated_at = $2{ended} \
         WHERE status IN ({}) AND {condition} RETURNING id",
        statuses.join(", ")
    );
    let moved: Vec<Uuid> = on_tx!(tx, |c| sqlx::query_scalar(&sql)
        .bind(to.as_str())
        .bind(now)
        .bind(day)
        .fetch_all(c)
        .await)?;
    for id in &moved {
        let change = Change::action(action, Entity::Contract, *id)
            .after(&serde_json::json!({ "status": to, "on": day }));
        audit::record(tx, actor, change).await?;
    }
    Ok(moved.len() as u64)
}

/// The clock rule `contract_lifecycle`: on the day a window ends, activates signed contracts
/// that have started, marks active ones inside the warning window `expiring`, and ends those
/// past their end day (a renewed contract keeps its status).
#[derive(Debug, Clone, Copy, Default)]
pub struct LifecycleRule;

/// Runs [`LifecycleRule`]'s moves for `now`'s day in the caller's transaction.
pub(crate) async fn advance_all(tx: &mut Tx, now: DateTime<Utc>) -> Result<u64, DomainError> {
    use ContractStatus::*;
    let actor = Actor::clock();
    let today = now.date_naive();
    let warn = today + Duration::days(WARNING_DAYS);
    let started = (&[Signed][..], Active, "contract.activate");
    let expiring = (&[Active][..], Expiring, "contract.expiring");
    let over = (&[Active, Expiring][..], Ended, "contract.end");
    let mut n = advance(tx, &actor, started, "starts_on <= $3", today, now).await?;
    n += advance(tx, &actor, expiring, "ends_on <= $3", warn, now).await?;
    n += advance(tx, &actor, over, "ends_on < $3", today, now).await?;
    Ok(n)
}

impl Rule for LifecycleRule {
    fn name(&self) -> &'static str {
        "contract_lifecycle"
    }

    fn evaluate<'a>(&'a self, tx: &'a mut Tx, window: Window) -> RuleFuture<'a> {
        Box::pin(advance_all(tx, window.to))
    }
}
