//! Fast event generation: copies of one real flow's events, with fresh ids, written with `COPY`.
//!
//! The template is read back from the `events` table after the ledger wrote it, so generated
//! payloads and metadata are byte for byte what the ledger writes, except that every UUID in
//! them (identity, account, profile, order, correlation and command ids) is replaced by a fresh
//! one per copy, consistently across the copy's events. Generated rows go through the same
//! table, defaults and hash-chain trigger as any append; they decode as real domain events and
//! replay as valid histories.

use onboarding_store::postgres::copy_text;
use serde_json::Value;
use sqlx::postgres::PgPoolCopyExt;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::error::BenchError;
use crate::sql;
use crate::workload::Flow;

/// Copies written per `COPY` statement (each one transaction).
const COPIES_PER_CHUNK: usize = 2_000;

/// A piece of a template field: literal text, or the UUID in slot `n` of a copy.
#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    Slot(usize),
}

/// One event of the template.
#[derive(Debug, Clone)]
struct TemplateRow {
    aggregate_type: String,
    aggregate_id: Vec<Piece>,
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: Vec<Piece>,
    metadata: Vec<Piece>,
    /// As stored, for the raw baseline.
    payload_json: Value,
    metadata_json: Value,
}

/// One event's payload and metadata as the ledger stored them.
#[derive(Debug, Clone)]
pub(crate) struct StoredShape {
    /// The aggregate type.
    pub(crate) aggregate_type: String,
    /// The event type.
    pub(crate) event_type: String,
    /// The event version.
    pub(crate) event_version: String,
    /// The payload.
    pub(crate) payload: Value,
    /// The metadata.
    pub(crate) metadata: Value,
}

impl StoredShape {
    /// Bytes of the payload's JSON text.
    pub(crate) fn payload_bytes(&self) -> usize {
        self.payload.to_string().len()
    }
}

/// The events of one recorded flow, ready to be copied.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    rows: Vec<TemplateRow>,
    /// The distinct UUIDs of the flow; slot `n` of a copy replaces `slots[n]`.
    slots: Vec<String>,
}

impl Template {
    /// Reads the events of `flow` back from the database.
    pub(crate) async fn read(pool: &PgPool, flow: &Flow) -> Result<Self, BenchError> {
        let streams = [
            ("identity", flow.identity.to_string()),
            ("account", flow.opened.account_id.to_string()),
            ("profile", flow.opened.profile_id.to_string()),
        ];
        let types: Vec<&str> = streams.iter().map(|s| s.0).collect();
        let ids: Vec<&str> = streams.iter().map(|s| s.1.as_str()).collect();
        let stored = sqlx::query(sql::TEMPLATE_ROWS)
            .bind(&types)
            .bind(&ids)
            .fetch_all(pool)
            .await?;
        let mut slots = Vec::new();
        let mut rows = Vec::with_capacity(stored.len());
        for r in stored {
            let aggregate_id: String = r.try_get("aggregate_id")?;
            let payload: String = r.try_get("payload")?;
            let metadata: String = r.try_get("metadata")?;
            rows.push(TemplateRow {
                aggregate_type: r.try_get("aggregate_type")?,
                aggregate_id: pieces(&aggregate_id, &mut slots),
                sequence: r.try_get("sequence")?,
                event_type: r.try_get("event_type")?,
                event_version: r.try_get("event_version")?,
                payload: pieces(&payload, &mut slots),
                metadata: pieces(&metadata, &mut slots),
                payload_json: serde_json::from_str(&payload)
                    .map_err(|_| BenchError::Template("a stored payload is not JSON"))?,
                metadata_json: serde_json::from_str(&metadata)
                    .map_err(|_| BenchError::Template("stored metadata is not JSON"))?,
            });
        }
        if rows.is_empty() {
            return Err(BenchError::Template("the flow wrote no events"));
        }
        Ok(Self { rows, slots })
    }

    /// Events per complete copy.
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// How many leading events make a funded profile ready for orders (everything up to and
    /// including the first `ProfileFunded`).
    pub(crate) fn funded_profile_steps(&self) -> Result<usize, BenchError> {
        self.rows
            .iter()
            .position(|r| r.event_type == onboarding_ledger::domain::event_names::PROFILE_FUNDED)
            .map(|i| i + 1)
            .ok_or(BenchError::Template("no ProfileFunded event"))
    }

    /// The slot holding the profile's id.
    pub(crate) fn profile_slot(&self, flow: &Flow) -> Result<usize, BenchError> {
        let id = flow.opened.profile_id.to_string();
        self.slots
            .iter()
            .position(|s| *s == id)
            .ok_or(BenchError::Template("the profile id is not in the events"))
    }

