-- Switchyard's first schema, SQLite flavour. Times are Unix microseconds.

CREATE TABLE webhooks (
    webhook_id  TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    provider    TEXT NOT NULL,
    enabled     INTEGER NOT NULL DEFAULT 1,
    -- JSON array of sealed (encrypted) secrets; more than one during rotation.
    secrets     TEXT NOT NULL DEFAULT '[]',
    config_json TEXT NOT NULL DEFAULT '{}',
    created_at  INTEGER NOT NULL,
    created_by  TEXT NOT NULL DEFAULT 'user',
    updated_at  INTEGER NOT NULL
);

CREATE TABLE events (
    event_id        TEXT PRIMARY KEY,
    webhook_id      TEXT NOT NULL,
    provider        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    delivery_id     TEXT,
    received_at     INTEGER NOT NULL,
    headers         TEXT NOT NULL,
    payload         TEXT NOT NULL,
    source          TEXT,
    subject         TEXT,
    actor           TEXT,
    thread_key      TEXT,
    -- Seed 002's event log columns, filled in by routing.
    matched_command TEXT,
    task_id         TEXT,
    response_sent   INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Redeliveries are recognised by the provider's delivery id on the same webhook.
-- NULL delivery ids (senders without one) never collide.
CREATE UNIQUE INDEX events_delivery ON events (webhook_id, delivery_id);
CREATE INDEX events_type ON events (event_type, event_id);
CREATE INDEX events_provider ON events (provider, event_id);

-- Requests that were refused: never their body.
CREATE TABLE rejections (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    webhook_id  TEXT,
    provider    TEXT,
    remote_addr TEXT,
    status      INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    detail      TEXT NOT NULL
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
