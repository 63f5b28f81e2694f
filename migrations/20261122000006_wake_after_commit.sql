-- Readers are woken after commit, not inside it.
--
-- The statement-level trigger called pg_notify in every appending transaction. A transaction
-- that has notified takes a server-wide lock on the notification queue at commit, which
-- serialises the commits of all concurrent writers (the flush included) and capped command
-- throughput well below plain inserts. The ledger now sends one coalesced pg_notify after its
-- appends commit; tailing readers still poll, so events from any other writer are found too.
DROP TRIGGER events_notify ON events;
DROP FUNCTION notify_events();
