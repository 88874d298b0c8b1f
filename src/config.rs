//! Configuration, layered: built-in defaults → TOML file (`--config`) → environment
//! (`FIELDOPS_*`) → command-line flags. clap reads the environment and the flags (a flag wins
//! over its variable); the file fills what neither gave; defaults fill the rest.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use domain::notifications::webhooks::ConfiguredEndpoint;
use mobile_shared::Role;
use serde::Deserialize;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://fieldops.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_MQTT_LISTEN: &str = "127.0.0.1:1883";
pub const DEFAULT_DATA_DIR: &str = "./data";
pub const DEFAULT_SMTP_FROM: &str = "fieldops <fieldops@localhost>";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Options every command shares.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// TOML configuration file; its keys are the long flag names with `_` for `-`.
    #[arg(long, global = true, env = "FIELDOPS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database URL: `sqlite://PATH` (created if missing) or `postgres://…`. [default: sqlite://fieldops.db]
    #[arg(
        long,
        global = true,
        env = "FIELDOPS_DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Log format on stderr; the level comes from `RUST_LOG` (default `info`). [default: text]
    #[arg(long, global = true, env = "FIELDOPS_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
}

/// Options of the server commands.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// HTTP address to listen on (port 0 picks a free port). [default: 127.0.0.1:8080]
    #[arg(long, env = "FIELDOPS_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// External MQTT broker, `mqtt://[user:password@]host[:port]`; when set, no embedded endpoint runs.
    #[arg(long, env = "FIELDOPS_MQTT_URL", hide_env_values = true)]
    pub mqtt_url: Option<String>,
    /// Address of the embedded MQTT endpoint for trackers (port 0 picks a free port). [default: 127.0.0.1:1883]
    #[arg(long, env = "FIELDOPS_MQTT_LISTEN")]
    pub mqtt_listen: Option<SocketAddr>,
    /// Directory for files the server keeps (photos, exports). [default: ./data]
    #[arg(long, env = "FIELDOPS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Bearer token that may scrape /metrics without a user session.
    #[arg(long, env = "FIELDOPS_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Lifetime of a login token, in hours. [default: 12]
    #[arg(long, env = "FIELDOPS_SESSION_TTL_HOURS")]
    pub session_ttl_hours: Option<u32>,
    /// MapLibre style URL for the console's map (OSM raster tiles, a self-hosted style); its
    /// origin is allowed by the console's Content-Security-Policy. [default: the built-in
    /// offline basemap]
    #[arg(long, env = "FIELDOPS_MAP_STYLE_URL")]
    pub map_style_url: Option<String>,
    /// Mark the console's session cookie `Secure` (set it when users reach fieldops over HTTPS,
    /// e.g. behind a TLS-terminating proxy).
    #[arg(long, env = "FIELDOPS_SECURE_COOKIES")]
    pub secure_cookies: Option<bool>,
    /// MQTT client id of this gateway; each gateway process needs its own. [default: fieldops-gateway]
    #[arg(long, env = "FIELDOPS_MQTT_CLIENT_ID")]
    pub mqtt_client_id: Option<String>,
    /// Shared-subscription group, so several gateways split one stream; `none` subscribes plainly.
    /// [default: none for `serve`, `fieldops` for `gateway`]
    #[arg(long, env = "FIELDOPS_MQTT_SHARE_GROUP")]
    pub mqtt_share_group: Option<String>,
    /// MQTT connections this gateway opens to an external broker in one shared group, feeding
    /// one ingest pipeline. Helps against a broker with a small per-connection window of
    /// unacknowledged messages. [default: 1]
    #[arg(long, env = "FIELDOPS_MQTT_LINKS", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub mqtt_links: Option<u16>,
    /// Minutes without telemetry after which a tracker is marked offline and its asset stale. [default: 15]
    #[arg(long, env = "FIELDOPS_SILENT_AFTER_MINUTES")]
    pub silent_after_minutes: Option<u32>,
    /// PEM certificate chain (leaf first) for the embedded MQTT endpoint: with
    /// `--mqtt-tls-key`, trackers connect over TLS (credentials are sent in the CONNECT, so use it
    /// for trackers on the public internet).
    #[arg(long, env = "FIELDOPS_MQTT_TLS_CERT", requires = "mqtt_tls_key")]
    pub mqtt_tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `--mqtt-tls-cert`.
    #[arg(
        long,
        env = "FIELDOPS_MQTT_TLS_KEY",
        requires = "mqtt_tls_cert",
        hide_env_values = true
    )]
    pub mqtt_tls_key: Option<PathBuf>,
    /// PEM certificate chain (leaf first) for built-in HTTPS: with `--tls-key`, the API and
    /// console are served over TLS only, every answer with HSTS, and the session cookie is
    /// `Secure`. Leave unset behind a TLS-terminating reverse proxy.
    #[arg(long, env = "FIELDOPS_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `--tls-cert`.
    #[arg(
        long,
        env = "FIELDOPS_TLS_KEY",
        requires = "tls_cert",
        hide_env_values = true
    )]
    pub tls_key: Option<PathBuf>,
    /// Removed: the embedded endpoint keeps no message log. Accepted only to say so.
    #[arg(long, env = "FIELDOPS_MQTT_BROKER_MEMORY_MB", hide = true)]
    pub mqtt_broker_memory_mb: Option<String>,
    /// Days a field command queued offline on a phone may be late; an older device time is
    /// refused (422 naming `device_time`) as a wrong phone clock. [default: 90]
    #[arg(long, env = "FIELDOPS_SCAN_MAX_AGE_DAYS", value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub scan_max_age_days: Option<u32>,
    /// Hours without a position after which an asset is flagged stale (possibly lost or
    /// damaged) in the alert list, the header count and the site table, unless a request gives
    /// its own `threshold_hours`. [default: 24]
    #[arg(long, env = "FIELDOPS_STALE_AFTER_HOURS", value_parser = clap::value_parser!(u32).range(1..=8784))]
    pub stale_after_hours: Option<u32>,
    /// Seconds between two ticks of the clock that runs time-based rules (overdue tasks,
    /// calendar services…); after downtime the first tick catches up. [default: 60]
    #[arg(long, env = "FIELDOPS_CLOCK_INTERVAL_SECS", value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub clock_interval_secs: Option<u32>,
    /// SMTP server for e-mail notifications: `smtp://host:port` (plain), `smtp://host:587?tls=required`
    /// (STARTTLS), `smtps://host:465`; credentials as `smtp://user:password@host`. Without it,
    /// e-mail notifications wait (pending) until one is configured.
    #[arg(long, env = "FIELDOPS_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// `From:` of notification mails. [default: fieldops <fieldops@localhost>]
    #[arg(long, env = "FIELDOPS_SMTP_FROM")]
    pub smtp_from: Option<String>,
    /// Attempts per notification delivery (e-mail, webhook) before it is marked failed; retries
    /// back off from 5 s, doubling, to 1 h. [default: 10]
    #[arg(long, env = "FIELDOPS_NOTIFY_MAX_ATTEMPTS", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub notify_max_attempts: Option<u32>,
    /// Seals contract documents at rest (AES-256-GCM): 32 random bytes in base64, e.g. from
    /// `openssl rand -base64 32`. Documents uploaded while it is set need it to be read; keep
    /// it with the database backups, not in them. Without it documents are stored as uploaded.
    #[arg(long, env = "FIELDOPS_DOCUMENTS_KEY", hide_env_values = true)]
    pub documents_key: Option<String>,
    /// Directory for daily backups (SQLite only; `serve` and `api`): once a day, at the first
    /// clock tick after 03:00 UTC, the database and the blobs are archived there as
    /// `fieldops-backup-YYYYMMDD.tar.gz` (README, "Backups").
    #[arg(long, env = "FIELDOPS_BACKUP_DIR")]
    pub backup_dir: Option<PathBuf>,
    /// How many daily backups --backup-dir keeps; older ones are deleted. [default: 7]
    #[arg(long, env = "FIELDOPS_BACKUP_KEEP", value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub backup_keep: Option<u32>,
    /// Days audit-log entries are kept; the clock deletes older ones in batches (each purge is
    /// itself an entry). 0 keeps them forever. [default: 730]
    #[arg(long, env = "FIELDOPS_AUDIT_RETENTION_DAYS", value_parser = clap::value_parser!(u32).range(0..=36500))]
    pub audit_retention_days: Option<u32>,
    /// A reverse proxy or load balancer (IP address or network, e.g. 10.0.0.0/8) whose
    /// `X-Forwarded-For` header names the client for the audit log; repeat for several (the
    /// variable takes a comma-separated list). From any other peer the header is ignored.
    #[arg(long = "trusted-proxy", env = "FIELDOPS_TRUSTED_PROXY", value_delimiter = ',',
        value_parser = api::client::parse_trusted_proxy)]
    pub trusted_proxies: Vec<api::client::IpNet>,
    /// Roles whose users must use two-factor authentication (TOTP), comma-separated (e.g.
    /// `admin,finance,legal`), or `none`. A user of such a role who has not enrolled gets, at
    /// login, only a short session for enrolling. [default: admin]
    #[arg(long, env = "FIELDOPS_REQUIRE_2FA_ROLES")]
    pub require_2fa_roles: Option<String>,
    /// Failed logins of one account within the lockout period that lock it for that period. [default: 5]
    #[arg(long, env = "FIELDOPS_LOGIN_MAX_FAILURES", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub login_max_failures: Option<u32>,
    /// Failed logins from one client address (IPv6: its /64) within the lockout period that
    /// lock it for that period. [default: 20]
    #[arg(long, env = "FIELDOPS_LOGIN_IP_MAX_FAILURES", value_parser = clap::value_parser!(u32).range(1..=100000))]
    pub login_ip_max_failures: Option<u32>,
    /// Minutes over which failed logins are counted, and how long a lock lasts. [default: 15]
    #[arg(long, env = "FIELDOPS_LOGIN_LOCKOUT_MINUTES", value_parser = clap::value_parser!(u32).range(1..=1440))]
    pub login_lockout_minutes: Option<u32>,
}

