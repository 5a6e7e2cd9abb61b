-- What an event caused, and what a replay finds already there: an event's
-- outbox messages by its id.
CREATE INDEX outbox_of_event ON outbox (event_id) WHERE event_id IS NOT NULL;
