//! The credit grade and the lifecycle stage, pure: points per input, the grade from the
//! cut-offs, the limit and auto-renewal it drives. Unit-tested table by table below.
//!
//! Payment history and current overdue come from billing, which has not landed: until it does
//! they are `unknown` and give their configured points (payment: `payment_unknown_points`;
//! overdue: all its points, since nothing can be overdue), and the breakdown says so.

use chrono::{Datelike, NaiveDate};
use mobile_shared::classification::{
    CreditBreakdown, CreditGrade, CreditInput, CreditSettings, InputStatus, LifecycleSettings,
    LifecycleStage,
};

/// What the grade is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreditFacts {
    pub first_contract_on: Option<NaiveDate>,
    /// Complaints opened in the settings' window.
    pub complaints: i64,
}

/// Whole months from `from` to `to` (0 when `to` is earlier).
pub fn whole_months(from: NaiveDate, to: NaiveDate) -> i64 {
    let months = i64::from(to.year() - from.year()) * 12 + i64::from(to.month())
        - i64::from(from.month())
        - i64::from(to.day() < from.day());
    months.max(0)
}

/// The grade a score earns under `settings`' cut-offs.
pub fn grade_of(score: u32, settings: &CreditSettings) -> CreditGrade {
    if score >= settings.grade_a_min {
        CreditGrade::A
    } else if score >= settings.grade_b_min {
        CreditGrade::B
    } else if score >= settings.grade_c_min {
        CreditGrade::C
    } else {
        CreditGrade::D
    }
}

/// The default credit limit of `grade`, in minor units.
pub fn credit_limit(grade: CreditGrade, settings: &CreditSettings) -> i64 {
    match grade {
        CreditGrade::A => settings.credit_limit_a_cents,
        CreditGrade::B => settings.credit_limit_b_cents,
        CreditGrade::C => settings.credit_limit_c_cents,
        CreditGrade::D => settings.credit_limit_d_cents,
    }
}

/// Every input's points, the score and the grade, as of `as_of`.
pub fn assess(facts: CreditFacts, as_of: NaiveDate, settings: &CreditSettings) -> CreditBreakdown {
    let payment = CreditInput {
        input: "payment_history".into(),
        status: InputStatus::Unknown,
        value: None,
        points: settings.payment_unknown_points,
        max_points: settings.payment_max_points,
        note: "billing has not landed: no invoices yet to measure days late or the share paid \
               late"
            .into(),
    };
    let months = facts
        .first_contract_on
        .map_or(0, |first| whole_months(first, as_of));
    let full = i64::from(settings.tenure_full_months.max(1));
    let tenure_points = months.min(full) * i64::from(settings.tenure_max_points) / full;
    let tenure = CreditInput {
        input: "tenure".into(),
        status: InputStatus::Measured,
        value: Some(months),
        points: u32::try_from(tenure_points).unwrap_or(0),
        max_points: settings.tenure_max_points,
        note: match facts.first_contract_on {
            Some(first) => format!("whole months since the first contract ({first})"),
            None => "no contract yet".into(),
        },
    };
    let penalty = facts
        .complaints
        .max(0)
        .saturating_mul(i64::from(settings.complaint_penalty_points));
    let complaint_points = (i64::from(settings.complaint_max_points) - penalty).max(0);
    let complaints = CreditInput {
        input: "complaints".into(),
        status: InputStatus::Measured,
        value: Some(facts.complaints),
        points: u32::try_from(complaint_points).unwrap_or(0),
        max_points: settings.complaint_max_points,
        note: format!(
            "complaints opened in the last {} months, {} points off each",
            settings.complaint_window_months, settings.complaint_penalty_points
        ),
    };
    let overdue = CreditInput {
        input: "current_overdue".into(),
        status: InputStatus::Unknown,
        value: None,
        points: settings.overdue_max_points,
        max_points: settings.overdue_max_points,
        note: "billing has not landed: nothing can be overdue yet".into(),
    };
    let inputs = vec![payment, tenure, complaints, overdue];
    let score = inputs.iter().map(|i| i.points).sum();
    CreditBreakdown {
        grade: grade_of(score, settings),
        score,
        cutoffs: vec![
            settings.grade_a_min,
            settings.grade_b_min,
            settings.grade_c_min,
        ],
        first_contract_on: facts.first_contract_on,
        inputs,
    }
}