/// The TOML file: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub database_url: Option<String>,
    pub log_format: Option<LogFormat>,
    pub listen: Option<SocketAddr>,
    pub mqtt_url: Option<String>,
    pub mqtt_listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub metrics_token: Option<String>,
    pub session_ttl_hours: Option<u32>,
    pub map_style_url: Option<String>,
    pub secure_cookies: Option<bool>,
    pub mqtt_client_id: Option<String>,
    pub mqtt_share_group: Option<String>,
    pub mqtt_links: Option<u16>,
    pub silent_after_minutes: Option<u32>,
    pub mqtt_tls_cert: Option<PathBuf>,
    pub mqtt_tls_key: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Removed (see [`REMOVED_BROKER_MEMORY`]); any value is refused with that message.
    pub mqtt_broker_memory_mb: Option<toml::Value>,
    pub scan_max_age_days: Option<u32>,
    pub stale_after_hours: Option<u32>,
    pub clock_interval_secs: Option<u32>,
    pub request_timeout_secs: Option<u64>,
    pub body_limit_bytes: Option<usize>,
    pub smtp_url: Option<String>,
    pub smtp_from: Option<String>,
    pub notify_max_attempts: Option<u32>,
    pub documents_key: Option<String>,
    pub backup_dir: Option<PathBuf>,
    pub backup_keep: Option<u32>,
    pub audit_retention_days: Option<u32>,
    /// `trusted_proxy = ["10.0.0.0/8", "192.0.2.1"]`: the flag's name, a list.
    pub trusted_proxy: Option<Vec<String>>,
    pub require_2fa_roles: Option<String>,
    pub login_max_failures: Option<u32>,
    pub login_ip_max_failures: Option<u32>,
    pub login_lockout_minutes: Option<u32>,
    /// `[[webhooks]]` tables: endpoints kept in step with this file at startup.
    pub webhooks: Option<Vec<ConfiguredEndpoint>>,
}

