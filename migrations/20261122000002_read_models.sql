-- Read models, written only by the projector (onboarding-projections).
--
-- Each view table stores one JSON row per key, with the log position that last changed it; the
-- generated columns make the common questions plain SQL. Rows and checkpoints change in one
-- transaction, so a read model is always exactly the log up to its checkpoint.

CREATE TABLE projection_checkpoints
(
    name            text PRIMARY KEY,
    position        bigint      NOT NULL DEFAULT 0 CHECK (position >= 0),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    failed_position bigint,
    failure         text
);

CREATE TABLE identity_status
(
    key      text PRIMARY KEY,
    row      jsonb  NOT NULL,
    position bigint NOT NULL,
    status   text GENERATED ALWAYS AS (row ->> 'status') STORED,
    kind     text GENERATED ALWAYS AS (row ->> 'kind') STORED
);
CREATE INDEX identity_status_by_status ON identity_status (status);

CREATE TABLE accounts
(
    key      text PRIMARY KEY,
    row      jsonb  NOT NULL,
    position bigint NOT NULL,
    owner    text GENERATED ALWAYS AS (row ->> 'owner') STORED,
    status   text GENERATED ALWAYS AS (row ->> 'status') STORED
);
CREATE INDEX accounts_by_owner ON accounts (owner);

CREATE TABLE profiles
(
    key      text PRIMARY KEY,
    row      jsonb  NOT NULL,
    position bigint NOT NULL,
    owner    text GENERATED ALWAYS AS (row ->> 'owner') STORED
);

-- One line per (profile, asset), exact decimals.
CREATE VIEW profile_balances AS
SELECT p.key                              AS profile_id,
       p.owner                            AS owner,
       b.key                              AS asset,
       (b.value ->> 'available')::numeric AS available,
       (b.value ->> 'held')::numeric      AS held
  FROM profiles p,
       jsonb_each(p.row -> 'balances') b;

CREATE TABLE orders
(
    key        text PRIMARY KEY,
    row        jsonb  NOT NULL,
    position   bigint NOT NULL,
    profile_id text GENERATED ALWAYS AS (row ->> 'profile_id') STORED,
    status     text GENERATED ALWAYS AS (row ->> 'status') STORED
);
CREATE INDEX orders_by_profile ON orders (profile_id);

-- The audit trail: one entry per event per identity it concerns.
CREATE TABLE audit_trail
(
    position       bigint      NOT NULL,
    identity_id    uuid        NOT NULL,
    recorded_at    timestamptz NOT NULL,
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    sequence       bigint      NOT NULL,
    event_type     text        NOT NULL,
    actor          text        NOT NULL,
    correlation_id text        NOT NULL,
    causation_id   text        NOT NULL,
    summary        text        NOT NULL,
    PRIMARY KEY (position, identity_id)
);
CREATE INDEX audit_trail_by_identity ON audit_trail (identity_id, position);

-- Which identities each aggregate concerns (the audit projection's own bookkeeping).
CREATE TABLE audit_subjects
(
    aggregate_type text   NOT NULL,
    aggregate_id   text   NOT NULL,
    identity_ids   uuid[] NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
);
