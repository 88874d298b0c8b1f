-- The rental office's foundation (PostgreSQL). Paired with
-- migrations/sqlite/0020_rental_office_foundation.sql.
--
-- 1. Roles become rows. `users.role` and `tasks.assignee_role` were CHECK lists, widened by a
--    migration per new role (0012), which on SQLite means rebuilding both tables. They now
--    reference `roles(name)`: the Rust enum (`mobile_shared::authz::Role`) stays the one list a
--    user can be given, and a later role is one INSERT here. This migration adds the office's
--    three: `sales` (account managers: their own customers), `finance` and `legal` (approve
--    renewals, read contracts).
-- 2. Customers: the record the office keeps about who rents, with the picklists (industry,
--    source channel, region) as data an admin extends, and the customer a customer site belongs to.
-- 3.–7. The contact log, complaints, contracts and their lines, the bookings that make
--    availability a database rule (an exclusion constraint here; the writing transaction's
--    check on SQLite), and renewal approvals. One schema for the whole office, so its services
--    (customers, contracts, classification, renewals) are written against the same tables.
CREATE TABLE roles (
    name text PRIMARY KEY
);
INSERT INTO roles (name) VALUES
    ('admin'), ('dispatcher'), ('technician'), ('rental_office'), ('viewer'),
    ('maintenance_planner'), ('sales'), ('finance'), ('legal');

ALTER TABLE users
    DROP CONSTRAINT users_role_check,
    ADD CONSTRAINT users_role_fkey FOREIGN KEY (role) REFERENCES roles(name);
ALTER TABLE tasks
    DROP CONSTRAINT tasks_assignee_role_check,
    ADD CONSTRAINT tasks_assignee_role_fkey FOREIGN KEY (assignee_role) REFERENCES roles(name);

-- Standard picklists, as rows: (list, value) is what a record stores; `label` is what people
-- read; `retired_at` hides a value from new records without breaking the old ones.
CREATE TABLE picklist_values (
    list       text NOT NULL CHECK (list IN ('industry','source','region','complaint_category')),
    value      text NOT NULL,
    label      text NOT NULL,
    position   integer NOT NULL DEFAULT 0,
    retired_at timestamptz,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (list, value)
);
INSERT INTO picklist_values (list, value, label, position, created_at) VALUES
    ('industry', 'construction', 'Construction', 1, now()),
    ('industry', 'civil_engineering', 'Civil engineering', 2, now()),
    ('industry', 'events', 'Events', 3, now()),
    ('industry', 'manufacturing', 'Manufacturing', 4, now()),
    ('industry', 'agriculture', 'Agriculture', 5, now()),
    ('industry', 'utilities', 'Utilities', 6, now()),
    ('industry', 'public_sector', 'Public sector', 7, now()),
    ('industry', 'other', 'Other', 99, now()),
    ('source', 'referral', 'Referral', 1, now()),
    ('source', 'web', 'Web', 2, now()),
    ('source', 'exhibition', 'Exhibition', 3, now()),
    ('source', 'cold_call', 'Cold call', 4, now()),
    ('source', 'walk_in', 'Walk-in', 5, now()),
    ('source', 'existing_customer', 'Existing customer', 6, now()),
    ('source', 'other', 'Other', 99, now()),
    ('complaint_category', 'machine_fault', 'Machine fault', 1, now()),
    ('complaint_category', 'late_delivery', 'Late delivery', 2, now()),
    ('complaint_category', 'billing', 'Billing', 3, now()),
    ('complaint_category', 'service', 'Service', 4, now()),
    ('complaint_category', 'other', 'Other', 99, now());