impl FileConfig {
    pub fn load(path: Option<&Path>) -> anyhow::Result<FileConfig> {
        let Some(path) = path else {
            return Ok(FileConfig::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
    }
}

/// Where MQTT comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum Mqtt {
    Embedded(SocketAddr),
    External(String),
}

impl std::fmt::Debug for Mqtt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mqtt::Embedded(a) => write!(f, "Embedded({a})"),
            Mqtt::External(url) => write!(f, "External({})", domain::store::redact_url(url)),
        }
    }
}

/// The resolved settings of a server process.
#[derive(Clone)]
pub struct Settings {
    pub database_url: String,
    pub log_format: LogFormat,
    pub listen: SocketAddr,
    pub mqtt: Mqtt,
    pub data_dir: PathBuf,
    pub metrics_token: Option<String>,
    pub session_ttl_hours: u32,
    pub map_style_url: Option<String>,
    pub secure_cookies: bool,
    pub mqtt_client_id: String,
    /// `None`: not set anywhere (the role decides); `Some("none")`: plain subscription.
    pub mqtt_share_group: Option<String>,
    /// `None`: not set anywhere (`serve` picks by broker and database).
    pub mqtt_links: Option<u16>,
    pub silent_after_minutes: u32,
    /// (certificate chain, private key) files for the embedded endpoint's TLS.
    pub mqtt_tls: Option<(PathBuf, PathBuf)>,
    /// (certificate chain, private key) files for built-in HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub scan_max_age_days: u32,
    pub stale_after_hours: u32,
    pub clock_interval_secs: u32,
    pub request_timeout_secs: u64,
    pub body_limit_bytes: usize,
    pub smtp_url: Option<String>,
    pub smtp_from: String,
    pub notify_max_attempts: u32,
    /// Base64 key sealing contract documents at rest.
    pub documents_key: Option<String>,
    /// Days audit entries are kept; 0: forever.
    pub audit_retention_days: u32,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<api::client::IpNet>,
    /// Webhook endpoints from the file (file only: a secret does not belong on a command line).
    pub webhooks: Vec<ConfiguredEndpoint>,
    /// Daily backups on the clock, when `backup_dir` is set.
    pub backup: Option<BackupSchedule>,
    /// Roles that must use two-factor authentication.
    pub require_2fa_roles: Vec<Role>,
    pub login_max_failures: u32,
    pub login_ip_max_failures: u32,
    pub login_lockout_minutes: u32,
}

/// Where daily backups go and how many are kept (`--backup-dir`, `--backup-keep`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSchedule {
    /// Where the archives go (created if missing).
    pub dir: PathBuf,
    /// How many of the newest archives are kept.
    pub keep: u32,
}

/// Daily backups kept when `--backup-keep` is not given: a week.
pub const DEFAULT_BACKUP_KEEP: u32 = 7;

