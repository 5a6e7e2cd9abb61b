-- Switchyard's first schema, PostgreSQL flavour. Times are Unix microseconds so
-- both stores share one row shape.

CREATE TABLE webhooks (
    webhook_id  TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    provider    TEXT NOT NULL,
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    secrets     TEXT NOT NULL DEFAULT '[]',
    config_json TEXT NOT NULL DEFAULT '{}',
    created_at  BIGINT NOT NULL,
    created_by  TEXT NOT NULL DEFAULT 'user',
    updated_at  BIGINT NOT NULL
);

CREATE TABLE events (
    event_id        TEXT PRIMARY KEY,
    webhook_id      TEXT NOT NULL,
    provider        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    delivery_id     TEXT,
    received_at     BIGINT NOT NULL,
    headers         TEXT NOT NULL,
    payload         TEXT NOT NULL,
    source          TEXT,
    subject         TEXT,
    actor           TEXT,
    thread_key      TEXT,
    matched_command TEXT,
    task_id         TEXT,
    response_sent   BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE UNIQUE INDEX events_delivery ON events (webhook_id, delivery_id);
CREATE INDEX events_type ON events (event_type, event_id);
CREATE INDEX events_provider ON events (provider, event_id);

CREATE TABLE rejections (
    id          BIGSERIAL PRIMARY KEY,
    at          BIGINT NOT NULL,
    webhook_id  TEXT,
    provider    TEXT,
    remote_addr TEXT,
    status      BIGINT NOT NULL,
    reason      TEXT NOT NULL,
    detail      TEXT NOT NULL
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
