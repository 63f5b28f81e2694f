//! The Postgres store of record: `postgres-es` for appends, loads and snapshots, plus the schema
//! (`migrations/`), the global log, and notifications.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool, Row};

use crate::error::StoreError;
use crate::log::RecordedEvent;
use crate::metadata::EventMetadata;

/// The migrations of `migrations/` at the workspace root, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// The channel `NOTIFY`ed after the ledger's appends commit.
pub const EVENTS_CHANNEL: &str = "onboarding_events";

/// How many events one call to `sequence_events` orders at most.
const SEQUENCE_BATCH: i32 = 10_000;

/// Connects a pool to `url` (fails fast when the server is down).
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, StoreError> {
    let options: PgConnectOptions = url
        .parse()
        .map_err(|e: sqlx::Error| StoreError::Config(format!("invalid database URL: {e}")))?;
    // The pool retries refused connections until its acquire timeout and then reports only the
    // timeout; one direct attempt first fails at once, with the cause.
    PgConnection::connect_with(&options)
        .await
        .map_err(StoreError::from)?
        .close()
        .await
        .map_err(StoreError::from)?;
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(StoreError::from)
}

/// Applies every pending migration.
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    MIGRATOR.run(pool).await.map_err(|e| match e {
        sqlx::migrate::MigrateError::Execute(inner) => StoreError::from(inner),
        other => StoreError::Migration(other.to_string()),
    })
}

/// Fails with [`StoreError::SchemaMissing`] unless every embedded migration has been applied.
pub async fn check_schema(pool: &PgPool) -> Result<(), StoreError> {
    let applied: i64 =
        match sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await
        {
            Ok(n) => n,
            Err(e) => {
                return Err(match StoreError::from(e) {
                    StoreError::SchemaMissing(_) => {
                        StoreError::SchemaMissing("no migrations applied".to_owned())
                    }
                    other => other,
                })
            }
        };
    let expected = i64::try_from(MIGRATOR.iter().count()).unwrap_or(i64::MAX);
    if applied < expected {
        return Err(StoreError::SchemaMissing(format!(
            "{applied} of {expected} migrations applied"
        )));
    }
    Ok(())
}

/// Wakes readers `LISTEN`ing on [`EVENTS_CHANNEL`] after appends commit.
///
/// A `NOTIFY` inside the appending transaction would serialise every commit on the server's
/// notification queue lock; instead each wake-up is sent after the append committed, by one
/// background task that coalesces a burst of appends into one notification every
/// [`WAKE_INTERVAL`] at most. Readers poll as well, so appends from other writers (the stock
/// `postgres-es` repository, SQL) are found too, and a lost wake-up only delays them.
pub struct Waker {
    pool: PgPool,
    wanted: std::sync::Arc<tokio::sync::Notify>,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// The shortest time between two wake-ups: the first of a burst goes out at once, the rest of
/// it in one more notification.
pub const WAKE_INTERVAL: Duration = Duration::from_millis(5);

impl Waker {
    /// A waker notifying through `pool`; its task starts at the first wake-up.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            wanted: std::sync::Arc::default(),
            task: std::sync::Mutex::new(None),
        }
    }

    /// Asks for a notification; returns at once. Outside a Tokio runtime it does nothing.
    pub fn wake(&self) {
        {
            let mut task = self.task.lock().unwrap_or_else(|p| p.into_inner());
            // (Re)started on the caller's runtime: the first one, or a later one if the runtime
            // that ran the task has gone.
            if task
                .as_ref()
                .is_none_or(tokio::task::JoinHandle::is_finished)
            {
                let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                    return;
                };
                *task =
                    Some(runtime.spawn(notify_when_wanted(self.pool.clone(), self.wanted.clone())));
            }
        }
        self.wanted.notify_one();
    }
}

/// The waker's task: one notification per wanted wake-up, at most one per [`WAKE_INTERVAL`].
async fn notify_when_wanted(pool: PgPool, wanted: std::sync::Arc<tokio::sync::Notify>) {
    loop {
        wanted.notified().await;
        // The notification's own transaction need not wait for its WAL flush: it records
        // nothing, and what it announces committed durably before it was asked for. Without
        // waiting, it neither holds a connection through a flush nor adds one of its own.
        let sent =
            sqlx::query("SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, '')")
                .bind(EVENTS_CHANNEL)
                .execute(&pool)
                .await;
        match sent {
            Ok(_) => {}
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => tracing::debug!(error = %e, "wake-up notification failed"),
        }
        tokio::time::sleep(WAKE_INTERVAL).await;
    }
}

impl Drop for Waker {
    fn drop(&mut self) {
        let task = self.task.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(task) = task.take() {
            task.abort();
        }
    }
}

/// Whether committed events certainly wait to be sequenced on the database of `conn`: the
/// newest event is not in the log yet (an older transaction still running holds the horizon
/// back). Two index lookups; a `false` can miss an unsequenced event older than the newest
/// sequenced one.
pub async fn lagging(conn: &mut PgConnection) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT coalesce((SELECT max(event_id) FROM events), 0)
              > coalesce((SELECT max(event_id) FROM event_log), 0)",
    )
    .fetch_one(conn)
    .await?)
}

/// The global log in Postgres.
#[derive(Clone)]
pub struct PostgresLog {
    pool: PgPool,
}

