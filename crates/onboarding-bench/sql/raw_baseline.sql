-- The raw baseline of the command benchmark: a table defined like `events` that single-row
-- INSERTs go into, created only in the benchmark's throwaway database.
--
-- `LIKE events INCLUDING ALL` copies the columns, the database-filled defaults (`event_id`
-- identity, `transaction_id`, `recorded_at`), the primary key, the unique `event_id`, the
-- `(transaction_id, event_id)` index and the CHECK. The triggers below do for this table what
-- the migrations' triggers do for `events`: the per-stream hash chain (same hash input, same
-- predecessor lookup) and the append-only guards (which never fire on INSERT). So a raw insert
-- pays every cost the database itself charges an event row; what it does not pay is the
-- application's path around it (deciding the command, sealing personal data, the cip claim and
-- data key, the checks of what the decision read, the wake-up notification after commit).

CREATE TABLE bench_raw_events (LIKE events INCLUDING ALL);

CREATE FUNCTION bench_chain_raw_event() RETURNS trigger
    LANGUAGE plpgsql AS
$$
DECLARE
    prev bytea;
BEGIN
    IF NEW.sequence = 1 THEN
        prev := '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
    ELSE
        SELECT hash INTO prev
          FROM bench_raw_events
         WHERE aggregate_type = NEW.aggregate_type
           AND aggregate_id = NEW.aggregate_id
           AND sequence = NEW.sequence - 1;
        IF prev IS NULL THEN
            RAISE EXCEPTION 'raw event % #% has no predecessor', NEW.aggregate_type, NEW.sequence
                USING ERRCODE = 'foreign_key_violation';
        END IF;
    END IF;
    NEW.prev_hash := prev;
    -- The same columns in the same order as `events`, so the row casts to its type.
    NEW.hash := sha256(event_hash_input(prev, ROW(NEW.*)::events));
    RETURN NEW;
END;
$$;

CREATE TRIGGER bench_raw_events_chain
    BEFORE INSERT ON bench_raw_events
    FOR EACH ROW EXECUTE FUNCTION bench_chain_raw_event();

CREATE TRIGGER bench_raw_events_append_only
    BEFORE UPDATE OR DELETE ON bench_raw_events
    FOR EACH ROW EXECUTE FUNCTION reject_event_change();

CREATE TRIGGER bench_raw_events_no_truncate
    BEFORE TRUNCATE ON bench_raw_events
    FOR EACH STATEMENT EXECUTE FUNCTION reject_event_change();
