//! One unit of a file (a row; for contracts, the rows sharing a contract number: one row per
//! line) → the service command that creates its record, written through the service's own
//! `create_in` so the import checks exactly what the API checks. Only what a spreadsheet adds
//! is done here: cells parsed into typed values (each bad cell named), references by code or
//! name resolved to ids, and the key looked up first so an existing record is left alone.

use std::str::FromStr;

use chrono::NaiveDate;
use mobile_shared::contracts::{BillingCycle, NewContract, NewContractLine, RatePeriod};
use mobile_shared::customers::{CustomerKind, CustomerStatus, NewCustomer};
use mobile_shared::spreadsheets::{RowError, SheetKind};
use mobile_shared::wire::{DepreciationMethod, LatLon, NewAsset, NewSite, SiteKind};
use mobile_shared::{normalize_asset_code, AssetStatus, ErrorCode};
use uuid::Uuid;

use super::mapping::Mapping;
use super::table::Row;
use crate::actor::Actor;
use crate::error::DomainError;
use crate::store::{on_tx, Tx};
use crate::{assets, categories, contracts, customers, sites};

/// What applying a unit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Created,
    /// The key exists: nothing written.
    Unchanged,
}

/// A unit's refusal: its row errors, or a failure of the whole import (the database).
pub(crate) enum Failure {
    Rows(Vec<RowError>),
    Fatal(DomainError),
}

impl From<DomainError> for Failure {
    fn from(e: DomainError) -> Self {
        Failure::Fatal(e)
    }
}

/// The rows of a file grouped into units: one per row, or per contract number.
pub(crate) fn units(kind: SheetKind, mapping: &Mapping, rows: &[Row]) -> Vec<Vec<Row>> {
    if kind != SheetKind::Contracts {
        return rows.iter().map(|r| vec![r.clone()]).collect();
    }
    let mut units: Vec<Vec<Row>> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for row in rows {
        match mapping.get(row, "number") {
            Some(number) => match index.get(number) {
                Some(&i) => units[i].push(row.clone()),
                None => {
                    index.insert(number.to_owned(), units.len());
                    units.push(vec![row.clone()]);
                }
            },
            None => units.push(vec![row.clone()]),
        }
    }
    units
}

/// Applies one unit inside the caller's transaction (and savepoint).
pub(crate) async fn apply(
    tx: &mut Tx,
    actor: &Actor,
    kind: SheetKind,
    mapping: &Mapping,
    unit: &[Row],
) -> Result<Outcome, Failure> {
    let Some(first) = unit.first() else {
        return Ok(Outcome::Unchanged);
    };
    let mut cells = Cells {
        mapping,
        row: first,
        errors: Vec::new(),
    };
    match kind {
        SheetKind::Assets => asset(tx, actor, &mut cells).await,
        SheetKind::Sites => site(tx, actor, &mut cells).await,
        SheetKind::Customers => customer(tx, actor, &mut cells).await,
        SheetKind::Contracts => contract(tx, actor, &mut cells, unit).await,
    }
}

/// Reads typed values out of one row, collecting an error per bad cell.
struct Cells<'a> {
    mapping: &'a Mapping,
    row: &'a Row,
    errors: Vec<RowError>,
}

impl<'a> Cells<'a> {
    fn on(&mut self, row: &'a Row) {
        self.row = row;
    }

    fn error(&mut self, field: &str, reason: impl Into<String>, code: ErrorCode) {
        let reason = reason.into();
        let column = self.mapping.column_of(field);
        self.errors.push(RowError {
            row: self.row.number,
            reason: if column.is_some() {
                reason
            } else {
                format!("{field}: {reason}")
            },
            column,
            code,
        });
    }

    fn text(&self, field: &str) -> Option<String> {
        self.mapping.get(self.row, field).map(str::to_owned)
    }

    fn required(&mut self, field: &str) -> Option<String> {
        let value = self.text(field);
        if value.is_none() {
            self.error(field, "must not be empty", ErrorCode::ValidationFailed);
        }
        value
    }