impl PostgresLog {
    /// The log of the database behind `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Orders newly committed events into the log and returns its head position.
    pub async fn sequence(&self) -> Result<i64, StoreError> {
        loop {
            let before = self.head().await?;
            let head: i64 = sqlx::query_scalar("SELECT sequence_events($1)")
                .bind(SEQUENCE_BATCH)
                .fetch_one(&self.pool)
                .await?;
            if head - before < i64::from(SEQUENCE_BATCH) {
                return Ok(head);
            }
        }
    }

    /// Sequences until every event visible now has a position, and returns the head. Sequencing
    /// only passes events older than every transaction still running that could write to this
    /// database, so another session's open transaction on it can hold the log back: this waits
    /// for it, up to `timeout`, where [`sequence`](Self::sequence) would return at once.
    pub async fn sequence_visible(&self, timeout: Duration) -> Result<i64, StoreError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let newest: Option<i64> = sqlx::query_scalar("SELECT max(event_id) FROM events")
            .fetch_one(&self.pool)
            .await?;
        let Some(newest) = newest else {
            return self.sequence().await;
        };
        loop {
            let head = self.sequence().await?;
            // The log is a prefix of the events in (transaction_id, event_id) order (sequencing
            // takes them in that order, only from transactions that have ended), so what is
            // not sequenced lies after the last sequenced event: a range of the
            // `events_by_transaction` index, not a scan of the whole log (the `ORDER BY ...
            // LIMIT 1` form, not `EXISTS`, is what makes the planner walk the index).
            let pending: bool = sqlx::query_scalar(
                "SELECT (SELECT e.event_id FROM events e
                          WHERE (e.transaction_id, e.event_id) > (
                                    coalesce((SELECT s.transaction_id
                                                FROM event_log l JOIN events s ON s.event_id = l.event_id
                                               ORDER BY l.position DESC LIMIT 1), '0'::xid8),
                                    coalesce((SELECT l.event_id FROM event_log l
                                               ORDER BY l.position DESC LIMIT 1), 0))
                            AND e.event_id <= $1
                          ORDER BY e.transaction_id, e.event_id LIMIT 1) IS NOT NULL",
            )
            .bind(newest)
            .fetch_one(&self.pool)
            .await?;
            if !pending {
                return Ok(head);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StoreError::Database(format!(
                    "committed events are still unsequenced after {timeout:?}: a long-running transaction holds the log back"
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The highest sequenced position (0 when empty), without sequencing.
    pub async fn head(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT coalesce(max(position), 0) FROM event_log")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Up to `limit` events after `position`, in log order. Sequences new commits first.
    pub async fn read_after(
        &self,
        position: i64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        sqlx::query_scalar::<_, i64>("SELECT sequence_events($1)")
            .bind(SEQUENCE_BATCH)
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query(
            "SELECT l.position, e.recorded_at, e.aggregate_type, e.aggregate_id, e.sequence,
                    e.event_type, e.event_version, e.payload, e.metadata,
                    encode(e.hash, 'hex') AS hash
               FROM event_log l
               JOIN events e ON e.event_id = l.event_id
              WHERE l.position > $1
              ORDER BY l.position
              LIMIT $2",
        )
        .bind(position)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(decode_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Every event of one aggregate in sequence order, with commit time and log position.
    pub async fn stream_of(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.sequence().await?;
        let rows = sqlx::query(
            "SELECT coalesce(l.position, 0) AS position, e.recorded_at, e.aggregate_type,
                    e.aggregate_id, e.sequence, e.event_type, e.event_version, e.payload, e.metadata,
                    encode(e.hash, 'hex') AS hash
               FROM events e
               LEFT JOIN event_log l ON l.event_id = e.event_id
              WHERE e.aggregate_type = $1 AND e.aggregate_id = $2
              ORDER BY e.sequence",
        )
        .bind(aggregate_type)
        .bind(aggregate_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(decode_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The pool behind the log.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// An event of a query that selects `position`, `recorded_at`, the `events` columns and
/// `encode(hash, 'hex') AS hash`, as every reader of the log does.
pub fn decode_row(row: &sqlx::postgres::PgRow) -> Result<RecordedEvent, sqlx::Error> {
    let metadata: serde_json::Value = row.try_get("metadata")?;
    Ok(RecordedEvent {
        position: row.try_get("position")?,
        recorded_at: row.try_get("recorded_at")?,
        aggregate_type: row.try_get("aggregate_type")?,
        aggregate_id: row.try_get("aggregate_id")?,
        sequence: row.try_get("sequence")?,
        event_type: row.try_get("event_type")?,
        event_version: row.try_get("event_version")?,
        payload: row.try_get("payload")?,
        metadata: EventMetadata::from_json(&metadata),
        hash: row.try_get("hash")?,
    })
}

/// Appends `text` to a `COPY ... FROM STDIN` row in text format, with the escapes that format
/// reserves (backslash, tab, newline, carriage return).
pub fn copy_text(out: &mut Vec<u8>, text: &str) {
    for b in text.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::copy_text;

    #[test]
    fn copy_text_escapes_its_reserved_characters() {
        let mut out = Vec::new();
        copy_text(&mut out, "a\\b\tc\nd\re");
        assert_eq!(out, b"a\\\\b\\tc\\nd\\re");
    }
}
