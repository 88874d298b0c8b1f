//! Customer classification: wire types of `/api/v1/customers/{id}/classification` and
//! `/api/v1/classification/settings`.
//!
//! Each customer gets an RFM value tier (recency, frequency and monetary value scored 1–5 by
//! quintiles over every customer with contracts, then named by ordered rules) and a credit grade
//! A–D (points for payment history, tenure, complaints and current overdue). The stored
//! [`Breakdown`] says which input gave which score, so a tier or grade can be explained. The
//! thresholds are [`ClassificationSettings`], editable by an admin.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// The tier of a customer without contracts: RFM has nothing to score.
pub const PROSPECT_TIER: &str = "prospect";
/// Longest tier name.
pub const MAX_TIER_LEN: usize = 40;
/// Most tier rules.
pub const MAX_TIER_RULES: usize = 20;

/// A credit grade: A best, D worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub enum CreditGrade {
    A,
    B,
    C,
    D,
}

impl CreditGrade {
    pub const ALL: [CreditGrade; 4] = [
        CreditGrade::A,
        CreditGrade::B,
        CreditGrade::C,
        CreditGrade::D,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CreditGrade::A => "A",
            CreditGrade::B => "B",
            CreditGrade::C => "C",
            CreditGrade::D => "D",
        }
    }

    pub fn parse(s: &str) -> Option<CreditGrade> {
        CreditGrade::ALL.into_iter().find(|g| g.as_str() == s)
    }

    /// Whether a contract of a customer with this grade may renew automatically (A and B).
    pub fn auto_renew_allowed(self) -> bool {
        matches!(self, CreditGrade::A | CreditGrade::B)
    }
}

/// Where a customer is in its life with the office, derived from its contracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LifecycleStage {
    /// No contract yet.
    Prospect,
    /// First contract started within `lifecycle.new_days`.
    New,
    /// A contract runs today or later.
    Active,
    /// The last contract ended, less than `lifecycle.lapsed_after_days` ago.
    Dormant,
    /// The last contract ended `lifecycle.lapsed_after_days` ago or more.
    Lapsed,
}

impl LifecycleStage {
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleStage::Prospect => "prospect",
            LifecycleStage::New => "new",
            LifecycleStage::Active => "active",
            LifecycleStage::Dormant => "dormant",
            LifecycleStage::Lapsed => "lapsed",
        }
    }
}

/// How a classification was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ClassificationMode {
    /// The clock's nightly run over every customer.
    Nightly,
    /// One customer, on request, scored against the latest nightly run's quintile edges.
    OnDemand,
}

/// A score range, both ends included (1–5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ScoreRange {
    pub min: u8,
    pub max: u8,
}

impl ScoreRange {
    /// 1–5: any score.
    pub const ANY: ScoreRange = ScoreRange { min: 1, max: 5 };

    pub fn contains(self, score: u8) -> bool {
        self.min <= score && score <= self.max
    }
}

impl Default for ScoreRange {
    fn default() -> Self {
        ScoreRange::ANY
    }
}

/// One tier rule: a customer whose three scores are in the ranges (and, when set, whose first
/// contract started at most `first_contract_within_days` ago) gets `tier`. Rules are tried in
/// order; the first that matches wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TierRule {
    /// `snake_case`, at most 40 characters.
    pub tier: String,
    #[serde(default)]
    pub recency: ScoreRange,
    #[serde(default)]
    pub frequency: ScoreRange,
    #[serde(default)]
    pub monetary: ScoreRange,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_contract_within_days: Option<u32>,
}

/// RFM thresholds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RfmSettings {
    /// Frequency and monetary value count the contracts that started in the last this many
    /// months (1–120).
    pub window_months: u32,
    /// Tried in order (at most 20).
    pub tiers: Vec<TierRule>,
    /// The tier of a customer no rule matches.
    pub fallback_tier: String,
}