    /// A cell parsed by `parse`; `expected` says what it should hold.
    fn parsed<T>(
        &mut self,
        field: &str,
        expected: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Option<T> {
        let text = self.text(field)?;
        let value = parse(&text);
        if value.is_none() {
            self.error(
                field,
                format!("`{text}` is not {expected}"),
                ErrorCode::ValidationFailed,
            );
        }
        value
    }

    fn int<T: FromStr>(&mut self, field: &str) -> Option<T> {
        self.parsed(field, "a whole number", |t| t.parse().ok())
    }

    fn number(&mut self, field: &str) -> Option<f64> {
        self.parsed(field, "a number", |t| {
            t.parse::<f64>().ok().filter(|n| n.is_finite())
        })
    }

    fn day(&mut self, field: &str) -> Option<NaiveDate> {
        self.parsed(field, "a day (YYYY-MM-DD)", |t| {
            // A spreadsheet may hand a day with a midnight time.
            let day = t.split(['T', ' ']).next().unwrap_or(t);
            NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()
        })
    }

    fn flag(&mut self, field: &str) -> Option<bool> {
        self.parsed(field, "yes or no", |t| {
            match t.to_ascii_lowercase().as_str() {
                "true" | "yes" | "y" | "1" | "x" => Some(true),
                "false" | "no" | "n" | "0" => Some(false),
                _ => None,
            }
        })
    }

    /// A cell naming one value of a closed list (`as_str` names).
    fn choice<T>(&mut self, field: &str, names: &str, parse: fn(&str) -> Option<T>) -> Option<T> {
        self.parsed(field, &format!("one of {names}"), |t| {
            parse(&t.to_ascii_lowercase())
        })
    }

    /// Fails the unit when any cell was bad.
    fn check(&mut self) -> Result<(), Failure> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Failure::Rows(std::mem::take(&mut self.errors)))
        }
    }

    /// A service's refusal as row errors: each field it names becomes the file's column.
    fn refused(&mut self, e: DomainError, line_rows: &[u64]) -> Failure {
        let code = e.code();
        if matches!(code, ErrorCode::InternalError | ErrorCode::Unavailable) {
            return Failure::Fatal(e);
        }
        match e {
            DomainError::Validation(fields) => {
                for (field, message) in fields {
                    let (ours, line) = field_of(&field);
                    let row = line
                        .and_then(|i| line_rows.get(i).copied())
                        .unwrap_or(self.row.number);
                    let column = self.mapping.column_of(ours);
                    self.errors.push(RowError {
                        row,
                        reason: if column.is_some() {
                            message
                        } else {
                            format!("{field}: {message}")
                        },
                        column,
                        code,
                    });
                }
            }
            other => self.errors.push(RowError {
                row: self.row.number,
                column: None,
                reason: other.to_string(),
                code,
            }),
        }
        Failure::Rows(std::mem::take(&mut self.errors))
    }
}

/// A service's field name → this module's field, and the contract line it is about.
fn field_of(service_field: &str) -> (&str, Option<usize>) {
    if let Some(rest) = service_field.strip_prefix("lines[") {
        if let Some((i, tail)) = rest.split_once("].") {
            let field = match tail {
                "asset_id" => "line_asset",
                "category_id" => "line_category",
                "quantity" => "line_quantity",
                "rate_cents" => "line_rate_cents",
                _ => "line_rate_period",
            };
            return (field, i.parse().ok());
        }
    }
    let field = match service_field {
        "location" => "lat",
        f => f.strip_suffix("_id").unwrap_or(f),
    };
    (field, None)
}

async fn id_where(tx: &mut Tx, sql: &str, key: &str) -> Result<Vec<Uuid>, DomainError> {
    Ok(on_tx!(tx, |c| sqlx::query_scalar(sql)
        .bind(key)
        .fetch_all(c)
        .await)?)
}

/// The id `sql` selects for the id `id` (whether that record exists as asked).
async fn id_exists(tx: &mut Tx, sql: &str, id: Uuid) -> Result<Option<Uuid>, DomainError> {
    Ok(on_tx!(tx, |c| sqlx::query_scalar(sql)
        .bind(id)
        .fetch_optional(c)
        .await)?)
}

