//! The ledger's append path on Postgres: a command's events, and everything that must hold
//! with them, in one autocommitted statement.
//!
//! The stock `postgres-es` repository appends in a transaction (`BEGIN`, one `INSERT` per event,
//! `COMMIT`) after the `cip_id` claim and the identity's data key were committed on their own.
//! [`append`] writes exactly the same `events` and `snapshots` rows, and the claim and the key
//! with them, in a single statement of data-modifying CTEs: one round trip and one commit per
//! command, and nothing of a refused append stays behind. Stock readers and writers keep working
//! on the same tables: the primary key `(aggregate_type, aggregate_id, sequence)` still decides
//! every race, and the chain trigger still hashes each row.
//!
//! What the statement checks, all or nothing:
//! - **the next sequence is free**: else [`StoreError::Conflict`];
//! - **every other aggregate the decision read is still at the version it read** (the
//!   [`Consulted`] reads), checked by `consulted_unchanged()` under advisory locks so that a
//!   ledger append to a read aggregate committing meanwhile is seen (see the migration
//!   `20261122000007_consulted_facts.sql`): else nothing is written and
//!   [`StoreError::StaleRead`];
//! - **the `cip_id` claim is free, or already this identity's, or an orphan**: a claim held by
//!   another identity is updated to `NULL`, which the column's `NOT NULL` refuses, so the whole
//!   statement fails with [`StoreError::CipClaimLost`];
//! - **the identity was not forgotten**: an erased key row refuses a new key (its `CHECK`), and
//!   the statement fails with [`StoreError::PersonalDataErased`].

use cqrs_es::persist::SerializedEvent;
use serde_json::Value;
use sqlx::PgPool;

use crate::error::StoreError;
use crate::scope::Consulted;
use crate::vault::Sealed;

/// A snapshot written with an append.
#[derive(Debug, Clone)]
pub struct SnapshotUpdate {
    /// The aggregate's state after the appended events.
    pub payload: Value,
    /// The sequence of the last appended event.
    pub last_sequence: usize,
    /// The snapshot's number (1 for the first).
    pub number: usize,
}

/// One command's append.
#[derive(Clone)]
pub struct Batch {
    /// The aggregate's id.
    pub aggregate_id: String,
    /// Its new events, in sequence order, personal data still in clear.
    pub events: Vec<SerializedEvent>,
    /// A snapshot to store with them.
    pub snapshot: Option<SnapshotUpdate>,
    /// What the decision consulted outside its aggregate.
    pub consulted: Consulted,
}

impl std::fmt::Debug for Batch {
    /// Never the events' payloads: a submission's personal data is still in clear here.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("aggregate_id", &self.aggregate_id)
            .field(
                "events",
                &self
                    .events
                    .iter()
                    .map(|e| &e.event_type)
                    .collect::<Vec<_>>(),
            )
            .field("snapshot", &self.snapshot.as_ref().map(|s| s.last_sequence))
            .field("consulted", &self.consulted)
            .finish()
    }
}

/// A claim whose identity never got its first event for this long is an orphan (written by a
/// process that claimed and then died before appending, on the stock claim-then-append path)
/// and may be taken over.
pub(crate) const ORPHAN_AFTER_SECONDS: f64 = 60.0;

