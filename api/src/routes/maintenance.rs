//! Maintenance: service plans, each asset's next services, services done, work orders.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use domain::maintenance::{due, forecast, history, kpis, orders, plans};
use mobile_shared::maintenance::{
    AssetMaintenance, CompleteWorkOrder, MaintenanceKpi, MaintenanceKpiQuery, NewPlan,
    NewServiceRecord, NewWorkOrder, Plan, PlanPatch, ServiceDueList, ServiceRecord, Urgency,
    WorkOrder, WorkOrderPatch, WorkOrderState,
};
use mobile_shared::wire::{Page, Problem};
use mobile_shared::Action;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery, PageParams, Paging};
use crate::openapi::{AuthErrors, JsonBodyErrors, NotFound, QueryErrors, Unauthenticated};
use crate::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlanQuery {
    /// Only this category's plans.
    pub category_id: Option<Uuid>,
    /// Only this asset's own plans.
    pub asset_id: Option<Uuid>,
}

/// List service plans.
#[utoipa::path(get, path = "/api/v1/maintenance/plans", tag = "maintenance", security(("bearer" = [])),
    params(PlanQuery, PageParams),
    responses((status = 200, body = Page<Plan>), Unauthenticated, QueryErrors))]
pub async fn list_plans(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(q): ApiQuery<PlanQuery>,
    Paging(page): Paging,
) -> ApiResult<Json<Page<Plan>>> {
    user.require(Action::MaintenanceRead)?;
    Ok(Json(
        plans::list(&state.store, q.category_id, q.asset_id, page).await?,
    ))
}

/// Create a service plan for a category or one asset (an asset's own plans replace its
/// category's). Intervals: whichever comes first; `lead_days` (default 10) and `lead_hours`
/// must be shorter than their intervals; `services` nest by `multiple` (one with multiple 1).
/// Counting starts for each asset the plan applies to at its meters now.
#[utoipa::path(post, path = "/api/v1/maintenance/plans", tag = "maintenance", security(("bearer" = [])),
    request_body = NewPlan,
    responses((status = 201, body = Plan), AuthErrors, JsonBodyErrors))]
pub async fn create_plan(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(new): ApiJson<NewPlan>,
) -> ApiResult<(StatusCode, Json<Plan>)> {
    user.require(Action::MaintenancePlanWrite)?;
    let plan = plans::create(&state.store, &user.actor(), new).await?;
    Ok((StatusCode::CREATED, Json(plan)))
}

/// Read one service plan.
#[utoipa::path(get, path = "/api/v1/maintenance/plans/{id}", tag = "maintenance", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Plan), Unauthenticated, NotFound))]
pub async fn get_plan(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Plan>> {
    user.require(Action::MaintenanceRead)?;
    Ok(Json(plans::get(&state.store, id).await?))
}

/// Change a service plan (not what it applies to). Send the `version` you read; a stale one
/// answers 409 with the current plan.
#[utoipa::path(patch, path = "/api/v1/maintenance/plans/{id}", tag = "maintenance", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = PlanPatch,
    responses((status = 200, body = Plan), AuthErrors, NotFound, JsonBodyErrors,
        (status = 409, body = Problem, description = "stale `version` (`detail.plan` is the current state)")))]
pub async fn patch_plan(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(patch): ApiJson<PlanPatch>,
) -> ApiResult<Json<Plan>> {
    user.require(Action::MaintenancePlanWrite)?;
    Ok(Json(
        plans::update(&state.store, &user.actor(), id, patch).await?,
    ))
}

