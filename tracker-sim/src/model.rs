//! Route and physics model of one tracked machine, pure and clock-free so it is unit-testable.
//!
//! The point is plausibility, not accuracy: the gateway, the position history and the meter rules
//! (engine hours never go backwards, odometer follows distance) should see data shaped like real
//! trackers produce — straight-ish drives between sites at road-works speeds, idling at sites with
//! the ignition cycling, hour meters that only move while the engine runs.

use std::f64::consts::PI;

use chrono::{DateTime, TimeDelta, Utc};
use mobile_shared::telemetry::Reading;
use rand::Rng;

/// Slowest cruising speed while driving; machinery on a low-loader or driving itself.
pub const MIN_DRIVE_KMH: f64 = 20.0;
/// Fastest cruising speed while driving.
pub const MAX_DRIVE_KMH: f64 = 60.0;
/// Resting voltage of a healthy 12 V lead-acid battery with the engine off.
pub const MIN_BATTERY_V: f64 = 12.4;
/// Alternator charging voltage with the engine running.
pub const MAX_BATTERY_V: f64 = 14.2;

/// Kilometres per degree of latitude (and of longitude at the equator).
const KM_PER_DEG: f64 = 111.32;
/// Physics sub-step: long gaps between readings are integrated in pieces so that arrivals, ignition
/// toggles and battery charging happen at the right moments.
const MAX_SUBSTEP_S: f64 = 5.0;
/// Upper bound on sub-steps per advance, so a huge gap (a laptop that slept) stays cheap.
const MAX_SUBSTEPS: f64 = 10_000.0;
/// Steering noise around the bearing to the destination: straight-ish, not laser-straight.
const HEADING_NOISE_DEG: f64 = 8.0;
/// How much the cruising speed wanders per sub-step.
const SPEED_JITTER_KMH: f64 = 2.0;
/// Time constant of the battery voltage following the ignition state.
const BATTERY_TAU_S: f64 = 120.0;

/// What the machine is doing between two readings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    /// On the way to site index `to`.
    Driving { to: usize },
    /// Parked at site index `site`; leaves in `leave_in_s`, flips the ignition in `toggle_in_s`.
    AtSite {
        site: usize,
        leave_in_s: f64,
        toggle_in_s: f64,
    },
}

/// Depots and customer sites around Munich (the contract's example position), used when the caller
/// gives none, so a demo shows machines moving somewhere recognisable.
pub fn default_sites() -> Vec<(f64, f64)> {
    vec![
        (48.1371, 11.5754), // city centre depot
        (48.2489, 11.6532), // Garching
        (48.0840, 11.4300), // Planegg
        (48.1800, 11.4600), // Allach
        (48.1010, 11.6700), // Riem
        (48.0430, 11.5150), // Pullach
    ]
}

/// Makes a site list usable by [`MachineModel`]: empty becomes [`default_sites`], a single site
/// gets a companion 5 km away so machines still have somewhere to drive to.
pub fn usable_sites(sites: &[(f64, f64)]) -> Vec<(f64, f64)> {
    match sites {
        [] => default_sites(),
        [(lat, lon)] => vec![
            (*lat, *lon),
            offset_km(*lat, *lon, 3.5, 3.5), // ~5 km north-east
        ],
        many => many.to_vec(),
    }
}

/// The physical state of one machine.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineModel {
    lat: f64,
    lon: f64,
    heading_deg: f64,
    speed_kmh: f64,
    engine_hours: f64,
    odometer_km: f64,
    ignition: bool,
    battery_v: f64,
    phase: Phase,
}

