//! Customers: wire types of `/api/v1/customers…`, `/api/v1/complaints…` and
//! `/api/v1/picklists…`, and the customer status lifecycle (`CustomerStatus::can_become`), pure
//! so the console and the server agree on which moves are allowed.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::wire::double_option;

#[cfg(feature = "openapi")]
use utoipa::{IntoParams, ToSchema};

/// Longest legal name.
pub const MAX_NAME_LEN: usize = 200;
/// Longest free text (notes, outcomes, descriptions, resolutions).
pub const MAX_TEXT_LEN: usize = 4000;
/// Most tags on one customer.
pub const MAX_TAGS: usize = 20;
/// Longest tag.
pub const MAX_TAG_LEN: usize = 40;
/// Longest payment term (days).
pub const MAX_PAYMENT_TERMS_DAYS: i32 = 365;

/// What kind of party a customer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CustomerKind {
    Company,
    Individual,
    Group,
}

impl CustomerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CustomerKind::Company => "company",
            CustomerKind::Individual => "individual",
            CustomerKind::Group => "group",
        }
    }

    pub fn parse(s: &str) -> Option<CustomerKind> {
        [
            CustomerKind::Company,
            CustomerKind::Individual,
            CustomerKind::Group,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// Where a customer is in its life: `lead → active → dormant → churned`, and back to `active`
/// from `dormant` or `churned` (a returning customer). A lead that never rents may be dropped
/// (`churned`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CustomerStatus {
    Lead,
    Active,
    Dormant,
    Churned,
}

impl CustomerStatus {
    pub const ALL: [CustomerStatus; 4] = [
        CustomerStatus::Lead,
        CustomerStatus::Active,
        CustomerStatus::Dormant,
        CustomerStatus::Churned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CustomerStatus::Lead => "lead",
            CustomerStatus::Active => "active",
            CustomerStatus::Dormant => "dormant",
            CustomerStatus::Churned => "churned",
        }
    }

    pub fn parse(s: &str) -> Option<CustomerStatus> {
        CustomerStatus::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether a customer in this status may move to `to` (staying put is always allowed).
    pub fn can_become(self, to: CustomerStatus) -> bool {
        use CustomerStatus::*;
        self == to
            || matches!(
                (self, to),
                (Lead, Active)
                    | (Lead, Churned)
                    | (Active, Dormant)
                    | (Active, Churned)
                    | (Dormant, Active)
                    | (Dormant, Churned)
                    | (Churned, Active)
            )
    }
}

/// A site of the customer (a `customer_site` whose `customer_id` is the customer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CustomerSite {
    pub id: Uuid,
    pub name: String,
}

/// A customer record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Customer {
    pub id: Uuid,
    pub legal_name: String,
    pub kind: CustomerKind,
    /// A value of the `industry` picklist.
    pub industry: Option<String>,
    /// A value of the `region` picklist.
    pub region: Option<String>,
    /// A value of the `source` picklist (how the customer found us).
    pub source: Option<String>,
    pub account_manager_id: Option<Uuid>,
    pub status: CustomerStatus,
    /// ISO 4217 code of the customer's money (credit limit, contracts).
    pub currency: String,
    /// In minor units of `currency`.
    pub credit_limit_cents: Option<i64>,
    pub payment_terms_days: Option<i32>,
    pub tags: Vec<String>,
    pub notes: Option<String>,
    /// RFM value tier (`champion`, `loyal`…): empty until the classification has run.
    pub value_tier: Option<String>,
    /// Credit grade `A`–`D`: empty until the classification has run.
    pub credit_grade: Option<String>,
    pub classified_at: Option<DateTime<Utc>>,
    pub renewals_frozen_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One customer with what the office sees on its page: contacts and sites.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CustomerDetail {
    #[serde(flatten)]
    pub customer: Customer,
    pub contacts: Vec<Contact>,
    pub sites: Vec<CustomerSite>,
}

/// `POST /api/v1/customers`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub legal_name: String,
    pub kind: CustomerKind,
    #[serde(default)]
    pub industry: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    /// Default: the creating user when they are a `sales` user (who may name only themselves).
    #[serde(default)]
    pub account_manager_id: Option<Uuid>,
    /// Default `lead`.
    #[serde(default)]
    pub status: Option<CustomerStatus>,
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Z]{3}$", example = "EUR"))]
    pub currency: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub credit_limit_cents: Option<i64>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 365))]
    pub payment_terms_days: Option<i32>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 20))]
    pub tags: Vec<String>,
    #[serde(default)]
    pub notes: Option<String>,
}

