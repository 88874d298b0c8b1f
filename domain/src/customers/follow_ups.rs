//! The contact log: when someone spoke to the customer, how, what came of it and the next step
//! with its date. Entries are history: added, never edited. The stale-lead rule
//! ([`super::rules`]) reads the latest entry of each lead.

use chrono::{DateTime, NaiveDate, Utc};
use mobile_shared::customers::{FollowUp, FollowUpChannel, NewFollowUp, MAX_TEXT_LEN};
use mobile_shared::wire::Page;
use uuid::Uuid;

use crate::actor::Actor;
use crate::audit::Change;
use crate::clock;
use crate::entity::Entity;
use crate::error::{DomainError, Validator};
use crate::pagination::PageRequest;
use crate::store::{on_read, on_tx, Store};

use super::{check_text, clean, Scope, CLOCK_SKEW};

#[derive(sqlx::FromRow)]
struct FollowUpRow {
    id: Uuid,
    customer_id: Uuid,
    at: DateTime<Utc>,
    user_id: Option<Uuid>,
    channel: String,
    outcome: String,
    next_step: Option<String>,
    next_step_on: Option<NaiveDate>,
    created_at: DateTime<Utc>,
}

impl TryFrom<FollowUpRow> for FollowUp {
    type Error = DomainError;
    fn try_from(r: FollowUpRow) -> Result<FollowUp, DomainError> {
        Ok(FollowUp {
            channel: FollowUpChannel::parse(&r.channel).ok_or_else(|| {
                DomainError::Internal(format!("follow-up {}: unreadable channel", r.id))
            })?,
            id: r.id,
            customer_id: r.customer_id,
            at: r.at,
            user_id: r.user_id,
            outcome: r.outcome,
            next_step: r.next_step,
            next_step_on: r.next_step_on,
            created_at: r.created_at,
        })
    }
}

const COLUMNS: &str =
    "id, customer_id, at, user_id, channel, outcome, next_step, next_step_on, created_at";

/// Logs a follow-up of a customer in the actor's scope, made by the actor.
pub async fn create(
    store: &Store,
    actor: &Actor,
    customer_id: Uuid,
    new: NewFollowUp,
) -> Result<FollowUp, DomainError> {
    let mut tx = store.begin().await?;
    super::hold(&mut tx, Scope::of_actor(actor), customer_id).await?;
    let now = clock::now();
    let at = new.at.unwrap_or(now);
    let mut v = Validator::new();
    if at > now + CLOCK_SKEW {
        v.add("at", "must not be in the future");
    }
    let outcome = new.outcome.trim().to_owned();
    if outcome.is_empty() || outcome.chars().count() > MAX_TEXT_LEN {
        v.add("outcome", format!("must be 1-{MAX_TEXT_LEN} characters"));
    }
    let next_step = clean(new.next_step);
    check_text(&mut v, "next_step", next_step.as_deref());
    if new.next_step_on.is_some_and(|d| d < at.date_naive()) {
        v.add("next_step_on", "must not be before the follow-up");
    }
    v.finish()?;
    let follow_up = FollowUp {
        id: clock::new_id(),
        customer_id,
        at,
        user_id: actor.user_id,
        channel: new.channel,
        outcome,
        next_step,
        next_step_on: new.next_step_on,
        created_at: now,
    };
    let sql = format!(
        "INSERT INTO customer_follow_ups ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    );
    on_tx!(
        &mut tx,
        execute(
            sqlx::query(&sql)
                .bind(follow_up.id)
                .bind(customer_id)
                .bind(follow_up.at)
                .bind(follow_up.user_id)
                .bind(follow_up.channel.as_str())
                .bind(&follow_up.outcome)
                .bind(&follow_up.next_step)
                .bind(follow_up.next_step_on)
                .bind(now)
        )
    )?;
    tx.commit_audited(
        actor,
        Change::created(Entity::FollowUp, follow_up.id, &follow_up),
    )
    .await?;
    Ok(follow_up)
}

/// A page of a customer's contact log, newest first (404 for a customer outside `scope`).
pub async fn list(
    store: &Store,
    scope: Scope,
    customer_id: Uuid,
    page: PageRequest,
) -> Result<Page<FollowUp>, DomainError> {
    super::check_readable(store, scope, customer_id).await?;
    let sql = format!(
        "SELECT {COLUMNS} FROM customer_follow_ups WHERE customer_id = $1 \
         AND ($2 IS NULL OR (at, id) < (SELECT at, id FROM customer_follow_ups WHERE id = $2)) \
         ORDER BY at DESC, id DESC LIMIT $3"
    );
    let rows: Vec<FollowUpRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(customer_id)
        .bind(page.after)
        .bind(page.fetch())
        .fetch_all(p)
        .await)?;
    page.try_page(rows, |r| r.id, FollowUp::try_from)
}