/// A site named by its code or id.
async fn site_ref(tx: &mut Tx, key: &str) -> Result<Option<Uuid>, DomainError> {
    if let Ok(id) = Uuid::parse_str(key) {
        return id_exists(tx, "SELECT id FROM sites WHERE id = $1", id).await;
    }
    let Ok(code) = normalize_asset_code(key) else {
        return Ok(None);
    };
    Ok(id_where(tx, "SELECT id FROM sites WHERE code = $1", &code)
        .await?
        .into_iter()
        .next())
}

/// A live customer named by its external code, its legal name (case-insensitive) or its id;
/// `Err` with a reason when the name is ambiguous.
async fn customer_ref(tx: &mut Tx, key: &str) -> Result<Result<Option<Uuid>, String>, DomainError> {
    if let Ok(id) = Uuid::parse_str(key) {
        let live = "SELECT id FROM customers WHERE id = $1 AND deleted_at IS NULL";
        return Ok(Ok(id_exists(tx, live, id).await?));
    }
    let by_code = id_where(
        tx,
        "SELECT id FROM customers WHERE external_code = $1 AND deleted_at IS NULL",
        key,
    )
    .await?;
    if let Some(id) = by_code.into_iter().next() {
        return Ok(Ok(Some(id)));
    }
    let by_name = id_where(
        tx,
        "SELECT id FROM customers WHERE lower(legal_name) = lower($1) AND deleted_at IS NULL",
        key,
    )
    .await?;
    Ok(match by_name.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => Err(format!(
            "{} customers are named `{key}`: name it by its external code",
            by_name.len()
        )),
    })
}

async fn asset(tx: &mut Tx, actor: &Actor, c: &mut Cells<'_>) -> Result<Outcome, Failure> {
    let code = c.required("code");
    let name = c.required("name");
    if let Some(key) = code.as_deref().and_then(|k| normalize_asset_code(k).ok()) {
        let live = "SELECT id FROM assets WHERE code = $1 AND deleted_at IS NULL";
        if !id_where(tx, live, &key).await?.is_empty() {
            return Ok(Outcome::Unchanged);
        }
    }
    let status = c.parsed("status", "an asset status", |t| {
        AssetStatus::from_str(&t.to_ascii_lowercase()).ok()
    });
    let depreciation_method = c.choice(
        "depreciation_method",
        "none, straight_line, declining_balance",
        DepreciationMethod::parse,
    );
    let mut site_ids = [None, None];
    for (slot, field) in site_ids.iter_mut().zip(["home_site", "site"]) {
        if let Some(key) = c.text(field) {
            *slot = site_ref(tx, &key).await?;
            if slot.is_none() {
                c.error(
                    field,
                    format!("no site with code `{key}`"),
                    ErrorCode::ValidationFailed,
                );
            }
        }
    }
    let new = NewAsset {
        code: code.unwrap_or_default(),
        name: name.unwrap_or_default(),
        status,
        category: c.text("category"),
        make: c.text("make"),
        model: c.text("model"),
        serial: c.text("serial"),
        home_site_id: site_ids[0],
        site_id: site_ids[1],
        engine_hours: c.number("engine_hours"),
        odometer_km: c.number("odometer_km"),
        purchase_date: c.day("purchase_date"),
        purchase_price_cents: c.int("purchase_price_cents"),
        depreciation_method,
        useful_life_months: c.int("useful_life_months"),
        residual_value_cents: c.int("residual_value_cents"),
    };
    c.check()?;
    match assets::create_in(tx, actor, new).await {
        Ok(_) => Ok(Outcome::Created),
        Err(e) => Err(c.refused(e, &[])),
    }
}

