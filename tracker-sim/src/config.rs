//! Who the simulated trackers are and how the fleet behaves: [`DeviceCreds`] and [`FleetConfig`].

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use mobile_shared::telemetry::is_valid_device_id;
use rumqttc::QoS;

use crate::FleetError;

/// Refuses a setting: `return Err(FleetError::Config(..))` with a formatted message.
macro_rules! refuse {
    ($($message:tt)*) => {
        return Err(FleetError::Config(format!($($message)*)))
    };
}

/// One tracker's identity and broker credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceCreds {
    /// Device id, as in `fieldops/v1/<device_id>/telemetry`; no `/`.
    pub device_id: String,
    /// MQTT username; when `None` but a password is set, the device id is used (that is how
    /// `fieldops device add` credentials work).
    pub username: Option<String>,
    /// MQTT password (e.g. the `mqtt_password` from `POST /api/v1/devices`).
    pub password: Option<String>,
}

impl DeviceCreds {
    /// A device on a broker that allows anonymous clients (a local Mosquitto).
    pub fn anonymous(device_id: impl Into<String>) -> Self {
        DeviceCreds {
            device_id: device_id.into(),
            username: None,
            password: None,
        }
    }

    /// The username/password pair to log in with, if any.
    pub(crate) fn login(&self) -> Option<(String, String)> {
        match (&self.username, &self.password) {
            (Some(u), p) => Some((u.clone(), p.clone().unwrap_or_default())),
            (None, Some(p)) => Some((self.device_id.clone(), p.clone())),
            (None, None) => None,
        }
    }
}

/// Hand-written so a password never ends up in a log line or a test failure message.
impl fmt::Debug for DeviceCreds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceCreds")
            .field("device_id", &self.device_id)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// `count` devices named `<prefix><n>` with zero-padded numbers from 1 (so ids sort naturally),
/// all with the same password if one is given (load tests against one shared credential).
pub fn numbered_devices(prefix: &str, count: usize, password: Option<&str>) -> Vec<DeviceCreds> {
    let width = count.max(1).to_string().len();
    (1..=count)
        .map(|i| {
            let device_id = format!("{prefix}{i:0width$}");
            DeviceCreds {
                username: password.map(|_| device_id.clone()),
                password: password.map(str::to_owned),
                device_id,
            }
        })
        .collect()
}

/// What to simulate and how hard. Start from [`FleetConfig::new`] and change fields.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// Broker host name or IP.
    pub broker_host: String,
    /// Broker TCP port.
    pub broker_port: u16,
    /// The trackers; ids must be unique.
    pub devices: Vec<DeviceCreds>,
    /// `None`: one MQTT connection per device, with an `online` status on connect and an
    /// `offline` last will, like real trackers. `Some(k)`: `k` connections, each publishing for a
    /// share of the devices (device `i` on connection `i % k`), for 100k-device load tests where
    /// 100k sockets would measure the kernel rather than the gateway. Shared connections log in
    /// with the credentials of their first device, send no status messages, and so need a broker
    /// that does not restrict topics per device.
    pub connections: Option<usize>,
    /// Telemetry messages per second across the fleet; 0 = as fast as the broker accepts them.
    pub rate_per_sec: f64,
    /// Stop after this many messages (readings produced, whether sent at once, buffered or
    /// malformed).
    pub total_messages: Option<u64>,
    /// Stop after this long. With neither limit the fleet runs until `shutdown`.
    pub duration: Option<Duration>,
    /// Depots and customer sites (lat, lon) the machines drive between; empty = around Munich
    /// ([`default_sites`](crate::default_sites)).
    pub sites: Vec<(f64, f64)>,
    /// Fraction of devices with patchy coverage: they repeatedly go offline for a few readings,
    /// buffer them (at most [`OFFLINE_BUFFER_CAP`](crate::OFFLINE_BUFFER_CAP)) and flush the buffer as a JSON array when back.
    /// Any positive share gives at least one such device.
    pub offline_share: f64,
    /// Fraction of messages deliberately malformed, spread evenly over [`MalformedKind::ALL`](crate::MalformedKind::ALL).
    pub malformed_share: f64,
    /// Fraction of devices wired to the engine hour meter (they report `engine_hours`); the rest
    /// report only ignition, as cheap trackers do.
    pub hour_meter_share: f64,
    /// Shuffle the device order every round instead of going round-robin, so the gateway sees
    /// assets in random order as from a real fleet rather than in id order.
    pub random_order: bool,
    /// Seed for everything random except the clock, so runs are comparable.
    pub seed: u64,
    /// MQTT QoS for telemetry and status; trackers use at-least-once.
    pub qos: QoS,
}

