-- Audit trail (SQLite). Paired with migrations/postgres/0028_audit_trail.sql, which explains
-- the columns (`ip`, `user_agent`), the two new sources (`console`, `clock`) and why the log
-- is append-only.
--
-- SQLite cannot change a CHECK, so widening `source`'s list rebuilds the table by its
-- documented procedure (new table, copy, drop, rename, indexes). Nothing references
-- `audit_log`, so foreign keys do not matter here. The copy is once, at upgrade, and takes
-- time and disk in proportion to the log. The CHECK is kept, widened, rather than dropped in
-- favour of checks in code: the rebuild was needed either way, and the database keeps
-- refusing a source the code does not know. Columns are those of 0001 plus the two new ones.
CREATE TABLE audit_log_0028 (
    id            BLOB PRIMARY KEY NOT NULL,
    at            TEXT NOT NULL,
    actor_user_id BLOB,
    actor         TEXT NOT NULL,
    source        TEXT NOT NULL
                  CHECK (source IN ('api','mqtt','cli','system','console','clock')),
    action        TEXT NOT NULL,
    entity        TEXT NOT NULL,
    entity_id     BLOB NOT NULL,
    before        TEXT,
    after         TEXT,
    ip            TEXT,
    user_agent    TEXT
);
INSERT INTO audit_log_0028 (id, at, actor_user_id, actor, source, action, entity, entity_id, before, after)
SELECT id, at, actor_user_id, actor, source, action, entity, entity_id, before, after FROM audit_log;
DROP TABLE audit_log;
ALTER TABLE audit_log_0028 RENAME TO audit_log;
CREATE INDEX audit_log_entity ON audit_log(entity, entity_id);
CREATE INDEX audit_log_at ON audit_log(at);

-- Append-only. SQLite has no session settings, so the retention purge marks its own
-- transaction with a row in `audit_purge` (inserted and deleted again before it commits; with
-- one writer connection no other transaction ever sees it), and the DELETE trigger lets rows
-- go only while that row exists. UPDATE is refused always.
CREATE TABLE audit_purge (
    marker INTEGER PRIMARY KEY NOT NULL CHECK (marker = 1)
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN NOT EXISTS (SELECT 1 FROM audit_purge)
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused (entries are removed only by the retention purge)');
END;