/// Credit-grade points and cut-offs. The score is the sum of four inputs' points; a grade is
/// given from its minimum score down (A ≥ `grade_a_min`, then B, C, else D).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreditSettings {
    /// Most points for payment history (days late, share paid late) once billing lands.
    pub payment_max_points: u32,
    /// Points while there is no payment history to judge (no billing yet, or no invoices).
    pub payment_unknown_points: u32,
    /// Points for tenure, reached at `tenure_full_months` since the first contract (linear).
    pub tenure_max_points: u32,
    pub tenure_full_months: u32,
    /// Points with no complaint in the window, less `complaint_penalty_points` per complaint.
    pub complaint_max_points: u32,
    pub complaint_penalty_points: u32,
    /// Complaints opened in the last this many months count.
    pub complaint_window_months: u32,
    /// Points with nothing overdue (all of them until billing lands).
    pub overdue_max_points: u32,
    pub grade_a_min: u32,
    pub grade_b_min: u32,
    pub grade_c_min: u32,
    /// Default credit limit per grade, in minor units of `currency`.
    pub credit_limit_a_cents: i64,
    pub credit_limit_b_cents: i64,
    pub credit_limit_c_cents: i64,
    pub credit_limit_d_cents: i64,
}

/// Lifecycle stage thresholds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LifecycleSettings {
    /// A customer whose first contract started at most this many days ago is `new`.
    pub new_days: u32,
    /// A customer whose last contract ended this many days ago or more is `lapsed`.
    pub lapsed_after_days: u32,
}

/// Every threshold of the classification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClassificationSettings {
    /// ISO 4217: monetary value counts contracts in this currency (others are counted apart in
    /// the breakdown), and credit limits are in it.
    pub currency: String,
    pub rfm: RfmSettings,
    pub credit: CreditSettings,
    pub lifecycle: LifecycleSettings,
}

fn rule(tier: &str, r: (u8, u8), f: (u8, u8), m: (u8, u8), within: Option<u32>) -> TierRule {
    TierRule {
        tier: tier.into(),
        recency: ScoreRange { min: r.0, max: r.1 },
        frequency: ScoreRange { min: f.0, max: f.1 },
        monetary: ScoreRange { min: m.0, max: m.1 },
        first_contract_within_days: within,
    }
}

impl Default for ClassificationSettings {
    /// The defaults migration 0023 stores (a test keeps the two equal).
    fn default() -> Self {
        ClassificationSettings {
            currency: "EUR".into(),
            rfm: RfmSettings {
                window_months: 24,
                tiers: vec![
                    rule("champion", (4, 5), (4, 5), (4, 5), None),
                    rule("new", (1, 5), (1, 5), (1, 5), Some(90)),
                    rule("loyal", (3, 5), (4, 5), (1, 5), None),
                    rule("promising", (4, 5), (1, 3), (1, 5), None),
                    rule("at_risk", (1, 2), (3, 5), (1, 5), None),
                    rule("hibernating", (1, 2), (1, 2), (1, 5), None),
                ],
                fallback_tier: "regular".into(),
            },
            credit: CreditSettings {
                payment_max_points: 40,
                payment_unknown_points: 20,
                tenure_max_points: 30,
                tenure_full_months: 24,
                complaint_max_points: 20,
                complaint_penalty_points: 10,
                complaint_window_months: 12,
                overdue_max_points: 10,
                grade_a_min: 75,
                grade_b_min: 60,
                grade_c_min: 40,
                credit_limit_a_cents: 5_000_000,
                credit_limit_b_cents: 2_000_000,
                credit_limit_c_cents: 500_000,
                credit_limit_d_cents: 0,
            },
            lifecycle: LifecycleSettings {
                new_days: 90,
                lapsed_after_days: 365,
            },
        }
    }
}

/// The settings as stored, with their version (optimistic concurrency).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ClassificationSettingsDoc {
    pub version: i64,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<Uuid>,
    pub settings: ClassificationSettings,
}

/// `PUT /api/v1/classification/settings`: the whole settings, and the `version` read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClassificationSettingsUpdate {
    pub version: i64,
    pub settings: ClassificationSettings,
}

/// One RFM input: its value, the score it gave and the quintile edges it was scored against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MetricScore {
    pub value: i64,
    /// 1–5.
    pub score: u8,
    /// The least value (most, for recency) that scores 2, 3, 4 and 5; `null` where no customer
    /// of the population reached that score.
    pub edges: Vec<Option<i64>>,
}

/// The quintile edges of one population (a nightly run), per input.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct QuintileEdges {
    /// Customers with contracts the edges were computed over.
    pub population: u32,
    pub recency_days: Vec<Option<i64>>,
    pub frequency: Vec<Option<i64>>,
    pub monetary_cents: Vec<Option<i64>>,
}

