-- Notifications (PostgreSQL): the outbox, its deliveries (one per channel and target, the in-app
-- inbox included), the attempts log and webhook endpoints. Paired with
-- migrations/sqlite/0007_notifications.sql.
--
-- A notification is written in the transaction of the event that causes it, with all of its
-- deliveries (the outbox rule); channel workers then claim due deliveries by `next_attempt_at`
-- and hold them with a lease (`locked_until`) while they send.
ALTER TABLE users ADD COLUMN email text;

CREATE TABLE webhook_endpoints (
    id          uuid PRIMARY KEY,
    url         text NOT NULL,
    description text,
    -- JSON array of notification kinds, or ["*"] for every kind.
    event_kinds jsonb NOT NULL,
    enabled     boolean NOT NULL,
    -- `whsec_…`: kept (not hashed) because every delivery is signed with it.
    secret      text NOT NULL,
    -- `config`: declared in the configuration file and kept in step with it at startup;
    -- `api`: registered over the API.
    source      text NOT NULL CHECK (source IN ('api','config')),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE notifications (
    id             uuid PRIMARY KEY,
    kind           text NOT NULL,
    title          text NOT NULL,
    body           text NOT NULL,
    data           jsonb NOT NULL,
    subject_entity text,
    subject_id     uuid,
    created_at     timestamptz NOT NULL
);

CREATE TABLE notification_deliveries (
    id              uuid PRIMARY KEY,
    notification_id uuid NOT NULL REFERENCES notifications(id),
    channel         text NOT NULL CHECK (channel IN ('inbox','email','webhook')),
    -- inbox and email: the recipient user; webhook: the endpoint.
    user_id         uuid REFERENCES users(id),
    endpoint_id     uuid REFERENCES webhook_endpoints(id),
    -- The e-mail address (copied when enqueued) or the endpoint URL, for the delivery log.
    target          text NOT NULL,
    state           text NOT NULL CHECK (state IN ('pending','delivered','failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    locked_until    timestamptz,
    last_error      text,
    delivered_at    timestamptz,
    read_at         timestamptz,
    created_at      timestamptz NOT NULL
);
-- The workers' claim: due pending deliveries of one channel.
CREATE INDEX notification_deliveries_due ON notification_deliveries(channel, next_attempt_at)
    WHERE state = 'pending';
-- A user's inbox, newest first.
CREATE INDEX notification_deliveries_inbox ON notification_deliveries(user_id, id)
    WHERE channel = 'inbox';
CREATE INDEX notification_deliveries_notification ON notification_deliveries(notification_id);

CREATE TABLE notification_attempts (
    id          uuid PRIMARY KEY,
    delivery_id uuid NOT NULL REFERENCES notification_deliveries(id),
    at          timestamptz NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('delivered','retry','failed')),
    -- HTTP status of a webhook answer.
    status_code integer,
    -- The SMTP server's reply to a mail.
    reply       text,
    error       text,
    duration_ms bigint NOT NULL
);
CREATE INDEX notification_attempts_delivery ON notification_attempts(delivery_id, at);
