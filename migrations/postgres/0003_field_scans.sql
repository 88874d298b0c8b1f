-- Field scanning (PostgreSQL). Paired with migrations/sqlite/0003_field_scans.sql.

CREATE TABLE photos (
    sha256       text PRIMARY KEY,
    size_bytes   bigint NOT NULL,
    content_type text NOT NULL,
    uploaded_by  text NOT NULL,
    uploaded_at  timestamptz NOT NULL
);

CREATE TABLE scan_events (
    id            uuid PRIMARY KEY,
    action        text NOT NULL CHECK (action IN ('lookup','deliver','return','inspect','transfer','meter','audit')),
    asset_id      uuid REFERENCES assets(id),
    status        text NOT NULL CHECK (status IN ('applied','rejected')),
    error         text,
    actor_user_id uuid,
    actor         text NOT NULL,
    device_time   timestamptz NOT NULL,
    server_time   timestamptz NOT NULL,
    lat           double precision,
    lon           double precision,
    accuracy_m    double precision,
    site_id       uuid REFERENCES sites(id),
    command       jsonb NOT NULL,
    result        jsonb NOT NULL
);
CREATE INDEX scan_events_asset ON scan_events(asset_id, device_time);

CREATE TABLE scan_event_photos (
    scan_id uuid NOT NULL REFERENCES scan_events(id),
    sha256  text NOT NULL REFERENCES photos(sha256),
    PRIMARY KEY (scan_id, sha256)
);

ALTER TABLE assets ADD COLUMN field_at timestamptz;

CREATE TABLE stocktakes (
    id           uuid PRIMARY KEY,
    site_id      uuid NOT NULL REFERENCES sites(id),
    status       text NOT NULL CHECK (status IN ('open','completed')),
    started_by   text NOT NULL,
    started_at   timestamptz NOT NULL,
    completed_at timestamptz
);

CREATE TABLE stocktake_expected (
    stocktake_id uuid NOT NULL REFERENCES stocktakes(id),
    asset_id     uuid NOT NULL REFERENCES assets(id),
    PRIMARY KEY (stocktake_id, asset_id)
);

CREATE TABLE stocktake_seen (
    stocktake_id  uuid NOT NULL REFERENCES stocktakes(id),
    asset_id      uuid NOT NULL REFERENCES assets(id),
    first_seen_at timestamptz NOT NULL,
    seen_by       text NOT NULL,
    reads         integer NOT NULL DEFAULT 1,
    PRIMARY KEY (stocktake_id, asset_id)
);

CREATE TABLE stocktake_unknown (
    stocktake_id  uuid NOT NULL REFERENCES stocktakes(id),
    value         text NOT NULL,
    first_seen_at timestamptz NOT NULL,
    reads         integer NOT NULL DEFAULT 1,
    PRIMARY KEY (stocktake_id, value)
);
