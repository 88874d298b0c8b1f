//! The office's follow-up rules on the one clock (`schedule::Rule`): each turns what fell due in
//! the window it is handed into tasks for the customer's account manager (the `rental_office`
//! role when there is none), under dedupe keys, and notifies the assignee in the same
//! transaction — as work orders and overdue tasks do.
//!
//! - [`StaleLeadRule`]: a lead with no follow-up for [`STALE_AFTER`] → a "stale lead" task, one
//!   per lead per staleness episode (the key holds the time of the last touch, so a follow-up
//!   starts a new episode).
//! - [`DeliveryRevisitRule`]: an applied delivery to a customer's site → a revisit task due
//!   [`REVISIT_AFTER`] the delivery, one per delivery.
//! - [`QuarterlyRevisitRule`]: a high-value customer (value tier `champion` or `loyal`, as the
//!   classification last set it) → one revisit task per customer per calendar quarter.
//!
//! Every rule selects by the window, so a tick after downtime that covers several days creates
//! each task once, and a window re-run after a crash creates nothing twice (the keys).

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, NaiveTime, Utc};
use mobile_shared::Role;
use serde_json::json;
use uuid::Uuid;

use crate::actor::Actor;
use crate::entity::Entity;
use crate::error::DomainError;
use crate::notifications::{self, NewNotification, Recipient};
use crate::schedule::{Rule, RuleFuture, Scheduler, Window};
use crate::store::{on_tx, Tx};
use crate::tasks::{self, NewTask};

/// How long a lead may go without a follow-up before it is stale.
pub const STALE_AFTER: Duration = Duration::days(3);
/// How far back a late-logged touch may start a staleness episode the clock has passed.
pub const STALE_LOOKBACK: Duration = Duration::days(30);
/// How long after a delivery the account manager revisits the customer.
pub const REVISIT_AFTER: Duration = Duration::days(7);
/// The value tiers whose customers get a quarterly revisit.
pub const HIGH_VALUE_TIERS: [&str; 2] = ["champion", "loyal"];

/// Task kinds of the rules.
pub const STALE_LEAD_KIND: &str = "customer_stale_lead";
pub const REVISIT_KIND: &str = "customer_revisit";
pub const QUARTERLY_REVISIT_KIND: &str = "customer_quarterly_revisit";

/// Registers the three rules on `scheduler` (the binary calls this where it builds its clock).
pub fn register(scheduler: Scheduler) -> Scheduler {
    scheduler
        .with_rule(StaleLeadRule)
        .with_rule(DeliveryRevisitRule)
        .with_rule(QuarterlyRevisitRule)
}

/// What one rule raises about one customer.
struct Raise {
    rule: &'static str,
    kind: &'static str,
    title: String,
    body: String,
    customer_id: Uuid,
    manager: Option<Uuid>,
    due_at: DateTime<Utc>,
    dedupe_key: String,
    data: serde_json::Value,
}

/// Creates the task (once per key) and, when this call created it, notifies its assignee.
/// Answers whether it created one.
async fn raise(tx: &mut Tx, r: Raise) -> Result<bool, DomainError> {
    let new = NewTask {
        kind: r.kind.to_owned(),
        title: r.title.clone(),
        subject: Some(("customer".to_owned(), r.customer_id)),
        assignee_user_id: r.manager,
        assignee_role: r.manager.is_none().then_some(Role::RentalOffice),
        due_at: r.due_at,
        dedupe_key: Some(r.dedupe_key),
        source: r.rule.to_owned(),
    };
    let (task, created) = tasks::create_in(tx, &Actor::clock(), new).await?;
    if created {
        let mut data = r.data;
        if let Some(map) = data.as_object_mut() {
            map.insert("task_id".into(), json!(task.id));
            map.insert("customer_id".into(), json!(r.customer_id));
            map.insert("due_at".into(), json!(r.due_at));
        }
        notifications::enqueue(
            tx,
            NewNotification {
                kind: format!("customer.{}", r.kind.trim_start_matches("customer_")),
                title: r.title,
                body: r.body,
                data,
                subject: Some((Entity::Customer, r.customer_id)),
                recipients: vec![match r.manager {
                    Some(user) => Recipient::User(user),
                    None => Recipient::Role(Role::RentalOffice),
                }],
            },
        )
        .await?;
    }
    Ok(created)
}

