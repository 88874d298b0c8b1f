//! Exporting the office's lists (assets, sites, customers, contracts) as CSV or XLSX.
//!
//! The columns are exactly the import's fields ([`crate::import::mapping`]), references written
//! as the codes the import resolves (a site's code, a customer's external code or legal name),
//! so an exported file imports back without a mapping and changes nothing. Contracts are one
//! row per line; `status` and `currency` follow as information the import does not read.
//!
//! Every export is audited (`export.run`, with the kind, format and row count): a list of every
//! customer leaving the system is worth knowing about.
//!
//! CSV cells that a spreadsheet program would run as a formula (starting with `= + - @`, tab or
//! carriage return) get a leading `'` — OWASP's advice against CSV injection; the import drops
//! it again. XLSX cells are written as typed strings and numbers, never formulas, so they need
//! no such guard.

use chrono::NaiveDate;
use mobile_shared::spreadsheets::{SheetFormat, SheetKind};
use serde_json::json;
use sqlx::types::Json;
use uuid::Uuid;

use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::clock;
use crate::entity::Entity;
use crate::error::DomainError;
use crate::import::mapping;
use crate::store::{on_read, Store};

/// The first characters that make a spreadsheet program read a CSV cell as a formula.
pub const FORMULA_TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Columns written as numbers in XLSX (text elsewhere).
const NUMERIC: &[&str] = &[
    "engine_hours",
    "odometer_km",
    "purchase_price_cents",
    "useful_life_months",
    "residual_value_cents",
    "lat",
    "lon",
    "credit_limit_cents",
    "payment_terms_days",
    "deposit_cents",
    "line_quantity",
    "line_rate_cents",
];

/// An exported file.
#[derive(Debug, Clone)]
pub struct ExportFile {
    /// `assets-20261207.csv`.
    pub filename: String,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
    /// Data rows written.
    pub rows: u64,
}

