-- The rental office's foundation (SQLite). Paired with
-- migrations/postgres/0020_rental_office_foundation.sql, which explains the design.
--
-- Roles become rows: `users.role` and `tasks.assignee_role` reference `roles(name)` instead of
-- a CHECK list, so this is the last time a new role rebuilds the two tables. SQLite cannot
-- change a constraint, so both are rebuilt by its documented procedure, as 0012 did (see there
-- for why foreign keys must be off and what the guard is for). Columns, order, defaults and
-- indexes are exactly those of 0012 plus 0017's `users.locale`.
CREATE TEMP TABLE migration_0020_guard (
    foreign_keys INTEGER CHECK (foreign_keys = 0),
    violations   INTEGER CHECK (violations = 0)
);
INSERT INTO migration_0020_guard (foreign_keys) SELECT foreign_keys FROM pragma_foreign_keys;

CREATE TABLE roles (
    name TEXT PRIMARY KEY NOT NULL
);
INSERT INTO roles (name) VALUES
    ('admin'), ('dispatcher'), ('technician'), ('rental_office'), ('viewer'),
    ('maintenance_planner'), ('sales'), ('finance'), ('legal');

CREATE TABLE users_0020 (
    id            BLOB PRIMARY KEY NOT NULL,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL REFERENCES roles(name),
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    email         TEXT,
    locale        TEXT
);
INSERT INTO users_0020 (id, username, password_hash, role, disabled, created_at, updated_at, email, locale)
SELECT id, username, password_hash, role, disabled, created_at, updated_at, email, locale FROM users;
DROP TABLE users;
ALTER TABLE users_0020 RENAME TO users;

CREATE TABLE tasks_0020 (
    id               BLOB PRIMARY KEY NOT NULL,
    kind             TEXT NOT NULL,
    title            TEXT NOT NULL,
    subject_kind     TEXT,
    subject_id       BLOB,
    assignee_user_id BLOB REFERENCES users(id),
    assignee_role    TEXT REFERENCES roles(name),
    due_at           TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('open','done','cancelled')),
    created_at       TEXT NOT NULL,
    -- When the task was closed (done or cancelled) and by whom.
    done_at          TEXT,
    done_by          BLOB REFERENCES users(id),
    -- Set once by the clock's `overdue_tasks` rule when an open task passes its due time.
    overdue_at       TEXT,
    dedupe_key       TEXT,
    source           TEXT NOT NULL,
    automated        INTEGER NOT NULL,
    CHECK (assignee_user_id IS NOT NULL OR assignee_role IS NOT NULL),
    CHECK ((subject_kind IS NULL) = (subject_id IS NULL))
);
INSERT INTO tasks_0020 (id, kind, title, subject_kind, subject_id, assignee_user_id,
                        assignee_role, due_at, state, created_at, done_at, done_by, overdue_at,
                        dedupe_key, source, automated)
SELECT id, kind, title, subject_kind, subject_id, assignee_user_id, assignee_role, due_at, state,
       created_at, done_at, done_by, overdue_at, dedupe_key, source, automated
