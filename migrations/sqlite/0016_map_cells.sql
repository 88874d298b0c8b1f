-- The map's grid cell key and the daily usage rollup (SQLite). Paired with
-- migrations/postgres/0016_map_cells.sql.

-- The asset's current position as a Web-Mercator tile at zoom 20, Morton-coded
-- (mobile-shared/src/geo_cell.rs): `map_cell / 4^k` is its tile at zoom 20-k, so one index
-- groups the fleet at every map zoom. Kept wherever a position is written (ingest, field
-- commands); NULL without a position. Existing rows are filled by `Store::migrate` after the
-- migrations (the code needs a logarithm and bit interleaving SQL does not have portably).
ALTER TABLE assets ADD COLUMN map_cell INTEGER;
-- When the asset last worked: its engine hours or odometer went up (ingest, meter scans).
-- The heat map's "idle" share is "available and not used for N days".
ALTER TABLE assets ADD COLUMN used_at TEXT;

-- `/api/v1/map/assets` and `/api/v1/map/heat`: a bbox is a few ranges of map_cell, grouped
-- by a prefix of it; the other columns the grouped reads need ride along, so the count and
-- the clusters come from the index alone (filters by site/category/text read the rows).
CREATE INDEX assets_map_cell ON assets(map_cell, status, used_at, pos_lat, pos_lon, pos_at)
    WHERE deleted_at IS NULL AND map_cell IS NOT NULL;

-- Per asset and UTC day: where it was (its cell at the day's last batch) and the lowest and
-- highest meters seen that day, counting from the value before the day's first reading, so
-- hours run overnight are not lost. Upserted by each ingest batch in one statement; the
-- utilisation heat map sums `*_hi - *_lo` by cell over a range of days.
CREATE TABLE asset_usage_daily (
    asset_id  BLOB NOT NULL,
    day       TEXT NOT NULL,
    map_cell  INTEGER,
    hours_lo  REAL,
    hours_hi  REAL,
    km_lo     REAL,
    km_hi     REAL,
    PRIMARY KEY (asset_id, day)
);
CREATE INDEX asset_usage_daily_day_cell ON asset_usage_daily(day, map_cell, hours_lo, hours_hi, km_lo, km_hi);
