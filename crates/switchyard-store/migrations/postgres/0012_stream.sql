-- The live stream's notices (checkpoint.created, .decided, …), written in the same
-- transaction as the change they announce. Sequence values are not handed out in
-- commit order, so a reader goes by (tx, seq) and reads only rows whose transaction
-- is older than every transaction still running: a row it has not seen can then
-- never appear behind its cursor.
CREATE TABLE stream (
    seq        BIGSERIAL PRIMARY KEY,
    tx         xid8   NOT NULL DEFAULT pg_current_xact_id(),
    event_type TEXT   NOT NULL,
    payload    TEXT   NOT NULL,
    at         BIGINT NOT NULL
);
CREATE INDEX stream_order ON stream (tx, seq);
CREATE INDEX stream_at ON stream (at);
