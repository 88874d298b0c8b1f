//! One phone: a technician's rounds (online and offline), the commands it makes, its offline
//! queue flushed as batches, re-sends, and the checks it can make on every answer.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use mobile_shared::scan::{
    CommandResult, CommandStatus, Condition, FieldAction, FieldCommand, PhonePosition, MAX_BATCH,
};
use mobile_shared::wire::{Asset, Site, SiteKind};
use mobile_shared::AssetStatus;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

use super::client::{Answer, Http};
use super::discovery::Sites;
use super::summary::Tallies;
use super::{Live, PhoneConfig, StateChange, FALLBACK_POSITION};

/// Share of offline deliveries the technician re-does online before the queue is flushed.
const STALE_SHARE: f64 = 0.3;
/// Share of returns graded `damaged` (→ in maintenance).
const DAMAGED_SHARE: f64 = 0.1;
/// Share of rounds with an extra hour-meter reading.
const METER_SHARE: f64 = 0.5;
/// Failed-request messages kept for the summary.
const KEEP_ERRORS: usize = 20;

/// An asset as one phone sees it.
#[derive(Debug, Clone)]
pub(super) struct SimAsset {
    id: Uuid,
    code: String,
    /// What the phone believes the status is (after the answers, or what it queued).
    status: AssetStatus,
    engine_hours: f64,
    /// The label PNG, fetched once.
    label: Option<Vec<u8>>,
}

impl SimAsset {
    fn new(a: &Asset) -> SimAsset {
        SimAsset {
            id: a.id,
            code: a.code.clone(),
            status: a.status,
            engine_hours: a.engine_hours.unwrap_or(0.0),
            label: None,
        }
    }
}

/// The phone's clock: milliseconds (what a phone app records), strictly increasing, so the
/// commands of one phone have distinct device times in the order they were made.
#[derive(Debug, Default)]
pub(super) struct DeviceClock {
    last: Option<DateTime<Utc>>,
}

impl DeviceClock {
    fn tick(&mut self) -> DateTime<Utc> {
        let now = Utc::now();
        let now = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
        let t = match self.last {
            Some(last) if now <= last => last + chrono::Duration::milliseconds(1),
            _ => now,
        };
        self.last = Some(t);
        t
    }
}

/// A command waiting in the offline queue.
#[derive(Debug, Clone)]
struct Queued {
    cmd: FieldCommand,
    /// The asset the phone means (the command names it by code).
    asset_id: Uuid,
    /// Uploaded before the batch and referenced by hash.
    photo: Option<Vec<u8>>,
    /// `Some(reason)`: the rejection this command is expected to get.
    expect: Option<&'static str>,
}

/// What one phone did.
#[derive(Debug, Default)]
pub(super) struct PhoneOut {
    pub(super) tallies: Tallies,
    pub(super) photos_with_commands: u64,
    pub(super) photos_decoded: u64,
    pub(super) photos_uploaded: u64,
    pub(super) batches: u64,
    pub(super) offline_sent: Vec<FieldCommand>,
    pub(super) changes: BTreeMap<Uuid, StateChange>,
    pub(super) inconsistencies: Vec<String>,
    pub(super) errors: Vec<String>,
}

/// One simulated technician with a share of the assets.
pub(super) struct Phone {
    http: Http,
    rng: StdRng,
    cfg: PhoneConfig,
    sites: Arc<Sites>,
    assets: Vec<SimAsset>,
    /// Round-robin position in `assets`.
    cursor: usize,
    clock: DeviceClock,
    queue: Vec<Queued>,
    live: Arc<Live>,
    out: PhoneOut,
}

