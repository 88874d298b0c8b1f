//! The fieldops HTTP API.
//!
//! [`router`] builds the axum application from an [`AppState`]; [`serve`] runs it on a listener
//! the caller has already bound (tests bind port 0) until a shutdown future resolves, letting
//! in-flight requests finish. The API never knows which database is behind the `Store`.
#![forbid(unsafe_code)]

pub mod auth;
pub mod client;
pub mod console;
pub mod error;
pub mod extract;
pub mod metrics;
mod middleware;
pub mod openapi;
pub mod routes;
pub mod tls;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;
use domain::Store;
use tokio::net::TcpListener;
use tokio::sync::watch;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use metrics::Metrics;

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub session_ttl: chrono::Duration,
    /// Largest JSON body accepted.
    pub body_limit: usize,
    pub request_timeout: Duration,
    /// SHA-256 of a bearer token that may scrape `/metrics` without a user session.
    pub metrics_token_sha256: Option<Vec<u8>>,
    /// Public base URL of this server; asset labels encode `<public_url>/a/<CODE>`, which
    /// `/api/v1/resolve` understands.
    pub public_url: String,
    /// Printed on asset labels.
    pub company_name: String,
    /// Where uploaded photos are kept (content-addressed).
    pub data_dir: std::path::PathBuf,
    /// Largest photo upload.
    pub photo_limit: usize,
    /// Largest document uploaded to the contract archive.
    pub document_limit: usize,
    /// Seals contract documents at rest (`--documents-key`); `None`: stored as uploaded.
    pub documents_key: Option<domain::sealed_blobs::SealingKey>,
    /// Bounds on field commands' device times.
    pub scan_policy: domain::scans::Policy,
    /// MapLibre style URL for the console's map; `None`: the built-in offline basemap.
    pub map_style_url: Option<String>,
    /// Mark the session cookie `Secure` (users reach the server over HTTPS). Also set when
    /// `public_url` is `https://`.
    pub secure_cookies: bool,
    /// Hours without a position after which an asset is stale, when a request does not say
    /// (`--stale-after-hours`).
    pub stale_after_hours: u32,
    /// The live stream (`GET /api/v1/events`): coalescing period, resume ring, client queue.
    pub live: domain::events::LiveSettings,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`--trusted-proxy`); from any
    /// other peer the header is ignored ([`client`]).
    pub trusted_proxies: Vec<client::IpNet>,
    /// Roles that must use two-factor authentication (`--require-2fa-roles`; the default here
    /// is nobody, the binary's is `admin`).
    pub two_factor: domain::two_factor::TwoFactorPolicy,
    /// The brute-force limit on logins (per account and per client address).
    pub login_throttle: domain::login_throttle::ThrottlePolicy,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            session_ttl: chrono::Duration::hours(12),
            // A batch of 1000 offline commands fits comfortably.
            body_limit: 2 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            metrics_token_sha256: None,
            public_url: "http://127.0.0.1:8080".into(),
            company_name: "fieldops".into(),
            data_dir: std::path::PathBuf::from("./data"),
            photo_limit: 15 * 1024 * 1024,
            // A scanned, signed contract of a few dozen pages.
            document_limit: 25 * 1024 * 1024,
            documents_key: None,
            scan_policy: domain::scans::Policy::default(),
            map_style_url: None,
            secure_cookies: false,
            stale_after_hours: domain::alerts::DEFAULT_STALE_AFTER_HOURS,
            live: domain::events::LiveSettings::default(),
            trusted_proxies: Vec::new(),
            two_factor: domain::two_factor::TwoFactorPolicy::default(),
            login_throttle: domain::login_throttle::ThrottlePolicy::default(),
        }
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub metrics: Arc<Metrics>,
    /// Whether the gateway's MQTT connection is up; `None` in a process without a gateway.
    pub mqtt_connected: Option<watch::Receiver<bool>>,
    /// Live fleet changes (positions, geofence crossings, device status) for live views.
    pub events: domain::events::EventBus,
    /// This process's live stream, fed from the database's events (started by [`serve`]).
    pub live: domain::events::LiveHub,
    /// Where photo bytes are kept (content-addressed).
    pub blobs: Arc<dyn domain::photos::BlobStore>,
    /// The contract archive's storage (`<data_dir>/documents`, sealed when a key is set).
    pub archive: Arc<domain::contract_documents::Archive>,
    /// Bounds concurrent QR decodes: each is CPU-bound on the blocking pool, so more at once
    /// than there are cores only adds latency and memory.
    pub decode_permits: Arc<tokio::sync::Semaphore>,
    pub config: Arc<ApiConfig>,
    /// Spreadsheet imports running in the background, and their reports.
    pub imports: Arc<routes::imports::ImportJobs>,
}

