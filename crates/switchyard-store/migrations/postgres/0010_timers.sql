-- Checkpoint timers: expiry, reminders and escalation steps, as rows with due
-- times. Whichever replica claims a due timer (claimed_until, by the database's
-- clock) fires it, in one transaction with what it changes, and deletes it. They
-- survive a restart: what fell due while no server ran fires on start.
CREATE TABLE timers (
    timer_id      TEXT PRIMARY KEY,
    checkpoint_id TEXT NOT NULL REFERENCES checkpoints (checkpoint_id),
    -- expire, remind, escalate
    kind          TEXT NOT NULL,
    -- escalate: the step's index in the spec's escalate list.
    step          BIGINT,
    due_at        BIGINT NOT NULL,
    claimed_until BIGINT
);
CREATE INDEX timers_due ON timers (due_at);
