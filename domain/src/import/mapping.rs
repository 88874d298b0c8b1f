//! Which column fills which field. Each kind has its fields (the export writes exactly these
//! as headers, so an export reads back without a mapping); a header is matched to a field by
//! its name or a common alias, compared loosely (`Serial No.` is `serial_no`), and the caller's
//! mapping (`column=field`, `column=` to skip one) overrides the defaults.

use mobile_shared::spreadsheets::{ColumnMapping, SheetKind};
use mobile_shared::ErrorCode;
use serde_json::json;

use super::table::Row;
use crate::error::DomainError;

/// One field of a kind: its name, whether a file must have it, and other header names that
/// mean it.
pub(crate) struct Field {
    pub name: &'static str,
    pub required: bool,
    pub aliases: &'static [&'static str],
}

const fn f(name: &'static str, required: bool, aliases: &'static [&'static str]) -> Field {
    Field {
        name,
        required,
        aliases,
    }
}

const ASSETS: &[Field] = &[
    f(
        "code",
        true,
        &[
            "asset_code",
            "asset",
            "asset_no",
            "asset_number",
            "asset_id",
        ],
    ),
    f("name", true, &["asset_name", "description"]),
    f("category", false, &["category_name", "type"]),
    f("status", false, &[]),
    f("make", false, &["manufacturer", "brand"]),
    f("model", false, &[]),
    f("serial", false, &["serial_no", "serial_number", "sn"]),
    f(
        "home_site",
        false,
        &["home_site_code", "home_depot", "depot"],
    ),
    f("site", false, &["site_code", "current_site", "location"]),
    f("engine_hours", false, &["hours", "hour_meter"]),
    f("odometer_km", false, &["odometer", "km"]),
    f("purchase_date", false, &["purchased_on", "bought_on"]),
    f("purchase_price_cents", false, &[]),
    f("depreciation_method", false, &[]),
    f("useful_life_months", false, &[]),
    f("residual_value_cents", false, &[]),
];

const SITES: &[Field] = &[
    f("code", true, &["site_code", "site_no", "site_number"]),
    f("name", true, &["site_name", "site"]),
    f("kind", false, &["type", "site_kind", "site_type"]),
    f("address", false, &[]),
    f("lat", false, &["latitude"]),
    f("lon", false, &["lng", "long", "longitude"]),
    f(
        "customer",
        false,
        &["customer_code", "customer_name", "customer_external_code"],
    ),
];

const CUSTOMERS: &[Field] = &[
    f(
        "external_code",
        false,
        &["customer_code", "customer_no", "customer_number", "code"],
    ),
    f(
        "legal_name",
        true,
        &[
            "name",
            "customer",
            "customer_name",
            "company",
            "company_name",
        ],
    ),
    f("kind", false, &["type", "customer_kind"]),
    f("status", false, &[]),
    f("currency", true, &["currency_code"]),
    f("industry", false, &[]),
    f("region", false, &[]),
    f("source", false, &["lead_source"]),
    f("credit_limit_cents", false, &[]),
    f("payment_terms_days", false, &["payment_terms"]),
    f("tags", false, &[]),
    f("notes", false, &["note", "remarks"]),
];

const CONTRACTS: &[Field] = &[
    f(
        "number",
        true,
        &["contract_number", "contract_no", "contract"],
    ),
    f(
        "customer",
        true,
        &["customer_code", "customer_name", "customer_external_code"],
    ),
    f("site", false, &["site_code"]),
    f("starts_on", true, &["start", "start_date", "from"]),
    f("ends_on", true, &["end", "end_date", "to"]),
    f("deposit_cents", false, &[]),
    f("billing_cycle", false, &["billing"]),
    f("auto_renew", false, &[]),
    f("notes", false, &["note", "remarks"]),
    f("line_asset", false, &["asset", "asset_code"]),
    f("line_category", false, &["category"]),
    f("line_quantity", false, &["quantity", "qty"]),
    f("line_rate_cents", false, &["rate_cents"]),
    f("line_rate_period", false, &["rate_period", "period"]),
];

/// The fields of `kind`, in the order the export writes them.
pub(crate) fn fields(kind: SheetKind) -> &'static [Field] {
    match kind {
        SheetKind::Assets => ASSETS,
        SheetKind::Sites => SITES,
        SheetKind::Customers => CUSTOMERS,
        SheetKind::Contracts => CONTRACTS,
    }
}

