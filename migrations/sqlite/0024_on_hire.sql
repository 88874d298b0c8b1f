-- Field scans linked to contracts (SQLite). Paired with migrations/postgres/0024_on_hire.sql,
-- which explains the design: `contract_line_assets` is the one record of on-hire periods (which
-- asset went out under which contract line, delivery and return scans), `contract_damages` the
-- damage found at return inspections, recorded against the contract. New tables only: nothing
-- is rebuilt. The scan ids reference `scan_events` deferred, as 0011 does: the event row is
-- written after the action in the same transaction.
CREATE TABLE contract_line_assets (
    id               BLOB PRIMARY KEY NOT NULL,
    contract_id      BLOB NOT NULL REFERENCES contracts(id),
    contract_line_id BLOB NOT NULL REFERENCES contract_lines(id),
    asset_id         BLOB NOT NULL REFERENCES assets(id),
    on_hire_at       TEXT NOT NULL,
    off_hire_at      TEXT,
    delivery_scan_id BLOB NOT NULL UNIQUE REFERENCES scan_events(id) DEFERRABLE INITIALLY DEFERRED,
    return_scan_id   BLOB UNIQUE REFERENCES scan_events(id) DEFERRABLE INITIALLY DEFERRED,
    created_at       TEXT NOT NULL,
    CHECK (off_hire_at IS NULL OR off_hire_at >= on_hire_at),
    CHECK ((off_hire_at IS NULL) = (return_scan_id IS NULL))
);
CREATE UNIQUE INDEX contract_line_assets_open ON contract_line_assets(asset_id) WHERE off_hire_at IS NULL;
CREATE INDEX contract_line_assets_line ON contract_line_assets(contract_line_id);
CREATE INDEX contract_line_assets_contract ON contract_line_assets(contract_id, on_hire_at);
CREATE INDEX contract_line_assets_asset ON contract_line_assets(asset_id, on_hire_at);

CREATE TABLE contract_damages (
    id                   BLOB PRIMARY KEY NOT NULL,
    contract_id          BLOB NOT NULL REFERENCES contracts(id),
    contract_line_id     BLOB NOT NULL REFERENCES contract_lines(id),
    asset_id             BLOB NOT NULL REFERENCES assets(id),
    scan_event_id        BLOB NOT NULL UNIQUE REFERENCES scan_events(id) DEFERRABLE INITIALLY DEFERRED,
    description          TEXT NOT NULL,
    -- SHA-256 keys of the scan's photos (`photos`), as a JSON array.
    photos               TEXT NOT NULL DEFAULT '[]',
    recorded_at          TEXT NOT NULL,
    -- Money in integer minor units of `currency` (ISO 4217), never floats.
    estimated_cost_cents INTEGER CHECK (estimated_cost_cents >= 0),
    currency             TEXT CHECK (length(currency) = 3),
    created_at           TEXT NOT NULL,
    CHECK ((estimated_cost_cents IS NULL) = (currency IS NULL))
);
CREATE INDEX contract_damages_contract ON contract_damages(contract_id, id);
