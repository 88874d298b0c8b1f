-- Maintenance service plans (SQLite). Paired with migrations/postgres/0008_maintenance.sql.
--
-- A plan applies to a category (every excavator) or to one asset; an asset's own plans replace
-- its category's. One interval per metric, as columns rather than JSON, so that the set-based
-- checks in ingest and in the clock can compare meters to due points in SQL.
CREATE TABLE maintenance_plans (
    id          BLOB PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    category_id BLOB REFERENCES categories(id),
    asset_id    BLOB REFERENCES assets(id),
    every_hours INTEGER CHECK (every_hours > 0),
    every_days  INTEGER CHECK (every_days > 0),
    every_km    INTEGER CHECK (every_km > 0),
    lead_days   INTEGER NOT NULL CHECK (lead_days >= 0),
    lead_hours  INTEGER CHECK (lead_hours >= 0),
    anchor      TEXT NOT NULL CHECK (anchor IN ('completion','fixed')),
    -- [{name, multiple}], largest multiple first.
    services    TEXT NOT NULL,
    starts_on   TEXT NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    -- Soft delete: completions refer to the plan.
    deleted_at  TEXT,
    CHECK ((category_id IS NULL) <> (asset_id IS NULL)),
    CHECK (every_hours IS NOT NULL OR every_days IS NOT NULL OR every_km IS NOT NULL)
);
CREATE INDEX maintenance_plans_category ON maintenance_plans(category_id) WHERE deleted_at IS NULL;
CREATE INDEX maintenance_plans_asset ON maintenance_plans(asset_id) WHERE deleted_at IS NULL;

-- Where each asset's counting under each plan starts: occurrence 0 is the baseline (where the
-- asset stood when the plan began to apply to it), occurrence n the n-th service done. The
-- forecast counts from the latest row. One row per occurrence: a service recorded twice is a
-- conflict, not a second anchor.
CREATE TABLE maintenance_history (
    asset_id     BLOB NOT NULL REFERENCES assets(id),
    plan_id      BLOB NOT NULL REFERENCES maintenance_plans(id),
    occurrence   INTEGER NOT NULL CHECK (occurrence >= 0),
    service      TEXT,
    -- Fixed-grid occurrences passed without a service before this one.
    skipped      INTEGER NOT NULL DEFAULT 0,
    at           TEXT NOT NULL,
    engine_hours REAL,
    odometer_km  REAL,
    recorded_at  TEXT NOT NULL,
    PRIMARY KEY (asset_id, plan_id, occurrence)
) WITHOUT ROWID;

-- One row per asset and day: the meters at the first look of the day. Utilisation (hours per
-- calendar day over the last 30 days) is the current meter minus the oldest snapshot in the
-- window, over the time between; it includes hours derived from ignition, which no reading
-- carries, and never goes negative, since a reading that goes backwards is not applied.
CREATE TABLE asset_meter_snapshots (
    asset_id     BLOB NOT NULL REFERENCES assets(id),
    day          TEXT NOT NULL,
    taken_at     TEXT NOT NULL,
    engine_hours REAL,
    odometer_km  REAL,
    PRIMARY KEY (asset_id, day)
) WITHOUT ROWID;
-- "Is today's snapshot taken?" (the clock asks every minute) and pruning by age.
CREATE INDEX asset_meter_snapshots_day ON asset_meter_snapshots(day);
