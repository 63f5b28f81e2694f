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

use std::sync::LazyLock;

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
/// and may be taken over. (The statement looks for the holder's events in its own snapshot; a
/// holder whose first event commits while the statement runs, a full minute after its claim,
/// is the one case it could miss, and only on that stock path.)
pub(crate) const ORPHAN_AFTER_SECONDS: f64 = 60.0;

/// The parts of the statement an append needs: the claim, the key and the snapshot CTEs are
/// left out when there is nothing to write (an order needs none of them), which spares the
/// server from opening those tables and their indexes.
#[derive(Debug, Clone, Copy)]
struct Parts {
    claim: bool,
    key: bool,
    snapshot: bool,
}

impl Parts {
    fn index(self) -> usize {
        usize::from(self.claim) | usize::from(self.key) << 1 | usize::from(self.snapshot) << 2
    }

    /// The statement for these parts. Its leading comment names it in `pg_stat_activity`, which
    /// cuts long query texts short. `$1`–`$10` are always bound (aggregate, events, reads); the
    /// claim's, the key's and the snapshot's parameters follow in that order, when present.
    fn statement(self) -> String {
        let mut sql = String::from(
            "-- ledger append: events with their claim, key and snapshot
WITH fresh AS (
    SELECT consulted_unchanged($1, $2, $8::text[], $9::text[], $10::bigint[]) AS ok
)",
        );
        let mut next = 11;
        let mut params = |n: usize| {
            let first = next;
            next += n;
            first
        };
        if self.claim {
            let p = params(3);
            sql.push_str(&format!(
                ",
claim AS (
    INSERT INTO cip_claims AS c (fingerprint, identity_id)
    SELECT ${p}::bytea, ${q}::uuid FROM fresh WHERE fresh.ok
    ON CONFLICT (fingerprint) DO UPDATE
       SET claimed_at = now(),
           identity_id = CASE
               WHEN c.identity_id = EXCLUDED.identity_id
                 OR (c.claimed_at < now() - make_interval(secs => ${r}::float8)
                     AND NOT EXISTS (SELECT 1 FROM events e
                                      WHERE e.aggregate_type = 'identity'
                                        AND e.aggregate_id = c.identity_id::text))
               THEN EXCLUDED.identity_id
               END
)",
                q = p + 1,
                r = p + 2
            ));
        }
        if self.key {
            let p = params(2);
            sql.push_str(&format!(
                ",
data_key AS (
    INSERT INTO identity_keys AS k (identity_id, wrapped_key)
    SELECT ${p}::uuid, ${q}::bytea FROM fresh WHERE fresh.ok
    ON CONFLICT (identity_id) DO UPDATE SET wrapped_key = EXCLUDED.wrapped_key, created_at = now()
)",
                q = p + 1
            ));
        }
        if self.snapshot {
            let p = params(3);
            sql.push_str(&format!(
                ",
snapshot AS (
    INSERT INTO snapshots AS s (aggregate_type, aggregate_id, last_sequence, current_snapshot, payload)
    SELECT $1, $2, ${p}::bigint, ${q}::bigint, ${r}::jsonb FROM fresh WHERE fresh.ok
    ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE
       SET last_sequence = EXCLUDED.last_sequence,
           current_snapshot = EXCLUDED.current_snapshot,
           payload = EXCLUDED.payload
     WHERE s.last_sequence < EXCLUDED.last_sequence
)",
                q = p + 1,
                r = p + 2
            ));
        }
        sql.push_str(
            "
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
SELECT $1, $2, u.sequence, u.event_type, u.event_version, u.payload, u.metadata
  FROM fresh,
       unnest($3::bigint[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[])
           AS u(sequence, event_type, event_version, payload, metadata)
 WHERE fresh.ok
 ORDER BY u.sequence",
        );
        sql
    }
}

/// Every variant of the statement, by [`Parts::index`].
static STATEMENTS: LazyLock<Vec<String>> = LazyLock::new(|| {
    (0..8)
        .map(|i| {
            Parts {
                claim: i & 1 != 0,
                key: i & 2 != 0,
                snapshot: i & 4 != 0,
            }
            .statement()
        })
        .collect()
});

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
    let parts = Parts {
        claim: claim.is_some(),
        key: key.is_some(),
        snapshot: batch.snapshot.is_some(),
    };
    let mut query = sqlx::query(&STATEMENTS[parts.index()])
        .bind(aggregate_type)
        .bind(&batch.aggregate_id)
        .bind(sequences)
        .bind(types)
        .bind(versions)
        .bind(payloads)
        .bind(metadata)
        .bind(read_types)
        .bind(read_ids)
        .bind(read_sequences);
    if let Some(claim) = claim {
        query = query
            .bind(claim.fingerprint.as_slice())
            .bind(claim.identity.as_uuid())
            .bind(ORPHAN_AFTER_SECONDS);
    }
    if let Some((identity, wrapped)) = &key {
        query = query.bind(identity.as_uuid()).bind(wrapped.as_slice());
    }
    if let Some(snapshot) = &batch.snapshot {
        query = query
            .bind(seq(snapshot.last_sequence))
            .bind(seq(snapshot.number))
            .bind(&snapshot.payload);
    }
    let result = query.execute(pool).await;
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

#[cfg(test)]
mod tests {
    use sqlx::{Either, Executor};

    use super::*;

    #[sqlx::test(migrator = "crate::postgres::MIGRATOR")]
    async fn every_variant_of_the_statement_is_valid_with_its_parameters_in_order(pool: PgPool) {
        for (i, sql) in STATEMENTS.iter().enumerate() {
            let described = (&pool)
                .describe(sql)
                .await
                .unwrap_or_else(|e| panic!("variant {i} does not prepare: {e}"));
            let parameters = match described.parameters() {
                Some(Either::Left(types)) => types.len(),
                Some(Either::Right(n)) => n,
                None => 0,
            };
            let expected = 10 + 3 * (i & 1) + 2 * (i >> 1 & 1) + 3 * (i >> 2 & 1);
            assert_eq!(parameters, expected, "variant {i}");
        }
    }
}