/// The statement. Its leading comment names it in `pg_stat_activity`, which cuts long query
/// texts short.
const APPEND: &str = "-- ledger append: events with their claim, key and snapshot
WITH fresh AS (
    SELECT consulted_unchanged($1, $2, $8::text[], $9::text[], $10::bigint[]) AS ok
),
claim AS (
    INSERT INTO cip_claims AS c (fingerprint, identity_id)
    SELECT $13, $14 FROM fresh WHERE fresh.ok AND $13::bytea IS NOT NULL
    ON CONFLICT (fingerprint) DO UPDATE
       SET claimed_at = now(),
           identity_id = CASE
               WHEN c.identity_id = EXCLUDED.identity_id
                 OR (c.claimed_at < now() - make_interval(secs => $15)
                     AND NOT EXISTS (SELECT 1 FROM events e
                                      WHERE e.aggregate_type = 'identity'
                                        AND e.aggregate_id = c.identity_id::text))
               THEN EXCLUDED.identity_id
               END
),
data_key AS (
    INSERT INTO identity_keys AS k (identity_id, wrapped_key)
    SELECT $11, $12 FROM fresh WHERE fresh.ok AND $11::uuid IS NOT NULL
    ON CONFLICT (identity_id) DO UPDATE SET wrapped_key = EXCLUDED.wrapped_key, created_at = now()
),
snapshot AS (
    INSERT INTO snapshots AS s (aggregate_type, aggregate_id, last_sequence, current_snapshot, payload)
    SELECT $1, $2, $16, $17, $18 FROM fresh WHERE fresh.ok AND $18::jsonb IS NOT NULL
    ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE
       SET last_sequence = EXCLUDED.last_sequence,
           current_snapshot = EXCLUDED.current_snapshot,
           payload = EXCLUDED.payload
     WHERE s.last_sequence < EXCLUDED.last_sequence
)
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
SELECT $1, $2, u.sequence, u.event_type, u.event_version, u.payload, u.metadata
  FROM fresh,
       unnest($3::bigint[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[])
           AS u(sequence, event_type, event_version, payload, metadata)
 WHERE fresh.ok
 ORDER BY u.sequence";

fn seq(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Appends `batch` of aggregate type `aggregate_type`, whose events `sealed` holds with their
/// personal data sealed (and the fresh data key, when one was made).
pub(crate) async fn append(
    pool: &PgPool,
    aggregate_type: &str,
    batch: &Batch,
    sealed: Sealed,
) -> Result<(), StoreError> {
    let Sealed { events, key } = sealed;
    let n = events.len();
    let (mut sequences, mut types, mut versions, mut payloads, mut metadata) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for e in events {
        sequences.push(seq(e.sequence));
        types.push(e.event_type);
        versions.push(e.event_version);
        payloads.push(e.payload);
        metadata.push(e.metadata);
    }
    let reads = &batch.consulted.reads;
    let read_types: Vec<&str> = reads.iter().map(|r| r.aggregate_type).collect();
    let read_ids: Vec<&str> = reads.iter().map(|r| r.aggregate_id.as_str()).collect();
    let read_sequences: Vec<i64> = reads.iter().map(|r| seq(r.sequence)).collect();
    let claim = batch.consulted.claim.as_ref();
    let key_identity = key.as_ref().map(|(identity, _)| *identity);
    let result = sqlx::query(APPEND)
        .bind(aggregate_type)
        .bind(&batch.aggregate_id)
        .bind(sequences)
        .bind(types)
        .bind(versions)
        .bind(payloads)
        .bind(metadata)
        .bind(read_types)
        .bind(read_ids)
        .bind(read_sequences)
        .bind(key_identity.map(|i| i.as_uuid()))
        .bind(key.as_ref().map(|(_, wrapped)| wrapped.as_slice()))
        .bind(claim.map(|c| c.fingerprint.as_slice()))
        .bind(claim.map(|c| c.identity.as_uuid()))
        .bind(ORPHAN_AFTER_SECONDS)
        .bind(batch.snapshot.as_ref().map(|s| seq(s.last_sequence)))
        .bind(batch.snapshot.as_ref().map(|s| seq(s.number)))
        .bind(batch.snapshot.as_ref().map(|s| &s.payload))
        .execute(pool)
        .await;
    match result {
        Ok(done) if done.rows_affected() == 0 && n > 0 => Err(StoreError::StaleRead),
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(db)) => Err(match (db.code().as_deref(), db.table()) {
            // Another writer took the next sequence (primary key), or the chain trigger found no
            // predecessor (the state decided on was ahead of the store): either way, the
            // aggregate is not where the decision thought it was.
            (Some("23505" | "23503"), Some("events") | None) => StoreError::Conflict,
            (Some("23502"), Some("cip_claims")) => StoreError::CipClaimLost,
            // Two appends each read the other's aggregate (no command does today): one is
            // chosen to give way, and decides again.
            (Some("40P01"), _) => StoreError::StaleRead,
            (Some("23514"), Some("identity_keys")) => match key_identity {
                Some(identity) => StoreError::PersonalDataErased(identity),
                None => StoreError::Database(db.message().to_owned()),
            },
            _ => StoreError::from(sqlx::Error::Database(db)),
        }),
        Err(e) => Err(StoreError::from(e)),
    }
}
