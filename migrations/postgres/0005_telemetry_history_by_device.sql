-- Asset position history through device bindings (PostgreSQL). Paired with
-- migrations/sqlite/0005_telemetry_history_by_device.sql.
--
-- The primary key on (device_id, ts) dedupes readings; the second index on (asset_id, ts) cost
-- every ingested reading one more B-tree insert. `telemetry::positions` now reads an asset's
-- history through the primary key, for each device ever bound to the asset (index below),
-- filtered on asset_id, so the second index goes.
DROP INDEX IF EXISTS telemetry_asset_ts;
CREATE INDEX device_bindings_asset ON device_bindings(asset_id);