/// `PATCH /api/v1/customers/{id}`: absent fields are unchanged; `null` clears a nullable one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CustomerPatch {
    /// The `version` you read; a stale one answers 409 `version_conflict`.
    pub version: i64,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub legal_name: Option<String>,
    #[serde(default)]
    pub kind: Option<CustomerKind>,
    #[serde(default, deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub industry: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub region: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub source: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Uuid>))]
    pub account_manager_id: Option<Option<Uuid>>,
    /// A move the lifecycle allows (`CustomerStatus::can_become`), else 409 `illegal_transition`.
    #[serde(default)]
    pub status: Option<CustomerStatus>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Z]{3}$"))]
    pub currency: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>, minimum = 0))]
    pub credit_limit_cents: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i32>, minimum = 0, maximum = 365))]
    pub payment_terms_days: Option<Option<i32>>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub notes: Option<Option<String>>,
}

/// The order of the customer list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CustomerSort {
    /// Legal name A–Z (the default).
    #[default]
    Name,
    /// Newest first.
    Created,
    /// Best value tier first (`champion`, `loyal`, `new`, `at_risk`, `hibernating`, others,
    /// unclassified), then name.
    ValueTier,
    /// Grade `A` first, unclassified last, then name.
    CreditGrade,
}

/// The filters of `GET /api/v1/customers` (all optional, combined with AND).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct CustomerFilter {
    pub status: Option<CustomerStatus>,
    pub value_tier: Option<String>,
    pub credit_grade: Option<String>,
    pub industry: Option<String>,
    pub region: Option<String>,
    pub account_manager_id: Option<Uuid>,
    /// Customers carrying this tag.
    pub tag: Option<String>,
    /// Text in the legal name (case-insensitive).
    pub q: Option<String>,
    pub sort: Option<CustomerSort>,
}

/// How many customers share one value (a tier, a grade; `null` = unclassified).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Share {
    pub value: Option<String>,
    pub count: i64,
    /// `count / total`, 0–1.
    pub share: f64,
}

/// `GET /api/v1/customers/summary`: the caller's customers by value tier and credit grade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CustomerSummary {
    pub total: i64,
    pub by_value_tier: Vec<Share>,
    pub by_credit_grade: Vec<Share>,
}

// ---- contacts ----------------------------------------------------------------------------------

/// How a contact prefers to be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ContactChannel {
    Phone,
    Email,
    Sms,
    Whatsapp,
    Visit,
}

impl ContactChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            ContactChannel::Phone => "phone",
            ContactChannel::Email => "email",
            ContactChannel::Sms => "sms",
            ContactChannel::Whatsapp => "whatsapp",
            ContactChannel::Visit => "visit",
        }
    }

    pub fn parse(s: &str) -> Option<ContactChannel> {
        [
            ContactChannel::Phone,
            ContactChannel::Email,
            ContactChannel::Sms,
            ContactChannel::Whatsapp,
            ContactChannel::Visit,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A person at the customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Contact {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub name: String,
    /// Their role at the customer (site manager, buyer…).
    pub role: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub preferred_channel: Option<ContactChannel>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /api/v1/customers/{id}/contacts`: a phone or an e-mail (or both) is required.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewContact {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub name: String,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub preferred_channel: Option<ContactChannel>,
}

/// `PATCH /api/v1/customers/{id}/contacts/{contact_id}`: absent fields are unchanged.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ContactPatch {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub role: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<ContactChannel>))]
    pub preferred_channel: Option<Option<ContactChannel>>,
}

// ---- follow-ups --------------------------------------------------------------------------------

/// How a follow-up was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FollowUpChannel {
    Phone,
    Email,
    Sms,
    Whatsapp,
    Visit,
    Meeting,
}

impl FollowUpChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            FollowUpChannel::Phone => "phone",
            FollowUpChannel::Email => "email",
            FollowUpChannel::Sms => "sms",
            FollowUpChannel::Whatsapp => "whatsapp",
            FollowUpChannel::Visit => "visit",
            FollowUpChannel::Meeting => "meeting",
        }
    }

    pub fn parse(s: &str) -> Option<FollowUpChannel> {
        [
            FollowUpChannel::Phone,
            FollowUpChannel::Email,
            FollowUpChannel::Sms,
            FollowUpChannel::Whatsapp,
            FollowUpChannel::Visit,
            FollowUpChannel::Meeting,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One entry of a customer's contact log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FollowUp {
    pub id: Uuid,
    pub customer_id: Uuid,
    /// When the contact happened.
    pub at: DateTime<Utc>,
    /// Who made it.
    pub user_id: Option<Uuid>,
    pub channel: FollowUpChannel,
    pub outcome: String,
    pub next_step: Option<String>,
    pub next_step_on: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
}

/// `POST /api/v1/customers/{id}/follow-ups`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewFollowUp {
    /// Default now; never in the future.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
    pub channel: FollowUpChannel,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 4000))]
    pub outcome: String,
    #[serde(default)]
    pub next_step: Option<String>,
    /// Not before the day of `at`.
    #[serde(default)]
    pub next_step_on: Option<NaiveDate>,
}

// ---- complaints --------------------------------------------------------------------------------

/// A complaint: the complaint-rate KPI and the credit grade read them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Complaint {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub asset_id: Option<Uuid>,
    pub contract_id: Option<Uuid>,
    /// A value of the `complaint_category` picklist.
    pub category: String,
    pub description: Option<String>,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub resolution: Option<String>,
    pub created_by: Option<Uuid>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /api/v1/complaints`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewComplaint {
    pub customer_id: Uuid,
    #[serde(default)]
    pub asset_id: Option<Uuid>,
    /// A contract of the same customer.
    #[serde(default)]
    pub contract_id: Option<Uuid>,
    pub category: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Default now; never in the future.
    #[serde(default)]
    pub opened_at: Option<DateTime<Utc>>,
}

/// `PATCH /api/v1/complaints/{id}`: closes the complaint with its resolution.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CloseComplaint {
    /// The `version` you read; a stale one answers 409 `version_conflict`.
    pub version: i64,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 4000))]
    pub resolution: String,
    /// Default now; not before `opened_at`, never in the future.
    #[serde(default)]
    pub closed_at: Option<DateTime<Utc>>,
}

