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

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::join_all;
use futures::FutureExt;
use onboarding_store::postgres::{PostgresLog, EVENTS_CHANNEL};
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgListener;
use sqlx::{Acquire, PgPool, Postgres, Row};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::audit::AuditTrail;
use crate::error::ProjectionError;
use crate::event::ProjectedEvent;
use crate::projection::Projection;
use crate::view::{View, ViewProjection};
use crate::views::{Accounts, IdentityStatus, Orders, Profiles};

/// Advisory-lock class of projection leases (the first key of `pg_try_advisory_lock(int, int)`).
const LEASE_CLASS: i32 = 0x0b1e_d9e7;

/// How the projector runs.
#[derive(Debug, Clone)]
pub struct ProjectorOptions {
    /// Events per batch (and per transaction).
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
        let (wake_tx, wake_rx) = watch::channel(0u64);
        // The listener stops however this future ends, also when it is dropped mid-way (an
        // aborted task): otherwise it would keep its connection open forever.
        let listening = shutdown.child_token();
        let _stop_listening = listening.clone().drop_guard();
        let listener = tokio::spawn(listen(self.pool.clone(), wake_tx, listening.clone()));
        let runs = self.projections.iter().map(|p| {
            let this = self.clone();
            let p = p.clone();
            let shutdown = shutdown.clone();
            let wake = wake_rx.clone();
            async move { this.run_one(p, shutdown, wake).await }
        });
        let results = join_all(runs).await;
        listening.cancel();
        let _ = listener.await;
        Ok(results.into_iter().filter_map(Result::err).collect())
    }

    /// Applies everything committed so far to every projection whose lease is free, then returns.
    /// A projection that fails (or had stopped) does not hold the others back: they are caught up
    /// all the same, and then the first failure is returned.
    pub async fn catch_up(&self) -> Result<Vec<(String, CatchUp)>, ProjectionError> {
        self.setup().await?;
        let mut done = Vec::new();
        let mut failure = None;
        for p in &self.projections {
            let Some(mut lease) = Lease::try_acquire(&self.pool, p.name()).await? else {
                done.push((p.name().to_owned(), CatchUp::HeldElsewhere));
                continue;
            };
            let result = self
                .drain(p.as_ref(), &mut lease, &CancellationToken::new())
                .await;
            lease.release().await;
            match result {
                Ok(position) => done.push((p.name().to_owned(), CatchUp::CaughtUp(position))),
                Err(e @ ProjectionError::Store(onboarding_store::StoreError::Unreachable(_))) => {
                    return Err(e)
                }
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        match failure {
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

    async fn run_one(
        &self,
        p: Arc<dyn Projection>,
        shutdown: CancellationToken,
        mut wake: watch::Receiver<u64>,
    ) -> Result<(), ProjectionError> {
        while !shutdown.is_cancelled() {
            let Some(mut lease) = Lease::try_acquire(&self.pool, p.name()).await? else {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(self.options.lease_retry) => continue,
                }
            };
            tracing::info!(projection = p.name(), "lease acquired");
            let result = async {
                loop {
                    self.drain(p.as_ref(), &mut lease, &shutdown).await?;
                    if shutdown.is_cancelled() {
                        return Ok(());
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => return Ok(()),
                        _ = wake.changed() => {}
                        () = tokio::time::sleep(self.options.poll_interval) => {}
                    }
                }
            }
            .await;
            lease.release().await;
            match result {
                Ok(()) => {}
                // The connection broke: the lease is gone with it; compete for it again.
                Err(ProjectionError::Store(onboarding_store::StoreError::Unreachable(e))) => {
                    tracing::warn!(projection = p.name(), error = %e, "lost the database; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(self.options.lease_retry) => {}
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Applies batches until the log has nothing more (or shutdown); returns the checkpoint.
    async fn drain(
        &self,
        p: &dyn Projection,
        lease: &mut Lease,
        shutdown: &CancellationToken,
    ) -> Result<i64, ProjectionError> {
        loop {
            let (position, failure) = checkpoint(&self.pool, p.name()).await?;
            if let Some((failed_at, why)) = failure {
                return Err(ProjectionError::Stopped {
                    name: p.name().to_owned(),
                    position: failed_at,
                    failure: why,
                });
            }
            let records = self
                .log
                .read_after(position, self.options.batch_size)
                .await?;
            let Some(last) = records.last().map(|r| r.position) else {
                return Ok(position);
            };
            let batch = match records
                .into_iter()
                .map(ProjectedEvent::decode)
                .collect::<Result<Vec<_>, _>>()
            {
                Ok(batch) => batch,
                Err(e) => return Err(self.fail(p.name(), e, position + 1).await),
            };
            match apply_batch(p, lease.conn(), position, last, &batch).await {
                Ok(true) => {
                    if let Some(progress) = &self.progress {
                        progress(p.name(), last, self.log.head().await.unwrap_or(last));
                    }
                    tracing::debug!(projection = p.name(), position = last, "batch applied");
                }
                // Someone moved the checkpoint (a reset): start again from where it is now.
                Ok(false) => continue,
                Err(e @ ProjectionError::Store(onboarding_store::StoreError::Unreachable(_))) => {
                    return Err(e)
                }
                Err(e) => return Err(self.fail(p.name(), e, position + 1).await),
            }
            if shutdown.is_cancelled() {
                return Ok(last);
            }
        }
    }

    /// Records a failure (at the failing event, or else at `batch_start`) and returns it.
    async fn fail(&self, name: &str, error: ProjectionError, batch_start: i64) -> ProjectionError {
        let position = match &error {
            ProjectionError::Decode { position, .. } | ProjectionError::Apply { position, .. }
                if *position > 0 =>
            {
                *position
            }
            _ => batch_start,
        };
        tracing::error!(projection = name, position, error = %error, "projection stopped");
        let recorded = sqlx::query(
            "UPDATE projection_checkpoints SET failed_position = $2, failure = $3 WHERE name = $1",
        )
        .bind(name)
        .bind(position)
        .bind(error.to_string())
        .execute(&self.pool)
        .await;
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
    let current: i64 = sqlx::query_scalar(
        "SELECT position FROM projection_checkpoints WHERE name = $1 FOR UPDATE",
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
    pool: &PgPool,
    name: &str,
) -> Result<(i64, Option<(i64, String)>), ProjectionError> {
    let row = sqlx::query(
        "SELECT position, failed_position, failure FROM projection_checkpoints WHERE name = $1",
    )
    .bind(name)
    .fetch_one(pool)
    .await?;
    let failed: Option<i64> = row.try_get("failed_position")?;
    let failure: Option<String> = row.try_get("failure")?;
    Ok((
        row.try_get("position")?,
        failed.map(|f| (f, failure.unwrap_or_default())),
    ))
}

/// Wakes the projection tasks whenever a commit appends events.
async fn listen(pool: PgPool, wake: watch::Sender<u64>, shutdown: CancellationToken) {
    // Without notifications, the sender must live on until shutdown: a dropped sender would
    // make every `changed()` return at once and the projection tasks spin instead of polling.
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

/// A projection's lease: a session advisory lock held on a connection taken out of the pool, on
/// which the projection's transactions also run.
struct Lease {
    conn: Option<PoolConnection<Postgres>>,
    name: String,
}

impl Lease {
    async fn try_acquire(pool: &PgPool, name: &str) -> Result<Option<Lease>, ProjectionError> {
        let mut conn = pool.acquire().await?;
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
            .bind(LEASE_CLASS)
            .bind(name)
            .fetch_one(&mut *conn)
            .await?;
        Ok(got.then(|| Lease {
            conn: Some(conn),
            name: name.to_owned(),
        }))
    }

    fn conn(&mut self) -> &mut PoolConnection<Postgres> {
        self.conn
            .as_mut()
            .unwrap_or_else(|| unreachable!("a lease holds its connection until released"))
    }

    async fn release(mut self) {
        if let Some(mut conn) = self.conn.take() {
            let unlocked = sqlx::query("SELECT pg_advisory_unlock($1, hashtext($2))")
                .bind(LEASE_CLASS)
                .bind(&self.name)
                .execute(&mut *conn)
                .await;
            if unlocked.is_err() {
                // Never return a connection that may still hold the lock to the pool.
                drop(conn.detach());
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
