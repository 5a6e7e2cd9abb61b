-- Executions (seed 000): one row per CrewAI kickoff, built from the task, step,
-- crew and checkpoint events POST /webhook/crewai receives for it.

-- status is what the crew's own events said last: running until a crew event
-- says completed (with its result) or error. waiting_feedback and stopped are
-- not stored: they follow from the kickoff's checkpoints when it is read.
CREATE TABLE executions (
    kickoff_id  TEXT PRIMARY KEY,
    status      TEXT NOT NULL,
    -- The crew's result (JSON text) and error, from its last crew event.
    result      TEXT,
    error       TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- The timeline: one row per stored event of the kickoff, keyed by the event's
-- id, so a redelivery (which resolves to the first event) adds nothing.
CREATE TABLE execution_events (
    event_id    TEXT PRIMARY KEY,
    kickoff_id  TEXT NOT NULL REFERENCES executions (kickoff_id),
    at          INTEGER NOT NULL,
    -- task, step, crew or checkpoint
    kind        TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    -- JSON object: the event's identifying fields (task, agent, checkpoint, …).
    detail      TEXT NOT NULL
);
CREATE INDEX execution_events_of ON execution_events (kickoff_id, event_id);
