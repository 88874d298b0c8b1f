//! The technicians' delivery lookup: the open contract lines a delivery or return may go under,
//! for an asset, a customer or a site, with only what the scan needs (contract number, customer
//! name, site, line, asset or category and quantity, on-hire counts). Rates, deposits and notes
//! are the office's and are never read here.

use mobile_shared::on_hire::DeliveryLine;
use mobile_shared::wire::Page;
use tracing::Instrument;
use uuid::Uuid;

use super::OPEN_STATUSES_SQL;
use crate::error::DomainError;
use crate::pagination::PageRequest;
use crate::store::{on_read, Store};

/// Which open lines to list; the given filters all apply, and at least one is needed.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenLinesFilter {
    /// Lines this asset may go out under (its own lines, its category's lines with quantity
    /// left) or is on hire under now.
    pub asset_id: Option<Uuid>,
    /// The customer's lines.
    pub customer_id: Option<Uuid>,
    /// Lines of contracts for this site, or of the customer it belongs to.
    pub site_id: Option<Uuid>,
}

#[derive(sqlx::FromRow)]
struct Row {
    contract_id: Uuid,
    contract_number: String,
    customer_legal_name: String,
    site_id: Option<Uuid>,
    site_name: Option<String>,
    contract_line_id: Uuid,
    line_no: i32,
    asset_id: Option<Uuid>,
    asset_code: Option<String>,
    category_id: Option<Uuid>,
    category_name: Option<String>,
    quantity: i32,
    on_hire: i64,
    returned: i64,
}

impl From<Row> for DeliveryLine {
    fn from(r: Row) -> DeliveryLine {
        DeliveryLine {
            contract_id: r.contract_id,
            contract_number: r.contract_number,
            customer_legal_name: r.customer_legal_name,
            site_id: r.site_id,
            site_name: r.site_name,
            contract_line_id: r.contract_line_id,
            line_no: r.line_no,
            asset_id: r.asset_id,
            asset_code: r.asset_code,
            category_id: r.category_id,
            category_name: r.category_name,
            quantity: r.quantity,
            on_hire: u64::try_from(r.on_hire).unwrap_or(0),
            returned: u64::try_from(r.returned).unwrap_or(0),
        }
    }
}

/// Lines of signed, active or expiring contracts matching `filter`, by line id, in pages.
pub async fn open_lines(
    store: &Store,
    filter: OpenLinesFilter,
    page: PageRequest,
) -> Result<Page<DeliveryLine>, DomainError> {
    if filter.asset_id.is_none() && filter.customer_id.is_none() && filter.site_id.is_none() {
        return Err(DomainError::field(
            "asset_id",
            "give asset_id, customer_id or site_id",
        ));
    }
    let open = "(SELECT COUNT(*) FROM contract_line_assets p WHERE p.contract_line_id = l.id \
                AND p.off_hire_at IS NULL)";
    let sql = format!(
        "SELECT c.id AS contract_id, c.number AS contract_number, \
         cu.legal_name AS customer_legal_name, c.site_id, s.name AS site_name, \
         l.id AS contract_line_id, l.line_no, l.asset_id, a.code AS asset_code, l.category_id, \
         cat.name AS category_name, l.quantity, {open} AS on_hire, \
         (SELECT COUNT(*) FROM contract_line_assets p WHERE p.contract_line_id = l.id \
          AND p.off_hire_at IS NOT NULL) AS returned \
         FROM contract_lines l JOIN contracts c ON c.id = l.contract_id \
         JOIN customers cu ON cu.id = c.customer_id \
         LEFT JOIN sites s ON s.id = c.site_id \
         LEFT JOIN assets a ON a.id = l.asset_id \
         LEFT JOIN categories cat ON cat.id = l.category_id \
         WHERE c.status IN {OPEN_STATUSES_SQL} \
         AND ($1 IS NULL OR c.customer_id = $1) \
         AND ($2 IS NULL OR c.site_id = $2 \
              OR c.customer_id = (SELECT st.customer_id FROM sites st WHERE st.id = $2)) \
         AND ($3 IS NULL OR l.asset_id = $3 \
              OR EXISTS (SELECT 1 FROM contract_line_assets p WHERE p.contract_line_id = l.id \
                         AND p.asset_id = $3 AND p.off_hire_at IS NULL) \
              OR (l.asset_id IS NULL \
                  AND l.category_id = (SELECT ast.category_id FROM assets ast WHERE ast.id = $3) \
                  AND {open} < l.quantity)) \
         AND ($4 IS NULL OR l.id > $4) \
         ORDER BY l.id LIMIT $5"
    );
    let rows: Vec<Row> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(filter.customer_id)
        .bind(filter.site_id)
        .bind(filter.asset_id)
        .bind(page.after)
        .bind(page.fetch())
        .fetch_all(p)
        .instrument(tracing::debug_span!("delivery_open_lines"))
        .await)?;
    Ok(page.page(rows, |r| r.contract_line_id, DeliveryLine::from))
}
