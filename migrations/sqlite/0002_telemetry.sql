-- Telemetry ingest (SQLite). Paired with migrations/postgres/0002_telemetry.sql.

-- Every accepted reading, deduplicated on (device, time): a redelivered or replayed message
-- inserts nothing. It is the position history (rows with lat/lon) and the meter history
-- (rows with engine_hours / odometer_km) at once, so ingest writes one row per reading.
CREATE TABLE telemetry (
    device_id    BLOB NOT NULL REFERENCES devices(id),
    ts           TEXT NOT NULL,
    asset_id     BLOB REFERENCES assets(id),
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
    received_at  TEXT NOT NULL,
    PRIMARY KEY (device_id, ts)
) WITHOUT ROWID;
CREATE INDEX telemetry_asset_ts ON telemetry(asset_id, ts);

-- Meter readings that went backwards: a replaced meter or a fault. Kept and flagged, never
-- applied as a rollback of the asset's hours.
CREATE TABLE meter_anomalies (
    id          BLOB PRIMARY KEY NOT NULL,
    asset_id    BLOB NOT NULL REFERENCES assets(id),
    device_id   BLOB NOT NULL REFERENCES devices(id),
    ts          TEXT NOT NULL,
    meter       TEXT NOT NULL CHECK (meter IN ('engine_hours','odometer_km')),
    previous    REAL NOT NULL,
    reading     REAL NOT NULL,
    detected_at TEXT NOT NULL
);
CREATE INDEX meter_anomalies_asset ON meter_anomalies(asset_id);

-- Geofence crossings.
CREATE TABLE geofence_events (
    id       BLOB PRIMARY KEY NOT NULL,
    asset_id BLOB NOT NULL REFERENCES assets(id),
    site_id  BLOB NOT NULL REFERENCES sites(id),
    kind     TEXT NOT NULL CHECK (kind IN ('enter','exit')),
    ts       TEXT NOT NULL
);
CREATE INDEX geofence_events_asset ON geofence_events(asset_id, ts);

-- Messages refused by the gateway, with the raw payload, for inspection. Bounded by pruning.
CREATE TABLE telemetry_rejects (
    id          BLOB PRIMARY KEY NOT NULL,
    received_at TEXT NOT NULL,
    topic       TEXT NOT NULL,
    device_id   TEXT,
    reason      TEXT NOT NULL,
    detail      TEXT NOT NULL,
    payload     BLOB NOT NULL
);
CREATE INDEX telemetry_rejects_reason ON telemetry_rejects(reason);

-- Per-device ingest state.
ALTER TABLE devices ADD COLUMN online INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN status_at TEXT;
ALTER TABLE devices ADD COLUMN last_ts TEXT;
ALTER TABLE devices ADD COLUMN last_ignition INTEGER;
ALTER TABLE devices ADD COLUMN has_hour_meter INTEGER NOT NULL DEFAULT 0;

-- Per-asset freshness of what telemetry keeps current.
ALTER TABLE assets ADD COLUMN hours_at TEXT;
ALTER TABLE assets ADD COLUMN odometer_at TEXT;
ALTER TABLE assets ADD COLUMN last_seen_at TEXT;
ALTER TABLE assets ADD COLUMN geofence_site_id BLOB REFERENCES sites(id);
-- Set when a meter reading went backwards; cleared by a reading at or above the applied value
-- or a manual correction. While set, further low readings are kept but not flagged again.
ALTER TABLE assets ADD COLUMN hours_flagged INTEGER NOT NULL DEFAULT 0;
ALTER TABLE assets ADD COLUMN odometer_flagged INTEGER NOT NULL DEFAULT 0;