/// Open or closed, for the complaint list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ComplaintState {
    Open,
    Closed,
}

/// The filters of `GET /api/v1/complaints`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct ComplaintFilter {
    pub customer_id: Option<Uuid>,
    pub state: Option<ComplaintState>,
    pub category: Option<String>,
    /// Opened at or after.
    pub opened_from: Option<DateTime<Utc>>,
    /// Opened before.
    pub opened_to: Option<DateTime<Utc>>,
}

/// The complaint rate of a month: customers with a complaint opened in the month over the
/// customers active now (target ≤ 2 %).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ComplaintRate {
    /// First day of the month.
    pub month: NaiveDate,
    pub customers_with_complaints: i64,
    pub active_customers: i64,
    /// `customers_with_complaints / active_customers`; empty without active customers.
    pub rate: Option<f64>,
}

// ---- picklists ---------------------------------------------------------------------------------

/// The standard picklists: values are data an admin extends, not code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Picklist {
    Industry,
    Source,
    Region,
    ComplaintCategory,
}

impl Picklist {
    pub fn as_str(self) -> &'static str {
        match self {
            Picklist::Industry => "industry",
            Picklist::Source => "source",
            Picklist::Region => "region",
            Picklist::ComplaintCategory => "complaint_category",
        }
    }

    pub fn parse(s: &str) -> Option<Picklist> {
        [
            Picklist::Industry,
            Picklist::Source,
            Picklist::Region,
            Picklist::ComplaintCategory,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// Longest picklist value (the stored key) and label.
pub const MAX_PICKLIST_VALUE_LEN: usize = 50;
pub const MAX_PICKLIST_LABEL_LEN: usize = 100;

/// One value of a picklist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PicklistValue {
    pub list: Picklist,
    /// What a record stores (`snake_case`).
    pub value: String,
    /// What people read.
    pub label: String,
    pub position: i32,
    /// Retired values stay on old records but cannot be chosen for new ones.
    pub retired_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// `POST /api/v1/picklists/{list}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewPicklistValue {
    /// `snake_case`, 1-50 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 50))]
    pub value: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub label: String,
    #[serde(default)]
    pub position: Option<i32>,
}

/// `PATCH /api/v1/picklists/{list}/{value}`: relabel, reorder, retire (or bring back).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PicklistValuePatch {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub label: Option<String>,
    #[serde(default)]
    pub position: Option<i32>,
    #[serde(default)]
    pub retired: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::CustomerStatus::{self, *};

    #[test]
    fn the_lifecycle_table() {
        // from → [lead, active, dormant, churned]
        let table: [(CustomerStatus, [bool; 4]); 4] = [
            (Lead, [true, true, false, true]),
            (Active, [false, true, true, true]),
            (Dormant, [false, true, true, true]),
            (Churned, [false, true, false, true]),
        ];
        for (from, row) in table {
            for (to, allowed) in CustomerStatus::ALL.into_iter().zip(row) {
                assert_eq!(from.can_become(to), allowed, "{from:?} → {to:?}");
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for s in CustomerStatus::ALL {
            assert_eq!(CustomerStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}
