//! Tamper evidence: recomputes every stream's hash chain from the stored rows, and a digest of
//! the whole log an auditor can keep outside the database.
//!
//! The database chains each event to its stream's previous one at insert (migration
//! `tamper_evidence`). Verification re-derives every hash in Rust from the stored columns, so a
//! changed payload or metadata, a deleted, reordered or inserted event is found and named, even
//! if whoever changed it also had the power to disable the database's own triggers.

use futures::TryStreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Row};

use crate::error::StoreError;

/// The hash of "no previous event".
const GENESIS: [u8; 32] = [0; 32];

/// Where a chain broke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    /// The stream's aggregate type.
    pub aggregate_type: String,
    /// The stream's aggregate id.
    pub aggregate_id: String,
    /// The first sequence that does not verify.
    pub sequence: i64,
    /// What is wrong there.
    pub reason: BreakReason,
}

/// What is wrong at a break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakReason {
    /// The stored content does not hash to the stored hash: payload, metadata, type, version or
    /// time were changed.
    ContentChanged,
    /// The event does not link to the stream's previous event: one was deleted, reordered or
    /// inserted before it.
    LinkBroken,
    /// The sequence does not follow the previous one: an event is missing.
    SequenceGap,
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.reason {
            BreakReason::ContentChanged => "content does not match its hash",
            BreakReason::LinkBroken => "does not link to the previous event",
            BreakReason::SequenceGap => "follows a missing event",
        };
        write!(
            f,
            "{} {} sequence {}: {what}",
            self.aggregate_type, self.aggregate_id, self.sequence
        )
    }
}

/// The outcome of verifying the whole log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Events checked.
    pub events: u64,
    /// Streams checked.
    pub streams: u64,
    /// The first break found, if any.
    pub first_break: Option<Break>,
    /// The first log position that is missing or whose event is gone, if any.
    pub log_gap: Option<i64>,
    /// The log digest: a hash chained over every sequenced event's hash in log order.
    pub digest: LogDigest,
}

impl Verification {
    /// Whether every chain and the log verified.
    pub fn is_intact(&self) -> bool {
        self.first_break.is_none() && self.log_gap.is_none()
    }
}

/// A digest of the log up to a position; keep it outside the database and check it later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogDigest {
    /// The last position covered.
    pub position: i64,
    /// Hex SHA-256, chained over the hashes of positions 1..=position.
    pub digest: String,
}

impl std::fmt::Display for LogDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.position, self.digest)
    }
}

/// Computes an event's hash from its stored fields, exactly as the database does.
#[allow(clippy::too_many_arguments)]
pub fn event_hash(
    prev: &[u8],
    aggregate_type: &str,
    aggregate_id: &str,
    sequence: i64,
    event_type: &str,
    event_version: &str,
    payload_text: &str,
    metadata_text: &str,
    recorded_at_micros: i64,
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    for text in [aggregate_type, aggregate_id] {
        h.update(len_prefix(text));
        h.update(text.as_bytes());
    }
    h.update(sequence.to_be_bytes());
    for text in [event_type, event_version, payload_text, metadata_text] {
        h.update(len_prefix(text));
        h.update(text.as_bytes());
    }
    h.update(recorded_at_micros.to_be_bytes());
    h.finalize().into()
}

fn len_prefix(text: &str) -> [u8; 4] {
    i32::try_from(text.len()).unwrap_or(i32::MAX).to_be_bytes()
}

/// Recomputes every chain and the log digest (up to `digest_at`, or the head).
pub async fn verify(pool: &PgPool, digest_at: Option<i64>) -> Result<Verification, StoreError> {
    let mut rows = sqlx::query(
        "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version,
                payload::text AS payload, metadata::text AS metadata,
                (extract(epoch FROM recorded_at) * 1000000)::bigint AS recorded_at_micros,
                prev_hash, hash
           FROM events
          ORDER BY aggregate_type, aggregate_id, sequence",
    )
    .fetch(pool);
    let (mut events, mut streams) = (0u64, 0u64);
    let mut first_break = None;
    let mut current: Option<(String, String, i64, Vec<u8>)> = None;
    while let Some(row) = rows.try_next().await? {
        events += 1;
        let aggregate_type: String = row.try_get("aggregate_type")?;
        let aggregate_id: String = row.try_get("aggregate_id")?;
        let sequence: i64 = row.try_get("sequence")?;
        let stored_prev: Option<Vec<u8>> = row.try_get("prev_hash")?;
        let stored_hash: Option<Vec<u8>> = row.try_get("hash")?;
        let same_stream = current
            .as_ref()
            .is_some_and(|(t, i, _, _)| *t == aggregate_type && *i == aggregate_id);
        if !same_stream {
            streams += 1;
        }
        let (expected_sequence, expected_prev) = match (&current, same_stream) {
            (Some((_, _, seq, hash)), true) => (seq + 1, hash.clone()),
            _ => (1, GENESIS.to_vec()),
        };
        let recomputed = event_hash(
            stored_prev.as_deref().unwrap_or_default(),
            &aggregate_type,
            &aggregate_id,
            sequence,
            &row.try_get::<String, _>("event_type")?,
            &row.try_get::<String, _>("event_version")?,
            &row.try_get::<String, _>("payload")?,
            &row.try_get::<String, _>("metadata")?,
            row.try_get("recorded_at_micros")?,
        );
        let reason = if sequence != expected_sequence {
            Some(BreakReason::SequenceGap)
        } else if stored_prev.as_deref() != Some(expected_prev.as_slice()) {
            Some(BreakReason::LinkBroken)
        } else if stored_hash.as_deref() != Some(recomputed.as_slice()) {
            Some(BreakReason::ContentChanged)
        } else {
            None
        };
        if let (Some(reason), None) = (reason, &first_break) {
            first_break = Some(Break {
                aggregate_type: aggregate_type.clone(),
                aggregate_id: aggregate_id.clone(),
                sequence,
                reason,
            });
        }
        // Follow the stored hash, so one broken event is reported once, not as a cascade.
        current = Some((
            aggregate_type,
            aggregate_id,
            sequence,
            stored_hash.unwrap_or_default(),
        ));
    }
    let (digest, log_gap) = digest_and_gap(pool, digest_at).await?;
    Ok(Verification {
        events,
        streams,
        first_break,
        log_gap,
        digest,
    })
}

