-- The live stream's notices (checkpoint.created, .decided, …), written in the same
-- transaction as the change they announce; `seq` orders them and is the SSE id.
-- `tx` is PostgreSQL's transaction id (0 here: SQLite commits one writer at a time,
-- so `seq` is already commit order).
CREATE TABLE stream (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    tx         INTEGER NOT NULL DEFAULT 0,
    event_type TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    at         INTEGER NOT NULL
);
CREATE INDEX stream_at ON stream (at);
