//! The log's sequencing horizon, seen from the harness.
//!
//! `sequence_events()` orders only events of transactions older than the oldest transaction
//! still running that could write to the database (its own sessions', and any transaction
//! `pg_stat_activity` does not place in another database). A session that sits in an open
//! transaction there therefore holds the whole log back: the harness would measure nothing. It
//! waits a while, then fails naming that session.

use std::time::{Duration, Instant};

use onboarding_store::postgres::PostgresLog;
use sqlx::{PgPool, Row};

use crate::error::{BenchError, Holder};
use crate::sql;

/// Sequences the log until it holds at least `events` events; fails after `deadline`, naming
/// the transaction that holds the horizon back if there is one.
pub(crate) async fn sequenced(
    pool: &PgPool,
    events: i64,
    deadline: Duration,
) -> Result<i64, BenchError> {
    let log = PostgresLog::new(pool.clone());
    let started = Instant::now();
    loop {
        let head = log.sequence().await?;
        if head >= events {
            return Ok(head);
        }
        if started.elapsed() > deadline {
            return Err(held_back(pool, "sequencing the generated events", deadline).await);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The error for something that did not happen within `waited`: [`BenchError::LogHeldBack`]
/// when another session's open transaction holds the horizon, else [`BenchError::Timeout`].
pub(crate) async fn held_back(pool: &PgPool, what: &'static str, waited: Duration) -> BenchError {
    match oldest_transaction(pool).await {
        Ok(Some(holder)) if holder.open_seconds >= waited.as_secs_f64() / 2.0 => {
            BenchError::LogHeldBack {
                what,
                waited,
                holder,
            }
        }
        _ => BenchError::Timeout { what, waited },
    }
}

/// The oldest transaction with a transaction id of another session that can hold this
/// database's log back (of this database, or of no database).
async fn oldest_transaction(pool: &PgPool) -> Result<Option<Holder>, sqlx::Error> {
    let row = sqlx::query(sql::OLDEST_TRANSACTION)
        .fetch_optional(pool)
        .await?;
    row.map(|r| {
        Ok(Holder {
            pid: r.try_get(0)?,
            database: r.try_get(1)?,
            state: r.try_get(2)?,
            open_seconds: r.try_get(3)?,
        })
    })
    .transpose()
}
