-- Routing: what matching an event creates, written in the event's own transaction.

-- The 202 answer's "matched" list, kept so a redelivery can repeat it.
ALTER TABLE events ADD COLUMN matched TEXT NOT NULL DEFAULT '[]';
CREATE INDEX events_thread ON events (thread_key);

CREATE TABLE agents (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    mode        TEXT NOT NULL DEFAULT 'pull',
    url         TEXT,
    -- Sealed, like webhook secrets.
    secret      TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE tasks (
    task_id          TEXT PRIMARY KEY,
    agent            TEXT NOT NULL,
    status           TEXT NOT NULL,
    message          TEXT NOT NULL,
    event_id         TEXT,
    command_id       TEXT,
    webhook_id       TEXT,
    attempts         BIGINT NOT NULL DEFAULT 0,
    lease_id         TEXT,
    lease_expires_at BIGINT,
    result           TEXT,
    error            TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
-- One task per event and command, whatever retries happen.
CREATE UNIQUE INDEX tasks_origin ON tasks (event_id, command_id);
CREATE INDEX tasks_queue ON tasks (agent, status, created_at);

CREATE TABLE questions (
    question_id     TEXT PRIMARY KEY,
    event_id        TEXT,
    webhook_id      TEXT NOT NULL,
    command_id      TEXT,
    thread_key      TEXT,
    asker           TEXT,
    question        TEXT NOT NULL,
    status          TEXT NOT NULL,
    answer          TEXT,
    answer_event_id TEXT,
    answered_by     TEXT,
    created_at      BIGINT NOT NULL,
    answered_at     BIGINT
);
CREATE INDEX questions_open ON questions (thread_key, status);

-- Everything that leaves Switchyard, written with the event that caused it; the
-- delivery engine carries it out.
CREATE TABLE outbox (
    outbox_id  TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    webhook_id TEXT,
    event_id   TEXT,
    command_id TEXT,
    payload    TEXT NOT NULL,
    status     TEXT NOT NULL DEFAULT 'pending',
    -- Retries and redeliveries never create a second message for one cause.
    idempotency_key TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE INDEX outbox_status ON outbox (status, created_at);
