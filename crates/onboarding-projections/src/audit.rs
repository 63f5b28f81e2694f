//! The audit trail: one entry per event per identity it concerns, with position, time, actor,
//! correlation, causation and a one-line summary without personal data.
//!
//! An identity's events concern that identity; an institution's submission also concerns each
//! member it names; an account's events concern its owner and members; a profile's events concern
//! its account's owner and members. The projection keeps that mapping (`audit_subjects`) itself.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use onboarding_domain::{event_names, AccountEvent, IdentityEvent, IdentityId, ProfileEvent};
use onboarding_store::postgres::copy_text;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::error::ProjectionError;
use crate::event::{DomainEvent, ProjectedEvent};
use crate::projection::Projection;

/// The name of the audit projection.
pub const AUDIT: &str = "audit_trail";

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The event's log position.
    pub position: i64,
    /// When the event was committed.
    pub recorded_at: DateTime<Utc>,
    /// The identity this entry is about.
    pub identity_id: IdentityId,
    /// The aggregate type.
    pub aggregate_type: String,
    /// The aggregate id.
    pub aggregate_id: String,
    /// The event's place in its aggregate.
    pub sequence: i64,
    /// The event type.
    pub event_type: String,
    /// Who.
    pub actor: String,
    /// The business flow.
    pub correlation_id: String,
    /// The cause.
    pub causation_id: String,
    /// What happened, without personal data.
    pub summary: String,
    /// The event's hash in its stream's chain (hex), to check an export against the log.
    pub event_hash: Option<String>,
}

type AggregateKey = (String, String);

/// The mapping from aggregates to the identities they concern, as far as a batch needs it.
#[derive(Debug, Default)]
pub(crate) struct Subjects(HashMap<AggregateKey, Vec<IdentityId>>);

