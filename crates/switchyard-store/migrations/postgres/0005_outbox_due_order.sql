-- Claims walk due messages in (next_attempt_at, outbox_id) order and stop at their
-- limit; the index carries the tie-break so no sort is needed.
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (status, next_attempt_at, outbox_id);
