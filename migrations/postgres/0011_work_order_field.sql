-- Work orders from the field (PostgreSQL). Paired with migrations/sqlite/0011_work_order_field.sql,
-- which explains the choices: parts and photos as JSON columns of the order, checked on every
-- write; the link to the scan event that opened the order, checked at commit because the order
-- is written before its scan event in the same transaction.
ALTER TABLE work_orders ADD COLUMN parts jsonb NOT NULL DEFAULT '[]';
ALTER TABLE work_orders ADD COLUMN photos jsonb NOT NULL DEFAULT '[]';
ALTER TABLE work_orders ADD COLUMN scan_event_id uuid
    REFERENCES scan_events(id) DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX work_orders_scan_event ON work_orders(scan_event_id) WHERE scan_event_id IS NOT NULL;

-- The new field actions `start_work` and `complete_work`.
ALTER TABLE scan_events DROP CONSTRAINT scan_events_action_check;
ALTER TABLE scan_events ADD CONSTRAINT scan_events_action_check
    CHECK (action IN ('lookup','deliver','return','inspect','transfer','meter','audit','start_work','complete_work'));
