-- Field scanning (SQLite). Paired with migrations/postgres/0003_field_scans.sql.

-- Photos, content-addressed: the bytes live in the blob store under their SHA-256.
CREATE TABLE photos (
    sha256       TEXT PRIMARY KEY NOT NULL,
    size_bytes   INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    uploaded_by  TEXT NOT NULL,
    uploaded_at  TEXT NOT NULL
);

-- Every field command, keyed by the UUID the phone made: a replay finds its row and gets the
-- original answer back (exactly once).
CREATE TABLE scan_events (
    id            BLOB PRIMARY KEY NOT NULL,
    action        TEXT NOT NULL CHECK (action IN ('lookup','deliver','return','inspect','transfer','meter','audit')),
    asset_id      BLOB REFERENCES assets(id),
    status        TEXT NOT NULL CHECK (status IN ('applied','rejected')),
    error         TEXT,
    actor_user_id BLOB,
    actor         TEXT NOT NULL,
    device_time   TEXT NOT NULL,
    server_time   TEXT NOT NULL,
    lat           REAL,
    lon           REAL,
    accuracy_m    REAL,
    site_id       BLOB REFERENCES sites(id),
    command       TEXT NOT NULL,
    result        TEXT NOT NULL
);
CREATE INDEX scan_events_asset ON scan_events(asset_id, device_time);

CREATE TABLE scan_event_photos (
    scan_id BLOB NOT NULL REFERENCES scan_events(id),
    sha256  TEXT NOT NULL REFERENCES photos(sha256),
    PRIMARY KEY (scan_id, sha256)
);

-- Device time of the newest field action applied to an asset's state: an older command that
-- arrives later (offline sync) is kept as history but does not override it.
ALTER TABLE assets ADD COLUMN field_at TEXT;

CREATE TABLE stocktakes (
    id           BLOB PRIMARY KEY NOT NULL,
    site_id      BLOB NOT NULL REFERENCES sites(id),
    status       TEXT NOT NULL CHECK (status IN ('open','completed')),
    started_by   TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    completed_at TEXT
);

-- The assets recorded at the site when the stocktake started.
CREATE TABLE stocktake_expected (
    stocktake_id BLOB NOT NULL REFERENCES stocktakes(id),
    asset_id     BLOB NOT NULL REFERENCES assets(id),
    PRIMARY KEY (stocktake_id, asset_id)
);

-- What was seen; RFID bursts repeat EPCs, the key deduplicates them.
CREATE TABLE stocktake_seen (
    stocktake_id  BLOB NOT NULL REFERENCES stocktakes(id),
    asset_id      BLOB NOT NULL REFERENCES assets(id),
    first_seen_at TEXT NOT NULL,
    seen_by       TEXT NOT NULL,
    reads         INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (stocktake_id, asset_id)
);

-- Scanned values that matched no asset.
CREATE TABLE stocktake_unknown (
    stocktake_id  BLOB NOT NULL REFERENCES stocktakes(id),
    value         TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    reads         INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (stocktake_id, value)
);
