//! Renewals: the successor contract, the two approvals an auto-renewal needs, and the reminder
//! tasks on the engine.
//!
//! Renewing creates a successor draft from the day after the contract's end, linked by
//! `predecessor_id` (so the chain is the history of terms and prices); signing it marks the
//! predecessor `renewed` ([`super::lifecycle::sign`]). A customer whose renewals are frozen
//! cannot renew (409 `renewals_frozen` with the reason); an auto-renew contract renews only
//! after finance and legal approved (409 `approvals_missing` naming the missing halves).
//!
//! [`RenewalsRule`] (`contract_renewals`) raises one task per step before a signed contract's
//! end — 90 days: the rental office prepares a renewal plan; 60: the account manager opens
//! talks; 30: sends the new quote; 15: gets it signed and archived — each under a dedupe key
//! (contract and step) and notified. It runs when a window crosses midnight, and a contract
//! first seen inside the window (signed late) gets the step it is in, not the ones it missed.
//! A customer whose renewals are frozen gets no reminders (nobody should prepare a renewal the
//! service will refuse); unfrozen, its contracts get the step they are in at the next midnight.

use std::collections::HashSet;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use mobile_shared::contracts::{
    Approval, ApprovalKind, Contract, NewApproval, NewContractLine, RenewContract,
};
use mobile_shared::{ErrorCode, Role};
use serde_json::json;
use uuid::Uuid;

use super::drafts::{check_money, clean_note, insert_draft, Draft};
use super::{load_in, not_in};
use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::clock;
use crate::customers::Scope;
use crate::entity::Entity;
use crate::error::{DomainError, Validator};
use crate::notifications::{self, NewNotification, Recipient};
use crate::schedule::{Rule, RuleFuture, Window};
use crate::store::{on_read, on_tx, Store, Tx};
use crate::tasks::{self, NewTask};

/// Who a reminder step is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// The rental office (the sales supervisor's role).
    Office,
    /// The customer's account manager (the office when the customer has none).
    AccountManager,
}

/// One reminder step: days before the end, task kind, title, owner.
struct Step {
    days: i64,
    kind: &'static str,
    title: &'static str,
    owner: Owner,
}

/// The reminder steps, earliest first.
static STEPS: [Step; 4] = [
    Step {
        days: 90,
        kind: "renewal_plan",
        title: "Prepare the renewal plan",
        owner: Owner::Office,
    },
    Step {
        days: 60,
        kind: "renewal_talks",
        title: "Open renewal talks",
        owner: Owner::AccountManager,
    },
    Step {
        days: 30,
        kind: "renewal_quote",
        title: "Send the new quote",
        owner: Owner::AccountManager,
    },
    Step {
        days: 15,
        kind: "renewal_signing",
        title: "Get the renewal signed and archived",
        owner: Owner::AccountManager,
    },
];

/// The dedupe key of a contract's reminder step.
pub fn reminder_key(contract: Uuid, days: i64) -> String {
    format!("contract:{contract}:renewal:{days}")
}

/// The step a contract with `days_left` is in: the latest one already reached.
fn step_for(days_left: i64) -> Option<(usize, &'static Step)> {
    STEPS
        .iter()
        .enumerate()
        .rev()
        .find(|(_, s)| days_left <= s.days)
}

