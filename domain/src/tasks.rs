//! Tasks: what a person (a user, or anyone with a role) must do by when. The one task engine that
//! time-based rules (work orders, renewals, revisits, rent collection) create work in, through
//! [`create_in`] inside their own transaction, idempotently by dedupe key; people list, complete
//! and cancel tasks; the on-time KPI ([`kpi`]) is a query over due and done times.

use chrono::{DateTime, Duration, Utc};
use mobile_shared::tasks::{
    Task, TaskFilter, TaskKpi, TaskKpiQuery, TaskState, TaskStateFilter, MAX_KIND_LEN,
    MAX_TITLE_LEN,
};
use mobile_shared::wire::Page;
use mobile_shared::{ErrorCode, Role};
use uuid::Uuid;

use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::clock;
use crate::entity::Entity;
use crate::error::{DomainError, Validator};
use crate::notifications::{self, NewNotification, Recipient};
use crate::pagination::PageRequest;
use crate::store::{on_read, on_tx, RowLock, Store, Tx};

/// The `source` of a task a person created rather than a rule.
pub const MANUAL: &str = "manual";
/// Longest dedupe key.
pub const MAX_DEDUPE_KEY_LEN: usize = 200;

/// A task to create. `source` is the rule's name (or [`MANUAL`]); a task is automated when a
/// rule created it.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub kind: String,
    pub title: String,
    /// The record the task is about: its kind (`asset`, `site`…) and id.
    pub subject: Option<(String, Uuid)>,
    pub assignee_user_id: Option<Uuid>,
    pub assignee_role: Option<Role>,
    pub due_at: DateTime<Utc>,
    /// Creating a second task with the same key creates nothing and answers the first.
    pub dedupe_key: Option<String>,
    pub source: String,
}

/// Which tasks a caller may see and act on.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    /// Every task (dispatchers, admins, the system).
    All,
    /// The caller's own: assigned to them, or to their role and nobody in particular while open
    /// (or closed by them).
    Mine { user_id: Uuid, role: Role },
}

impl Scope {
    fn covers(&self, task: &Task) -> bool {
        match *self {
            Scope::All => true,
            Scope::Mine { user_id, role } => {
                task.assignee_user_id == Some(user_id)
                    || (task.assignee_user_id.is_none()
                        && task.assignee_role == Some(role)
                        && (task.state == TaskState::Open || task.done_by == Some(user_id)))
            }
        }
    }
}

const COLUMNS: &str =
    "id, kind, title, subject_kind, subject_id, assignee_user_id, assignee_role, \
    due_at, state, created_at, done_at, done_by, overdue_at, dedupe_key, source, automated";

#[derive(sqlx::FromRow)]
struct TaskRow {
    id: Uuid,
    kind: String,
    title: String,
    subject_kind: Option<String>,
    subject_id: Option<Uuid>,
    assignee_user_id: Option<Uuid>,
    assignee_role: Option<String>,
    due_at: DateTime<Utc>,
    state: String,
    created_at: DateTime<Utc>,
    done_at: Option<DateTime<Utc>>,
    done_by: Option<Uuid>,
    overdue_at: Option<DateTime<Utc>>,
    dedupe_key: Option<String>,
    source: String,
    automated: bool,
}

impl TryFrom<TaskRow> for Task {
    type Error = DomainError;
    fn try_from(r: TaskRow) -> Result<Task, DomainError> {
        let unreadable = |what: &str, v: &str| {
            DomainError::Internal(format!("task {}: unreadable {what} `{v}`", r.id))
        };
        let state = TaskState::parse(&r.state).ok_or_else(|| unreadable("state", &r.state))?;
        let assignee_role = match &r.assignee_role {
            Some(role) => Some(role.parse().map_err(|_| unreadable("role", role))?),
            None => None,
        };
        Ok(Task {
            id: r.id,
            kind: r.kind,
            title: r.title,
            subject_kind: r.subject_kind,
            subject_id: r.subject_id,
            assignee_user_id: r.assignee_user_id,
            assignee_role,
            due_at: r.due_at,
            state,
            created_at: r.created_at,
            done_at: r.done_at,
            done_by: r.done_by,
            overdue_at: r.overdue_at,
            dedupe_key: r.dedupe_key,
            source: r.source,
            automated: r.automated,
        })
    }
}

