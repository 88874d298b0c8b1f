//! Login, logout, bearer tokens, and who may call what.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use mobile_shared::{Action, Role};
use reqwest::{Method, StatusCode};
use serde_json::json;

domain::backend_matrix!(
    TestApp:
    login_returns_token_expiry_and_user,
    bad_credentials_are_one_answer,
    missing_or_garbage_tokens_are_unauthenticated,
    logout_revokes_the_token,
    each_role_reaches_exactly_its_routes,
    users_are_managed_by_admins,
    maintenance_planner_plans_and_nothing_more,
);

async fn login_returns_token_expiry_and_user(app: TestApp) {
    let resp = app
        .post(
            "/api/v1/auth/login",
            None,
            // Usernames are case-insensitive.
            &json!({"username": "Admin", "password": ADMIN_PASSWORD}),
        )
        .await;
    let body = expect_json(resp, StatusCode::OK).await;
    let token = s(&body, "token");
    assert!(token.len() >= 20, "{body}");
    assert_ne!(token, app.admin(), "each login is its own session");
    let expires_at: chrono::DateTime<chrono::Utc> =
        s(&body, "expires_at").parse().expect("RFC 3339");
    assert!(expires_at > chrono::Utc::now(), "{body}");
    let user = &body["user"];
    assert!(s(user, "id").parse::<uuid::Uuid>().is_ok(), "{body}");
    assert_eq!(user["username"], "admin");
    assert_eq!(user["role"], "admin");
    assert!(body.get("password").is_none() && user.get("password_hash").is_none());

    // The token works.
    let me = app.get("/api/v1/users", token).await;
    assert_eq!(me.status(), StatusCode::OK);
}

