-- Paired with migrations/postgres/0015_event_stream.sql, the counter that numbers live events
-- across API processes. SQLite runs in one process, whose event bus numbers them itself
-- (domain/src/events/fanout.rs): nothing changes here.
SELECT 1;
