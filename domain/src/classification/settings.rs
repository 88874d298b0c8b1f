//! The classification's thresholds: one versioned row (migration 0023), read by every run and
//! replaced whole by an admin (`PUT /api/v1/classification/settings`), validated field by field.
//! A change applies from the next classification on; stored results keep the settings version
//! they were computed with (`breakdown.settings_version`).

use chrono::{DateTime, Utc};
use mobile_shared::classification::{
    ClassificationSettings, ClassificationSettingsDoc, ClassificationSettingsUpdate, ScoreRange,
    MAX_TIER_LEN, MAX_TIER_RULES, PROSPECT_TIER,
};
use mobile_shared::money::{is_currency_code, MAX_AMOUNT_MINOR};
use mobile_shared::ErrorCode;
use sqlx::types::Json;
use uuid::Uuid;

use crate::actor::Actor;
use crate::audit::Change;
use crate::clock;
use crate::entity::Entity;
use crate::error::{DomainError, Validator};
use crate::store::{on_read, on_tx, RowLock, Store, Tx};

/// The audit entries' id of the one settings record.
pub const SETTINGS_ID: Uuid = Uuid::nil();

#[derive(sqlx::FromRow)]
struct SettingsRow {
    settings: Json<ClassificationSettings>,
    version: i64,
    updated_at: DateTime<Utc>,
    updated_by: Option<Uuid>,
}

impl SettingsRow {
    fn into_doc(self) -> ClassificationSettingsDoc {
        ClassificationSettingsDoc {
            version: self.version,
            updated_at: self.updated_at,
            updated_by: self.updated_by,
            settings: self.settings.0,
        }
    }
}

const SELECT: &str =
    "SELECT settings, version, updated_at, updated_by FROM classification_settings WHERE id = 1";

fn missing() -> DomainError {
    DomainError::Internal("classification_settings has no row (migration 0023 inserts it)".into())
}

/// The settings as stored.
pub async fn get(store: &Store) -> Result<ClassificationSettingsDoc, DomainError> {
    let row: Option<SettingsRow> =
        on_read!(store, |p| sqlx::query_as(SELECT).fetch_optional(p).await)?;
    row.map(SettingsRow::into_doc).ok_or_else(missing)
}

/// The settings inside a transaction (`lock`: for a read-modify-write).
pub(crate) async fn get_in(
    tx: &mut Tx,
    lock: bool,
) -> Result<ClassificationSettingsDoc, DomainError> {
    let sql = if lock {
        format!("{SELECT}{}", tx.row_lock(RowLock::Update))
    } else {
        SELECT.to_owned()
    };
    let row: Option<SettingsRow> =
        on_tx!(tx, |c| sqlx::query_as(&sql).fetch_optional(&mut *c).await)?;
    row.map(SettingsRow::into_doc).ok_or_else(missing)
}

/// Replaces the settings (audited). A stale `version` is 409 `version_conflict` with the
/// current settings in `detail`; invalid settings are 422 naming each field.
pub async fn put(
    store: &Store,
    actor: &Actor,
    update: ClassificationSettingsUpdate,
) -> Result<ClassificationSettingsDoc, DomainError> {
    validate(&update.settings)?;
    let mut tx = store.begin().await?;
    let before = get_in(&mut tx, true).await?;
    if before.version != update.version {
        // Now, not when sqlx gets round to it: the row lock must not outlive the answer.
        tx.rollback().await?;
        return Err(DomainError::conflict_with(
            ErrorCode::VersionConflict,
            "the classification settings changed since you read them",
            serde_json::to_value(&before).unwrap_or_default(),
        ));
    }
    let after = ClassificationSettingsDoc {
        version: before.version + 1,
        updated_at: clock::now(),
        updated_by: actor.user_id,
        settings: update.settings,
    };
    let sql = "UPDATE classification_settings SET settings = $1, version = $2, updated_at = $3, \
               updated_by = $4 WHERE id = 1";
    on_tx!(
        &mut tx,
        execute(
            sqlx::query(sql)
                .bind(Json(&after.settings))
                .bind(after.version)
                .bind(after.updated_at)
                .bind(after.updated_by)
        )
    )?;
    let change = Change::updated(Entity::ClassificationSettings, SETTINGS_ID, &before, &after);
    tx.commit_audited(actor, change).await?;
    Ok(after)
}

