//! The `fieldops` binary: reads configuration, starts tracing, opens the database, starts the
//! embedded MQTT endpoint when asked, wires the API and the IoT gateway together, and shuts down
//! gracefully. It is the only part of the system that reads flags, environment and files.
#![forbid(unsafe_code)]

mod backup;
mod config;
mod demo;
mod demo_office;
mod serve;
mod spreadsheets;

use std::io::Read;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use domain::{Actor, Store, StoreOptions};
use mobile_shared::wire::{NewDevice, NewUser};
use mobile_shared::Role;

use crate::config::{CommonArgs, FileConfig, LogFormat, ServeArgs};

/// mimalloc instead of glibc malloc: profiling MQTT ingest showed glibc's allocator (arena
/// locking, `malloc_consolidate`) as the largest single CPU cost of the gateway, the many
/// small short-lived buffers of 2,000 connections and 4,000-message batches being its worst
/// case. BENCHMARKS.md, "Ingest after issue 13", has the A/B.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "fieldops",
    version,
    about = "Equipment-rental and field-service backend.",
    long_about = "Equipment-rental and field-service backend: asset registry, field scans, GPS telemetry over MQTT.\n\
Every flag can also be set through its FIELDOPS_<NAME> environment variable or in the --config TOML file \
(flags win over the environment, the environment over the file)."
)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP API and the IoT gateway in one process (embedded MQTT endpoint for trackers unless --mqtt-url).
    Serve(ServeArgs),
    /// `serve` plus demo data and simulated GPS trackers, so a newcomer sees a live fleet.
    Demo(DemoArgs),
    /// Run the HTTP API alone (scale-out: several API processes behind a load balancer).
    Api(ServeArgs),
    /// Run the IoT gateway alone against --mqtt-url (scale-out: N gateways, each with its own
    /// --mqtt-client-id, split the stream through a shared subscription). --listen serves only
    /// /healthz, /readyz and /metrics.
    Gateway(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage GPS trackers.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// QR tools for operators.
    #[command(subcommand)]
    Qr(QrCommand),
    /// Back up a SQLite deployment while it runs: a consistent snapshot of the database and
    /// the photos and contract documents of the data dir, in one archive (tar + gzip, with a
    /// manifest of SHA-256 checksums). PostgreSQL: prints the pg_dump / PITR commands instead.
    Backup(BackupArgs),
    /// Restore a backup archive into a SQLite database (--database-url) and a data dir, then
    /// apply migrations. Checks the whole archive first and writes nothing if it is damaged;
    /// refuses a non-empty database or data dir unless --force. Stop the server first.
    Restore(RestoreArgs),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Import a list (assets, sites, customers, contracts) from a CSV or XLSX file; all rows
    /// or none unless --per-row; --dry-run checks and reports without writing. Rows whose key
    /// exists are left unchanged. Exit status 1 when a row is refused.
    Import(spreadsheets::ImportArgs),
    /// Export a list (assets, sites, customers, contracts) to a .csv or .xlsx file, in the
    /// columns `import` reads.
    Export(spreadsheets::ExportArgs),
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Delete audit entries older than the retention (what the server's clock does every tick),
    /// in batches, now. Each batch leaves one entry saying how many it deleted and the cutoff.
    Purge {
        /// Delete entries older than this many days. [default: the configuration's
        /// audit_retention_days, else 730]
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=36500))]
        older_than_days: Option<u32>,
    },
}

#[derive(Debug, clap::Args)]
struct BackupArgs {
    /// The archive to write (replaced atomically if it exists), e.g. fieldops-backup.tar.gz.
    #[arg(long)]
    to: std::path::PathBuf,
    /// The server's data directory (photos, documents). [default: ./data]
    #[arg(long, env = "FIELDOPS_DATA_DIR")]
    data_dir: Option<std::path::PathBuf>,
}