/// The aggregates whose subjects a batch needs from storage (accounts and profiles it does not
/// open itself, and the accounts of profiles it opens).
pub(crate) fn lookups(batch: &[ProjectedEvent]) -> Vec<AggregateKey> {
    let mut keys = Vec::new();
    for e in batch {
        match &e.event {
            DomainEvent::Account(AccountEvent::AccountOpened(_))
            | DomainEvent::Identity(_)
            | DomainEvent::Other => {}
            DomainEvent::Profile(ProfileEvent::ProfileOpened { account_id, .. }) => {
                keys.push((event_names::ACCOUNT.to_owned(), account_id.to_string()));
            }
            DomainEvent::Account(_) | DomainEvent::Profile(_) => {
                keys.push((
                    e.record.aggregate_type.clone(),
                    e.record.aggregate_id.clone(),
                ));
            }
        }
    }
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// A new mapping from an aggregate to the identities it concerns.
type NewSubject = (AggregateKey, Vec<IdentityId>);

/// Computes the entries of a batch and the subject mappings it creates. `known` holds the
/// stored mappings for [`lookups`]`(batch)`.
pub(crate) fn plan(
    batch: &[ProjectedEvent],
    known: Subjects,
) -> Result<(Vec<NewSubject>, Vec<AuditEntry>), ProjectionError> {
    let mut subjects = known.0;
    let mut created = Vec::new();
    let mut entries = Vec::new();
    for e in batch {
        let key = (
            e.record.aggregate_type.clone(),
            e.record.aggregate_id.clone(),
        );
        let fail = |message: String| ProjectionError::Apply {
            position: e.position(),
            message,
        };
        let concerned: Vec<IdentityId> = match &e.event {
            DomainEvent::Other => Vec::new(),
            DomainEvent::Identity(event) => {
                let id = e
                    .aggregate_id()
                    .parse::<IdentityId>()
                    .map_err(|err| fail(err.to_string()))?;
                let mut ids = vec![id];
                if let IdentityEvent::IdentitySubmitted { submission, .. } = event {
                    ids.extend(submission.members().iter().map(|m| m.identity_id));
                }
                ids
            }
            DomainEvent::Account(AccountEvent::AccountOpened(o)) => {
                let mut ids = vec![o.owner];
                ids.extend(o.members.iter().map(|m| m.identity_id));
                subjects.insert(key.clone(), ids.clone());
                created.push((key.clone(), ids.clone()));
                ids
            }
            DomainEvent::Profile(ProfileEvent::ProfileOpened {
                account_id, owner, ..
            }) => {
                let account = (event_names::ACCOUNT.to_owned(), account_id.to_string());
                let ids = subjects
                    .get(&account)
                    .cloned()
                    .unwrap_or_else(|| vec![*owner]);
                subjects.insert(key.clone(), ids.clone());
                created.push((key.clone(), ids.clone()));
                ids
            }
            DomainEvent::Account(_) | DomainEvent::Profile(_) => {
                subjects.get(&key).cloned().ok_or_else(|| {
                    fail(format!(
                        "{} {} has no opening event before it",
                        key.0, key.1
                    ))
                })?
            }
        };
        let summary = e.summary();
        let mut seen = Vec::with_capacity(concerned.len());
        for identity_id in concerned {
            if seen.contains(&identity_id) {
                continue;
            }
            seen.push(identity_id);
            entries.push(AuditEntry {
                position: e.record.position,
                recorded_at: e.record.recorded_at,
                identity_id,
                aggregate_type: e.record.aggregate_type.clone(),
                aggregate_id: e.record.aggregate_id.clone(),
                sequence: e.record.sequence,
                event_type: e.record.event_type.clone(),
                actor: e.record.metadata.actor.clone(),
                correlation_id: e.record.metadata.correlation_id.clone(),
                causation_id: e.record.metadata.causation_id.clone(),
                summary: summary.clone(),
                event_hash: e.record.hash.clone(),
            });
        }
    }
    Ok((created, entries))
}

/// The audit trail in memory (embedded store).
#[derive(Debug, Default)]
pub struct MemoryAudit {
    subjects: HashMap<AggregateKey, Vec<IdentityId>>,
    entries: Vec<AuditEntry>,
}

impl MemoryAudit {
    /// Applies a batch.
    pub fn apply(&mut self, batch: &[ProjectedEvent]) -> Result<(), ProjectionError> {
        let known = lookups(batch)
            .into_iter()
            .filter_map(|k| self.subjects.get(&k).cloned().map(|v| (k, v)))
            .collect();
        let (created, entries) = plan(batch, Subjects(known))?;
        self.subjects.extend(created);
        self.entries.extend(entries);
        Ok(())
    }

    /// Every entry, in log order.
    pub fn entries(&self) -> &[AuditEntry] {
        &self.entries
    }
}

/// The audit trail in PostgreSQL (`audit_trail`, `audit_subjects`).
#[derive(Debug, Default, Clone, Copy)]
pub struct AuditTrail;

#[async_trait]
impl Projection for AuditTrail {
    fn name(&self) -> &str {
        AUDIT
    }

    async fn apply(
        &self,
        batch: &[ProjectedEvent],
        tx: &mut PgConnection,
    ) -> Result<(), ProjectionError> {
        let needed = lookups(batch);
        let mut known = HashMap::new();
        if !needed.is_empty() {
            let (types, ids): (Vec<String>, Vec<String>) = needed.into_iter().unzip();
            let rows = sqlx::query(
                "SELECT s.aggregate_type, s.aggregate_id, s.identity_ids
                   FROM audit_subjects s
                   JOIN UNNEST($1::text[], $2::text[]) AS k(t, i)
                     ON s.aggregate_type = k.t AND s.aggregate_id = k.i",
            )
            .bind(&types)
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await?;
            for r in rows {
                let ids: Vec<Uuid> = r.try_get("identity_ids")?;
                known.insert(
                    (r.try_get("aggregate_type")?, r.try_get("aggregate_id")?),
                    ids.into_iter().map(IdentityId::from_uuid).collect(),
                );
            }
        }
        let (created, entries) = plan(batch, Subjects(known))?;
        insert_subjects(tx, created).await?;
        insert_entries(tx, &entries).await
    }

    async fn reset(&self, tx: &mut PgConnection) -> Result<(), ProjectionError> {
        sqlx::query("DELETE FROM audit_trail")
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM audit_subjects")
            .execute(&mut *tx)
            .await?;
        Ok(())
    }
}

/// Stores a batch's new subject mappings in one statement (the last mapping of an aggregate
/// wins, as one statement may not change a row twice).
async fn insert_subjects(
    tx: &mut PgConnection,
    created: Vec<NewSubject>,
) -> Result<(), ProjectionError> {
    if created.is_empty() {
        return Ok(());
    }
    let mut latest: HashMap<AggregateKey, Vec<IdentityId>> = HashMap::with_capacity(created.len());
    latest.extend(created);
    let (mut types, mut ids, mut identities) = (Vec::new(), Vec::new(), Vec::new());
    for ((aggregate_type, aggregate_id), subjects) in latest {
        types.push(aggregate_type);
        ids.push(aggregate_id);
        // An array literal per row: UNNEST cannot take an array of arrays of different lengths.
        let list: Vec<String> = subjects.iter().map(|s| s.as_uuid().to_string()).collect();
        identities.push(format!("{{{}}}", list.join(",")));
    }
    sqlx::query(
        "INSERT INTO audit_subjects (aggregate_type, aggregate_id, identity_ids)
         SELECT t, i, s::uuid[] FROM UNNEST($1::text[], $2::text[], $3::text[]) AS u(t, i, s)
         ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET identity_ids = EXCLUDED.identity_ids",
    )
    .bind(&types)
    .bind(&ids)
    .bind(&identities)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Appends a batch's entries with `COPY ... FROM STDIN` (text format): the server's bulk path,
/// cheaper per row than an `INSERT`, inside the batch's transaction like any other write.
async fn insert_entries(
    tx: &mut PgConnection,
    entries: &[AuditEntry],
) -> Result<(), ProjectionError> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut data = Vec::with_capacity(entries.len() * 320);
    for e in entries {
        copy_line(&mut data, e);
    }
    let mut copy = tx
        .copy_in_raw(
            "COPY audit_trail (position, identity_id, recorded_at, aggregate_type, aggregate_id,
                               sequence, event_type, actor, correlation_id, causation_id, summary,
                               event_hash) FROM STDIN",
        )
        .await?;
    if let Err(e) = copy.send(data).await {
        // Best effort: the batch's transaction is rolled back anyway.
        let _ = copy.abort("the audit entries could not be sent").await;
        return Err(e.into());
    }
    copy.finish().await?;
    Ok(())
}