/// `Serial No.` → `serial_no`: lower case, runs of anything but letters and digits as one `_`.
fn loose(header: &str) -> String {
    let mut out = String::new();
    for ch in header.trim().chars() {
        if ch.is_alphanumeric() {
            out.extend(ch.to_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_owned()
}

fn columns_error(message: String, detail: serde_json::Value) -> DomainError {
    DomainError::conflict_with(ErrorCode::SpreadsheetColumns, message, detail)
}

/// Parses `column=field,column=field` (a `column=` with no field skips that column).
pub fn parse_spec(spec: &str) -> Result<Vec<(String, String)>, DomainError> {
    spec.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            pair.split_once('=')
                .map(|(c, f)| (c.trim().to_owned(), f.trim().to_owned()))
                .filter(|(c, _)| !c.is_empty())
                .ok_or_else(|| {
                    columns_error(
                        format!("mapping `{pair}`: write column=field"),
                        json!({ "mapping": pair }),
                    )
                })
        })
        .collect()
}

/// The applied mapping: for each column of the file, the field it fills, if any.
#[derive(Debug)]
pub(crate) struct Mapping {
    kind: SheetKind,
    headers: Vec<String>,
    /// Per column: the index of its field in `fields(kind)`.
    by_column: Vec<Option<usize>>,
}

impl Mapping {
    /// Defaults by header name, then `overrides`; refuses an override naming no column or no
    /// field, two columns for one field, and a missing required field.
    pub fn new(
        kind: SheetKind,
        headers: &[String],
        overrides: &[(String, String)],
    ) -> Result<Mapping, DomainError> {
        let fields = fields(kind);
        let find = |name: &str| {
            let name = loose(name);
            fields
                .iter()
                .position(|f| f.name == name || f.aliases.contains(&name.as_str()))
        };
        let mut by_column: Vec<Option<usize>> = headers.iter().map(|h| find(h)).collect();
        for (column, field) in overrides {
            let Some(col) = headers
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(column.trim()))
            else {
                return Err(columns_error(
                    format!("the mapping names the column `{column}`, which the file lacks"),
                    json!({ "column": column, "headers": headers }),
                ));
            };
            by_column[col] = if field.is_empty() {
                None
            } else {
                let Some(i) = fields.iter().position(|f| f.name == field.as_str()) else {
                    return Err(columns_error(
                        format!("`{field}` is not a field of {}", kind.as_str()),
                        json!({ "field": field,
                                "fields": fields.iter().map(|f| f.name).collect::<Vec<_>>() }),
                    ));
                };
                Some(i)
            };
        }
        for (i, field) in fields.iter().enumerate() {
            let cols: Vec<&String> = by_column
                .iter()
                .zip(headers)
                .filter(|(m, _)| **m == Some(i))
                .map(|(_, h)| h)
                .collect();
            if cols.len() > 1 {
                return Err(columns_error(
                    format!(
                        "the columns {} all map to `{}`: map all but one elsewhere",
                        cols.iter()
                            .map(|c| format!("`{c}`"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        field.name
                    ),
                    json!({ "field": field.name, "columns": cols }),
                ));
            }
        }
        let missing: Vec<&str> = fields
            .iter()
            .enumerate()
            .filter(|(i, f)| f.required && !by_column.contains(&Some(*i)))
            .map(|(_, f)| f.name)
            .collect();
        if !missing.is_empty() {
            return Err(columns_error(
                format!(
                    "no column for {}: name the header so, or map a column to it",
                    missing.join(", ")
                ),
                json!({ "missing": missing, "headers": headers }),
            ));
        }
        Ok(Mapping {
            kind,
            headers: headers.to_vec(),
            by_column,
        })
    }

    /// The header → field pairs applied, in file order.
    pub fn applied(&self) -> Vec<ColumnMapping> {
        let fields = fields(self.kind);
        self.headers
            .iter()
            .zip(&self.by_column)
            .filter_map(|(h, m)| {
                m.map(|i| ColumnMapping {
                    column: h.clone(),
                    field: fields[i].name.to_owned(),
                })
            })
            .collect()
    }

    /// Headers that fill no field.
    pub fn ignored(&self) -> Vec<String> {
        self.headers
            .iter()
            .zip(&self.by_column)
            .filter(|(h, m)| m.is_none() && !h.is_empty())
            .map(|(h, _)| h.clone())
            .collect()
    }

    /// The column (its header) that fills `field`.
    pub fn column_of(&self, field: &str) -> Option<String> {
        let fields = fields(self.kind);
        self.by_column
            .iter()
            .position(|m| m.is_some_and(|i| fields[i].name == field))
            .map(|c| self.headers[c].clone())
    }

    /// `field`'s cell in `row`; blank is absent.
    pub fn get<'r>(&self, row: &'r Row, field: &str) -> Option<&'r str> {
        let fields = fields(self.kind);
        let col = self
            .by_column
            .iter()
            .position(|m| m.is_some_and(|i| fields[i].name == field))?;
        row.cells
            .get(col)
            .map(String::as_str)
            .filter(|c| !c.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn headers_map_by_name_and_alias() {
        let m = Mapping::new(
            SheetKind::Assets,
            &headers(&["Asset Code", "Description", "Serial No.", "Colour"]),
            &[],
        )
        .expect("mapping");
        let applied: Vec<(String, String)> = m
            .applied()
            .into_iter()
            .map(|c| (c.column, c.field))
            .collect();
        assert_eq!(
            applied,
            [
                ("Asset Code".to_owned(), "code".to_owned()),
                ("Description".to_owned(), "name".to_owned()),
                ("Serial No.".to_owned(), "serial".to_owned()),
            ]
        );
        assert_eq!(m.ignored(), ["Colour"]);
    }

    #[test]
    fn overrides_win_and_are_checked() {
        let h = headers(&["Nr", "Bezeichnung", "Name"]);
        assert!(Mapping::new(SheetKind::Assets, &h, &[]).is_err(), "no code");
        let spec = parse_spec("Nr=code, Bezeichnung=name, Name=").expect("spec");
        let m = Mapping::new(SheetKind::Assets, &h, &spec).expect("mapping");
        assert_eq!(m.column_of("name").as_deref(), Some("Bezeichnung"));
        assert_eq!(m.ignored(), ["Name"]);
        let bad = parse_spec("Nr=colour").expect("spec");
        assert!(Mapping::new(SheetKind::Assets, &h, &bad).is_err());
        let twice = parse_spec("Nr=name").expect("spec");
        assert!(Mapping::new(SheetKind::Assets, &h, &twice).is_err());
        assert!(parse_spec("just-a-column").is_err());
    }
}
