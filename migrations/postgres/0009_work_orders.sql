-- Work orders (PostgreSQL). Paired with migrations/sqlite/0009_work_orders.sql, which explains
-- the table.
CREATE TABLE work_orders (
    id                uuid PRIMARY KEY,
    asset_id          uuid NOT NULL REFERENCES assets(id),
    plan_id           uuid REFERENCES maintenance_plans(id),
    occurrence        integer,
    service           text,
    title             text NOT NULL,
    state             text NOT NULL CHECK (state IN ('open','scheduled','in_progress','done','cancelled')),
    assignee_user_id  uuid REFERENCES users(id),
    due_on            date,
    scheduled_for     timestamptz,
    checklist         jsonb NOT NULL,
    notes             text,
    automatic         boolean NOT NULL,
    task_id           uuid REFERENCES tasks(id),
    status_before     text,
    started_at        timestamptz,
    completed_at      timestamptz,
    cancelled_at      timestamptz,
    engine_hours      double precision,
    odometer_km       double precision,
    version           bigint NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);
CREATE UNIQUE INDEX work_orders_one_open ON work_orders(asset_id, plan_id)
    WHERE plan_id IS NOT NULL AND state IN ('open','scheduled','in_progress');
-- The clock opens an order for a plan's occurrence at most once: one cancelled by a planner
-- is not opened again by the next sweep.
CREATE UNIQUE INDEX work_orders_auto_once ON work_orders(asset_id, plan_id, occurrence)
    WHERE automatic;
CREATE INDEX work_orders_state ON work_orders(state, id);
CREATE INDEX work_orders_asset ON work_orders(asset_id, id);

-- Where the clock's rolling sweep over the fleet continues (one row; NULL: from the start).
CREATE TABLE maintenance_sweep (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    after_asset uuid
);
