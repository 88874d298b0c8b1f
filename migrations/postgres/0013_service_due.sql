-- The fleet's pressing services (PostgreSQL). Paired with migrations/sqlite/0013_service_due.sql,
-- which explains the table. No foreign keys, like `maintenance_triggers`: a cache the sweep
-- rewrites, which must not wait for the asset rows ingest holds.
CREATE TABLE asset_service_status (
    asset_id      uuid PRIMARY KEY,
    plan_id       uuid NOT NULL,
    service       text NOT NULL,
    urgency_rank  smallint NOT NULL CHECK (urgency_rank BETWEEN 1 AND 3),
    forecast_date date NOT NULL,
    computed_at   timestamptz NOT NULL
);
CREATE INDEX asset_service_status_pressing
    ON asset_service_status(urgency_rank DESC, forecast_date, asset_id);
