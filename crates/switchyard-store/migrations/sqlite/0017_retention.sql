-- Retention (issue 13): the background job deletes rows older than their retention
-- age, oldest first, a small batch per statement; these indexes let each batch find
-- its rows without walking the table.
CREATE INDEX events_received ON events (received_at);
CREATE INDEX delivery_attempts_started ON delivery_attempts (started_at);
CREATE INDEX runs_finished ON runs (finished_at) WHERE finished_at IS NOT NULL;