fn tier_name_problem(name: &str) -> Option<String> {
    let shaped = !name.is_empty()
        && name.len() <= MAX_TIER_LEN
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !shaped {
        Some(format!(
            "must be snake_case: a-z, 0-9 and _, starting with a letter, 1-{MAX_TIER_LEN} characters"
        ))
    } else if name == PROSPECT_TIER {
        Some(format!(
            "`{PROSPECT_TIER}` is the tier of customers without contracts"
        ))
    } else {
        None
    }
}

fn check_range(v: &mut Validator, field: &str, r: ScoreRange) {
    if !(1..=5).contains(&r.min) || !(1..=5).contains(&r.max) || r.min > r.max {
        v.add(field, "scores are 1-5 and min must not exceed max");
    }
}

fn check_between(v: &mut Validator, field: &str, value: u32, lo: u32, hi: u32) {
    if !(lo..=hi).contains(&value) {
        v.add(field, format!("must be {lo}-{hi}"));
    }
}

/// Every problem of `s`, each under its field path (`settings.rfm.tiers[0].tier`…).
pub fn validate(s: &ClassificationSettings) -> Result<(), DomainError> {
    let mut v = Validator::new();
    if !is_currency_code(&s.currency) {
        v.add(
            "settings.currency",
            "must be an ISO 4217 code: three upper-case letters",
        );
    }
    check_between(
        &mut v,
        "settings.rfm.window_months",
        s.rfm.window_months,
        1,
        120,
    );
    if s.rfm.tiers.len() > MAX_TIER_RULES {
        v.add(
            "settings.rfm.tiers",
            format!("at most {MAX_TIER_RULES} rules"),
        );
    }
    for (i, rule) in s.rfm.tiers.iter().enumerate() {
        let at = format!("settings.rfm.tiers[{i}]");
        if let Some(p) = tier_name_problem(&rule.tier) {
            v.add(&format!("{at}.tier"), p);
        }
        check_range(&mut v, &format!("{at}.recency"), rule.recency);
        check_range(&mut v, &format!("{at}.frequency"), rule.frequency);
        check_range(&mut v, &format!("{at}.monetary"), rule.monetary);
        if let Some(days) = rule.first_contract_within_days {
            check_between(
                &mut v,
                &format!("{at}.first_contract_within_days"),
                days,
                1,
                3650,
            );
        }
    }
    if let Some(p) = tier_name_problem(&s.rfm.fallback_tier) {
        v.add("settings.rfm.fallback_tier", p);
    }

    let c = &s.credit;
    for (field, points) in [
        ("payment_max_points", c.payment_max_points),
        ("tenure_max_points", c.tenure_max_points),
        ("complaint_max_points", c.complaint_max_points),
        ("complaint_penalty_points", c.complaint_penalty_points),
        ("overdue_max_points", c.overdue_max_points),
    ] {
        check_between(&mut v, &format!("settings.credit.{field}"), points, 0, 100);
    }
    if c.payment_unknown_points > c.payment_max_points {
        v.add(
            "settings.credit.payment_unknown_points",
            "must not exceed payment_max_points",
        );
    }
    check_between(
        &mut v,
        "settings.credit.tenure_full_months",
        c.tenure_full_months,
        1,
        240,
    );
    check_between(
        &mut v,
        "settings.credit.complaint_window_months",
        c.complaint_window_months,
        1,
        120,
    );
    let most = [
        c.payment_max_points,
        c.tenure_max_points,
        c.complaint_max_points,
        c.overdue_max_points,
    ]
    .into_iter()
    .fold(0u32, u32::saturating_add);
    if c.grade_a_min > most {
        v.add(
            "settings.credit.grade_a_min",
            format!("no customer could reach it: the inputs give at most {most} points"),
        );
    }
    if c.grade_a_min <= c.grade_b_min {
        v.add("settings.credit.grade_a_min", "must be above grade_b_min");
    }
    if c.grade_b_min <= c.grade_c_min {
        v.add("settings.credit.grade_b_min", "must be above grade_c_min");
    }
    let limits = [
        ("credit_limit_a_cents", c.credit_limit_a_cents),
        ("credit_limit_b_cents", c.credit_limit_b_cents),
        ("credit_limit_c_cents", c.credit_limit_c_cents),
        ("credit_limit_d_cents", c.credit_limit_d_cents),
    ];
    for (field, cents) in limits {
        if !(0..=MAX_AMOUNT_MINOR).contains(&cents) {
            v.add(
                &format!("settings.credit.{field}"),
                "must be an integer 0-1000000000000 (minor units)",
            );
        }
    }
    for pair in limits.windows(2) {
        if pair[1].1 > pair[0].1 {
            v.add(
                &format!("settings.credit.{}", pair[1].0),
                format!(
                    "a worse grade cannot have a higher limit than {}",
                    pair[0].0
                ),
            );
        }
    }
    check_between(
        &mut v,
        "settings.lifecycle.new_days",
        s.lifecycle.new_days,
        1,
        3650,
    );
    check_between(
        &mut v,
        "settings.lifecycle.lapsed_after_days",
        s.lifecycle.lapsed_after_days,
        1,
        3650,
    );
    v.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(s: &ClassificationSettings) -> Vec<String> {
        match validate(s) {
            Ok(()) => Vec::new(),
            Err(DomainError::Validation(f)) => f.into_keys().collect(),
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(
            fields(&ClassificationSettings::default()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn each_bad_setting_is_named() {
        type Edit = fn(&mut ClassificationSettings);
        let cases: &[(Edit, &str)] = &[
            (|s| s.currency = "eur".into(), "settings.currency"),
            (|s| s.rfm.window_months = 0, "settings.rfm.window_months"),
            (
                |s| s.rfm.tiers[1].tier = "New Tier".into(),
                "settings.rfm.tiers[1].tier",
            ),
            (
                |s| s.rfm.tiers[0].tier = "prospect".into(),
                "settings.rfm.tiers[0].tier",
            ),
            (
                |s| s.rfm.tiers[2].recency.min = 0,
                "settings.rfm.tiers[2].recency",
            ),
            (
                |s| s.rfm.tiers[2].frequency.max = 6,
                "settings.rfm.tiers[2].frequency",
            ),
            (
                |s| {
                    s.rfm.tiers[3].monetary.min = 4;
                    s.rfm.tiers[3].monetary.max = 2;
                },
                "settings.rfm.tiers[3].monetary",
            ),
            (
                |s| s.rfm.tiers[1].first_contract_within_days = Some(0),
                "settings.rfm.tiers[1].first_contract_within_days",
            ),
            (
                |s| s.rfm.tiers = vec![s.rfm.tiers[0].clone(); 21],
                "settings.rfm.tiers",
            ),
            (
                |s| s.rfm.fallback_tier = String::new(),
                "settings.rfm.fallback_tier",
            ),
            (
                |s| s.credit.payment_unknown_points = 41,
                "settings.credit.payment_unknown_points",
            ),
            (
                |s| s.credit.tenure_max_points = 101,
                "settings.credit.tenure_max_points",
            ),
            (
                |s| s.credit.tenure_full_months = 0,
                "settings.credit.tenure_full_months",
            ),
            (
                |s| s.credit.complaint_window_months = 0,
                "settings.credit.complaint_window_months",
            ),
            (
                |s| s.credit.grade_a_min = 101,
                "settings.credit.grade_a_min",
            ),
            (|s| s.credit.grade_b_min = 75, "settings.credit.grade_a_min"),
            (|s| s.credit.grade_c_min = 60, "settings.credit.grade_b_min"),
            (
                |s| s.credit.credit_limit_a_cents = -1,
                "settings.credit.credit_limit_a_cents",
            ),
            (
                |s| s.credit.credit_limit_d_cents = 600_000,
                "settings.credit.credit_limit_d_cents",
            ),
            (|s| s.lifecycle.new_days = 0, "settings.lifecycle.new_days"),
            (
                |s| s.lifecycle.lapsed_after_days = 5000,
                "settings.lifecycle.lapsed_after_days",
            ),
        ];
        for (edit, field) in cases {
            let mut s = ClassificationSettings::default();
            edit(&mut s);
            let got = fields(&s);
            assert!(got.contains(&(*field).to_owned()), "{field}: {got:?}");
        }
    }
}