/// The RFM part of a breakdown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RfmBreakdown {
    /// Customers with contracts the quintiles are over.
    pub population: u32,
    pub last_contract_start: NaiveDate,
    /// Days from the last contract's start to `as_of` (0 for a contract starting later).
    pub recency_days: MetricScore,
    /// Contracts started since `window_from`.
    pub frequency: MetricScore,
    /// Contract value of those contracts in `currency`: Σ lines rate × quantity × periods of the
    /// contract in the rate's unit (a started day, week or month counts). Invoiced and paid
    /// amounts replace it once billing lands.
    pub monetary_cents: MetricScore,
    pub window_from: NaiveDate,
    pub currency: String,
    /// Contracts in the window in another currency: not in `monetary_cents`.
    pub other_currency_contracts: u32,
    /// The tier rule that matched (its position in `rfm.tiers`), or `null`: the fallback tier.
    pub matched_rule: Option<u32>,
}

/// Whether an input could be measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum InputStatus {
    Measured,
    /// Nothing to measure yet (no billing): the input gave its "unknown" points.
    Unknown,
}

/// One credit-grade input and the points it gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreditInput {
    /// `payment_history`, `tenure`, `complaints` or `current_overdue`.
    pub input: String,
    pub status: InputStatus,
    /// The measured value (months, complaints, overdue minor units), when measured.
    pub value: Option<i64>,
    pub points: u32,
    pub max_points: u32,
    pub note: String,
}

/// The credit part of a breakdown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreditBreakdown {
    pub inputs: Vec<CreditInput>,
    pub score: u32,
    pub grade: CreditGrade,
    /// Minimum scores of A, B and C.
    pub cutoffs: Vec<u32>,
    pub first_contract_on: Option<NaiveDate>,
}

/// A category the customer's contracts rent (a line's category, or its asset's).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ProductLine {
    pub category_id: Uuid,
    pub name: String,
}

/// Which input gave which score, as stored with each classification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Breakdown {
    pub mode: ClassificationMode,
    /// The day the inputs were measured at (UTC).
    pub as_of: NaiveDate,
    /// The nightly run whose quintile edges scored this customer (`null` before the first run:
    /// the edges were computed on the spot).
    pub run_id: Option<Uuid>,
    pub settings_version: i64,
    /// `null` for a customer without contracts (tier `prospect`).
    pub rfm: Option<RfmBreakdown>,
    pub credit: CreditBreakdown,
    pub lifecycle_stage: LifecycleStage,
    pub last_contract_end: Option<NaiveDate>,
    pub product_lines: Vec<ProductLine>,
    pub industry: Option<String>,
}

/// A customer's classification (`GET /api/v1/customers/{id}/classification`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CustomerClassification {
    pub customer_id: Uuid,
    pub computed_at: DateTime<Utc>,
    pub value_tier: String,
    pub credit_grade: CreditGrade,
    /// The grade's default credit limit, in minor units of `currency`.
    pub credit_limit_cents: i64,
    pub currency: String,
    pub auto_renew_allowed: bool,
    pub lifecycle_stage: LifecycleStage,
    pub breakdown: Breakdown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grades_round_trip_and_only_a_and_b_auto_renew() {
        for g in CreditGrade::ALL {
            assert_eq!(CreditGrade::parse(g.as_str()), Some(g));
            let json = serde_json::to_value(g).expect("serialise");
            assert_eq!(json, serde_json::Value::from(g.as_str()));
        }
        assert_eq!(CreditGrade::parse("E"), None);
        let renew: Vec<bool> = CreditGrade::ALL
            .iter()
            .map(|g| g.auto_renew_allowed())
            .collect();
        assert_eq!(renew, [true, true, false, false]);
    }

    #[test]
    fn settings_refuse_unknown_fields_and_fill_rule_ranges() {
        let mut json = serde_json::to_value(ClassificationSettings::default()).expect("json");
        let back: ClassificationSettings =
            serde_json::from_value(json.clone()).expect("round trip");
        assert_eq!(back, ClassificationSettings::default());
        json["rfm"]["tiers"][0] = serde_json::json!({"tier": "any"});
        let back: ClassificationSettings = serde_json::from_value(json.clone()).expect("ranges");
        assert_eq!(back.rfm.tiers[0].recency, ScoreRange::ANY);
        json["rfm"]["typo"] = serde_json::json!(1);
        assert!(serde_json::from_value::<ClassificationSettings>(json).is_err());
    }
}
