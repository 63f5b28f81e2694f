//! What the tests start from: ledgers and projectors on the test database, the custom read
//! models they register, and waits with a deadline that poll the database.

pub mod commands;
pub mod read_models;
pub mod recorder;
pub mod views;

use std::future::Future;
use std::time::{Duration, Instant};

use onboarding_projections::{ProjectionError, Projector, ProjectorOptions};
use onboarding_store::postgres::PostgresLog;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgConnection, PgPool};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a test waits for a condition before failing.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Waits until `check` holds, polling; fails the test after [`DEADLINE`].
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + DEADLINE;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Awaits `future`, failing the test after [`DEADLINE`]: a hang (a lock never released, say)
/// fails the test rather than blocking the run.
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, future)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {DEADLINE:?}"))
}

/// Options for tests: small batches, prompt lease retries, and a polling fallback that keeps
/// tests going when another test's transaction delays a notified commit.
pub fn options(batch_size: usize) -> ProjectorOptions {
    ProjectorOptions {
        batch_size,
        poll_interval: Duration::from_millis(200),
        lease_retry: Duration::from_millis(20),
    }
}

/// A pool of `size` connections on the test database, for tests that hold more sessions than
/// the five of `#[sqlx::test]`'s pool (a running projector holds one per projection). Close it
/// before the test returns, so that the test database can be dropped.
pub async fn wide_pool(pool: &PgPool, size: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(size)
        .connect_with((*pool.connect_options()).clone())
        .await
        .expect("connect to the test database")
}

/// How many events are committed (each gets exactly one log position, so this is the head the
/// log will reach).
pub async fn committed(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .expect("count events")
}

/// Waits until the log has sequenced every committed event (a transaction of this database still
/// open holds it back for a moment); returns the head.
pub async fn wait_sequenced(pool: &PgPool) -> i64 {
    let log = PostgresLog::new(pool.clone());
    eventually("the log to sequence every commit", || {
        let log = log.clone();
        async move { log.sequence().await.expect("sequence") == committed(log.pool()).await }
    })
    .await;
    committed(pool).await
}

/// Whether every projection of `projector` has applied every committed event; fails the test
/// if one has stopped.
pub async fn at_head(projector: &Projector, pool: &PgPool) -> bool {
    let head = committed(pool).await;
    let status = projector.status().await.expect("status");
    if let Some(stopped) = status.iter().find(|s| s.failed_position.is_some()) {
        panic!("projection stopped: {stopped:?}");
    }
    status.iter().all(|s| s.position == head)
}

/// Waits until a projector running elsewhere has applied every committed event to every
/// projection of `projector`; returns the head.
pub async fn wait_at_head(projector: &Projector, pool: &PgPool) -> i64 {
    eventually("the projections to reach the head", || {
        at_head(projector, pool)
    })
    .await;
    committed(pool).await
}

/// Catches `projector` up until every projection has applied every committed event; returns
/// the head.
pub async fn catch_up_all(projector: &Projector, pool: &PgPool) -> i64 {
    eventually("catch-up to reach the head", || async move {
        within("catch-up", projector.catch_up())
            .await
            .expect("catch-up");
        at_head(projector, pool).await
    })
    .await;
    committed(pool).await
}

/// A projector running in a background task.
pub struct Background {
    /// Stops it cleanly.
    pub shutdown: CancellationToken,
    /// The task.
    pub task: JoinHandle<Result<Vec<ProjectionError>, ProjectionError>>,
}

impl Background {
    /// Starts `projector.run` in a task.
    pub fn start(projector: Projector) -> Self {
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let task = tokio::spawn(async move { projector.run(token).await });
        Self { shutdown, task }
    }

    /// Stops it cleanly; returns the projections that stopped on a failure.
    pub async fn stop(self) -> Vec<ProjectionError> {
        self.shutdown.cancel();
        within("a clean shutdown", self.task)
            .await
            .expect("the projector task ends normally")
            .expect("the projector ran")
    }

    /// Kills it (drops its future mid-flight, as a crash would).
    pub async fn kill(self) {
        self.task.abort();
        let ended = self.task.await;
        assert!(
            ended.as_ref().is_err_and(|e| e.is_cancelled()),
            "the projector task was killed, not finished: {ended:?}"
        );
    }
}

/// Inserts an event of aggregate type `test` (one the ledger does not define) the way another
/// writer sharing the log would, within the caller's transaction.
pub async fn insert_foreign_event(conn: &mut PgConnection, aggregate_id: &str, sequence: i64) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         VALUES ('test', $1, $2, 'SomethingHappened', '1.0', '{}',
                 '{\"actor\": \"another-writer\"}')",
    )
    .bind(aggregate_id)
    .bind(sequence)
    .execute(conn)
    .await
    .expect("insert a foreign event");
}

/// How many sessions on the test database are listening for commits (projectors' listeners).
pub async fn listeners(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity
          WHERE datname = current_database() AND query LIKE 'LISTEN %'",
    )
    .fetch_one(pool)
    .await
    .expect("read pg_stat_activity")
}
