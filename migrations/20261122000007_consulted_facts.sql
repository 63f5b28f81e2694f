-- The check behind the ledger's one-statement appends (onboarding_store::append): "every other
-- aggregate this decision read is still at the version it read", made safe against appends
-- that commit while the statement runs.
--
-- A plain subquery in the append would read the statement's snapshot, taken before any wait,
-- and miss an append to a read aggregate that commits meanwhile. So each ledger append first
-- takes a transaction-level advisory lock on its own streams, exclusive, and a shared one on each
-- stream it read, then checks each read stream's head in this VOLATILE function, where every
-- query takes a new snapshot (READ COMMITTED): after the shared lock, which waits for a
-- concurrent ledger append to that stream to commit, the check sees that append. Either the
-- reader commits first (and the writer's decision comes after it) or the reader sees the write
-- and decides again: the two are serialised. Appends by other writers (the stock postgres-es
-- repository) take no lock and are caught only if they committed before the check.
CREATE FUNCTION consulted_unchanged(own_types text[], own_ids text[],
                                    read_types text[], read_ids text[], read_sequences bigint[])
    RETURNS boolean
    LANGUAGE plpgsql VOLATILE AS
$$
DECLARE
    l record;
BEGIN
    -- Every lock of the statement, in one global order (a group of appends, see
    -- onboarding_store::append, writes and reads several streams), so that two statements
    -- cannot each hold a lock the other waits for because of the order they took them in.
    FOR l IN
        SELECT k.key, bool_or(k.own) AS own
          FROM (SELECT hashtextextended(o.t || '/' || o.i, 0) AS key, true AS own
                  FROM unnest(own_types, own_ids) AS o(t, i)
                UNION ALL
                SELECT hashtextextended(r.t || '/' || r.i, 0), false
                  FROM unnest(read_types, read_ids) AS r(t, i)) k
         GROUP BY k.key
         ORDER BY k.key
    LOOP
        IF l.own THEN
            PERFORM pg_advisory_xact_lock(l.key);
        ELSE
            PERFORM pg_advisory_xact_lock_shared(l.key);
        END IF;
    END LOOP;
    -- A new statement, so a new snapshot: it sees every append that held a lock just taken.
    RETURN NOT EXISTS (
        SELECT 1
          FROM unnest(read_types, read_ids, read_sequences) AS r(t, i, s)
         WHERE coalesce((SELECT max(e.sequence) FROM events e
                          WHERE e.aggregate_type = r.t AND e.aggregate_id = r.i), 0) <> r.s);
END;
$$;

GRANT EXECUTE ON FUNCTION consulted_unchanged(text[], text[], text[], text[], bigint[]) TO onboarding_app;
