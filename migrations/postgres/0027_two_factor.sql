-- Two-factor authentication and the login brute-force limit (PostgreSQL). Paired with
-- migrations/sqlite/0027_two_factor.sql.
--
-- user_two_factor: a user's TOTP (RFC 6238) state, one row per user who started enrolment.
-- `pending_secret` is the secret of an enrolment not yet confirmed with a code; confirming
-- moves it to `secret` and stamps `enabled_at`. Secrets are base32 (what authenticator apps
-- take). `last_step` is the last accepted 30-second time step: a code is accepted only for a
-- later step, so a code seen over a shoulder or in a log cannot be replayed.
CREATE TABLE user_two_factor (
    user_id        uuid PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret         text,
    pending_secret text,
    pending_at     timestamptz,
    enabled_at     timestamptz,
    last_step      bigint,
    CHECK ((secret IS NULL) = (enabled_at IS NULL))
);

-- One-time recovery codes, stored only as argon2id hashes (like passwords); a used code keeps
-- its row with `used_at`, so "codes left" is a count and reuse is refused.
CREATE TABLE user_recovery_codes (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash  text NOT NULL,
    created_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX user_recovery_codes_user ON user_recovery_codes(user_id);

-- Failed logins per account (`user:<username as typed, lower-case>`, whether or not such a
-- user exists, so a lockout tells nothing about existence) and per client address
-- (`ip:<address or IPv6 /64>`). `failures` counts within the window that began at
-- `window_start`; reaching the limit sets `locked_until`, and the lock lifts by itself when
-- that passes. Kept in the database so every API process sees the same counts.
CREATE TABLE login_throttle (
    key          text PRIMARY KEY,
    failures     integer NOT NULL,
    window_start timestamptz NOT NULL,
    locked_until timestamptz
);
CREATE INDEX login_throttle_window ON login_throttle(window_start);

-- What a session may do: `full` (every route its role allows) or `two_factor_enrolment` (a
-- short-lived session given at login to a user whose role requires 2FA and who has none yet:
-- it reaches only the enrolment routes).
ALTER TABLE sessions ADD COLUMN scope text NOT NULL DEFAULT 'full'
    CHECK (scope IN ('full', 'two_factor_enrolment'));
