-- Tasks and the clock (PostgreSQL). Paired with migrations/sqlite/0006_tasks.sql.

-- What a person must do by when. Rules create them idempotently through `dedupe_key`; the due
-- and done times make the on-time KPI a query.
CREATE TABLE tasks (
    id               uuid PRIMARY KEY,
    kind             text NOT NULL,
    title            text NOT NULL,
    subject_kind     text,
    subject_id       uuid,
    assignee_user_id uuid REFERENCES users(id),
    assignee_role    text CHECK (assignee_role IN ('admin','dispatcher','technician','rental_office','viewer')),
    due_at           timestamptz NOT NULL,
    state            text NOT NULL CHECK (state IN ('open','done','cancelled')),
    created_at       timestamptz NOT NULL,
    -- When the task was closed (done or cancelled) and by whom.
    done_at          timestamptz,
    done_by          uuid REFERENCES users(id),
    -- Set once by the clock's `overdue_tasks` rule when an open task passes its due time.
    overdue_at       timestamptz,
    dedupe_key       text,
    source           text NOT NULL,
    automated        boolean NOT NULL,
    CHECK (assignee_user_id IS NOT NULL OR assignee_role IS NOT NULL),
    CHECK ((subject_kind IS NULL) = (subject_id IS NULL))
);
CREATE UNIQUE INDEX tasks_dedupe ON tasks(dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE INDEX tasks_assignee_user ON tasks(assignee_user_id, state);
CREATE INDEX tasks_assignee_role ON tasks(assignee_role, state);
CREATE INDEX tasks_open_due ON tasks(due_at) WHERE state = 'open';
CREATE INDEX tasks_due ON tasks(due_at);

-- The clock: how far each time-based rule has evaluated. A rule's window and the move of its
-- mark commit in one transaction, so a crash re-runs a window and never skips or doubles one.
CREATE TABLE schedule_marks (
    rule              text PRIMARY KEY,
    evaluated_through timestamptz NOT NULL
);

-- One row per committed window evaluation (pruned after a week), for operators and tests.
CREATE TABLE schedule_runs (
    id          uuid PRIMARY KEY,
    rule        text NOT NULL,
    window_from timestamptz NOT NULL,
    window_to   timestamptz NOT NULL,
    instance    text NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    count       bigint NOT NULL
);
CREATE INDEX schedule_runs_rule ON schedule_runs(rule, window_from);
CREATE INDEX schedule_runs_window_to ON schedule_runs(rule, window_to);
