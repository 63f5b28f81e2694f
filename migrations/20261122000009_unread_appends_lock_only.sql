-- consulted_unchanged() (migration 20261122000007) without its two queries when they have
-- nothing to do: an append that read no other aggregate (a submission, most identity and account
-- commands) only takes the exclusive lock on its own stream and has nothing to check. Those two
-- queries (the locks in global order, then the heads of the streams read) were most of the
-- function's cost, and the function a sizeable part of such an append's server time. The
-- locks taken, their order and the answer are unchanged.
CREATE OR REPLACE FUNCTION consulted_unchanged(own_types text[], own_ids text[],
                                               read_types text[], read_ids text[],
                                               read_sequences bigint[])
    RETURNS boolean
    LANGUAGE plpgsql VOLATILE AS
$$
DECLARE
    l record;
BEGIN
    IF cardinality(read_types) = 0 AND cardinality(own_types) = 1 THEN
        PERFORM pg_advisory_xact_lock(hashtextextended(own_types[1] || '/' || own_ids[1], 0));
        RETURN true;
    END IF;
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
    IF cardinality(read_types) = 0 THEN
        RETURN true;
    END IF;
    -- A new statement, so a new snapshot: it sees every append that held a lock just taken.
    RETURN NOT EXISTS (
        SELECT 1
          FROM unnest(read_types, read_ids, read_sequences) AS r(t, i, s)
         WHERE coalesce((SELECT max(e.sequence) FROM events e
                          WHERE e.aggregate_type = r.t AND e.aggregate_id = r.i), 0) <> r.s);
END;
$$;
