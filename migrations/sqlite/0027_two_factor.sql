-- Two-factor authentication and the login brute-force limit (SQLite). Paired with
-- migrations/postgres/0027_two_factor.sql, which explains each table.
CREATE TABLE user_two_factor (
    user_id        BLOB PRIMARY KEY NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    secret         TEXT,
    pending_secret TEXT,
    pending_at     TEXT,
    enabled_at     TEXT,
    last_step      INTEGER,
    CHECK ((secret IS NULL) = (enabled_at IS NULL))
);

CREATE TABLE user_recovery_codes (
    id         BLOB PRIMARY KEY NOT NULL,
    user_id    BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL,
    created_at TEXT NOT NULL,
    used_at    TEXT
);
CREATE INDEX user_recovery_codes_user ON user_recovery_codes(user_id);

CREATE TABLE login_throttle (
    key          TEXT PRIMARY KEY NOT NULL,
    failures     INTEGER NOT NULL,
    window_start TEXT NOT NULL,
    locked_until TEXT
);
CREATE INDEX login_throttle_window ON login_throttle(window_start);

ALTER TABLE sessions ADD COLUMN scope TEXT NOT NULL DEFAULT 'full'
    CHECK (scope IN ('full', 'two_factor_enrolment'));