impl MachineModel {
    /// A machine with random meters, parked at or driving away from a random site.
    ///
    /// `sites` must hold at least two entries (see [`usable_sites`]); with fewer the machine simply
    /// idles where it is.
    pub fn new(sites: &[(f64, f64)], rng: &mut impl Rng) -> Self {
        let start = if sites.is_empty() {
            0
        } else {
            rng.gen_range(0..sites.len())
        };
        let (lat, lon) = sites.get(start).copied().unwrap_or((48.1371, 11.5754));
        let ignition = rng.gen_bool(0.5);
        let mut model = MachineModel {
            lat,
            lon,
            heading_deg: rng.gen_range(0.0..360.0),
            speed_kmh: 0.0,
            engine_hours: rng.gen_range(50.0..5000.0),
            odometer_km: rng.gen_range(500.0..80_000.0),
            ignition,
            battery_v: if ignition { 13.9 } else { 12.6 },
            phase: Phase::AtSite {
                site: start,
                leave_in_s: rng.gen_range(30.0..900.0),
                toggle_in_s: rng.gen_range(10.0..300.0),
            },
        };
        // Half the fleet starts mid-drive so a short demo already shows movement.
        if sites.len() >= 2 && rng.gen_bool(0.5) {
            let to = other_site(start, sites.len(), rng);
            let (tlat, tlon) = sites[to];
            let f = rng.gen_range(0.0..0.8);
            model.lat += (tlat - lat) * f;
            model.lon += (tlon - lon) * f;
            model.start_driving(to, rng);
        }
        model
    }

    /// Advances the machine by `dt_s` seconds of real time. Negative or non-finite `dt_s` is
    /// treated as zero, so a clock oddity can never run meters backwards.
    pub fn advance(&mut self, dt_s: f64, sites: &[(f64, f64)], rng: &mut impl Rng) {
        if !dt_s.is_finite() || dt_s <= 0.0 {
            return;
        }
        let step = MAX_SUBSTEP_S.max(dt_s / MAX_SUBSTEPS);
        let mut left = dt_s;
        while left > 0.0 {
            let h = left.min(step);
            self.substep(h, sites, rng);
            left -= h;
        }
    }

    fn substep(&mut self, h: f64, sites: &[(f64, f64)], rng: &mut impl Rng) {
        // The hour meter counts engine time, so it uses the ignition state during this step.
        if self.ignition {
            self.engine_hours += h / 3600.0;
        }
        let target_v = if self.ignition { 13.9 } else { 12.6 };
        self.battery_v += (target_v - self.battery_v) * (1.0 - (-h / BATTERY_TAU_S).exp());
        self.battery_v = self.battery_v.clamp(MIN_BATTERY_V, MAX_BATTERY_V);

        match self.phase {
            Phase::Driving { to } => {
                let Some(&(tlat, tlon)) = sites.get(to) else {
                    self.park(to, rng);
                    return;
                };
                self.speed_kmh = (self.speed_kmh
                    + rng.gen_range(-SPEED_JITTER_KMH..=SPEED_JITTER_KMH))
                .clamp(MIN_DRIVE_KMH, MAX_DRIVE_KMH);
                let travel_km = self.speed_kmh * h / 3600.0;
                let (dist_km, bearing) = distance_bearing(self.lat, self.lon, tlat, tlon);
                if travel_km >= dist_km {
                    self.lat = tlat;
                    self.lon = tlon;
                    self.odometer_km += dist_km;
                    self.park(to, rng);
                } else {
                    let noise = rng.gen_range(-HEADING_NOISE_DEG..=HEADING_NOISE_DEG);
                    self.heading_deg = (bearing + noise).rem_euclid(360.0);
                    (self.lat, self.lon) = move_km(self.lat, self.lon, self.heading_deg, travel_km);
                    self.odometer_km += travel_km;
                }
            }
            Phase::AtSite {
                site,
                leave_in_s,
                toggle_in_s,
            } => {
                self.speed_kmh = 0.0;
                let leave_in_s = leave_in_s - h;
                let mut toggle_in_s = toggle_in_s - h;
                if toggle_in_s <= 0.0 {
                    self.ignition = !self.ignition;
                    toggle_in_s = if self.ignition {
                        rng.gen_range(30.0..600.0)
                    } else {
                        rng.gen_range(30.0..900.0)
                    };
                }
                if leave_in_s <= 0.0 && sites.len() >= 2 {
                    let to = other_site(site, sites.len(), rng);
                    self.start_driving(to, rng);
                } else {
                    self.phase = Phase::AtSite {
                        site,
                        leave_in_s: leave_in_s.max(0.0),
                        toggle_in_s,
                    };
                }
            }
        }
    }