/// The lifecycle stage as of `as_of`, from the first contract's start and the last one's end.
pub fn lifecycle(
    first_start: Option<NaiveDate>,
    last_end: Option<NaiveDate>,
    as_of: NaiveDate,
    settings: &LifecycleSettings,
) -> LifecycleStage {
    let (Some(first), Some(last_end)) = (first_start, last_end) else {
        return LifecycleStage::Prospect;
    };
    if (as_of - first).num_days() <= i64::from(settings.new_days) {
        LifecycleStage::New
    } else if last_end >= as_of {
        LifecycleStage::Active
    } else if (as_of - last_end).num_days() < i64::from(settings.lapsed_after_days) {
        LifecycleStage::Dormant
    } else {
        LifecycleStage::Lapsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mobile_shared::classification::ClassificationSettings;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("a date")
    }

    fn settings() -> CreditSettings {
        ClassificationSettings::default().credit
    }

    #[test]
    fn whole_months_count_completed_months_only() {
        let cases = [
            (d(2030, 1, 15), d(2030, 1, 15), 0),
            (d(2030, 1, 15), d(2030, 2, 14), 0),
            (d(2030, 1, 15), d(2030, 2, 15), 1),
            (d(2029, 1, 15), d(2031, 1, 15), 24),
            (d(2030, 3, 1), d(2030, 1, 1), 0),
        ];
        for (from, to, want) in cases {
            assert_eq!(whole_months(from, to), want, "{from} → {to}");
        }
    }

    #[test]
    fn grades_follow_the_cutoffs() {
        let s = settings();
        let cases = [
            (100, CreditGrade::A),
            (75, CreditGrade::A),
            (74, CreditGrade::B),
            (60, CreditGrade::B),
            (59, CreditGrade::C),
            (40, CreditGrade::C),
            (39, CreditGrade::D),
            (0, CreditGrade::D),
        ];
        for (score, want) in cases {
            assert_eq!(grade_of(score, &s), want, "{score}");
        }
        let limits: Vec<i64> = CreditGrade::ALL
            .iter()
            .map(|g| credit_limit(*g, &s))
            .collect();
        assert_eq!(limits, [5_000_000, 2_000_000, 500_000, 0]);
    }

    #[test]
    fn each_input_gives_its_points() {
        let s = settings();
        let as_of = d(2030, 6, 1);
        // (first contract, complaints) → (tenure months, tenure points, complaint points,
        // score, grade). Payment is unknown (20), overdue none (10) for everyone.
        let cases = [
            (None, 0, 0, 0, 20, 50, CreditGrade::C),
            (Some(d(2030, 5, 20)), 0, 0, 0, 20, 50, CreditGrade::C),
            (Some(d(2029, 6, 1)), 0, 12, 15, 20, 65, CreditGrade::B),
            (Some(d(2028, 6, 1)), 0, 24, 30, 20, 80, CreditGrade::A),
            (Some(d(2020, 1, 1)), 0, 125, 30, 20, 80, CreditGrade::A),
            (Some(d(2028, 6, 1)), 1, 24, 30, 10, 70, CreditGrade::B),
            (Some(d(2028, 6, 1)), 2, 24, 30, 0, 60, CreditGrade::B),
            (Some(d(2028, 6, 1)), 7, 24, 30, 0, 60, CreditGrade::B),
            (Some(d(2030, 5, 1)), 3, 1, 1, 0, 31, CreditGrade::D),
            // A contract starting after `as_of`: no tenure yet.
            (Some(d(2030, 7, 1)), 0, 0, 0, 20, 50, CreditGrade::C),
        ];
        for (first, complaints, months, tenure, complaint_points, score, grade) in cases {
            let facts = CreditFacts {
                first_contract_on: first,
                complaints,
            };
            let b = assess(facts, as_of, &s);
            let points: Vec<(&str, u32)> = b
                .inputs
                .iter()
                .map(|i| (i.input.as_str(), i.points))
                .collect();
            assert_eq!(
                points,
                [
                    ("payment_history", 20),
                    ("tenure", tenure),
                    ("complaints", complaint_points),
                    ("current_overdue", 10)
                ],
                "{facts:?}"
            );
            assert_eq!(b.inputs[1].value, Some(months), "{facts:?}");
            assert_eq!(b.inputs[2].value, Some(complaints), "{facts:?}");
            assert_eq!((b.score, b.grade), (score, grade), "{facts:?}");
            assert_eq!(b.inputs[0].status, InputStatus::Unknown);
            assert_eq!(b.inputs[3].status, InputStatus::Unknown);
            assert!(b.inputs[0].note.contains("billing"), "{:?}", b.inputs[0]);
            assert_eq!(b.cutoffs, [75, 60, 40]);
        }
    }

    #[test]
    fn lifecycle_stages() {
        let s = ClassificationSettings::default().lifecycle;
        let as_of = d(2030, 6, 1);
        let cases = [
            (None, None, LifecycleStage::Prospect),
            (
                Some(d(2030, 5, 1)),
                Some(d(2030, 5, 10)),
                LifecycleStage::New,
            ),
            (
                Some(d(2030, 3, 3)),
                Some(d(2030, 12, 31)),
                LifecycleStage::New,
            ),
            (
                Some(d(2029, 1, 1)),
                Some(d(2030, 6, 1)),
                LifecycleStage::Active,
            ),
            (
                Some(d(2029, 1, 1)),
                Some(d(2031, 1, 1)),
                LifecycleStage::Active,
            ),
            (
                Some(d(2029, 1, 1)),
                Some(d(2030, 5, 31)),
                LifecycleStage::Dormant,
            ),
            (
                Some(d(2028, 1, 1)),
                Some(d(2029, 6, 2)),
                LifecycleStage::Dormant,
            ),
            (
                Some(d(2028, 1, 1)),
                Some(d(2029, 6, 1)),
                LifecycleStage::Lapsed,
            ),
        ];
        for (first, last_end, want) in cases {
            assert_eq!(
                lifecycle(first, last_end, as_of, &s),
                want,
                "{first:?} {last_end:?}"
            );
        }
    }
}