#[derive(Debug, clap::Args)]
struct RestoreArgs {
    /// The archive written by `fieldops backup`.
    #[arg(long)]
    from: std::path::PathBuf,
    /// The data directory to restore the photos and documents into. [default: ./data]
    #[arg(long, env = "FIELDOPS_DATA_DIR")]
    data_dir: Option<std::path::PathBuf>,
    /// Replace a database or data directory that is not empty (its photos and documents).
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Subcommand)]
enum QrCommand {
    /// Decode QR codes from photos with the server's own decoder: one line per code found
    /// (`FILE<TAB>TEXT`), nothing for a photo without one. Exit status 1 if a file is unreadable.
    Decode {
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
}

#[derive(Debug, clap::Args)]
struct DemoArgs {
    #[command(flatten)]
    serve: ServeArgs,
    /// How many simulated trackers (and demo assets, created on an empty database).
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u16).range(1..=10000))]
    trackers: u16,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user. The password is read from stdin with --password-stdin, else generated and printed once.
    Add {
        #[arg(long)]
        username: String,
        /// admin, dispatcher, technician, rental_office, viewer, maintenance_planner, sales, finance or legal
        /// (plans maintenance and runs work orders; see README, "Roles").
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Turn off a user's two-factor authentication (lost phone and recovery codes) and lift
    /// the account's login lock. A role that requires it enrols again at the next login.
    /// Audited as the CLI.
    #[command(name = "reset-2fa")]
    Reset2fa {
        /// The user's login name.
        username: String,
    },
}

#[derive(Debug, Subcommand)]
enum DeviceCommand {
    /// Register a tracker and print its MQTT credentials (shown this once only).
    Add {
        /// The tracker's id: its MQTT username and topic level.
        #[arg(long)]
        device_id: String,
        /// Asset code or id to bind the tracker to.
        #[arg(long)]
        asset: Option<String>,
    },
    /// Write a Mosquitto password_file (every registered tracker, plus the gateway's account)
    /// and an acl_file (a tracker publishes only under its own id; the gateway reads all), for
    /// running against an external Mosquitto (see deploy/mosquitto/). Both files are replaced
    /// atomically with mode 0600; send Mosquitto SIGHUP to reload them.
    ExportMosquitto {
        /// Where to write Mosquitto's `password_file` (`user:$7$…` lines).
        #[arg(long)]
        password_file: std::path::PathBuf,
        /// Where to write Mosquitto's `acl_file`.
        #[arg(long)]
        acl_file: std::path::PathBuf,
        /// MQTT username of the gateway(s) (`fieldops gateway --mqtt-url mqtt://NAME:PASSWORD@…`).
        #[arg(long, requires = "gateway_password_stdin")]
        gateway_user: Option<String>,
        /// Read the gateway's password from stdin (needs --gateway-user).
        #[arg(long, requires = "gateway_user")]
        gateway_password_stdin: bool,
    },
}