CREATE TABLE customers (
    id                 uuid PRIMARY KEY,
    legal_name         text NOT NULL,
    kind               text NOT NULL CHECK (kind IN ('company','individual','group')),
    industry           text,
    region             text,
    source             text,
    account_manager_id uuid REFERENCES users(id),
    status             text NOT NULL CHECK (status IN ('lead','active','dormant','churned')),
    -- Money in integer minor units of `currency` (ISO 4217), never floats.
    currency           text NOT NULL CHECK (length(currency) = 3),
    credit_limit_cents bigint CHECK (credit_limit_cents >= 0),
    payment_terms_days integer CHECK (payment_terms_days BETWEEN 0 AND 365),
    tags               jsonb NOT NULL DEFAULT '[]',
    notes              text,
    -- Set by the office (later also by the collection ladder): no renewal while frozen.
    renewals_frozen_at timestamptz,
    renewals_frozen_reason text,
    -- The nightly classification's latest result (its breakdown: customer_classifications).
    value_tier         text,
    credit_grade       text CHECK (credit_grade IN ('A','B','C','D')),
    classified_at      timestamptz,
    version            bigint NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    deleted_at         timestamptz
);
CREATE INDEX customers_name ON customers(lower(legal_name), id) WHERE deleted_at IS NULL;
CREATE INDEX customers_manager ON customers(account_manager_id, id) WHERE deleted_at IS NULL;

CREATE TABLE customer_contacts (
    id                uuid PRIMARY KEY,
    customer_id       uuid NOT NULL REFERENCES customers(id),
    name              text NOT NULL,
    role              text,
    phone             text,
    email             text,
    preferred_channel text CHECK (preferred_channel IN ('phone','email','sms','whatsapp','visit')),
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    deleted_at        timestamptz
);
CREATE INDEX customer_contacts_customer ON customer_contacts(customer_id) WHERE deleted_at IS NULL;

-- A customer site belongs to its customer.
ALTER TABLE sites ADD COLUMN customer_id uuid REFERENCES customers(id);
CREATE INDEX sites_customer ON sites(customer_id) WHERE customer_id IS NOT NULL;

-- 3. The contact log. `next_step_on` is what the follow-up rules read.
CREATE TABLE customer_follow_ups (
    id           uuid PRIMARY KEY,
    customer_id  uuid NOT NULL REFERENCES customers(id),
    at           timestamptz NOT NULL,
    user_id      uuid REFERENCES users(id),
    channel      text NOT NULL CHECK (channel IN ('phone','email','sms','whatsapp','visit','meeting')),
    outcome      text NOT NULL,
    next_step    text,
    next_step_on date,
    created_at   timestamptz NOT NULL
);
CREATE INDEX customer_follow_ups_customer ON customer_follow_ups(customer_id, at);

-- 4. Complaints: the complaint-rate KPI and the credit grade read them.
CREATE TABLE complaints (
    id          uuid PRIMARY KEY,
    customer_id uuid NOT NULL REFERENCES customers(id),
    asset_id    uuid REFERENCES assets(id),
    contract_id uuid,
    category    text NOT NULL,
    description text,
    opened_at   timestamptz NOT NULL,
    closed_at   timestamptz,
    resolution  text,
    created_by  uuid REFERENCES users(id),
    version     bigint NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CHECK (closed_at IS NULL OR closed_at >= opened_at)
);
CREATE INDEX complaints_customer ON complaints(customer_id, opened_at);
CREATE INDEX complaints_opened ON complaints(opened_at);

-- 5. Contracts. The number is gapless per series and year: `contract_numbers` is incremented
-- in the creating transaction (a rolled-back creation gives its number back).
CREATE TABLE contract_numbers (
    series   text NOT NULL,
    year     integer NOT NULL,
    last_seq integer NOT NULL,
    PRIMARY KEY (series, year)
);