impl std::fmt::Debug for Settings {
    // Secrets never reach the logs: the URL password is masked and the token omitted.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field(
                "database_url",
                &domain::store::redact_url(&self.database_url),
            )
            .field("log_format", &self.log_format)
            .field("listen", &self.listen)
            .field("mqtt", &self.mqtt)
            .field("data_dir", &self.data_dir)
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "***"))
            .field("session_ttl_hours", &self.session_ttl_hours)
            .field("map_style_url", &self.map_style_url)
            .field("secure_cookies", &self.secure_cookies)
            .field("mqtt_client_id", &self.mqtt_client_id)
            .field("mqtt_share_group", &self.mqtt_share_group)
            .field("mqtt_links", &self.mqtt_links)
            .field("silent_after_minutes", &self.silent_after_minutes)
            .field("mqtt_tls", &self.mqtt_tls)
            .field("tls", &self.tls)
            .field("scan_max_age_days", &self.scan_max_age_days)
            .field("stale_after_hours", &self.stale_after_hours)
            .field("clock_interval_secs", &self.clock_interval_secs)
            .field("request_timeout_secs", &self.request_timeout_secs)
            .field("body_limit_bytes", &self.body_limit_bytes)
            .field(
                "smtp_url",
                &self.smtp_url.as_deref().map(domain::store::redact_url),
            )
            .field("smtp_from", &self.smtp_from)
            .field("notify_max_attempts", &self.notify_max_attempts)
            .field("documents_key", &self.documents_key.as_ref().map(|_| "***"))
            .field("audit_retention_days", &self.audit_retention_days)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("webhooks", &self.webhooks)
            .field("backup", &self.backup)
            .field("require_2fa_roles", &self.require_2fa_roles)
            .field("login_max_failures", &self.login_max_failures)
            .field("login_ip_max_failures", &self.login_ip_max_failures)
            .field("login_lockout_minutes", &self.login_lockout_minutes)
            .finish()
    }
}

/// `admin,finance` → those roles; `none` → no role.
pub fn parse_role_list(s: &str) -> anyhow::Result<Vec<Role>> {
    if s.trim().eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    let mut roles = Vec::new();
    for name in s.split(',').map(str::trim) {
        let role = name
            .parse::<Role>()
            .map_err(|e| anyhow::anyhow!("require_2fa_roles: {e} (or `none`)"))?;
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    Ok(roles)
}

fn parse_addr(s: &str) -> anyhow::Result<SocketAddr> {
    s.parse().with_context(|| format!("bad address {s}"))
}

/// The database URL and log format for any command.
pub fn common(common: &CommonArgs, file: &FileConfig) -> (String, LogFormat) {
    let db = common
        .database_url
        .clone()
        .or_else(|| file.database_url.clone())
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
    let log = common
        .log_format
        .or(file.log_format)
        .unwrap_or(LogFormat::Text);
    (db, log)
}

/// The data directory: `flag` (or its `FIELDOPS_DATA_DIR`), else the file's, else `./data`.
pub fn data_dir(flag: Option<&Path>, file: &FileConfig) -> PathBuf {
    flag.map(Path::to_owned)
        .or_else(|| file.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
}

/// Why `--mqtt-broker-memory-mb` is refused (it sized rumqttd's in-memory message log).
pub const REMOVED_BROKER_MEMORY: &str = "--mqtt-broker-memory-mb (mqtt_broker_memory_mb, \
    FIELDOPS_MQTT_BROKER_MEMORY_MB) was removed: the embedded MQTT endpoint keeps no message log \
    (it acknowledges a reading only after committing it), so there is nothing to size; remove \
    the setting";

pub fn resolve(c: &CommonArgs, s: &ServeArgs, file: &FileConfig) -> anyhow::Result<Settings> {
    if s.mqtt_broker_memory_mb.is_some() || file.mqtt_broker_memory_mb.is_some() {
        anyhow::bail!(REMOVED_BROKER_MEMORY);
    }
    let (database_url, log_format) = common(c, file);
    let map_style_url = s
        .map_style_url
        .clone()
        .or_else(|| file.map_style_url.clone());
    if let Some(url) = &map_style_url {
        // The console fetches it and its origin enters the Content-Security-Policy.
        let ok =
            (url.starts_with("https://") || url.starts_with("http://") || url.starts_with('/'))
                && !url.contains(|c: char| c.is_whitespace() || c == ';' || c == '"');
        if !ok {
            anyhow::bail!(
                "map_style_url must be an http(s) URL or a path on this server, not {url:?}"
            );
        }
    }
    let mqtt = match s.mqtt_url.clone().or_else(|| file.mqtt_url.clone()) {
        Some(url) => Mqtt::External(url),
        None => Mqtt::Embedded(match s.mqtt_listen.or(file.mqtt_listen) {
            Some(a) => a,
            None => parse_addr(DEFAULT_MQTT_LISTEN)?,
        }),
    };
    let keep = s.backup_keep.or(file.backup_keep);
    let backup = match (
        s.backup_dir.clone().or_else(|| file.backup_dir.clone()),
        keep,
    ) {
        (Some(dir), keep) => Some(BackupSchedule {
            dir,
            // clap bounds the flag; a file's value is clamped like the other bounded settings.
            keep: keep.unwrap_or(DEFAULT_BACKUP_KEEP).clamp(1, 3650),
        }),
        (None, Some(_)) => anyhow::bail!("backup_keep needs backup_dir (--backup-dir)"),
        (None, None) => None,
    };
    Ok(Settings {
        database_url,
        log_format,
        listen: match s.listen.or(file.listen) {
            Some(a) => a,
            None => parse_addr(DEFAULT_LISTEN)?,
        },
        mqtt,
        data_dir: data_dir(s.data_dir.as_deref(), file),
        metrics_token: s
            .metrics_token
            .clone()
            .or_else(|| file.metrics_token.clone()),
        session_ttl_hours: s.session_ttl_hours.or(file.session_ttl_hours).unwrap_or(12),
        map_style_url,
        secure_cookies: s.secure_cookies.or(file.secure_cookies).unwrap_or(false),
        mqtt_client_id: s
            .mqtt_client_id
            .clone()
            .or_else(|| file.mqtt_client_id.clone())
            .unwrap_or_else(|| "fieldops-gateway".to_owned()),
        mqtt_share_group: s
            .mqtt_share_group
            .clone()
            .or_else(|| file.mqtt_share_group.clone()),
        mqtt_links: s.mqtt_links.or(file.mqtt_links).map(|n| n.max(1)),
        silent_after_minutes: s
            .silent_after_minutes
            .or(file.silent_after_minutes)
            .unwrap_or(15),
        mqtt_tls: pem_pair(
            s.mqtt_tls_cert.as_ref().or(file.mqtt_tls_cert.as_ref()),
            s.mqtt_tls_key.as_ref().or(file.mqtt_tls_key.as_ref()),
            "mqtt_tls",
        )?,
        tls: pem_pair(
            s.tls_cert.as_ref().or(file.tls_cert.as_ref()),
            s.tls_key.as_ref().or(file.tls_key.as_ref()),
            "tls",
        )?,
        scan_max_age_days: s
            .scan_max_age_days
            .or(file.scan_max_age_days)
            .unwrap_or(domain::scans::DEFAULT_MAX_AGE_DAYS)
            .clamp(1, 3650),
        stale_after_hours: s
            .stale_after_hours
            .or(file.stale_after_hours)
            .unwrap_or(domain::alerts::DEFAULT_STALE_AFTER_HOURS)
            .clamp(1, domain::alerts::MAX_STALE_AFTER_HOURS),
        clock_interval_secs: s
            .clock_interval_secs
            .or(file.clock_interval_secs)
            .unwrap_or(60)
            .clamp(1, 3600),
        request_timeout_secs: file.request_timeout_secs.unwrap_or(30),
        body_limit_bytes: file.body_limit_bytes.unwrap_or(1024 * 1024),
        smtp_url: s.smtp_url.clone().or_else(|| file.smtp_url.clone()),
        smtp_from: s
            .smtp_from
            .clone()
            .or_else(|| file.smtp_from.clone())
            .unwrap_or_else(|| DEFAULT_SMTP_FROM.to_owned()),
        notify_max_attempts: s
            .notify_max_attempts
            .or(file.notify_max_attempts)
            .unwrap_or(10)
            .clamp(1, 100),
        documents_key: s
            .documents_key
            .clone()
            .or_else(|| file.documents_key.clone()),
        audit_retention_days: s
            .audit_retention_days
            .or(file.audit_retention_days)
            .unwrap_or(domain::audit::retention::DEFAULT_RETENTION_DAYS)
            .min(36500),
        trusted_proxies: trusted_proxies(s, file)?,
        webhooks: file.webhooks.clone().unwrap_or_default(),
        backup,
        require_2fa_roles: parse_role_list(
            s.require_2fa_roles
                .as_deref()
                .or(file.require_2fa_roles.as_deref())
                .unwrap_or("admin"),
        )?,
        login_max_failures: s
            .login_max_failures
            .or(file.login_max_failures)
            .unwrap_or(5)
            .clamp(1, 1000),
        login_ip_max_failures: s
            .login_ip_max_failures
            .or(file.login_ip_max_failures)
            .unwrap_or(20)
            .clamp(1, 100_000),
        login_lockout_minutes: s
            .login_lockout_minutes
            .or(file.login_lockout_minutes)
            .unwrap_or(15)
            .clamp(1, 1440),
    })
}

/// A certificate and key given together, or neither (`what`: the settings' prefix).
fn pem_pair(
    cert: Option<&PathBuf>,
    key: Option<&PathBuf>,
    what: &str,
) -> anyhow::Result<Option<(PathBuf, PathBuf)>> {
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some((cert.clone(), key.clone()))),
        (None, None) => Ok(None),
        _ => anyhow::bail!("give both {what}_cert and {what}_key, or neither"),
    }
}