async fn site(tx: &mut Tx, actor: &Actor, c: &mut Cells<'_>) -> Result<Outcome, Failure> {
    let code = c.required("code");
    let name = c.required("name");
    if let Some(id) = code.as_deref().and_then(|k| Uuid::parse_str(k).ok()) {
        // An exported site that has no code is written under its id.
        if site_ref(tx, &id.to_string()).await?.is_some() {
            return Ok(Outcome::Unchanged);
        }
    }
    if let Some(key) = code.as_deref().and_then(|k| normalize_asset_code(k).ok()) {
        if !id_where(tx, "SELECT id FROM sites WHERE code = $1", &key)
            .await?
            .is_empty()
        {
            return Ok(Outcome::Unchanged);
        }
    }
    let mut customer_id = None;
    if let Some(key) = c.text("customer") {
        match customer_ref(tx, &key).await? {
            Ok(Some(id)) => customer_id = Some(id),
            Ok(None) => c.error(
                "customer",
                format!("no customer with code or name `{key}`"),
                ErrorCode::ValidationFailed,
            ),
            Err(reason) => c.error("customer", reason, ErrorCode::ValidationFailed),
        }
    }
    let kind = c
        .choice("kind", "depot, customer_site, workshop", SiteKind::parse)
        .unwrap_or(if c.text("customer").is_some() {
            SiteKind::CustomerSite
        } else {
            SiteKind::Depot
        });
    let location = match (c.number("lat"), c.number("lon")) {
        (Some(lat), Some(lon)) => Some(LatLon { lat, lon }),
        (None, None) => None,
        _ => {
            c.error(
                "lon",
                "give both lat and lon, or neither",
                ErrorCode::ValidationFailed,
            );
            None
        }
    };
    let new = NewSite {
        name: name.unwrap_or_default(),
        kind,
        customer_id,
        address: c.text("address"),
        location,
        geofence: None,
    };
    c.check()?;
    match sites::create_in(tx, actor, new, code.as_deref()).await {
        Ok(_) => Ok(Outcome::Created),
        Err(e) => Err(c.refused(e, &[])),
    }
}

