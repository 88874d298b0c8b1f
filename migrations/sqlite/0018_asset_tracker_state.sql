-- The tracker state the fleet alerts need, kept on the asset row (SQLite). Paired with
-- migrations/postgres/0018_asset_tracker_state.sql.
--
-- Before this, the stale rule found each asset's most recently seen tracker with a correlated
-- subquery per asset and the off-site list its last fence exit with another: neither the
-- lists, their counts nor the site table could walk an index, 0.5-3 s at 100,000 assets.
-- Now the rule reads `assets` only. Who keeps these columns (domain/src/alerts.rs says it too):
-- ingest's multi-row asset update (a reading makes its tracker the asset's newest-seen one and
-- online; a fence exit sets fence_exit_*), the status topic and the silence watch
-- (`devices::refresh_trackers`, in their transaction), and device registration and unbinding.

-- The asset's tracker: its bound device with the latest `last_seen_at` (never-seen devices
-- last, ties by the larger id), that device's `last_seen_at` and `offline_cause`. NULL: no
-- tracker bound. No foreign key, like telemetry (0004): a cache of `devices`, and a key check
-- would take share locks on device rows that ingest locks in its own order.
ALTER TABLE assets ADD COLUMN tracker_id BLOB;
ALTER TABLE assets ADD COLUMN tracker_seen_at TEXT;
ALTER TABLE assets ADD COLUMN tracker_offline_cause TEXT
    CHECK (tracker_offline_cause IN ('status', 'silence'));
-- The asset's latest fence exit (`geofence_events`, kind 'exit'): when and which site.
ALTER TABLE assets ADD COLUMN fence_exit_at TEXT;
ALTER TABLE assets ADD COLUMN fence_exit_site_id BLOB;

UPDATE assets SET (tracker_id, tracker_seen_at, tracker_offline_cause) = (
    SELECT d.id, d.last_seen_at, d.offline_cause FROM devices d WHERE d.asset_id = assets.id
    ORDER BY d.last_seen_at DESC NULLS LAST, d.id DESC LIMIT 1);
UPDATE assets SET (fence_exit_at, fence_exit_site_id) = (
    SELECT g.ts, g.site_id FROM geofence_events g WHERE g.asset_id = assets.id AND g.kind = 'exit'
    ORDER BY g.ts DESC, g.id DESC LIMIT 1);

-- The stale list is three disjoint runs in list order (domain/src/alerts.rs, `stale_parts`),
-- each a walk of its own index and each count an index range count:
-- 1. never positioned although a tracker is bound (by id);
DROP INDEX assets_pos_at;
CREATE INDEX assets_stale_no_pos ON assets(id)
    WHERE pos_at IS NULL AND tracker_id IS NOT NULL AND deleted_at IS NULL
    AND status <> 'retired';
-- 2. position older than the cutoff (by position time); 3. newer position, tracker offline.
CREATE INDEX assets_stale_pos ON assets(pos_at, id)
    WHERE deleted_at IS NULL AND status <> 'retired';
CREATE INDEX assets_stale_offline ON assets(pos_at, id)
    WHERE tracker_offline_cause IS NOT NULL AND deleted_at IS NULL AND status <> 'retired';
-- The stale list of one site (`site_id=`): the same three parts, each walked and counted
-- within the site from this covering index instead of the whole fleet's.
CREATE INDEX assets_stale_by_site ON assets(site_id, pos_at, id, tracker_offline_cause, tracker_id)
    WHERE deleted_at IS NULL AND status <> 'retired';

-- Off-site candidates in list order (last exit, never-exited first): the list walks it.
DROP INDEX assets_off_site;
CREATE INDEX assets_off_site ON assets(fence_exit_at, id)
    WHERE geofence_site_id IS NULL AND pos_at IS NOT NULL AND deleted_at IS NULL
    AND status NOT IN ('on_rent', 'retired');

-- The site table: one grouped scan of this covering index (site, status, and what the stale
-- rule reads), never the table.
CREATE INDEX assets_site_status ON assets(site_id, status, pos_at, tracker_offline_cause, tracker_id)
    WHERE deleted_at IS NULL;
