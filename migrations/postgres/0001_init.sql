-- fieldops initial schema (PostgreSQL). Paired with migrations/sqlite/0001_init.sql.

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    username      text NOT NULL UNIQUE,
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin','dispatcher','technician','rental_office','viewer')),
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

CREATE TABLE sessions (
    token_hash text PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE sites (
    id         uuid PRIMARY KEY,
    name       text NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('depot','customer_site','workshop')),
    address    text,
    lat        double precision,
    lon        double precision,
    geofence   jsonb,
    version    bigint NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE categories (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    description text,
    created_at  timestamptz NOT NULL
);

CREATE TABLE assets (
    id                   uuid PRIMARY KEY,
    code                 text NOT NULL,
    name                 text NOT NULL,
    status               text NOT NULL CHECK (status IN ('available','on_rent','in_maintenance','out_of_service','lost','retired')),
    category_id          uuid REFERENCES categories(id),
    make                 text,
    model                text,
    serial               text,
    home_site_id         uuid REFERENCES sites(id),
    site_id              uuid REFERENCES sites(id),
    pos_lat              double precision,
    pos_lon              double precision,
    pos_at               timestamptz,
    pos_source           text,
    engine_hours         double precision,
    odometer_km          double precision,
    purchase_date        date,
    purchase_price_cents bigint,
    depreciation_method  text NOT NULL DEFAULT 'none' CHECK (depreciation_method IN ('none','straight_line','declining_balance')),
    useful_life_months   integer,
    residual_value_cents bigint,
    version              bigint NOT NULL DEFAULT 1,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    deleted_at           timestamptz
);
CREATE UNIQUE INDEX assets_code_live ON assets(code) WHERE deleted_at IS NULL;
CREATE INDEX assets_status ON assets(status);
CREATE INDEX assets_site ON assets(site_id);
CREATE INDEX assets_category ON assets(category_id);

CREATE TABLE asset_identifiers (
    id         uuid PRIMARY KEY,
    asset_id   uuid NOT NULL REFERENCES assets(id),
    kind       text NOT NULL CHECK (kind IN ('qr','barcode','nfc_uid','rfid_epc','imei')),
    value      text NOT NULL,
    created_at timestamptz NOT NULL,
    created_by text NOT NULL,
    removed_at timestamptz,
    removed_by text
);
CREATE UNIQUE INDEX asset_identifiers_active ON asset_identifiers(kind, value) WHERE removed_at IS NULL;
CREATE INDEX asset_identifiers_value ON asset_identifiers(value);
CREATE INDEX asset_identifiers_asset ON asset_identifiers(asset_id);

CREATE TABLE devices (
    id                 uuid PRIMARY KEY,
    device_id          text NOT NULL UNIQUE,
    asset_id           uuid REFERENCES assets(id),
    mqtt_password_hash text NOT NULL,
    last_seen_at       timestamptz,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);
CREATE INDEX devices_asset ON devices(asset_id);

CREATE TABLE device_bindings (
    id         uuid PRIMARY KEY,
    device_id  uuid NOT NULL REFERENCES devices(id),
    asset_id   uuid NOT NULL REFERENCES assets(id),
    bound_at   timestamptz NOT NULL,
    unbound_at timestamptz
);
CREATE INDEX device_bindings_device ON device_bindings(device_id);

CREATE TABLE audit_log (
    id            uuid PRIMARY KEY,
    at            timestamptz NOT NULL,
    actor_user_id uuid,
    actor         text NOT NULL,
    source        text NOT NULL CHECK (source IN ('api','mqtt','cli','system')),
    action        text NOT NULL,
    entity        text NOT NULL,
    entity_id     uuid NOT NULL,
    before        jsonb,
    after         jsonb
);
CREATE INDEX audit_log_entity ON audit_log(entity, entity_id);
CREATE INDEX audit_log_at ON audit_log(at);
