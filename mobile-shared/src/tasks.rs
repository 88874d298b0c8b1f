//! Tasks: wire types of `/api/v1/tasks…` and `/api/v1/kpis/tasks`, shared with the phone app.
//!
//! A task is what a person (a user, or anyone with a role) must do by when. Rules of the server's
//! clock create most of them (work orders, renewals, collection steps); the on-time KPI compares
//! each task's due and done times.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Role;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// Longest task kind (`snake_case`, e.g. `work_order`).
pub const MAX_KIND_LEN: usize = 40;
/// Longest task title.
pub const MAX_TITLE_LEN: usize = 200;

/// Where a task is in its life. `open` is the only state a task leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Open,
    Done,
    Cancelled,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Open => "open",
            TaskState::Done => "done",
            TaskState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<TaskState> {
        [TaskState::Open, TaskState::Done, TaskState::Cancelled]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

/// The `state` filter of the task list: a state, or `overdue` (open and past its due time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TaskStateFilter {
    Open,
    Done,
    Cancelled,
    /// Open and due before now.
    Overdue,
}

/// One task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Task {
    pub id: Uuid,
    /// What kind of work, `snake_case` (e.g. `work_order`, `overdue_check`).
    #[cfg_attr(feature = "openapi", schema(max_length = 40))]
    pub kind: String,
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub title: String,
    /// The kind of record the task is about (`asset`, `site`…), with `subject_id`.
    pub subject_kind: Option<String>,
    pub subject_id: Option<Uuid>,
    /// The user who must do it; with `assignee_role` unset, only them.
    pub assignee_user_id: Option<Uuid>,
    /// Anyone with this role may do it.
    pub assignee_role: Option<Role>,
    pub due_at: DateTime<Utc>,
    pub state: TaskState,
    pub created_at: DateTime<Utc>,
    /// When it was closed (done or cancelled).
    pub done_at: Option<DateTime<Utc>>,
    /// Who closed it.
    pub done_by: Option<Uuid>,
    /// When the clock saw it pass its due time while open.
    pub overdue_at: Option<DateTime<Utc>>,
    /// The key a rule created it under: the same key never makes a second task.
    pub dedupe_key: Option<String>,
    /// The rule that created it, or `manual`.
    pub source: String,
    /// Whether a rule (not a person) created it; the on-time KPI counts these by default.
    pub automated: bool,
}

/// Filters of `GET /api/v1/tasks`; all optional, combined with AND.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct TaskFilter {
    /// A user id, or `me`: the caller's tasks, including open tasks assigned to their role.
    pub assignee: Option<String>,
    pub role: Option<Role>,
    pub state: Option<TaskStateFilter>,
    /// Tasks due before this time (RFC 3339).
    pub due_before: Option<DateTime<Utc>>,
    pub kind: Option<String>,
}

/// Filters of `GET /api/v1/kpis/tasks`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct TaskKpiQuery {
    /// Tasks due at or after this time (RFC 3339). Default: 30 days before `to`.
    pub from: Option<DateTime<Utc>>,
    /// Tasks due before this time (RFC 3339), at the latest now. Default: now.
    pub to: Option<DateTime<Utc>>,
    pub kind: Option<String>,
    /// Count manual tasks too (default: automated tasks only).
    pub include_manual: Option<bool>,
}

/// The on-time KPI over the tasks due in `[from, to)`, cancelled ones left out:
/// `due = done_on_time + done_late + open_overdue`, and
/// `on_time_ratio = done_on_time / due` (absent when nothing was due). Target: ≥ 0.95.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TaskKpi {
    pub from: DateTime<Utc>,
    /// The end of the window actually counted (`to`, at the latest now).
    pub to: DateTime<Utc>,
    pub due: i64,
    /// Done at or before their due time.
    pub done_on_time: i64,
    /// Done after their due time.
    pub done_late: i64,
    /// Still open, past their due time.
    pub open_overdue: i64,
    pub on_time_ratio: Option<f64>,
}
