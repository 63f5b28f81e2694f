-- Tamper evidence and append-only storage of the event log.
--
-- Every event row carries the SHA-256 hash of its stream's previous event (`prev_hash`, 32 zero
-- bytes for the first) and its own `hash`, computed by the database at insert over exactly what
-- is stored (see event_hash). `onboarding verify` recomputes every chain from the stored columns
-- and names the first broken stream and sequence. Chains are per stream, so writers of different
-- aggregates never wait on one another.

ALTER TABLE events
    ADD COLUMN prev_hash bytea,
    ADD COLUMN hash      bytea;

-- The bytes an event's hash covers: each field length-prefixed (so no two different rows encode
-- alike), in a fixed order. jsonb's text form is canonical (sorted keys, normalised spacing),
-- so the encoding depends only on the stored values.
CREATE FUNCTION event_hash_input(prev bytea, e events) RETURNS bytea
    LANGUAGE sql IMMUTABLE AS
$$
SELECT prev
    || int4send(octet_length(convert_to(e.aggregate_type, 'UTF8'))) || convert_to(e.aggregate_type, 'UTF8')
    || int4send(octet_length(convert_to(e.aggregate_id, 'UTF8')))   || convert_to(e.aggregate_id, 'UTF8')
    || int8send(e.sequence)
    || int4send(octet_length(convert_to(e.event_type, 'UTF8')))     || convert_to(e.event_type, 'UTF8')
    || int4send(octet_length(convert_to(e.event_version, 'UTF8')))  || convert_to(e.event_version, 'UTF8')
    || int4send(octet_length(convert_to(e.payload::text, 'UTF8')))  || convert_to(e.payload::text, 'UTF8')
    || int4send(octet_length(convert_to(e.metadata::text, 'UTF8'))) || convert_to(e.metadata::text, 'UTF8')
    || int8send((extract(epoch FROM e.recorded_at) * 1000000)::bigint)
$$;

CREATE FUNCTION chain_event() RETURNS trigger
    LANGUAGE plpgsql AS
$$
DECLARE
    prev bytea;
BEGIN
    IF NEW.sequence = 1 THEN
        prev := '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
    ELSE
        SELECT hash INTO prev
          FROM events
         WHERE aggregate_type = NEW.aggregate_type
           AND aggregate_id = NEW.aggregate_id
           AND sequence = NEW.sequence - 1;
        IF prev IS NULL THEN
            RAISE EXCEPTION 'event % #% has no predecessor', NEW.aggregate_type, NEW.sequence
                USING ERRCODE = 'foreign_key_violation';
        END IF;
    END IF;
    NEW.prev_hash := prev;
    NEW.hash := sha256(event_hash_input(prev, NEW));
    RETURN NEW;
END;
$$;

CREATE TRIGGER events_chain
    BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION chain_event();

-- The log is append-only: no UPDATE, DELETE or TRUNCATE, whoever asks.
CREATE FUNCTION reject_event_change() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    RAISE EXCEPTION 'the event log is append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION reject_event_change();

CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION reject_event_change();

CREATE TRIGGER event_log_append_only
    BEFORE UPDATE OR DELETE ON event_log
    FOR EACH ROW EXECUTE FUNCTION reject_event_change();

CREATE TRIGGER event_log_no_truncate
    BEFORE TRUNCATE ON event_log
    FOR EACH STATEMENT EXECUTE FUNCTION reject_event_change();

-- The least-privilege role an application runs as (see docs/compliance.md): it may append and
-- read the log, keep snapshots, claims and read models, and owns nothing. Grant it to the
-- application's login role: GRANT onboarding_app TO my_service;
DO
$$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'onboarding_app') THEN
        CREATE ROLE onboarding_app NOLOGIN;
    END IF;
END;
$$;

GRANT SELECT, INSERT ON events, event_log TO onboarding_app;
GRANT SELECT, INSERT, UPDATE ON snapshots, cip_claims TO onboarding_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON projection_checkpoints, identity_status, accounts, profiles,
    orders, audit_trail, audit_subjects TO onboarding_app;
GRANT SELECT ON profile_balances TO onboarding_app;
GRANT EXECUTE ON FUNCTION sequence_events(integer) TO onboarding_app;
