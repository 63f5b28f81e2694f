//! Reading the log for the projector: one read and one decode per batch, whatever the number of
//! projections it is handed to, and no sequencing while the batch lies below the sequenced head.

use onboarding_store::postgres::decode_row;
use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres};

use crate::error::ProjectionError;
use crate::event::ProjectedEvent;

/// The events after a position, in log order (the same rows as `PostgresLog::read_after`).
const READ_AFTER: &str =
    "SELECT l.position, e.recorded_at, e.aggregate_type, e.aggregate_id, e.sequence,
        e.event_type, e.event_version, e.payload, e.metadata, encode(e.hash, 'hex') AS hash
   FROM event_log l
   JOIN events e ON e.event_id = l.event_id
  WHERE l.position > $1
  ORDER BY l.position
  LIMIT $2";

/// The highest sequenced position.
const HEAD: &str = "SELECT coalesce(max(position), 0) FROM event_log";

/// How many events one call to `sequence_events` orders at most (as the store does).
const SEQUENCE_BATCH: i32 = 10_000;

/// Consecutive decoded events of the log, shared by every projection they are applied to.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// The events, in log order.
    pub(crate) events: Vec<ProjectedEvent>,
    /// The first undecodable event after `events`, if the read ran into one: the batch ends
    /// before it.
    pub(crate) undecodable: Option<ProjectionError>,
}

impl Batch {
    /// The last position the batch holds.
    pub(crate) fn last(&self) -> Option<i64> {
        self.events.last().map(ProjectedEvent::position)
    }

    /// The events after `position`.
    pub(crate) fn after(&self, position: i64) -> &[ProjectedEvent] {
        let first = self.events.partition_point(|e| e.position() <= position);
        &self.events[first..]
    }
}

/// Reads batches of the log on a connection of its own (taken from the pool at the first read
/// and kept), so that it never waits for the pool that the projections' leases drain. Positions
/// up to the sequenced head never change, so a read that stays below the head it last saw needs
/// no call to `sequence_events()` (an advisory lock and a scan); only a read that reaches it
/// sequences first.
pub(crate) struct Reader {
    pool: PgPool,
    conn: Option<PoolConnection<Postgres>>,
    /// The highest position known to be sequenced.
    head: i64,
}

impl Reader {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self {
            pool,
            conn: None,
            head: 0,
        }
    }

    /// The sequenced head as of the last sequencing (it only grows).
    pub(crate) fn head(&self) -> i64 {
        self.head
    }

    /// Takes the reader's connection now (before the leases take the pool's others).
    pub(crate) async fn connect(&mut self) -> Result<(), ProjectionError> {
        self.conn().await.map(|_| ())
    }

    /// Drops the connection (it broke, or the reader is idle); the next read takes another.
    pub(crate) fn disconnect(&mut self) {
        self.conn = None;
    }

    async fn conn(&mut self) -> Result<&mut PgConnection, ProjectionError> {
        if self.conn.is_none() {
            self.conn = Some(self.pool.acquire().await?);
        }
        match self.conn.as_mut() {
            Some(conn) => Ok(&mut **conn),
            None => unreachable!("just acquired"),
        }
    }

    /// Whether committed events certainly wait to be sequenced (`postgres::lagging`), asked on
    /// the reader's own connection: the run loop asks it when idle, and must not wait for a
    /// connection of the pool, which its leases and a concurrent catch-up may all hold.
    pub(crate) async fn lagging(&mut self) -> Result<bool, ProjectionError> {
        Ok(onboarding_store::postgres::lagging(self.conn().await?).await?)
    }

    /// Sequences newly committed events (as `PostgresLog::sequence` does) and returns the head.
    pub(crate) async fn sequence(&mut self) -> Result<i64, ProjectionError> {
        let conn = self.conn().await?;
        loop {
            let before: i64 = sqlx::query_scalar(HEAD).fetch_one(&mut *conn).await?;
            let head: i64 = sqlx::query_scalar("SELECT sequence_events($1)")
                .bind(SEQUENCE_BATCH)
                .fetch_one(&mut *conn)
                .await?;
            if head - before < i64::from(SEQUENCE_BATCH) {
                self.head = self.head.max(head);
                return Ok(self.head);
            }
        }
    }

    /// Up to `limit` events after `position`, decoded.
    pub(crate) async fn read(
        &mut self,
        position: i64,
        limit: usize,
    ) -> Result<Batch, ProjectionError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX).max(1);
        if position.saturating_add(limit) > self.head {
            self.sequence().await?;
        }
        let rows = sqlx::query(READ_AFTER)
            .bind(position)
            .bind(limit)
            .fetch_all(self.conn().await?)
            .await?;
        let upcasters = onboarding_store::aggregates::all_upcasters();
        let mut batch = Batch {
            events: Vec::with_capacity(rows.len()),
            undecodable: None,
        };
        for row in &rows {
            match ProjectedEvent::decode_with(decode_row(row)?, &upcasters) {
                Ok(event) => batch.events.push(event),
                Err(e) => {
                    batch.undecodable = Some(e);
                    break;
                }
            }
        }
        Ok(batch)
    }
}

/// A batch read ahead, while the current one is applied.
pub(crate) struct ReadAhead {
    position: i64,
    limit: usize,
    pool: PgPool,
    head: i64,
    task: Spawned<(Reader, Result<Batch, ProjectionError>)>,
}

impl ReadAhead {
    /// Starts reading `limit` events after `position` in a task of its own, so that decoding
    /// runs in parallel with the projections' work. The task borrows the reader's connection.
    pub(crate) fn start(reader: &mut Reader, position: i64, limit: usize) -> Self {
        let (pool, head) = (reader.pool.clone(), reader.head);
        let mut lent = std::mem::replace(
            reader,
            Reader {
                pool: pool.clone(),
                conn: None,
                head,
            },
        );
        let task = Spawned::spawn(async move {
            let read = lent.read(position, limit).await;
            (lent, read)
        });
        Self {
            position,
            limit,
            pool,
            head,
            task,
        }
    }

    /// Gives the reader back, with the batch if it is the one asked for (a batch read for
    /// another position is waited for and dropped).
    pub(crate) async fn claim(
        self,
        reader: &mut Reader,
        position: i64,
        limit: usize,
    ) -> Option<Result<Batch, ProjectionError>> {
        let wanted = (self.position, self.limit) == (position, limit);
        let (pool, head) = (self.pool, self.head);
        match self.task.join().await {
            Ok((lent, read)) => {
                *reader = lent;
                wanted.then_some(read)
            }
            Err(_) => {
                *reader = Reader {
                    pool,
                    conn: None,
                    head,
                };
                None
            }
        }
    }
}

/// A spawned task that is aborted when its handle is dropped: a projector that stops, or is
/// itself aborted, leaves nothing running behind it.
pub(crate) struct Spawned<T>(Option<tokio::task::JoinHandle<T>>);

impl<T: Send + 'static> Spawned<T> {
    /// Spawns `future`.
    pub(crate) fn spawn(future: impl std::future::Future<Output = T> + Send + 'static) -> Self {
        Self(Some(tokio::spawn(future)))
    }

    /// Waits for the task's output (an error if it panicked).
    pub(crate) async fn join(mut self) -> Result<T, tokio::task::JoinError> {
        // Awaited in place, not moved out: if this future is dropped while waiting, `self` still
        // holds the handle and aborts the task.
        let output = match self.0.as_mut() {
            Some(handle) => handle.await,
            None => unreachable!("a task is joined at most once"),
        };
        self.0 = None;
        output
    }
}

impl<T> Drop for Spawned<T> {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            handle.abort();
        }
    }
}
