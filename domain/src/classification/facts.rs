//! What the classification reads: a fixed number of set-based queries for every customer (the
//! nightly run) or for one (on demand), folded per customer in Rust. Contracts count from
//! signing: drafts are left out, everything else (active, ended, renewed, terminated…) counts.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Months, NaiveDate, Utc};
use mobile_shared::classification::{ClassificationSettings, ProductLine};
use uuid::Uuid;

use super::rfm::{self, RatePeriod};
use crate::error::DomainError;
use crate::store::{on_tx, Tx};

/// One customer's inputs.
#[derive(Debug, Clone, Default)]
pub(crate) struct CustomerFacts {
    pub industry: Option<String>,
    /// Tier and grade before this classification (for the audit of changes).
    pub value_tier: Option<String>,
    pub credit_grade: Option<String>,
    pub first_start: Option<NaiveDate>,
    pub last_start: Option<NaiveDate>,
    pub last_end: Option<NaiveDate>,
    /// Contracts started since the window's start.
    pub frequency: i64,
    /// Their value in the settings' currency, minor units.
    pub monetary_cents: i64,
    pub other_currency_contracts: u32,
    pub complaints: i64,
    pub product_lines: Vec<ProductLine>,
}

impl CustomerFacts {
    /// Whether the customer has a contract (the RFM population).
    pub fn has_contracts(&self) -> bool {
        self.last_start.is_some()
    }

    /// Days from the last contract's start to `as_of` (0 for one starting later).
    pub fn recency_days(&self, as_of: NaiveDate) -> Option<i64> {
        self.last_start.map(|s| (as_of - s).num_days().max(0))
    }
}

/// The start of the RFM window: `window_months` before `as_of`.
pub(crate) fn window_from(as_of: NaiveDate, settings: &ClassificationSettings) -> NaiveDate {
    as_of
        .checked_sub_months(Months::new(settings.rfm.window_months))
        .unwrap_or(NaiveDate::MIN)
}

#[derive(sqlx::FromRow)]
struct CustomerRow {
    id: Uuid,
    industry: Option<String>,
    value_tier: Option<String>,
    credit_grade: Option<String>,
}

/// One contract and one rate unit of its lines: the lines' Σ rate × quantity per unit.
#[derive(sqlx::FromRow)]
struct ContractRow {
    id: Uuid,
    customer_id: Uuid,
    starts_on: NaiveDate,
    ends_on: NaiveDate,
    currency: String,
    rate_period: Option<String>,
    per_period_cents: Option<i64>,
}

/// The customers' facts as of `at`: every live customer, or only `one`. Four queries whatever
/// the number of customers.
pub(crate) async fn load(
    tx: &mut Tx,
    one: Option<Uuid>,
    at: DateTime<Utc>,
    settings: &ClassificationSettings,
) -> Result<HashMap<Uuid, CustomerFacts>, DomainError> {
    let as_of = at.date_naive();
    let only = |column: &str, n: u8| match one {
        Some(_) => format!(" AND {column} = ${n}"),
        None => String::new(),
    };

    let sql = format!(
        "SELECT id, industry, value_tier, credit_grade FROM customers WHERE deleted_at IS NULL{}",
        only("id", 1)
    );
    let customers: Vec<CustomerRow> = on_tx!(tx, |c| {
        let q = sqlx::query_as(&sql);
        let q = match one {
            Some(id) => q.bind(id),
            None => q,
        };
        q.fetch_all(&mut *c).await
    })?;
    let mut facts: HashMap<Uuid, CustomerFacts> = customers
        .into_iter()
        .map(|r| {
            (
                r.id,
                CustomerFacts {
                    industry: r.industry,
                    value_tier: r.value_tier,
                    credit_grade: r.credit_grade,
                    ..CustomerFacts::default()
                },
            )
        })
        .collect();

    // Grouped per contract and rate unit in SQL; the units' lengths (calendar months) in Rust.
    let sql = format!(
        "SELECT c.id, c.customer_id, c.starts_on, c.ends_on, c.currency, l.rate_period, \
                CAST(SUM(l.rate_cents * l.quantity) AS BIGINT) AS per_period_cents \
         FROM contracts c LEFT JOIN contract_lines l ON l.contract_id = c.id \
         WHERE c.status <> 'draft'{} \
         GROUP BY c.id, c.customer_id, c.starts_on, c.ends_on, c.currency, l.rate_period",
        only("c.customer_id", 1)
    );
    let contracts: Vec<ContractRow> = on_tx!(tx, |c| {
        let q = sqlx::query_as(&sql);
        let q = match one {
            Some(id) => q.bind(id),
            None => q,
        };
        q.fetch_all(&mut *c).await
    })?;
    let from = window_from(as_of, settings);
    let mut counted: HashSet<Uuid> = HashSet::new();
    for row in contracts {
        let Some(f) = facts.get_mut(&row.customer_id) else {
            continue;
        };
        f.first_start = Some(
            f.first_start
                .map_or(row.starts_on, |d| d.min(row.starts_on)),
        );
        f.last_start = Some(f.last_start.map_or(row.starts_on, |d| d.max(row.starts_on)));
        f.last_end = Some(f.last_end.map_or(row.ends_on, |d| d.max(row.ends_on)));
        if row.starts_on < from {
            continue;
        }
        let same_currency = row.currency == settings.currency;
        // A contract comes as one row per rate unit of its lines: count it once.
        if counted.insert(row.id) {
            f.frequency += 1;
            if !same_currency {
                f.other_currency_contracts += 1;
            }
        }
        if let (true, Some(unit), Some(cents)) = (
            same_currency,
            row.rate_period.as_deref().and_then(RatePeriod::parse),
            row.per_period_cents,
        ) {
            let value = cents.saturating_mul(rfm::periods(row.starts_on, row.ends_on, unit));
            f.monetary_cents = f.monetary_cents.saturating_add(value);
        }
    }

    let since = at
        .checked_sub_months(Months::new(settings.credit.complaint_window_months))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let sql = format!(
        "SELECT customer_id, COUNT(*) FROM complaints WHERE opened_at > $1 AND opened_at <= $2{} \
         GROUP BY customer_id",
        only("customer_id", 3)
    );
    let complaints: Vec<(Uuid, i64)> = on_tx!(tx, |c| {
        let q = sqlx::query_as(&sql).bind(since).bind(at);
        let q = match one {
            Some(id) => q.bind(id),
            None => q,
        };
        q.fetch_all(&mut *c).await
    })?;
    for (id, n) in complaints {
        if let Some(f) = facts.get_mut(&id) {
            f.complaints = n;
        }
    }

    let sql = format!(
        "SELECT DISTINCT c.customer_id, cat.id, cat.name FROM contracts c \
         JOIN contract_lines l ON l.contract_id = c.id \
         LEFT JOIN assets a ON a.id = l.asset_id \
         JOIN categories cat ON cat.id = COALESCE(l.category_id, a.category_id) \
         WHERE c.status <> 'draft'{}",
        only("c.customer_id", 1)
    );
    let lines: Vec<(Uuid, Uuid, String)> = on_tx!(tx, |c| {
        let q = sqlx::query_as(&sql);
        let q = match one {
            Some(id) => q.bind(id),
            None => q,
        };
        q.fetch_all(&mut *c).await
    })?;
    for (customer, category_id, name) in lines {
        if let Some(f) = facts.get_mut(&customer) {
            f.product_lines.push(ProductLine { category_id, name });
        }
    }
    for f in facts.values_mut() {
        f.product_lines.sort();
    }
    Ok(facts)
}
