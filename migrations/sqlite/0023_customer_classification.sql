-- Customer classification (SQLite). Paired with
-- migrations/postgres/0023_customer_classification.sql, which explains the design: one
-- settings row (JSON thresholds, versioned), one row per nightly run (its quintile edges), each
-- customer's latest classification with its breakdown.
CREATE TABLE classification_settings (
    id         INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    settings   TEXT NOT NULL,
    version    INTEGER NOT NULL DEFAULT 1,
    updated_at TEXT NOT NULL,
    updated_by BLOB REFERENCES users(id)
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
', 1, strftime('%Y-%m-%dT%H:%M:%fZ','now'));

CREATE TABLE classification_runs (
    id               BLOB PRIMARY KEY NOT NULL,
    due_at           TEXT NOT NULL,
    as_of            TEXT NOT NULL,
    started_at       TEXT NOT NULL,
    finished_at      TEXT NOT NULL,
    customers        INTEGER NOT NULL,
    changed          INTEGER NOT NULL,
    settings_version INTEGER NOT NULL,
    edges            TEXT NOT NULL
);
CREATE INDEX classification_runs_due ON classification_runs(due_at);

CREATE TABLE customer_classifications (
    customer_id        BLOB PRIMARY KEY NOT NULL REFERENCES customers(id),
    computed_at        TEXT NOT NULL,
    run_id             BLOB REFERENCES classification_runs(id),
    value_tier         TEXT NOT NULL,
    credit_grade       TEXT NOT NULL CHECK (credit_grade IN ('A','B','C','D')),
    credit_limit_cents INTEGER NOT NULL CHECK (credit_limit_cents >= 0),
    currency           TEXT NOT NULL CHECK (length(currency) = 3),
    auto_renew_allowed INTEGER NOT NULL,
    lifecycle_stage    TEXT NOT NULL,
    breakdown          TEXT NOT NULL
);
CREATE INDEX customer_classifications_run ON customer_classifications(run_id);
