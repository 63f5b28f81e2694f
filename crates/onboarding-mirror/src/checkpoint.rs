//! Where the mirror and the events poller keep their place, and the lease that keeps one
//! mirror active at a time. On PostgreSQL: rows of the `projection_checkpoints` table (named
//! [`MIRROR_CHECKPOINT`] and [`EVENTS_CURSOR`]) and a session advisory lock; on the embedded
//! store, or for a private mirror ([`Checkpoints::in_memory_from_head`]): memory, with no
//! lease. All of this crate's SQL and use of the store is in this file.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};

use crate::error::MirrorError;
use crate::lock;

/// The checkpoint of the mirror worker: the last log position fully mirrored.
pub const MIRROR_CHECKPOINT: &str = "paxos_mirror";
/// The cursor of the events poller: the `created_at` of the last Paxos event handled, in
/// microseconds since the Unix epoch (stored in the `position` column).
pub const EVENTS_CURSOR: &str = "paxos_events";
/// Advisory-lock class of mirror leases (distinct from the projections' class).
const LEASE_CLASS: i32 = 0x4d49_5252; // "MIRR"

/// Named positions, in PostgreSQL or in memory. Cheap to clone.
#[derive(Debug, Clone)]
pub enum Checkpoints {
    /// Rows of `projection_checkpoints`.
    Postgres(PgPool),
    /// A map that lives as long as the process (for the embedded store and demos).
    Memory(Arc<Mutex<HashMap<String, i64>>>),
}

impl Checkpoints {
    /// The checkpoints of a ledger: in its database, or in memory for the embedded store.
    pub fn for_ledger(ledger: &onboarding_ledger::Ledger) -> Self {
        match ledger.repository().pool() {
            Some(pool) => Self::Postgres(pool.clone()),
            None => Self::Memory(Arc::default()),
        }
    }

    /// Positions in memory with the mirror's checkpoint at the head of `ledger`'s log as of
    /// this call: a private mirror of what happens from now on (e.g. one demo run, with
    /// [`MirrorOptions::correlation`](crate::MirrorOptions::correlation)), which neither takes
    /// the shared `paxos_mirror` lease nor moves its checkpoint. On PostgreSQL it first waits
    /// (up to 30 s) until every event committed before the call is in the log.
    pub async fn in_memory_from_head(
        ledger: &onboarding_ledger::Ledger,
    ) -> Result<Self, MirrorError> {
        let head = match ledger.repository().pool() {
            Some(pool) => onboarding_store::postgres::PostgresLog::new(pool.clone())
                .sequence_visible(std::time::Duration::from_secs(30))
                .await
                .map_err(|e| MirrorError::Ledger(e.into()))?,
            None => {
                let mut head = 0;
                while let Some(last) = ledger.read_log(head, 1000).await?.last() {
                    head = last.position;
                }
                head
            }
        };
        let checkpoints = Self::Memory(Arc::default());
        checkpoints.save(MIRROR_CHECKPOINT, head).await?;
        Ok(checkpoints)
    }

    /// The position saved under `name` (0 when none).
    pub async fn load(&self, name: &str) -> Result<i64, MirrorError> {
        match self {
            Self::Postgres(pool) => {
                let position: Option<i64> = sqlx::query_scalar(
                    "SELECT position FROM projection_checkpoints WHERE name = $1",
                )
                .bind(name)
                .fetch_optional(pool)
                .await?;
                Ok(position.unwrap_or(0))
            }
            Self::Memory(map) => Ok(lock(map).get(name).copied().unwrap_or(0)),
        }
    }

    /// Saves `position` under `name` (one short autocommit statement: no transaction is ever
    /// held open across a Paxos call).
    pub async fn save(&self, name: &str, position: i64) -> Result<(), MirrorError> {
        match self {
            Self::Postgres(pool) => {
                sqlx::query(
                    "INSERT INTO projection_checkpoints (name, position) VALUES ($1, $2)
                     ON CONFLICT (name) DO UPDATE SET position = $2, updated_at = now()",
                )
                .bind(name)
                .bind(position)
                .execute(pool)
                .await?;
                Ok(())
            }
            Self::Memory(map) => {
                lock(map).insert(name.to_owned(), position);
                Ok(())
            }
        }
    }

