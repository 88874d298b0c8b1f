-- Tasks and the clock (SQLite). Paired with migrations/postgres/0006_tasks.sql.

-- What a person must do by when. Rules create them idempotently through `dedupe_key`; the due
-- and done times make the on-time KPI a query.
CREATE TABLE tasks (
    id               BLOB PRIMARY KEY NOT NULL,
    kind             TEXT NOT NULL,
    title            TEXT NOT NULL,
    subject_kind     TEXT,
    subject_id       BLOB,
    assignee_user_id BLOB REFERENCES users(id),
    assignee_role    TEXT CHECK (assignee_role IN ('admin','dispatcher','technician','rental_office','viewer')),
    due_at           TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('open','done','cancelled')),
    created_at       TEXT NOT NULL,
    -- When the task was closed (done or cancelled) and by whom.
    done_at          TEXT,
    done_by          BLOB REFERENCES users(id),
    -- Set once by the clock's `overdue_tasks` rule when an open task passes its due time.
    overdue_at       TEXT,
    dedupe_key       TEXT,
    source           TEXT NOT NULL,
    automated        INTEGER NOT NULL,
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
    rule              TEXT PRIMARY KEY NOT NULL,
    evaluated_through TEXT NOT NULL
);

-- One row per committed window evaluation (pruned after a week), for operators and tests.
CREATE TABLE schedule_runs (
    id          BLOB PRIMARY KEY NOT NULL,
    rule        TEXT NOT NULL,
    window_from TEXT NOT NULL,
    window_to   TEXT NOT NULL,
    instance    TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    count       INTEGER NOT NULL
);
CREATE INDEX schedule_runs_rule ON schedule_runs(rule, window_from);
CREATE INDEX schedule_runs_window_to ON schedule_runs(rule, window_to);