async fn bad_credentials_are_one_answer(app: TestApp) {
    let wrong_password = app.login_attempt("admin", "not-the-password").await;
    let www = wrong_password.headers().get("www-authenticate").cloned();
    let wrong = expect_problem(
        wrong_password,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_eq!(www.as_ref().map(|v| v.to_str().unwrap()), Some("Bearer"));

    // Byte for byte the same body for a user that does not exist: nothing tells whether it
    // does. An absurdly long username gets the same answer, not a validation error.
    for username in ["nobody-here".to_owned(), "x".repeat(1000)] {
        let resp = app.login_attempt(&username, "not-the-password").await;
        let other = expect_problem(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        assert_eq!(wrong, other, "{username}");
    }
}

async fn missing_or_garbage_tokens_are_unauthenticated(app: TestApp) {
    expect_unauthenticated(app.get("/api/v1/assets", None).await).await;
    expect_unauthenticated(app.get("/api/v1/assets", "garbage-token").await).await;
    // A token sent under another scheme is no token.
    let basic = app
        .request(Method::GET, "/api/v1/assets", None)
        .header("authorization", format!("Basic {}", app.admin()))
        .send()
        .await
        .unwrap();
    expect_unauthenticated(basic).await;
    // Writes too, before the body is even looked at.
    expect_unauthenticated(
        app.post("/api/v1/assets", None, &json!({"code": "X-1", "name": "x"}))
            .await,
    )
    .await;
    expect_unauthenticated(app.get("/metrics", None).await).await;
    expect_unauthenticated(app.post("/api/v1/auth/logout", None, &json!({})).await).await;
}

async fn logout_revokes_the_token(app: TestApp) {
    let token = app.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(
        app.get("/api/v1/assets", token.as_str()).await.status(),
        StatusCode::OK
    );
    let resp = app
        .request(Method::POST, "/api/v1/auth/logout", token.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    expect_unauthenticated(app.get("/api/v1/assets", token.as_str()).await).await;
    // Logging out again with the dead token is 401, not a crash.
    expect_unauthenticated(
        app.request(Method::POST, "/api/v1/auth/logout", token.as_str())
            .send()
            .await
            .unwrap(),
    )
    .await;
    // Other sessions of the same user live on.
    assert_eq!(
        app.get("/api/v1/assets", app.admin()).await.status(),
        StatusCode::OK
    );
}

/// One route probed with every role.
struct Probe {
    method: Method,
    /// Path; `{asset}` is replaced by a fresh asset's id for each role, `{plan}` and `{order}`
    /// by a fresh maintenance plan and work order of that asset, in the path and in the body;
    /// `{task}` by a fresh open task assigned to that role; `{customer}`, `{contact}` and
    /// `{complaint}` by a fresh customer (the probing sales user's own), its contact and its
    /// complaint, `{site}` by a fresh customer site.
    path: &'static str,
    action: Action,
    /// The roles that may call it, written out by hand.
    allowed: &'static [Role],
    /// Status on success.
    ok: StatusCode,
    /// Builds the request body for the n-th role (unique values so each call could succeed).
    body: fn(usize) -> Option<serde_json::Value>,
}

async fn each_role_reaches_exactly_its_routes(app: TestApp) {
    use Role::*;
    let none = |_: usize| None;
    let probes = [
        Probe {
            method: Method::GET,
            path: "/api/v1/assets",
            action: Action::AssetRead,
            allowed: &[
                Admin,
                Dispatcher,
                Technician,
                RentalOffice,
                Viewer,
                MaintenancePlanner,
                Sales,
                Finance,
                Legal,
            ],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/assets/{asset}",
            action: Action::AssetRead,
            allowed: &[
                Admin,
                Dispatcher,
                Technician,
                RentalOffice,
                Viewer,
                MaintenancePlanner,
                Sales,
                Finance,
                Legal,
            ],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/assets",
            action: Action::AssetWrite,
            allowed: &[Admin, Dispatcher],
            ok: StatusCode::CREATED,
            body: |n| Some(json!({"code": format!("ROLE-{n}"), "name": "role probe"})),
        },
        Probe {
            method: Method::PATCH,
            path: "/api/v1/assets/{asset}",
            action: Action::AssetWrite,
            allowed: &[Admin, Dispatcher],
            ok: StatusCode::OK,
            body: |_| Some(json!({"version": 1, "name": "renamed"})),
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/assets/{asset}/identifiers",
            action: Action::IdentifierWrite,
            allowed: &[Admin, Dispatcher, Technician],
            ok: StatusCode::CREATED,
            body: |n| Some(json!({"kind": "qr", "value": format!("role-tag-{n}")})),
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/resolve?code=nothing-matches-this",
            action: Action::ResolveCode,
            allowed: &[
                Admin,
                Dispatcher,
                Technician,
                RentalOffice,
                Viewer,
                MaintenancePlanner,
                Sales,
                Finance,
                Legal,
            ],
            // Allowed callers get as far as the lookup, which finds nothing.
            ok: StatusCode::NOT_FOUND,
            body: none,
        },
        Probe {
            method: Method::DELETE,
            path: "/api/v1/assets/{asset}",
            action: Action::AssetDelete,
            allowed: &[Admin],
            ok: StatusCode::NO_CONTENT,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/tasks?assignee=me&state=open",
            action: Action::TaskWork,
            allowed: &[
                Admin,
                Dispatcher,
                Technician,
                RentalOffice,
                Viewer,
                MaintenancePlanner,
                Sales,
                Finance,
                Legal,
            ],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/tasks/{task}",
            action: Action::TaskWork,
            allowed: &[
                Admin,
                Dispatcher,
                Technician,
                RentalOffice,
                Viewer,
                MaintenancePlanner,
                Sales,
                Finance,
                Legal,
            ],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/tasks/{task}/complete",
            action: Action::TaskWork,
            allowed: &[
                Admin,
                Dispatcher,
                Technician,
                RentalOffice,
                Viewer,
                MaintenancePlanner,
                Sales,
                Finance,
                Legal,
            ],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/tasks/{task}/cancel",
            action: Action::TaskManage,
            allowed: &[Admin, Dispatcher, MaintenancePlanner],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/kpis/tasks",
            action: Action::TaskManage,
            allowed: &[Admin, Dispatcher, MaintenancePlanner],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/sites",
            action: Action::SiteRead,
            allowed: &[
                Admin,
                Dispatcher,
                Technician,
                RentalOffice,
                Viewer,
                MaintenancePlanner,
                Sales,
                Finance,
                Legal,
            ],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/sites",
            action: Action::SiteWrite,
            allowed: &[Admin, Dispatcher, RentalOffice],
            ok: StatusCode::CREATED,
            body: |n| Some(json!({"name": format!("Site {n}"), "kind": "customer_site"})),
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/categories",
            action: Action::CategoryRead,
            allowed: &[
                Admin,
                Dispatcher,
                Technician,
                RentalOffice,
                Viewer,
                MaintenancePlanner,
                Sales,
                Finance,
                Legal,
            ],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/categories",
            action: Action::CategoryWrite,
            allowed: &[Admin, Dispatcher],
            ok: StatusCode::CREATED,
            body: |n| Some(json!({"name": format!("Category {n}")})),
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/users",
            action: Action::UserRead,
            allowed: &[Admin],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/users",
            action: Action::UserWrite,
            allowed: &[Admin],
            ok: StatusCode::CREATED,
            body: |n| {
                Some(
                    json!({"username": format!("probe-{n}"), "password": "probe-password-1", "role": "viewer"}),
                )
            },
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/devices",
            action: Action::DeviceRead,
            allowed: &[Admin, Dispatcher],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/devices",
            action: Action::DeviceWrite,
            allowed: &[Admin],
            ok: StatusCode::CREATED,
            body: |n| Some(json!({"device_id": format!("probe-tracker-{n}")})),
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/assets/{asset}/positions",
            action: Action::PositionRead,
            allowed: &[
                Admin,
                Dispatcher,
                Technician,
                RentalOffice,
                Viewer,
                MaintenancePlanner,
                Sales,
                Finance,
                Legal,
            ],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/alerts/stale",
            action: Action::PositionRead,
            allowed: &[
                Admin,
                Dispatcher,
                Technician,
                RentalOffice,
                Viewer,
                MaintenancePlanner,
                Sales,
                Finance,
                Legal,
            ],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/alerts/off-site",
            action: Action::PositionRead,
            allowed: &[
                Admin,
                Dispatcher,
                Technician,
                RentalOffice,
                Viewer,
                MaintenancePlanner,
                Sales,
                Finance,
                Legal,
            ],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::PATCH,
            path: "/api/v1/auth/session",
            // Every role sets its own language: no role check.
            action: Action::AssetRead,
            allowed: &[
                Admin,
                Dispatcher,
                Technician,
                RentalOffice,
                Viewer,
                MaintenancePlanner,
                Sales,
                Finance,
                Legal,
            ],
            ok: StatusCode::OK,
            body: |_| Some(json!({"locale": "zh-CN"})),
        },
        // A hash no photo has: 404 once authorised.
        Probe {
            method: Method::GET,
            path: "/api/v1/photos/0000000000000000000000000000000000000000000000000000000000000000",
            action: Action::AssetRead,
            allowed: &[
                Admin,
                Dispatcher,
                Technician,
                RentalOffice,
                Viewer,
                MaintenancePlanner,
                Sales,
                Finance,
                Legal,
            ],
            ok: StatusCode::NOT_FOUND,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/map/sites",
            action: Action::PositionRead,
            allowed: &[
                Admin,
                Dispatcher,
                Technician,
                RentalOffice,
                Viewer,
                MaintenancePlanner,
                Sales,
                Finance,
                Legal,
            ],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/map/assets?bbox=-10,40,20,60&zoom=4",
            action: Action::PositionRead,
            allowed: &[
                Admin,
                Dispatcher,
                Technician,
                RentalOffice,
                Viewer,
                MaintenancePlanner,
                Sales,
                Finance,
                Legal,
            ],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/map/heat?bbox=-10,40,20,60&zoom=4&metric=status",
            action: Action::PositionRead,
            allowed: &[
                Admin,
                Dispatcher,
                Technician,
                RentalOffice,
                Viewer,
                MaintenancePlanner,
                Sales,
                Finance,
                Legal,
            ],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/telemetry/rejects",
            action: Action::TelemetryRejectRead,
            allowed: &[Admin, Dispatcher],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/audit-log",
            action: Action::AuditRead,
            allowed: &[Admin],
            ok: StatusCode::OK,
            body: none,
        },
        // Routes on one record probe with an id that does not exist: 404 once authorised.
        Probe {
            method: Method::PATCH,
            path: "/api/v1/users/0190f2a4-0000-7000-8000-000000000001",
            action: Action::UserWrite,
            allowed: &[Admin],
            ok: StatusCode::NOT_FOUND,
            body: |_| Some(json!({"email": "probe@example.com"})),
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/notifications",
            action: Action::InboxRead,
            allowed: &[
                Admin,
                Dispatcher,
                Technician,
                RentalOffice,
                Viewer,
                MaintenancePlanner,
                Sales,
                Finance,
                Legal,
            ],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/notifications/0190f2a4-0000-7000-8000-000000000001/read",
            action: Action::InboxRead,
            allowed: &[
                Admin,
                Dispatcher,
                Technician,
                RentalOffice,
                Viewer,
                MaintenancePlanner,
                Sales,
                Finance,
                Legal,
            ],
            ok: StatusCode::NOT_FOUND,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/notifications/deliveries",
            action: Action::NotificationAdmin,
            allowed: &[Admin],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/notifications/deliveries/0190f2a4-0000-7000-8000-000000000001/retry",
            action: Action::NotificationAdmin,
            allowed: &[Admin],
            ok: StatusCode::NOT_FOUND,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/notifications/stats",
            action: Action::NotificationAdmin,
            allowed: &[Admin],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/webhooks",
            action: Action::WebhookManage,
            allowed: &[Admin],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/webhooks",
            action: Action::WebhookManage,
            allowed: &[Admin],
            ok: StatusCode::CREATED,
            body: |n| Some(json!({"url": format!("http://127.0.0.1:9/probe-{n}")})),
        },
        Probe {
            method: Method::PATCH,
            path: "/api/v1/webhooks/0190f2a4-0000-7000-8000-000000000001",
            action: Action::WebhookManage,
            allowed: &[Admin],
            ok: StatusCode::NOT_FOUND,
            body: |_| Some(json!({"enabled": false})),
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/webhooks/0190f2a4-0000-7000-8000-000000000001/test",
            action: Action::WebhookManage,
            allowed: &[Admin],
            ok: StatusCode::NOT_FOUND,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/maintenance/plans",
            action: Action::MaintenanceRead,
            allowed: &[
                Admin,
                Dispatcher,
                Technician,
                RentalOffice,
                Viewer,
                MaintenancePlanner,
                Sales,
                Finance,
                Legal,
            ],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/maintenance/plans/{plan}",
            action: Action::MaintenanceRead,
            allowed: &[
                Admin,
                Dispatcher,
                Technician,
                RentalOffice,
                Viewer,
                MaintenancePlanner,
                Sales,
                Finance,
                Legal,
            ],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/alerts/service-due",
            action: Action::MaintenanceRead,
            allowed: &[
                Admin,
                Dispatcher,
                Technician,
                RentalOffice,
                Viewer,
                MaintenancePlanner,
                Sales,
                Finance,
                Legal,
            ],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/assets/{asset}/maintenance",
            action: Action::MaintenanceRead,
            allowed: &[
                Admin,
                Dispatcher,
                Technician,
                RentalOffice,
                Viewer,
                MaintenancePlanner,
                Sales,
                Finance,
                Legal,
            ],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/maintenance/plans",
            action: Action::MaintenancePlanWrite,
            allowed: &[Admin, MaintenancePlanner],
            ok: StatusCode::CREATED,
            body: |_| {
                Some(json!({"name": "role probe", "category_id": null,
                    "asset_id": "{asset}", "intervals": [{"metric": "days", "every": 30}]}))
            },
        },
        Probe {
            method: Method::PATCH,
            path: "/api/v1/maintenance/plans/{plan}",
            action: Action::MaintenancePlanWrite,
            allowed: &[Admin, MaintenancePlanner],
            ok: StatusCode::OK,
            body: |_| Some(json!({"version": 1, "lead_days": 5})),
        },
        Probe {
            method: Method::DELETE,
            path: "/api/v1/maintenance/plans/{plan}",
            action: Action::MaintenancePlanWrite,
            allowed: &[Admin, MaintenancePlanner],
            ok: StatusCode::NO_CONTENT,
            body: none,
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/assets/{asset}/maintenance/services",
            action: Action::ServiceRecordWrite,
            allowed: &[Admin, Technician, MaintenancePlanner],
            ok: StatusCode::CREATED,
            body: |_| Some(json!({"plan_id": "{plan}"})),
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/events",
            action: Action::PositionRead,
            allowed: &[
                Admin,
                Dispatcher,
                Technician,
                RentalOffice,
                Viewer,
                MaintenancePlanner,
                Sales,
                Finance,
                Legal,
            ],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/work-orders",
            action: Action::WorkOrderRead,
            allowed: &[
                Admin,
                Dispatcher,
                Technician,
                RentalOffice,
                Viewer,
                MaintenancePlanner,
                Sales,
                Finance,
                Legal,
            ],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/work-orders/{order}",
            action: Action::WorkOrderRead,
            allowed: &[
                Admin,
                Dispatcher,
                Technician,
                RentalOffice,
                Viewer,
                MaintenancePlanner,
                Sales,
                Finance,
                Legal,
            ],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/kpis/maintenance",
            action: Action::WorkOrderRead,
            allowed: &[
                Admin,
                Dispatcher,
                Technician,
                RentalOffice,
                Viewer,
                MaintenancePlanner,
                Sales,
                Finance,
                Legal,
            ],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/work-orders",
            action: Action::WorkOrderWrite,
            allowed: &[Admin, Dispatcher, Technician, MaintenancePlanner],
            ok: StatusCode::CREATED,
            body: |_| Some(json!({"asset_id": "{asset}", "title": "role probe"})),
        },
        Probe {
            method: Method::PATCH,
            path: "/api/v1/work-orders/{order}",
            action: Action::WorkOrderWrite,
            allowed: &[Admin, Dispatcher, Technician, MaintenancePlanner],
            ok: StatusCode::OK,
            body: |_| Some(json!({"version": 1, "notes": "probe"})),
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/work-orders/{order}/complete",
            action: Action::WorkOrderWrite,
            allowed: &[Admin, Dispatcher, Technician, MaintenancePlanner],
            ok: StatusCode::OK,
            body: |_| Some(json!({})),
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/stocktakes",
            action: Action::StocktakeRead,
            allowed: &[
                Admin,
                Dispatcher,
                Technician,
                RentalOffice,
                Viewer,
                MaintenancePlanner,
                Sales,
                Finance,
                Legal,
            ],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/stocktakes/0190f2a4-0000-7000-8000-000000000001/complete",
            action: Action::StocktakeWrite,
            allowed: &[Admin, Dispatcher, Technician],
            ok: StatusCode::NOT_FOUND,
            body: none,
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/scans",
            action: Action::FieldCommand,
            allowed: &[Admin, Dispatcher, Technician],
            ok: StatusCode::OK,
            body: |n| {
                Some(
                    json!({"id": format!("0190f2a4-0000-7000-8000-{n:012}"), "action": "lookup",
                    "asset_id": "{asset}", "device_time": chrono::Utc::now().to_rfc3339()}),
                )
            },
        },
        // Issue 14: classification. Customer reads and writes probe a customer that does not
        // exist: 404 once authorised.
        Probe {
            method: Method::GET,
            path: "/api/v1/customers/0190f2a4-0000-7000-8000-000000000001/classification",
            action: Action::CustomerRead,
            allowed: &[Admin, RentalOffice, Sales, Finance, Legal],
            ok: StatusCode::NOT_FOUND,
            body: none,
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/customers/0190f2a4-0000-7000-8000-000000000001/classification",
            action: Action::CustomerWrite,
            allowed: &[Admin, RentalOffice, Sales],
            ok: StatusCode::NOT_FOUND,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/classification/settings",
            action: Action::CustomerRead,
            allowed: &[Admin, RentalOffice, Sales, Finance, Legal],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::PUT,
            path: "/api/v1/classification/settings",
            action: Action::PicklistManage,
            allowed: &[Admin],
            ok: StatusCode::OK,
            body: |_| {
                let settings = mobile_shared::classification::ClassificationSettings::default();
                Some(json!({"version": 1, "settings": settings}))
            },
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/customers",
            action: Action::CustomerRead,
            allowed: &[Admin, RentalOffice, Sales, Finance, Legal],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/customers",
            action: Action::CustomerWrite,
            allowed: &[Admin, RentalOffice, Sales],
            ok: StatusCode::CREATED,
            body: |n| {
                Some(
                    json!({"legal_name": format!("Probe customer {n}"), "kind": "company", "currency": "EUR"}),
                )
            },
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/customers/summary",
            action: Action::CustomerRead,
            allowed: &[Admin, RentalOffice, Sales, Finance, Legal],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/customers/{customer}",
            action: Action::CustomerRead,
            allowed: &[Admin, RentalOffice, Sales, Finance, Legal],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::PATCH,
            path: "/api/v1/customers/{customer}",
            action: Action::CustomerWrite,
            allowed: &[Admin, RentalOffice, Sales],
            ok: StatusCode::OK,
            body: |_| Some(json!({"version": 1, "notes": "probed"})),
        },
        Probe {
            method: Method::DELETE,
            path: "/api/v1/customers/{customer}",
            action: Action::CustomerWrite,
            allowed: &[Admin, RentalOffice, Sales],
            ok: StatusCode::NO_CONTENT,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/customers/{customer}/contacts",
            action: Action::CustomerRead,
            allowed: &[Admin, RentalOffice, Sales, Finance, Legal],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/customers/{customer}/contacts",
            action: Action::CustomerWrite,
            allowed: &[Admin, RentalOffice, Sales],
            ok: StatusCode::CREATED,
            body: |_| Some(json!({"name": "Probe", "phone": "+49 30 1234"})),
        },
        Probe {
            method: Method::PATCH,
            path: "/api/v1/customers/{customer}/contacts/{contact}",
            action: Action::CustomerWrite,
            allowed: &[Admin, RentalOffice, Sales],
            ok: StatusCode::OK,
            body: |_| Some(json!({"role": "buyer"})),
        },
        Probe {
            method: Method::DELETE,
            path: "/api/v1/customers/{customer}/contacts/{contact}",
            action: Action::CustomerWrite,
            allowed: &[Admin, RentalOffice, Sales],
            ok: StatusCode::NO_CONTENT,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/customers/{customer}/follow-ups",
            action: Action::CustomerRead,
            allowed: &[Admin, RentalOffice, Sales, Finance, Legal],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/customers/{customer}/follow-ups",
            action: Action::CustomerWrite,
            allowed: &[Admin, RentalOffice, Sales],
            ok: StatusCode::CREATED,
            body: |_| Some(json!({"channel": "phone", "outcome": "probed"})),
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/complaints",
            action: Action::CustomerRead,
            allowed: &[Admin, RentalOffice, Sales, Finance, Legal],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/complaints",
            action: Action::ComplaintWrite,
            allowed: &[Admin, RentalOffice, Sales],
            ok: StatusCode::CREATED,
            body: |_| Some(json!({"customer_id": "{customer}", "category": "service"})),
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/complaints/{complaint}",
            action: Action::CustomerRead,
            allowed: &[Admin, RentalOffice, Sales, Finance, Legal],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::PATCH,
            path: "/api/v1/complaints/{complaint}",
            action: Action::ComplaintWrite,
            allowed: &[Admin, RentalOffice, Sales],
            ok: StatusCode::OK,
            body: |_| Some(json!({"version": 1, "resolution": "probed"})),
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/kpis/complaints",
            action: Action::CustomerRead,
            allowed: &[Admin, RentalOffice, Sales, Finance, Legal],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/picklists/industry",
            action: Action::CustomerRead,
            allowed: &[Admin, RentalOffice, Sales, Finance, Legal],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/picklists/region",
            action: Action::PicklistManage,
            allowed: &[Admin],
            ok: StatusCode::CREATED,
            body: |n| Some(json!({"value": format!("probe_{n}"), "label": "Probe"})),
        },
        Probe {
            method: Method::PATCH,
            path: "/api/v1/picklists/industry/other",
            action: Action::PicklistManage,
            allowed: &[Admin],
            ok: StatusCode::OK,
            body: |_| Some(json!({"label": "Other"})),
        },
        Probe {
            method: Method::PATCH,
            path: "/api/v1/sites/{site}",
            action: Action::SiteWrite,
            allowed: &[Admin, Dispatcher, RentalOffice],
            ok: StatusCode::OK,
            body: |_| Some(json!({"version": 1, "customer_id": "{customer}"})),
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/delivery/open-lines?asset_id={asset}",
            action: Action::DeliveryLookup,
            allowed: &[Admin, Dispatcher, Technician, RentalOffice],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/contracts/0190f2a4-0000-7000-8000-000000000001/on-hire",
            action: Action::ContractRead,
            allowed: &[Admin, RentalOffice, Sales, Finance, Legal],
            ok: StatusCode::NOT_FOUND,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/contracts/0190f2a4-0000-7000-8000-000000000001/damages",
            action: Action::ContractRead,
            allowed: &[Admin, RentalOffice, Sales, Finance, Legal],
            ok: StatusCode::NOT_FOUND,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/metrics",
            action: Action::MetricsRead,
            allowed: &[Admin],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/contracts",
            action: Action::ContractRead,
            allowed: &[Admin, RentalOffice, Sales, Finance, Legal],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/contracts",
            action: Action::ContractWrite,
            allowed: &[Admin, RentalOffice],
            ok: StatusCode::UNPROCESSABLE_ENTITY,
            body: |_| Some(json!({"customer_id": "0190f2a4-0000-7000-8000-000000000bad", "starts_on": "2030-01-01", "ends_on": "2030-01-02"})),
        },
        // A contract no one has: allowed callers get as far as the lookup.
        Probe {
            method: Method::GET,
            path: "/api/v1/contracts/0190f2a4-0000-7000-8000-00000000c0de",
            action: Action::ContractRead,
            allowed: &[Admin, RentalOffice, Sales, Finance, Legal],
            ok: StatusCode::NOT_FOUND,
            body: none,
        },
        Probe {
            method: Method::PATCH,
            path: "/api/v1/contracts/0190f2a4-0000-7000-8000-00000000c0de",
            action: Action::ContractWrite,
            allowed: &[Admin, RentalOffice],
            ok: StatusCode::NOT_FOUND,
            body: |_| Some(json!({"version": 1})),
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/contracts/0190f2a4-0000-7000-8000-00000000c0de/lines",
            action: Action::ContractRead,
            allowed: &[Admin, RentalOffice, Sales, Finance, Legal],
            ok: StatusCode::NOT_FOUND,
            body: none,
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/contracts/0190f2a4-0000-7000-8000-00000000c0de/lines",
            action: Action::ContractWrite,
            allowed: &[Admin, RentalOffice],
            ok: StatusCode::NOT_FOUND,
            body: |_| Some(json!({"category_id": "0190f2a4-0000-7000-8000-000000000bad", "quantity": 1, "rate_cents": 1, "rate_period": "day"})),
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/contracts/0190f2a4-0000-7000-8000-00000000c0de/sign",
            action: Action::ContractWrite,
            allowed: &[Admin, RentalOffice],
            ok: StatusCode::NOT_FOUND,
            body: none,
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/contracts/0190f2a4-0000-7000-8000-00000000c0de/end",
            action: Action::ContractWrite,
            allowed: &[Admin, RentalOffice],
            ok: StatusCode::NOT_FOUND,
            body: |_| Some(json!({})),
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/contracts/0190f2a4-0000-7000-8000-00000000c0de/terminate",
            action: Action::ContractWrite,
            allowed: &[Admin, RentalOffice],
            ok: StatusCode::NOT_FOUND,
            body: |_| Some(json!({"reason": "probe"})),
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/contracts/0190f2a4-0000-7000-8000-00000000c0de/renew",
            action: Action::ContractWrite,
            allowed: &[Admin, RentalOffice],
            ok: StatusCode::NOT_FOUND,
            body: |_| Some(json!({"ends_on": "2030-01-01"})),
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/contracts/0190f2a4-0000-7000-8000-00000000c0de/approvals",
            action: Action::ContractRead,
            allowed: &[Admin, RentalOffice, Sales, Finance, Legal],
            ok: StatusCode::NOT_FOUND,
            body: none,
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/contracts/0190f2a4-0000-7000-8000-00000000c0de/approvals",
            action: Action::ContractApprove,
            allowed: &[Admin, Finance, Legal],
            ok: StatusCode::NOT_FOUND,
            body: |_| Some(json!({})),
        },
        // An unknown category is a 422 naming it, once the role is let in.
        Probe {
            method: Method::GET,
            path: "/api/v1/availability?category=0190f2a4-0000-7000-8000-000000000bad&from=2030-01-01&to=2030-01-02",
            action: Action::ContractRead,
            allowed: &[Admin, RentalOffice, Sales, Finance, Legal],
            ok: StatusCode::UNPROCESSABLE_ENTITY,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/assets/{asset}/blocks",
            action: Action::WorkOrderRead,
            allowed: &[Admin, Dispatcher, Technician, RentalOffice, Viewer, MaintenancePlanner, Sales, Finance, Legal],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/assets/{asset}/blocks",
            action: Action::WorkOrderWrite,
            allowed: &[Admin, Dispatcher, Technician, MaintenancePlanner],
            ok: StatusCode::CREATED,
            body: |_| Some(json!({"starts_on": "2030-01-01", "ends_on": "2030-01-02", "reason": "probe"})),
        },
        Probe {
            method: Method::DELETE,
            path: "/api/v1/assets/{asset}/blocks/0190f2a4-0000-7000-8000-00000000c0de",
            action: Action::WorkOrderWrite,
            allowed: &[Admin, Dispatcher, Technician, MaintenancePlanner],
            ok: StatusCode::NOT_FOUND,
            body: none,
        },
        // The contract archive: reading it is finance's and legal's too, uploading the office's.
        Probe {
            method: Method::GET,
            path: "/api/v1/contracts/0190f2a4-0000-7000-8000-00000000c0de/documents",
            action: Action::ContractDocumentRead,
            allowed: &[Admin, RentalOffice, Finance, Legal],
            ok: StatusCode::NOT_FOUND,
            body: none,
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/contracts/0190f2a4-0000-7000-8000-00000000c0de/documents",
            action: Action::ContractWrite,
            allowed: &[Admin, RentalOffice],
            ok: StatusCode::NOT_FOUND,
            body: |_| Some(json!({})),
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/contracts/0190f2a4-0000-7000-8000-00000000c0de/documents/0190f2a4-0000-7000-8000-00000000d0c5",
            action: Action::ContractDocumentRead,
            allowed: &[Admin, RentalOffice, Finance, Legal],
            ok: StatusCode::NOT_FOUND,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/contract-documents",
            action: Action::ContractDocumentRead,
            allowed: &[Admin, RentalOffice, Finance, Legal],
            ok: StatusCode::OK,
            body: none,
        },
        // Issue 15: the audit log's CSV export is the admin's, like reading it.
        Probe {
            method: Method::GET,
            path: "/api/v1/audit-log/export.csv",
            action: Action::AuditRead,
            allowed: &[Admin],
            ok: StatusCode::OK,
            body: none,
        },
        // Two-factor authentication: one's own, every role; in this order, so confirm finds
        // the enrolment setup started (and refuses a code that is never right).
        Probe {
            method: Method::GET,
            path: "/api/v1/auth/2fa",
            action: Action::OwnTwoFactor,
            allowed: &Role::ALL,
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/auth/2fa/setup",
            action: Action::OwnTwoFactor,
            allowed: &Role::ALL,
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/auth/2fa/confirm",
            action: Action::OwnTwoFactor,
            allowed: &Role::ALL,
            ok: StatusCode::UNPROCESSABLE_ENTITY,
            body: |_| Some(json!({"code": "abcdef"})),
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/auth/2fa/disable",
            action: Action::OwnTwoFactor,
            allowed: &Role::ALL,
            ok: StatusCode::CONFLICT,
            body: |_| Some(json!({"password": "not enabled anyway"})),
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/auth/2fa/recovery-codes",
            action: Action::OwnTwoFactor,
            allowed: &Role::ALL,
            ok: StatusCode::CONFLICT,
            body: |_| Some(json!({"password": "not enabled anyway"})),
        },
        Probe {
            method: Method::DELETE,
            path: "/api/v1/users/0190f2a4-0000-7000-8000-000000000001/2fa",
            action: Action::UserWrite,
            allowed: &[Admin],
            ok: StatusCode::NOT_FOUND,
            body: none,
        },
        // Spreadsheets: whoever keeps a list imports it; exports go to the roles that work
        // with the whole list. A JSON body is no upload (422 naming `file`), an unknown job 404.
        Probe {
            method: Method::POST,
            path: "/api/v1/imports/assets?mode=dry_run",
            action: Action::FleetImport,
            allowed: &[Admin, Dispatcher],
            ok: StatusCode::UNPROCESSABLE_ENTITY,
            body: |_| Some(json!({})),
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/imports/sites",
            action: Action::FleetImport,
            allowed: &[Admin, Dispatcher],
            ok: StatusCode::UNPROCESSABLE_ENTITY,
            body: |_| Some(json!({})),
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/imports/customers",
            action: Action::OfficeImport,
            allowed: &[Admin, RentalOffice],
            ok: StatusCode::UNPROCESSABLE_ENTITY,
            body: |_| Some(json!({})),
        },
        Probe {
            method: Method::POST,
            path: "/api/v1/imports/contracts?mode=per_row",
            action: Action::OfficeImport,
            allowed: &[Admin, RentalOffice],
            ok: StatusCode::UNPROCESSABLE_ENTITY,
            body: |_| Some(json!({})),
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/imports/assets/jobs/0190f2a4-0000-7000-8000-00000000c0de",
            action: Action::FleetImport,
            allowed: &[Admin, Dispatcher],
            ok: StatusCode::NOT_FOUND,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/imports/customers/jobs/0190f2a4-0000-7000-8000-00000000c0de",
            action: Action::OfficeImport,
            allowed: &[Admin, RentalOffice],
            ok: StatusCode::NOT_FOUND,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/exports/assets.csv",
            action: Action::FleetExport,
            allowed: &[Admin, Dispatcher, MaintenancePlanner],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/exports/sites.xlsx",
            action: Action::FleetExport,
            allowed: &[Admin, Dispatcher, MaintenancePlanner],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/exports/customers.xlsx",
            action: Action::OfficeExport,
            allowed: &[Admin, RentalOffice, Finance],
            ok: StatusCode::OK,
            body: none,
        },
        Probe {
            method: Method::GET,
            path: "/api/v1/exports/contracts.csv",
            action: Action::OfficeExport,
            allowed: &[Admin, RentalOffice, Finance],
            ok: StatusCode::OK,
            body: none,
        },
    ];

    // The hand-written table and the permission matrix must agree: a change to either fails.
    for p in &probes {
        for role in Role::ALL {
            assert_eq!(
                role.may(p.action),
                p.allowed.contains(&role),
                "matrix vs table: {role} {} ({} {})",
                p.action.as_str(),
                p.method,
                p.path
            );
        }
    }

    let mut tokens = Vec::new();
    for role in Role::ALL {
        let token = if role == Admin {
            app.admin().to_owned()
        } else {
            app.user_with_role(role).await
        };
        tokens.push((role, token));
    }

    let mut n = 0;
    for p in &probes {
        for (role, token) in &tokens {
            n += 1;
            let mut body = (p.body)(n);
            let text = format!("{} {}", p.path, body.clone().unwrap_or_default());
            let path = if ["{asset}", "{plan}", "{order}"]
                .iter()
                .any(|k| text.contains(k))
            {
                let asset = app.asset(&format!("PROBE-{n}")).await;
                let plan = app
                    .create(
                        "/api/v1/maintenance/plans",
                        &json!({"name": "probe", "asset_id": asset["id"],
                                "intervals": [{"metric": "days", "every": 30}]}),
                    )
                    .await;
                let order = app
                    .create(
                        "/api/v1/work-orders",
                        &json!({"asset_id": asset["id"], "title": "probe"}),
                    )
                    .await;
                let fill = |t: &str| {
                    t.replace("{plan}", s(&plan, "id"))
                        .replace("{asset}", s(&asset, "id"))
                        .replace("{order}", s(&order, "id"))
                };
                body = body.map(|b| serde_json::from_str(&fill(&b.to_string())).unwrap());
                fill(p.path)
            } else if ["{customer}", "{contact}", "{complaint}", "{site}"]
                .iter()
                .any(|k| text.contains(k))
            {
                // A fresh customer for each role, managed by the probing user when it is a
                // sales user (whose reach is their own customers), with a contact and a
                // complaint: in the caller's reach, so only the action decides.
                let manager = if *role == Sales {
                    json!(s(
                        &app.get_ok("/api/v1/auth/session", token.as_str()).await,
                        "id"
                    ))
                } else {
                    json!(null)
                };
                let customer = app
                    .create(
                        "/api/v1/customers",
                        &json!({"legal_name": format!("Probe {n}"), "kind": "company",
                                "currency": "EUR", "account_manager_id": manager}),
                    )
                    .await;
                let id = s(&customer, "id").to_owned();
                let contact = app
                    .create(
                        &format!("/api/v1/customers/{id}/contacts"),
                        &json!({"name": "Probe", "phone": "+49 30 1234"}),
                    )
                    .await;
                let complaint = app
                    .create(
                        "/api/v1/complaints",
                        &json!({"customer_id": id, "category": "service"}),
                    )
                    .await;
                let site = app
                    .create_site(
                        json!({"name": format!("Probe site {n}"), "kind": "customer_site"}),
                    )
                    .await;
                let fill = |t: &str| {
                    t.replace("{customer}", &id)
                        .replace("{contact}", s(&contact, "id"))
                        .replace("{complaint}", s(&complaint, "id"))
                        .replace("{site}", s(&site, "id"))
                };
                body = body.map(|b| serde_json::from_str(&fill(&b.to_string())).unwrap());
                fill(p.path)
            } else if p.path.contains("{task}") {
                // An open task for the probing role: in its view, so only the action decides.
                let task = app.task_for_role(*role).await;
                p.path.replace("{task}", &task.id.to_string())
            } else {
                p.path.to_owned()
            };
            let resp = app
                .send(p.method.clone(), &path, token.as_str(), body.as_ref())
                .await;
            let what = format!("{role} {} {path}", p.method);
            if role.may(p.action) {
                let status = resp.status();
                // An event stream never ends: its status is the answer.
                let streams = resp
                    .headers()
                    .get("content-type")
                    .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
                let text = if streams {
                    String::new()
                } else {
                    resp.text().await.unwrap()
                };
                assert_eq!(status, p.ok, "{what}: {text}");
            } else {
                let body = expect_forbidden(resp).await;
                assert!(
                    body["message"]
                        .as_str()
                        .unwrap()
                        .contains(p.action.as_str()),
                    "{what}: {body}"
                );
            }
        }
    }

    // A few cases spelled out, independent of both tables above.
    let token = |r: Role| {
        tokens
            .iter()
            .find(|(role, _)| *role == r)
            .unwrap()
            .1
            .as_str()
    };
    let asset = app.asset("HARD-1").await;
    let path = format!("/api/v1/assets/{}", s(&asset, "id"));
    let tags = format!("{path}/identifiers");
    // (who, method, path, body, answer)
    let cases = [
        (
            Viewer,
            Method::POST,
            "/api/v1/assets",
            Some(json!({"code": "V-1", "name": "v"})),
            StatusCode::FORBIDDEN,
        ),
        (
            Dispatcher,
            Method::DELETE,
            path.as_str(),
            None,
            StatusCode::FORBIDDEN,
        ),
        (
            Technician,
            Method::POST,
            tags.as_str(),
            Some(json!({"kind": "qr", "value": "hard-coded-tag"})),
            StatusCode::CREATED,
        ),
        (
            RentalOffice,
            Method::POST,
            "/api/v1/sites",
            Some(json!({"name": "Customer yard", "kind": "customer_site"})),
            StatusCode::CREATED,
        ),
        (
            Dispatcher,
            Method::GET,
            "/api/v1/devices",
            None,
            StatusCode::OK,
        ),
        (
            Dispatcher,
            Method::POST,
            "/api/v1/devices",
            Some(json!({"device_id": "hard-1"})),
            StatusCode::FORBIDDEN,
        ),
        (
            Dispatcher,
            Method::GET,
            "/api/v1/users",
            None,
            StatusCode::FORBIDDEN,
        ),
        (
            Viewer,
            Method::GET,
            "/api/v1/audit-log",
            None,
            StatusCode::FORBIDDEN,
        ),
        (
            Technician,
            Method::GET,
            "/metrics",
            None,
            StatusCode::FORBIDDEN,
        ),
    ];
    for (role, method, path, body, status) in cases {
        let resp = app
            .send(method.clone(), path, token(role), body.as_ref())
            .await;
        if status == StatusCode::FORBIDDEN {
            expect_forbidden(resp).await;
        } else {
            assert_eq!(resp.status(), status, "{role} {method} {path}");
        }
    }
    assert_eq!(
        app.delete(&path, app.admin()).await.status(),
        StatusCode::NO_CONTENT
    );
}

async fn users_are_managed_by_admins(app: TestApp) {
    let resp = app
        .post(
            "/api/v1/users",
            app.admin(),
            &json!({"username": " Jane.Doe ", "password": "long-enough-pw", "role": "technician"}),
        )
        .await;
    let jane = expect_json(resp, StatusCode::CREATED).await;
    assert_eq!(
        jane["username"], "jane.doe",
        "usernames are stored lower-case"
    );
    assert_eq!(jane["role"], "technician");
    assert_eq!(jane["disabled"], false);
    assert!(jane.get("password").is_none() && jane.get("password_hash").is_none());

    let got = app
        .get_ok(&format!("/api/v1/users/{}", s(&jane, "id")), app.admin())
        .await;
    assert_eq!(got, jane);
    let missing = format!("/api/v1/users/{}", uuid::Uuid::now_v7());
    expect_not_found(app.get(&missing, app.admin()).await).await;

    // Usernames are unique whatever their case; invalid fields are named.
    let cases = [
        (
            json!({"username": "JANE.DOE", "password": "long-enough-pw", "role": "viewer"}),
            Err("username_taken"),
        ),
        (
            json!({"username": "x y", "password": "short", "role": "viewer"}),
            Ok(&["username", "password"][..]),
        ),
        (
            json!({"username": "root", "password": "long-enough-pw", "role": "superuser"}),
            Ok(&["role"]),
        ),
    ];
    for (body, refusal) in cases {
        let resp = app.post("/api/v1/users", app.admin(), &body).await;
        match refusal {
            Err(conflict) => expect_problem(resp, StatusCode::CONFLICT, conflict).await,
            Ok(fields) => expect_fields(resp, fields).await,
        };
    }

    // The new user can log in, whatever case they type, and sees only what the role allows.
    let token = app.login("Jane.Doe", "long-enough-pw").await;
    expect_forbidden(app.get("/api/v1/users", token.as_str()).await).await;

    let list = app.get_text("/api/v1/users", app.admin()).await;
    assert!(!list.contains("password"), "{list}");
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| s(u, "username"))
        .collect();
    assert_eq!(names, ["admin", "jane.doe"]);

    // Creating a user is audited, without the password.
    let log = app
        .get_text(
            "/api/v1/audit-log?entity=user&action=user.create",
            app.admin(),
        )
        .await;
    assert!(log.contains("jane.doe"), "{log}");
    assert!(!log.contains("long-enough-pw"), "{log}");
}

/// Issue 12: a maintenance planner edits plans and runs work orders (audited under their own
/// name), and manages neither users, trackers, tags nor the fleet's records.
async fn maintenance_planner_plans_and_nothing_more(app: TestApp) {
    let name = "planner.pia";
    app.create(
        "/api/v1/users",
        &json!({"username": name, "password": "long-enough-pw", "role": "maintenance_planner"}),
    )
    .await;
    let planner = app.login(name, "long-enough-pw").await;
    let planner = planner.as_str();
    let asset = app.asset("PLAN-1").await;

    let created = app
        .post(
            "/api/v1/maintenance/plans",
            planner,
            &json!({"name": "250 h service", "asset_id": asset["id"],
                    "intervals": [{"metric": "engine_hours", "every": 250}]}),
        )
        .await;
    let plan = expect_json(created, StatusCode::CREATED).await;
    let path = format!("/api/v1/maintenance/plans/{}", s(&plan, "id"));
    let patched = app
        .patch(
            &path,
            planner,
            &json!({"version": plan["version"], "lead_days": 7}),
        )
        .await;
    let patched = expect_json(patched, StatusCode::OK).await;
    assert_eq!(patched["lead_days"], 7, "{patched}");
    assert_eq!(patched["version"], 2, "{patched}");
    let entries = app.audit(&[("entity_id", s(&plan, "id"))]).await;
    let actions: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (s(e, "action"), s(e, "actor")))
        .collect();
    for verb in [".create", ".update"] {
        assert!(
            actions
                .iter()
                .any(|(a, who)| a.ends_with(verb) && *who == name),
            "{verb} audited as the planner: {actions:?}"
        );
    }

    // A breakdown: opened, scheduled and cancelled by the planner.
    let order = app
        .post(
            "/api/v1/work-orders",
            planner,
            &json!({"asset_id": asset["id"], "title": "Hydraulic leak"}),
        )
        .await;
    let order = expect_json(order, StatusCode::CREATED).await;
    let order_path = format!("/api/v1/work-orders/{}", s(&order, "id"));
    let cancelled = app
        .patch(
            &order_path,
            planner,
            &json!({"version": order["version"], "state": "cancelled"}),
        )
        .await;
    assert_eq!(
        expect_json(cancelled, StatusCode::OK).await["state"],
        "cancelled"
    );

    // Not the planner's: users, trackers, tags, the asset register, the audit log.
    let asset_path = format!("/api/v1/assets/{}", s(&asset, "id"));
    let refused = [
        (
            Method::POST,
            "/api/v1/users".to_owned(),
            Some(json!({"username": "sneaky", "password": "long-enough-pw", "role": "admin"})),
        ),
        (Method::GET, "/api/v1/users".to_owned(), None),
        (
            Method::POST,
            "/api/v1/devices".to_owned(),
            Some(json!({"device_id": "planner-tracker"})),
        ),
        (
            Method::POST,
            format!("{asset_path}/identifiers"),
            Some(json!({"kind": "qr", "value": "planner-tag"})),
        ),
        (
            Method::PATCH,
            asset_path.clone(),
            Some(json!({"version": 1, "name": "renamed"})),
        ),
        (Method::GET, "/api/v1/audit-log".to_owned(), None),
    ];
    for (method, path, body) in refused {
        expect_forbidden(app.send(method, &path, planner, body.as_ref()).await).await;
    }
    let users = app.get_ok("/api/v1/users", app.admin()).await;
    assert!(
        !users.to_string().contains("sneaky"),
        "no user was created: {users}"
    );
}