/// One entry as a line of `COPY` text.
fn copy_line(out: &mut Vec<u8>, e: &AuditEntry) {
    use std::io::Write;
    // Writing to a Vec cannot fail.
    let _ = write!(
        out,
        "{}\t{}\t{}\t",
        e.position,
        e.identity_id.as_uuid(),
        e.recorded_at
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    );
    for text in [&e.aggregate_type, &e.aggregate_id] {
        copy_text(out, text);
        out.push(b'\t');
    }
    let _ = write!(out, "{}\t", e.sequence);
    for text in [
        &e.event_type,
        &e.actor,
        &e.correlation_id,
        &e.causation_id,
        &e.summary,
    ] {
        copy_text(out, text);
        out.push(b'\t');
    }
    match &e.event_hash {
        Some(hash) => copy_text(out, hash),
        None => out.extend_from_slice(b"\\N"),
    }
    out.push(b'\n');
}

/// Reads an identity's audit trail (all identities when `identity` is `None`) up to `as_of`, in
/// log order.
pub async fn load_trail(
    pool: &sqlx::PgPool,
    identity: Option<IdentityId>,
    as_of: Option<DateTime<Utc>>,
) -> Result<Vec<AuditEntry>, ProjectionError> {
    let rows = sqlx::query(
        "SELECT position, recorded_at, identity_id, aggregate_type, aggregate_id, sequence,
                event_type, actor, correlation_id, causation_id, summary, event_hash
           FROM audit_trail
          WHERE ($1::uuid IS NULL OR identity_id = $1)
            AND ($2::timestamptz IS NULL OR recorded_at <= $2)
          ORDER BY position, identity_id",
    )
    .bind(identity.map(|i| i.as_uuid()))
    .bind(as_of)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(AuditEntry {
                position: r.try_get("position")?,
                recorded_at: r.try_get("recorded_at")?,
                identity_id: IdentityId::from_uuid(r.try_get("identity_id")?),
                aggregate_type: r.try_get("aggregate_type")?,
                aggregate_id: r.try_get("aggregate_id")?,
                sequence: r.try_get("sequence")?,
                event_type: r.try_get("event_type")?,
                actor: r.try_get("actor")?,
                correlation_id: r.try_get("correlation_id")?,
                causation_id: r.try_get("causation_id")?,
                summary: r.try_get("summary")?,
                event_hash: r.try_get("event_hash")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(ProjectionError::from)
}
