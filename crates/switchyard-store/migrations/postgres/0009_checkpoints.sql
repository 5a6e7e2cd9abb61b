-- Checkpoints (seed 000): an agent waits for a person's decision.

-- One row per checkpoint. The spec it was opened with is kept whole (spec, JSON);
-- what is searched or decided on is in columns. row_id is time-ordered (cpr_ +
-- UUIDv7): the list's order and cursor, since checkpoint_id is the caller's.
-- version counts changes: a transition updates WHERE version = the one it read.
CREATE TABLE checkpoints (
    checkpoint_id   TEXT PRIMARY KEY,
    row_id          TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    kickoff_id      TEXT,
    -- pending, approved, rejected, edited, responded, expired, cancelled
    status          TEXT NOT NULL,
    spec            TEXT NOT NULL,
    action_digest   TEXT,
    -- JSON array of {"by", "at"}: quorum votes so far.
    approvals       TEXT NOT NULL,
    decision        TEXT,
    comment         TEXT,
    edited_context  TEXT,
    response        TEXT,
    decided_by      TEXT,
    feedback_action TEXT,
    -- The key id that opened it, and its agent when an agent:NAME key did.
    created_by      TEXT NOT NULL,
    agent           TEXT,
    expires_at      BIGINT,
    created_at      BIGINT NOT NULL,
    decided_at      BIGINT,
    updated_at      BIGINT NOT NULL,
    version         BIGINT NOT NULL
);
CREATE INDEX checkpoints_status ON checkpoints (status, row_id);
CREATE INDEX checkpoints_kickoff ON checkpoints (kickoff_id, row_id);
CREATE INDEX checkpoints_name ON checkpoints (name, row_id);

-- Every step of a checkpoint: created, notified, reminded, escalated, approval,
-- decided, expired, cancelled, callback_delivered, callback_failed. Written in the
-- transaction of the step itself.
CREATE TABLE checkpoint_history (
    history_id    TEXT PRIMARY KEY,
    checkpoint_id TEXT NOT NULL REFERENCES checkpoints (checkpoint_id),
    at            BIGINT NOT NULL,
    kind          TEXT NOT NULL,
    by_who        TEXT,
    detail        TEXT
);
CREATE INDEX checkpoint_history_of ON checkpoint_history (checkpoint_id, history_id);