/// Exports the whole list of `kind` in `format`, audited.
pub async fn export(
    store: &Store,
    actor: &Actor,
    kind: SheetKind,
    format: SheetFormat,
) -> Result<ExportFile, DomainError> {
    let mut headers: Vec<&str> = mapping::fields(kind).iter().map(|f| f.name).collect();
    if kind == SheetKind::Contracts {
        headers.extend(["status", "currency"]);
    }
    let rows = match kind {
        SheetKind::Assets => assets(store).await?,
        SheetKind::Sites => sites(store).await?,
        SheetKind::Customers => customers(store).await?,
        SheetKind::Contracts => contracts(store).await?,
    };
    let bytes = match format {
        SheetFormat::Csv => to_csv(&headers, &rows)?,
        SheetFormat::Xlsx => to_xlsx(kind, &headers, &rows)?,
    };
    let id = clock::new_id();
    let mut tx = store.begin().await?;
    audit::record(
        &mut tx,
        actor,
        Change::action("export.run", Entity::Export, id).after(&json!({
            "kind": kind, "format": format, "rows": rows.len(), "bytes": bytes.len(),
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(ExportFile {
        filename: format!(
            "{}-{}.{}",
            kind.as_str(),
            clock::now().format("%Y%m%d"),
            format.as_str()
        ),
        content_type: format.content_type(),
        bytes,
        rows: rows.len() as u64,
    })
}

/// `'=1+1` for `=1+1` (module doc).
pub fn neutralise(cell: &str) -> String {
    if cell.starts_with(FORMULA_TRIGGERS) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

fn internal(what: &str) -> impl FnOnce(String) -> DomainError + '_ {
    move |e| DomainError::Internal(format!("export {what}: {e}"))
}

fn to_csv(headers: &[&str], rows: &[Vec<String>]) -> Result<Vec<u8>, DomainError> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    w.write_record(headers)
        .map_err(|e| internal("csv")(e.to_string()))?;
    for row in rows {
        w.write_record(row.iter().map(|c| neutralise(c)))
            .map_err(|e| internal("csv")(e.to_string()))?;
    }
    w.into_inner().map_err(|e| internal("csv")(e.to_string()))
}

fn to_xlsx(
    kind: SheetKind,
    headers: &[&str],
    rows: &[Vec<String>],
) -> Result<Vec<u8>, DomainError> {
    use rust_xlsxwriter::{Format, Workbook};
    let err = |e: rust_xlsxwriter::XlsxError| internal("xlsx")(e.to_string());
    let mut workbook = Workbook::new();
    let bold = Format::new().set_bold();
    let sheet = workbook.add_worksheet();
    sheet.set_name(kind.as_str()).map_err(err)?;
    for (c, header) in headers.iter().enumerate() {
        let c = u16::try_from(c).map_err(|e| internal("xlsx")(e.to_string()))?;
        sheet
            .write_string_with_format(0, c, *header, &bold)
            .map_err(err)?;
    }
    for (r, row) in rows.iter().enumerate() {
        let r = u32::try_from(r + 1).map_err(|e| internal("xlsx")(e.to_string()))?;
        for (c, cell) in row.iter().enumerate() {
            if cell.is_empty() {
                continue;
            }
            let numeric = headers.get(c).is_some_and(|h| NUMERIC.contains(h));
            let c = u16::try_from(c).map_err(|e| internal("xlsx")(e.to_string()))?;
            match cell.parse::<f64>() {
                Ok(n) if numeric && n.is_finite() => sheet.write_number(r, c, n).map_err(err)?,
                _ => sheet.write_string(r, c, cell).map_err(err)?,
            };
        }
    }
    workbook.save_to_buffer().map_err(err)
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// A site reference as the import resolves it: its code, else its id.
fn site_key(code: Option<String>, id: Option<Uuid>) -> String {
    code.or(id.map(|i| i.to_string())).unwrap_or_default()
}

#[derive(sqlx::FromRow)]
struct AssetRow {
    code: String,
    name: String,
    category: Option<String>,
    status: String,
    make: Option<String>,
    model: Option<String>,
    serial: Option<String>,
    home_site_code: Option<String>,
    home_site_id: Option<Uuid>,
    site_code: Option<String>,
    site_id: Option<Uuid>,
    engine_hours: Option<f64>,
    odometer_km: Option<f64>,
    purchase_date: Option<NaiveDate>,
    purchase_price_cents: Option<i64>,
    depreciation_method: String,
    useful_life_months: Option<i32>,
    residual_value_cents: Option<i64>,
}

async fn assets(store: &Store) -> Result<Vec<Vec<String>>, DomainError> {
    let sql = "SELECT a.code, a.name, c.name AS category, a.status, a.make, a.model, a.serial, \
               hs.code AS home_site_code, a.home_site_id, s.code AS site_code, a.site_id, \
               a.engine_hours, a.odometer_km, a.purchase_date, a.purchase_price_cents, \
               a.depreciation_method, a.useful_life_months, a.residual_value_cents \
               FROM assets a LEFT JOIN categories c ON c.id = a.category_id \
               LEFT JOIN sites hs ON hs.id = a.home_site_id LEFT JOIN sites s ON s.id = a.site_id \
               WHERE a.deleted_at IS NULL ORDER BY a.code";
    let rows: Vec<AssetRow> = on_read!(store, |p| sqlx::query_as(sql).fetch_all(p).await)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            vec![
                r.code,
                r.name,
                opt(r.category),
                r.status,
                opt(r.make),
                opt(r.model),
                opt(r.serial),
                site_key(r.home_site_code, r.home_site_id),
                site_key(r.site_code, r.site_id),
                opt(r.engine_hours),
                opt(r.odometer_km),
                opt(r.purchase_date),
                opt(r.purchase_price_cents),
                r.depreciation_method,
                opt(r.useful_life_months),
                opt(r.residual_value_cents),
            ]
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct SiteRow {
    id: Uuid,
    code: Option<String>,
    name: String,
    kind: String,
    address: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
    customer_code: Option<String>,
    customer_name: Option<String>,
}

async fn sites(store: &Store) -> Result<Vec<Vec<String>>, DomainError> {
    let sql = "SELECT s.id, s.code, s.name, s.kind, s.address, s.lat, s.lon, \
               cu.external_code AS customer_code, cu.legal_name AS customer_name \
               FROM sites s LEFT JOIN customers cu ON cu.id = s.customer_id ORDER BY s.name, s.id";
    let rows: Vec<SiteRow> = on_read!(store, |p| sqlx::query_as(sql).fetch_all(p).await)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            vec![
                // A site without a code is exported under its id, which the import resolves.
                site_key(r.code, Some(r.id)),
                r.name,
                r.kind,
                opt(r.address),
                opt(r.lat),
                opt(r.lon),
                r.customer_code.or(r.customer_name).unwrap_or_default(),
            ]
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct CustomerRow {
    external_code: Option<String>,
    legal_name: String,
    kind: String,
    status: String,
    currency: String,
    industry: Option<String>,
    region: Option<String>,
    source: Option<String>,
    credit_limit_cents: Option<i64>,
    payment_terms_days: Option<i32>,
    tags: Json<Vec<String>>,
    notes: Option<String>,
}

async fn customers(store: &Store) -> Result<Vec<Vec<String>>, DomainError> {
    let sql = "SELECT external_code, legal_name, kind, status, currency, industry, region, \
               source, credit_limit_cents, payment_terms_days, tags, notes \
               FROM customers WHERE deleted_at IS NULL ORDER BY legal_name, id";
    let rows: Vec<CustomerRow> = on_read!(store, |p| sqlx::query_as(sql).fetch_all(p).await)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            vec![
                opt(r.external_code),
                r.legal_name,
                r.kind,
                r.status,
                r.currency,
                opt(r.industry),
                opt(r.region),
                opt(r.source),
                opt(r.credit_limit_cents),
                opt(r.payment_terms_days),
                r.tags.0.join("; "),
                opt(r.notes),
            ]
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct ContractRow {
    number: String,
    customer_code: Option<String>,
    customer_name: String,
    site_code: Option<String>,
    site_id: Option<Uuid>,
    starts_on: NaiveDate,
    ends_on: NaiveDate,
    deposit_cents: i64,
    billing_cycle: String,
    auto_renew: bool,
    notes: Option<String>,
    asset_code: Option<String>,
    category: Option<String>,
    quantity: Option<i32>,
    rate_cents: Option<i64>,
    rate_period: Option<String>,
    status: String,
    currency: String,
}

async fn contracts(store: &Store) -> Result<Vec<Vec<String>>, DomainError> {
    let sql =
        "SELECT c.number, cu.external_code AS customer_code, cu.legal_name AS customer_name, \
               s.code AS site_code, c.site_id, c.starts_on, c.ends_on, c.deposit_cents, \
               c.billing_cycle, c.auto_renew, c.notes, a.code AS asset_code, \
               cat.name AS category, l.quantity, l.rate_cents, l.rate_period, c.status, c.currency \
               FROM contracts c JOIN customers cu ON cu.id = c.customer_id \
               LEFT JOIN sites s ON s.id = c.site_id \
               LEFT JOIN contract_lines l ON l.contract_id = c.id \
               LEFT JOIN assets a ON a.id = l.asset_id \
               LEFT JOIN categories cat ON cat.id = l.category_id \
               ORDER BY c.number, l.line_no";
    let rows: Vec<ContractRow> = on_read!(store, |p| sqlx::query_as(sql).fetch_all(p).await)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            vec![
                r.number,
                r.customer_code.unwrap_or(r.customer_name),
                site_key(r.site_code, r.site_id),
                r.starts_on.to_string(),
                r.ends_on.to_string(),
                r.deposit_cents.to_string(),
                r.billing_cycle,
                r.auto_renew.to_string(),
                opt(r.notes),
                opt(r.asset_code),
                opt(r.category),
                opt(r.quantity),
                opt(r.rate_cents),
                opt(r.rate_period),
                r.status,
                r.currency,
            ]
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::neutralise;

    #[test]
    fn formula_triggers_are_neutralised() {
        for cell in ["=1+1", "+49 30 1234", "-5", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralise(cell), format!("'{cell}"));
        }
        assert_eq!(neutralise("Digger 1"), "Digger 1");
        assert_eq!(neutralise(""), "");
    }
}
