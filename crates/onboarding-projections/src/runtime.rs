//! The projector: tails the global log into PostgreSQL projections.
//!
//! Guarantees, per projection:
//! - **Never skips**: it reads the sequenced log (`event_log`), whose positions are handed out
//!   only below the snapshot horizon, so an event committed late by a slow transaction still
//!   gets a position after everything already read.
//! - **Never applies twice**: each batch's changes and the new checkpoint commit in one
//!   transaction, which first locks the checkpoint row and checks it still holds the position
//!   the batch starts from (a fence against anyone else moving it).
//! - **Order**: batches are consecutive log ranges applied in log order, which keeps every
//!   aggregate's sequence order.
//! - **One active applier**: a session advisory lock (the lease) on a dedicated connection,
//!   which also runs the batch transactions; if the process dies, its connection closes, the
//!   lease frees, and a waiting projector takes over from the checkpoint.
//! - **Prompt**: wakes on `LISTEN onboarding_events` (sent at every commit that appends), polling
//!   as a fallback.
//! - **Failures stop only the failing projection**, recording position and error for
//!   `onboarding projector status`; a clean shutdown finishes the batch in progress.
//!
//! Throughput: each batch of the log is read and decoded once and applied to every projection
//! at that position concurrently (each on its own lease connection, in its own transaction,
//! committed asynchronously: see `docs/projections.md`), while the next batch is read; far below
//! the head, batches are [`CATCH_UP_BATCH`] events.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use onboarding_store::postgres::{PostgresLog, EVENTS_CHANNEL};
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgListener;
use sqlx::{Acquire, PgConnection, PgPool, Postgres, Row};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::audit::AuditTrail;
use crate::error::ProjectionError;
use crate::event::ProjectedEvent;
use crate::projection::Projection;
use crate::reader::{ReadAhead, Reader, Spawned};
use crate::view::{View, ViewProjection};
use crate::views::{Accounts, IdentityStatus, Orders, Profiles};

/// How soon a projector looks again while committed events wait to be sequenced.
const RECHECK_LAGGING: Duration = Duration::from_millis(50);
/// Events per batch while the projections are more than this far below the sequenced head
/// (when [`ProjectorOptions::batch_size`] is smaller): few enough transactions that their fixed
/// cost fades, while memory stays bounded (two batches are held at a time, the one applied and
/// the one read ahead). Near the head, batches are [`ProjectorOptions::batch_size`] again.
pub const CATCH_UP_BATCH: usize = 5_000;

/// How long a lease beyond the first waits for the pool to open a connection.
const SPARE_CONNECTION_WAIT: Duration = Duration::from_secs(2);

/// Advisory-lock class of projection leases (the first key of `pg_try_advisory_lock(int, int)`).
const LEASE_CLASS: i32 = 0x0b1e_d9e7;

/// How the projector runs.
#[derive(Debug, Clone)]
pub struct ProjectorOptions {
    /// Events per batch (and per transaction) near the head of the log. Far below it, batches
    /// are [`CATCH_UP_BATCH`] events when that is larger.
    pub batch_size: usize,
    /// How long to wait for a notification before looking at the log anyway.
    pub poll_interval: Duration,
    /// How often a projector waiting for another's lease tries again.
    pub lease_retry: Duration,
}

impl Default for ProjectorOptions {
    fn default() -> Self {
        Self {
            batch_size: 500,
            poll_interval: Duration::from_secs(5),
            lease_retry: Duration::from_secs(1),
        }
    }
}

/// Called after each committed batch with (projection, position, head of the log).
pub type ProgressFn = Arc<dyn Fn(&str, i64, i64) + Send + Sync>;

/// Where a projection stands.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProjectionStatus {
    /// The projection.
    pub name: String,
    /// The last applied position.
    pub position: i64,
    /// Events committed but not yet applied.
    pub lag: i64,
    /// When the checkpoint last moved.
    pub updated_at: DateTime<Utc>,
    /// Where it stopped, if it failed.
    pub failed_position: Option<i64>,
    /// Why it stopped.
    pub failure: Option<String>,
}