impl FleetConfig {
    /// A gentle default: 10 msg/s, round-robin, no faults, 70% of devices with an hour meter,
    /// sites around Munich, QoS 1, running until shutdown.
    pub fn new(
        broker_host: impl Into<String>,
        broker_port: u16,
        devices: Vec<DeviceCreds>,
    ) -> Self {
        FleetConfig {
            broker_host: broker_host.into(),
            broker_port,
            devices,
            connections: None,
            rate_per_sec: 10.0,
            total_messages: None,
            duration: None,
            sites: Vec::new(),
            offline_share: 0.0,
            malformed_share: 0.0,
            hour_meter_share: 0.7,
            random_order: false,
            seed: 1,
            qos: QoS::AtLeastOnce,
        }
    }

    /// Refuses settings that would panic later or silently do something else.
    pub(crate) fn check(&self) -> Result<(), FleetError> {
        if self.devices.is_empty() {
            refuse!("a fleet needs at least one device");
        }
        let mut seen = HashSet::new();
        for d in &self.devices {
            if !is_valid_device_id(&d.device_id) || d.device_id.contains('/') {
                refuse!(
                    "invalid device id {:?}: 1-64 characters of A-Z a-z 0-9 . _ : -",
                    d.device_id
                );
            }
            if !seen.insert(d.device_id.as_str()) {
                refuse!("device id {:?} appears twice", d.device_id);
            }
        }
        for (name, share) in [
            ("offline_share", self.offline_share),
            ("malformed_share", self.malformed_share),
            ("hour_meter_share", self.hour_meter_share),
        ] {
            if !(0.0..=1.0).contains(&share) {
                refuse!("{name} must be between 0 and 1, got {share}");
            }
        }
        if !self.rate_per_sec.is_finite() || self.rate_per_sec < 0.0 {
            refuse!(
                "rate_per_sec must be a finite number >= 0, got {}",
                self.rate_per_sec
            );
        }
        if self.connections == Some(0) {
            refuse!("connections must be at least 1");
        }
        for (lat, lon) in &self.sites {
            if !(-90.0..=90.0).contains(lat) || !(-180.0..=180.0).contains(lon) {
                refuse!("site ({lat}, {lon}) is not a valid position");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn numbered_devices_pad_and_use_the_id_as_username() {
        let d = numbered_devices("sim-", 100, Some("pw"));
        assert_eq!(d.len(), 100);
        assert_eq!(d[0].device_id, "sim-001");
        assert_eq!(d[99].device_id, "sim-100");
        assert_eq!(d[0].login(), Some(("sim-001".into(), "pw".into())));
        assert_eq!(numbered_devices("x", 3, None)[2].login(), None);
        assert!(!format!("{:?}", d[0]).contains("pw\""));
    }

    #[test]
    fn bad_configs_are_refused() {
        let ok = FleetConfig::new("127.0.0.1", 1883, numbered_devices("sim-", 3, None));
        assert!(ok.check().is_ok());
        let mut c = ok.clone();
        c.devices.clear();
        assert!(c.check().is_err());
        let mut c = ok.clone();
        c.devices.push(DeviceCreds::anonymous("sim-1"));
        assert!(c.check().is_err(), "duplicate id");
        let mut c = ok.clone();
        c.devices.push(DeviceCreds::anonymous("a/b"));
        assert!(c.check().is_err());
        let mut c = ok.clone();
        c.malformed_share = 1.5;
        assert!(c.check().is_err());
        let mut c = ok.clone();
        c.rate_per_sec = f64::NAN;
        assert!(c.check().is_err());
        let mut c = ok.clone();
        c.connections = Some(0);
        assert!(c.check().is_err());
        let mut c = ok;
        c.sites = vec![(95.0, 0.0)];
        assert!(c.check().is_err());
    }
}
