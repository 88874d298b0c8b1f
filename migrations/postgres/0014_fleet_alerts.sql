-- Fleet alerts: stale/silent assets, off-site assets, the per-site table (PostgreSQL). Paired
-- with migrations/sqlite/0014_fleet_alerts.sql, which explains each change.

ALTER TABLE devices ADD COLUMN offline_cause text CHECK (offline_cause IN ('status', 'silence'));
UPDATE devices SET offline_cause = 'silence' WHERE NOT online AND last_seen_at IS NOT NULL;

CREATE INDEX devices_asset_seen ON devices(asset_id, last_seen_at DESC NULLS LAST);

-- NULLS FIRST: never-positioned assets lead the stale list, as they do on SQLite.
CREATE INDEX assets_pos_at ON assets(pos_at ASC NULLS FIRST, id) WHERE deleted_at IS NULL;

CREATE INDEX assets_off_site ON assets(id)
    WHERE geofence_site_id IS NULL AND pos_at IS NOT NULL AND deleted_at IS NULL;