/// Whether `s` is a bounded `snake_case` name (a task kind, a subject kind).
fn is_snake_name(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn validate(new: &NewTask) -> Result<(), DomainError> {
    let mut v = Validator::new();
    if !is_snake_name(&new.kind, MAX_KIND_LEN) {
        v.add(
            "kind",
            format!("must be snake_case, 1-{MAX_KIND_LEN} characters"),
        );
    }
    let title = new.title.trim();
    if title.is_empty() || title.chars().count() > MAX_TITLE_LEN {
        v.add("title", format!("must be 1-{MAX_TITLE_LEN} characters"));
    }
    if let Some((kind, _)) = &new.subject {
        if !is_snake_name(kind, MAX_KIND_LEN) {
            v.add("subject_kind", "must be snake_case");
        }
    }
    if new.assignee_user_id.is_none() && new.assignee_role.is_none() {
        v.add("assignee", "a task needs an assignee user or role");
    }
    if new
        .dedupe_key
        .as_ref()
        .is_some_and(|k| k.is_empty() || k.len() > MAX_DEDUPE_KEY_LEN)
    {
        v.add(
            "dedupe_key",
            format!("must be 1-{MAX_DEDUPE_KEY_LEN} bytes"),
        );
    }
    if new.source.is_empty() {
        v.add("source", "must name the rule, or be `manual`");
    }
    v.finish()
}

/// Creates `new` in the caller's transaction, audited there, unless a task with its dedupe key
/// exists: then nothing is written and the existing task comes back. The flag says whether this
/// call created it. Rules call this inside the transaction that moves their clock mark, so a
/// crash before commit creates nothing and the re-run window creates it once.
pub async fn create_in(
    tx: &mut Tx,
    actor: &Actor,
    new: NewTask,
) -> Result<(Task, bool), DomainError> {
    validate(&new)?;
    let task = Task {
        id: clock::new_id(),
        kind: new.kind,
        title: new.title.trim().to_owned(),
        subject_kind: new.subject.as_ref().map(|(k, _)| k.clone()),
        subject_id: new.subject.map(|(_, id)| id),
        assignee_user_id: new.assignee_user_id,
        assignee_role: new.assignee_role,
        due_at: new.due_at,
        state: TaskState::Open,
        created_at: clock::now(),
        done_at: None,
        done_by: None,
        overdue_at: None,
        dedupe_key: new.dedupe_key,
        automated: new.source != MANUAL,
        source: new.source,
    };
    // The conflict target names the partial unique index, so only a dedupe collision is
    // absorbed; a concurrent creator on PostgreSQL waits for the first to commit, then skips.
    let sql = format!(
        "INSERT INTO tasks ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
         $12, $13, $14, $15, $16) ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING"
    );
    let inserted = on_tx!(
        tx,
        execute(
            sqlx::query(&sql)
                .bind(task.id)
                .bind(&task.kind)
                .bind(&task.title)
                .bind(&task.subject_kind)
                .bind(task.subject_id)
                .bind(task.assignee_user_id)
                .bind(task.assignee_role.map(Role::as_str))
                .bind(task.due_at)
                .bind(task.state.as_str())
                .bind(task.created_at)
                .bind(task.done_at)
                .bind(task.done_by)
                .bind(task.overdue_at)
                .bind(&task.dedupe_key)
                .bind(&task.source)
                .bind(task.automated)
        )
    )?;
    if inserted == 1 {
        audit::record(tx, actor, Change::created(Entity::Task, task.id, &task)).await?;
        return Ok((task, true));
    }
    let sql = format!("SELECT {COLUMNS} FROM tasks WHERE dedupe_key = $1");
    let existing: Option<TaskRow> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(&task.dedupe_key)
        .fetch_optional(c)
        .await)?;
    let existing = existing.ok_or_else(|| {
        DomainError::Internal("a task insert was skipped but no task has its dedupe key".into())
    })?;
    Ok((existing.try_into()?, false))
}