/// Retire a service plan (kept for the services recorded under it).
#[utoipa::path(delete, path = "/api/v1/maintenance/plans/{id}", tag = "maintenance", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 204), AuthErrors, NotFound))]
pub async fn delete_plan(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    user.require(Action::MaintenancePlanWrite)?;
    plans::delete(&state.store, &user.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The asset's next service under each plan that applies to it, and the one that presses most
/// (`next_service`: the most urgent, then the soonest).
///
/// Per plan and metric: the due point (last service, or where the asset stood when the plan
/// began to apply, plus the interval; on a `fixed` anchor, the grid point, skipping passed ones),
/// and the date: calendar intervals give it directly; meters give today + remaining ÷ usage per
/// day (engine hours per calendar day over the last 30 days, never below 0.5 h/day; 5 km/day for
/// the odometer). The earliest date wins (whichever comes first). `urgency`: `overdue` once a
/// due point is passed, `due` on the day it is reached, `soon` within `lead_days` of the date or
/// `lead_hours` of the engine-hour point, else `ok`. A meter reading that went backwards (a
/// replaced meter) is not applied, so it never makes a service due: `meter_flagged` says so.
#[utoipa::path(get, path = "/api/v1/assets/{id}/maintenance", tag = "maintenance", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = AssetMaintenance), Unauthenticated, NotFound))]
pub async fn asset_maintenance(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<AssetMaintenance>> {
    user.require(Action::MaintenanceRead)?;
    Ok(Json(
        forecast::for_asset(&state.store, id, domain::clock::now()).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ServiceDueQuery {
    /// The least urgency listed: `soon`, `due` (default) or `overdue`.
    pub urgency: Option<Urgency>,
    /// Page size, 1-500 (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Assets due or overdue for service (or, with `urgency=soon`, within their lead too): each
/// asset's most pressing service forecast now (see `GET /api/v1/assets/{id}/maintenance` for
/// the rule), with the active work order of that plan if one is open. Most urgent first, then
/// the soonest date. The ranking and `total` are as of the clock's last pass over each asset
/// (its rolling sweep covers 100,000 assets within the hour); each item is forecast when read,
/// and an asset serviced since the pass is left out.
#[utoipa::path(get, path = "/api/v1/alerts/service-due", tag = "maintenance", security(("bearer" = [])),
    params(ServiceDueQuery),
    responses((status = 200, body = ServiceDueList), Unauthenticated, QueryErrors))]
pub async fn service_due(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(q): ApiQuery<ServiceDueQuery>,
) -> ApiResult<Json<ServiceDueList>> {
    user.require(Action::MaintenanceRead)?;
    Ok(Json(
        due::list(
            &state.store,
            q.urgency.unwrap_or(Urgency::Due),
            q.limit,
            q.cursor.as_deref(),
            domain::clock::now(),
        )
        .await?,
    ))
}

/// Log a service done on the asset under a plan: it becomes the plan's new anchor for the
/// asset. The occurrence (and so the nested service, and the fixed-grid occurrences skipped) is
/// the one the forecast named when the service was done.
#[utoipa::path(post, path = "/api/v1/assets/{id}/maintenance/services", tag = "maintenance", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = NewServiceRecord,
    responses((status = 201, body = ServiceRecord), AuthErrors, NotFound, JsonBodyErrors,
        (status = 409, body = Problem, description = "this occurrence is already recorded (`service_already_recorded`)")))]
pub async fn record_service(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(new): ApiJson<NewServiceRecord>,
) -> ApiResult<(StatusCode, Json<ServiceRecord>)> {
    user.require(Action::ServiceRecordWrite)?;
    let record = history::record_service(&state.store, &user.actor(), id, new).await?;
    Ok((StatusCode::CREATED, Json(record)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WorkOrderQuery {
    pub state: Option<WorkOrderState>,
    pub asset_id: Option<Uuid>,
}

/// List work orders, filtered by state and asset.
#[utoipa::path(get, path = "/api/v1/work-orders", tag = "maintenance", security(("bearer" = [])),
    params(WorkOrderQuery, PageParams),
    responses((status = 200, body = Page<WorkOrder>), Unauthenticated, QueryErrors))]
pub async fn list_work_orders(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(q): ApiQuery<WorkOrderQuery>,
    Paging(page): Paging,
) -> ApiResult<Json<Page<WorkOrder>>> {
    user.require(Action::WorkOrderRead)?;
    Ok(Json(
        orders::list(&state.store, q.state, q.asset_id, page).await?,
    ))
}

/// Open a work order by hand (a breakdown, a failed inspection). With a `plan_id`, it is that
/// plan's service, and completing it re-anchors the plan. Its task goes to `assignee`, or to
/// any technician.
#[utoipa::path(post, path = "/api/v1/work-orders", tag = "maintenance", security(("bearer" = [])),
    request_body = NewWorkOrder,
    responses((status = 201, body = WorkOrder), AuthErrors, JsonBodyErrors,
        (status = 409, body = Problem, description = "the asset already has an active order for this plan (`work_order_open`)")))]
pub async fn create_work_order(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(new): ApiJson<NewWorkOrder>,
) -> ApiResult<(StatusCode, Json<WorkOrder>)> {
    user.require(Action::WorkOrderWrite)?;
    let order = orders::create(&state.store, &user.actor(), new).await?;
    Ok((StatusCode::CREATED, Json(order)))
}

/// Read one work order.
#[utoipa::path(get, path = "/api/v1/work-orders/{id}", tag = "maintenance", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = WorkOrder), Unauthenticated, NotFound))]
pub async fn get_work_order(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<WorkOrder>> {
    user.require(Action::WorkOrderRead)?;
    Ok(Json(orders::get(&state.store, id).await?))
}

/// Change a work order: assignee, due date, schedule, checklist, notes, parts (replaced:
/// integer quantities, unit costs in minor units + ISO 4217 currency), photos (replaced:
/// SHA-256 of photos uploaded with `POST /api/v1/photos`; an unknown one is 422 `photos[i]`),
/// and its state
/// (open ⇄ scheduled → in progress → scheduled; any active state → cancelled). Going
/// `in_progress` puts an available asset into maintenance until the order ends: that window is
/// the downtime. Send the `version` you read.
#[utoipa::path(patch, path = "/api/v1/work-orders/{id}", tag = "maintenance", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = WorkOrderPatch,
    responses((status = 200, body = WorkOrder), AuthErrors, NotFound, JsonBodyErrors,
        (status = 409, body = Problem, description = "stale `version`, a state it cannot go to, or the order is closed (`work_order_closed`)")))]
pub async fn patch_work_order(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(patch): ApiJson<WorkOrderPatch>,
) -> ApiResult<Json<WorkOrder>> {
    user.require(Action::WorkOrderWrite)?;
    Ok(Json(
        orders::update(&state.store, &user.actor(), id, patch).await?,
    ))
}

/// Complete a work order: records the meters (default: the asset's now), the parts used
/// (replacing the list), photos (added), the service under its plan (the plan re-anchors),
/// closes its task, and takes the asset out of maintenance. A closed order answers 409
/// `work_order_closed` with its state. Technicians can do the same from the phone with the
/// field command `complete_work`.
#[utoipa::path(post, path = "/api/v1/work-orders/{id}/complete", tag = "maintenance", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = CompleteWorkOrder,
    responses((status = 200, body = WorkOrder), AuthErrors, NotFound, JsonBodyErrors,
        (status = 409, body = Problem, description = "the order is done or cancelled already (`work_order_closed`, `detail.state`)")))]
