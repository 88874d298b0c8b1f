-- fieldops initial schema (SQLite). Paired with migrations/postgres/0001_init.sql.
-- Ids are UUIDv7 stored as 16-byte BLOBs (sqlx's SQLite encoding); times are UTC RFC 3339 text.

CREATE TABLE users (
    id            BLOB PRIMARY KEY NOT NULL,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin','dispatcher','technician','rental_office','viewer')),
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id    BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE sites (
    id         BLOB PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('depot','customer_site','workshop')),
    address    TEXT,
    lat        REAL,
    lon        REAL,
    geofence   TEXT,
    version    INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE categories (
    id          BLOB PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL UNIQUE,
    description TEXT,
    created_at  TEXT NOT NULL
);

CREATE TABLE assets (
    id                   BLOB PRIMARY KEY NOT NULL,
    code                 TEXT NOT NULL,
    name                 TEXT NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('available','on_rent','in_maintenance','out_of_service','lost','retired')),
    category_id          BLOB REFERENCES categories(id),
    make                 TEXT,
    model                TEXT,
    serial               TEXT,
    home_site_id         BLOB REFERENCES sites(id),
    site_id              BLOB REFERENCES sites(id),
    pos_lat              REAL,
    pos_lon              REAL,
    pos_at               TEXT,
    pos_source           TEXT,
    engine_hours         REAL,
    odometer_km          REAL,
    purchase_date        TEXT,
    purchase_price_cents INTEGER,
    depreciation_method  TEXT NOT NULL DEFAULT 'none' CHECK (depreciation_method IN ('none','straight_line','declining_balance')),
    useful_life_months   INTEGER,
    residual_value_cents INTEGER,
    version              INTEGER NOT NULL DEFAULT 1,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    deleted_at           TEXT
);
-- A deleted asset frees its code; live codes are unique.
CREATE UNIQUE INDEX assets_code_live ON assets(code) WHERE deleted_at IS NULL;
CREATE INDEX assets_status ON assets(status);
CREATE INDEX assets_site ON assets(site_id);
CREATE INDEX assets_category ON assets(category_id);

CREATE TABLE asset_identifiers (
    id         BLOB PRIMARY KEY NOT NULL,
    asset_id   BLOB NOT NULL REFERENCES assets(id),
    kind       TEXT NOT NULL CHECK (kind IN ('qr','barcode','nfc_uid','rfid_epc','imei')),
    value      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    removed_at TEXT,
    removed_by TEXT
);
-- Removing a tag keeps its row (history); only active tags must be unique.
CREATE UNIQUE INDEX asset_identifiers_active ON asset_identifiers(kind, value) WHERE removed_at IS NULL;
CREATE INDEX asset_identifiers_value ON asset_identifiers(value);
CREATE INDEX asset_identifiers_asset ON asset_identifiers(asset_id);

CREATE TABLE devices (
    id                 BLOB PRIMARY KEY NOT NULL,
    device_id          TEXT NOT NULL UNIQUE,
    asset_id           BLOB REFERENCES assets(id),
    mqtt_password_hash TEXT NOT NULL,
    last_seen_at       TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);
CREATE INDEX devices_asset ON devices(asset_id);

CREATE TABLE device_bindings (
    id         BLOB PRIMARY KEY NOT NULL,
    device_id  BLOB NOT NULL REFERENCES devices(id),
    asset_id   BLOB NOT NULL REFERENCES assets(id),
    bound_at   TEXT NOT NULL,
    unbound_at TEXT
);
CREATE INDEX device_bindings_device ON device_bindings(device_id);

CREATE TABLE audit_log (
    id            BLOB PRIMARY KEY NOT NULL,
    at            TEXT NOT NULL,
    actor_user_id BLOB,
    actor         TEXT NOT NULL,
    source        TEXT NOT NULL CHECK (source IN ('api','mqtt','cli','system')),
    action        TEXT NOT NULL,
    entity        TEXT NOT NULL,
    entity_id     BLOB NOT NULL,
    before        TEXT,
    after         TEXT
);
CREATE INDEX audit_log_entity ON audit_log(entity, entity_id);
CREATE INDEX audit_log_at ON audit_log(at);