/// Renews a signed contract: a successor draft from the day after its end to `ends_on`, with
/// its lines (rates changed by `rate_changes`), its terms and currency.
pub async fn renew(
    store: &Store,
    actor: &Actor,
    id: Uuid,
    body: RenewContract,
) -> Result<Contract, DomainError> {
    let mut tx = store.begin().await?;
    let pred = load_in(&mut tx, Scope::of_actor(actor), id, true).await?;
    let mut v = Validator::new();
    if body.ends_on <= pred.ends_on {
        v.add("ends_on", "must be after the contract's end");
    }
    let mut lines: Vec<NewContractLine> = pred
        .lines
        .iter()
        .map(|l| NewContractLine {
            asset_id: l.asset_id,
            category_id: l.category_id,
            quantity: l.category_id.map(|_| l.quantity),
            rate_cents: l.rate_cents,
            rate_period: l.rate_period,
        })
        .collect();
    for (i, change) in body.rate_changes.iter().enumerate() {
        check_money(
            &mut v,
            &format!("rate_changes[{i}].rate_cents"),
            change.rate_cents,
        );
        match pred.lines.iter().position(|l| l.line_no == change.line_no) {
            Some(at) => lines[at].rate_cents = change.rate_cents,
            None => v.add(&format!("rate_changes[{i}].line_no"), "no such line"),
        }
    }
    v.finish()?;
    if !pred.status.is_live() {
        return Err(not_in(&pred, "renewed"));
    }
    let sql = "SELECT renewals_frozen_at, renewals_frozen_reason FROM customers WHERE id = $1";
    let frozen: Option<(Option<DateTime<Utc>>, Option<String>)> = on_tx!(&mut tx, |c| {
        sqlx::query_as(sql)
            .bind(pred.customer_id)
            .fetch_optional(c)
            .await
    })?;
    if let Some((Some(at), reason)) = frozen {
        let why = reason.clone().unwrap_or_else(|| "no reason given".into());
        return Err(DomainError::conflict_with(
            ErrorCode::RenewalsFrozen,
            format!("the customer's renewals are frozen: {why}"),
            json!({ "frozen_at": at, "reason": reason, "customer_id": pred.customer_id }),
        ));
    }
    if pred.auto_renew {
        let have = approval_kinds(&mut tx, id).await?;
        let missing: Vec<&str> = ApprovalKind::ALL
            .iter()
            .filter(|k| !have.contains(*k))
            .map(|k| k.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(DomainError::conflict_with(
                ErrorCode::ApprovalsMissing,
                format!(
                    "an auto-renewal needs finance's and legal's approval; missing: {}",
                    missing.join(", ")
                ),
                json!({ "missing": missing }),
            ));
        }
    }
    let draft = Draft {
        customer_id: pred.customer_id,
        site_id: pred.site_id,
        starts_on: pred.ends_on.succ_opt().unwrap_or(pred.ends_on),
        ends_on: body.ends_on,
        currency: pred.currency.clone(),
        deposit_cents: pred.deposit_cents,
        billing_cycle: pred.billing_cycle,
        auto_renew: pred.auto_renew,
        notes: pred.notes.clone(),
        predecessor_id: Some(pred.id),
        lines,
    };
    let successor = insert_draft(&mut tx, actor, draft).await?;
    audit::record(
        &mut tx,
        actor,
        Change::created(Entity::Contract, successor.id, &successor),
    )
    .await?;
    let change = Change::action("contract.renew", Entity::Contract, pred.id)
        .before(&pred)
        .after(&json!({ "successor_id": successor.id, "ends_on": successor.ends_on }));
    tx.commit_audited(actor, change).await?;
    Ok(successor)
}

#[derive(sqlx::FromRow)]
struct ApprovalRow {
    id: Uuid,
    contract_id: Uuid,
    kind: String,
    approved_by: Uuid,
    approved_at: DateTime<Utc>,
    note: Option<String>,
}

impl ApprovalRow {
    fn into_approval(self) -> Result<Approval, DomainError> {
        Ok(Approval {
            kind: ApprovalKind::parse(&self.kind).ok_or_else(|| {
                DomainError::Internal(format!("approval {}: unreadable kind", self.id))
            })?,
            id: self.id,
            contract_id: self.contract_id,
            approved_by: self.approved_by,
            approved_at: self.approved_at,
            note: self.note,
        })
    }
}

const APPROVAL_COLUMNS: &str = "id, contract_id, kind, approved_by, approved_at, note";

async fn approval_kinds(tx: &mut Tx, contract: Uuid) -> Result<Vec<ApprovalKind>, DomainError> {
    let kinds: Vec<String> = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT kind FROM contract_approvals WHERE contract_id = $1"
    )
    .bind(contract)
    .fetch_all(c)
    .await)?;
    Ok(kinds
        .iter()
        .filter_map(|k| ApprovalKind::parse(k))
        .collect())
}

