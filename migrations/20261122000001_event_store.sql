-- The event store of record.
--
-- `events` and `snapshots` have exactly the columns postgres-es 0.5 reads and writes, so the stock
-- `PostgresEventRepository` works on them unchanged. The extra columns of `events` have defaults
-- and are filled by the database, never by a writer:
--   event_id        a unique, increasing id (gaps possible: rolled back inserts consume ids);
--   transaction_id  the writing transaction, which orders the log safely (see event_log);
--   recorded_at     the time of the writing transaction.

CREATE TABLE events
(
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    sequence       bigint      NOT NULL CHECK (sequence >= 1),
    event_type     text        NOT NULL,
    event_version  text        NOT NULL,
    payload        jsonb       NOT NULL,
    metadata       jsonb       NOT NULL,
    event_id       bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,
    transaction_id xid8        NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

CREATE INDEX events_by_transaction ON events (transaction_id, event_id);

CREATE TABLE snapshots
(
    aggregate_type   text   NOT NULL,
    aggregate_id     text   NOT NULL,
    last_sequence    bigint NOT NULL CHECK (last_sequence >= 0),
    current_snapshot bigint NOT NULL CHECK (current_snapshot >= 0),
    payload          jsonb  NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
);

CREATE UNIQUE INDEX snapshots_one_per_aggregate ON snapshots (aggregate_type, aggregate_id);

-- The global log: a gap-free position for every committed event, in an order no reader can
-- overtake.
--
-- Identity values are handed out at insert time but become visible at commit, so a reader
-- following event_id would skip an event whose slow transaction commits after later ids are
-- visible. Instead, events are sequenced into event_log in (transaction_id, event_id) order, and
-- only those written by transactions older than the oldest still running one (the snapshot
-- horizon, pg_snapshot_xmin). Every later write belongs to a transaction at or above the horizon,
-- so nothing can ever appear before an already sequenced position.
CREATE TABLE event_log
(
    position bigint PRIMARY KEY CHECK (position >= 1),
    event_id bigint NOT NULL UNIQUE REFERENCES events (event_id)
);

-- Sequences up to `batch` committed events into event_log; returns the log's head position.
-- Safe to call from any number of sessions: one sequences at a time (advisory lock), the
-- others wait and then find the work done.
CREATE FUNCTION sequence_events(batch integer) RETURNS bigint
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

    INSERT INTO event_log (position, event_id)
    SELECT head + row_number() OVER (ORDER BY c.transaction_id, c.event_id), c.event_id
      FROM (SELECT e.transaction_id, e.event_id
              FROM events e
             WHERE (last_tx IS NULL OR (e.transaction_id, e.event_id) > (last_tx, last_id))
               AND e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
             ORDER BY e.transaction_id, e.event_id
             LIMIT batch) c;
    GET DIAGNOSTICS added = ROW_COUNT;
    RETURN head + added;
END;
$$;

-- Wake tailing readers at commit (LISTEN onboarding_events); they poll as a fallback.
CREATE FUNCTION notify_events() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    PERFORM pg_notify('onboarding_events', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_notify
    AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION notify_events();

-- cip_id uniqueness across identities. The key is an HMAC of (type, country, number) under a
-- key the database never sees, so the table holds no document numbers.
CREATE TABLE cip_claims
(
    fingerprint bytea       PRIMARY KEY,
    identity_id uuid        NOT NULL,
    claimed_at  timestamptz NOT NULL DEFAULT now()
);
