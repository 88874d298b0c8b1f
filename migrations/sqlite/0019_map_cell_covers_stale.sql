-- The map's index also carries what the stale rule and the site/category filters read
-- (SQLite). Paired with migrations/postgres/0019_map_cell_covers_stale.sql.
--
-- `/api/v1/map/assets` flags stale assets and counts them per cluster with the alert lists'
-- rule, which since 0018 reads the asset row alone (`pos_at`, `tracker_id`,
-- `tracker_offline_cause`). With 0016's index the clusters of a country-sized view fetched
-- every asset's row for those columns (100,000 row lookups: ~0.5 s at 100,000 assets,
-- BENCHMARKS.md "Dispatcher map"); with them in the index the count and the clusters are one
-- index range scan. Only the text search (`q`: code, name, serial) still reads rows.
DROP INDEX assets_map_cell;
CREATE INDEX assets_map_cell ON assets(map_cell, status, used_at, pos_lat, pos_lon, pos_at,
    tracker_id, tracker_offline_cause, site_id, category_id)
    WHERE deleted_at IS NULL AND map_cell IS NOT NULL;