async fn customer(tx: &mut Tx, actor: &Actor, c: &mut Cells<'_>) -> Result<Outcome, Failure> {
    let external_code = c.text("external_code");
    let legal_name = c.required("legal_name");
    let currency = c.required("currency");
    if let Some(code) = &external_code {
        let live = "SELECT id FROM customers WHERE external_code = $1 AND deleted_at IS NULL";
        if !id_where(tx, live, code).await?.is_empty() {
            return Ok(Outcome::Unchanged);
        }
    }
    if let Some(name) = &legal_name {
        // Without its code, a customer is known by its legal name; a name already here is
        // that customer (imported before, or typed in by the office).
        let live =
            "SELECT id FROM customers WHERE lower(legal_name) = lower($1) AND deleted_at IS NULL";
        if !id_where(tx, live, name).await?.is_empty() {
            return Ok(Outcome::Unchanged);
        }
    }
    let kind = c
        .choice("kind", "company, individual, group", CustomerKind::parse)
        .unwrap_or(CustomerKind::Company);
    let status = c.choice("status", "lead, active", CustomerStatus::parse);
    let tags = c
        .text("tags")
        .map(|t| {
            t.split(';')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let new = NewCustomer {
        legal_name: legal_name.unwrap_or_default(),
        kind,
        industry: c.text("industry"),
        region: c.text("region"),
        source: c.text("source"),
        account_manager_id: None,
        status,
        currency: currency.unwrap_or_default().to_ascii_uppercase(),
        credit_limit_cents: c.int("credit_limit_cents"),
        payment_terms_days: c.int("payment_terms_days"),
        tags,
        notes: c.text("notes"),
    };
    c.check()?;
    match customers::create_in(tx, actor, new, external_code.as_deref()).await {
        Ok(_) => Ok(Outcome::Created),
        Err(e) => Err(c.refused(e, &[])),
    }
}

async fn contract<'a>(
    tx: &mut Tx,
    actor: &Actor,
    c: &mut Cells<'a>,
    unit: &'a [Row],
) -> Result<Outcome, Failure> {
    let number = c.required("number");
    if let Some(number) = &number {
        // Our own number (a file exported here) or the number it was imported under.
        let sql = "SELECT id FROM contracts WHERE number = $1 OR external_ref = $1";
        if !id_where(tx, sql, number).await?.is_empty() {
            return Ok(Outcome::Unchanged);
        }
    }
    let mut customer_id = None;
    if let Some(key) = c.required("customer") {
        match customer_ref(tx, &key).await? {
            Ok(Some(id)) => customer_id = Some(id),
            Ok(None) => c.error(
                "customer",
                format!("no customer with code or name `{key}`"),
                ErrorCode::ValidationFailed,
            ),
            Err(reason) => c.error("customer", reason, ErrorCode::ValidationFailed),
        }
    }
    let mut site_id = None;
    if let Some(key) = c.text("site") {
        site_id = site_ref(tx, &key).await?;
        if site_id.is_none() {
            c.error(
                "site",
                format!("no site with code `{key}`"),
                ErrorCode::ValidationFailed,
            );
        }
    }
    let starts_on = c.day("starts_on");
    let ends_on = c.day("ends_on");
    // After both days' parse errors, as the report has always listed them.
    for field in ["starts_on", "ends_on"] {
        if c.text(field).is_none() {
            c.error(field, "must not be empty", ErrorCode::ValidationFailed);
        }
    }
    let deposit_cents = c.int("deposit_cents");
    let billing_cycle = c.choice(
        "billing_cycle",
        "weekly, monthly, end_of_hire",
        BillingCycle::parse,
    );
    let auto_renew = c.flag("auto_renew");
    let notes = c.text("notes");
    let mut lines = Vec::new();
    let mut line_rows = Vec::new();
    for row in unit {
        c.on(row);
        let asset = c.text("line_asset");
        let category = c.text("line_category");
        if asset.is_none() && category.is_none() {
            continue;
        }
        let mut asset_id = None;
        if let Some(code) = asset {
            let key = normalize_asset_code(&code).unwrap_or(code.clone());
            let live = "SELECT id FROM assets WHERE code = $1 AND deleted_at IS NULL";
            asset_id = id_where(tx, live, &key).await?.into_iter().next();
            if asset_id.is_none() {
                c.error(
                    "line_asset",
                    format!("no asset with code `{code}`"),
                    ErrorCode::ValidationFailed,
                );
            }
        }
        let mut category_id = None;
        if let Some(name) = category {
            category_id = categories::resolve(tx, &name).await?;
            if category_id.is_none() {
                c.error(
                    "line_category",
                    format!("no category named `{name}`"),
                    ErrorCode::ValidationFailed,
                );
            }
        }
        let quantity = c.int("line_quantity");
        let rate_cents = c.int("line_rate_cents");
        if c.text("line_rate_cents").is_none() {
            c.error(
                "line_rate_cents",
                "a line needs its rate",
                ErrorCode::ValidationFailed,
            );
        }
        let rate_period = c.choice("line_rate_period", "day, week, month", RatePeriod::parse);
        if c.text("line_rate_period").is_none() {
            c.error(
                "line_rate_period",
                "a line needs its rate period",
                ErrorCode::ValidationFailed,
            );
        }
        if let (Some(rate_cents), Some(rate_period)) = (rate_cents, rate_period) {
            lines.push(NewContractLine {
                asset_id,
                category_id,
                quantity,
                rate_cents,
                rate_period,
            });
            line_rows.push(row.number);
        }
    }
    c.on(&unit[0]);
    c.check()?;
    let (Some(customer_id), Some(starts_on), Some(ends_on)) = (customer_id, starts_on, ends_on)
    else {
        return Err(Failure::Fatal(DomainError::Internal(
            "checked contract cells missing".into(),
        )));
    };
    let new = NewContract {
        customer_id,
        site_id,
        starts_on,
        ends_on,
        lines,
        deposit_cents,
        auto_renew,
        billing_cycle,
        notes,
    };
    match contracts::create_in(tx, actor, new, number.as_deref()).await {
        Ok(_) => Ok(Outcome::Created),
        Err(e) => Err(c.refused(e, &line_rows)),
    }
}

#[cfg(test)]
mod tests {
    use super::field_of;

    #[test]
    fn service_fields_name_the_files_columns() {
        assert_eq!(field_of("home_site_id"), ("home_site", None));
        assert_eq!(field_of("legal_name"), ("legal_name", None));
        assert_eq!(field_of("lines[2].asset_id"), ("line_asset", Some(2)));
        assert_eq!(
            field_of("lines[0].rate_cents"),
            ("line_rate_cents", Some(0))
        );
        assert_eq!(field_of("location"), ("lat", None));
    }
}
