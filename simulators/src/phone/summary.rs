//! What a phone simulation did, as counts a person (the table) and a test (the fields) can check.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use mobile_shared::scan::{CommandResult, CommandStatus, FieldAction};

/// Rejection reasons the simulation provokes on purpose: a command queued offline whose asset a
/// newer command changed in the meantime is kept as history and answered `superseded`.
pub const EXPECTED_REJECTIONS: [&str; 1] = ["superseded"];

/// Outcomes of one action's commands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionTally {
    /// Commands sent for the first time.
    pub sent: u64,
    /// Commands sent again on purpose (lost-answer retries, re-flushed offline queues).
    pub resent: u64,
    pub applied: u64,
    /// Answers `duplicate` (to re-sends: the stored answer).
    pub duplicate: u64,
    /// First answers `rejected`, by reason.
    pub rejected: BTreeMap<String, u64>,
    /// Commands without a usable answer (5xx, transport error, a status outside the contract).
    pub failed: u64,
}

impl ActionTally {
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    fn add(&mut self, other: &ActionTally) {
        self.sent += other.sent;
        self.resent += other.resent;
        self.applied += other.applied;
        self.duplicate += other.duplicate;
        self.failed += other.failed;
        for (k, v) in &other.rejected {
            *self.rejected.entry(k.clone()).or_default() += v;
        }
    }
}

/// Per-action outcomes, keyed by the action's wire name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tallies(pub BTreeMap<&'static str, ActionTally>);

impl Tallies {
    pub(crate) fn entry(&mut self, action: FieldAction) -> &mut ActionTally {
        self.0.entry(action.as_str()).or_default()
    }

    /// Counts the answer to a first send.
    pub(crate) fn first(&mut self, action: FieldAction, result: &CommandResult) {
        let t = self.entry(action);
        t.sent += 1;
        match (&result.status, &result.error) {
            (CommandStatus::Applied, _) => t.applied += 1,
            (CommandStatus::Duplicate, _) => t.duplicate += 1,
            (CommandStatus::Rejected, e) => {
                let reason = e.as_ref().map_or("unknown", |e| e.error.as_str());
                *t.rejected.entry(reason.to_owned()).or_default() += 1;
            }
        }
    }

    /// Counts a first send that was refused before it became a command (`no_code_found`).
    pub(crate) fn refused(&mut self, action: FieldAction, reason: &str) {
        let t = self.entry(action);
        t.sent += 1;
        *t.rejected.entry(reason.to_owned()).or_default() += 1;
    }

    pub(crate) fn failed(&mut self, action: FieldAction, resend: bool) {
        let t = self.entry(action);
        if resend {
            t.resent += 1;
        } else {
            t.sent += 1;
        }
        t.failed += 1;
    }

    /// Counts the answer to a deliberate re-send.
    pub(crate) fn resent(&mut self, action: FieldAction, result: &CommandResult) {
        let t = self.entry(action);
        t.resent += 1;
        if result.status == CommandStatus::Duplicate {
            t.duplicate += 1;
        }
    }

    pub(crate) fn merge(&mut self, other: &Tallies) {
        for (k, v) in &other.0 {
            self.0.entry(k).or_default().add(v);
        }
    }

    pub fn total(&self) -> ActionTally {
        let mut t = ActionTally::default();
        for v in self.0.values() {
            t.add(v);
        }
        t
    }

    /// First answers rejected for a reason the simulation does not provoke.
    pub fn unexpected_rejections(&self) -> u64 {
        self.0
            .values()
            .flat_map(|t| &t.rejected)
            .filter(|(reason, _)| !EXPECTED_REJECTIONS.contains(&reason.as_str()))
            .map(|(_, n)| n)
            .sum()
    }
}

/// The stocktake part of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StocktakeSummary {
    pub stocktake_id: String,
    pub site: String,
    /// RFID tags the simulation attached (assets that had none).
    pub tags_attached: u64,
    pub bursts: u64,
    /// EPC reads sent in the bursts (repeats included), the replayed burst excluded.
    pub reads: u64,
    pub new_assets: u64,
    pub repeats: u64,
    /// Distinct values the server matched to no asset.
    pub unknown: u64,
    /// A burst sent twice (a reader re-sending its inventory round) added no asset.
    pub replay_added_nothing: bool,
    /// The simulation's own plan: site assets read, site assets left unread, assets from
    /// elsewhere read, foreign EPCs read.
    pub planned_seen_here: u64,
    pub planned_missing: u64,
    pub planned_elsewhere: u64,
    pub planned_unknown: u64,
    /// The report's counts.
    pub expected: u64,
    pub found: u64,
    pub missing: u64,
    pub unexpected: u64,
    pub wrong_location: u64,
    pub unknown_codes: u64,
}

/// Everything a phone simulation counted.
#[derive(Debug, Clone, Default)]
pub struct PhoneSummary {
    pub phones: usize,
    pub rounds: usize,
    pub actions: Tallies,
    pub photos_with_commands: u64,
    /// Photo commands whose decoded QR code led the server to the right asset.
    pub photos_decoded: u64,
    pub photos_uploaded: u64,
    pub offline_commands: u64,
    pub batches: u64,
    pub http_requests: u64,
    /// HTTP errors outside the command contract, by status (`transport`: no answer).
    pub http_errors: BTreeMap<String, u64>,
    pub stocktake: Option<StocktakeSummary>,
    /// Answers that contradict the contract or the simulation's own record (the first few).
    pub inconsistencies: Vec<String>,
    pub inconsistency_count: u64,
    /// Steps that failed (a command without a usable answer, a failed stocktake), the first few.
    pub errors: Vec<String>,
    pub error_count: u64,
    pub elapsed: Duration,
}