/// Decodes each file on the calling thread: a batch tool, no server involved.
fn qr_decode(files: &[std::path::PathBuf]) -> ExitCode {
    let limits = qr_decode::DecodeLimits::default();
    let mut failed = false;
    for file in files {
        let result = std::fs::read(file)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                qr_decode::decode_image_bytes(&bytes, &limits).map_err(|e| e.to_string())
            });
        match result {
            Ok(codes) => {
                for code in codes {
                    // Escape line breaks so one code is always one line.
                    let text = code
                        .text
                        .replace('\\', "\\\\")
                        .replace('\n', "\\n")
                        .replace('\r', "\\r");
                    println!("{}\t{}", file.display(), text);
                }
            }
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse::<Role>().map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Qr(QrCommand::Decode { files }) = &cli.command {
        return qr_decode(files);
    }
    let file = match FileConfig::load(cli.common.config.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let (_, log_format) = config::common(&cli.common, &file);
    init_tracing(log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, file)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(
            // sqlx logs every statement at info; rumqttc every reconnect attempt.
            "info,sqlx=warn,rumqttc=warn",
        )
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn run(cli: Cli, file: FileConfig) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let settings = config::resolve(&cli.common, &args, &file)?;
            serve::run(settings, serve::Role::All, None).await
        }
        Command::Demo(args) => {
            let settings = config::resolve(&cli.common, &args.serve, &file)?;
            serve::run(settings, serve::Role::All, Some(usize::from(args.trackers))).await
        }
        Command::Api(args) => {
            let settings = config::resolve(&cli.common, &args, &file)?;
            serve::run(settings, serve::Role::ApiOnly, None).await
        }
        Command::Gateway(args) => {
            let settings = config::resolve(&cli.common, &args, &file)?;
            serve::run(settings, serve::Role::GatewayOnly, None).await
        }
        Command::Migrate => {
            let (url, _) = config::common(&cli.common, &file);
            let store = open_store(&url).await?;
            store.close().await;
            println!("migrations applied");
            Ok(())
        }
        Command::User(UserCommand::Add {
            username,
            role,
            password_stdin,
        }) => {
            let (url, _) = config::common(&cli.common, &file);
            let store = open_store(&url).await?;
            let (password, generated) = if password_stdin {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .context("reading the password from stdin")?;
                (s.trim_end_matches(['\r', '\n']).to_owned(), false)
            } else {
                (domain::secrets::random_password(), true)
            };
            let user = domain::users::create(
                &store,
                &Actor::cli(),
                NewUser {
                    username,
                    password: password.clone(),
                    role,
                    email: None,
                },
            )
            .await
            .map_err(describe)?;
            println!("created user {} ({})", user.username, user.role);
            if generated {
                println!("password: {password}   (shown once; store it now)");
            }
            store.close().await;
            Ok(())
        }
        Command::User(UserCommand::Reset2fa { username }) => {
            let (url, _) = config::common(&cli.common, &file);
            let store = open_store(&url).await?;
            let user = domain::users::find_by_username(&store, &username)
                .await
                .map_err(describe)
                .with_context(|| format!("user `{username}`"))?;
            domain::two_factor::reset(&store, &Actor::cli(), user.id)
                .await
                .map_err(describe)?;
            println!(
                "two-factor authentication of {} ({}) is off and its login lock lifted",
                user.username, user.role
            );
            store.close().await;
            Ok(())
        }
        Command::Qr(_) => Ok(()),
        Command::Backup(args) => {
            let (url, _) = config::common(&cli.common, &file);
            let data_dir = config::data_dir(args.data_dir.as_deref(), &file);
            backup::backup(&url, &data_dir, &args.to).await
        }
        Command::Restore(args) => {
            let (url, _) = config::common(&cli.common, &file);
            let data_dir = config::data_dir(args.data_dir.as_deref(), &file);
            backup::restore(args.from, &url, data_dir, args.force).await
        }
        Command::Audit(AuditCommand::Purge { older_than_days }) => {
            let days = match older_than_days.or(file.audit_retention_days) {
                Some(0) => anyhow::bail!(
                    "the configured audit_retention_days is 0 (keep forever): pass --older-than-days"
                ),
                Some(days) => days,
                None => domain::audit::retention::DEFAULT_RETENTION_DAYS,
            };
            let (url, _) = config::common(&cli.common, &file);
            let store = open_store(&url).await?;
            let cutoff = domain::audit::retention::cutoff(domain::clock::now(), days);
            let deleted = domain::audit::retention::purge(
                &store,
                &Actor::cli(),
                cutoff,
                domain::audit::retention::PURGE_BATCH,
            )
            .await
            .map_err(describe)?;
            store.close().await;
            println!(
                "deleted {deleted} audit entr{} older than {days} days (before {})",
                if deleted == 1 { "y" } else { "ies" },
                cutoff.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            Ok(())
        }
        Command::Import(args) => {
            let (url, _) = config::common(&cli.common, &file);
            let store = open_store(&url).await?;
            let done = spreadsheets::import(&store, args).await;
            store.close().await;
            done
        }
        Command::Export(args) => {
            let (url, _) = config::common(&cli.common, &file);
            let store = open_store(&url).await?;
            let done = spreadsheets::export(&store, args).await;
            store.close().await;
            done
        }
        Command::Device(DeviceCommand::Add { device_id, asset }) => {
            let (url, _) = config::common(&cli.common, &file);
            let store = open_store(&url).await?;
            let asset_id = match asset {
                None => None,
                Some(key) => Some(
                    match uuid::Uuid::parse_str(&key) {
                        Ok(id) => domain::assets::get(&store, id).await,
                        Err(_) => domain::identifiers::resolve(&store, &key)
                            .await
                            .map(|r| r.asset),
                    }
                    .map_err(describe)
                    .with_context(|| format!("asset `{key}`"))?
                    .id,
                ),
            };
            let created = domain::devices::create(
                &store,
                &Actor::cli(),
                NewDevice {
                    device_id,
                    asset_id,
                },
            )
            .await
            .map_err(describe)?;
            println!("device registered: {}", created.device.device_id);
            println!("mqtt username: {}", created.mqtt_username);
            println!(
                "mqtt password: {}   (shown once; store it now)",
                created.mqtt_password
            );
            println!("publish to:    {}telemetry", created.topic_prefix);
            store.close().await;
            Ok(())
        }
        Command::Device(DeviceCommand::ExportMosquitto {
            password_file,
            acl_file,
            gateway_user,
            gateway_password_stdin,
        }) => {
            let (url, _) = config::common(&cli.common, &file);
            let store = open_store(&url).await?;
            let gateway_password = if gateway_password_stdin {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .context("reading the gateway password from stdin")?;
                Some(s.trim_end_matches(['\r', '\n']).to_owned())
            } else {
                None
            };
            let gateway = gateway_user.as_deref().zip(gateway_password.as_deref());
            let passwords = domain::devices::mosquitto_password_file(&store, gateway)
                .await
                .map_err(describe)?;
            store.close().await;
            for id in &passwords.legacy {
                eprintln!(
                    "warning: tracker `{id}` left out: its password hash predates the Mosquitto \
                     format; it is converted the next time it connects to the embedded endpoint, \
                     or register it again"
                );
            }
            for id in &passwords.unrepresentable {
                eprintln!(
                    "warning: tracker `{id}` left out: Mosquitto usernames cannot contain `:`"
                );
            }
            if gateway_user.is_none() {
                eprintln!(
                    "warning: no --gateway-user: add the gateway's account to both files yourself"
                );
            }
            write_private_file(&password_file, &passwords.text)?;
            write_private_file(
                &acl_file,
                &domain::devices::mosquitto_acl(gateway_user.as_deref()),
            )?;
            println!(
                "wrote {} tracker(s){} to {} and the ACL to {}",
                passwords.exported,
                gateway_user
                    .as_deref()
                    .map(|u| format!(" and gateway user `{u}`"))
                    .unwrap_or_default(),
                password_file.display(),
                acl_file.display()
            );
            Ok(())
        }
    }
}

/// Replaces `path` with `text` through a temporary file in the same directory and a rename, so
/// a broker reloading (SIGHUP) never reads a half-written file. The file is created with mode
/// 0600 (it holds password hashes), so it is never readable by others, not even briefly.
fn write_private_file(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let tmp = dir.join(format!(
        ".{}.{:016x}.tmp",
        name.to_string_lossy(),
        rand::random::<u64>()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&tmp).and_then(|mut f| {
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", path.display()));
    }
    // Make the rename itself durable; best effort, as not every platform can open a directory.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Turns validation errors into readable text for the terminal.
fn describe(e: domain::DomainError) -> anyhow::Error {
    match e {
        domain::DomainError::Validation(fields) => anyhow::anyhow!(
            "invalid input: {}",
            fields
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        other => anyhow::Error::new(other),
    }
}

async fn open_store(url: &str) -> anyhow::Result<Store> {
    let store = Store::connect(url, &StoreOptions::default())
        .await
        .with_context(|| format!("opening database {}", domain::store::redact_url(url)))?;
    store.migrate().await.context("applying migrations")?;
    Ok(store)
}
