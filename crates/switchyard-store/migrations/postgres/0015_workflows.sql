-- Workflows (seed 003, issue 11): the definitions registered through the API, the
-- runs and each node step of a run.

-- Workflows registered through the API: inline YAML, or a file of the workflows
-- folder registered under a name (read from the folder when loaded). Files the
-- folder holds on its own are not rows.
CREATE TABLE workflows (
    name        TEXT PRIMARY KEY,
    yaml        TEXT,
    config_path TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- A run: the definition it started with (so an edit never changes a run under
-- way), its state, and where it stands. The runner that claims it (claim_id,
-- claimed_until, by the database's clock) is the only one that moves it; every move
-- is a write guarded by that claim.
CREATE TABLE runs (
    run_id         TEXT PRIMARY KEY,
    workflow       TEXT NOT NULL,
    -- pending, running, waiting, succeeded, failed, cancelled
    status         TEXT NOT NULL,
    -- The YAML the run started with; NULL for a run that could not start.
    definition     TEXT,
    inputs         TEXT NOT NULL,
    state          TEXT NOT NULL,
    -- JSON: the runner's position (next node, loop iterations, steps taken).
    cursor         TEXT NOT NULL,
    error          TEXT,
    event_id       TEXT,
    parent_run_id  TEXT,
    restarted_from TEXT,
    -- What started it, unique: the same trigger again starts nothing.
    trigger_key    TEXT UNIQUE,
    -- The task, checkpoint or child run a waiting run waits for.
    wait_ref       TEXT,
    -- When the runner should next take it (now, after a retry's back-off, or a
    -- waiting run's time-out).
    due_at         BIGINT NOT NULL,
    claim_id       TEXT,
    claimed_until  BIGINT NOT NULL DEFAULT 0,
    -- The run's own time-out (Unix micros).
    deadline       BIGINT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    started_at     BIGINT,
    finished_at    BIGINT
);
CREATE INDEX runs_due ON runs (due_at) WHERE status IN ('pending', 'running', 'waiting');
CREATE INDEX runs_waiting_for ON runs (wait_ref) WHERE wait_ref IS NOT NULL;
CREATE INDEX runs_of_workflow ON runs (workflow, run_id);
CREATE INDEX runs_of_event ON runs (event_id) WHERE event_id IS NOT NULL;
CREATE INDEX runs_of_parent ON runs (parent_run_id) WHERE parent_run_id IS NOT NULL;

-- Each execution of a node (every attempt, every loop iteration), in order.
CREATE TABLE run_steps (
    run_id      TEXT NOT NULL REFERENCES runs (run_id),
    seq         BIGINT NOT NULL,
    node_id     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    iteration   BIGINT NOT NULL,
    -- running, waiting, succeeded, failed, cancelled
    status      TEXT NOT NULL,
    attempt     BIGINT NOT NULL,
    inputs      TEXT NOT NULL,
    outputs     TEXT,
    -- JSON: log lines, the prompt and answer, model and tokens, what it waits for.
    detail      TEXT,
    error       TEXT,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT,
    PRIMARY KEY (run_id, seq)
);

-- A registered workflow is part of the registry replicas reload (0008's trigger
-- function bumps the counter and announces `- registry`).
CREATE TRIGGER workflows_changed AFTER INSERT OR UPDATE OR DELETE ON workflows
    FOR EACH ROW EXECUTE FUNCTION switchyard_webhook_changed();