FROM tasks;
DROP TABLE tasks;
ALTER TABLE tasks_0020 RENAME TO tasks;
CREATE UNIQUE INDEX tasks_dedupe ON tasks(dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE INDEX tasks_assignee_user ON tasks(assignee_user_id, state);
CREATE INDEX tasks_assignee_role ON tasks(assignee_role, state);
CREATE INDEX tasks_open_due ON tasks(due_at) WHERE state = 'open';
CREATE INDEX tasks_due ON tasks(due_at);

-- Standard picklists, as rows: (list, value) is what a record stores; `label` is what people
-- read; `retired_at` hides a value from new records without breaking the old ones.
CREATE TABLE picklist_values (
    list       TEXT NOT NULL CHECK (list IN ('industry','source','region','complaint_category')),
    value      TEXT NOT NULL,
    label      TEXT NOT NULL,
    position   INTEGER NOT NULL DEFAULT 0,
    retired_at TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (list, value)
);
INSERT INTO picklist_values (list, value, label, position, created_at) VALUES
    ('industry', 'construction', 'Construction', 1, strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    ('industry', 'civil_engineering', 'Civil engineering', 2, strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    ('industry', 'events', 'Events', 3, strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    ('industry', 'manufacturing', 'Manufacturing', 4, strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    ('industry', 'agriculture', 'Agriculture', 5, strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    ('industry', 'utilities', 'Utilities', 6, strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    ('industry', 'public_sector', 'Public sector', 7, strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    ('industry', 'other', 'Other', 99, strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    ('source', 'referral', 'Referral', 1, strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    ('source', 'web', 'Web', 2, strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    ('source', 'exhibition', 'Exhibition', 3, strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    ('source', 'cold_call', 'Cold call', 4, strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    ('source', 'walk_in', 'Walk-in', 5, strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    ('source', 'existing_customer', 'Existing customer', 6, strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    ('source', 'other', 'Other', 99, strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    ('complaint_category', 'machine_fault', 'Machine fault', 1, strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    ('complaint_category', 'late_delivery', 'Late delivery', 2, strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    ('complaint_category', 'billing', 'Billing', 3, strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    ('complaint_category', 'service', 'Service', 4, strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    ('complaint_category', 'other', 'Other', 99, strftime('%Y-%m-%dT%H:%M:%fZ','now'));

CREATE TABLE customers (
    id                 BLOB PRIMARY KEY NOT NULL,
    legal_name         TEXT NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('company','individual','group')),
    industry           TEXT,
    region             TEXT,
    source             TEXT,
    account_manager_id BLOB REFERENCES users(id),
    status             TEXT NOT NULL CHECK (status IN ('lead','active','dormant','churned')),
    -- Money in integer minor units of `currency` (ISO 4217), never floats.
    currency           TEXT NOT NULL CHECK (length(currency) = 3),
    credit_limit_cents INTEGER CHECK (credit_limit_cents >= 0),
    payment_terms_days INTEGER CHECK (payment_terms_days BETWEEN 0 AND 365),
    tags               TEXT NOT NULL DEFAULT '[]',
    notes              TEXT,
    -- Set by the office (later also by the collection ladder): no renewal while frozen.
    renewals_frozen_at TEXT,
    renewals_frozen_reason TEXT,
    -- The nightly classification's latest result (its breakdown: customer_classifications).
    value_tier         TEXT,
    credit_grade       TEXT CHECK (credit_grade IN ('A','B','C','D')),
    classified_at      TEXT,
    version            INTEGER NOT NULL DEFAULT 1,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    deleted_at         TEXT
);
CREATE INDEX customers_name ON customers(legal_name COLLATE NOCASE, id) WHERE deleted_at IS NULL;
CREATE INDEX customers_manager ON customers(account_manager_id, id) WHERE deleted_at IS NULL;

CREATE TABLE customer_contacts (
    id                BLOB PRIMARY KEY NOT NULL,
    customer_id       BLOB NOT NULL REFERENCES customers(id),
    name              TEXT NOT NULL,
    role              TEXT,
    phone             TEXT,
    email             TEXT,
    preferred_channel TEXT CHECK (preferred_channel IN ('phone','email','sms','whatsapp','visit')),
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    deleted_at        TEXT
);
CREATE INDEX customer_contacts_customer ON customer_contacts(customer_id) WHERE deleted_at IS NULL;

-- A customer site belongs to its customer.
ALTER TABLE sites ADD COLUMN customer_id BLOB REFERENCES customers(id);
CREATE INDEX sites_customer ON sites(customer_id) WHERE customer_id IS NOT NULL;

-- 3. The contact log. `next_step_on` is what the follow-up rules read.
CREATE TABLE customer_follow_ups (
    id           BLOB PRIMARY KEY NOT NULL,
    customer_id  BLOB NOT NULL REFERENCES customers(id),
    at           TEXT NOT NULL,
    user_id      BLOB REFERENCES users(id),
    channel      TEXT NOT NULL CHECK (channel IN ('phone','email','sms','whatsapp','visit','meeting')),
    outcome      TEXT NOT NULL,
    next_step    TEXT,
    next_step_on TEXT,
    created_at   TEXT NOT NULL
);
CREATE INDEX customer_follow_ups_customer ON customer_follow_ups(customer_id, at);

-- 4. Complaints: the complaint-rate KPI and the credit grade read them.
CREATE TABLE complaints (
    id          BLOB PRIMARY KEY NOT NULL,
    customer_id BLOB NOT NULL REFERENCES customers(id),
    asset_id    BLOB REFERENCES assets(id),
    contract_id BLOB REFERENCES contracts(id),
    category    TEXT NOT NULL,
    description TEXT,
    opened_at   TEXT NOT NULL,
    closed_at   TEXT,
    resolution  TEXT,
    created_by  BLOB REFERENCES users(id),
    version     INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CHECK (closed_at IS NULL OR closed_at >= opened_at)
);
CREATE INDEX complaints_customer ON complaints(customer_id, opened_at);
CREATE INDEX complaints_opened ON complaints(opened_at);

-- 5. Contracts. The number is gapless per series and year: `contract_numbers` is incremented
-- in the creating transaction (a rolled-back creation gives its number back).
CREATE TABLE contract_numbers (
    series   TEXT NOT NULL,
    year     INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    PRIMARY KEY (series, year)
);

CREATE TABLE contracts (
    id                 BLOB PRIMARY KEY NOT NULL,
    number             TEXT NOT NULL UNIQUE,
    series             TEXT NOT NULL,
    year               INTEGER NOT NULL,
    seq                INTEGER NOT NULL,
    customer_id        BLOB NOT NULL REFERENCES customers(id),
    site_id            BLOB REFERENCES sites(id),
    status             TEXT NOT NULL CHECK (status IN
                           ('draft','signed','active','expiring','renewed','ended','terminated')),
    starts_on          TEXT NOT NULL,
    ends_on            TEXT NOT NULL,
    currency           TEXT NOT NULL CHECK (length(currency) = 3),
    deposit_cents      INTEGER NOT NULL DEFAULT 0 CHECK (deposit_cents >= 0),
    billing_cycle      TEXT NOT NULL CHECK (billing_cycle IN ('weekly','monthly','end_of_hire')),
    auto_renew         INTEGER NOT NULL DEFAULT 0,
    -- The contract this one renews (its terms and price history is the chain).
    predecessor_id     BLOB UNIQUE REFERENCES contracts(id),
    notes              TEXT,
    signed_at          TEXT,
    signed_by          BLOB REFERENCES users(id),
    ended_at           TEXT,
    terminated_at      TEXT,
    termination_reason TEXT,
    created_by         BLOB REFERENCES users(id),
    version            INTEGER NOT NULL DEFAULT 1,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    UNIQUE (series, year, seq),
    CHECK (ends_on >= starts_on)
);
CREATE INDEX contracts_customer ON contracts(customer_id, starts_on);
CREATE INDEX contracts_status_end ON contracts(status, ends_on);

-- A line rents a specific asset, or a quantity of a category to be allocated at delivery.
-- On-hire time starts at the delivery scan and ends at the return scan.
CREATE TABLE contract_lines (
    id          BLOB PRIMARY KEY NOT NULL,
    contract_id BLOB NOT NULL REFERENCES contracts(id),
    line_no     INTEGER NOT NULL,
    asset_id    BLOB REFERENCES assets(id),
    category_id BLOB REFERENCES categories(id),
    quantity    INTEGER NOT NULL DEFAULT 1 CHECK (quantity >= 1),
    rate_cents  INTEGER NOT NULL CHECK (rate_cents >= 0),
    rate_period TEXT NOT NULL CHECK (rate_period IN ('day','week','month')),
    on_hire_at  TEXT,
    off_hire_at TEXT,
    created_at  TEXT NOT NULL,
    UNIQUE (contract_id, line_no),
    CHECK (asset_id IS NOT NULL OR category_id IS NOT NULL),
    CHECK (asset_id IS NULL OR quantity = 1)
);
CREATE INDEX contract_lines_asset ON contract_lines(asset_id) WHERE asset_id IS NOT NULL;

-- 6. Availability: every period an asset is taken — by a contract line (from signing) or a
-- maintenance block / work order window — is a row here, and the database refuses two live
-- rows of one asset that overlap. Days are inclusive on both ends. A booking released early
-- (return, termination, cancelled block) keeps its row with `released_at` for the history.
CREATE TABLE asset_bookings (
    id               BLOB PRIMARY KEY NOT NULL,
    asset_id         BLOB NOT NULL REFERENCES assets(id),
    kind             TEXT NOT NULL CHECK (kind IN ('contract','maintenance')),
    contract_line_id BLOB REFERENCES contract_lines(id),
    work_order_id    BLOB REFERENCES work_orders(id),
    starts_on        TEXT NOT NULL,
    ends_on          TEXT NOT NULL,
    reason           TEXT,
    released_at      TEXT,
    created_by       BLOB REFERENCES users(id),
    created_at       TEXT NOT NULL,
    CHECK (ends_on >= starts_on),
    CHECK ((kind = 'contract') = (contract_line_id IS NOT NULL))
);
-- SQLite has no exclusion constraint: the writing transaction checks for an overlapping live
-- booking before it inserts (the single writer makes check-then-insert safe); this index is
-- that check's walk.
CREATE INDEX asset_bookings_live ON asset_bookings(asset_id, starts_on, ends_on) WHERE released_at IS NULL;
CREATE INDEX asset_bookings_line ON asset_bookings(contract_line_id) WHERE contract_line_id IS NOT NULL;
CREATE INDEX asset_bookings_work_order ON asset_bookings(work_order_id) WHERE work_order_id IS NOT NULL;

-- 7. Renewal approvals: one per contract and kind, so approving twice is refused.
CREATE TABLE contract_approvals (
    id          BLOB PRIMARY KEY NOT NULL,
    contract_id BLOB NOT NULL REFERENCES contracts(id),
    kind        TEXT NOT NULL CHECK (kind IN ('legal','finance')),
    approved_by BLOB NOT NULL REFERENCES users(id),
    approved_at TEXT NOT NULL,
    note        TEXT,
    UNIQUE (contract_id, kind)
);

-- Step 10 of the procedure: every reference still resolves, or nothing of this file commits.
INSERT INTO migration_0020_guard (violations) SELECT count(*) FROM pragma_foreign_key_check;
DROP TABLE migration_0020_guard;
