-- Fleet alerts: stale/silent assets, off-site assets, the per-site table (SQLite). Paired with
-- migrations/postgres/0014_fleet_alerts.sql.

-- Why a tracker is offline: its own status topic or last will said so ('status'), or the
-- silence watch marked it after no telemetry for a while ('silence'). The two look the same in
-- `online` and the dispatcher's stale list names them differently (a will means the tracker lost
-- power or its link; silence can be a dead SIM or a machine in a shed). NULL while online.
ALTER TABLE devices ADD COLUMN offline_cause TEXT CHECK (offline_cause IN ('status', 'silence'));
-- Devices already offline with a known last contact: which way they went is not recorded; the
-- silence watch is the common one.
UPDATE devices SET offline_cause = 'silence' WHERE online = 0 AND last_seen_at IS NOT NULL;

-- The tracker an alert shows for an asset is its most recently seen one: a probe of this index
-- per asset (`ORDER BY last_seen_at DESC LIMIT 1`), not a scan of the asset's devices.
CREATE INDEX devices_asset_seen ON devices(asset_id, last_seen_at DESC);

-- The stale list is ordered by position age, oldest (and never positioned: NULL sorts first in
-- SQLite) first: walking this index in order stops after a page instead of sorting the fleet.
CREATE INDEX assets_pos_at ON assets(pos_at, id) WHERE deleted_at IS NULL;

-- Off-site candidates (positioned, inside no fence) are few out of 100,000: a partial index
-- holds just them.
CREATE INDEX assets_off_site ON assets(id)
    WHERE geofence_site_id IS NULL AND pos_at IS NOT NULL AND deleted_at IS NULL;
