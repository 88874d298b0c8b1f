-- Audit trail (PostgreSQL). Paired with migrations/sqlite/0028_audit_trail.sql.
--
-- 1. Where a change came from. Every entry also records the client's IP address (the TCP
--    peer, or the `X-Forwarded-For` client when the peer is a configured trusted proxy) and
--    its `User-Agent`, both NULL for changes no request made (the clock, the CLI, MQTT). The
--    IP is text in its canonical form (`IpAddr`'s display), the same on both databases, so the
--    filter `?ip=` is one equality on either.
-- 2. Two more sources, extending the list (no value is renamed, old entries keep theirs):
--    `console` (the web console's cookie session; `api` stays for bearer tokens) and `clock`
--    (the time-based rules; `system` stays for first-run setup and the server's own jobs).
--    The CHECK is kept, widened: the database still refuses a source the code does not
--    know. Replacing a CHECK needs no rewrite here (ALTER validates the rows in one scan).
-- 3. Append-only. A trigger refuses UPDATE, DELETE and TRUNCATE on `audit_log`, except DELETE
--    and TRUNCATE inside a transaction that ran `SET LOCAL fieldops.audit_purge = 'on'`, which
--    only the retention purge (domain::audit::retention) does. No route mutates an entry; the
--    trigger keeps a bug, a script or a hand-typed statement from doing it either. It is a
--    guard, not access control against the database owner, who can drop the trigger.
ALTER TABLE audit_log ADD COLUMN ip text;
ALTER TABLE audit_log ADD COLUMN user_agent text;

ALTER TABLE audit_log DROP CONSTRAINT audit_log_source_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_source_check
    CHECK (source IN ('api','mqtt','cli','system','console','clock'));

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE')
       AND current_setting('fieldops.audit_purge', true) = 'on' THEN
        -- OLD is the row for a row-level DELETE (returning it lets the delete proceed) and
        -- NULL for the statement-level TRUNCATE, whose return value is ignored.
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'entries are removed only by the retention purge (fieldops audit purge)';
END
$$;

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