impl AppState {
    pub fn new(store: Store, config: ApiConfig) -> AppState {
        AppState {
            store,
            metrics: Arc::new(Metrics::new()),
            mqtt_connected: None,
            events: domain::events::EventBus::default(),
            live: domain::events::LiveHub::new(config.live.clone()),
            blobs: Arc::new(domain::photos::FsBlobStore::new(
                config.data_dir.join(domain::photos::DATA_SUBDIR),
            )),
            archive: Arc::new(domain::contract_documents::Archive::new(
                &config
                    .data_dir
                    .join(domain::contract_documents::DATA_SUBDIR),
                config.documents_key.as_ref(),
                config.document_limit,
            )),
            decode_permits: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            )),
            config: Arc::new(config),
            imports: Arc::default(),
        }
    }
}

/// The routes and the OpenAPI document, built together.
fn api_routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    use routes::*;
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(
            auth::create_session,
            auth::get_session,
            auth::patch_session,
            auth::delete_session
        ))
        .routes(routes!(two_factor::status))
        .routes(routes!(two_factor::setup))
        .routes(routes!(two_factor::confirm))
        .routes(routes!(two_factor::disable))
        .routes(routes!(two_factor::renew_recovery_codes))
        .routes(routes!(two_factor::reset_user))
        .routes(routes!(assets::list_assets, assets::create_asset))
        .routes(routes!(
            assets::get_asset,
            assets::patch_asset,
            assets::delete_asset
        ))
        .routes(routes!(assets::list_identifiers, assets::add_identifier))
        .routes(routes!(assets::remove_identifier))
        .routes(routes!(assets::resolve))
        .routes(routes!(labels::label_svg))
        .routes(routes!(labels::label_png))
        .routes(routes!(labels::sheet_svg))
        .routes(routes!(
            categories::list_categories,
            categories::create_category
        ))
        .routes(routes!(sites::list_sites, sites::create_site))
        .routes(routes!(sites::get_site, sites::patch_site))
        .routes(routes!(
            stocktakes::list_stocktakes,
            stocktakes::create_stocktake
        ))
        .routes(routes!(stocktakes::get_stocktake))
        .routes(routes!(stocktakes::post_scans))
        .routes(routes!(stocktakes::complete_stocktake))
        .routes(routes!(stocktakes::get_report))
        .routes(routes!(stocktakes::resolve_finding))
        .routes(routes!(tasks::list_tasks))
        .routes(routes!(tasks::get_task))
        .routes(routes!(tasks::complete_task))
        .routes(routes!(tasks::cancel_task))
        .routes(routes!(tasks::task_kpi))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::get_user, users::patch_user))
        .routes(routes!(notifications::inbox))
        .routes(routes!(notifications::mark_read))
        .routes(routes!(notifications::deliveries))
        .routes(routes!(notifications::retry_delivery))
        .routes(routes!(notifications::stats))
        .routes(routes!(
            notifications::list_webhooks,
            notifications::create_webhook
        ))
        .routes(routes!(notifications::patch_webhook))
        .routes(routes!(notifications::test_webhook))
        .routes(routes!(devices::list_devices, devices::create_device))
        .routes(routes!(audit::list_audit))
        .routes(routes!(audit::export_audit))
        .routes(routes!(scans::post_scan))
        .routes(routes!(scans::post_batch))
        .routes(routes!(scans::upload_photo))
        .routes(routes!(scans::get_photo))
        .routes(routes!(scans::field_history))
        .routes(routes!(on_hire::open_lines))
        .routes(routes!(on_hire::contract_on_hire))
        .routes(routes!(on_hire::contract_damages))
        .routes(routes!(telemetry::positions))
        .routes(routes!(alerts::stale))
        .routes(routes!(alerts::off_site))
        .routes(routes!(map::sites))
        .routes(routes!(map::assets))
        .routes(routes!(map::heat))
        .routes(routes!(telemetry::list_rejects))
        .routes(routes!(events::events))
        .routes(routes!(maintenance::list_plans, maintenance::create_plan))
        .routes(routes!(
            maintenance::get_plan,
            maintenance::patch_plan,
            maintenance::delete_plan
        ))
        .routes(routes!(maintenance::asset_maintenance))
        .routes(routes!(maintenance::service_due))
        .routes(routes!(maintenance::record_service))
        .routes(routes!(
            maintenance::list_work_orders,
            maintenance::create_work_order
        ))
        .routes(routes!(
            maintenance::get_work_order,
            maintenance::patch_work_order
        ))
        .routes(routes!(maintenance::complete_work_order))
        .routes(routes!(maintenance::maintenance_kpis))
        .routes(routes!(
            contract_documents::list_documents,
            contract_documents::upload_document
        ))
        .routes(routes!(contract_documents::download_document))
        .routes(routes!(contract_documents::search_documents))
        .routes(routes!(
            customers::list_customers,
            customers::create_customer
        ))
        .routes(routes!(customers::customer_summary))
        .routes(routes!(
            customers::get_customer,
            customers::patch_customer,
            customers::delete_customer
        ))
        .routes(routes!(customers::list_contacts, customers::create_contact))
        .routes(routes!(customers::patch_contact, customers::delete_contact))
        .routes(routes!(
            customers::list_follow_ups,
            customers::create_follow_up
        ))
        .routes(routes!(
            complaints::list_complaints,
            complaints::create_complaint
        ))
        .routes(routes!(
            complaints::get_complaint,
            complaints::close_complaint
        ))
        .routes(routes!(complaints::complaint_rate))
        .routes(routes!(picklists::list_values, picklists::add_value))
        .routes(routes!(picklists::patch_value))
        .routes(routes!(
            contracts::list_contracts,
            contracts::create_contract
        ))
        .routes(routes!(contracts::get_contract, contracts::patch_contract))
        .routes(routes!(contracts::list_lines, contracts::add_line))
        .routes(routes!(contracts::sign_contract))
        .routes(routes!(contracts::end_contract))
        .routes(routes!(contracts::terminate_contract))
        .routes(routes!(contracts::renew_contract))
        .routes(routes!(
            contracts::list_approvals,
            contracts::approve_contract
        ))
        .routes(routes!(availability::availability))
        .routes(routes!(
            availability::list_blocks,
            availability::create_block
        ))
        .routes(routes!(availability::delete_block))
        .routes(routes!(
            classification::get_classification,
            classification::recompute_classification
        ))
        .routes(routes!(
            classification::get_settings,
            classification::put_settings
        ))
        .routes(routes!(imports::import_file))
        .routes(routes!(imports::import_job))
        .routes(routes!(imports::export_file))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .split_for_parts()
}

