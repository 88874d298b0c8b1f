-- Maintenance triggers (SQLite). Paired with migrations/postgres/0010_maintenance_triggers.sql.
--
-- Hour and odometer services are evaluated where the readings arrive: inside the ingest
-- transaction, for the assets of the batch. The full forecast (utilisation over 30 days, anchors,
-- nested services, the fixed grid) is too costly per batch, so the clock's sweep, which computes
-- it anyway, leaves one row per asset, plan and meter: the meter value at which the service will
-- enter its lead window. Ingest then needs one indexed read per batch, whatever the number of
-- plans in the fleet, and compares the new meters with `opens_at`.
--
-- A derived cache: rebuilt by every sweep pass, deleted when an order opens or a service is
-- recorded, ignored when its plan changed since (`plan_version`), was deleted, or no longer
-- applies to the asset (ingest joins plans and assets). No foreign keys, so writing it never
-- waits for the asset rows ingest holds (see the PostgreSQL file).
CREATE TABLE maintenance_triggers (
    asset_id     BLOB NOT NULL,
    plan_id      BLOB NOT NULL,
    metric       TEXT NOT NULL CHECK (metric IN ('engine_hours','odometer_km')),
    plan_version INTEGER NOT NULL,
    -- The meter value from which the service is inside its lead window.
    opens_at     REAL NOT NULL,
    -- The meter value it is due at, and the usage per day the forecast used (> 0: the floor).
    due_at       REAL NOT NULL,
    per_day      REAL NOT NULL CHECK (per_day > 0),
    occurrence   INTEGER NOT NULL,
    service      TEXT NOT NULL,
    title        TEXT NOT NULL,
    computed_at  TEXT NOT NULL,
    PRIMARY KEY (asset_id, plan_id, metric)
) WITHOUT ROWID;

-- Per asset, the lowest threshold of each meter over its services: what ingest reads, with a
-- LEFT JOIN in the very statement that loads and locks the batch's asset rows, so a batch that
-- crosses nothing costs one primary-key probe per asset and no extra statement. Only an asset
-- whose new meter reaches its threshold sends ingest to `maintenance_triggers` for the details.
-- Kept equal to the MIN over the asset's triggers by everything that writes them.
CREATE TABLE maintenance_thresholds (
    asset_id       BLOB PRIMARY KEY NOT NULL,
    hours_opens_at REAL,
    km_opens_at    REAL
) WITHOUT ROWID;