/// What a catch-up did for one projection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatchUp {
    /// It applied events up to this position (the head when it finished).
    CaughtUp(i64),
    /// Another projector holds its lease; it was left alone.
    HeldElsewhere,
}

/// Runs projections over the log of one PostgreSQL database.
#[derive(Clone)]
pub struct Projector {
    pool: PgPool,
    log: PostgresLog,
    projections: Vec<Arc<dyn Projection>>,
    options: ProjectorOptions,
    progress: Option<ProgressFn>,
}

impl Projector {
    /// A projector with the built-in read models: `identity_status`, `accounts`, `profiles`,
    /// `orders` and `audit_trail`.
    pub fn new(pool: PgPool) -> Self {
        Self::without_builtins(pool)
            .with_view(IdentityStatus)
            .with_view(Accounts)
            .with_view(Profiles)
            .with_view(Orders)
            .with_projection(AuditTrail)
    }

    /// A projector with no projections yet.
    pub fn without_builtins(pool: PgPool) -> Self {
        Self {
            log: PostgresLog::new(pool.clone()),
            pool,
            projections: Vec::new(),
            options: ProjectorOptions::default(),
            progress: None,
        }
    }

    /// Adds a view.
    pub fn with_view<V: View>(self, view: V) -> Self {
        self.with_projection(ViewProjection::new(view))
    }

