-- Maintenance service plans (PostgreSQL). Paired with migrations/sqlite/0008_maintenance.sql,
-- which explains each table.
CREATE TABLE maintenance_plans (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    category_id uuid REFERENCES categories(id),
    asset_id    uuid REFERENCES assets(id),
    every_hours integer CHECK (every_hours > 0),
    every_days  integer CHECK (every_days > 0),
    every_km    integer CHECK (every_km > 0),
    lead_days   integer NOT NULL CHECK (lead_days >= 0),
    lead_hours  integer CHECK (lead_hours >= 0),
    anchor      text NOT NULL CHECK (anchor IN ('completion','fixed')),
    services    jsonb NOT NULL,
    starts_on   date NOT NULL,
    version     bigint NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    deleted_at  timestamptz,
    CHECK ((category_id IS NULL) <> (asset_id IS NULL)),
    CHECK (every_hours IS NOT NULL OR every_days IS NOT NULL OR every_km IS NOT NULL)
);
CREATE INDEX maintenance_plans_category ON maintenance_plans(category_id) WHERE deleted_at IS NULL;
CREATE INDEX maintenance_plans_asset ON maintenance_plans(asset_id) WHERE deleted_at IS NULL;

CREATE TABLE maintenance_history (
    asset_id     uuid NOT NULL REFERENCES assets(id),
    plan_id      uuid NOT NULL REFERENCES maintenance_plans(id),
    occurrence   integer NOT NULL CHECK (occurrence >= 0),
    service      text,
    skipped      integer NOT NULL DEFAULT 0,
    at           timestamptz NOT NULL,
    engine_hours double precision,
    odometer_km  double precision,
    recorded_at  timestamptz NOT NULL,
    PRIMARY KEY (asset_id, plan_id, occurrence)
);

CREATE TABLE asset_meter_snapshots (
    asset_id     uuid NOT NULL REFERENCES assets(id),
    day          date NOT NULL,
    taken_at     timestamptz NOT NULL,
    engine_hours double precision,
    odometer_km  double precision,
    PRIMARY KEY (asset_id, day)
);
CREATE INDEX asset_meter_snapshots_day ON asset_meter_snapshots(day);
