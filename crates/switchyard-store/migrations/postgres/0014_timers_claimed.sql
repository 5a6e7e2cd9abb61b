-- The next time a timer needs attention (`next_timer_in`) is found from two index
-- look-ups instead of a scan: the earliest unclaimed due time (timers_due) and the
-- earliest claim that runs out (this index).
CREATE INDEX timers_claimed ON timers (claimed_until);
