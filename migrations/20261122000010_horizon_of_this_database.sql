-- sequence_events() (migration 20261122000001) with a horizon of this database's transactions.
--
-- Events are sequenced only when written by a transaction older than every transaction still
-- running, so that no event can later appear before a position already handed out. Transaction
-- ids are cluster-wide, and the horizon was too (pg_snapshot_xmin of the current snapshot): a
-- transaction with an id running in ANOTHER database of the same server (a long batch job, and
-- every DROP DATABASE, which waits for a forced checkpoint while holding its id) held every
-- ledger's log back, though it cannot write to this database's events.
--
-- The horizon now leaves out the running transactions that pg_stat_activity shows belonging to
-- another database (every role sees the database and transaction id of every session). Only
-- those positively known to be another database's are left out: a transaction id is never
-- reused and a session never changes database, so such a transaction cannot insert events here.
-- Anything not known (a prepared transaction, a process without a database) still holds the
-- horizon, as before. pg_stat_activity is read afresh inside the statement, after its snapshot
-- was taken (a transaction keeps its first reading otherwise: one taken before an earlier
-- statement's snapshot could show a slot's previous session beside its new session's id), so a
-- transaction that took its id after the reading is above the snapshot's xmax anyway.
-- pg_stat_activity shows 32-bit transaction ids; they are matched against the snapshot's 64-bit
-- ones on their low 32 bits (running transactions are always within 2^31 of each other).
CREATE OR REPLACE FUNCTION sequence_events(batch integer) RETURNS bigint
    LANGUAGE plpgsql AS
$$
DECLARE
    head    bigint;
    last_tx xid8;
    last_id bigint;
    added   bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('onboarding-ledger:sequence_events'));
    SELECT l.position, e.transaction_id, e.event_id
      INTO head, last_tx, last_id
      FROM event_log l
      JOIN events e ON e.event_id = l.event_id
     ORDER BY l.position DESC
     LIMIT 1;
    head := coalesce(head, 0);

    PERFORM pg_stat_clear_snapshot();
    -- One statement: the horizon is taken from the snapshot the events are read with.
    INSERT INTO event_log (position, event_id)
    SELECT head + row_number() OVER (ORDER BY c.transaction_id, c.event_id), c.event_id
      FROM (SELECT e.transaction_id, e.event_id
              FROM events e
             WHERE (last_tx IS NULL OR (e.transaction_id, e.event_id) > (last_tx, last_id))
               AND e.transaction_id < (
                       SELECT least(pg_snapshot_xmax(s.snap),
                                    (SELECT min(x)
                                       FROM pg_snapshot_xip(s.snap) AS x
                                      WHERE x::text::bigint % 4294967296 NOT IN (
                                                SELECT a.backend_xid::text::bigint
                                                  FROM pg_stat_activity a
                                                 WHERE a.backend_xid IS NOT NULL
                                                   AND a.datid <> (SELECT d.oid FROM pg_database d
                                                                    WHERE d.datname = current_database()))))
                         FROM (SELECT pg_current_snapshot() AS snap) s)
             ORDER BY e.transaction_id, e.event_id
             LIMIT batch) c;
    GET DIAGNOSTICS added = ROW_COUNT;
    RETURN head + added;
END;
$$;