/// The approval kind `actor` gives: their role's (finance, legal); an admin names it.
fn kind_of(actor: &Actor, named: Option<ApprovalKind>) -> Result<ApprovalKind, DomainError> {
    let own = match actor.role {
        Some(Role::Finance) => Some(ApprovalKind::Finance),
        Some(Role::Legal) => Some(ApprovalKind::Legal),
        _ => None,
    };
    match (own, named) {
        (Some(own), Some(named)) if own != named => Err(DomainError::field(
            "kind",
            format!("your approval is {}'s", own.as_str()),
        )),
        (Some(own), _) => Ok(own),
        (None, Some(named)) => Ok(named),
        (None, None) => Err(DomainError::field(
            "kind",
            "name the approval: finance or legal",
        )),
    }
}

/// Records the caller's approval of a contract's renewal (who and when). Approving a half that
/// is approved already is a 409 `already_approved` with that approval.
pub async fn approve(
    store: &Store,
    actor: &Actor,
    id: Uuid,
    body: NewApproval,
) -> Result<Approval, DomainError> {
    let approved_by = actor
        .user_id
        .ok_or_else(|| DomainError::Internal("an approval needs a signed-in user".into()))?;
    let mut tx = store.begin().await?;
    let contract = load_in(&mut tx, Scope::of_actor(actor), id, true).await?;
    let kind = kind_of(actor, body.kind)?;
    let mut v = Validator::new();
    let note = clean_note(&mut v, "note", body.note);
    v.finish()?;
    if !contract.status.is_live()
        && contract.status != mobile_shared::contracts::ContractStatus::Draft
    {
        return Err(not_in(&contract, "approved for renewal"));
    }
    let sql = format!(
        "SELECT {APPROVAL_COLUMNS} FROM contract_approvals WHERE contract_id = $1 AND kind = $2"
    );
    let existing: Option<ApprovalRow> = on_tx!(&mut tx, |c| sqlx::query_as(&sql)
        .bind(id)
        .bind(kind.as_str())
        .fetch_optional(c)
        .await)?;
    let already = |detail: serde_json::Value| {
        DomainError::conflict_with(
            ErrorCode::AlreadyApproved,
            format!("the {} approval is given already", kind.as_str()),
            detail,
        )
    };
    if let Some(row) = existing {
        return Err(already(json!({ "approval": row.into_approval()? })));
    }
    let approval = Approval {
        id: clock::new_id(),
        contract_id: id,
        kind,
        approved_by,
        approved_at: clock::now(),
        note,
    };
    let sql = format!(
        "INSERT INTO contract_approvals ({APPROVAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
    );
    // The unique (contract, kind) is the guarantee when two approvers race.
    let inserted = on_tx!(
        &mut tx,
        execute(
            sqlx::query(&sql)
                .bind(approval.id)
                .bind(id)
                .bind(kind.as_str())
                .bind(approved_by)
                .bind(approval.approved_at)
                .bind(&approval.note)
        )
    );
    if let Err(e) = inserted {
        return Err(match e {
            DomainError::Conflict {
                code: ErrorCode::AlreadyExists,
                ..
            } => already(json!({ "kind": kind })),
            e => e,
        });
    }
    tx.commit_audited(
        actor,
        Change::created(Entity::ContractApproval, approval.id, &approval),
    )
    .await?;
    Ok(approval)
}

/// A contract's approvals, if `scope` covers the contract.
pub async fn approvals(
    store: &Store,
    scope: Scope,
    id: Uuid,
) -> Result<Vec<Approval>, DomainError> {
    super::get(store, scope, id).await?;
    let sql = format!(
        "SELECT {APPROVAL_COLUMNS} FROM contract_approvals WHERE contract_id = $1 ORDER BY approved_at, id"
    );
    let rows: Vec<ApprovalRow> =
        on_read!(store, |p| sqlx::query_as(&sql).bind(id).fetch_all(p).await)?;
    rows.into_iter().map(ApprovalRow::into_approval).collect()
}

#[derive(sqlx::FromRow)]
struct Due {
    id: Uuid,
    number: String,
    ends_on: NaiveDate,
    account_manager_id: Option<Uuid>,
    legal_name: String,
}

