//! The OpenAPI document. Paths are collected from the handlers' `#[utoipa::path]` attributes
//! as the router is built (utoipa-axum), so a route cannot exist without being documented.
//!
//! The error statuses that come from shared layers (the bearer-token extractor, `require`, the
//! JSON and query extractors, path ids) are documented by the response sets below, which each
//! route names in its `responses(...)`, so every route describes them the same way.
//! `api/tests/openapi.rs` walks the document and fails when a route misses a set it needs.

use mobile_shared::customers::{ComplaintState, CustomerSort};
use mobile_shared::tasks::TaskStateFilter;
use mobile_shared::wire::Problem;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "fieldops API", description = "Equipment-rental and field-service backend."),
    modifiers(&BearerAuth),
    // Response sets reference `Problem` but, unlike `body = …`, do not register it; query
    // parameters do not register the enums they name either.
    components(schemas(Problem, TaskStateFilter, CustomerSort, ComplaintState)),
    tags(
        (name = "auth", description = "Login and logout (bearer tokens; the console's session cookie)"),
        (name = "assets", description = "Asset registry, tags and scanned-code resolution"),
        (name = "sites", description = "Depots, customer sites, workshops"),
        (name = "users", description = "Users and roles (admin)"),
        (name = "devices", description = "GPS trackers (MQTT credentials)"),
        (name = "audit", description = "Audit log (admin)"),
        (name = "telemetry", description = "Position history and refused telemetry"),
        (name = "scans", description = "Field commands, offline sync, photos"),
        (name = "stocktakes", description = "Stocktakes: counting the machines at a site"),
        (name = "tasks", description = "Tasks (\"my tasks\", work orders…) and the on-time KPI"),
        (name = "labels", description = "Printable asset labels"),
        (name = "maintenance", description = "Service plans, forecasts of the next service, services done"),
        (name = "notifications", description = "In-app inbox, delivery log, webhook endpoints"),
        (name = "alerts", description = "The dispatcher's alert lists: stale or silent assets, assets off-site"),
        (name = "map", description = "Map aggregates: the per-site status table, the assets of a bbox (clustered on the server), heat cells"),
        (name = "customers", description = "Customers, contacts, the contact log, complaints, picklists, classification (RFM value tier, credit grade) and its settings (the rental office)"),
        (name = "contracts", description = "Contracts, renewals and their approvals; availability and maintenance blocks"),
        (name = "spreadsheets", description = "Importing and exporting the office's lists (assets, sites, customers, contracts) as CSV or XLSX"),
        (name = "ops", description = "Health, readiness, metrics"),
    )
)]
pub struct ApiDoc;

/// 401 alone: for routes every signed-in user may call, whatever the role, so 403 cannot
/// happen.
#[derive(IntoResponses)]
#[response(
    status = 401,
    description = "No valid bearer token: missing, unknown, expired or revoked",
    headers(("www-authenticate" = String, description = "`Bearer`"))
)]
pub struct Unauthenticated(pub Problem);

/// 401 and 403: for routes only some roles may call.
#[derive(IntoResponses)]
pub enum AuthErrors {
    #[response(
        status = 401,
        description = "No valid bearer token: missing, unknown, expired or revoked",
        headers(("www-authenticate" = String, description = "`Bearer`"))
    )]
    Unauthenticated(Problem),
    #[response(status = 403, description = "The user's role may not do this")]
    Forbidden(Problem),
}

/// What the JSON body extractor answers before a handler runs; a route that validates further
/// may name its own 422 after this set to describe it.
#[derive(IntoResponses)]
pub enum JsonBodyErrors {
    #[response(status = 400, description = "The body is not valid JSON")]
    MalformedJson(Problem),
    #[response(
        status = 413,
        description = "The body is larger than the server accepts"
    )]
    TooLarge(Problem),
    #[response(
        status = 415,
        description = "The body is not sent as `Content-Type: application/json`"
    )]
    UnsupportedMediaType(Problem),
    #[response(
        status = 422,
        description = "A field is missing, unknown, of the wrong type or invalid; `fields` names each"
    )]
    Invalid(Problem),
}

/// What the query extractor and the list bounds answer.
#[derive(IntoResponses)]
#[response(
    status = 422,
    description = "A query parameter is missing, malformed or out of range; `fields` names it"
)]
pub struct QueryErrors(pub Problem);

/// An id in the path names no record (an id that is not a UUID names none either).
#[derive(IntoResponses)]
#[response(status = 404, description = "No such record")]
pub struct NotFound(pub Problem);

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("Token from POST /api/v1/auth/login"))
                    .build(),
            ),
        );
        // Every route that takes the bearer token also takes the console's cookie instead;
        // declared here once, named on the session routes.
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "fieldops_session",
                "Console session from POST /api/v1/auth/session. Accepted wherever the bearer \
                 token is; writes signed in by it must send `X-Fieldops-Csrf: 1` (else 403 \
                 `csrf_rejected`).",
            ))),
        );
    }
}
