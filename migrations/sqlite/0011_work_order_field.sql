-- Work orders from the field (SQLite). Paired with migrations/postgres/0011_work_order_field.sql.
--
-- Parts and photos are JSON columns of the order, like its checklist: they are read and
-- written only whole, together with the order (no query looks inside them), the lists are
-- short and bounded (100 parts, 50 photos), and a separate table would cost every order list a
-- second query per page for nothing. Money in a part is integer minor units plus an ISO 4217
-- code, never a float. Photos are content-addressed (SHA-256) and never deleted, and every
-- write of the list checks each hash against `photos` in the same transaction, which is what a
-- foreign key would check.
--
-- `scan_event_id` links an order to the field command that opened it (a return whose
-- inspection failed). The order and the scan event are written in the same transaction, the
-- order first, so the foreign key is checked at commit (DEFERRABLE INITIALLY DEFERRED).
-- The new field actions `start_work` and `complete_work`. SQLite cannot alter a CHECK, so
-- `scan_events` is rebuilt, and with it `scan_event_photos`, the one table that refers to it:
-- both new tables are filled, the old ones dropped (the child first, so dropping the parent
-- orphans nothing), and the new ones renamed, which also renames the child's reference to its
-- parent. Foreign keys stay on throughout; the migration's transaction makes it all or nothing.
CREATE TABLE scan_events_new (
    id            BLOB PRIMARY KEY NOT NULL,
    action        TEXT NOT NULL CHECK (action IN ('lookup','deliver','return','inspect','transfer','meter','audit','start_work','complete_work')),
    asset_id      BLOB REFERENCES assets(id),
    status        TEXT NOT NULL CHECK (status IN ('applied','rejected')),
    error         TEXT,
    actor_user_id BLOB,
    actor         TEXT NOT NULL,
    device_time   TEXT NOT NULL,
    server_time   TEXT NOT NULL,
    lat           REAL,
    lon           REAL,
    accuracy_m    REAL,
    site_id       BLOB REFERENCES sites(id),
    command       TEXT NOT NULL,
    result        TEXT NOT NULL
);
INSERT INTO scan_events_new
SELECT id, action, asset_id, status, error, actor_user_id, actor, device_time, server_time, lat,
       lon, accuracy_m, site_id, command, result
FROM scan_events;
CREATE TABLE scan_event_photos_new (
    scan_id BLOB NOT NULL REFERENCES scan_events_new(id),
    sha256  TEXT NOT NULL REFERENCES photos(sha256),
    PRIMARY KEY (scan_id, sha256)
);
INSERT INTO scan_event_photos_new SELECT scan_id, sha256 FROM scan_event_photos;
DROP TABLE scan_event_photos;
DROP TABLE scan_events;
ALTER TABLE scan_events_new RENAME TO scan_events;
ALTER TABLE scan_event_photos_new RENAME TO scan_event_photos;
CREATE INDEX scan_events_asset ON scan_events(asset_id, device_time);

-- After the rebuild, so the new column refers to the new table from the start.
ALTER TABLE work_orders ADD COLUMN parts TEXT NOT NULL DEFAULT '[]';
ALTER TABLE work_orders ADD COLUMN photos TEXT NOT NULL DEFAULT '[]';
ALTER TABLE work_orders ADD COLUMN scan_event_id BLOB
    REFERENCES scan_events(id) DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX work_orders_scan_event ON work_orders(scan_event_id) WHERE scan_event_id IS NOT NULL;
