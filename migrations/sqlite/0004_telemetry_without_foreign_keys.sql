-- Paired with migrations/postgres/0004_telemetry_without_foreign_keys.sql, which drops the
-- foreign keys of `telemetry` on PostgreSQL (a per-row trigger there). SQLite checks a foreign
-- key with one lookup in the parent's primary key, on pages the same ingest transaction has
-- just read and written, and dropping one would mean rebuilding the table: nothing changes here.
SELECT 1;
