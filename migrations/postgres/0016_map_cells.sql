-- The map's grid cell key and the daily usage rollup (PostgreSQL). Paired with
-- migrations/sqlite/0016_map_cells.sql, which explains each change.

ALTER TABLE assets ADD COLUMN map_cell bigint;
ALTER TABLE assets ADD COLUMN used_at timestamptz;

CREATE INDEX assets_map_cell ON assets(map_cell, status) INCLUDE (used_at, pos_lat, pos_lon, pos_at)
    WHERE deleted_at IS NULL AND map_cell IS NOT NULL;

CREATE TABLE asset_usage_daily (
    asset_id  uuid NOT NULL,
    day       date NOT NULL,
    map_cell  bigint,
    hours_lo  double precision,
    hours_hi  double precision,
    km_lo     double precision,
    km_hi     double precision,
    PRIMARY KEY (asset_id, day)
);
CREATE INDEX asset_usage_daily_day_cell ON asset_usage_daily(day, map_cell)
    INCLUDE (hours_lo, hours_hi, km_lo, km_hi);
