-- Maintenance triggers (PostgreSQL). Paired with migrations/sqlite/0010_maintenance_triggers.sql,
-- which explains the table.
--
-- No foreign keys on purpose: an insert referencing assets takes FOR KEY SHARE on the asset row,
-- which would make the clock's sweep wait for every ingest batch holding that asset, and a batch
-- opening an order waits on the sweep's uncommitted order of the same occurrence: a deadlock.
-- The table is a cache that ingest verifies by joining plans and assets.
CREATE TABLE maintenance_triggers (
    asset_id     uuid NOT NULL,
    plan_id      uuid NOT NULL,
    metric       text NOT NULL CHECK (metric IN ('engine_hours','odometer_km')),
    plan_version bigint NOT NULL,
    opens_at     double precision NOT NULL,
    due_at       double precision NOT NULL,
    per_day      double precision NOT NULL CHECK (per_day > 0),
    occurrence   integer NOT NULL,
    service      text NOT NULL,
    title        text NOT NULL,
    computed_at  timestamptz NOT NULL,
    PRIMARY KEY (asset_id, plan_id, metric)
);

-- Per asset, the lowest threshold of each meter (see the SQLite file): read by ingest with the
-- asset rows it locks, without locking these.
CREATE TABLE maintenance_thresholds (
    asset_id       uuid PRIMARY KEY,
    hours_opens_at double precision,
    km_opens_at    double precision
);