    fn start_driving(&mut self, to: usize, rng: &mut impl Rng) {
        self.ignition = true;
        self.speed_kmh = rng.gen_range(MIN_DRIVE_KMH..=MAX_DRIVE_KMH);
        self.phase = Phase::Driving { to };
    }

    fn park(&mut self, site: usize, rng: &mut impl Rng) {
        self.speed_kmh = 0.0;
        self.phase = Phase::AtSite {
            site,
            leave_in_s: rng.gen_range(120.0..1800.0),
            toggle_in_s: rng.gen_range(30.0..300.0),
        };
    }

    /// What the tracker reports at `ts`: the true state plus GPS and ADC noise, rounded the way
    /// trackers round (keeps payloads small). `engine_hours` only when the tracker has the wire
    /// to the hour meter.
    pub fn reading(&self, ts: DateTime<Utc>, reports_hours: bool, rng: &mut impl Rng) -> Reading {
        let hdop = rng.gen_range(0.6..1.6);
        // Roughly 2.5 m of position noise per unit of HDOP, in a random direction.
        let jitter_km = rng.gen_range(0.0..hdop * 0.0025);
        let (lat, lon) = move_km(self.lat, self.lon, rng.gen_range(0.0..360.0), jitter_km);
        let battery =
            (self.battery_v + rng.gen_range(-0.05..0.05)).clamp(MIN_BATTERY_V, MAX_BATTERY_V);
        let mut r = Reading::at(ts);
        r.lat = Some(round_to(lat, 6));
        r.lon = Some(round_to(lon, 6));
        r.speed_kmh = Some(round_to(self.speed_kmh, 1));
        r.heading_deg = Some(round_to(self.heading_deg, 1).min(360.0));
        r.hdop = Some(round_to(hdop, 1));
        r.engine_hours = reports_hours.then(|| round_to(self.engine_hours, 3));
        r.odometer_km = Some(round_to(self.odometer_km, 3));
        r.ignition = Some(self.ignition);
        r.battery_v = Some(round_to(battery, 2));
        r
    }

    /// True position (without GPS noise), for tests and demos.
    pub fn position(&self) -> (f64, f64) {
        (self.lat, self.lon)
    }

    /// Current speed in km/h: 0 while parked, within the drive bounds while driving.
    pub fn speed_kmh(&self) -> f64 {
        self.speed_kmh
    }

    /// Unrounded engine hours.
    pub fn engine_hours(&self) -> f64 {
        self.engine_hours
    }

    /// Unrounded odometer.
    pub fn odometer_km(&self) -> f64 {
        self.odometer_km
    }

    /// Whether the engine runs.
    pub fn ignition(&self) -> bool {
        self.ignition
    }

    /// Battery voltage without measurement noise.
    pub fn battery_v(&self) -> f64 {
        self.battery_v
    }

    /// What the machine is doing.
    pub fn phase(&self) -> Phase {
        self.phase
    }
}