/// [`create_in`] in a transaction of its own.
pub async fn create(
    store: &Store,
    actor: &Actor,
    new: NewTask,
) -> Result<(Task, bool), DomainError> {
    let mut tx = store.begin().await?;
    let created = create_in(&mut tx, actor, new).await?;
    tx.commit().await?;
    Ok(created)
}

/// One task, if `scope` covers it (otherwise it is "not found": a task outside one's scope does
/// not exist for the caller).
pub async fn get(store: &Store, scope: Scope, id: Uuid) -> Result<Task, DomainError> {
    let sql = format!("SELECT {COLUMNS} FROM tasks WHERE id = $1");
    let row: Option<TaskRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(p)
        .await)?;
    in_scope(row, scope)
}

/// The task a lookup found, if `scope` covers it: a task outside one's scope does not exist for
/// the caller.
fn in_scope(row: Option<TaskRow>, scope: Scope) -> Result<Task, DomainError> {
    let task: Task = row
        .ok_or_else(|| DomainError::not_found(Entity::Task))?
        .try_into()?;
    if !scope.covers(&task) {
        return Err(DomainError::not_found(Entity::Task));
    }
    Ok(task)
}

/// Marks an open task done by the actor. A closed task is a 409 `task_closed` naming its state.
pub async fn complete(
    store: &Store,
    actor: &Actor,
    scope: Scope,
    id: Uuid,
) -> Result<Task, DomainError> {
    close(store, actor, scope, id, TaskState::Done).await
}

/// Cancels an open task (nobody needs to do it any more). A closed task is a 409 `task_closed`.
pub async fn cancel(
    store: &Store,
    actor: &Actor,
    scope: Scope,
    id: Uuid,
) -> Result<Task, DomainError> {
    close(store, actor, scope, id, TaskState::Cancelled).await
}

/// The task kind of a work order: it closes with its order (`maintenance::orders`), not on its own.
pub const WORK_ORDER_KIND: &str = "work_order";

async fn close(
    store: &Store,
    actor: &Actor,
    scope: Scope,
    id: Uuid,
    to: TaskState,
) -> Result<Task, DomainError> {
    let mut tx = store.begin().await?;
    let (before, after) = close_in(&mut tx, scope, id, to, actor, false).await?;
    let action = match to {
        TaskState::Done => "task.complete",
        _ => "task.cancel",
    };
    let change = Change::action(action, Entity::Task, id)
        .before(&before)
        .after(&after);
    tx.commit_audited(actor, change).await?;
    Ok(after)
}

/// Closes an open task inside the caller's transaction, unaudited (the caller records the
/// change); returns it before and after. A work order's task closes only `with_its_order`.
pub(crate) async fn close_in(
    tx: &mut Tx,
    scope: Scope,
    id: Uuid,
    to: TaskState,
    actor: &Actor,
    with_its_order: bool,
) -> Result<(Task, Task), DomainError> {
    // Locked: two people completing at once must not both see it open.
    let sql = format!(
        "SELECT {COLUMNS} FROM tasks WHERE id = $1{}",
        tx.row_lock(RowLock::Update)
    );
    let row: Option<TaskRow> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(c)
        .await)?;
    let before = in_scope(row, scope)?;
    if before.state != TaskState::Open {
        return Err(DomainError::conflict_with(
            ErrorCode::TaskClosed,
            format!("the task is {} already", before.state.as_str()),
            serde_json::json!({ "state": before.state, "done_at": before.done_at }),
        ));
    }
    if before.kind == WORK_ORDER_KIND && !with_its_order {
        return Err(DomainError::conflict_with(
            ErrorCode::IllegalTransition,
            "this task is a work order's: complete or cancel the work order",
            serde_json::json!({ "work_order": before.subject_id }),
        ));
    }
    let after = Task {
        state: to,
        done_at: Some(clock::now()),
        done_by: actor.user_id,
        ..before.clone()
    };
    let sql = "UPDATE tasks SET state = $1, done_at = $2, done_by = $3 WHERE id = $4";
    on_tx!(
        tx,
        execute(
            sqlx::query(sql)
                .bind(after.state.as_str())
                .bind(after.done_at)
                .bind(after.done_by)
                .bind(id)
        )
    )?;
    Ok((before, after))
}

