-- Field scans linked to contracts (PostgreSQL). Paired with migrations/sqlite/0024_on_hire.sql.
--
-- 1. `contract_line_assets`: which asset went out under which contract line, and when it came
--    back: ONE record of on-hire periods for every line. A category line with quantity > 1
--    needs one row per asset it allocated at delivery, and asset lines use the same table, so
--    billing, the contract's physical state and the delivery lookup read one place. A delivery
--    scan opens a row, the return scan closes it (device times, which is when it happened);
--    `contract_lines.on_hire_at` / `off_hire_at` (0020) become a summary of these rows kept in
--    the same transaction. An asset is on hire under at most one line at a time (the partial
--    unique index), and a scan opens or closes at most one period (the unique scan ids), which
--    is what keeps a re-sent command from doubling rows even if the scan's own id check were
--    bypassed. The scan ids reference `scan_events` deferred: the event row is written after
--    the action, in the same transaction (as `work_orders.scan_event_id`, 0011).
-- 2. `contract_damages`: damage found at a return inspection, recorded against the contract
--    (the billing issue deducts from the deposit with it). The estimated cost is filled in by
--    the office later, so it and its currency are nullable, together.
CREATE TABLE contract_line_assets (
    id               uuid PRIMARY KEY,
    contract_id      uuid NOT NULL REFERENCES contracts(id),
    contract_line_id uuid NOT NULL REFERENCES contract_lines(id),
    asset_id         uuid NOT NULL REFERENCES assets(id),
    on_hire_at       timestamptz NOT NULL,
    off_hire_at      timestamptz,
    delivery_scan_id uuid NOT NULL UNIQUE REFERENCES scan_events(id) DEFERRABLE INITIALLY DEFERRED,
    return_scan_id   uuid UNIQUE REFERENCES scan_events(id) DEFERRABLE INITIALLY DEFERRED,
    created_at       timestamptz NOT NULL,
    CHECK (off_hire_at IS NULL OR off_hire_at >= on_hire_at),
    CHECK ((off_hire_at IS NULL) = (return_scan_id IS NULL))
);
CREATE UNIQUE INDEX contract_line_assets_open ON contract_line_assets(asset_id) WHERE off_hire_at IS NULL;
CREATE INDEX contract_line_assets_line ON contract_line_assets(contract_line_id);
CREATE INDEX contract_line_assets_contract ON contract_line_assets(contract_id, on_hire_at);
CREATE INDEX contract_line_assets_asset ON contract_line_assets(asset_id, on_hire_at);

CREATE TABLE contract_damages (
    id                   uuid PRIMARY KEY,
    contract_id          uuid NOT NULL REFERENCES contracts(id),
    contract_line_id     uuid NOT NULL REFERENCES contract_lines(id),
    asset_id             uuid NOT NULL REFERENCES assets(id),
    scan_event_id        uuid NOT NULL UNIQUE REFERENCES scan_events(id) DEFERRABLE INITIALLY DEFERRED,
    description          text NOT NULL,
    -- SHA-256 keys of the scan's photos (`photos`), as a JSON array.
    photos               jsonb NOT NULL DEFAULT '[]',
    recorded_at          timestamptz NOT NULL,
    -- Money in integer minor units of `currency` (ISO 4217), never floats.
    estimated_cost_cents bigint CHECK (estimated_cost_cents >= 0),
    currency             text CHECK (length(currency) = 3),
    created_at           timestamptz NOT NULL,
    CHECK ((estimated_cost_cents IS NULL) = (currency IS NULL))
);
CREATE INDEX contract_damages_contract ON contract_damages(contract_id, id);
