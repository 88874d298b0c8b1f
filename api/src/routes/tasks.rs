//! Tasks ("my tasks" for everyone, every task for dispatchers and admins) and the on-time KPI.

use axum::extract::State;
use axum::Json;
use domain::clock;
use domain::tasks::{self, Scope};
use mobile_shared::tasks::{Task, TaskFilter, TaskKpi, TaskKpiQuery};
use mobile_shared::wire::{Page, Problem};
use mobile_shared::Action;
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::error::ApiResult;
use crate::extract::{ApiPath, ApiQuery, PageParams, Paging};
use crate::openapi::{AuthErrors, NotFound, QueryErrors, Unauthenticated};
use crate::AppState;

/// The tasks `user` may see: every task with `TaskManage`, otherwise their own and their
/// role's. `me` narrows a manager's view to their own too.
fn scope_of(user: &CurrentUser, me: bool) -> Scope {
    if me || !user.0.role.may(Action::TaskManage) {
        Scope::Mine {
            user_id: user.0.id,
            role: user.0.role,
        }
    } else {
        Scope::All
    }
}

/// List tasks in creation order. `assignee=me` gives "my tasks": assigned to the caller, plus
/// open tasks assigned to the caller's role (and those the caller closed). Roles without
/// `task.manage` always get their own view, however they filter.
#[utoipa::path(get, path = "/api/v1/tasks", tag = "tasks", security(("bearer" = [])), params(TaskFilter, PageParams),
    responses((status = 200, body = Page<Task>), Unauthenticated, QueryErrors))]
pub async fn list_tasks(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(filter): ApiQuery<TaskFilter>,
    Paging(page): Paging,
) -> ApiResult<Json<Page<Task>>> {
    user.require(Action::TaskWork)?;
    let scope = scope_of(
        &user,
        filter.assignee.as_deref().map(str::trim) == Some("me"),
    );
    Ok(Json(
        tasks::list(&state.store, scope, &filter, clock::now(), page).await?,
    ))
}

/// Read one task (404 for a task outside the caller's view).
#[utoipa::path(get, path = "/api/v1/tasks/{id}", tag = "tasks", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Task), Unauthenticated, NotFound))]
pub async fn get_task(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Task>> {
    user.require(Action::TaskWork)?;
    Ok(Json(
        tasks::get(&state.store, scope_of(&user, false), id).await?,
    ))
}

/// Mark a task done. Anyone may complete the tasks in their view; completing a closed task is a
/// 409 `task_closed` whose `detail.state` says what it is.
#[utoipa::path(post, path = "/api/v1/tasks/{id}/complete", tag = "tasks", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Task), Unauthenticated, NotFound,
        (status = 409, body = Problem, description = "task_closed: done or cancelled already")))]
pub async fn complete_task(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Task>> {
    user.require(Action::TaskWork)?;
    let scope = scope_of(&user, false);
    Ok(Json(
        tasks::complete(&state.store, &user.actor(), scope, id).await?,
    ))
}

/// Cancel a task nobody needs to do any more (dispatchers and admins).
#[utoipa::path(post, path = "/api/v1/tasks/{id}/cancel", tag = "tasks", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Task), AuthErrors, NotFound,
        (status = 409, body = Problem, description = "task_closed: done or cancelled already")))]
pub async fn cancel_task(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Task>> {
    user.require(Action::TaskManage)?;
    Ok(Json(
        tasks::cancel(&state.store, &user.actor(), Scope::All, id).await?,
    ))
}

/// The on-time KPI: of the tasks due in `[from, to)` (`to` at the latest now; cancelled tasks
/// left out; automated tasks only unless `include_manual=true`), how many were done by their
/// due time. `due = done_on_time + done_late + open_overdue` and
/// `on_time_ratio = done_on_time / due` (absent when nothing was due). Target: ≥ 0.95.
#[utoipa::path(get, path = "/api/v1/kpis/tasks", tag = "tasks", security(("bearer" = [])), params(TaskKpiQuery),
    responses((status = 200, body = TaskKpi), AuthErrors, QueryErrors))]
pub async fn task_kpi(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(q): ApiQuery<TaskKpiQuery>,
) -> ApiResult<Json<TaskKpi>> {
    user.require(Action::TaskManage)?;
    Ok(Json(tasks::kpi(&state.store, &q, clock::now()).await?))
}
