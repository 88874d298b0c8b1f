-- The map's index also carries what the stale rule and the site/category filters read
-- (PostgreSQL). Paired with migrations/sqlite/0019_map_cell_covers_stale.sql, which explains
-- why.
DROP INDEX assets_map_cell;
CREATE INDEX assets_map_cell ON assets(map_cell, status) INCLUDE (used_at, pos_lat, pos_lon,
    pos_at, tracker_id, tracker_offline_cause, site_id, category_id)
    WHERE deleted_at IS NULL AND map_cell IS NOT NULL;
