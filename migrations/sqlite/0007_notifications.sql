-- Notifications (SQLite): the outbox, its deliveries (one per channel and target, the in-app
-- inbox included), the attempts log and webhook endpoints. Paired with
-- migrations/postgres/0007_notifications.sql.
--
-- A notification is written in the transaction of the event that causes it, with all of its
-- deliveries (the outbox rule); channel workers then claim due deliveries by `next_attempt_at`
-- and hold them with a lease (`locked_until`) while they send.
ALTER TABLE users ADD COLUMN email TEXT;

CREATE TABLE webhook_endpoints (
    id          BLOB PRIMARY KEY NOT NULL,
    url         TEXT NOT NULL,
    description TEXT,
    -- JSON array of notification kinds, or ["*"] for every kind.
    event_kinds TEXT NOT NULL,
    enabled     INTEGER NOT NULL,
    -- `whsec_…`: kept (not hashed) because every delivery is signed with it.
    secret      TEXT NOT NULL,
    -- `config`: declared in the configuration file and kept in step with it at startup;
    -- `api`: registered over the API.
    source      TEXT NOT NULL CHECK (source IN ('api','config')),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE notifications (
    id             BLOB PRIMARY KEY NOT NULL,
    kind           TEXT NOT NULL,
    title          TEXT NOT NULL,
    body           TEXT NOT NULL,
    data           TEXT NOT NULL,
    subject_entity TEXT,
    subject_id     BLOB,
    created_at     TEXT NOT NULL
);

CREATE TABLE notification_deliveries (
    id              BLOB PRIMARY KEY NOT NULL,
    notification_id BLOB NOT NULL REFERENCES notifications(id),
    channel         TEXT NOT NULL CHECK (channel IN ('inbox','email','webhook')),
    -- inbox and email: the recipient user; webhook: the endpoint.
    user_id         BLOB REFERENCES users(id),
    endpoint_id     BLOB REFERENCES webhook_endpoints(id),
    -- The e-mail address (copied when enqueued) or the endpoint URL, for the delivery log.
    target          TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending','delivered','failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    locked_until    TEXT,
    last_error      TEXT,
    delivered_at    TEXT,
    read_at         TEXT,
    created_at      TEXT NOT NULL
);
-- The workers' claim: due pending deliveries of one channel.
CREATE INDEX notification_deliveries_due ON notification_deliveries(channel, next_attempt_at)
    WHERE state = 'pending';
-- A user's inbox, newest first.
CREATE INDEX notification_deliveries_inbox ON notification_deliveries(user_id, id)
    WHERE channel = 'inbox';
CREATE INDEX notification_deliveries_notification ON notification_deliveries(notification_id);

CREATE TABLE notification_attempts (
    id          BLOB PRIMARY KEY NOT NULL,
    delivery_id BLOB NOT NULL REFERENCES notification_deliveries(id),
    at          TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('delivered','retry','failed')),
    -- HTTP status of a webhook answer.
    status_code INTEGER,
    -- The SMTP server's reply to a mail.
    reply       TEXT,
    error       TEXT,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX notification_attempts_delivery ON notification_attempts(delivery_id, at);