/// The task list, in creation order, filtered by `filter` within `scope`. `me` is resolved by
/// the caller into `scope`'s user; `now` decides what `overdue` means.
pub async fn list(
    store: &Store,
    scope: Scope,
    filter: &TaskFilter,
    now: DateTime<Utc>,
    page: PageRequest,
) -> Result<Page<Task>, DomainError> {
    // The assignee filter: a user id, or `me` (that user plus their role's tasks).
    let (mut user, mut role_of_user) = (None, None);
    match filter.assignee.as_deref().map(str::trim) {
        None | Some("") => {}
        Some("me") => match scope {
            Scope::Mine { user_id, role } => (user, role_of_user) = (Some(user_id), Some(role)),
            Scope::All => {
                return Err(DomainError::field(
                    "assignee",
                    "`me` needs a signed-in user",
                ))
            }
        },
        Some(id) => {
            user = Some(
                Uuid::parse_str(id)
                    .map_err(|_| DomainError::field("assignee", "must be a user id or `me`"))?,
            )
        }
    }
    // Without the right to see every task, the list is always "my tasks" (and may narrow it).
    let (scope_user, scope_role) = match scope {
        Scope::All => (None, None),
        Scope::Mine { user_id, role } => (Some(user_id), Some(role)),
    };
    let (state, mut due_before) = match filter.state {
        None => (None, filter.due_before),
        Some(TaskStateFilter::Open) => (Some(TaskState::Open), filter.due_before),
        Some(TaskStateFilter::Done) => (Some(TaskState::Done), filter.due_before),
        Some(TaskStateFilter::Cancelled) => (Some(TaskState::Cancelled), filter.due_before),
        Some(TaskStateFilter::Overdue) => (Some(TaskState::Open), Some(now)),
    };
    if let (Some(TaskStateFilter::Overdue), Some(b)) = (filter.state, filter.due_before) {
        due_before = Some(b.min(now));
    }
    let mine = "($1 IS NULL OR assignee_user_id = $1 OR ($2 IS NOT NULL AND \
                assignee_user_id IS NULL AND assignee_role = $2 AND \
                (state = 'open' OR done_by = $1)))";
    let sql = format!(
        "SELECT {COLUMNS} FROM tasks WHERE {mine} AND {} \
         AND ($5 IS NULL OR assignee_role = $5) AND ($6 IS NULL OR state = $6) \
         AND ($7 IS NULL OR due_at < $7) AND ($8 IS NULL OR kind = $8) \
         AND ($9 IS NULL OR id > $9) ORDER BY id LIMIT $10",
        mine.replace("$1", "$3").replace("$2", "$4")
    );
    let rows: Vec<TaskRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(user)
        .bind(role_of_user.map(Role::as_str))
        .bind(scope_user)
        .bind(scope_role.map(Role::as_str))
        .bind(filter.role.map(Role::as_str))
        .bind(state.map(TaskState::as_str))
        .bind(due_before)
        .bind(filter.kind.as_deref())
        .bind(page.after)
        .bind(page.fetch())
        .fetch_all(p)
        .await)?;
    page.try_page(rows, |r| r.id, Task::try_from)
}