pub async fn complete_work_order(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(done): ApiJson<CompleteWorkOrder>,
) -> ApiResult<Json<WorkOrder>> {
    user.require(Action::WorkOrderWrite)?;
    Ok(Json(
        orders::complete(&state.store, &user.actor(), id, done).await?,
    ))
}

/// Reliability KPIs of the fleet, a category or an asset over a period (default: the last 30
/// days), from the work orders' recorded times. Definitions: `downtime_hours` = hours of work
/// orders in progress (started → completed, cancelled, or still running), clipped to the period;
/// `availability_now` = (assets − in maintenance) ÷ assets (target ≥ 0.92);
/// `availability_time_weighted` = 1 − downtime ÷ (assets × period hours); `failures` =
/// unplanned orders (no plan) opened in the period; `mtbf_hours` = (assets × period hours −
/// downtime) ÷ failures; `mttr_hours` = mean of completion − start over unplanned orders
/// completed in the period; `services_on_time` / `services_late` = planned orders completed in
/// the period by / after the end of their due day. Ratios are `null` when their denominator is 0.
#[utoipa::path(get, path = "/api/v1/kpis/maintenance", tag = "maintenance", security(("bearer" = [])),
    params(MaintenanceKpiQuery),
    responses((status = 200, body = MaintenanceKpi), Unauthenticated, QueryErrors))]
pub async fn maintenance_kpis(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(q): ApiQuery<MaintenanceKpiQuery>,
) -> ApiResult<Json<MaintenanceKpi>> {
    user.require(Action::WorkOrderRead)?;
    Ok(Json(
        kpis::maintenance(&state.store, &q, domain::clock::now()).await?,
    ))
}