    /// Moves the position under `name` from `from` to `to`, only if it still is `from`: a
    /// checkpoint another mirror moved meanwhile means this one lost its lease
    /// ([`MirrorError::LeaseLost`]), and nothing is written. (A position never saved counts as
    /// 0, as [`Checkpoints::load`] reads it.)
    pub async fn advance(&self, name: &str, from: i64, to: i64) -> Result<(), MirrorError> {
        let moved = match self {
            Self::Postgres(pool) => {
                let updated = sqlx::query(
                    "UPDATE projection_checkpoints SET position = $3, updated_at = now()
                      WHERE name = $1 AND position = $2",
                )
                .bind(name)
                .bind(from)
                .bind(to)
                .execute(pool)
                .await?
                .rows_affected();
                // From 0, the row may not exist yet: the first mirror to write it wins.
                updated == 1
                    || from == 0
                        && sqlx::query(
                            "INSERT INTO projection_checkpoints (name, position) VALUES ($1, $2)
                             ON CONFLICT (name) DO NOTHING",
                        )
                        .bind(name)
                        .bind(to)
                        .execute(pool)
                        .await?
                        .rows_affected()
                            == 1
            }
            Self::Memory(map) => {
                let mut map = lock(map);
                let position = map.entry(name.to_owned()).or_insert(0);
                let at = *position == from;
                if at {
                    *position = to;
                }
                at
            }
        };
        if moved {
            Ok(())
        } else {
            Err(MirrorError::LeaseLost(name.to_owned()))
        }
    }

    /// Takes the lease named `name`, or `None` when another session holds it. The lease is a
    /// session advisory lock on a connection taken out of the pool; dropping the [`Lease`]
    /// ends the session's hold (the connection is closed, not returned).
    pub async fn try_lease(&self, name: &str) -> Result<Option<Lease>, MirrorError> {
        match self {
            Self::Postgres(pool) => {
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
            Self::Memory(_) => Ok(Some(Lease {
                conn: None,
                name: name.to_owned(),
            })),
        }
    }
}

/// Waits (up to `timeout`) until every event committed to `ledger` before this call has a log
/// position, so that one pass sees all of them. PostgreSQL sequences only events older than
/// every running transaction, so the log can lag the commits a little; the embedded store
/// orders events as it stores them. This is about the ledger's log, whatever keeps the
/// positions (a private mirror on PostgreSQL keeps them in memory and still needs it).
pub(crate) async fn settle_log(
    ledger: &onboarding_ledger::Ledger,
    timeout: std::time::Duration,
) -> Result<(), MirrorError> {
    if let Some(pool) = ledger.repository().pool() {
        onboarding_store::postgres::PostgresLog::new(pool.clone())
            .sequence_visible(timeout)
            .await
            .map_err(|e| MirrorError::Ledger(e.into()))?;
    }
    Ok(())
}

/// A held lease. [`release`](Lease::release) it; one merely dropped is released when its
/// session ends (the connection is closed, not returned to the pool).
#[derive(Debug)]
pub struct Lease {
    conn: Option<PoolConnection<Postgres>>,
    name: String,
}

impl Lease {
    /// Checks that the lease is still held: its session must still answer (a session that
    /// ended, killed or cut off, released the lock with it).
    pub async fn check(&mut self) -> Result<(), MirrorError> {
        let lost = || MirrorError::LeaseLost(self.name.clone());
        let Some(conn) = self.conn.as_mut() else {
            return Ok(());
        };
        let held: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_locks
                             WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
                               AND classid::int4 = $1 AND objid::int4 = hashtext($2) AND objsubid = 2)",
        )
        .bind(LEASE_CLASS)
        .bind(&self.name)
        .fetch_one(&mut **conn)
        .await
        .map_err(|_| lost())?;
        if held {
            Ok(())
        } else {
            Err(lost())
        }
    }

    /// Releases the lease at once and returns the connection to the pool.
    pub async fn release(mut self) -> Result<(), MirrorError> {
        if let Some(mut conn) = self.conn.take() {
            let result = sqlx::query("SELECT pg_advisory_unlock($1, hashtext($2))")
                .bind(LEASE_CLASS)
                .bind(&self.name)
                .execute(&mut *conn)
                .await;
            if result.is_err() {
                drop(conn.detach());
            }
            result?;
        }
        Ok(())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Closing the session releases its advisory locks; a pooled connection would keep them.
        if let Some(conn) = self.conn.take() {
            drop(conn.detach());
        }
    }
}
