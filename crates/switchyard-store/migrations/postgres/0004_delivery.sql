-- Outbound delivery: the outbox becomes a queue with a schedule, claims and a log
-- of attempts; destinations carry their settings, signing secrets and on/off state.

-- Where a message goes (see destinations) and, when set, the key its order is kept by.
ALTER TABLE outbox ADD COLUMN destination_id TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN ordering_key TEXT;
-- Attempts started, counted when a message is claimed.
ALTER TABLE outbox ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN next_attempt_at BIGINT NOT NULL DEFAULT 0;
-- The process holding the message and until when; a claim that outlives its
-- deadline (the process died) is free to take again.
ALTER TABLE outbox ADD COLUMN claim_id TEXT;
ALTER TABLE outbox ADD COLUMN claimed_until BIGINT;
ALTER TABLE outbox ADD COLUMN last_attempt_at BIGINT;
ALTER TABLE outbox ADD COLUMN last_status BIGINT;
ALTER TABLE outbox ADD COLUMN last_error TEXT;
ALTER TABLE outbox ADD COLUMN delivered_at BIGINT;
ALTER TABLE outbox ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
UPDATE outbox SET next_attempt_at = created_at, updated_at = created_at;

DROP INDEX outbox_status;
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_destination ON outbox (destination_id, status, outbox_id);

CREATE TABLE destinations (
    destination_id      TEXT PRIMARY KEY,
    -- What the id stands for: a URL, `agent:NAME`, or `PROVIDER:API-BASE`.
    url                 TEXT NOT NULL,
    kind                TEXT NOT NULL,
    max_concurrency     BIGINT,
    rate_per_second     DOUBLE PRECISION,
    burst               BIGINT,
    fifo                BOOLEAN NOT NULL DEFAULT FALSE,
    -- Sealed Standard Webhooks secrets; the previous one signs too until it expires.
    secret              TEXT,
    previous_secret     TEXT,
    previous_expires_at BIGINT,
    disabled_at         BIGINT,
    disabled_reason     TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);

CREATE TABLE delivery_attempts (
    outbox_id        TEXT NOT NULL,
    attempt          BIGINT NOT NULL,
    started_at       BIGINT NOT NULL,
    status_code      BIGINT,
    latency_micros   BIGINT NOT NULL,
    -- The first 4 KiB of the answer.
    response_excerpt TEXT,
    error            TEXT,
    PRIMARY KEY (outbox_id, attempt)
);

-- The token write-backs use, sealed like the webhook's secrets.
ALTER TABLE webhooks ADD COLUMN api_token TEXT;
