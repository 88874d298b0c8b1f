-- The tracker state the fleet alerts need, kept on the asset row (PostgreSQL). Paired with
-- migrations/sqlite/0018_asset_tracker_state.sql, which explains each change.

ALTER TABLE assets ADD COLUMN tracker_id uuid,
    ADD COLUMN tracker_seen_at timestamptz,
    ADD COLUMN tracker_offline_cause text CHECK (tracker_offline_cause IN ('status', 'silence')),
    ADD COLUMN fence_exit_at timestamptz,
    ADD COLUMN fence_exit_site_id uuid;

UPDATE assets SET (tracker_id, tracker_seen_at, tracker_offline_cause) = (
    SELECT d.id, d.last_seen_at, d.offline_cause FROM devices d WHERE d.asset_id = assets.id
    ORDER BY d.last_seen_at DESC NULLS LAST, d.id DESC LIMIT 1);
UPDATE assets SET (fence_exit_at, fence_exit_site_id) = (
    SELECT g.ts, g.site_id FROM geofence_events g WHERE g.asset_id = assets.id AND g.kind = 'exit'
    ORDER BY g.ts DESC, g.id DESC LIMIT 1);

DROP INDEX assets_pos_at;
CREATE INDEX assets_stale_no_pos ON assets(id)
    WHERE pos_at IS NULL AND tracker_id IS NOT NULL AND deleted_at IS NULL
    AND status <> 'retired';
CREATE INDEX assets_stale_pos ON assets(pos_at, id)
    WHERE deleted_at IS NULL AND status <> 'retired';
CREATE INDEX assets_stale_offline ON assets(pos_at, id)
    WHERE tracker_offline_cause IS NOT NULL AND deleted_at IS NULL AND status <> 'retired';

CREATE INDEX assets_stale_by_site ON assets(site_id, pos_at, id, tracker_offline_cause, tracker_id)
    WHERE deleted_at IS NULL AND status <> 'retired';

DROP INDEX assets_off_site;
CREATE INDEX assets_off_site ON assets(fence_exit_at NULLS FIRST, id)
    WHERE geofence_site_id IS NULL AND pos_at IS NOT NULL AND deleted_at IS NULL
    AND status NOT IN ('on_rent', 'retired');

CREATE INDEX assets_site_status ON assets(site_id, status, pos_at, tracker_offline_cause, tracker_id)
    WHERE deleted_at IS NULL;
