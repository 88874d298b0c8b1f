//! Plausibility checks on one decoded reading, separate from decoding so a batch can keep its
//! good readings and so simulators can build deliberately bad ones.
//!
//! Checks run in a fixed order (finite numbers, time window, position, meters, other ranges) so
//! a reading with several faults always gets the same reject code.

use chrono::{DateTime, Utc};

use super::reject::RejectReason;
use super::{Limits, Reading};

/// Accepts a reading, or says the first thing wrong with it.
///
/// Stateless on purpose: engine hours or odometer going backwards needs the previous reading and
/// is the server's job.
pub fn validate(
    reading: &Reading,
    now: DateTime<Utc>,
    limits: &Limits,
) -> Result<(), RejectReason> {
    for (field, value) in reading.numeric_fields() {
        if value.is_some_and(|v| !v.is_finite()) {
            return Err(RejectReason::NotFinite { field });
        }
    }

    // An unrepresentable bound means the limit is effectively unlimited.
    if now
        .checked_add_signed(limits.max_future)
        .is_some_and(|latest| reading.ts > latest)
    {
        return Err(RejectReason::FutureTimestamp { ts: reading.ts });
    }
    if now
        .checked_sub_signed(limits.max_age)
        .is_some_and(|earliest| reading.ts < earliest)
    {
        return Err(RejectReason::TooOld { ts: reading.ts });
    }

    match (reading.lat, reading.lon) {
        (Some(lat), Some(lon)) => {
            if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
                return Err(RejectReason::LatLonOutOfRange { lat, lon });
            }
            if lat == 0.0 && lon == 0.0 {
                return Err(RejectReason::NullIsland);
            }
        }
        (None, None) => {}
        _ => return Err(RejectReason::LatWithoutLon),
    }

    for (field, value) in [
        ("engine_hours", reading.engine_hours),
        ("odometer_km", reading.odometer_km),
    ] {
        if let Some(value) = value.filter(|v| *v < 0.0) {
            return Err(RejectReason::NegativeMeter { field, value });
        }
    }

    let ranges: [(&'static str, Option<f64>, f64, f64); 6] = [
        ("accuracy_m", reading.accuracy_m, 0.0, f64::MAX),
        ("speed_kmh", reading.speed_kmh, 0.0, f64::MAX),
        ("heading_deg", reading.heading_deg, 0.0, 360.0),
        ("hdop", reading.hdop, 0.0, f64::MAX),
        ("battery_v", reading.battery_v, 0.0, f64::MAX),
        ("battery_pct", reading.battery_pct, 0.0, 100.0),
    ];
    for (field, value, min, max) in ranges {
        if let Some(value) = value.filter(|v| !(min..=max).contains(v)) {
            return Err(RejectReason::ValueOutOfRange { field, value });
        }
    }
    Ok(())
}
