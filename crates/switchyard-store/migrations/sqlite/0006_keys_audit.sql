-- Scoped API keys and the audit log of configuration changes.

-- API keys for /api. Only the SHA-256 of a key is kept; the key is shown once.
CREATE TABLE api_keys (
    key_id     TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    key_hash   TEXT NOT NULL UNIQUE,
    -- JSON array of scope texts: admin, read, agent:NAME, feedback.
    scopes     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    -- A revoked key is refused at once; the row stays for the audit log.
    revoked_at INTEGER
);

-- Every change to webhooks, commands, agents, destinations and keys: who (a key
-- id, or cli), what (before and after, secrets redacted) and when. Written in the
-- change's own transaction. audit_id is time-ordered (aud_ + UUIDv7): the cursor.
CREATE TABLE audit_log (
    audit_id      TEXT PRIMARY KEY,
    at            INTEGER NOT NULL,
    key_id        TEXT NOT NULL,
    action        TEXT NOT NULL,
    resource_kind TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    before_json   TEXT,
    after_json    TEXT
);
CREATE INDEX audit_log_resource ON audit_log (resource_kind, resource_id, audit_id);
CREATE INDEX audit_log_key ON audit_log (key_id, audit_id);

-- The agent that opened a question through the API (an agent:NAME key) may read
-- it and wait for its answer.
ALTER TABLE questions ADD COLUMN agent TEXT;