/// A lead with no follow-up for [`STALE_AFTER`]: the stale point (last touch + 3 days) fell in
/// the window (or, for a touch logged late, up to [`STALE_LOOKBACK`] before it) and the lead
/// has no task since its last touch. The last touch is the latest follow-up, or the lead's
/// creation.
#[derive(Debug, Clone, Copy, Default)]
pub struct StaleLeadRule;

impl Rule for StaleLeadRule {
    fn name(&self) -> &'static str {
        "customer_stale_leads"
    }

    fn evaluate<'a>(&'a self, tx: &'a mut Tx, window: Window) -> RuleFuture<'a> {
        Box::pin(async move {
            // The last touch is read per lead through customer_follow_ups_customer; a lead whose
            // task was created after its last touch has this episode's task already (the
            // lookback catches touches logged late, which start an episode in the past).
            let sql = "SELECT id, legal_name, account_manager_id, last_touch FROM ( \
                         SELECT c.id, c.legal_name, c.account_manager_id, \
                           COALESCE((SELECT MAX(f.at) FROM customer_follow_ups f \
                                     WHERE f.customer_id = c.id AND f.at > c.created_at), \
                                    c.created_at) AS last_touch \
                         FROM customers c WHERE c.status = 'lead' AND c.deleted_at IS NULL \
                       ) leads WHERE last_touch > $1 AND last_touch <= $2 \
                       AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.subject_id = leads.id \
                         AND t.kind = $3 AND t.created_at >= leads.last_touch) \
                       ORDER BY id";
            #[allow(clippy::type_complexity)]
            let stale: Vec<(Uuid, String, Option<Uuid>, DateTime<Utc>)> =
                on_tx!(tx, |c| sqlx::query_as(sql)
                    .bind(window.from - STALE_AFTER - STALE_LOOKBACK)
                    .bind(window.to - STALE_AFTER)
                    .bind(STALE_LEAD_KIND)
                    .fetch_all(c)
                    .await)?;
            let mut count = 0;
            for (id, name, manager, last_touch) in stale {
                let stale_at = last_touch + STALE_AFTER;
                let created = raise(
                    tx,
                    Raise {
                        rule: self.name(),
                        kind: STALE_LEAD_KIND,
                        title: format!("Stale lead: {name}"),
                        body: format!(
                            "No follow-up with {name} since {last_touch}. Call them, or log \
                             the contact you had."
                        ),
                        customer_id: id,
                        manager,
                        due_at: stale_at + Duration::days(1),
                        dedupe_key: format!("stale_lead:{id}:{}", last_touch.timestamp_micros()),
                        data: json!({ "last_touch": last_touch }),
                    },
                )
                .await?;
                count += u64::from(created);
            }
            Ok(count)
        })
    }
}

/// A revisit [`REVISIT_AFTER`] each delivery to a customer's site: deliveries that reached the
/// server in the window (a phone that synced late is seen when it syncs), due a week after the
/// delivery itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeliveryRevisitRule;

impl Rule for DeliveryRevisitRule {
    fn name(&self) -> &'static str {
        "customer_delivery_revisits"
    }

    fn evaluate<'a>(&'a self, tx: &'a mut Tx, window: Window) -> RuleFuture<'a> {
        Box::pin(async move {
            let sql = "SELECT e.id, e.device_time, c.id, c.legal_name, c.account_manager_id, \
                       s.name FROM scan_events e JOIN sites s ON s.id = e.site_id \
                       JOIN customers c ON c.id = s.customer_id \
                       WHERE e.action = 'deliver' AND e.status = 'applied' \
                       AND e.server_time > $1 AND e.server_time <= $2 AND c.deleted_at IS NULL \
                       ORDER BY e.server_time, e.id";
            #[allow(clippy::type_complexity)]
            let deliveries: Vec<(
                Uuid,
                DateTime<Utc>,
                Uuid,
                String,
                Option<Uuid>,
                String,
            )> = on_tx!(tx, |c| sqlx::query_as(sql)
                .bind(window.from)
                .bind(window.to)
                .fetch_all(c)
                .await)?;
            let mut count = 0;
            for (scan, delivered_at, customer, name, manager, site) in deliveries {
                let created = raise(
                    tx,
                    Raise {
                        rule: self.name(),
                        kind: REVISIT_KIND,
                        title: format!("Revisit {name} at {site}"),
                        body: format!(
                            "A machine was delivered to {site} on {}. Visit or call {name} to \
                             hear how it runs.",
                            delivered_at.date_naive()
                        ),
                        customer_id: customer,
                        manager,
                        due_at: delivered_at + REVISIT_AFTER,
                        dedupe_key: format!("customer_revisit:{scan}"),
                        data: json!({ "scan_event_id": scan, "delivered_at": delivered_at }),
                    },
                )
                .await?;
                count += u64::from(created);
            }
            Ok(count)
        })
    }
}

