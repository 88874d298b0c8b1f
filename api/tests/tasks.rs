//! `/api/v1/tasks…` and `/api/v1/kpis/tasks` over HTTP, on both backends: "my tasks", the
//! filters, closing twice (409 `task_closed`), tasks outside one's view, and the KPI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use mobile_shared::Role;
use reqwest::{Method, StatusCode};

domain::backend_matrix!(
    TestApp:
    my_tasks_complete_once_and_stay_mine,
    dispatchers_filter_every_task_and_read_the_kpi,
);

fn titles(page: &serde_json::Value) -> Vec<&str> {
    items(page).iter().map(|t| s(t, "title")).collect()
}

async fn my_tasks_complete_once_and_stay_mine(app: TestApp) {
    let tech = app.user_with_role(Role::Technician).await;
    let viewer = app.user_with_role(Role::Viewer).await;
    let for_techs = app.task_for_role(Role::Technician).await;
    app.task_for_role(Role::Dispatcher).await;

    let mine = app
        .get_ok("/api/v1/tasks?assignee=me&state=open", tech.as_str())
        .await;
    assert_eq!(titles(&mine), ["Inspect for technician"]);
    // A viewer's list holds only the viewer's tasks, however it filters.
    let theirs = app
        .get_ok("/api/v1/tasks?role=technician", viewer.as_str())
        .await;
    assert!(items(&theirs).is_empty(), "{theirs}");
    let path = format!("/api/v1/tasks/{}", for_techs.id);
    expect_not_found(app.get(&path, viewer.as_str()).await).await;
    expect_not_found(
        app.send(
            Method::POST,
            &format!("{path}/complete"),
            viewer.as_str(),
            None,
        )
        .await,
    )
    .await;

    let done = app
        .post_expect(
            &format!("{path}/complete"),
            tech.as_str(),
            &serde_json::json!({}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(done["state"], "done");
    assert!(
        done["done_at"].is_string() && done["done_by"].is_string(),
        "{done}"
    );
    let again = app
        .send(
            Method::POST,
            &format!("{path}/complete"),
            tech.as_str(),
            None,
        )
        .await;
    let problem = expect_problem(again, StatusCode::CONFLICT, "task_closed").await;
    assert_eq!(problem["detail"]["state"], "done", "{problem}");
    // The technician who closed it still sees it; it left the open list.
    assert_eq!(app.get_ok(&path, tech.as_str()).await["state"], "done");
    let open = app
        .get_ok("/api/v1/tasks?assignee=me&state=open", tech.as_str())
        .await;
    assert!(items(&open).is_empty(), "{open}");
    // Cancelling is for dispatchers and admins.
    expect_forbidden(
        app.send(Method::POST, &format!("{path}/cancel"), tech.as_str(), None)
            .await,
    )
    .await;
    let log = app
        .audit(&[("entity", "task"), ("action", "task.complete")])
        .await;
    assert_eq!(log.len(), 1);
}

async fn dispatchers_filter_every_task_and_read_the_kpi(app: TestApp) {
    let disp = app.user_with_role(Role::Dispatcher).await;
    let a = app.task_for_role(Role::Technician).await;
    let b = app.task_for_role(Role::RentalOffice).await;
    let all = app.get_ok("/api/v1/tasks", disp.as_str()).await;
    assert_eq!(
        titles(&all),
        ["Inspect for technician", "Inspect for rental_office"]
    );
    let office = app
        .get_ok(
            "/api/v1/tasks?role=rental_office&kind=inspection",
            disp.as_str(),
        )
        .await;
    assert_eq!(titles(&office), ["Inspect for rental_office"]);
    // Both are due in an hour: nothing is overdue yet, both are due before two hours from now.
    let overdue = app
        .get_ok("/api/v1/tasks?state=overdue", disp.as_str())
        .await;
    assert!(items(&overdue).is_empty(), "{overdue}");
    let soon = (chrono::Utc::now() + chrono::Duration::hours(2))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let due = app
        .get_ok(
            &format!("/api/v1/tasks?due_before={soon}&limit=1"),
            disp.as_str(),
        )
        .await;
    assert_eq!(items(&due).len(), 1);
    assert!(due["next_cursor"].is_string(), "{due}");
    // A dispatcher's own view is empty: neither task is the dispatcher's.
    let mine = app.get_ok("/api/v1/tasks?assignee=me", disp.as_str()).await;
    assert!(items(&mine).is_empty(), "{mine}");

    let cancelled = app
        .post_expect(
            &format!("/api/v1/tasks/{}/cancel", a.id),
            disp.as_str(),
            &serde_json::json!({}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(cancelled["state"], "cancelled");
    let closed = app
        .send(
            Method::POST,
            &format!("/api/v1/tasks/{}/complete", a.id),
            disp.as_str(),
            None,
        )
        .await;
    let problem = expect_problem(closed, StatusCode::CONFLICT, "task_closed").await;
    assert_eq!(problem["detail"]["state"], "cancelled");
    app.post_expect(
        &format!("/api/v1/tasks/{}/complete", b.id),
        disp.as_str(),
        &serde_json::json!({}),
        StatusCode::OK,
    )
    .await;

    let kpi = app.get_ok("/api/v1/kpis/tasks", disp.as_str()).await;
    // Neither is due yet (the window ends now), so nothing counts.
    assert_eq!(kpi["due"], 0, "{kpi}");
    assert!(kpi["on_time_ratio"].is_null(), "{kpi}");

    for bad in [
        "/api/v1/tasks?state=late",
        "/api/v1/tasks?assignee=someone",
        "/api/v1/tasks?due_before=yesterday",
    ] {
        let resp = app.get(bad, disp.as_str()).await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    let resp = app
        .get(
            "/api/v1/kpis/tasks?from=2030-01-01T00:00:00Z",
            disp.as_str(),
        )
        .await;
    expect_only_field(resp, "from").await;
}