/// The digest of the sequenced log up to `at` (the head when `None`): `d0 = 32 zero bytes`,
/// `dp = sha256(dp-1 || hash of the event at position p)`.
pub async fn log_digest(pool: &PgPool, at: Option<i64>) -> Result<LogDigest, StoreError> {
    Ok(digest_and_gap(pool, at).await?.0)
}

async fn digest_and_gap(
    pool: &PgPool,
    at: Option<i64>,
) -> Result<(LogDigest, Option<i64>), StoreError> {
    // Everything committed so far gets its position first (waiting out open transactions).
    crate::postgres::PostgresLog::new(pool.clone())
        .sequence_visible(std::time::Duration::from_secs(30))
        .await?;
    let mut rows = sqlx::query(
        "SELECT l.position, e.hash
           FROM event_log l LEFT JOIN events e ON e.event_id = l.event_id
          WHERE $1::bigint IS NULL OR l.position <= $1
          ORDER BY l.position",
    )
    .bind(at)
    .fetch(pool);
    let mut digest = GENESIS;
    let mut position = 0;
    let mut gap = None;
    while let Some(row) = rows.try_next().await? {
        let next: i64 = row.try_get("position")?;
        let hash: Option<Vec<u8>> = row.try_get("hash")?;
        if gap.is_none() && (next != position + 1 || hash.is_none()) {
            gap = Some(if next != position + 1 {
                position + 1
            } else {
                next
            });
        }
        position = next;
        let mut h = Sha256::new();
        h.update(digest);
        h.update(hash.unwrap_or_default());
        digest = h.finalize().into();
    }
    let digest = LogDigest {
        position,
        digest: hex::encode(digest),
    };
    Ok((digest, gap))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::event_hash;

    type Fields = (String, String, i64, String, String, String, String, i64);

    fn hash(prev: &[u8], f: &Fields) -> [u8; 32] {
        event_hash(prev, &f.0, &f.1, f.2, &f.3, &f.4, &f.5, &f.6, f.7)
    }

    fn fields() -> impl Strategy<Value = Fields> {
        (
            ".{0,12}",
            ".{0,12}",
            any::<i64>(),
            ".{0,12}",
            ".{0,6}",
            ".{0,40}",
            ".{0,40}",
            any::<i64>(),
        )
    }

    proptest! {
        #[test]
        fn the_hash_is_deterministic(f in fields(), prev in prop::collection::vec(any::<u8>(), 32)) {
            prop_assert_eq!(hash(&prev, &f), hash(&prev, &f));
        }

        #[test]
        fn changing_any_field_or_the_link_changes_the_hash(
            f in fields(),
            g in fields(),
            prev in prop::collection::vec(any::<u8>(), 32),
            other in prop::collection::vec(any::<u8>(), 32),
        ) {
            prop_assume!(f != g);
            prop_assert_ne!(hash(&prev, &f), hash(&prev, &g));
            prop_assume!(prev != other);
            prop_assert_ne!(hash(&prev, &f), hash(&other, &f));
        }

        #[test]
        fn moving_text_between_adjacent_fields_changes_the_hash(a in ".{0,10}", b in ".{1,10}") {
            // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
            let joined: Fields = (format!("{a}{b}"), String::new(), 1, "T".into(), "1".into(), "{}".into(), "{}".into(), 0);
            let split: Fields = (a.clone(), b.clone(), 1, "T".into(), "1".into(), "{}".into(), "{}".into(), 0);
            prop_assert_ne!(hash(&[0; 32], &joined), hash(&[0; 32], &split));
        }
    }
}
