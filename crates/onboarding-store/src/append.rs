//! The ledger's append path on Postgres: a command's events, and everything that must hold
//! with them, in one autocommitted statement.
//!
//! The stock `postgres-es` repository appends in a transaction (`BEGIN`, one `INSERT` per event,
//! `COMMIT`) after the `cip_id` claim and the identity's data key were committed on their own.
//! The ledger writes exactly the same `events` and `snapshots` rows, and the claim and the key
//! with them, in a single statement of data-modifying CTEs: one round trip and one commit per
//! command (or per group of commands appending at the same moment, see `Grouper`), and nothing
//! of a refused append stays behind. Stock readers and writers keep working
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
//!
//! An `IdentityForgotten` event is stored with the erasure itself: the same statement destroys
//! the identity's data key and releases its `cip_id` claim, so no crash can leave an identity
//! recorded as forgotten whose personal data still opens.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use cqrs_es::persist::SerializedEvent;
use futures::StreamExt;
use onboarding_domain::{event_names, IdentityId};
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot, Semaphore};

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

/// The parts of the statement a group of appends (often of one) needs: the claim, the key, the
/// erasure and the snapshot CTEs are left out when there is nothing to write (an order needs
/// none of them), which spares the server from opening those tables and their indexes.
#[derive(Debug, Clone, Copy)]
struct Parts {
    claim: bool,
    key: bool,
    snapshot: bool,
    erase: bool,
}

impl Parts {
    /// What `group` writes besides its events.
    fn of(group: &[&Prepared]) -> Self {
        Self {
            claim: group.iter().any(|p| p.claim.is_some()),
            key: group.iter().any(|p| p.key.is_some()),
            snapshot: group.iter().any(|p| p.snapshot.is_some()),
            erase: group.iter().any(|p| p.erase.is_some()),
        }
    }

    fn index(self) -> usize {
        usize::from(self.claim)
            | usize::from(self.key) << 1
            | usize::from(self.snapshot) << 2
            | usize::from(self.erase) << 3
    }

    /// The statement for these parts. Its leading comment names it in `pg_stat_activity`, which
    /// cuts long query texts short. Every parameter is an array holding the rows of all the
    /// appends of the group: `$1`–`$5` the streams written and read (for the check), `$6`–`$12`
    /// the events; the claims', the keys', the snapshots' and the erasures' parameters follow in
    /// that order, when present.
    fn statement(self) -> String {
        let mut sql = String::from(
            "-- ledger append: events with their claims, keys and snapshots
WITH fresh AS (
    SELECT consulted_unchanged($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[]) AS ok
)",
        );
        let mut next = 13;
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
    SELECT u.fingerprint, u.identity_id
      FROM fresh, unnest(${p}::bytea[], ${q}::uuid[]) AS u(fingerprint, identity_id)
     WHERE fresh.ok
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
    SELECT u.identity_id, u.wrapped_key
      FROM fresh, unnest(${p}::uuid[], ${q}::bytea[]) AS u(identity_id, wrapped_key)
     WHERE fresh.ok
    ON CONFLICT (identity_id) DO UPDATE SET wrapped_key = EXCLUDED.wrapped_key, created_at = now()
)",
                q = p + 1
            ));
        }
        if self.snapshot {
            let p = params(5);
            sql.push_str(&format!(
                ",
snapshot AS (
    INSERT INTO snapshots AS s (aggregate_type, aggregate_id, last_sequence, current_snapshot, payload)
    SELECT u.*
      FROM fresh, unnest(${p}::text[], ${q}::text[], ${r}::bigint[], ${t}::bigint[], ${v}::jsonb[])
                  AS u(aggregate_type, aggregate_id, last_sequence, current_snapshot, payload)
     WHERE fresh.ok
    ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE
       SET last_sequence = EXCLUDED.last_sequence,
           current_snapshot = EXCLUDED.current_snapshot,
           payload = EXCLUDED.payload
     WHERE s.last_sequence < EXCLUDED.last_sequence
)",
                q = p + 1,
                r = p + 2,
                t = p + 3,
                v = p + 4
            ));
        }
        if self.erase {
            let p = params(1);
            sql.push_str(&format!(
                ",
erased_key AS (
    INSERT INTO identity_keys AS k (identity_id, wrapped_key, erased_at)
    SELECT u.identity_id, NULL, now()
      FROM fresh, unnest(${p}::uuid[]) AS u(identity_id)
     WHERE fresh.ok
    ON CONFLICT (identity_id) DO UPDATE SET wrapped_key = NULL, erased_at = coalesce(k.erased_at, now())
),
released_claim AS (
    DELETE FROM cip_claims c
     USING fresh
     WHERE fresh.ok AND c.identity_id = ANY(${p}::uuid[])
)"
            ));
        }
        sql.push_str(
            "
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
SELECT u.*
  FROM fresh,
       unnest($6::text[], $7::text[], $8::bigint[], $9::text[], $10::text[], $11::jsonb[], $12::jsonb[])
           AS u(aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
 WHERE fresh.ok
 ORDER BY u.aggregate_type, u.aggregate_id, u.sequence",
        );
        sql
    }
}