CREATE TABLE contracts (
    id                 uuid PRIMARY KEY,
    number             text NOT NULL UNIQUE,
    series             text NOT NULL,
    year               integer NOT NULL,
    seq                integer NOT NULL,
    customer_id        uuid NOT NULL REFERENCES customers(id),
    site_id            uuid REFERENCES sites(id),
    status             text NOT NULL CHECK (status IN
                           ('draft','signed','active','expiring','renewed','ended','terminated')),
    starts_on          date NOT NULL,
    ends_on            date NOT NULL,
    currency           text NOT NULL CHECK (length(currency) = 3),
    deposit_cents      bigint NOT NULL DEFAULT 0 CHECK (deposit_cents >= 0),
    billing_cycle      text NOT NULL CHECK (billing_cycle IN ('weekly','monthly','end_of_hire')),
    auto_renew         boolean NOT NULL DEFAULT false,
    -- The contract this one renews (its terms and price history is the chain).
    predecessor_id     uuid UNIQUE REFERENCES contracts(id),
    notes              text,
    signed_at          timestamptz,
    signed_by          uuid REFERENCES users(id),
    ended_at           timestamptz,
    terminated_at      timestamptz,
    termination_reason text,
    created_by         uuid REFERENCES users(id),
    version            bigint NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    UNIQUE (series, year, seq),
    CHECK (ends_on >= starts_on)
);
CREATE INDEX contracts_customer ON contracts(customer_id, starts_on);
CREATE INDEX contracts_status_end ON contracts(status, ends_on);
ALTER TABLE complaints ADD CONSTRAINT complaints_contract_fkey
    FOREIGN KEY (contract_id) REFERENCES contracts(id);

-- A line rents a specific asset, or a quantity of a category to be allocated at delivery.
-- On-hire time starts at the delivery scan and ends at the return scan.
CREATE TABLE contract_lines (
    id          uuid PRIMARY KEY,
    contract_id uuid NOT NULL REFERENCES contracts(id),
    line_no     integer NOT NULL,
    asset_id    uuid REFERENCES assets(id),
    category_id uuid REFERENCES categories(id),
    quantity    integer NOT NULL DEFAULT 1 CHECK (quantity >= 1),
    rate_cents  bigint NOT NULL CHECK (rate_cents >= 0),
    rate_period text NOT NULL CHECK (rate_period IN ('day','week','month')),
    on_hire_at  timestamptz,
    off_hire_at timestamptz,
    created_at  timestamptz NOT NULL,
    UNIQUE (contract_id, line_no),
    CHECK (asset_id IS NOT NULL OR category_id IS NOT NULL),
    CHECK (asset_id IS NULL OR quantity = 1)
);
CREATE INDEX contract_lines_asset ON contract_lines(asset_id) WHERE asset_id IS NOT NULL;

-- 6. Availability: every period an asset is taken — by a contract line (from signing) or a
-- maintenance block / work order window — is a row here, and the database refuses two live
-- rows of one asset that overlap. Days are inclusive on both ends. A booking released early
-- (return, termination, cancelled block) keeps its row with `released_at` for the history.
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE TABLE asset_bookings (
    id               uuid PRIMARY KEY,
    asset_id         uuid NOT NULL REFERENCES assets(id),
    kind             text NOT NULL CHECK (kind IN ('contract','maintenance')),
    contract_line_id uuid REFERENCES contract_lines(id),
    work_order_id    uuid REFERENCES work_orders(id),
    starts_on        date NOT NULL,
    ends_on          date NOT NULL,
    reason           text,
    released_at      timestamptz,
    created_by       uuid REFERENCES users(id),
    created_at       timestamptz NOT NULL,
    CHECK (ends_on >= starts_on),
    CHECK ((kind = 'contract') = (contract_line_id IS NOT NULL)),
    CONSTRAINT asset_bookings_no_overlap EXCLUDE USING gist
        (asset_id WITH =, daterange(starts_on, ends_on, '[]') WITH &&)
        WHERE (released_at IS NULL)
);
CREATE INDEX asset_bookings_line ON asset_bookings(contract_line_id) WHERE contract_line_id IS NOT NULL;
CREATE INDEX asset_bookings_work_order ON asset_bookings(work_order_id) WHERE work_order_id IS NOT NULL;

-- 7. Renewal approvals: one per contract and kind, so approving twice is refused.
CREATE TABLE contract_approvals (
    id          uuid PRIMARY KEY,
    contract_id uuid NOT NULL REFERENCES contracts(id),
    kind        text NOT NULL CHECK (kind IN ('legal','finance')),
    approved_by uuid NOT NULL REFERENCES users(id),
    approved_at timestamptz NOT NULL,
    note        text,
    UNIQUE (contract_id, kind)
);
