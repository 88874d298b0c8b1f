//! `fieldops-sim phone`: the command-line front end of [`simulators::phone`].

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use simulators::phone::{progress_bar_callback, run_phones, PhoneConfig, StocktakeChoice};

#[derive(Debug, Args)]
pub struct PhoneArgs {
    /// Server base URL.
    #[arg(
        long,
        env = "FIELDOPS_SIM_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    url: String,
    /// User the phones log in as (a technician, or an admin on a fresh registry: the
    /// simulation creates a customer site or a depot if there is none).
    #[arg(long, env = "FIELDOPS_SIM_USERNAME")]
    username: String,
    #[arg(long, env = "FIELDOPS_SIM_PASSWORD", hide_env_values = true)]
    password: String,
    /// Concurrent simulated technicians.
    #[arg(long, default_value_t = 4)]
    phones: usize,
    /// Delivery/return cycles per phone.
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// Share of deliveries and returns sent with a photo of the asset's label (the server
    /// decodes the QR code) instead of the scanned code.
    #[arg(long, default_value_t = 0.3)]
    photo_share: f64,
    /// Share of rounds done offline: queued with device times, flushed later as batches.
    #[arg(long, default_value_t = 0.3)]
    offline_share: f64,
    /// Share of commands sent again with the same id (a lost answer); each must be answered
    /// `duplicate`.
    #[arg(long, default_value_t = 0.1)]
    duplicate_share: f64,
    /// Site to count at the end with RFID bursts: its id or name, `auto` (the depot holding most
    /// of the simulated assets) or `off`.
    #[arg(long, default_value = "auto")]
    stocktake: String,
    /// Most assets of that site that are tagged and read.
    #[arg(long, default_value_t = 400)]
    stocktake_assets: usize,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Exit non-zero for rejections the simulation does not provoke too (not only for 5xx,
    /// missing answers and inconsistent answers).
    #[arg(long)]
    strict: bool,
    /// No progress bar (e.g. in CI logs).
    #[arg(long)]
    no_progress: bool,
}

pub async fn run(args: PhoneArgs) -> Result<ExitCode> {
    let mut config = PhoneConfig::new(&args.url, &args.username, &args.password);
    config.phones = args.phones;
    config.rounds = args.rounds;
    config.photo_share = args.photo_share;
    config.offline_share = args.offline_share;
    config.duplicate_share = args.duplicate_share;
    config.stocktake = args.stocktake.parse().unwrap_or(StocktakeChoice::Auto);
    config.stocktake_assets = args.stocktake_assets;
    config.seed = args.seed;

    let bar = (!args.no_progress).then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("[{elapsed_precise}] {bar:30} {pos}/{len} commands {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });
    let run = run_phones(config, bar.clone().map(progress_bar_callback)).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let summary = run?.summary;
    println!("{summary}");
    let unexpected = summary.actions.unexpected_rejections();
    if summary.failed() {
        eprintln!(
            "fieldops-sim: FAILED: {} server errors, {} failed steps, {} inconsistent answers",
            summary.server_errors(),
            summary.error_count,
            summary.inconsistency_count
        );
        return Ok(ExitCode::FAILURE);
    }
    if unexpected > 0 {
        eprintln!("fieldops-sim: {unexpected} rejections the simulation did not provoke");
        if args.strict {
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}