/// The on-time KPI (see [`TaskKpi`]) for the tasks due in `[from, min(to, now))`.
pub async fn kpi(
    store: &Store,
    q: &TaskKpiQuery,
    now: DateTime<Utc>,
) -> Result<TaskKpi, DomainError> {
    // Only what is already due can be on time or late, so the window ends at now at the latest.
    let to = q.to.map_or(now, |t| t.min(now));
    let from = q.from.unwrap_or(to - Duration::days(30));
    if from > to {
        return Err(DomainError::field("from", "must be before `to` and now"));
    }
    let sql = "SELECT COUNT(*), \
               COALESCE(SUM(CASE WHEN state = 'done' AND done_at <= due_at THEN 1 ELSE 0 END), 0), \
               COALESCE(SUM(CASE WHEN state = 'done' AND done_at > due_at THEN 1 ELSE 0 END), 0), \
               COALESCE(SUM(CASE WHEN state = 'open' THEN 1 ELSE 0 END), 0) \
               FROM tasks WHERE state <> 'cancelled' AND due_at >= $1 AND due_at < $2 \
               AND ($3 IS NULL OR kind = $3) AND ($4 OR automated)";
    let (due, done_on_time, done_late, open_overdue): (i64, i64, i64, i64) =
        on_read!(store, |p| sqlx::query_as(sql)
            .bind(from)
            .bind(to)
            .bind(q.kind.as_deref())
            .bind(q.include_manual.unwrap_or(false))
            .fetch_one(p)
            .await)?;
    // A ratio, not money: a float is the honest type.
    #[allow(clippy::cast_precision_loss)]
    let on_time_ratio = (due > 0).then(|| done_on_time as f64 / due as f64);
    Ok(TaskKpi {
        from,
        to,
        due,
        done_on_time,
        done_late,
        open_overdue,
        on_time_ratio,
    })
}

/// Stamps `overdue_at = through` on every open task due at or before `through` that has none
/// yet, audited as `task.overdue`; answers how many. Tasks due before the window (created late,
/// with a past due time) are caught too: the stamp, not the window, makes it once per task.
pub(crate) async fn mark_overdue(
    tx: &mut Tx,
    actor: &Actor,
    through: DateTime<Utc>,
) -> Result<u64, DomainError> {
    let sql = "UPDATE tasks SET overdue_at = $1 \
               WHERE state = 'open' AND overdue_at IS NULL AND due_at <= $1 \
               RETURNING id, due_at, title, kind, assignee_user_id, assignee_role";
    #[allow(clippy::type_complexity)]
    let marked: Vec<(
        Uuid,
        DateTime<Utc>,
        String,
        String,
        Option<Uuid>,
        Option<String>,
    )> = on_tx!(tx, |c| sqlx::query_as(sql).bind(through).fetch_all(c).await)?;
    for (id, due_at, title, kind, user, role) in &marked {
        let change = Change::action("task.overdue", Entity::Task, *id)
            .after(&serde_json::json!({ "due_at": due_at, "overdue_at": through }));
        audit::record(tx, actor, change).await?;
        // The person (or role) who should have done it hears of it, in the same transaction.
        let recipients = match (user, role.as_deref().and_then(|r| r.parse::<Role>().ok())) {
            (Some(user), _) => vec![Recipient::User(*user)],
            (None, Some(role)) => vec![Recipient::Role(role)],
            (None, None) => Vec::new(),
        };
        notifications::enqueue(
            tx,
            NewNotification {
                kind: "task.overdue".into(),
                title: format!("Overdue: {title}"),
                body: format!("“{title}” was due {due_at} and is not done."),
                data: serde_json::json!({ "task_id": id, "kind": kind, "due_at": due_at }),
                subject: Some((Entity::Task, *id)),
                recipients,
            },
        )
        .await?;
    }
    Ok(marked.len() as u64)
}

/// The built-in clock rule `overdue_tasks`: stamps `overdue_at` on open tasks whose due time has
/// passed (see [`mark_overdue`]) and notifies whoever should have done it (`task.overdue`).
#[derive(Debug, Clone, Copy, Default)]
pub struct OverdueRule;

impl crate::schedule::Rule for OverdueRule {
    fn name(&self) -> &'static str {
        "overdue_tasks"
    }

    fn evaluate<'a>(
        &'a self,
        tx: &'a mut Tx,
        window: crate::schedule::Window,
    ) -> crate::schedule::RuleFuture<'a> {
        Box::pin(async move { mark_overdue(tx, &Actor::clock(), window.to).await })
    }
}