/// The trusted proxies: the flags (or the variable) if any, else the file's list.
fn trusted_proxies(s: &ServeArgs, file: &FileConfig) -> anyhow::Result<Vec<api::client::IpNet>> {
    if !s.trusted_proxies.is_empty() {
        return Ok(s.trusted_proxies.clone());
    }
    file.trusted_proxy
        .iter()
        .flatten()
        .map(|p| {
            api::client::parse_trusted_proxy(p).map_err(|e| anyhow::anyhow!("trusted_proxy: {e}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none_common() -> CommonArgs {
        CommonArgs {
            config: None,
            database_url: None,
            log_format: None,
        }
    }

    fn none_serve() -> ServeArgs {
        ServeArgs {
            listen: None,
            mqtt_url: None,
            mqtt_listen: None,
            data_dir: None,
            metrics_token: None,
            session_ttl_hours: None,
            map_style_url: None,
            secure_cookies: None,
            mqtt_client_id: None,
            mqtt_share_group: None,
            mqtt_links: None,
            silent_after_minutes: None,
            mqtt_tls_cert: None,
            mqtt_tls_key: None,
            tls_cert: None,
            tls_key: None,
            mqtt_broker_memory_mb: None,
            scan_max_age_days: None,
            stale_after_hours: None,
            clock_interval_secs: None,
            smtp_url: None,
            smtp_from: None,
            notify_max_attempts: None,
            documents_key: None,
            backup_dir: None,
            backup_keep: None,
            audit_retention_days: None,
            trusted_proxies: Vec::new(),
            require_2fa_roles: None,
            login_max_failures: None,
            login_ip_max_failures: None,
            login_lockout_minutes: None,
        }
    }

    #[test]
    fn audit_settings_are_layered() {
        use clap::Parser;
        let s = resolve(&none_common(), &none_serve(), &FileConfig::default()).unwrap();
        assert_eq!(s.audit_retention_days, 730);
        assert!(
            s.trusted_proxies.is_empty(),
            "no proxy is trusted by default"
        );
        let file: FileConfig = toml::from_str(
            "audit_retention_days = 0\ntrusted_proxy = [\"10.0.0.0/8\", \"192.0.2.1\"]",
        )
        .unwrap();
        let s = resolve(&none_common(), &none_serve(), &file).unwrap();
        assert_eq!(s.audit_retention_days, 0, "0 keeps entries forever");
        let proxies: Vec<String> = s.trusted_proxies.iter().map(|p| p.to_string()).collect();
        assert_eq!(proxies, ["10.0.0.0/8", "192.0.2.1/32"]);
        let flags = ServeCli::try_parse_from([
            "serve",
            "--trusted-proxy",
            "172.16.0.0/12",
            "--trusted-proxy",
            "::1",
            "--audit-retention-days",
            "365",
        ])
        .unwrap();
        let s = resolve(&none_common(), &flags.serve, &file).unwrap();
        let proxies: Vec<String> = s.trusted_proxies.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            proxies,
            ["172.16.0.0/12", "::1/128"],
            "flags replace the file's list"
        );
        assert_eq!(s.audit_retention_days, 365);
        let err =
            ServeCli::try_parse_from(["serve", "--trusted-proxy", "proxy.local"]).unwrap_err();
        assert!(err.to_string().contains("--trusted-proxy"), "{err}");
        let bad: FileConfig = toml::from_str("trusted_proxy = [\"nope\"]").unwrap();
        assert!(resolve(&none_common(), &none_serve(), &bad).is_err());
        assert!(ServeCli::try_parse_from(["serve", "--audit-retention-days", "-1"]).is_err());
    }

    #[test]
    fn two_factor_roles_and_login_limits_are_layered() {
        use clap::Parser;
        let s = resolve(&none_common(), &none_serve(), &FileConfig::default()).unwrap();
        assert_eq!(s.require_2fa_roles, [Role::Admin], "admins by default");
        assert_eq!(
            (
                s.login_max_failures,
                s.login_ip_max_failures,
                s.login_lockout_minutes
            ),
            (5, 20, 15)
        );
        let file: FileConfig = toml::from_str(
            "require_2fa_roles = \"admin, finance,legal,admin\"\nlogin_max_failures = 3\nlogin_lockout_minutes = 100000",
        )
        .unwrap();
        let s = resolve(&none_common(), &none_serve(), &file).unwrap();
        assert_eq!(
            s.require_2fa_roles,
            [Role::Admin, Role::Finance, Role::Legal]
        );
        assert_eq!((s.login_max_failures, s.login_lockout_minutes), (3, 1440));
        let flags = ServeCli::try_parse_from(["serve", "--require-2fa-roles", "none"]).unwrap();
        let s = resolve(&none_common(), &flags.serve, &file).unwrap();
        assert!(s.require_2fa_roles.is_empty(), "a flag beats the file");
        let flags =
            ServeCli::try_parse_from(["serve", "--require-2fa-roles", "admin,root"]).unwrap();
        let err = resolve(&none_common(), &flags.serve, &file).unwrap_err();
        assert!(err.to_string().contains("unknown role `root`"), "{err}");
        assert!(ServeCli::try_parse_from(["serve", "--login-max-failures", "0"]).is_err());
    }

    #[test]
    fn defaults_then_file_then_flags() {
        let s = resolve(&none_common(), &none_serve(), &FileConfig::default()).unwrap();
        assert_eq!(s.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(s.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(s.mqtt, Mqtt::Embedded(DEFAULT_MQTT_LISTEN.parse().unwrap()));

        let file: FileConfig = toml::from_str(
            "database_url = \"postgres://u:pw@db/x\"\nlisten = \"0.0.0.0:9000\"\nmqtt_url = \"mqtt://b:1883\"",
        )
        .unwrap();
        let s = resolve(&none_common(), &none_serve(), &file).unwrap();
        assert_eq!(s.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(s.mqtt, Mqtt::External("mqtt://b:1883".into()));
        assert!(!format!("{s:?}").contains("pw"));

        let mut flags = none_serve();
        flags.listen = Some("127.0.0.1:0".parse().unwrap());
        let s = resolve(&none_common(), &flags, &file).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:0");
    }

    #[test]
    fn smtp_settings_are_layered_and_redacted() {
        use clap::Parser;
        let s = resolve(&none_common(), &none_serve(), &FileConfig::default()).unwrap();
        assert_eq!(s.smtp_url, None, "no SMTP unless configured");
        assert_eq!(s.smtp_from, DEFAULT_SMTP_FROM);
        assert_eq!(s.notify_max_attempts, 10);
        let file: FileConfig = toml::from_str(
            "smtp_url = \"smtp://mailer:s3cret@mail:587?tls=required\"\nsmtp_from = \"ops <ops@x.test>\"\nnotify_max_attempts = 3",
        )
        .unwrap();
        let s = resolve(&none_common(), &none_serve(), &file).unwrap();
        assert_eq!(
            s.smtp_url.as_deref(),
            Some("smtp://mailer:s3cret@mail:587?tls=required")
        );
        assert_eq!(s.smtp_from, "ops <ops@x.test>");
        assert_eq!(s.notify_max_attempts, 3);
        assert!(
            !format!("{s:?}").contains("s3cret"),
            "the SMTP password never reaches logs"
        );
        let flags =
            ServeCli::try_parse_from(["serve", "--smtp-url", "smtp://127.0.0.1:2525"]).unwrap();
        let s = resolve(&none_common(), &flags.serve, &file).unwrap();
        assert_eq!(
            s.smtp_url.as_deref(),
            Some("smtp://127.0.0.1:2525"),
            "a flag wins over the file"
        );
        assert!(ServeCli::try_parse_from(["serve", "--notify-max-attempts", "0"]).is_err());

        let file: FileConfig = toml::from_str(
            "[[webhooks]]\nurl = \"https://hooks.example.com/fieldops\"\nsecret = \"whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0\"\nevent_kinds = [\"task.assigned\"]",
        )
        .unwrap();
        let s = resolve(&none_common(), &none_serve(), &file).unwrap();
        assert_eq!(s.webhooks.len(), 1);
        assert_eq!(s.webhooks[0].url, "https://hooks.example.com/fieldops");
        assert!(
            !format!("{s:?}").contains("whsec_"),
            "webhook secrets never reach logs"
        );
        let typo = toml::from_str::<FileConfig>("[[webhooks]]\nurl = \"http://x\"\nsecrte = \"x\"");
        assert!(typo.is_err(), "unknown webhook keys are errors");
    }

    #[derive(Debug, clap::Parser)]
    struct ServeCli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    #[test]
    fn mqtt_links_are_bounded_and_layered() {
        use clap::Parser;
        for bad in ["0", "65", "-1", "four"] {
            let arg = format!("--mqtt-links={bad}");
            let err = ServeCli::try_parse_from(["serve", arg.as_str()]).unwrap_err();
            assert!(err.to_string().contains("--mqtt-links"), "{bad}: {err}");
        }
        let flags = ServeCli::try_parse_from(["serve", "--mqtt-links", "4"]).unwrap();
        assert_eq!(flags.serve.mqtt_links, Some(4));
        let s = resolve(&none_common(), &none_serve(), &FileConfig::default()).unwrap();
        assert_eq!(s.mqtt_links, None, "unset: serve decides");
        let file: FileConfig = toml::from_str("mqtt_links = 3").unwrap();
        let s = resolve(&none_common(), &none_serve(), &file).unwrap();
        assert_eq!(s.mqtt_links, Some(3));
        let s = resolve(&none_common(), &flags.serve, &file).unwrap();
        assert_eq!(s.mqtt_links, Some(4), "a flag beats the file");
    }

    /// A bounded numeric setting: out-of-range or non-numeric flags are refused naming the flag,
    /// the default applies when nothing is set, a file value is clamped into the range (clap
    /// does not check files), and a flag beats the file.
    struct Bounded {
        flag: &'static str,
        bad: &'static [&'static str],
        default: u32,
        file: &'static str,
        clamped: u32,
        flag_value: &'static str,
        read: fn(&Settings) -> u32,
    }

    #[test]
    fn bounded_settings_are_checked_and_layered() {
        use clap::Parser;
        let cases = [
            Bounded {
                flag: "--scan-max-age-days",
                bad: &["0", "3651", "-1", "week"],
                default: domain::scans::DEFAULT_MAX_AGE_DAYS,
                file: "scan_max_age_days = 100000",
                clamped: 3650,
                flag_value: "30",
                read: |s| s.scan_max_age_days,
            },
            Bounded {
                flag: "--stale-after-hours",
                bad: &["0", "8785", "-1", "day"],
                default: domain::alerts::DEFAULT_STALE_AFTER_HOURS,
                file: "stale_after_hours = 100000",
                clamped: domain::alerts::MAX_STALE_AFTER_HOURS,
                flag_value: "6",
                read: |s| s.stale_after_hours,
            },
        ];
        for case in cases {
            for bad in case.bad {
                let arg = format!("{}={bad}", case.flag);
                let err = ServeCli::try_parse_from(["serve", arg.as_str()]).unwrap_err();
                assert!(err.to_string().contains(case.flag), "{arg}: {err}");
            }
            let s = resolve(&none_common(), &none_serve(), &FileConfig::default()).unwrap();
            assert_eq!((case.read)(&s), case.default, "{} default", case.flag);
            let file: FileConfig = toml::from_str(case.file).unwrap();
            let s = resolve(&none_common(), &none_serve(), &file).unwrap();
            assert_eq!((case.read)(&s), case.clamped, "{}: file clamped", case.file);
            let flags = ServeCli::try_parse_from(["serve", case.flag, case.flag_value]).unwrap();
            let s = resolve(&none_common(), &flags.serve, &file).unwrap();
            assert_eq!(
                (case.read)(&s).to_string(),
                case.flag_value,
                "{}: a flag beats the file",
                case.flag
            );
        }
    }

    #[test]
    fn the_removed_broker_memory_setting_says_why() {
        use clap::Parser;
        let flags = ServeCli::try_parse_from(["serve", "--mqtt-broker-memory-mb", "256"]).unwrap();
        let err = resolve(&none_common(), &flags.serve, &FileConfig::default()).unwrap_err();
        assert_eq!(err.to_string(), REMOVED_BROKER_MEMORY);
        let file: FileConfig = toml::from_str("mqtt_broker_memory_mb = 256").unwrap();
        let err = resolve(&none_common(), &none_serve(), &file).unwrap_err();
        assert!(err.to_string().contains("was removed"), "{err}");
    }

    #[test]
    fn daily_backups_are_layered_and_bounded() {
        use clap::Parser;
        let s = resolve(&none_common(), &none_serve(), &FileConfig::default()).unwrap();
        assert_eq!(s.backup, None, "no backups unless asked");
        let file: FileConfig = toml::from_str("backup_dir = \"/var/backups/fieldops\"").unwrap();
        let s = resolve(&none_common(), &none_serve(), &file).unwrap();
        assert_eq!(
            s.backup,
            Some(BackupSchedule {
                dir: "/var/backups/fieldops".into(),
                keep: DEFAULT_BACKUP_KEEP
            })
        );
        let flags = ServeCli::try_parse_from(["serve", "--backup-keep", "30"]).unwrap();
        let s = resolve(&none_common(), &flags.serve, &file).unwrap();
        assert_eq!(
            s.backup.map(|b| b.keep),
            Some(30),
            "a flag beats the default"
        );
        let err = resolve(&none_common(), &flags.serve, &FileConfig::default()).unwrap_err();
        assert!(err.to_string().contains("backup_dir"), "{err}");
        for bad in ["0", "3651", "week"] {
            let arg = format!("--backup-keep={bad}");
            let err = ServeCli::try_parse_from(["serve", arg.as_str()]).unwrap_err();
            assert!(err.to_string().contains("--backup-keep"), "{bad}: {err}");
        }
        let file: FileConfig = toml::from_str("backup_dir = \"b\"\nbackup_keep = 100000").unwrap();
        let s = resolve(&none_common(), &none_serve(), &file).unwrap();
        assert_eq!(
            s.backup.map(|b| b.keep),
            Some(3650),
            "a file's value is clamped"
        );
    }

    #[test]
    fn tls_needs_both_files() {
        use clap::Parser;
        assert!(ServeCli::try_parse_from(["serve", "--mqtt-tls-cert", "c.pem"]).is_err());
        let flags = ServeCli::try_parse_from([
            "serve",
            "--mqtt-tls-cert",
            "c.pem",
            "--mqtt-tls-key",
            "k.pem",
        ])
        .unwrap();
        let s = resolve(&none_common(), &flags.serve, &FileConfig::default()).unwrap();
        assert_eq!(s.mqtt_tls, Some(("c.pem".into(), "k.pem".into())));
        assert!(!format!("{s:?}").contains("BEGIN"));
        let file: FileConfig = toml::from_str("mqtt_tls_cert = \"c.pem\"").unwrap();
        assert!(resolve(&none_common(), &none_serve(), &file).is_err());
        // The same for built-in HTTPS.
        assert!(ServeCli::try_parse_from(["serve", "--tls-key", "k.pem"]).is_err());
        let file: FileConfig = toml::from_str("tls_cert = \"c.pem\"\ntls_key = \"k.pem\"").unwrap();
        let s = resolve(&none_common(), &none_serve(), &file).unwrap();
        assert_eq!(s.tls, Some(("c.pem".into(), "k.pem".into())));
        let file: FileConfig = toml::from_str("tls_key = \"k.pem\"").unwrap();
        let err = resolve(&none_common(), &none_serve(), &file).unwrap_err();
        assert!(err.to_string().contains("tls_cert"), "{err}");
    }

    #[test]
    fn unknown_file_keys_are_errors() {
        assert!(toml::from_str::<FileConfig>("listn = \"x\"").is_err());
    }

    #[test]
    fn map_style_url_is_an_http_url_or_a_path() {
        let mut flags = none_serve();
        flags.map_style_url = Some("https://tiles.example.org/style.json".into());
        let s = resolve(&none_common(), &flags, &FileConfig::default()).unwrap();
        assert_eq!(
            s.map_style_url.as_deref(),
            Some("https://tiles.example.org/style.json")
        );
        assert!(!s.secure_cookies);
        let file = FileConfig {
            map_style_url: Some("/styles/local.json".into()),
            secure_cookies: Some(true),
            ..FileConfig::default()
        };
        let s = resolve(&none_common(), &none_serve(), &file).unwrap();
        assert_eq!(s.map_style_url.as_deref(), Some("/styles/local.json"));
        assert!(s.secure_cookies);
        for bad in [
            "javascript:alert(1)",
            "tiles.example.org/style.json",
            "https://x.org/a b",
        ] {
            flags.map_style_url = Some(bad.into());
            assert!(
                resolve(&none_common(), &flags, &FileConfig::default()).is_err(),
                "{bad}"
            );
        }
    }
}
