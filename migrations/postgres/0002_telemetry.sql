-- Telemetry ingest (PostgreSQL). Paired with migrations/sqlite/0002_telemetry.sql.

CREATE TABLE telemetry (
    device_id    uuid NOT NULL REFERENCES devices(id),
    ts           timestamptz NOT NULL,
    asset_id     uuid REFERENCES assets(id),
    lat          double precision,
    lon          double precision,
    accuracy_m   double precision,
    speed_kmh    double precision,
    heading_deg  double precision,
    altitude_m   double precision,
    hdop         double precision,
    engine_hours double precision,
    odometer_km  double precision,
    ignition     boolean,
    battery_v    double precision,
    battery_pct  double precision,
    received_at  timestamptz NOT NULL,
    PRIMARY KEY (device_id, ts)
);
CREATE INDEX telemetry_asset_ts ON telemetry(asset_id, ts);

CREATE TABLE meter_anomalies (
    id          uuid PRIMARY KEY,
    asset_id    uuid NOT NULL REFERENCES assets(id),
    device_id   uuid NOT NULL REFERENCES devices(id),
    ts          timestamptz NOT NULL,
    meter       text NOT NULL CHECK (meter IN ('engine_hours','odometer_km')),
    previous    double precision NOT NULL,
    reading     double precision NOT NULL,
    detected_at timestamptz NOT NULL
);
CREATE INDEX meter_anomalies_asset ON meter_anomalies(asset_id);

CREATE TABLE geofence_events (
    id       uuid PRIMARY KEY,
    asset_id uuid NOT NULL REFERENCES assets(id),
    site_id  uuid NOT NULL REFERENCES sites(id),
    kind     text NOT NULL CHECK (kind IN ('enter','exit')),
    ts       timestamptz NOT NULL
);
CREATE INDEX geofence_events_asset ON geofence_events(asset_id, ts);

CREATE TABLE telemetry_rejects (
    id          uuid PRIMARY KEY,
    received_at timestamptz NOT NULL,
    topic       text NOT NULL,
    device_id   text,
    reason      text NOT NULL,
    detail      text NOT NULL,
    payload     bytea NOT NULL
);
CREATE INDEX telemetry_rejects_reason ON telemetry_rejects(reason);

ALTER TABLE devices ADD COLUMN online boolean NOT NULL DEFAULT false;
ALTER TABLE devices ADD COLUMN status_at timestamptz;
ALTER TABLE devices ADD COLUMN last_ts timestamptz;
ALTER TABLE devices ADD COLUMN last_ignition boolean;
ALTER TABLE devices ADD COLUMN has_hour_meter boolean NOT NULL DEFAULT false;

ALTER TABLE assets ADD COLUMN hours_at timestamptz;
ALTER TABLE assets ADD COLUMN odometer_at timestamptz;
ALTER TABLE assets ADD COLUMN last_seen_at timestamptz;
ALTER TABLE assets ADD COLUMN geofence_site_id uuid REFERENCES sites(id);
-- Set when a meter reading went backwards; cleared by a reading at or above the applied value
-- or a manual correction. While set, further low readings are kept but not flagged again.
ALTER TABLE assets ADD COLUMN hours_flagged boolean NOT NULL DEFAULT false;
ALTER TABLE assets ADD COLUMN odometer_flagged boolean NOT NULL DEFAULT false;