/// Raises the reminder tasks of every signed contract whose end is at most 90 days after
/// `today` and whose customer's renewals are not frozen, each at most once (dedupe key), and
/// notifies their owners. Answers how many tasks it created.
pub(crate) async fn remind(tx: &mut Tx, today: NaiveDate) -> Result<u64, DomainError> {
    let horizon = today + Duration::days(STEPS[0].days);
    let sql = "SELECT c.id, c.number, c.ends_on, cu.account_manager_id, cu.legal_name \
               FROM contracts c JOIN customers cu ON cu.id = c.customer_id \
               WHERE c.status IN ('signed', 'active', 'expiring') \
               AND c.ends_on >= $1 AND c.ends_on <= $2 AND cu.renewals_frozen_at IS NULL";
    let due: Vec<Due> = on_tx!(tx, |c| sqlx::query_as(sql)
        .bind(today)
        .bind(horizon)
        .fetch_all(c)
        .await)?;
    let wanted: Vec<(Due, usize, String)> = due
        .into_iter()
        .filter_map(|d| {
            let (at, step) = step_for((d.ends_on - today).num_days())?;
            let key = reminder_key(d.id, step.days);
            Some((d, at, key))
        })
        .collect();
    let existing = existing_keys(tx, wanted.iter().map(|(_, _, k)| k.as_str())).await?;
    let actor = Actor::clock();
    let mut created = 0;
    for (d, at, key) in wanted {
        if existing.contains(&key) {
            continue;
        }
        let step = &STEPS[at];
        let due_days = STEPS.get(at + 1).map_or(0, |next| next.days);
        let due_at = (d.ends_on - Duration::days(due_days))
            .and_time(NaiveTime::MIN)
            .and_utc();
        let (user, role) = match (step.owner, d.account_manager_id) {
            (Owner::AccountManager, Some(manager)) => (Some(manager), None),
            _ => (None, Some(Role::RentalOffice)),
        };
        let title = format!("{}: {} ({})", step.title, d.number, d.legal_name);
        let title: String = title.chars().take(200).collect();
        let (task, new) = tasks::create_in(
            tx,
            &actor,
            NewTask {
                kind: step.kind.into(),
                title: title.clone(),
                subject: Some((Entity::Contract.as_str().into(), d.id)),
                assignee_user_id: user,
                assignee_role: role,
                due_at,
                dedupe_key: Some(key),
                source: RenewalsRule.name().into(),
            },
        )
        .await?;
        if !new {
            continue;
        }
        created += 1;
        let recipients = match (user, role) {
            (Some(u), _) => vec![Recipient::User(u)],
            (None, Some(r)) => vec![Recipient::Role(r)],
            (None, None) => Vec::new(),
        };
        notifications::enqueue(
            tx,
            NewNotification {
                kind: "contract.renewal_due".into(),
                title,
                body: format!(
                    "Contract {} ends on {}: {}.",
                    d.number,
                    d.ends_on,
                    step.title.to_lowercase()
                ),
                data: json!({ "contract_id": d.id, "step_days": step.days, "ends_on": d.ends_on,
                              "task_id": task.id }),
                subject: Some((Entity::Contract, d.id)),
                recipients,
            },
        )
        .await?;
    }
    Ok(created)
}

/// Which of `keys` are dedupe keys of existing tasks (one statement per 500).
async fn existing_keys<'k>(
    tx: &mut Tx,
    keys: impl Iterator<Item = &'k str>,
) -> Result<HashSet<String>, DomainError> {
    let keys: Vec<&str> = keys.collect();
    let mut found = HashSet::new();
    for chunk in keys.chunks(500) {
        let rows: Vec<String> = on_tx!(tx, |c| {
            let mut qb =
                sqlx::QueryBuilder::new("SELECT dedupe_key FROM tasks WHERE dedupe_key IN (");
            let mut list = qb.separated(", ");
            for k in chunk {
                list.push_bind(*k);
            }
            qb.push(")");
            qb.build_query_scalar().fetch_all(&mut *c).await
        })?;
        found.extend(rows);
    }
    Ok(found)
}

/// The clock rule `contract_renewals`: the reminder tasks, evaluated when a window reaches a
/// new day (module doc).
#[derive(Debug, Clone, Copy, Default)]
pub struct RenewalsRule;

impl Rule for RenewalsRule {
    fn name(&self) -> &'static str {
        "contract_renewals"
    }

    fn evaluate<'a>(&'a self, tx: &'a mut Tx, window: Window) -> RuleFuture<'a> {
        Box::pin(async move {
            if window.from.date_naive() == window.to.date_naive() {
                return Ok(0);
            }
            remind(tx, window.to.date_naive()).await
        })
    }
}
