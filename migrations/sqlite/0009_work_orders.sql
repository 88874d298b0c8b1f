-- Work orders (SQLite). Paired with migrations/postgres/0009_work_orders.sql.
--
-- A work order is the maintenance kind of task: opened by the clock when a planned service
-- enters its lead window, or by hand (a breakdown, a failed inspection). Its task (tasks.id)
-- carries the assignee and due time for "my tasks" and the on-time KPI; the order carries the
-- work: state, checklist, notes, the meters at completion, and the downtime window.
CREATE TABLE work_orders (
    id                BLOB PRIMARY KEY NOT NULL,
    asset_id          BLOB NOT NULL REFERENCES assets(id),
    plan_id           BLOB REFERENCES maintenance_plans(id),
    occurrence        INTEGER,
    service           TEXT,
    title             TEXT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('open','scheduled','in_progress','done','cancelled')),
    assignee_user_id  BLOB REFERENCES users(id),
    due_on            TEXT,
    scheduled_for     TEXT,
    -- [{item, done}]
    checklist         TEXT NOT NULL,
    notes             TEXT,
    automatic         INTEGER NOT NULL,
    task_id           BLOB REFERENCES tasks(id),
    -- The asset's status before the order put it in maintenance, restored when it ends.
    status_before     TEXT,
    started_at        TEXT,
    completed_at      TEXT,
    cancelled_at      TEXT,
    engine_hours      REAL,
    odometer_km       REAL,
    version           INTEGER NOT NULL DEFAULT 1,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
-- Exactly one open order per asset and plan, however many sweeps or processes race: the
-- database refuses the second (the sweep's INSERT … ON CONFLICT DO NOTHING skips it).
CREATE UNIQUE INDEX work_orders_one_open ON work_orders(asset_id, plan_id)
    WHERE plan_id IS NOT NULL AND state IN ('open','scheduled','in_progress');
-- The clock opens an order for a plan's occurrence at most once: one cancelled by a planner
-- is not opened again by the next sweep.
CREATE UNIQUE INDEX work_orders_auto_once ON work_orders(asset_id, plan_id, occurrence)
    WHERE automatic = 1;
CREATE INDEX work_orders_state ON work_orders(state, id);
CREATE INDEX work_orders_asset ON work_orders(asset_id, id);

-- Where the clock's rolling sweep over the fleet continues (one row; NULL: from the start).
CREATE TABLE maintenance_sweep (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    after_asset BLOB
);
