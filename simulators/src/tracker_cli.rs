//! `fieldops-sim trackers`: the command-line front end of the `tracker-sim` crate.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rumqttc::QoS;
use simulators::parse_broker_url;
use tracker_sim::{
    numbered_devices, run_fleet_with_progress, DeviceCreds, FleetConfig, FleetProgress, ProgressFn,
};

#[derive(Debug, Args)]
pub struct TrackerArgs {
    /// Broker URL.
    #[arg(
        long,
        env = "FIELDOPS_SIM_BROKER",
        default_value = "mqtt://127.0.0.1:1883"
    )]
    broker: String,
    /// Number of simulated devices (ignored with --credentials).
    #[arg(long, default_value_t = 10)]
    devices: usize,
    /// Device ids are <prefix><zero-padded number from 1>.
    #[arg(long, default_value = "sim-")]
    device_prefix: String,
    /// One MQTT password for every device; the username is then the device id.
    #[arg(long, env = "FIELDOPS_SIM_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// File with one `device_id password` per line (from `fieldops device add`); replaces
    /// --devices, --device-prefix and --password.
    #[arg(long)]
    credentials: Option<PathBuf>,
    /// Share K MQTT connections among all devices instead of one connection per device.
    #[arg(long)]
    connections: Option<usize>,
    /// Messages per second across the fleet; 0 = as fast as the broker accepts.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Stop after this many messages.
    #[arg(long, conflicts_with = "duration")]
    messages: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long)]
    duration: Option<f64>,
    /// Fraction of devices that go offline now and then and flush their buffer as an array.
    #[arg(long, default_value_t = 0.0)]
    offline_share: f64,
    /// Fraction of messages deliberately malformed.
    #[arg(long, default_value_t = 0.0)]
    malformed_share: f64,
    /// Fraction of devices reporting engine hours (the rest only ignition).
    #[arg(long, default_value_t = 0.7)]
    hour_meter_share: f64,
    /// Shuffle which device publishes next.
    #[arg(long)]
    random_order: bool,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// MQTT QoS (0, 1 or 2).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=2))]
    qos: u8,
    /// No progress bar (e.g. in CI logs).
    #[arg(long)]
    no_progress: bool,
}

/// Runs the fleet until its limits or Ctrl-C and prints the summary; fails when the broker did
/// not acknowledge everything.
pub async fn run(args: TrackerArgs) -> Result<ExitCode> {
    let (host, port) = parse_broker_url(&args.broker)?;
    let devices = match &args.credentials {
        Some(path) => read_credentials(path)?,
        None => numbered_devices(&args.device_prefix, args.devices, args.password.as_deref()),
    };
    let duration = match args.duration {
        Some(s) if s.is_finite() && s > 0.0 => Some(Duration::from_secs_f64(s)),
        Some(s) => bail!("--duration must be a positive number of seconds, got {s}"),
        None => None,
    };
    let mut config = FleetConfig::new(host, port, devices);
    config.connections = args.connections;
    config.rate_per_sec = args.rate;
    config.total_messages = args.messages;
    config.duration = duration;
    config.offline_share = args.offline_share;
    config.malformed_share = args.malformed_share;
    config.hour_meter_share = args.hour_meter_share;
    config.random_order = args.random_order;
    config.seed = args.seed;
    config.qos = match args.qos {
        0 => QoS::AtMostOnce,
        2 => QoS::ExactlyOnce,
        _ => QoS::AtLeastOnce,
    };
    let qos = config.qos;

    let bar = (!args.no_progress).then(|| {
        let bar = match config.total_messages {
            Some(total) => ProgressBar::new(total),
            None => ProgressBar::new_spinner(),
        };
        let template = if config.total_messages.is_some() {
            "[{elapsed_precise}] {bar:30} {pos}/{len} {msg}"
        } else {
            "{spinner} [{elapsed_precise}] {pos} messages {msg}"
        };
        bar.set_style(
            ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });
    let summary = run_fleet_with_progress(
        config,
        crate::ctrl_c(),
        bar.clone().map(progress_bar_callback),
    )
    .await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    println!("{summary}");
    if qos != QoS::AtMostOnce && summary.unacked() > 0 {
        eprintln!(
            "fieldops-sim: {} messages were not acknowledged by the broker",
            summary.unacked()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads `device_id password` lines; blank lines and `#` comments are skipped.
fn read_credentials(path: &Path) -> Result<Vec<DeviceCreds>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading credentials from {}", path.display()))?;
    let mut devices = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(id), password, None) = (parts.next(), parts.next(), parts.next()) else {
            bail!(
                "{}:{}: expected `device_id [password]`",
                path.display(),
                i + 1
            );
        };
        devices.push(DeviceCreds {
            device_id: id.to_owned(),
            username: password.map(|_| id.to_owned()),
            password: password.map(str::to_owned),
        });
    }
    if devices.is_empty() {
        bail!("{} lists no devices", path.display());
    }
    Ok(devices)
}

/// A [`ProgressFn`] that drives an `indicatif` bar: position = messages, message = acks and faults.
fn progress_bar_callback(bar: ProgressBar) -> ProgressFn {
    Arc::new(move |p: &FleetProgress| {
        if let Some(total) = p.target_messages {
            bar.set_length(total);
        }
        bar.set_position(p.messages);
        let rate = if p.elapsed.is_zero() {
            0.0
        } else {
            p.messages as f64 / p.elapsed.as_secs_f64()
        };
        bar.set_message(format!(
            "{rate:.0}/s, acked {}, malformed {}, flushes {}, conn failures {}",
            p.acked, p.malformed, p.offline_flushes, p.connect_failures
        ));
    })
}
