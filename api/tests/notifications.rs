//! Notifications over HTTP: the inbox (only one's own), user e-mail addresses, webhook endpoints
//! (secret shown once), test events, the delivery log, its counts and retries. Delivery itself
//! (SMTP, signed POSTs, retries) is tested end to end in notifier/tests/delivery.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use domain::notifications::{self, NewNotification, Recipient};
use mobile_shared::Role;
use reqwest::StatusCode;
use serde_json::json;

domain::backend_matrix!(
    TestApp:
    inbox_is_per_user_and_read_marks_stick,
    webhook_endpoints_show_their_secret_once,
);

async fn enqueue(app: &TestApp, title: &str, recipients: Vec<Recipient>) {
    let mut tx = app.db.store.begin().await.unwrap();
    notifications::enqueue(
        &mut tx,
        NewNotification {
            kind: "task.assigned".into(),
            title: title.into(),
            body: "body".into(),
            data: json!({"n": 1}),
            subject: None,
            recipients,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

async fn inbox_is_per_user_and_read_marks_stick(app: TestApp) {
    let tech = app.user_with_role(Role::Technician).await;
    let users = app.get_ok("/api/v1/users", app.admin()).await;
    let tech_user = items(&users)
        .iter()
        .find(|u| u["role"] == "technician")
        .unwrap()
        .clone();
    let tech_path = format!("/api/v1/users/{}", s(&tech_user, "id"));

    // An address is set by an admin, validated, and used for e-mail deliveries.
    let bad = app
        .patch(&tech_path, app.admin(), &json!({"email": "not an address"}))
        .await;
    expect_only_field(bad, "email").await;
    let resp = app
        .patch(
            &tech_path,
            app.admin(),
            &json!({"email": "tech@example.com"}),
        )
        .await;
    assert_eq!(
        expect_json(resp, StatusCode::OK).await["email"],
        "tech@example.com"
    );
    let resp = app
        .patch(
            &tech_path,
            tech.as_str(),
            &json!({"email": "me@example.com"}),
        )
        .await;
    expect_forbidden(resp).await;

    // Or given when the user is created.
    let disp = app
        .create(
            "/api/v1/users",
            &json!({"username": "disp", "password": "long-enough-pw", "role": "dispatcher", "email": " disp@example.com "}),
        )
        .await;
    assert_eq!(disp["email"], "disp@example.com");
    let bad = app
        .post(
            "/api/v1/users",
            app.admin(),
            &json!({"username": "nomail", "password": "long-enough-pw", "role": "viewer", "email": "nomail@"}),
        )
        .await;
    expect_only_field(bad, "email").await;

    enqueue(&app, "first", vec![Recipient::Role(Role::Technician)]).await;
    enqueue(&app, "second", vec![Recipient::Role(Role::Technician)]).await;
    let inbox = app.get_ok("/api/v1/notifications", tech.as_str()).await;
    let titles: Vec<&str> = items(&inbox).iter().map(|i| s(i, "title")).collect();
    assert_eq!(titles, ["second", "first"]);
    let admins = app.get_ok("/api/v1/notifications", app.admin()).await;
    assert!(
        items(&admins).is_empty(),
        "the admin has no technician mail"
    );

    let first = s(&items(&inbox)[1], "id").to_owned();
    let read_path = format!("/api/v1/notifications/{first}/read");
    expect_not_found(app.post(&read_path, app.admin(), &json!({})).await).await;
    let read = expect_json(
        app.post(&read_path, tech.as_str(), &json!({})).await,
        StatusCode::OK,
    )
    .await;
    let again = expect_json(
        app.post(&read_path, tech.as_str(), &json!({})).await,
        StatusCode::OK,
    )
    .await;
    assert!(read["read_at"].is_string());
    assert_eq!(read["read_at"], again["read_at"]);
    let unread = app
        .get_ok("/api/v1/notifications?unread=true&limit=1", tech.as_str())
        .await;
    assert_eq!(items(&unread).len(), 1);
    assert_eq!(items(&unread)[0]["title"], "second");

    // Each notification went to the inbox and, pending, to the technician's address.
    let log = app
        .get_ok(
            "/api/v1/notifications/deliveries?channel=email",
            app.admin(),
        )
        .await;
    assert_eq!(items(&log).len(), 2);
    assert!(items(&log)
        .iter()
        .all(|d| d["target"] == "tech@example.com" && d["state"] == "pending"));
    let stats = app.get_ok("/api/v1/notifications/stats", app.admin()).await;
    assert_eq!(stats["inbox"]["delivered"], 2);
    assert_eq!(stats["email"]["pending"], 2);
    assert_eq!(stats["webhook"]["pending"], 0);
}

async fn webhook_endpoints_show_their_secret_once(app: TestApp) {
    let bad = app
        .post(
            "/api/v1/webhooks",
            app.admin(),
            &json!({"url": "ftp://example.com"}),
        )
        .await;
    expect_only_field(bad, "url").await;
    let created = app
        .create(
            "/api/v1/webhooks",
            &json!({"url": "http://127.0.0.1:9/hook", "event_kinds": ["task.assigned"]}),
        )
        .await;
    let secret = s(&created, "secret");
    assert!(secret.starts_with("whsec_"));
    assert_eq!(created["enabled"], true);
    let id = s(&created, "id").to_owned();
    let listed = app.get_ok("/api/v1/webhooks", app.admin()).await;
    assert_eq!(items(&listed).len(), 1);
    assert!(!listed.to_string().contains(secret), "never listed again");
    assert!(items(&listed)[0].get("secret").is_none());

    let path = format!("/api/v1/webhooks/{id}");
    let off = app
        .patch(&path, app.admin(), &json!({"enabled": false}))
        .await;
    assert_eq!(expect_json(off, StatusCode::OK).await["enabled"], false);
    let on = app
        .patch(&path, app.admin(), &json!({"enabled": true}))
        .await;
    assert_eq!(expect_json(on, StatusCode::OK).await["enabled"], true);

    let sent = app
        .post(&format!("{path}/test"), app.admin(), &json!({}))
        .await;
    let sent = expect_json(sent, StatusCode::ACCEPTED).await;
    let log = app
        .get_ok(
            "/api/v1/notifications/deliveries?channel=webhook&state=pending",
            app.admin(),
        )
        .await;
    assert_eq!(items(&log).len(), 1);
    let delivery = &items(&log)[0];
    assert_eq!(delivery["kind"], "webhook.test");
    assert_eq!(delivery["endpoint_id"], id.as_str());
    assert_eq!(delivery["notification_id"], sent["notification_id"]);
    // Only a failed delivery can be retried.
    let retry = app
        .post(
            &format!(
                "/api/v1/notifications/deliveries/{}/retry",
                s(delivery, "id")
            ),
            app.admin(),
            &json!({}),
        )
        .await;
    expect_problem(retry, StatusCode::CONFLICT, "illegal_transition").await;

    let audit = app.audit(&[("entity", "webhook_endpoint")]).await;
    let actions: Vec<&str> = audit.iter().map(|e| s(e, "action")).collect();
    assert_eq!(
        actions,
        [
            "webhook_endpoint.test",
            "webhook_endpoint.update",
            "webhook_endpoint.update",
            "webhook_endpoint.create"
        ]
    );
    assert!(
        !serde_json::to_string(&audit).unwrap().contains(secret),
        "no secret in the audit log"
    );
}
