//! The OpenAPI document. Paths are collected from the handlers' `#[utoipa::path]` attributes
//! as the router is built (utoipa-axum), so a route cannot exist without being documented.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "fieldops API", description = "Equipment-rental and field-service backend."),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Login and logout"),
        (name = "assets", description = "Asset registry, tags and scanned-code resolution"),
        (name = "sites", description = "Depots, customer sites, workshops"),
        (name = "users", description = "Users and roles (admin)"),
        (name = "devices", description = "GPS trackers (MQTT credentials)"),
        (name = "audit", description = "Audit log (admin)"),
        (name = "telemetry", description = "Position history and refused telemetry"),
        (name = "scans", description = "Field commands, offline sync, photos"),
        (name = "stocktakes", description = "Stocktakes: counting the machines at a site"),
        (name = "labels", description = "Printable asset labels"),
        (name = "ops", description = "Health, readiness, metrics"),
    )
)]
pub struct ApiDoc;

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
    }
}
