//! One event repository type over both backends, so the ledger is not generic over its store.

use std::sync::Arc;

use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use cqrs_es::Aggregate;
use postgres_es::PostgresEventRepository;
use serde_json::Value;
use sqlx::PgPool;

use crate::error::StoreError;
use crate::log::RecordedEvent;
use crate::memory::InMemoryEventRepository;
use crate::postgres::PostgresLog;

/// The backend events are stored in. Cheap to clone; clones share the store.
#[derive(Clone)]
pub enum EventRepository {
    /// Embedded, in this process's memory.
    Memory(InMemoryEventRepository),
    /// Postgres, through `postgres-es`.
    Postgres {
        /// The stock `postgres-es` repository, used for appends, loads and snapshots.
        repo: Arc<PostgresEventRepository>,
        /// The global log of the same database.
        log: PostgresLog,
    },
}

impl EventRepository {
    /// A new, empty embedded store.
    pub fn in_memory() -> Self {
        Self::Memory(InMemoryEventRepository::new())
    }

    /// The store in the database behind `pool` (which must be migrated).
    pub fn postgres(pool: PgPool) -> Self {
        Self::Postgres {
            repo: Arc::new(PostgresEventRepository::new(pool.clone())),
            log: PostgresLog::new(pool),
        }
    }

    /// The Postgres pool, when on Postgres.
    pub fn pool(&self) -> Option<&PgPool> {
        match self {
            Self::Memory(_) => None,
            Self::Postgres { log, .. } => Some(log.pool()),
        }
    }

    /// Up to `limit` committed events after `position`, in global log order.
    pub async fn read_after(
        &self,
        position: i64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        match self {
            Self::Memory(m) => Ok(m.read_after(position, limit)?),
            Self::Postgres { log, .. } => log.read_after(position, limit).await,
        }
    }

    /// Every event of one aggregate, in sequence order, with time and metadata.
    pub async fn stream_of(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        match self {
            Self::Memory(m) => Ok(m.stream_of(aggregate_type, aggregate_id)?),
            Self::Postgres { log, .. } => log.stream_of(aggregate_type, aggregate_id).await,
        }
    }

    /// The position of the last committed event in the log.
    pub async fn head(&self) -> Result<i64, StoreError> {
        match self {
            Self::Memory(m) => Ok(m.head()?),
            Self::Postgres { log, .. } => log.sequence().await,
        }
    }
}

impl PersistedEventRepository for EventRepository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        match self {
            Self::Memory(m) => m.get_events::<A>(aggregate_id).await,
            Self::Postgres { repo, .. } => repo.get_events::<A>(aggregate_id).await,
        }
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        match self {
            Self::Memory(m) => m.get_last_events::<A>(aggregate_id, last_sequence).await,
            Self::Postgres { repo, .. } => {
                repo.get_last_events::<A>(aggregate_id, last_sequence).await
            }
        }
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        match self {
            Self::Memory(m) => m.get_snapshot::<A>(aggregate_id).await,
            Self::Postgres { repo, .. } => repo.get_snapshot::<A>(aggregate_id).await,
        }
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        match self {
            Self::Memory(m) => m.persist::<A>(events, snapshot_update).await,
            Self::Postgres { repo, .. } => repo.persist::<A>(events, snapshot_update).await,
        }
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        match self {
            Self::Memory(m) => m.stream_events::<A>(aggregate_id).await,
            Self::Postgres { repo, .. } => repo.stream_events::<A>(aggregate_id).await,
        }
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        match self {
            Self::Memory(m) => m.stream_all_events::<A>().await,
            Self::Postgres { repo, .. } => repo.stream_all_events::<A>().await,
        }
    }
}