impl Phone {
    /// Phone number `n` (which seeds its randomness), working on `assets`.
    pub(super) fn new<'a>(
        n: usize,
        cfg: &PhoneConfig,
        http: &Http,
        sites: &Arc<Sites>,
        assets: impl Iterator<Item = &'a Asset>,
        live: &Arc<Live>,
    ) -> Phone {
        Phone {
            http: http.clone(),
            rng: StdRng::seed_from_u64(cfg.seed.wrapping_add(n as u64 * 7919)),
            cfg: cfg.clone(),
            sites: sites.clone(),
            assets: assets.map(SimAsset::new).collect(),
            cursor: 0,
            clock: DeviceClock::default(),
            queue: Vec::new(),
            live: live.clone(),
            out: PhoneOut::default(),
        }
    }

    /// Works through the rounds, then flushes what is still queued.
    pub(super) async fn work(mut self) -> PhoneOut {
        for round in 0..self.cfg.rounds {
            let last = round + 1 == self.cfg.rounds;
            let offline = self.rng.gen_bool(self.cfg.offline_share);
            if !offline {
                // Back in coverage: the queue goes first, as the app does.
                self.flush().await;
            }
            let Some(i) = self.pick_asset() else {
                break;
            };
            if offline {
                self.offline_round(i, last).await;
            } else {
                self.online_round(i, last).await;
            }
        }
        self.flush().await;
        self.out
    }

    /// The next asset (round-robin) the phone believes is available.
    fn pick_asset(&mut self) -> Option<usize> {
        let n = self.assets.len();
        let found = (0..n)
            .map(|k| (self.cursor + k) % n)
            .find(|&i| self.assets[i].status == AssetStatus::Available)?;
        self.cursor = (found + 1) % n;
        Some(found)
    }

    fn customer(&mut self) -> Site {
        pick(&self.sites.customers, &mut self.rng)
    }

    fn yard(&mut self) -> Site {
        pick(&self.sites.yards, &mut self.rng)
    }

    /// A new command about asset `i`, scanned by code unless `by_code` is false (a photo then
    /// identifies it).
    fn command(&mut self, action: FieldAction, i: usize, by_code: bool) -> FieldCommand {
        let code = by_code.then(|| self.assets[i].code.clone());
        FieldCommand::new(action, code, self.clock.tick())
    }

    /// The phone's position: near the site, a few tens of metres of GPS scatter.
    fn position_at(&mut self, site: &Site) -> PhonePosition {
        let at = site.location.unwrap_or(FALLBACK_POSITION);
        PhonePosition {
            lat: at.lat + self.rng.gen_range(-0.0004..0.0004),
            lon: at.lon + self.rng.gen_range(-0.0006..0.0006),
            accuracy_m: Some(self.rng.gen_range(3.0..25.0_f64).round()),
        }
    }

    /// The label photo for a share of commands (fetched from the server once per asset).
    async fn maybe_photo(&mut self, i: usize) -> Option<Vec<u8>> {
        if !self.rng.gen_bool(self.cfg.photo_share) {
            return None;
        }
        if self.assets[i].label.is_none() {
            let path = format!("/api/v1/assets/{}/label.png", self.assets[i].id);
            match self.http.bytes(&path).await {
                Ok(png) => self.assets[i].label = Some(png),
                Err(e) => {
                    // No photo then: the command goes by code.
                    self.error(format!("label of {}: {e:#}", self.assets[i].code));
                    return None;
                }
            }
        }
        self.assets[i].label.clone()
    }

    fn deliver(&mut self, i: usize, photo: bool) -> FieldCommand {
        let site = self.customer();
        let mut c = self.command(FieldAction::Deliver, i, !photo);
        c.site_id = Some(site.id);
        c.position = Some(self.position_at(&site));
        c.contact = Some(format!("Site manager {}", self.rng.gen_range(1..=40)));
        c.contract_ref = Some(format!("RC-{:06}", self.rng.gen_range(1..=999_999)));
        c
    }

    fn inspect(&mut self, i: usize) -> FieldCommand {
        let hours = self.advance_hours(i);
        let mut c = self.command(FieldAction::Inspect, i, true);
        c.notes = Some(
            [
                "tracks fine",
                "minor scratches on the boom",
                "greased, no leaks",
                "tyres at 80 %",
            ]
            .choose(&mut self.rng)
            .map_or("ok", |s| *s)
            .to_owned(),
        );
        c.engine_hours = Some(hours);
        c.fuel_pct = Some(f64::from(self.rng.gen_range(10..=100_u8)));
        c.condition = Some(if self.rng.gen_bool(0.7) {
            Condition::Good
        } else {
            Condition::Fair
        });
        let checklist = [
            ("lights", serde_json::json!(true)),
            ("horn", serde_json::json!(true)),
            ("hydraulics", serde_json::json!(self.rng.gen_bool(0.95))),
        ];
        c.checklist = Some(
            checklist
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        );
        c
    }

    fn meter(&mut self, i: usize) -> FieldCommand {
        let hours = self.advance_hours(i);
        let mut c = self.command(FieldAction::Meter, i, true);
        c.engine_hours = Some(hours);
        c
    }

    fn return_(&mut self, i: usize, photo: bool) -> FieldCommand {
        let site = self.yard();
        let hours = self.advance_hours(i);
        let damaged = self.rng.gen_bool(DAMAGED_SHARE);
        let mut c = self.command(FieldAction::Return, i, !photo);
        c.site_id = Some(site.id);
        c.position = Some(self.position_at(&site));
        c.engine_hours = Some(hours);
        c.condition = Some(if damaged {
            Condition::Damaged
        } else {
            Condition::Good
        });
        c.inspection_passed = Some(!damaged);
        if damaged {
            c.notes = Some("hydraulic hose torn; to the workshop".into());
        }
        c
    }

    /// Engine hours go up a few hours at each reading, in tenths.
    fn advance_hours(&mut self, i: usize) -> f64 {
        let add = f64::from(self.rng.gen_range(5..80_u32)) / 10.0;
        let a = &mut self.assets[i];
        a.engine_hours = ((a.engine_hours + add) * 10.0).round() / 10.0;
        a.engine_hours
    }

    // ---- online ------------------------------------------------------------------------------

    async fn online_round(&mut self, i: usize, last: bool) {
        let lookup = self.command(FieldAction::Lookup, i, true);
        self.online(lookup, None, i).await;

        let photo = self.maybe_photo(i).await;
        let deliver = self.deliver(i, photo.is_some());
        if self.online(deliver, photo, i).await.is_none() {
            // Not delivered: the rest of the cycle would only be refused; the phone moves on.
            self.assets[i].status = AssetStatus::Retired;
            return;
        }
        self.assets[i].status = AssetStatus::OnRent;
        let inspect = self.inspect(i);
        self.online(inspect, None, i).await;
        if self.rng.gen_bool(METER_SHARE) {
            let meter = self.meter(i);
            self.online(meter, None, i).await;
        }
        if last {
            return; // the rental runs on
        }
        let photo = self.maybe_photo(i).await;
        let ret = self.return_(i, photo.is_some());
        self.assets[i].status = match self.online(ret, photo, i).await {
            Some(r) => r.asset.map_or(AssetStatus::Retired, |a| a.status),
            None => AssetStatus::Retired,
        };
    }

    /// Sends one command now; the result when applied. Re-sends a share of them.
    async fn online(
        &mut self,
        cmd: FieldCommand,
        photo: Option<Vec<u8>>,
        i: usize,
    ) -> Option<CommandResult> {
        let answer = self.http.command(&cmd, photo.as_deref()).await;
        self.live.commands.fetch_add(1, Ordering::Relaxed);
        let (http, result) = match answer {
            Answer::Result { http, result } => (http, *result),
            Answer::NoCode => {
                self.out.tallies.refused(cmd.action, "no_code_found");
                self.live.rejected.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            Answer::Failed(why) => {
                self.out.tallies.failed(cmd.action, false);
                self.live.failed.fetch_add(1, Ordering::Relaxed);
                self.error(format!("{} {}: {why}", cmd.action.as_str(), cmd.id));
                return None;
            }
        };
        let asset_id = self.assets[i].id;
        self.count_first(&cmd, &result, asset_id, None);
        if photo.is_some() {
            self.check_photo(&result, i);
        }
        if self.rng.gen_bool(self.cfg.duplicate_share) {
            self.resend_online(&cmd, photo.as_deref(), http, &result)
                .await;
        }
        (result.status == CommandStatus::Applied).then_some(result)
    }

    /// Counts photo commands whose decoded label led the server to the right asset (a wrong
    /// one is reported by `count_first`).
    fn check_photo(&mut self, result: &CommandResult, i: usize) {
        self.out.photos_with_commands += 1;
        if result.asset.as_ref().map(|a| a.id) == Some(self.assets[i].id) {
            self.out.photos_decoded += 1;
        }
    }

    /// Sends the same command again (a lost answer): it must be answered `duplicate`, with the
    /// same HTTP status and the same outcome as the first time.
    async fn resend_online(
        &mut self,
        cmd: &FieldCommand,
        photo: Option<&[u8]>,
        first_http: u16,
        first: &CommandResult,
    ) {
        match self.http.command(cmd, photo).await {
            Answer::Result { http, result } => {
                self.out.tallies.resent(cmd.action, &result);
                self.live.duplicates.fetch_add(1, Ordering::Relaxed);
                if http != first_http || !same_outcome(first, &result) {
                    self.inconsistent(format!(
                        "re-sent {} {} was answered {http} {:?} {:?} (first: {first_http} {:?} {:?})",
                        cmd.action.as_str(),
                        cmd.id,
                        result.status,
                        result.error.as_ref().map(|e| &e.error),
                        first.status,
                        first.error.as_ref().map(|e| &e.error),
                    ));
                }
            }
            Answer::NoCode => {
                self.out.tallies.failed(cmd.action, true);
                self.inconsistent(format!(
                    "re-sent {} {} was decoded again (no_code_found) instead of answered from \
                     the stored result",
                    cmd.action.as_str(),
                    cmd.id
                ));
            }
            Answer::Failed(why) => {
                self.out.tallies.failed(cmd.action, true);
                self.error(format!("re-sent {} {}: {why}", cmd.action.as_str(), cmd.id));
            }
        }
    }

    // ---- offline -----------------------------------------------------------------------------

    async fn offline_round(&mut self, i: usize, last: bool) {
        let lookup = self.command(FieldAction::Lookup, i, true);
        self.enqueue(i, lookup, None);
        let photo = self.maybe_photo(i).await;
        let deliver = self.deliver(i, false);
        let stale = self.rng.gen_bool(STALE_SHARE);
        let queued_at = self.queue.len();
        self.enqueue(i, deliver.clone(), photo);
        if stale && self.redo_online(&deliver, i).await {
            // The queued one is now older than the asset's last change.
            self.queue[queued_at].expect = Some("superseded");
        }
        let inspect = self.inspect(i);
        self.enqueue(i, inspect, None);
        if self.rng.gen_bool(METER_SHARE) {
            let meter = self.meter(i);
            self.enqueue(i, meter, None);
        }
        if last {
            self.assets[i].status = AssetStatus::OnRent;
            return;
        }
        let photo = self.maybe_photo(i).await;
        let ret = self.return_(i, false);
        self.assets[i].status = if ret.inspection_passed == Some(false) {
            AssetStatus::InMaintenance
        } else {
            AssetStatus::Available
        };
        self.enqueue(i, ret, photo);
    }

    fn enqueue(&mut self, i: usize, cmd: FieldCommand, photo: Option<Vec<u8>>) {
        self.queue.push(Queued {
            cmd,
            asset_id: self.assets[i].id,
            photo,
            expect: None,
        });
    }

    /// The technician delivers again online (new command, newer device time); true if applied.
    async fn redo_online(&mut self, queued: &FieldCommand, i: usize) -> bool {
        let mut again = self.command(FieldAction::Deliver, i, true);
        again.site_id = queued.site_id;
        again.position = queued.position;
        again.contact = queued.contact.clone();
        again.contract_ref = queued.contract_ref.clone();
        self.online(again, None, i).await.is_some()
    }

    /// Sends the queue in batches of at most [`MAX_BATCH`], photos uploaded first.
    async fn flush(&mut self) {
        while !self.queue.is_empty() {
            let n = self.queue.len().min(MAX_BATCH);
            let mut chunk: Vec<Queued> = self.queue.drain(..n).collect();
            self.upload_photos(&mut chunk).await;
            let commands: Vec<FieldCommand> = chunk.iter().map(|q| q.cmd.clone()).collect();
            match self.http.batch(&commands).await {
                Ok(results) => {
                    self.out.batches += 1;
                    for (q, r) in chunk.iter().zip(&results) {
                        self.live.commands.fetch_add(1, Ordering::Relaxed);
                        self.count_first(&q.cmd, r, q.asset_id, Some(q.expect));
                    }
                    self.out.offline_sent.extend(commands);
                    self.resend_batch(&chunk, &results).await;
                }
                Err(e) => {
                    for q in &chunk {
                        self.live.commands.fetch_add(1, Ordering::Relaxed);
                        self.live.failed.fetch_add(1, Ordering::Relaxed);
                        self.out.tallies.failed(q.cmd.action, false);
                    }
                    self.error(format!("batch of {n}: {e:#}"));
                }
            }
        }
    }

    /// `POST /api/v1/photos` for each queued photo; the command then references its hash.
    async fn upload_photos(&mut self, chunk: &mut [Queued]) {
        for q in chunk.iter_mut() {
            let Some(png) = q.photo.take() else {
                continue;
            };
            match self.http.upload_photo(&png).await {
                Ok(stored) => {
                    self.out.photos_uploaded += 1;
                    q.cmd.photos.push(stored.sha256);
                }
                Err(e) => self.error(format!("photo for {}: {e:#}", q.cmd.id)),
            }
        }
    }

    /// Re-sends a share of a flushed batch (its answer was "lost"): every one must come back
    /// `duplicate` with the first outcome.
    async fn resend_batch(&mut self, chunk: &[Queued], first: &[CommandResult]) {
        let picked: Vec<usize> = (0..chunk.len())
            .filter(|_| self.rng.gen_bool(self.cfg.duplicate_share))
            .collect();
        if picked.is_empty() {
            return;
        }
        let commands: Vec<FieldCommand> = picked.iter().map(|&k| chunk[k].cmd.clone()).collect();
        match self.http.batch(&commands).await {
            Ok(results) => {
                for (&k, r) in picked.iter().zip(&results) {
                    self.out.tallies.resent(chunk[k].cmd.action, r);
                    self.live.duplicates.fetch_add(1, Ordering::Relaxed);
                    if !same_outcome(&first[k], r) {
                        self.inconsistent(format!(
                            "re-flushed {} {} was answered {:?} {:?} (first: {:?} {:?})",
                            chunk[k].cmd.action.as_str(),
                            chunk[k].cmd.id,
                            r.status,
                            r.error.as_ref().map(|e| &e.error),
                            first[k].status,
                            first[k].error.as_ref().map(|e| &e.error)
                        ));
                    }
                }
            }
            Err(e) => {
                for &k in &picked {
                    self.out.tallies.failed(chunk[k].cmd.action, true);
                }
                self.error(format!("re-flushed batch of {}: {e:#}", picked.len()));
            }
        }
    }

    // ---- bookkeeping -------------------------------------------------------------------------

    /// Counts a first answer, records applied state changes and checks what the phone can:
    /// the answer is about this command and the asset the phone meant, a new id is never a
    /// duplicate, and an offline command expected to be superseded is not applied.
    fn count_first(
        &mut self,
        cmd: &FieldCommand,
        r: &CommandResult,
        asset_id: Uuid,
        expect: Option<Option<&'static str>>,
    ) {
        self.out.tallies.first(cmd.action, r);
        let counter = match r.status {
            CommandStatus::Applied => &self.live.applied,
            CommandStatus::Duplicate => &self.live.duplicates,
            CommandStatus::Rejected => &self.live.rejected,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if r.id != cmd.id {
            self.inconsistent(format!("command {} was answered as {}", cmd.id, r.id));
        }
        let answered_about = r.asset.as_ref().map(|a| a.id);
        if answered_about.is_some_and(|a| a != asset_id) {
            self.inconsistent(format!(
                "{} {} (code {:?}, decoded {:?}) was answered about asset {answered_about:?}, \
                 not {asset_id}",
                cmd.action.as_str(),
                cmd.id,
                cmd.code,
                r.decoded
            ));
        }
        if r.status == CommandStatus::Duplicate {
            self.inconsistent(format!(
                "new command {} ({}) was answered duplicate",
                cmd.id,
                cmd.action.as_str()
            ));
        }
        if let Some(Some(reason)) = expect {
            let got = r.error.as_ref().map(|e| e.error.as_str());
            if r.status == CommandStatus::Applied {
                self.inconsistent(format!(
                    "{} {} should have been {reason} (a newer command changed the asset) but \
                     was applied",
                    cmd.action.as_str(),
                    cmd.id
                ));
            } else if got != Some(reason) {
                self.inconsistent(format!(
                    "{} {} was rejected {got:?}, expected {reason}",
                    cmd.action.as_str(),
                    cmd.id
                ));
            }
        }
        if r.status == CommandStatus::Applied && cmd.action.changes_state() {
            self.record_change(cmd, r);
        }
    }

    fn record_change(&mut self, cmd: &FieldCommand, r: &CommandResult) {
        let (Some(asset), Some(site_id)) = (&r.asset, cmd.site_id) else {
            self.inconsistent(format!(
                "applied {} {} has no asset or site",
                cmd.action.as_str(),
                cmd.id
            ));
            return;
        };
        let change = StateChange {
            action: cmd.action,
            site_id,
            device_time: cmd.device_time,
            status: asset.status,
        };
        let newer = self
            .out
            .changes
            .get(&asset.id)
            .is_none_or(|c| c.device_time < change.device_time);
        if newer {
            self.out.changes.insert(asset.id, change);
        }
    }

    fn inconsistent(&mut self, msg: String) {
        self.out.inconsistencies.push(msg);
    }

    fn error(&mut self, msg: String) {
        if self.out.errors.len() < KEEP_ERRORS {
            self.out.errors.push(msg);
        }
    }
}

/// A re-send's answer repeats the first: `duplicate`, about the same asset, with the same error.
fn same_outcome(first: &CommandResult, again: &CommandResult) -> bool {
    again.status == CommandStatus::Duplicate
        && again.id == first.id
        && again.error.as_ref().map(|e| &e.error) == first.error.as_ref().map(|e| &e.error)
        && again.asset.as_ref().map(|a| a.id) == first.asset.as_ref().map(|a| a.id)
}

fn pick(sites: &[Site], rng: &mut StdRng) -> Site {
    // Discovery guarantees both lists are non-empty; the fallback is never used.
    sites.choose(rng).cloned().unwrap_or_else(|| Site {
        id: Uuid::nil(),
        name: String::new(),
        kind: SiteKind::Depot,
        address: None,
        location: None,
        geofence: None,
        customer_id: None,
        version: 0,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_device_clock_never_repeats_or_goes_back() {
        let mut c = DeviceClock::default();
        let mut last = c.tick();
        for _ in 0..1000 {
            let t = c.tick();
            assert!(t > last);
            assert_eq!(t.timestamp_subsec_nanos() % 1_000_000, 0);
            last = t;
        }
    }
}