    /// Adds a low-level projection.
    pub fn with_projection<P: Projection + 'static>(mut self, projection: P) -> Self {
        self.projections.push(Arc::new(projection));
        self
    }

    /// Sets the options.
    pub fn with_options(mut self, options: ProjectorOptions) -> Self {
        self.options = options;
        self
    }

    /// Reports progress after each batch.
    pub fn with_progress(mut self, progress: ProgressFn) -> Self {
        self.progress = Some(progress);
        self
    }

    /// The names of the registered projections.
    pub fn names(&self) -> Vec<String> {
        self.projections
            .iter()
            .map(|p| p.name().to_owned())
            .collect()
    }

    fn find(&self, name: &str) -> Result<Arc<dyn Projection>, ProjectionError> {
        self.projections
            .iter()
            .find(|p| p.name() == name)
            .cloned()
            .ok_or_else(|| ProjectionError::Unknown(name.to_owned()))
    }

    /// Creates the projections' tables and checkpoints (idempotent).
    pub async fn setup(&self) -> Result<(), ProjectionError> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        // `CREATE TABLE IF NOT EXISTS` is not safe against a concurrent creation of the same
        // table (projectors starting together fail on pg_type's unique index): one projector
        // sets up at a time.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('onboarding-projections:setup'))")
            .execute(&mut *tx)
            .await?;
        let result = async {
            for p in &self.projections {
                p.setup(&mut tx).await?;
                sqlx::query("INSERT INTO projection_checkpoints (name) VALUES ($1) ON CONFLICT (name) DO NOTHING")
                    .bind(p.name())
                    .execute(&mut *tx)
                    .await?;
            }
            Ok::<_, ProjectionError>(())
        }
        .await;
        match result {
            Ok(()) => tx.commit().await?,
            Err(e) => {
                tx.rollback().await?;
                return Err(e);
            }
        }
        Ok(())
    }

    /// Runs every projection until `shutdown` is cancelled, following the log live. Returns the
    /// errors of projections that stopped (the others ran until shutdown).
    pub async fn run(
        &self,
        shutdown: CancellationToken,
    ) -> Result<Vec<ProjectionError>, ProjectionError> {
        self.setup().await?;
        let (wake_tx, mut wake) = watch::channel(0u64);
        // The listener stops however this future ends, also when it is dropped mid-way (an
        // aborted task): otherwise it would keep its connection open forever.
        let listening = shutdown.child_token();
        let _stop_listening = listening.clone().drop_guard();
        let listener = tokio::spawn(listen(self.pool.clone(), wake_tx, listening.clone()));
        let mut group = Group::default();
        let mut reader = Reader::new(self.pool.clone());
        let mut ended = None;
        let mut recheck = RECHECK_LAGGING;
        while !shutdown.is_cancelled() {
            let joined = match reader.connect().await {
                Ok(()) => match self.forget_cleared(&mut group).await {
                    Ok(()) => self.join_free(&mut group).await,
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            let drained = match joined {
                // A wake-up only to retry leases, and none was free: nothing to read.
                Ok(false) if group.woken_for_leases => Ok(()),
                Ok(_) => self.drain(&mut group, &mut reader, &shutdown).await,
                Err(e) => Err(e),
            };
            match drained {
                Ok(()) => {}
                // The connection broke: the leases are gone with it; compete for them again.
                Err(ProjectionError::Store(onboarding_store::StoreError::Unreachable(e))) => {
                    tracing::warn!(error = %e, "lost the database; retrying");
                    group.release_all().await;
                    reader.disconnect();
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(self.options.lease_retry) => continue,
                    }
                }
                Err(e) => {
                    ended = Some(e);
                    break;
                }
            }
            if group.is_idle(self.projections.len()) || shutdown.is_cancelled() {
                break;
            }
            group.woken_for_leases = false;
            let waiting_for_leases = group.missing(self.projections.len()).next().is_some();
            // Committed events that could not be sequenced yet (an older transaction holds the
            // horizon) send no second notification: look again soon rather than at the poll,
            // backing off while the horizon stays held.
            let lagging = reader.lagging().await.unwrap_or(false);
            recheck = if lagging {
                (recheck * 2).min(self.options.poll_interval)
            } else {
                RECHECK_LAGGING
            };
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = wake.changed() => {}
                () = tokio::time::sleep(self.options.poll_interval) => {}
                () = tokio::time::sleep(recheck / 2), if lagging => {}
                () = tokio::time::sleep(self.options.lease_retry), if waiting_for_leases => {
                    group.woken_for_leases = true;
                }
            }
        }
        group.release_all().await;
        listening.cancel();
        let _ = listener.await;
        let mut errors = group.into_failures();
        errors.extend(ended);
        Ok(errors)
    }

    /// Applies everything committed so far to every projection whose lease is free, then returns.
    /// A projection that fails (or had stopped) does not hold the others back: they are caught up
    /// all the same, and then the first failure is returned.
    pub async fn catch_up(&self) -> Result<Vec<(String, CatchUp)>, ProjectionError> {
        self.setup().await?;
        let mut done: Vec<(String, CatchUp)> = self
            .projections
            .iter()
            .map(|p| (p.name().to_owned(), CatchUp::HeldElsewhere))
            .collect();
        let mut group = Group::default();
        let mut reader = Reader::new(self.pool.clone());
        // Usually one pass for all; more when the pool cannot lend a connection to each.
        loop {
            // The reader's connection first (a read abandoned mid-way took the last one with
            // it), then as many leases as the pool can lend.
            reader.connect().await?;
            let drained = match self.join_free(&mut group).await {
                Ok(false) => break,
                Ok(true) => {
                    self.drain(&mut group, &mut reader, &CancellationToken::new())
                        .await
                }
                Err(e) => Err(e),
            };
            for m in &group.members {
                done[m.index].1 = CatchUp::CaughtUp(m.position);
                group.passed.push(m.index);
            }
            group.release_all().await;
            drained?;
        }
        match group.into_failures().into_iter().next() {
            Some(e) => Err(e),
            None => Ok(done),
        }
    }

    /// Waits until every projection has applied the log up to `position` (e.g. the head before
    /// a [`catch_up`](Self::catch_up) that found leases held by a running projector). Fails with
    /// the stopped projection's error if one has stopped, or after `timeout`.
    pub async fn wait_until(
        &self,
        position: i64,
        timeout: Duration,
    ) -> Result<(), ProjectionError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let status = self.status().await?;
            if let Some(s) = status.iter().find(|s| s.failed_position.is_some()) {
                return Err(ProjectionError::Stopped {
                    name: s.name.clone(),
                    position: s.failed_position.unwrap_or_default(),
                    failure: s.failure.clone().unwrap_or_default(),
                });
            }
            if status.iter().all(|s| s.position >= position) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ProjectionError::Lagging {
                    target: position,
                    waited: timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The head of the log (sequencing new commits first).
    pub async fn head(&self) -> Result<i64, ProjectionError> {
        Ok(self.log.sequence().await?)
    }

    /// Empties projection `name` and sets its checkpoint to zero (clearing any failure), in one
    /// transaction; whichever projector holds its lease then replays it from the start.
    pub async fn reset(&self, name: &str) -> Result<(), ProjectionError> {
        let p = self.find(name)?;
        self.setup().await?;
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        // Lock the checkpoint first, as batches do, so a reset and a batch never deadlock.
        sqlx::query("SELECT position FROM projection_checkpoints WHERE name = $1 FOR UPDATE")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        p.reset(&mut tx).await?;
        sqlx::query(
            "UPDATE projection_checkpoints
                SET position = 0, updated_at = now(), failed_position = NULL, failure = NULL
              WHERE name = $1",
        )
        .bind(name)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Clears a recorded failure so the projection resumes from its checkpoint (after the cause
    /// was fixed, e.g. an upcaster added).
    pub async fn retry(&self, name: &str) -> Result<(), ProjectionError> {
        self.find(name)?;
        sqlx::query("UPDATE projection_checkpoints SET failed_position = NULL, failure = NULL WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every registered projection's checkpoint, lag and failure.
    pub async fn status(&self) -> Result<Vec<ProjectionStatus>, ProjectionError> {
        let head = self.log.sequence().await?;
        // A projection never set up reads as position 0 (no DDL here: this is polled).
        let rows = sqlx::query(
            "SELECT n.name, coalesce(c.position, 0) AS position,
                    coalesce(c.updated_at, now()) AS updated_at, c.failed_position, c.failure
               FROM unnest($1::text[]) AS n(name)
               LEFT JOIN projection_checkpoints c ON c.name = n.name
              ORDER BY n.name",
        )
        .bind(self.names())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let position: i64 = r.try_get("position")?;
                Ok(ProjectionStatus {
                    name: r.try_get("name")?,
                    position,
                    lag: head - position,
                    updated_at: r.try_get("updated_at")?,
                    failed_position: r.try_get("failed_position")?,
                    failure: r.try_get("failure")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(ProjectionError::from)
    }

    /// Forgets the failures an operator cleared meanwhile (`projector run --retry` or a rebuild,
    /// from another process): those projections compete for their leases again, and a running
    /// projector takes them back at its next wake-up or poll.
    async fn forget_cleared(&self, group: &mut Group) -> Result<(), ProjectionError> {
        if group.failures.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = (group.failures.iter())
            .map(|(index, _)| self.projections[*index].name())
            .collect();
        let still_failed: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM projection_checkpoints
              WHERE name = ANY($1) AND failed_position IS NOT NULL",
        )
        .bind(&names)
        .fetch_all(&self.pool)
        .await?;
        group.failures.retain(|(index, _)| {
            let name = self.projections[*index].name();
            still_failed.iter().any(|n| n == name)
        });
        Ok(())
    }

    /// Takes the free leases of the projections the group neither holds nor has seen stop, and
    /// reads their checkpoints (a projection stopped earlier joins the failures). Whether any
    /// projection joined.
    async fn join_free(&self, group: &mut Group) -> Result<bool, ProjectionError> {
        let missing: Vec<usize> = group.missing(self.projections.len()).collect();
        let mut joined = false;
        for index in missing {
            let p = &self.projections[index];
            // The first lease may wait for a connection, as any reader of the pool would. The
            // others take one only if the pool can lend it now: connections held by leases (or
            // by the caller's open transaction) are not coming back, and this must not wait for
            // them; a projection left out joins at a later pass.
            let lease =
                match Lease::try_acquire(&self.pool, p.name(), group.members.is_empty()).await? {
                    Acquired::Lease(lease) => lease,
                    Acquired::HeldElsewhere => continue,
                    Acquired::NoConnection => break,
                };
            tracing::info!(projection = p.name(), "lease acquired");
            let mut member = Member {
                index,
                projection: p.clone(),
                lease,
                position: 0,
            };
            match refresh(&mut member).await {
                Ok(()) => {
                    group.members.push(member);
                    joined = true;
                }
                Err(e) => {
                    member.lease.release().await;
                    if matches!(e, ProjectionError::Stopped { .. }) {
                        group.failures.push((index, e));
                    } else {
                        return Err(e);
                    }
                }
            }
        }
        Ok(joined)
    }

    /// Events per batch when reading after `position`: larger while far below the head.
    fn batch_size(&self, reader: &Reader, position: i64) -> usize {
        let catch_up = self.options.batch_size.max(CATCH_UP_BATCH);
        let far = i64::try_from(catch_up).unwrap_or(i64::MAX);
        if reader.head().saturating_sub(position) > far {
            catch_up
        } else {
            self.options.batch_size.max(1)
        }
    }

    /// Applies batches to the group's projections until every one is at the head (or
    /// shutdown). Each batch is read and decoded once and applied to every member at its
    /// position, each in its own transaction on its own lease connection, all at once; the next
    /// batch is read meanwhile. Members at different positions form segments, each served in
    /// every round, so a projection being rebuilt does not hold back the ones at the head.
    /// A member that fails leaves the group, its failure recorded.
    async fn drain(
        &self,
        group: &mut Group,
        reader: &mut Reader,
        shutdown: &CancellationToken,
    ) -> Result<(), ProjectionError> {
        // A checkpoint may have moved while the group waited (a reset from another process):
        // each member starts from where its checkpoint is now.
        let mut checked = Vec::with_capacity(group.members.len());
        let mut unreadable = None;
        for mut member in std::mem::take(&mut group.members) {
            if unreadable.is_some() {
                checked.push(member);
                continue;
            }
            match refresh(&mut member).await {
                Ok(()) => checked.push(member),
                Err(e @ ProjectionError::Stopped { .. }) => {
                    member.lease.release().await;
                    group.failures.push((member.index, e));
                }
                Err(e) => {
                    checked.push(member);
                    unreadable = Some(e);
                }
            }
        }
        group.members = checked;
        if let Some(e) = unreadable {
            return Err(e);
        }
        let mut ahead: Option<ReadAhead> = None;
        loop {
            let mut progressed = false;
            let mut served: Vec<usize> = Vec::new();
            // The lowest position among the members not yet served this round.
            while let Some(start) = group
                .members
                .iter()
                .filter(|m| !served.contains(&m.index))
                .map(|m| m.position)
                .min()
            {
                let limit = self.batch_size(reader, start);
                let batch = match ahead.take() {
                    Some(read) => match read.claim(reader, start, limit).await {
                        Some(batch) => batch?,
                        None => reader.read(start, limit).await?,
                    },
                    None => reader.read(start, limit).await?,
                };
                let batch = Arc::new(batch);
                let last = batch.last().unwrap_or(start);
                let (segment, rest): (Vec<Member>, Vec<Member>) =
                    std::mem::take(&mut group.members)
                        .into_iter()
                        .partition(|m| {
                            !served.contains(&m.index) && m.position < last.max(start + 1)
                        });
                group.members = rest;
                served.extend(segment.iter().map(|m| m.index));
                if batch.events.is_empty() && batch.undecodable.is_none() {
                    // At the head.
                    group.members.extend(segment);
                    continue;
                }
                // Read the next batch while this one is applied: the next segment's, or this
                // one's continuation.
                let next = group
                    .members
                    .iter()
                    .filter(|m| !served.contains(&m.index))
                    .map(|m| m.position)
                    .min()
                    .unwrap_or(last);
                if !batch.events.is_empty() && !shutdown.is_cancelled() {
                    ahead = Some(ReadAhead::start(
                        reader,
                        next,
                        self.batch_size(reader, next),
                    ));
                }
                let applying: Vec<_> = segment
                    .into_iter()
                    .map(|member| {
                        let batch = batch.clone();
                        let name = member.projection.name().to_owned();
                        let from = member.position;
                        let task = Spawned::spawn(async move {
                            let mut member = member;
                            let events = batch.after(member.position);
                            let applied = if events.is_empty() {
                                Ok(true)
                            } else {
                                apply_batch(
                                    member.projection.as_ref(),
                                    member.lease.conn(),
                                    member.position,
                                    last,
                                    events,
                                )
                                .await
                            };
                            (member, applied)
                        });
                        (name, from, task)
                    })
                    .collect();
                let mut lost = None;
                for (name, from, task) in applying {
                    let (mut member, applied) = match task.join().await {
                        Ok(done) => done,
                        Err(panic) => {
                            // Its lease went with the task (the connection closed).
                            let e = ProjectionError::Apply {
                                position: from + 1,
                                message: format!("the batch task failed: {panic}"),
                            };
                            let index = self.index_of(&name);
                            group
                                .failures
                                .push((index, self.fail(None, &name, e, from + 1).await));
                            continue;
                        }
                    };
                    match applied {
                        Ok(true) => {
                            if member.position < last {
                                member.position = last;
                                progressed = true;
                                if let Some(progress) = &self.progress {
                                    progress(&name, last, reader.head().max(last));
                                }
                                tracing::debug!(projection = %name, position = last, "batch applied");
                            }
                            match &batch.undecodable {
                                Some(e) => {
                                    let e = copy_decode_error(e);
                                    let e = self
                                        .fail(Some(member.lease.conn()), &name, e, last + 1)
                                        .await;
                                    member.lease.release().await;
                                    group.failures.push((member.index, e));
                                }
                                None => group.members.push(member),
                            }
                        }
                        // Someone moved the checkpoint (a reset): go on from where it is now.
                        Ok(false) => match refresh(&mut member).await {
                            Ok(()) => {
                                progressed = true;
                                group.members.push(member);
                            }
                            Err(e @ ProjectionError::Stopped { .. }) => {
                                member.lease.release().await;
                                group.failures.push((member.index, e));
                            }
                            Err(e) => {
                                group.members.push(member);
                                lost.get_or_insert(e);
                            }
                        },
                        Err(
                            e
                            @ ProjectionError::Store(onboarding_store::StoreError::Unreachable(_)),
                        ) => {
                            group.members.push(member);
                            lost.get_or_insert(e);
                        }
                        Err(e) => {
                            let e = self
                                .fail(Some(member.lease.conn()), &name, e, from + 1)
                                .await;
                            member.lease.release().await;
                            group.failures.push((member.index, e));
                        }
                    }
                }
                if let Some(e) = lost {
                    return Err(e);
                }
                if shutdown.is_cancelled() {
                    return Ok(());
                }
            }
            if !progressed || group.members.is_empty() {
                return Ok(());
            }
        }
    }

    fn index_of(&self, name: &str) -> usize {
        self.projections
            .iter()
            .position(|p| p.name() == name)
            .unwrap_or_default()
    }

    /// Records a failure (at the failing event, or else at `batch_start`) and returns it.
    async fn fail(
        &self,
        conn: Option<&mut PgConnection>,
        name: &str,
        error: ProjectionError,
        batch_start: i64,
    ) -> ProjectionError {
        let position = match &error {
            ProjectionError::Decode { position, .. } | ProjectionError::Apply { position, .. }
                if *position > 0 =>
            {
                *position
            }
            _ => batch_start,
        };
        tracing::error!(projection = name, position, error = %error, "projection stopped");
        let record = sqlx::query(
            "UPDATE projection_checkpoints SET failed_position = $2, failure = $3 WHERE name = $1",
        )
        .bind(name)
        .bind(position)
        .bind(error.to_string());
        // On the projection's own lease connection when it still has it: the pool may have
        // nothing free while leases hold its connections.
        let recorded = match conn {
            Some(conn) => record.execute(conn).await,
            None => record.execute(&self.pool).await,
        };
        if let Err(e) = recorded {
            tracing::error!(projection = name, error = %e, "could not record the failure");
        }
        error
    }
}

/// Applies one batch and moves the checkpoint from `from` to `to` in one transaction. `false`
/// when the checkpoint no longer held `from` (nothing was written).
async fn apply_batch(
    p: &dyn Projection,
    conn: &mut PoolConnection<Postgres>,
    from: i64,
    to: i64,
    batch: &[ProjectedEvent],
) -> Result<bool, ProjectionError> {
    let mut tx = conn.begin().await?;
    // `set_config(..., true)` is `SET LOCAL`: this transaction only, in the fence's round trip.
    // Asynchronous commit is safe here: the batch's changes and its checkpoint are one
    // transaction, so a server crash that loses the last commits loses both together, and the
    // projection replays those events from the checkpoint it finds (docs/projections.md).
    let current: i64 = sqlx::query_scalar(
        "SELECT position FROM projection_checkpoints, set_config('synchronous_commit', 'off', true)
          WHERE name = $1 FOR UPDATE OF projection_checkpoints",
    )
    .bind(p.name())
    .fetch_one(&mut *tx)
    .await?;
    if current != from {
        tx.rollback().await?;
        return Ok(false);
    }
    // A panicking projection is a failing one: it must stop alone, with its failure recorded,
    // not take down the task running every projection.
    let applied = std::panic::AssertUnwindSafe(p.apply(batch, &mut tx))
        .catch_unwind()
        .await;
    let failure = match applied {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Some(ProjectionError::Apply {
                position: batch.first().map_or(from + 1, ProjectedEvent::position),
                message: format!("panicked in the batch starting here: {message}"),
            })
        }
    };
    if let Some(e) = failure {
        // Roll back now: a dropped sqlx transaction only rolls back on the connection's next
        // use, and until then its lock on the checkpoint row would block recording the failure.
        tx.rollback().await?;
        return Err(e);
    }
    sqlx::query(
        "UPDATE projection_checkpoints SET position = $2, updated_at = now() WHERE name = $1",
    )
    .bind(p.name())
    .bind(to)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

async fn checkpoint(
    conn: &mut PgConnection,
    name: &str,
) -> Result<(i64, Option<(i64, String)>), ProjectionError> {
    let row = sqlx::query(
        "SELECT position, failed_position, failure FROM projection_checkpoints WHERE name = $1",
    )
    .bind(name)
    .fetch_one(conn)
    .await?;
    let failed: Option<i64> = row.try_get("failed_position")?;
    let failure: Option<String> = row.try_get("failure")?;
    Ok((
        row.try_get("position")?,
        failed.map(|f| (f, failure.unwrap_or_default())),
    ))
}

/// Wakes the projector whenever a commit appends events.
async fn listen(pool: PgPool, wake: watch::Sender<u64>, shutdown: CancellationToken) {
    // Without notifications, the sender must live on until shutdown: a dropped sender would
    // make every `changed()` return at once and the projector spin instead of polling.
    let mut listener = match PgListener::connect_with(&pool).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "LISTEN unavailable; polling only");
            shutdown.cancelled().await;
            return;
        }
    };
    if let Err(e) = listener.listen(EVENTS_CHANNEL).await {
        tracing::warn!(error = %e, "LISTEN failed; polling only");
        shutdown.cancelled().await;
        return;
    }
    let mut count = 0u64;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            received = listener.recv() => match received {
                Ok(_) => {
                    count += 1;
                    wake.send_replace(count);
                }
                Err(e) => {
                    // `recv` reconnects on its next call; don't retry in a tight loop while the
                    // database is away.
                    tracing::warn!(error = %e, "notification channel broke; reconnecting");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    }
}

/// What an attempt to take a lease found.
enum Acquired {
    /// The lease, now held.
    Lease(Lease),
    /// Another session holds it.
    HeldElsewhere,
    /// The pool had no connection to spare.
    NoConnection,
}

/// A projection's lease: a session advisory lock held on a connection taken out of the pool, on
/// which the projection's transactions also run.
struct Lease {
    conn: Option<PoolConnection<Postgres>>,
    name: String,
}

impl Lease {
    /// Takes the lease of `name` if it is free. With `wait`, waits for a pool connection as
    /// long as the pool lets anyone wait; without, gives up at once if none is free.
    async fn try_acquire(
        pool: &PgPool,
        name: &str,
        wait: bool,
    ) -> Result<Acquired, ProjectionError> {
        let conn = if wait {
            pool.acquire().await?
        } else if let Some(idle) = pool.try_acquire() {
            idle
        } else if pool.size() < pool.options().get_max_connections() {
            // Room for a new connection: opening one takes a moment, not a holder's release.
            match tokio::time::timeout(SPARE_CONNECTION_WAIT, pool.acquire()).await {
                Ok(conn) => conn?,
                Err(_) => return Ok(Acquired::NoConnection),
            }
        } else {
            return Ok(Acquired::NoConnection);
        };
        // A lease from here on: if this future is dropped or the query fails after the server
        // granted the lock, dropping it closes the connection instead of pooling it locked.
        let mut lease = Lease {
            conn: Some(conn),
            name: name.to_owned(),
        };
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
            .bind(LEASE_CLASS)
            .bind(name)
            .fetch_one(&mut **lease.conn())
            .await?;
        if got {
            return Ok(Acquired::Lease(lease));
        }
        // Not granted: the connection holds nothing and may go back to the pool.
        drop(lease.conn.take());
        Ok(Acquired::HeldElsewhere)
    }

    fn conn(&mut self) -> &mut PoolConnection<Postgres> {
        self.conn
            .as_mut()
            .unwrap_or_else(|| unreachable!("a lease holds its connection until released"))
    }

    async fn release(mut self) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        // Every session lock of the connection (a lease connection holds no other), so that it
        // goes back to the pool holding nothing. The connection stays in the lease while this
        // runs: if this future is dropped midway, dropping the lease closes it.
        let unlocked = sqlx::query("SELECT pg_advisory_unlock_all()")
            .execute(&mut **conn)
            .await;
        match unlocked {
            Ok(_) => drop(self.conn.take()),
            // The lease's drop closes the connection: never pool one that may still hold the
            // lock.
            Err(e) => {
                tracing::warn!(lease = %self.name, error = %e, "closing a lease connection that could not unlock")
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Dropped without release (a panic or a cancelled future): close the connection, which
        // frees the lock, rather than pool it.
        if let Some(conn) = self.conn.take() {
            drop(conn.detach());
        }
    }
}

/// A projection the projector applies, with its lease and the position it has applied.
struct Member {
    /// Its place among the registered projections.
    index: usize,
    projection: Arc<dyn Projection>,
    lease: Lease,
    position: i64,
}

/// The projections one projector applies together, over one read of the log.
#[derive(Default)]
struct Group {
    members: Vec<Member>,
    /// Projections that stopped, with why, by registration index.
    failures: Vec<(usize, ProjectionError)>,
    /// Projections a catch-up is done with (it makes passes when the pool is small).
    passed: Vec<usize>,
    /// The last wake-up was only to retry leases.
    woken_for_leases: bool,
}

impl Group {
    /// The projections (of `count`) that are neither members, stopped nor passed.
    fn missing(&self, count: usize) -> impl Iterator<Item = usize> + '_ {
        (0..count).filter(move |i| {
            !self.members.iter().any(|m| m.index == *i)
                && !self.failures.iter().any(|(f, _)| f == i)
                && !self.passed.contains(i)
        })
    }

    /// Every one of `count` projections stopped: nothing is left to run.
    fn is_idle(&self, count: usize) -> bool {
        self.members.is_empty() && self.failures.len() >= count
    }

    async fn release_all(&mut self) {
        for m in self.members.drain(..) {
            m.lease.release().await;
        }
    }

    /// The failures, in registration order.
    fn into_failures(mut self) -> Vec<ProjectionError> {
        self.failures.sort_by_key(|(index, _)| *index);
        self.failures.into_iter().map(|(_, e)| e).collect()
    }
}

/// A decode failure again, for each projection it stops.
fn copy_decode_error(error: &ProjectionError) -> ProjectionError {
    match error {
        ProjectionError::Decode { position, message } => ProjectionError::Decode {
            position: *position,
            message: message.clone(),
        },
        other => ProjectionError::Decode {
            position: 0,
            message: other.to_string(),
        },
    }
}

/// Reads a member's checkpoint on its own connection: its position, or
/// [`ProjectionError::Stopped`].
async fn refresh(member: &mut Member) -> Result<(), ProjectionError> {
    let name = member.projection.name();
    let (position, failure) = checkpoint(member.lease.conn(), name).await?;
    if let Some((failed_at, why)) = failure {
        return Err(ProjectionError::Stopped {
            name: name.to_owned(),
            position: failed_at,
            failure: why,
        });
    }
    member.position = position;
    Ok(())
}
