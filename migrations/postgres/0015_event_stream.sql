-- Live events across processes (PostgreSQL). Paired with migrations/sqlite/0015_event_stream.sql.
--
-- The one-row counter that numbers every transaction publishing live events
-- (domain/src/events/fanout.rs): incremented as the transaction's last statement, its row lock
-- held to commit, so the numbers follow commit order, which is also the order NOTIFY delivers
-- in. Transactional, so a rolled-back transaction leaves no hole: a listener that sees one
-- missed a notification. SSE event ids are derived from it (`Last-Event-ID` resume on any
-- API process of the database).
CREATE TABLE event_stream (
    id  SMALLINT PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL
);
INSERT INTO event_stream (id, seq) VALUES (1, 0);
