-- Nothing reads events by thread (questions keep their own thread index), and the
-- index cost a page write per batch on the hot insert path.
DROP INDEX IF EXISTS events_thread;