/// The calendar quarter holding `t`: its first day and the first day of the next one.
pub fn quarter_of(t: DateTime<Utc>) -> (NaiveDate, NaiveDate) {
    let day = t.date_naive();
    let first_month = (day.month0() / 3) * 3 + 1;
    let start = NaiveDate::from_ymd_opt(day.year(), first_month, 1).unwrap_or(day);
    (
        start,
        start.checked_add_months(Months::new(3)).unwrap_or(start),
    )
}

/// One revisit per high-value customer per quarter: each window gives the quarter of its end
/// to the high-value customers who have no revisit task in it yet (a customer classified
/// `champion` mid-quarter gets theirs at the next tick). Due at the quarter's end.
#[derive(Debug, Clone, Copy, Default)]
pub struct QuarterlyRevisitRule;

impl Rule for QuarterlyRevisitRule {
    fn name(&self) -> &'static str {
        "customer_quarterly_revisits"
    }

    fn evaluate<'a>(&'a self, tx: &'a mut Tx, window: Window) -> RuleFuture<'a> {
        Box::pin(async move {
            let (start, next) = quarter_of(window.to);
            let due_at = next.and_time(NaiveTime::MIN).and_utc();
            let sql = "SELECT c.id, c.legal_name, c.account_manager_id, c.value_tier \
                       FROM customers c WHERE c.deleted_at IS NULL \
                       AND c.value_tier IN ($1, $2) AND c.status <> 'churned' \
                       AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.subject_id = c.id \
                         AND t.kind = $3 AND t.due_at = $4) ORDER BY c.id";
            #[allow(clippy::type_complexity)]
            let customers: Vec<(Uuid, String, Option<Uuid>, String)> =
                on_tx!(tx, |c| sqlx::query_as(sql)
                    .bind(HIGH_VALUE_TIERS[0])
                    .bind(HIGH_VALUE_TIERS[1])
                    .bind(QUARTERLY_REVISIT_KIND)
                    .bind(due_at)
                    .fetch_all(c)
                    .await)?;
            let quarter = format!("{}-Q{}", start.year(), start.month0() / 3 + 1);
            let mut count = 0;
            for (id, name, manager, tier) in customers {
                let created = raise(
                    tx,
                    Raise {
                        rule: self.name(),
                        kind: QUARTERLY_REVISIT_KIND,
                        title: format!("Quarterly visit: {name} ({quarter})"),
                        body: format!(
                            "{name} is a {tier} customer: visit them this quarter ({quarter})."
                        ),
                        customer_id: id,
                        manager,
                        due_at,
                        dedupe_key: format!("customer_quarterly_revisit:{id}:{quarter}"),
                        data: json!({ "quarter": quarter, "value_tier": tier }),
                    },
                )
                .await?;
                count += u64::from(created);
            }
            Ok(count)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarters() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        assert_eq!(
            quarter_of(at("2026-01-01T00:00:00Z")),
            (d(2026, 1, 1), d(2026, 4, 1))
        );
        assert_eq!(
            quarter_of(at("2026-06-30T23:59:59Z")),
            (d(2026, 4, 1), d(2026, 7, 1))
        );
        assert_eq!(
            quarter_of(at("2026-12-07T05:00:00Z")),
            (d(2026, 10, 1), d(2027, 1, 1))
        );
    }
}
