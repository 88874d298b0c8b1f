//! RFM, pure: contract value in minor units, quintile edges over a population, scores 1–5
//! against them, and the tier rules. No I/O, so every rule is a table-driven unit test below.
//!
//! Quintiles are by rank, ties together: a value's score is `1 + ⌊5 × below / n⌋`, where
//! `below` counts the population's values strictly worse than it, so equal values always share
//! one score whatever order they were read in. The edges (the least value reaching scores 2–5)
//! summarise that scoring exactly: scoring any value against them gives the same answer, which
//! is what lets one customer be rescored on demand against the latest nightly run's edges.

use chrono::{Datelike, Months, NaiveDate};
use mobile_shared::classification::{TierRule, PROSPECT_TIER};

/// A rate's unit (`contract_lines.rate_period`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RatePeriod {
    Day,
    Week,
    Month,
}

impl RatePeriod {
    pub fn parse(s: &str) -> Option<RatePeriod> {
        match s {
            "day" => Some(RatePeriod::Day),
            "week" => Some(RatePeriod::Week),
            "month" => Some(RatePeriod::Month),
            _ => None,
        }
    }
}

/// How many of `unit` a contract from `starts` to `ends` (both days included) is charged: a
/// started day, week or month counts whole. A month runs from a day to the day before the same
/// day of the next month (the 31st's month ends on the last day of a shorter month, as chrono
/// clamps). At least 1; 0 when `ends` is before `starts` (the database refuses such contracts).
pub fn periods(starts: NaiveDate, ends: NaiveDate, unit: RatePeriod) -> i64 {
    let days = (ends - starts).num_days() + 1;
    if days <= 0 {
        return 0;
    }
    match unit {
        RatePeriod::Day => days,
        RatePeriod::Week => (days + 6) / 7,
        RatePeriod::Month => {
            let whole = (ends.year() - starts.year()) * 12 + ends.month() as i32
                - starts.month() as i32
                - i32::from(ends.day() < starts.day());
            let mut m = u32::try_from(whole.max(0)).unwrap_or(0);
            // At most a step or two: `whole` is the floor, clamped month ends aside.
            while starts
                .checked_add_months(Months::new(m))
                .is_some_and(|d| d <= ends)
            {
                m += 1;
            }
            i64::from(m.max(1))
        }
    }
}

/// Which way an input is better: more contracts and more value score higher, fewer days since
/// the last contract scores higher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
}

impl Better {
    /// The value in the order where greater is better.
    fn key(self, v: i64) -> i64 {
        match self {
            Better::Higher => v,
            Better::Lower => v.saturating_neg(),
        }
    }
}

/// The quintile edges of `values`: for scores 2, 3, 4 and 5, the least good value that reaches
/// it (`None`: no value of the population does, e.g. when many are tied).
pub fn edges(values: &[i64], better: Better) -> [Option<i64>; 4] {
    let mut keys: Vec<i64> = values.iter().map(|v| better.key(*v)).collect();
    keys.sort_unstable();
    let n = keys.len();
    let mut out = [None; 4];
    let mut i = 0;
    while i < n {
        let key = keys[i];
        let score = 1 + (5 * i) / n;
        for (k, edge) in out.iter_mut().enumerate() {
            if score >= k + 2 && edge.is_none() {
                *edge = Some(better.key(key));
            }
        }
        while i < n && keys[i] == key {
            i += 1;
        }
    }
    out
}

/// The score (1–5) of `value` against `edges` from [`edges`].
pub fn score(value: i64, edges: &[Option<i64>], better: Better) -> u8 {
    let reached = edges
        .iter()
        .flatten()
        .filter(|e| better.key(value) >= better.key(**e))
        .count();
    // Four edges at most (stored ones are checked on read), so at most 5.
    1 + u8::try_from(reached.min(4)).unwrap_or(4)
}

/// A customer's three scores and what the tier rules may also look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scores {
    pub recency: u8,
    pub frequency: u8,
    pub monetary: u8,
    /// Days since the first contract started.
    pub tenure_days: i64,
}