/// Inconsistency messages kept in full; the rest are only counted.
const KEEP_MESSAGES: usize = 20;

impl PhoneSummary {
    pub(crate) fn inconsistent(&mut self, msg: String) {
        self.inconsistency_count += 1;
        if self.inconsistencies.len() < KEEP_MESSAGES {
            self.inconsistencies.push(msg);
        }
    }

    pub(crate) fn error(&mut self, msg: String) {
        self.error_count += 1;
        if self.errors.len() < KEEP_MESSAGES {
            self.errors.push(msg);
        }
    }

    /// 5xx answers and requests that got no answer.
    pub fn server_errors(&self) -> u64 {
        self.http_errors
            .iter()
            .filter(|(k, _)| k.as_str() == "transport" || k.starts_with('5'))
            .map(|(_, v)| v)
            .sum()
    }

    /// The run must fail: the server broke (5xx, no answer), a step got no usable answer, or
    /// the server contradicted itself. Rejections are outcomes, not failures.
    pub fn failed(&self) -> bool {
        self.server_errors() > 0 || self.error_count > 0 || self.inconsistency_count > 0
    }
}

impl fmt::Display for PhoneSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "phone simulation: {} phones × {} rounds in {:.1} s, {} HTTP requests",
            self.phones,
            self.rounds,
            self.elapsed.as_secs_f64(),
            self.http_requests
        )?;
        self.fmt_actions(f)?;
        self.fmt_rejections(f)?;
        writeln!(
            f,
            "offline: {} queued commands flushed in {} batches; photos: {} sent with commands \
             ({} decoded to the right asset), {} uploaded for queued commands",
            self.offline_commands,
            self.batches,
            self.photos_with_commands,
            self.photos_decoded,
            self.photos_uploaded
        )?;
        if self.http_errors.is_empty() {
            writeln!(f, "HTTP errors: none")?;
        } else {
            let list: Vec<String> = self
                .http_errors
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            writeln!(f, "HTTP errors: {}", list.join(", "))?;
        }
        if let Some(s) = &self.stocktake {
            fmt_stocktake(f, s)?;
        }
        for m in &self.errors {
            writeln!(f, "ERROR: {m}")?;
        }
        if self.error_count > self.errors.len() as u64 {
            writeln!(
                f,
                "ERROR: … {} more",
                self.error_count - self.errors.len() as u64
            )?;
        }
        for m in &self.inconsistencies {
            writeln!(f, "INCONSISTENT: {m}")?;
        }
        if self.inconsistency_count > self.inconsistencies.len() as u64 {
            writeln!(
                f,
                "INCONSISTENT: … {} more",
                self.inconsistency_count - self.inconsistencies.len() as u64
            )?;
        }
        Ok(())
    }
}

impl PhoneSummary {
    fn fmt_actions(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<10} {:>7} {:>8} {:>8} {:>10} {:>9} {:>7}",
            "action", "sent", "re-sent", "applied", "duplicate", "rejected", "failed"
        )?;
        let row = |f: &mut fmt::Formatter<'_>, name: &str, t: &ActionTally| {
            writeln!(
                f,
                "{:<10} {:>7} {:>8} {:>8} {:>10} {:>9} {:>7}",
                name,
                t.sent,
                t.resent,
                t.applied,
                t.duplicate,
                t.rejected_total(),
                t.failed
            )
        };
        for (name, t) in &self.actions.0 {
            row(f, name, t)?;
        }
        row(f, "total", &self.actions.total())
    }

    fn fmt_rejections(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut any = false;
        for (action, t) in &self.actions.0 {
            for (reason, n) in &t.rejected {
                if !any {
                    writeln!(f, "rejected by reason:")?;
                    any = true;
                }
                let why = if EXPECTED_REJECTIONS.contains(&reason.as_str()) {
                    "expected: a queued command older than the asset's last change"
                } else {
                    "UNEXPECTED"
                };
                writeln!(f, "  {action:<10} {reason:<20} {n:>6}  ({why})")?;
            }
        }
        if !any {
            writeln!(f, "rejected by reason: none")?;
        }
        Ok(())
    }
}

fn fmt_stocktake(f: &mut fmt::Formatter<'_>, s: &StocktakeSummary) -> fmt::Result {
    writeln!(
        f,
        "stocktake {} at {}: {} RFID tags attached; {} bursts, {} EPC reads → {} new assets, \
         {} repeats, {} unknown; replayed burst added {}",
        s.stocktake_id,
        s.site,
        s.tags_attached,
        s.bursts,
        s.reads,
        s.new_assets,
        s.repeats,
        s.unknown,
        if s.replay_added_nothing {
            "nothing"
        } else {
            "ASSETS"
        }
    )?;
    writeln!(
        f,
        "  report: {} expected, {} found, {} missing, {} unexpected, {} at the wrong location, \
         {} unknown codes (planned: {} read here, {} left unread, {} from elsewhere, {} foreign)",
        s.expected,
        s.found,
        s.missing,
        s.unexpected,
        s.wrong_location,
        s.unknown_codes,
        s.planned_seen_here,
        s.planned_missing,
        s.planned_elsewhere,
        s.planned_unknown
    )
}
