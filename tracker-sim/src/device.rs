//! One simulated tracker: the machine it sits on plus what the tracker itself adds — a clock, an
//! offline buffer flushed as arrays, its topics, and the odd malformed message.

use std::collections::VecDeque;
use std::ops::RangeInclusive;

use chrono::{DateTime, Utc};
use mobile_shared::telemetry::{Reading, Topic};
use rand::rngs::StdRng;
use rand::Rng;
use rumqttc::ClientError;

use crate::connection::Publisher;
use crate::fleet::{DeviceSpec, Shared};
use crate::model::{next_ts, MachineModel};
use crate::summary::bump;
use crate::wire::{encode_flush, encode_reading, MalformedKind};

/// Readings a tracker keeps while offline; older ones are dropped (and counted) beyond this, as
/// real trackers have a fixed ring buffer and a simulator must not grow without bound either.
pub const OFFLINE_BUFFER_CAP: usize = 500;

/// Readings an intermittently connected tracker sends before dropping out.
const ONLINE_TICKS: RangeInclusive<u32> = 5..=30;
/// Readings it buffers while out of coverage.
const OFFLINE_TICKS: RangeInclusive<u32> = 5..=40;
/// The first online stretch is short so even a short run sees an outage.
const FIRST_ONLINE_TICKS: RangeInclusive<u32> = 0..=5;

/// Coverage state of an intermittently connected tracker.
#[derive(Debug, Clone, Copy)]
struct Outage {
    offline: bool,
    ticks_left: u32,
}

/// One simulated tracker: the machine it sits on plus what the tracker itself adds (a clock,
/// an offline buffer, its topics).
pub(crate) struct SimDevice {
    telemetry_topic: String,
    pub(crate) status_topic: String,
    model: MachineModel,
    reports_hours: bool,
    last_ts: Option<DateTime<Utc>>,
    outage: Option<Outage>,
    buffer: VecDeque<Reading>,
}

impl SimDevice {
    pub(crate) fn new(spec: DeviceSpec, sites: &[(f64, f64)], rng: &mut StdRng) -> Self {
        SimDevice {
            telemetry_topic: Topic::Telemetry {
                device_id: spec.id.clone(),
            }
            .to_string(),
            status_topic: Topic::Status { device_id: spec.id }.to_string(),
            model: MachineModel::new(sites, rng),
            reports_hours: spec.hours,
            last_ts: None,
            outage: spec.offline.then(|| Outage {
                offline: false,
                ticks_left: rng.gen_range(FIRST_ONLINE_TICKS),
            }),
            buffer: VecDeque::new(),
        }
    }

    /// Produces one reading and sends, buffers or spoils it.
    pub(crate) async fn tick(
        &mut self,
        out: &mut Publisher,
        rng: &mut StdRng,
    ) -> Result<(), ClientError> {
        let shared = out.shared.clone();
        let now = Utc::now();
        let ts = next_ts(self.last_ts, now);
        let dt = self
            .last_ts
            .map_or(0.0, |last| (ts - last).num_milliseconds() as f64 / 1000.0);
        self.last_ts = Some(ts);
        self.model.advance(dt, &shared.sites, rng);
        let reading = self.model.reading(ts, self.reports_hours, rng);
        bump(&shared.counters.messages, 1);

        if let Some(mut o) = self.outage {
            if !o.offline && o.ticks_left == 0 {
                o.offline = true;
                o.ticks_left = rng.gen_range(OFFLINE_TICKS);
                // What the broker would publish from the last will once the keep-alive expires.
                out.status(&self.status_topic, false).await?;
            }
            if o.offline {
                self.buffer_reading(reading, &shared);
                o.ticks_left = o.ticks_left.saturating_sub(1);
                if o.ticks_left == 0 {
                    o.offline = false;
                    o.ticks_left = rng.gen_range(ONLINE_TICKS);
                    self.outage = Some(o);
                    out.status(&self.status_topic, true).await?;
                    return self.flush(out).await;
                }
                self.outage = Some(o);
                return Ok(());
            }
            o.ticks_left = o.ticks_left.saturating_sub(1);
            self.outage = Some(o);
        }

        if shared.malformed_share > 0.0 && rng.gen_bool(shared.malformed_share) {
            let kind = MalformedKind::ALL[rng.gen_range(0..MalformedKind::ALL.len())];
            out.telemetry(&self.telemetry_topic, kind.payload(&reading, now))
                .await?;
            bump(&shared.counters.malformed[kind.index()], 1);
        } else {
            out.telemetry(&self.telemetry_topic, encode_reading(&reading))
                .await?;
            bump(&shared.counters.readings_sent, 1);
        }
        Ok(())
    }

    fn buffer_reading(&mut self, reading: Reading, shared: &Shared) {
        if self.buffer.len() >= OFFLINE_BUFFER_CAP {
            self.buffer.pop_front();
            bump(&shared.counters.buffer_dropped, 1);
        }
        self.buffer.push_back(reading);
    }

    /// Sends the offline buffer as JSON arrays (oldest first) and empties it.
    async fn flush(&mut self, out: &mut Publisher) -> Result<(), ClientError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let shared = out.shared.clone();
        let readings = self.buffer.len() as u64;
        let arrays = encode_flush(self.buffer.iter());
        self.buffer.clear();
        bump(&shared.counters.offline_flushes, 1);
        for payload in arrays {
            out.telemetry(&self.telemetry_topic, payload).await?;
            bump(&shared.counters.arrays_sent, 1);
        }
        bump(&shared.counters.readings_sent, readings);
        Ok(())
    }

    /// End of the run: a tracker still out of coverage comes back and flushes, so nothing it
    /// recorded is lost; then it says goodbye the way a graceful disconnect does (no last will).
    pub(crate) async fn finish(&mut self, out: &mut Publisher) -> Result<(), ClientError> {
        if self.outage.is_some_and(|o| o.offline) {
            out.status(&self.status_topic, true).await?;
        }
        self.flush(out).await?;
        out.status(&self.status_topic, false).await
    }
}
