//! The customer list (filtered, sorted, keyset-paged) and its share-by-tier / by-grade summary,
//! both within the caller's [`Scope`].
//!
//! Every sort is a keyset order ending in the id, and the cursor stays the id of the last row:
//! the next page starts after that row's sort key, read back by id in a row-value comparison,
//! so a cursor from one sort is as opaque and stable as the id cursors of every other list.

use mobile_shared::customers::{Customer, CustomerFilter, CustomerSort, CustomerSummary, Share};
use mobile_shared::wire::Page;

use crate::error::DomainError;
use crate::pagination::PageRequest;
use crate::store::{on_read, Backend, Store};

use super::{CustomerRow, Scope, COLUMNS};

/// The value tiers, best first; a tier the classification names otherwise sorts after them,
/// unclassified customers last.
const TIER_RANK: &str =
    "CASE WHEN value_tier IS NULL THEN 100 WHEN value_tier = 'champion' THEN 1 \
     WHEN value_tier = 'loyal' THEN 2 WHEN value_tier = 'new' THEN 3 \
     WHEN value_tier = 'at_risk' THEN 4 WHEN value_tier = 'hibernating' THEN 5 ELSE 50 END";

/// The key columns of a sort and whether it runs backwards (newest first).
fn sort_key(sort: CustomerSort) -> (String, bool) {
    match sort {
        CustomerSort::Name => ("lower(legal_name), id".to_owned(), false),
        CustomerSort::Created => ("id".to_owned(), true),
        CustomerSort::ValueTier => (format!("{TIER_RANK}, lower(legal_name), id"), false),
        CustomerSort::CreditGrade => (
            "COALESCE(credit_grade, 'Z'), lower(legal_name), id".to_owned(),
            false,
        ),
    }
}

/// A page of the customers in `scope` matching `filter`, in its sort order.
pub async fn list(
    store: &Store,
    scope: Scope,
    filter: &CustomerFilter,
    page: PageRequest,
) -> Result<Page<Customer>, DomainError> {
    let (keys, backwards) = sort_key(filter.sort.unwrap_or_default());
    let (cmp, order) = if backwards {
        ("<", format!("{keys} DESC"))
    } else {
        (">", keys.clone())
    };
    let tag = match store.backend() {
        Backend::Postgres => "($8::text IS NULL OR tags @> jsonb_build_array($8::text))",
        Backend::Sqlite => {
            "($8 IS NULL OR EXISTS (SELECT 1 FROM json_each(customers.tags) j WHERE j.value = $8))"
        }
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM customers WHERE deleted_at IS NULL \
         AND ($1 IS NULL OR account_manager_id = $1) AND ($2 IS NULL OR status = $2) \
         AND ($3 IS NULL OR value_tier = $3) AND ($4 IS NULL OR credit_grade = $4) \
         AND ($5 IS NULL OR industry = $5) AND ($6 IS NULL OR region = $6) \
         AND ($7 IS NULL OR account_manager_id = $7) AND {tag} \
         AND ($9 IS NULL OR lower(legal_name) LIKE $9 ESCAPE '\\') \
         AND ($10 IS NULL OR ({keys}) {cmp} (SELECT {keys} FROM customers WHERE id = $10)) \
         ORDER BY {order} LIMIT $11"
    );
    let text = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let q = text(&filter.q).map(|q| crate::assets::like_pattern(&q));
    let rows: Vec<CustomerRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(scope.manager())
        .bind(filter.status.map(|s| s.as_str()))
        .bind(text(&filter.value_tier))
        .bind(text(&filter.credit_grade))
        .bind(text(&filter.industry))
        .bind(text(&filter.region))
        .bind(filter.account_manager_id)
        .bind(text(&filter.tag))
        .bind(&q)
        .bind(page.after)
        .bind(page.fetch())
        .fetch_all(p)
        .await)?;
    page.try_page(rows, |r| r.id, Customer::try_from)
}

/// How the customers in `scope` share out by value tier and by credit grade (unclassified
/// ones under `null`), largest share first.
pub async fn summary(store: &Store, scope: Scope) -> Result<CustomerSummary, DomainError> {
    let mut shares = Vec::new();
    for column in ["value_tier", "credit_grade"] {
        let sql = format!(
            "SELECT {column}, COUNT(*) FROM customers \
             WHERE deleted_at IS NULL AND ($1 IS NULL OR account_manager_id = $1) \
             GROUP BY {column}"
        );
        let counts: Vec<(Option<String>, i64)> = on_read!(store, |p| sqlx::query_as(&sql)
            .bind(scope.manager())
            .fetch_all(p)
            .await)?;
        shares.push(counts);
    }
    let total: i64 = shares[0].iter().map(|(_, n)| n).sum();
    let into_shares = |mut counts: Vec<(Option<String>, i64)>| -> Vec<Share> {
        counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        counts
            .into_iter()
            .map(|(value, count)| Share {
                value,
                count,
                share: ratio(count, total),
            })
            .collect()
    };
    let by_credit_grade = into_shares(shares.pop().unwrap_or_default());
    let by_value_tier = into_shares(shares.pop().unwrap_or_default());
    Ok(CustomerSummary {
        total,
        by_value_tier,
        by_credit_grade,
    })
}

/// `count / total` (0 without customers). A ratio, not money: a float is the honest type.
#[allow(clippy::cast_precision_loss)]
fn ratio(count: i64, total: i64) -> f64 {
    if total > 0 {
        count as f64 / total as f64
    } else {
        0.0
    }
}