/// Every variant of the statement, by [`Parts::index`].
static STATEMENTS: LazyLock<Vec<String>> = LazyLock::new(|| {
    (0..16)
        .map(|i| {
            Parts {
                claim: i & 1 != 0,
                key: i & 2 != 0,
                snapshot: i & 4 != 0,
                erase: i & 8 != 0,
            }
            .statement()
        })
        .collect()
});

fn seq(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// One command's append, as the statements bind it.
pub(crate) struct Prepared {
    aggregate_type: &'static str,
    aggregate_id: String,
    sequences: Vec<i64>,
    event_types: Vec<String>,
    versions: Vec<String>,
    payloads: Vec<Value>,
    metadata: Vec<Value>,
    read_types: Vec<&'static str>,
    read_ids: Vec<String>,
    read_sequences: Vec<i64>,
    claim: Option<(Vec<u8>, uuid::Uuid)>,
    key: Option<(IdentityId, Vec<u8>)>,
    snapshot: Option<(i64, i64, Value)>,
    /// The identity whose key this append destroys and whose claim it releases (its events
    /// include `IdentityForgotten`).
    erase: Option<uuid::Uuid>,
}

impl Prepared {
    /// `batch` of aggregate type `aggregate_type`, whose events `sealed` holds with their
    /// personal data sealed (and the fresh data key, when one was made).
    ///
    /// Fails when an erasure's aggregate id is not an identity id.
    pub(crate) fn new(
        aggregate_type: &'static str,
        batch: &Batch,
        sealed: Sealed,
    ) -> Result<Self, StoreError> {
        let Sealed { events, key } = sealed;
        let erase = forgotten_identity(aggregate_type, batch)?;
        let n = events.len();
        let mut p = Self {
            aggregate_type,
            aggregate_id: batch.aggregate_id.clone(),
            sequences: Vec::with_capacity(n),
            event_types: Vec::with_capacity(n),
            versions: Vec::with_capacity(n),
            payloads: Vec::with_capacity(n),
            metadata: Vec::with_capacity(n),
            read_types: batch
                .consulted
                .reads
                .iter()
                .map(|r| r.aggregate_type)
                .collect(),
            read_ids: (batch.consulted.reads.iter())
                .map(|r| r.aggregate_id.clone())
                .collect(),
            read_sequences: (batch.consulted.reads.iter())
                .map(|r| seq(r.sequence))
                .collect(),
            claim: (batch.consulted.claim.as_ref())
                .map(|c| (c.fingerprint.clone(), c.identity.as_uuid())),
            key,
            snapshot: (batch.snapshot.as_ref())
                .map(|s| (seq(s.last_sequence), seq(s.number), s.payload.clone())),
            erase,
        };
        for e in events {
            p.sequences.push(seq(e.sequence));
            p.event_types.push(e.event_type);
            p.versions.push(e.event_version);
            p.payloads.push(e.payload);
            p.metadata.push(e.metadata);
        }
        Ok(p)
    }
}

/// The identity `batch` erases, when it records `IdentityForgotten`.
fn forgotten_identity(
    aggregate_type: &str,
    batch: &Batch,
) -> Result<Option<uuid::Uuid>, StoreError> {
    let forgets = aggregate_type == event_names::IDENTITY
        && (batch.events.iter()).any(|e| e.event_type == event_names::IDENTITY_FORGOTTEN);
    if !forgets {
        return Ok(None);
    }
    batch
        .aggregate_id
        .parse::<IdentityId>()
        .map(|id| Some(id.as_uuid()))
        .map_err(|_| StoreError::Corrupt("identity id is not a UUID".to_owned()))
}

/// Runs the statement for `group` (one append or several) and returns how many events it
/// stored: all of them, or none when a fact one of them read had changed.
async fn execute(pool: &PgPool, group: &[&Prepared]) -> Result<u64, sqlx::Error> {
    let parts = Parts::of(group);
    let rows: usize = group.iter().map(|p| p.sequences.len()).sum();
    let mut own_types = Vec::with_capacity(group.len());
    let mut own_ids = Vec::with_capacity(group.len());
    let (mut read_types, mut read_ids, mut read_sequences) = (Vec::new(), Vec::new(), Vec::new());
    let (mut types, mut ids, mut sequences) = (
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
    );
    let (mut event_types, mut versions, mut payloads, mut metadata) = (
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
    );
    let (mut keyed, mut wrapped_keys, mut erased) = (Vec::new(), Vec::new(), Vec::new());
    let (mut snap_types, mut snap_ids, mut snap_sequences, mut snap_numbers, mut snap_payloads) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for p in group {
        own_types.push(p.aggregate_type);
        own_ids.push(p.aggregate_id.as_str());
        read_types.extend(p.read_types.iter().copied());
        read_ids.extend(p.read_ids.iter().map(String::as_str));
        read_sequences.extend(p.read_sequences.iter().copied());
        for i in 0..p.sequences.len() {
            types.push(p.aggregate_type);
            ids.push(p.aggregate_id.as_str());
            sequences.push(p.sequences[i]);
            event_types.push(p.event_types[i].as_str());
            versions.push(p.versions[i].as_str());
            payloads.push(&p.payloads[i]);
            metadata.push(&p.metadata[i]);
        }
        if let Some((identity, wrapped)) = &p.key {
            keyed.push(identity.as_uuid());
            wrapped_keys.push(wrapped.as_slice());
        }
        erased.extend(p.erase);
        if let Some((last_sequence, number, payload)) = &p.snapshot {
            snap_types.push(p.aggregate_type);
            snap_ids.push(p.aggregate_id.as_str());
            snap_sequences.push(*last_sequence);
            snap_numbers.push(*number);
            snap_payloads.push(payload);
        }
    }
    let mut query = sqlx::query(&STATEMENTS[parts.index()])
        .bind(own_types)
        .bind(own_ids)
        .bind(read_types)
        .bind(read_ids)
        .bind(read_sequences)
        .bind(types)
        .bind(ids)
        .bind(sequences)
        .bind(event_types)
        .bind(versions)
        .bind(payloads)
        .bind(metadata);
    if parts.claim {
        // Claims in one order, so that two groups claiming the same two fingerprints for
        // different identities cannot each wait for the other (one fails at once instead).
        let mut claims: Vec<_> = group.iter().filter_map(|p| p.claim.as_ref()).collect();
        claims.sort_by(|a, b| a.0.cmp(&b.0));
        let (fingerprints, claimants): (Vec<&[u8]>, Vec<uuid::Uuid>) = claims
            .into_iter()
            .map(|(fingerprint, identity)| (fingerprint.as_slice(), *identity))
            .unzip();
        query = query
            .bind(fingerprints)
            .bind(claimants)
            .bind(ORPHAN_AFTER_SECONDS);
    }
    if parts.key {
        query = query.bind(keyed).bind(wrapped_keys);
    }
    if parts.snapshot {
        query = query
            .bind(snap_types)
            .bind(snap_ids)
            .bind(snap_sequences)
            .bind(snap_numbers)
            .bind(snap_payloads);
    }
    if parts.erase {
        query = query.bind(erased);
    }
    Ok(query.execute(pool).await?.rows_affected())
}

/// Appends the events of several aggregates decided by one command in one statement (see
/// [`crate::EventRepository::append_together`]): all of them, or none. Not grouped with other
/// appends (the commands that need it are rare); see [`Grouper::append_together`].
async fn append_together(pool: &PgPool, parts: &[&Prepared]) -> Result<(), StoreError> {
    match execute(pool, parts).await {
        Ok(0) if parts.iter().any(|p| !p.sequences.is_empty()) => Err(StoreError::StaleRead),
        Ok(_) => Ok(()),
        Err(e) => Err(classify(
            e,
            parts.iter().find_map(|p| p.key.as_ref()).map(|k| k.0),
        )),
    }
}

/// Appends one command's events (see the module documentation).
pub(crate) async fn append_one(pool: &PgPool, p: &Prepared) -> Result<(), StoreError> {
    match execute(pool, &[p]).await {
        Ok(0) if !p.sequences.is_empty() => Err(StoreError::StaleRead),
        Ok(_) => Ok(()),
        Err(e) => Err(classify(e, p.key.as_ref().map(|(identity, _)| *identity))),
    }
}

/// What became of a group.
enum GroupOutcome {
    /// Every append of the group is stored.
    Stored,
    /// The server refused the group (a check failed, a key was taken, ...): nothing of it was
    /// written, and each append must be made on its own to learn its own outcome.
    Refused,
    /// The outcome is unknown (the connection broke with the statement sent): the error every
    /// append of the group gets, since redoing them could store a command twice.
    Unknown(StoreError),
}

/// Several commands' appends in one statement, all or nothing: the same checks as
/// [`append_one`] for every one of them, one round trip and one commit for all.
async fn append_group(pool: &PgPool, group: &[&Prepared]) -> GroupOutcome {
    match execute(pool, group).await {
        // Every event or, when a fact read had changed, none.
        Ok(0) => GroupOutcome::Refused,
        Ok(_) => GroupOutcome::Stored,
        // An error the server answered with: the statement's transaction rolled back. Or no
        // connection to send it on.
        Err(sqlx::Error::Database(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed) => {
            GroupOutcome::Refused
        }
        Err(e) => GroupOutcome::Unknown(StoreError::from(e)),
    }
}

/// Whether an append of `group` read a stream another one writes. Such appends are not made
/// together: the group's check runs before any of its writes, so it would pass a read of a
/// stream the same statement changes, and two appends each reading the other's stream would
/// both be stored where, made apart, one would have to decide again.
fn reads_across(group: &[&Prepared]) -> bool {
    let written: std::collections::HashSet<(&str, &str)> = group
        .iter()
        .map(|p| (p.aggregate_type, p.aggregate_id.as_str()))
        .collect();
    group.iter().any(|p| {
        (p.read_types.iter().zip(&p.read_ids)).any(|(t, i)| written.contains(&(*t, i.as_str())))
    })
}

/// How many appends of a refused group are made again at once.
const REDONE_AT_ONCE: usize = 4;

/// The [`StoreError`] of a failed append; `key` is the identity whose data key it stored.
fn classify(err: sqlx::Error, key: Option<IdentityId>) -> StoreError {
    let sqlx::Error::Database(db) = err else {
        return StoreError::from(err);
    };
    match (db.code().as_deref(), db.table()) {
        // Another writer took the next sequence (primary key), or the chain trigger found no
        // predecessor (the state decided on was ahead of the store): either way, the aggregate
        // is not where the decision thought it was.
        (Some("23505" | "23503"), Some("events") | None) => StoreError::Conflict,
        (Some("23502"), Some("cip_claims")) => StoreError::CipClaimLost,
        // Two appends each read the other's aggregate (no command does today): one is chosen to
        // give way, and decides again.
        (Some("40P01"), _) => StoreError::StaleRead,
        (Some("23514"), Some("identity_keys")) => match key {
            Some(identity) => StoreError::PersonalDataErased(identity),
            None => StoreError::Database(db.message().to_owned()),
        },
        _ => StoreError::from(sqlx::Error::Database(db)),
    }
}

/// How many statements (an append alone, or a group) are in flight at once, per repository.
const GROUPS_IN_FLIGHT: usize = 2;

/// The most appends one group carries.
const MAX_GROUP: usize = 64;

/// An append made by the grouping task: what to append, where its outcome goes, and its count
/// in progress (which ends when the outcome is sent, whether or not its caller still waits).
struct Pending {
    prepared: Prepared,
    reply: oneshot::Sender<Result<(), StoreError>>,
    _in_progress: Counted,
}

/// A [`Pending`] append waiting for its group, and its count among the appends waiting (which
/// ends when it joins a group, or when it is dropped on the way: a caller that stops waiting, a
/// grouping task that stops).
type Request = (Pending, Counted);

/// Group commit in the application: appends that arrive while every slot is taken wait for a
/// free slot and then go together, in one statement and one commit, instead of one each.
///
/// There are [`GROUPS_IN_FLIGHT`] slots, each one statement on its way. An append that finds a
/// slot free and no other append waiting takes it and is made at once, in its caller's task, as
/// [`append_one`]: no hop through another task, and one writer never waits. Otherwise it goes to
/// the grouping task, which takes the appends waiting as one group whenever a slot frees (so
/// waiting appends go first: an append arriving later does not take a slot while others wait).
/// A group is all or nothing. If the server refuses it (a conflict, a stale fact, a lost claim in
/// any of its appends), nothing of it was written and each of its appends is made again on its
/// own, so each command gets exactly the outcome it would have had alone; if its outcome is
/// unknown (the connection broke), each gets that error. Appends that read a stream another
/// member writes are made one by one.
pub(crate) struct Grouper {
    pool: PgPool,
    slots: Arc<Semaphore>,
    /// Appends handed to the grouping task and not yet in a group.
    waiting: Arc<AtomicUsize>,
    in_progress: Arc<AtomicUsize>,
    sender: std::sync::Mutex<Option<(mpsc::Sender<Request>, tokio::task::JoinHandle<()>)>>,
}

impl Grouper {
    /// Appends through `pool`; the grouping task starts at the first append that waits.
    pub(crate) fn new(pool: PgPool) -> Self {
        Self {
            pool,
            slots: Arc::new(Semaphore::new(GROUPS_IN_FLIGHT)),
            waiting: Arc::default(),
            in_progress: Arc::default(),
            sender: std::sync::Mutex::new(None),
        }
    }

    /// How many appends are waiting for their group or in flight.
    pub(crate) fn in_progress(&self) -> usize {
        self.in_progress.load(Ordering::Relaxed)
    }

    /// Appends `parts` together in a statement of their own (not grouped), holding one of the
    /// slots like any statement and counted among [`in_progress`](Self::in_progress).
    pub(crate) async fn append_together(&self, parts: &[&Prepared]) -> Result<(), StoreError> {
        let _in_progress = Counted::new(self.in_progress.clone());
        let _slot = (self.slots.clone().acquire_owned().await)
            .map_err(|_| StoreError::Database("the append slots are closed".to_owned()))?;
        append_together(&self.pool, parts).await
    }

    /// Appends `p` in the next group and returns its own outcome.
    pub(crate) async fn append(&self, p: Prepared) -> Result<(), StoreError> {
        let in_progress = Counted::new(self.in_progress.clone());
        if self.waiting.load(Ordering::Acquire) == 0 {
            if let Ok(_slot) = self.slots.clone().try_acquire_owned() {
                // A slot free and nobody waiting for one: no group to wait for.
                return append_one(&self.pool, &p).await;
            }
        }
        let waiting = Counted::new(self.waiting.clone());
        let sender = {
            let mut slot = self.sender.lock().unwrap_or_else(|e| e.into_inner());
            match slot.as_ref() {
                // Started on an earlier runtime that has gone: start again on this one.
                Some((sender, task)) if !task.is_finished() => sender.clone(),
                _ => {
                    let (sender, receiver) = mpsc::channel(MAX_GROUP * GROUPS_IN_FLIGHT);
                    let task = tokio::spawn(group_appends(
                        self.pool.clone(),
                        self.slots.clone(),
                        receiver,
                    ));
                    *slot = Some((sender.clone(), task));
                    sender
                }
            }
        };
        let (reply, outcome) = oneshot::channel();
        let stopped = || StoreError::Unreachable("the append task has stopped".to_owned());
        let pending = Pending {
            prepared: p,
            reply,
            _in_progress: in_progress,
        };
        sender
            .send((pending, waiting))
            .await
            .map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }
}

/// Counts one append (in progress, or waiting for a group) for as long as it lives.
struct Counted {
    count: Arc<AtomicUsize>,
}

impl Counted {
    fn new(count: Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Self { count }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for Grouper {
    fn drop(&mut self) {
        let slot = self.sender.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some((_, task)) = slot.take() {
            task.abort();
        }
    }
}

/// The grouping task: waits for an append, then for a slot, then takes every append waiting (up
/// to [`MAX_GROUP`]) and runs them in a task of their own.
async fn group_appends(pool: PgPool, slots: Arc<Semaphore>, mut requests: mpsc::Receiver<Request>) {
    loop {
        let Some(first) = requests.recv().await else {
            return;
        };
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match requests.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        // No longer waiting: in a group.
        let group: Vec<Pending> = group
            .into_iter()
            .map(|(pending, _waiting)| pending)
            .collect();
        let pool = pool.clone();
        tokio::spawn(async move {
            run_group(&pool, group).await;
            drop(slot);
        });
    }
}

/// Runs one group and answers each of its appends.
async fn run_group(pool: &PgPool, group: Vec<Pending>) {
    let prepared: Vec<&Prepared> = group.iter().map(|p| &p.prepared).collect();
    let outcomes: Vec<Result<(), StoreError>> = match prepared.as_slice() {
        [one] => vec![append_one(pool, one).await],
        _ if reads_across(&prepared) => redo(pool, &prepared).await,
        _ => match append_group(pool, &prepared).await {
            GroupOutcome::Stored => vec![Ok(()); group.len()],
            GroupOutcome::Unknown(e) => vec![Err(e); group.len()],
            GroupOutcome::Refused => redo(pool, &prepared).await,
        },
    };
    // Each count in progress ends with its outcome sent.
    for (pending, outcome) in group.into_iter().zip(outcomes) {
        let _ = pending.reply.send(outcome);
    }
}

/// Makes each append of a group on its own, a few at a time; their outcomes in order.
async fn redo(pool: &PgPool, group: &[&Prepared]) -> Vec<Result<(), StoreError>> {
    let redone: Vec<_> = group.iter().map(|p| append_one(pool, p)).collect();
    futures::stream::iter(redone)
        .buffered(REDONE_AT_ONCE)
        .collect()
        .await
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
            let expected = 12 + 3 * (i & 1) + 2 * (i >> 1 & 1) + 5 * (i >> 2 & 1) + (i >> 3 & 1);
            assert_eq!(parameters, expected, "variant {i}");
        }
    }
}