/// The timestamp for a device's next reading: the real clock at millisecond precision, but always
/// at least 1 ms after the previous reading, because a tracker's readings must be strictly ordered
/// even when two are produced within the same millisecond (or the wall clock steps back).
pub fn next_ts(last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> DateTime<Utc> {
    let now_ms = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
    match last.and_then(|l| l.checked_add_signed(TimeDelta::milliseconds(1))) {
        Some(min) if min > now_ms => min,
        _ => now_ms,
    }
}

fn other_site(current: usize, n: usize, rng: &mut impl Rng) -> usize {
    if n < 2 {
        return current;
    }
    let pick = rng.gen_range(0..n - 1);
    if pick >= current {
        pick + 1
    } else {
        pick
    }
}

/// Equirectangular distance (km) and initial bearing (degrees clockwise from north); accurate
/// enough at the tens-of-kilometres scale of a rental fleet.
pub fn distance_bearing(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> (f64, f64) {
    let mean_lat = ((lat1 + lat2) / 2.0).to_radians();
    let dx = (lon2 - lon1) * mean_lat.cos() * KM_PER_DEG;
    let dy = (lat2 - lat1) * KM_PER_DEG;
    let bearing = dx.atan2(dy) * 180.0 / PI;
    (dx.hypot(dy), bearing.rem_euclid(360.0))
}

fn move_km(lat: f64, lon: f64, heading_deg: f64, km: f64) -> (f64, f64) {
    let h = heading_deg.to_radians();
    let lat2 = lat + km * h.cos() / KM_PER_DEG;
    let lon2 = lon + km * h.sin() / (KM_PER_DEG * lat.to_radians().cos().max(1e-6));
    (lat2, lon2)
}

fn offset_km(lat: f64, lon: f64, north_km: f64, east_km: f64) -> (f64, f64) {
    let (lat, lon) = move_km(lat, lon, 0.0, north_km);
    move_km(lat, lon, 90.0, east_km)
}

fn round_to(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn sites() -> Vec<(f64, f64)> {
        default_sites()
    }

    /// Runs `n` steps of `dt` seconds and hands every intermediate model to `check`.
    fn simulate(seed: u64, n: usize, dt: f64, mut check: impl FnMut(&MachineModel, &MachineModel)) {
        let sites = sites();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut m = MachineModel::new(&sites, &mut rng);
        for _ in 0..n {
            let before = m.clone();
            m.advance(dt, &sites, &mut rng);
            check(&before, &m);
        }
    }

    #[test]
    fn speed_stays_within_bounds() {
        for seed in 0..20 {
            simulate(seed, 2000, 3.0, |_, m| match m.phase() {
                Phase::Driving { .. } => {
                    assert!((MIN_DRIVE_KMH..=MAX_DRIVE_KMH).contains(&m.speed_kmh()));
                    assert!(m.ignition(), "driving with the engine off");
                }
                Phase::AtSite { .. } => assert_eq!(m.speed_kmh(), 0.0),
            });
        }
    }

    #[test]
    fn meters_are_monotonic_and_hours_only_run_with_ignition() {
        for seed in 0..20 {
            simulate(seed, 3000, 2.0, |before, after| {
                assert!(after.odometer_km() >= before.odometer_km());
                assert!(after.engine_hours() >= before.engine_hours());
                if !before.ignition() && !after.ignition() {
                    assert_eq!(after.engine_hours(), before.engine_hours());
                }
            });
        }
    }

    #[test]
    fn engine_hours_track_ignition_time_exactly() {
        let sites = sites();
        let mut rng = StdRng::seed_from_u64(7);
        let mut m = MachineModel::new(&sites, &mut rng);
        let mut on_seconds = 0.0;
        let start = m.engine_hours();
        for _ in 0..5000 {
            // One sub-step per advance, so the ignition state before it is the one counted.
            if m.ignition() {
                on_seconds += 1.0;
            }
            m.advance(1.0, &sites, &mut rng);
        }
        assert!((m.engine_hours() - start - on_seconds / 3600.0).abs() < 1e-9);
    }

    #[test]
    fn odometer_follows_distance_driven() {
        let sites = sites();
        let mut rng = StdRng::seed_from_u64(3);
        let mut m = MachineModel::new(&sites, &mut rng);
        for _ in 0..2000 {
            let (lat0, lon0) = m.position();
            let odo0 = m.odometer_km();
            m.advance(1.0, &sites, &mut rng);
            let (lat1, lon1) = m.position();
            let (moved, _) = distance_bearing(lat0, lon0, lat1, lon1);
            // Equirectangular in both directions, so the two agree closely step by step.
            assert!((m.odometer_km() - odo0 - moved).abs() < 1e-3, "{moved}");
            // 1 s at 60 km/h is at most ~17 m.
            assert!(moved <= MAX_DRIVE_KMH / 3600.0 + 1e-6);
        }
    }

    #[test]
    fn machines_drive_between_sites_and_park() {
        let sites = sites();
        let mut arrivals = 0;
        let mut departures = 0;
        for seed in 0..10 {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut m = MachineModel::new(&sites, &mut rng);
            let mut was_driving = matches!(m.phase(), Phase::Driving { .. });
            // Two simulated days in 10 s steps.
            for _ in 0..(2 * 24 * 360) {
                m.advance(10.0, &sites, &mut rng);
                let driving = matches!(m.phase(), Phase::Driving { .. });
                if was_driving && !driving {
                    arrivals += 1;
                    let Phase::AtSite { site, .. } = m.phase() else {
                        unreachable!()
                    };
                    assert_eq!(m.position(), sites[site], "parks exactly at the site");
                }
                if !was_driving && driving {
                    departures += 1;
                }
                was_driving = driving;
                // Never far outside the sites' bounding box (heading noise is small).
                let (lat, lon) = m.position();
                assert!((47.9..48.4).contains(&lat) && (11.3..11.8).contains(&lon));
            }
        }
        assert!(arrivals > 20 && departures > 20, "{arrivals} {departures}");
    }

    #[test]
    fn battery_and_reading_fields_are_plausible() {
        let sites = sites();
        let mut rng = StdRng::seed_from_u64(11);
        let mut m = MachineModel::new(&sites, &mut rng);
        let now = Utc::now();
        for i in 0..3000 {
            m.advance(7.0, &sites, &mut rng);
            assert!((MIN_BATTERY_V..=MAX_BATTERY_V).contains(&m.battery_v()));
            let r = m.reading(now, i % 2 == 0, &mut rng);
            let v = r.battery_v.unwrap();
            assert!((MIN_BATTERY_V..=MAX_BATTERY_V).contains(&v));
            assert!((0.0..=360.0).contains(&r.heading_deg.unwrap()));
            assert_eq!(r.engine_hours.is_some(), i % 2 == 0);
            assert!(mobile_shared::telemetry::validate(&r, now, &Default::default()).is_ok());
        }
    }

    #[test]
    fn battery_charges_with_engine_on_and_rests_with_it_off() {
        let sites = sites();
        let mut rng = StdRng::seed_from_u64(5);
        let mut m = MachineModel::new(&sites, &mut rng);
        m.ignition = true;
        m.phase = Phase::Driving { to: 1 };
        for _ in 0..200 {
            m.substep(5.0, &sites, &mut rng);
        }
        assert!(m.battery_v() > 13.7, "{}", m.battery_v());
        m.ignition = false;
        m.phase = Phase::AtSite {
            site: 0,
            leave_in_s: 1e9,
            toggle_in_s: 1e9,
        };
        for _ in 0..200 {
            m.substep(5.0, &sites, &mut rng);
        }
        assert!(m.battery_v() < 12.8, "{}", m.battery_v());
    }

    #[test]
    fn bad_dt_changes_nothing() {
        let sites = sites();
        let mut rng = StdRng::seed_from_u64(1);
        let mut m = MachineModel::new(&sites, &mut rng);
        let before = m.clone();
        for dt in [0.0, -5.0, f64::NAN, f64::NEG_INFINITY] {
            m.advance(dt, &sites, &mut rng);
        }
        assert_eq!(m, before);
        // A huge gap is bounded work and still monotonic.
        m.advance(30.0 * 86_400.0, &sites, &mut rng);
        assert!(m.engine_hours() >= before.engine_hours());
    }

    #[test]
    fn timestamps_strictly_increase_at_millisecond_precision() {
        let t0 = DateTime::parse_from_rfc3339("2026-11-23T08:15:02.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        let a = next_ts(None, t0);
        assert_eq!(a.timestamp_subsec_nanos(), 123_000_000);
        // Same instant again, and a clock that stepped back: still strictly later.
        let b = next_ts(Some(a), t0);
        let c = next_ts(Some(b), t0 - TimeDelta::seconds(5));
        assert_eq!(b - a, TimeDelta::milliseconds(1));
        assert_eq!(c - b, TimeDelta::milliseconds(1));
        let later = t0 + TimeDelta::seconds(2);
        assert_eq!(next_ts(Some(c), later), a + TimeDelta::seconds(2));
    }

    #[test]
    fn site_lists_are_made_usable() {
        assert_eq!(usable_sites(&[]), default_sites());
        let two = usable_sites(&[(48.0, 11.0)]);
        assert_eq!(two.len(), 2);
        let (d, _) = distance_bearing(two[0].0, two[0].1, two[1].0, two[1].1);
        assert!((4.5..5.5).contains(&d), "{d}");
        let (d, b) = distance_bearing(48.0, 11.0, 48.1, 11.0);
        assert!((d - 11.132).abs() < 1e-3 && b.abs() < 1e-9);
    }
}
