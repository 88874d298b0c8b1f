-- Indexes for the customer follow-up rules (SQLite). Paired with
-- migrations/postgres/0021_customer_follow_up_rules.sql.
--
-- The clock evaluates each rule every tick (a minute), so each rule's read must be an index
-- range, not a scan of the table it reads:
-- 1. stale leads: the leads alone, by creation (a lead's staleness runs from its creation or
--    its latest follow-up, read through customer_follow_ups_customer);
-- 2. the revisit after a delivery: applied deliveries by the server time they arrived, the
--    window the rule evaluates (scan_events is otherwise indexed by asset only);
-- 3. the quarterly revisit: the high-value customers, and whether a customer already has this
--    quarter's task (tasks had no index by subject).
CREATE INDEX customers_leads ON customers(created_at) WHERE status = 'lead' AND deleted_at IS NULL;
CREATE INDEX customers_value_tier ON customers(value_tier, id) WHERE deleted_at IS NULL;
CREATE INDEX scan_events_deliveries ON scan_events(server_time)
    WHERE action = 'deliver' AND status = 'applied';
CREATE INDEX tasks_subject ON tasks(subject_id, kind) WHERE subject_id IS NOT NULL;