/// The tier the first matching rule names (and its position), or `fallback` (and `None`).
pub fn tier<'a>(
    scores: Option<Scores>,
    rules: &'a [TierRule],
    fallback: &'a str,
) -> (&'a str, Option<u32>) {
    let Some(s) = scores else {
        return (PROSPECT_TIER, None);
    };
    for (i, rule) in rules.iter().enumerate() {
        let fits = rule.recency.contains(s.recency)
            && rule.frequency.contains(s.frequency)
            && rule.monetary.contains(s.monetary)
            && rule
                .first_contract_within_days
                .is_none_or(|d| s.tenure_days <= i64::from(d));
        if fits {
            return (rule.tier.as_str(), u32::try_from(i).ok());
        }
    }
    (fallback, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mobile_shared::classification::{ClassificationSettings, ScoreRange};

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("a date")
    }

    #[test]
    fn periods_count_started_units() {
        use RatePeriod::*;
        let cases = [
            // (starts, ends, unit, periods)
            (d(2030, 1, 1), d(2030, 1, 1), Day, 1),
            (d(2030, 1, 1), d(2030, 1, 31), Day, 31),
            (d(2030, 1, 1), d(2030, 1, 7), Week, 1),
            (d(2030, 1, 1), d(2030, 1, 8), Week, 2),
            (d(2030, 1, 1), d(2030, 1, 14), Week, 2),
            (d(2030, 1, 1), d(2030, 1, 1), Week, 1),
            (d(2030, 1, 1), d(2030, 1, 31), Month, 1),
            (d(2030, 1, 1), d(2030, 2, 1), Month, 2),
            (d(2030, 1, 15), d(2030, 2, 14), Month, 1),
            (d(2030, 1, 15), d(2030, 2, 15), Month, 2),
            (d(2030, 1, 1), d(2030, 12, 31), Month, 12),
            (d(2030, 11, 10), d(2031, 2, 9), Month, 3),
            (d(2030, 1, 1), d(2030, 1, 1), Month, 1),
            // The 31st's month ends on the 27th of February (31 + 1 month clamps to the 28th).
            (d(2030, 1, 31), d(2030, 2, 27), Month, 1),
            (d(2030, 1, 31), d(2030, 2, 28), Month, 2),
            // Refused by the database; never negative here.
            (d(2030, 1, 2), d(2030, 1, 1), Day, 0),
            (d(2030, 1, 2), d(2030, 1, 1), Month, 0),
        ];
        for (s, e, unit, want) in cases {
            assert_eq!(periods(s, e, unit), want, "{s}..{e} {unit:?}");
        }
        assert_eq!(RatePeriod::parse("week"), Some(RatePeriod::Week));
        assert_eq!(RatePeriod::parse("year"), None);
    }

    /// Scores of each value of `values` against the population's own edges.
    fn scores(values: &[i64], better: Better) -> Vec<u8> {
        let e = edges(values, better);
        values.iter().map(|v| score(*v, &e, better)).collect()
    }

    #[test]
    fn quintiles_split_a_population_in_fifths_and_keep_ties_together() {
        use Better::*;
        // (population, direction, each value's score, edges)
        type Case<'a> = (&'a [i64], Better, &'a [u8], [Option<i64>; 4]);
        let cases: &[Case] = &[
            (
                &[10, 20, 30, 40, 50],
                Higher,
                &[1, 2, 3, 4, 5],
                [Some(20), Some(30), Some(40), Some(50)],
            ),
            // Order read does not matter.
            (
                &[50, 10, 40, 20, 30],
                Higher,
                &[5, 1, 4, 2, 3],
                [Some(20), Some(30), Some(40), Some(50)],
            ),
            (
                &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
                Higher,
                &[1, 1, 2, 2, 3, 3, 4, 4, 5, 5],
                [Some(3), Some(5), Some(7), Some(9)],
            ),
            // Lower is better (days since the last contract): the fewest days score 5.
            (
                &[10, 20, 30, 40, 50],
                Lower,
                &[5, 4, 3, 2, 1],
                [Some(40), Some(30), Some(20), Some(10)],
            ),
            // Everyone tied: one score for all, the lowest; no edge is reached.
            (&[7, 7, 7], Higher, &[1, 1, 1], [None, None, None, None]),
            // A tie straddling a fifth boundary takes the score of its first place.
            (
                &[1, 2, 2, 2, 3],
                Higher,
                &[1, 2, 2, 2, 5],
                [Some(2), Some(3), Some(3), Some(3)],
            ),
            (
                &[0, 0, 0, 0, 9],
                Higher,
                &[1, 1, 1, 1, 5],
                [Some(9), Some(9), Some(9), Some(9)],
            ),
            // One customer: scores 1.
            (&[42], Higher, &[1], [None, None, None, None]),
            (&[], Higher, &[], [None, None, None, None]),
        ];
        for (values, better, want, want_edges) in cases {
            assert_eq!(&scores(values, *better), want, "{values:?} {better:?}");
            assert_eq!(edges(values, *better), *want_edges, "{values:?} {better:?}");
        }
    }

    #[test]
    fn values_outside_the_population_score_against_its_edges() {
        let e = edges(&[10, 20, 30, 40, 50], Better::Higher);
        let cases = [(0, 1), (19, 1), (20, 2), (25, 2), (50, 5), (1_000, 5)];
        for (v, want) in cases {
            assert_eq!(score(v, &e, Better::Higher), want, "{v}");
        }
        let e = edges(&[10, 20, 30, 40, 50], Better::Lower);
        for (v, want) in [(0, 5), (10, 5), (11, 4), (45, 1), (999, 1)] {
            assert_eq!(score(v, &e, Better::Lower), want, "{v}");
        }
        // No edges (no population): everything scores 1.
        assert_eq!(score(5, &[None, None, None, None], Better::Higher), 1);
    }

    fn s(r: u8, f: u8, m: u8, tenure_days: i64) -> Option<Scores> {
        Some(Scores {
            recency: r,
            frequency: f,
            monetary: m,
            tenure_days,
        })
    }

    #[test]
    fn default_tier_rules_name_each_tier() {
        let settings = ClassificationSettings::default();
        let rules = &settings.rfm.tiers;
        let fallback = settings.rfm.fallback_tier.as_str();
        let cases = [
            (s(5, 5, 5, 10), "champion", Some(0)),
            (s(4, 4, 4, 1000), "champion", Some(0)),
            (s(5, 1, 1, 30), "new", Some(1)),
            (s(5, 1, 1, 90), "new", Some(1)),
            (s(5, 1, 1, 91), "promising", Some(3)),
            (s(3, 5, 1, 400), "loyal", Some(2)),
            (s(5, 4, 3, 400), "loyal", Some(2)),
            (s(4, 3, 5, 400), "promising", Some(3)),
            (s(2, 5, 5, 400), "at_risk", Some(4)),
            (s(1, 3, 1, 400), "at_risk", Some(4)),
            (s(2, 2, 5, 400), "hibernating", Some(5)),
            (s(1, 1, 1, 400), "hibernating", Some(5)),
            (s(3, 3, 3, 400), "regular", None),
            (s(3, 1, 5, 400), "regular", None),
            (None, "prospect", None),
        ];
        for (scores, want, rule) in cases {
            assert_eq!(tier(scores, rules, fallback), (want, rule), "{scores:?}");
        }
    }

    #[test]
    fn custom_rules_are_tried_in_order() {
        let only_m = TierRule {
            tier: "big_spender".into(),
            recency: ScoreRange::ANY,
            frequency: ScoreRange::ANY,
            monetary: ScoreRange { min: 5, max: 5 },
            first_contract_within_days: None,
        };
        let anyone = TierRule {
            tier: "everyone".into(),
            recency: ScoreRange::ANY,
            frequency: ScoreRange::ANY,
            monetary: ScoreRange::ANY,
            first_contract_within_days: None,
        };
        let rules = [only_m, anyone];
        assert_eq!(tier(s(1, 1, 5, 0), &rules, "x"), ("big_spender", Some(0)));
        assert_eq!(tier(s(1, 1, 4, 0), &rules, "x"), ("everyone", Some(1)));
        assert_eq!(tier(s(1, 1, 4, 0), &[], "x"), ("x", None));
    }
}