    /// The first stored event of `event_type`.
    pub(crate) fn shape(&self, event_type: &str) -> Result<StoredShape, BenchError> {
        self.rows
            .iter()
            .find(|r| r.event_type == event_type)
            .map(|r| StoredShape {
                aggregate_type: r.aggregate_type.clone(),
                event_type: r.event_type.clone(),
                event_version: r.event_version.clone(),
                payload: r.payload_json.clone(),
                metadata: r.metadata_json.clone(),
            })
            .ok_or(BenchError::Template("an expected event type is missing"))
    }

    /// Writes `events` events: copies of the first `steps` template events (the last copy cut
    /// short if needed), `COPIES_PER_CHUNK` copies per `COPY`. Within a chunk, events go in
    /// step order across copies (every copy's first event, then every copy's second, ...), the
    /// way many customers' onboardings interleave in a live log. Calls `each` with every copy's
    /// UUIDs (by slot).
    pub(crate) async fn generate(
        &self,
        pool: &PgPool,
        steps: usize,
        events: usize,
        mut each: impl FnMut(&[Uuid]),
    ) -> Result<u64, BenchError> {
        let steps = steps.clamp(1, self.rows.len());
        let mut left = events;
        let mut written = 0u64;
        let mut buffer = Vec::new();
        while left > 0 {
            // (the copy's ids, how many of its events to write)
            let mut chunk: Vec<(Vec<Uuid>, usize)> = Vec::with_capacity(COPIES_PER_CHUNK);
            while chunk.len() < COPIES_PER_CHUNK && left > 0 {
                let ids: Vec<Uuid> = self.slots.iter().map(|_| Uuid::now_v7()).collect();
                let n = steps.min(left);
                left -= n;
                each(&ids);
                chunk.push((ids, n));
            }
            buffer.clear();
            for (step, row) in self.rows.iter().take(steps).enumerate() {
                for (ids, n) in &chunk {
                    if step < *n {
                        row.write_copy_line(ids, &mut buffer);
                        written += 1;
                    }
                }
            }
            let mut copy = pool.copy_in_raw(sql::COPY_EVENTS).await?;
            copy.send(buffer.as_slice()).await?;
            copy.finish().await?;
        }
        Ok(written)
    }
}

impl TemplateRow {
    /// One line of `COPY ... FROM STDIN` text format.
    fn write_copy_line(&self, ids: &[Uuid], out: &mut Vec<u8>) {
        copy_text(out, &self.aggregate_type);
        out.push(b'\t');
        copy_pieces(out, &self.aggregate_id, ids);
        out.push(b'\t');
        out.extend_from_slice(self.sequence.to_string().as_bytes());
        out.push(b'\t');
        copy_text(out, &self.event_type);
        out.push(b'\t');
        copy_text(out, &self.event_version);
        out.push(b'\t');
        copy_pieces(out, &self.payload, ids);
        out.push(b'\t');
        copy_pieces(out, &self.metadata, ids);
        out.push(b'\n');
    }
}

fn copy_pieces(out: &mut Vec<u8>, pieces: &[Piece], ids: &[Uuid]) {
    let mut uuid = Uuid::encode_buffer();
    for piece in pieces {
        match piece {
            Piece::Text(text) => copy_text(out, text),
            Piece::Slot(n) => {
                out.extend_from_slice(ids[*n].hyphenated().encode_lower(&mut uuid).as_bytes())
            }
        }
    }
}

/// Splits `text` at every UUID (lower-case, hyphenated, as the ledger writes them), giving each
/// distinct UUID a slot.
fn pieces(text: &str, slots: &mut Vec<String>) -> Vec<Piece> {
    const LEN: usize = 36;
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i + LEN <= bytes.len() {
        if is_uuid(&bytes[i..i + LEN]) {
            if start < i {
                out.push(Piece::Text(text[start..i].to_owned()));
            }
            let uuid = &text[i..i + LEN];
            let slot = slots.iter().position(|s| s == uuid).unwrap_or_else(|| {
                slots.push(uuid.to_owned());
                slots.len() - 1
            });
            out.push(Piece::Slot(slot));
            i += LEN;
            start = i;
        } else {
            i += 1;
        }
    }
    if start < bytes.len() {
        out.push(Piece::Text(text[start..].to_owned()));
    }
    out
}

fn is_uuid(b: &[u8]) -> bool {
    b.iter().enumerate().all(|(i, c)| match i {
        8 | 13 | 18 | 23 => *c == b'-',
        _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_uuid_becomes_a_slot_shared_by_its_occurrences() {
        let a = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
        let b = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c";
        let mut slots = Vec::new();
        let p = pieces(
            &format!(r#"{{"id":"{a}","x":"command:{b}","y":"{a}"}}"#),
            &mut slots,
        );
        assert_eq!(slots, vec![a.to_owned(), b.to_owned()]);
        let ids = [Uuid::from_u128(1), Uuid::from_u128(2)];
        let mut out = Vec::new();
        copy_pieces(&mut out, &p, &ids);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                r#"{{"id":"{}","x":"command:{}","y":"{}"}}"#,
                ids[0], ids[1], ids[0]
            )
        );
    }
}
