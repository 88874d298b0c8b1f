//! `fieldops serve` / `fieldops api`: one process running the API and, for `serve`, the IoT
//! gateway: the embedded MQTT endpoint for trackers, or a client of an external broker.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use domain::{Store, StoreOptions};
use std::sync::Arc;

use domain::telemetry::{IngestOptions, Ingestor};
use iot_gateway::endpoint::{DeviceAuth, EndpointSettings, TlsPem};
use iot_gateway::{
    BrokerAddress, EmbeddedGateway, EmbeddedSettings, Gateway, GatewayOptions, IngestSettings,
};

use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{Mqtt, Settings};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// API and gateway (the embedded MQTT endpoint unless `--mqtt-url`).
    All,
    /// API only.
    ApiOnly,
    /// Gateway only (plus health, readiness and metrics on --listen).
    GatewayOnly,
}

/// Runs the process until SIGINT/SIGTERM. With `demo_trackers`, also seeds a demo fleet and
/// drives that many simulated trackers (`fieldops demo`).
pub async fn run(
    settings: Settings,
    role: Role,
    demo_trackers: Option<usize>,
) -> anyhow::Result<()> {
    tracing::info!(
        ?settings,
        ?role,
        "starting fieldops {}",
        env!("CARGO_PKG_VERSION")
    );
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating data dir {}", settings.data_dir.display()))?;

    let store = Store::connect(&settings.database_url, &StoreOptions::default())
        .await
        .with_context(|| {
            format!(
                "opening database {} (see --database-url)",
                domain::store::redact_url(&settings.database_url)
            )
        })?;
    store.migrate().await.context("applying migrations")?;
    first_run(&store).await?;
    if role != Role::GatewayOnly {
        let n = domain::notifications::webhooks::sync_configured(
            &store,
            &domain::Actor::system(),
            &settings.webhooks,
        )
        .await
        .context("webhook endpoints of the configuration file (`[[webhooks]]`)")?;
        tracing::info!(enabled = n, "webhook endpoints from the configuration file");
    }

    // Bind HTTP before starting anything long-lived, so a taken port fails fast and clearly.
    let listener = TcpListener::bind(settings.listen).await.with_context(|| {
        format!(
            "cannot listen for HTTP on {} (choose another address with --listen / FIELDOPS_LISTEN)",
            settings.listen
        )
    })?;
    let http_addr = listener.local_addr()?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let notifier_stop = stop_rx.clone();
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };

    let mut api_metrics = api::Metrics::new();
    let gateway_metrics = iot_gateway::GatewayMetrics::default();
    gateway_metrics.register(api_metrics.registry_mut());
    let bus = domain::events::EventBus::default();
    let notifier_metrics = notifier::NotifierMetrics::default();
    notifier_metrics.register(api_metrics.registry_mut());
    // The outbox is drained by the processes that serve the API (where notifications are
    // enqueued), not by a gateway-only one.
    let notifier = if role == Role::GatewayOnly {
        None
    } else {
        let notify_settings = notifier::NotifierSettings {
            smtp: settings.smtp_url.clone().map(|url| notifier::SmtpSettings {
                url,
                from: settings.smtp_from.clone(),
                timeout: Duration::from_secs(30),
            }),
            max_attempts: i32::try_from(settings.notify_max_attempts).unwrap_or(10),
            ..notifier::NotifierSettings::default()
        };
        Some(
            notifier::Notifier::start(
                store.clone(),
                notify_settings,
                notifier_metrics,
                notifier_stop,
            )
            .context("starting notification delivery (see --smtp-url, --smtp-from)")?,
        )
    };

    // Daily backups are a rule on the clock, so they run where the clock runs.
    let backups = match (&settings.backup, role) {
        (Some(b), Role::All | Role::ApiOnly) => {
            let metrics = api::metrics::BackupMetrics::default();
            metrics.register(api_metrics.registry_mut());
            Some(
                domain::backup::schedule::DailyBackups::new(
                    store.clone(),
                    &settings.data_dir,
                    &b.dir,
                    usize::try_from(b.keep).unwrap_or(1),
                )
                .context("scheduled backups (--backup-dir, --backup-keep)")?
                .with_observer(Arc::new(move |outcome| metrics.record(outcome))),
            )
        }
        (Some(_), Role::GatewayOnly) => {
            tracing::warn!(
                "--backup-dir is ignored by `fieldops gateway`: backups run on the clock, in \
                 `serve` or `api`"
            );
            None
        }
        (None, _) => None,
    };

    // The clock runs with the API (`serve`, `api`), not in gateway-only processes: rules write
    // business data, and with several API processes the mark locks pick one evaluator.
    let clock = if role == Role::GatewayOnly {
        None
    } else {
        let metrics = api::metrics::ClockMetrics::default();
        metrics.register(api_metrics.registry_mut());
        let instance = format!(
            "{}-{}",
            std::process::id(),
            &domain::clock::new_id().simple().to_string()[24..]
        );
        let scheduler = domain::schedule::Scheduler::new(store.clone(), instance.clone())
            .with_builtin_rules()
            .with_rule(domain::contracts::lifecycle::LifecycleRule)
            .with_rule(domain::contracts::renewals::RenewalsRule);
        let mut scheduler = domain::customers::rules::register(scheduler);
        if let Some(backups) = &backups {
            tracing::info!(?backups, "daily backups");
            scheduler = scheduler.with_rule(backups.rule());
        }
        // Retention 0 keeps the audit log forever: no purge rule at all.
        if settings.audit_retention_days > 0 {
            let days = settings.audit_retention_days;
            scheduler = scheduler.with_rule(domain::audit::retention::RetentionRule::new(days));
        }
        let every = Duration::from_secs(u64::from(settings.clock_interval_secs));
        tracing::info!(%instance, rules = ?scheduler.rule_names(), ?every, "clock starting");
        Some(tokio::spawn(scheduler.run(
            every,
            stopped(),
            move |report| metrics.record(report),
        )))
    };

    let mut gateway = None;
    let mut embedded = None;
    if role != Role::ApiOnly {
        if role == Role::GatewayOnly && matches!(settings.mqtt, Mqtt::Embedded(_)) {
            anyhow::bail!(
                "`fieldops gateway` needs an external broker: pass --mqtt-url (FIELDOPS_MQTT_URL)"
            );
        }
        let ingest = IngestSettings {
            silent_after: chrono::Duration::minutes(i64::from(
                settings.silent_after_minutes.max(1),
            )),
            ..IngestSettings::for_backend(store.backend())
        };
        let ingestor = Arc::new(Ingestor::new(
            store.clone(),
            bus.clone(),
            IngestOptions::default(),
        ));
        let trackers_at = match &settings.mqtt {
            Mqtt::Embedded(addr) => {
                // Trackers connect to this process; a reading is acknowledged once committed.
                let endpoint = EndpointSettings {
                    tls: settings.mqtt_tls.as_ref().map(read_tls).transpose()?,
                    ..EndpointSettings::default()
                };
                let endpoint_metrics = iot_gateway::EndpointMetrics::default();
                endpoint_metrics.register(api_metrics.registry_mut());
                let started = EmbeddedGateway::start(
                    *addr,
                    EmbeddedSettings { endpoint, ingest },
                    DeviceAuth::new(store.clone()),
                    ingestor,
                    gateway_metrics,
                    endpoint_metrics,
                    stopped(),
                )
                .await?;
                let bound = started.local_addr();
                let scheme = if settings.mqtt_tls.is_some() {
                    "mqtts"
                } else {
                    "mqtt"
                };
                println!("fieldops: MQTT endpoint for trackers on {scheme}://{bound}");
                tracing::info!(%bound, tls = settings.mqtt_tls.is_some(), "MQTT endpoint listening");
                embedded = Some(started);
                (bound.ip().to_string(), bound.port())
            }
            Mqtt::External(url) => {
                let address = BrokerAddress::parse(url)?;
                let at = (address.host.clone(), address.port);
                let mut options = GatewayOptions::new(address);
                options.client_id = settings.mqtt_client_id.clone();
                options.connections = settings.mqtt_links.map(usize::from).unwrap_or(1);
                // One gateway subscribes plainly: Mosquitto does not restore shared
                // subscriptions from its persistence file, so after a broker restart a shared
                // group would miss what trackers publish before it resubscribes. Scale-out
                // gateways opt in to sharing.
                options.share_group = match settings.mqtt_share_group.as_deref() {
                    Some("none") | Some("") => None,
                    Some(group) => Some(group.to_owned()),
                    None if role == Role::GatewayOnly => Some("fieldops".to_owned()),
                    None => None,
                };
                gateway = Some(Gateway::start(
                    options,
                    ingestor,
                    ingest,
                    gateway_metrics,
                    stopped(),
                ));
                at
            }
        };
        if let Some(n) = demo_trackers {
            let store = store.clone();
            let data_dir = settings.data_dir.clone();
            let stop = stopped();
            tokio::spawn(async move {
                if let Err(e) = crate::demo::run(store, &data_dir, trackers_at, n, stop).await {
                    tracing::error!("demo fleet failed: {e:#}");
                }
            });
        }
    }

    // Built-in HTTPS: the same rustls configuration as the MQTT endpoint's, read at start so a
    // bad certificate fails here and not at the first client.
    let https = match &settings.tls {
        Some(files) => {
            let pem = read_pem(files, "HTTPS", ("--tls-cert", "--tls-key"))?;
            Some(iot_gateway::endpoint::server_tls_config(&pem).context("HTTPS certificate")?)
        }
        None => None,
    };
    let scheme = if https.is_some() { "https" } else { "http" };
    let mut api_config = api::ApiConfig {
        session_ttl: chrono::Duration::hours(i64::from(settings.session_ttl_hours.max(1))),
        body_limit: settings.body_limit_bytes,
        request_timeout: Duration::from_secs(settings.request_timeout_secs.max(1)),
        metrics_token_sha256: None,
        public_url: format!("{scheme}://{http_addr}"),
        company_name: "fieldops".into(),
        data_dir: settings.data_dir.clone(),
        scan_policy: domain::scans::Policy::with_max_age_days(settings.scan_max_age_days),
        map_style_url: settings.map_style_url.clone(),
        secure_cookies: settings.secure_cookies || https.is_some(),
        stale_after_hours: settings.stale_after_hours,
        trusted_proxies: settings.trusted_proxies.clone(),
        documents_key: settings
            .documents_key
            .as_deref()
            .map(domain::sealed_blobs::SealingKey::from_base64)
            .transpose()
            .map_err(|_| {
                anyhow::anyhow!(
                    "documents_key must be 32 bytes in base64 (openssl rand -base64 32)"
                )
            })?,
        two_factor: domain::two_factor::TwoFactorPolicy::required_for(
            settings.require_2fa_roles.iter().copied(),
        ),
        login_throttle: domain::login_throttle::ThrottlePolicy {
            account_max_failures: settings.login_max_failures,
            client_max_failures: settings.login_ip_max_failures,
            window: chrono::Duration::minutes(i64::from(settings.login_lockout_minutes)),
            lockout: chrono::Duration::minutes(i64::from(settings.login_lockout_minutes)),
        },
        ..api::ApiConfig::default()
    };
    if !settings
        .require_2fa_roles
        .contains(&mobile_shared::Role::Admin)
    {
        tracing::warn!(
            roles = ?settings.require_2fa_roles,
            "admins may log in without two-factor authentication (--require-2fa-roles)"
        );
    }
    if let Some(token) = &settings.metrics_token {
        api_config.metrics_token_sha256 = Some(Sha256::digest(token.as_bytes()).to_vec());
    }
    let mut state = api::AppState::new(store.clone(), api_config);
    state.metrics = Arc::new(api_metrics);
    state.events = bus;
    // The embedded endpoint is "connected" while this process runs: trackers reach it here.
    let (_endpoint_up, endpoint_up) = watch::channel(true);
    state.mqtt_connected = match (&gateway, &embedded) {
        (Some(g), _) => Some(g.connected()),
        (None, Some(_)) => Some(endpoint_up),
        (None, None) => None,
    };
    let ops_only = role == Role::GatewayOnly;

    println!("fieldops: HTTP listening on {scheme}://{http_addr}");
    tracing::info!(%http_addr, tls = https.is_some(), "HTTP listening");

    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = stop_tx.send(true);
    });
    match https {
        Some(config) => {
            let listener = api::tls::TlsListener::new(listener, config)?;
            if ops_only {
                api::serve_ops_tls(listener, state, stopped()).await
            } else {
                api::serve_tls(listener, state, stopped()).await
            }
        }
        None if ops_only => api::serve_ops(listener, state, stopped()).await,
        None => api::serve(listener, state, stopped()).await,
    }
    .context("HTTP server")?;
    if let Some(clock) = clock {
        // A tick in progress finishes (or its window rolls back) before the pool closes.
        let _ = clock.await;
    }
    if let Some(backups) = backups {
        // A backup in progress finishes (it is renamed into place only when complete).
        backups.idle().await;
    }
    if let Some(g) = gateway {
        g.join().await;
    }
    if let Some(e) = embedded {
        e.join().await;
    }
    if let Some(n) = notifier {
        n.join().await;
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// On an empty database, creates `admin`: with FIELDOPS_ADMIN_PASSWORD if set, otherwise with a
/// random password printed once here. There is never a fixed default password.
async fn first_run(store: &Store) -> anyhow::Result<()> {
    let password = std::env::var("FIELDOPS_ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    let from_env = password.is_some();
    match domain::users::ensure_first_admin(store, password).await {
        Ok(Some(generated)) => {
            // Printed on the console, not logged: logs are shipped and kept, this is a secret.
            println!("==============================================================");
            println!("fieldops: first run, created user `admin`");
            println!("fieldops: admin password: {generated}");
            println!("fieldops: this is shown once; change it or store it safely");
            println!("==============================================================");
        }
        Ok(None) if from_env => {
            tracing::info!("admin user ready (password from FIELDOPS_ADMIN_PASSWORD)");
        }
        Ok(None) => {}
        Err(domain::DomainError::Validation(f)) => {
            anyhow::bail!(
                "FIELDOPS_ADMIN_PASSWORD is not acceptable: {}",
                f.values().cloned().collect::<Vec<_>>().join("; ")
            )
        }
        Err(e) => return Err(e).context("creating the first admin user"),
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Reads the endpoint's certificate chain and key (only the binary reads files).
fn read_tls(files: &(PathBuf, PathBuf)) -> anyhow::Result<TlsPem> {
    read_pem(files, "MQTT TLS", ("--mqtt-tls-cert", "--mqtt-tls-key"))
}

/// Reads a certificate chain and key for a TLS listener; errors name the listener and flags.
fn read_pem(
    (cert, key): &(PathBuf, PathBuf),
    listener: &str,
    (cert_flag, key_flag): (&str, &str),
) -> anyhow::Result<TlsPem> {
    let read = |path: &PathBuf, what: &str, flag: &str| {
        std::fs::read(path)
            .with_context(|| format!("reading the {listener} {what} ({flag}) {}", path.display()))
    };
    Ok(TlsPem {
        cert_chain: read(cert, "certificate", cert_flag)?,
        private_key: read(key, "key", key_flag)?,
    })
}
