-- The maintenance planner role (SQLite). Paired with
-- migrations/postgres/0012_maintenance_planner_role.sql.
--
-- `users.role` and `tasks.assignee_role` accept 'maintenance_planner'. SQLite cannot change a
-- CHECK constraint, so both tables are rebuilt by SQLite's documented procedure
-- (https://www.sqlite.org/lang_altertable.html#otheralter): create the new table, copy the rows,
-- drop the old one, rename the new one, recreate the indexes, check the foreign keys, all in
-- the one transaction sqlx runs this file in. Columns, order, defaults and indexes are exactly
-- those of migrations 0001, 0006 and 0007 (`users.email`); whoever adds a column to either
-- table before this file runs must add it here too (`migration_0012` in
-- domain/tests/migrations.rs compares the columns and indexes before and after).
--
-- Foreign keys must be OFF while the old tables are dropped: with them on, DROP TABLE first
-- deletes every row, and ON DELETE CASCADE would take each user's `sessions` with it (the
-- rename then leaves the other references intact: they name `users` and `tasks`, which exist
-- again). PRAGMA foreign_keys is a no-op inside a transaction and sqlx's SQLite driver runs
-- every migration in one (it ignores `-- no-transaction`), so `Store::migrate` switches them off
-- around the run (domain/src/store/sqlite.rs). This guard refuses to run with them on — say
-- from `sqlx migrate run` — instead of losing the sessions; a CHECK is how plain SQL fails.
CREATE TEMP TABLE migration_0012_guard (
    foreign_keys INTEGER CHECK (foreign_keys = 0),
    violations   INTEGER CHECK (violations = 0)
);
INSERT INTO migration_0012_guard (foreign_keys) SELECT foreign_keys FROM pragma_foreign_keys;

CREATE TABLE users_0012 (
    id            BLOB PRIMARY KEY NOT NULL,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin','dispatcher','technician','rental_office','viewer','maintenance_planner')),
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    email         TEXT
);
INSERT INTO users_0012 (id, username, password_hash, role, disabled, created_at, updated_at, email)
SELECT id, username, password_hash, role, disabled, created_at, updated_at, email FROM users;
DROP TABLE users;
ALTER TABLE users_0012 RENAME TO users;

CREATE TABLE tasks_0012 (
    id               BLOB PRIMARY KEY NOT NULL,
    kind             TEXT NOT NULL,
    title            TEXT NOT NULL,
    subject_kind     TEXT,
    subject_id       BLOB,
    assignee_user_id BLOB REFERENCES users(id),
    assignee_role    TEXT CHECK (assignee_role IN ('admin','dispatcher','technician','rental_office','viewer','maintenance_planner')),
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
INSERT INTO tasks_0012 (id, kind, title, subject_kind, subject_id, assignee_user_id,
                        assignee_role, due_at, state, created_at, done_at, done_by, overdue_at,
                        dedupe_key, source, automated)
SELECT id, kind, title, subject_kind, subject_id, assignee_user_id, assignee_role, due_at, state,
       created_at, done_at, done_by, overdue_at, dedupe_key, source, automated
FROM tasks;
DROP TABLE tasks;
ALTER TABLE tasks_0012 RENAME TO tasks;
CREATE UNIQUE INDEX tasks_dedupe ON tasks(dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE INDEX tasks_assignee_user ON tasks(assignee_user_id, state);
CREATE INDEX tasks_assignee_role ON tasks(assignee_role, state);
CREATE INDEX tasks_open_due ON tasks(due_at) WHERE state = 'open';
CREATE INDEX tasks_due ON tasks(due_at);

-- Step 10 of the procedure: every reference still resolves, or nothing of this file commits.
INSERT INTO migration_0012_guard (violations) SELECT count(*) FROM pragma_foreign_key_check;
DROP TABLE migration_0012_guard;
