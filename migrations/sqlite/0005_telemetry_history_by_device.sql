-- Telemetry history in arrival order (SQLite). Paired with
-- migrations/postgres/0005_telemetry_history_by_device.sql.
--
-- Ingest cost on SQLite is the pages one commit dirties: with 100,000 assets reporting in random
-- order every reading lands on a different page of every B-tree keyed by device or asset. The
-- table used to be WITHOUT ROWID keyed on (device_id, ts) (wide rows, ~20 to a page) plus an
-- index on (asset_id, ts): two random pages per reading. Now the rows are appended in rowid
-- order (a batch fills a few pages at the end of the table) and ONE narrow unique index on
-- (device_id, ts) both dedupes and serves an asset's history: `telemetry::positions` reads it
-- through the asset's device bindings (new index below), filtered on asset_id. Measured with
-- 100,000 assets, 200,000 readings in batches of 1,000: 4.5 → 3 pages written per reading,
-- 7,900 → 10,900 readings/s.
--
-- The foreign keys go too, as on PostgreSQL (0004): ingest writes readings only for devices it
-- has just read in the same transaction and their bound assets, and devices and assets are
-- never deleted (assets are soft-deleted).
CREATE TABLE telemetry_by_arrival (
    device_id    BLOB NOT NULL,
    ts           TEXT NOT NULL,
    asset_id     BLOB,
    lat          REAL,
    lon          REAL,
    accuracy_m   REAL,
    speed_kmh    REAL,
    heading_deg  REAL,
    altitude_m   REAL,
    hdop         REAL,
    engine_hours REAL,
    odometer_km  REAL,
    ignition     INTEGER,
    battery_v    REAL,
    battery_pct  REAL,
    received_at  TEXT NOT NULL
);
INSERT INTO telemetry_by_arrival
SELECT device_id, ts, asset_id, lat, lon, accuracy_m, speed_kmh, heading_deg, altitude_m, hdop,
       engine_hours, odometer_km, ignition, battery_v, battery_pct, received_at
FROM telemetry ORDER BY received_at, ts;
DROP TABLE telemetry;
ALTER TABLE telemetry_by_arrival RENAME TO telemetry;
CREATE UNIQUE INDEX telemetry_device_ts ON telemetry(device_id, ts);
CREATE INDEX device_bindings_asset ON device_bindings(asset_id);
