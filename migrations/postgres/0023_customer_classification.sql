-- Customer classification (issue 14, item 3): the RFM value tier and the credit grade, each
-- with the breakdown that explains it, the thresholds an admin edits, and the nightly runs.
-- Paired with migrations/sqlite/0023_customer_classification.sql.
--
-- 1. `classification_settings`: ONE row (id = 1) holding every threshold as a JSON document
--    (ordered tier rules are a list, which columns would flatten badly), versioned for the
--    admin's optimistic-concurrency PUT. The defaults below are
--    `mobile_shared::classification::ClassificationSettings::default()` (a test keeps the two
--    equal); `domain::classification` validates every write.
-- 2. `classification_runs`: one row per nightly run (one a day), with the quintile edges of
--    its population, so an on-demand recompute of one customer scores against the same edges
--    as its neighbours instead of re-reading every customer; `due_at` (the 02:00 UTC the run
--    is for) is what makes the clock rule run once a day and once after a catch-up.
-- 3. `customer_classifications`: each customer's latest result and its breakdown (every input
--    and the score it gave). `customers.value_tier` / `credit_grade` / `classified_at`
--    (migration 0020) are copies for filtering and sorting the customer list.
CREATE TABLE classification_settings (
    id         integer PRIMARY KEY CHECK (id = 1),
    settings   jsonb NOT NULL,
    version    bigint NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL,
    updated_by uuid REFERENCES users(id)
);
INSERT INTO classification_settings (id, settings, version, updated_at) VALUES (1, '
    {"currency": "EUR",
     "rfm": {"window_months": 24,
             "tiers": [
               {"tier": "champion", "recency": {"min": 4, "max": 5}, "frequency": {"min": 4, "max": 5}, "monetary": {"min": 4, "max": 5}},
               {"tier": "new", "recency": {"min": 1, "max": 5}, "frequency": {"min": 1, "max": 5}, "monetary": {"min": 1, "max": 5}, "first_contract_within_days": 90},
               {"tier": "loyal", "recency": {"min": 3, "max": 5}, "frequency": {"min": 4, "max": 5}, "monetary": {"min": 1, "max": 5}},
               {"tier": "promising", "recency": {"min": 4, "max": 5}, "frequency": {"min": 1, "max": 3}, "monetary": {"min": 1, "max": 5}},
               {"tier": "at_risk", "recency": {"min": 1, "max": 2}, "frequency": {"min": 3, "max": 5}, "monetary": {"min": 1, "max": 5}},
               {"tier": "hibernating", "recency": {"min": 1, "max": 2}, "frequency": {"min": 1, "max": 2}, "monetary": {"min": 1, "max": 5}}
             ],
             "fallback_tier": "regular"},
     "credit": {"payment_max_points": 40, "payment_unknown_points": 20,
                "tenure_max_points": 30, "tenure_full_months": 24,
                "complaint_max_points": 20, "complaint_penalty_points": 10, "complaint_window_months": 12,
                "overdue_max_points": 10,
                "grade_a_min": 75, "grade_b_min": 60, "grade_c_min": 40,
                "credit_limit_a_cents": 5000000, "credit_limit_b_cents": 2000000,
                "credit_limit_c_cents": 500000, "credit_limit_d_cents": 0},
     "lifecycle": {"new_days": 90, "lapsed_after_days": 365}}
', 1, now());

CREATE TABLE classification_runs (
    id               uuid PRIMARY KEY,
    due_at           timestamptz NOT NULL,
    as_of            date NOT NULL,
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz NOT NULL,
    customers        integer NOT NULL,
    changed          integer NOT NULL,
    settings_version bigint NOT NULL,
    edges            jsonb NOT NULL
);
CREATE INDEX classification_runs_due ON classification_runs(due_at);

CREATE TABLE customer_classifications (
    customer_id        uuid PRIMARY KEY REFERENCES customers(id),
    computed_at        timestamptz NOT NULL,
    run_id             uuid REFERENCES classification_runs(id),
    value_tier         text NOT NULL,
    credit_grade       text NOT NULL CHECK (credit_grade IN ('A','B','C','D')),
    credit_limit_cents bigint NOT NULL CHECK (credit_limit_cents >= 0),
    currency           text NOT NULL CHECK (length(currency) = 3),
    auto_renew_allowed boolean NOT NULL,
    lifecycle_stage    text NOT NULL,
    breakdown          jsonb NOT NULL
);
CREATE INDEX customer_classifications_run ON customer_classifications(run_id);