/// The OpenAPI document of this API.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    api_routes().1
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    let (routes, doc) = api_routes();
    let doc = Arc::new(doc);
    let routes = routes
        .route(
            "/api/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .merge(console::routes());
    middleware::wrap(
        routes
            .fallback(middleware::not_found)
            .layer(DefaultBodyLimit::max(
                state
                    .config
                    .photo_limit
                    .max(state.config.body_limit)
                    .max(state.config.document_limit),
            )),
        state,
    )
}

/// Only `/healthz`, `/readyz` and `/metrics`: for a process that runs the gateway alone.
pub fn ops_router(state: AppState) -> Router {
    let routes: Router<AppState> = Router::new()
        .route("/healthz", get(routes::ops::healthz))
        .route("/readyz", get(routes::ops::readyz))
        .route("/metrics", get(routes::ops::metrics));
    middleware::wrap(routes.fallback(middleware::not_found), state)
}

/// Serves [`ops_router`] until `shutdown` resolves.
pub async fn serve_ops(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, ops_router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// [`serve_ops`] over built-in TLS, every answer with HSTS.
pub async fn serve_ops_tls(
    listener: tls::TlsListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = ops_router(state).layer(axum::middleware::map_response(tls::hsts));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Serves until `shutdown` resolves, then stops accepting and lets in-flight requests finish.
/// Also runs the live stream's hub: its event streams end at shutdown (they would otherwise
/// keep graceful shutdown waiting forever), and its database listener is released before this
/// returns, so the caller can close the store.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_on(listener, state, |app| app, shutdown).await
}

/// [`serve`] over built-in TLS (`--tls-cert`, `--tls-key`), every answer with HSTS.
pub async fn serve_tls(
    listener: tls::TlsListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let hsts = |app: Router| app.layer(axum::middleware::map_response(tls::hsts));
    serve_on(listener, state, hsts, shutdown).await
}

async fn serve_on<L>(
    listener: L,
    state: AppState,
    wrap: impl FnOnce(Router) -> Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
    client::Peer:
        for<'a> axum::extract::connect_info::Connected<axum::serve::IncomingStream<'a, L>>,
{
    let hub = state.live.clone();
    let pump = hub.start(state.store.clone(), state.events.clone());
    let app = wrap(router(state));
    let stopping = hub.clone();
    // With the peer's address: the audit log records each request's client.
    let app = app.into_make_service_with_connect_info::<client::Peer>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            stopping.stop();
        })
        .await;
    hub.stop();
    if let Some(pump) = pump {
        let _ = pump.await;
    }
    served
}
