-- The check behind the ledger's one-statement appends (onboarding_store::append): "every other
-- aggregate this decision read is still at the version it read", made safe against appends
-- that commit while the statement runs.
--
-- A plain subquery in the append would read the statement's snapshot, taken before any wait,
-- and miss an append to a read aggregate that commits meanwhile. So each ledger append first
-- takes a transaction-level advisory lock on its own stream, exclusive, and a shared one on each
-- stream it read, then checks each read stream's head in this VOLATILE function, where every
-- query takes a new snapshot (READ COMMITTED): after the shared lock, which waits for a
-- concurrent ledger append to that stream to commit, the check sees that append. Either the
-- reader commits first (and the writer's decision comes after it) or the reader sees the write
-- and decides again: the two are serialised. Appends by other writers (the stock postgres-es
-- repository) take no lock and are caught only if they committed before the check.
CREATE FUNCTION consulted_unchanged(own_type text, own_id text,
                                    read_types text[], read_ids text[], read_sequences bigint[])
    RETURNS boolean
    LANGUAGE plpgsql VOLATILE AS
$$
DECLARE
    i integer;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(own_type || '/' || own_id, 0));
    FOR i IN 1 .. coalesce(array_length(read_types, 1), 0) LOOP
        PERFORM pg_advisory_xact_lock_shared(hashtextextended(read_types[i] || '/' || read_ids[i], 0));
        IF coalesce((SELECT max(e.sequence) FROM events e
                      WHERE e.aggregate_type = read_types[i] AND e.aggregate_id = read_ids[i]), 0)
           <> read_sequences[i] THEN
            RETURN false;
        END IF;
    END LOOP;
    RETURN true;
END;
$$;

GRANT EXECUTE ON FUNCTION consulted_unchanged(text, text, text[], text[], bigint[]) TO onboarding_app;
