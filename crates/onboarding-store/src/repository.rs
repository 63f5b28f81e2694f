//! One event repository type over both backends, so the ledger is not generic over its store.

use std::sync::Arc;

use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use cqrs_es::Aggregate;
use postgres_es::PostgresEventRepository;
use serde_json::Value;
use sqlx::PgPool;

use crate::append::{Batch, Grouper, Prepared};
use crate::crypto::{KeyProvider, MasterKey};
use crate::error::StoreError;
use crate::log::RecordedEvent;
use crate::memory::InMemoryEventRepository;
use crate::postgres::{PostgresLog, Waker};
use crate::vault::KeyVault;

/// Where events are stored, and the vault whose keys seal their personal data. Cheap to clone;
/// clones share the store.
#[derive(Clone)]
pub struct EventRepository {
    backend: Backend,
    vault: Arc<KeyVault>,
}

#[derive(Clone)]
enum Backend {
    /// Embedded, in this process's memory.
    Memory(InMemoryEventRepository),
    /// Postgres, through `postgres-es`.
    Postgres {
        /// The stock `postgres-es` repository, used for loads (and appends through
        /// [`PersistedEventRepository`]).
        repo: Arc<PostgresEventRepository>,
        /// The global log of the same database.
        log: PostgresLog,
        /// Wakes tailing readers after the ledger's appends commit.
        waker: Arc<Waker>,
        /// Groups concurrent appends into one statement.
        appends: Arc<Grouper>,
    },
}

impl EventRepository {
    /// A new, empty embedded store (personal data sealed under the development master key
    /// until [`with_key_provider`](Self::with_key_provider) says otherwise).
    pub fn in_memory() -> Self {
        Self {
            backend: Backend::Memory(InMemoryEventRepository::new()),
            vault: Arc::new(KeyVault::in_memory(Arc::new(MasterKey::development()))),
        }
    }

    /// The store in the database behind `pool` (which must be migrated; personal data sealed
    /// under the development master key until [`with_key_provider`](Self::with_key_provider)).
    pub fn postgres(pool: PgPool) -> Self {
        Self {
            vault: Arc::new(KeyVault::postgres(
                pool.clone(),
                Arc::new(MasterKey::development()),
            )),
            backend: Backend::Postgres {
                repo: Arc::new(PostgresEventRepository::new(pool.clone())),
                waker: Arc::new(Waker::new(pool.clone())),
                appends: Arc::new(Grouper::new(pool.clone())),
                log: PostgresLog::new(pool),
            },
        }
    }

    /// Seals personal data with keys wrapped by `provider`.
    pub fn with_key_provider(mut self, provider: Arc<dyn KeyProvider>) -> Self {
        self.vault = Arc::new(self.vault.with_provider(provider));
        self
    }

    /// The vault of per-identity data keys.
    pub fn vault(&self) -> &KeyVault {
        &self.vault
    }

    /// The Postgres pool, when on Postgres.
    pub fn pool(&self) -> Option<&PgPool> {
        match &self.backend {
            Backend::Memory(_) => None,
            Backend::Postgres { log, .. } => Some(log.pool()),
        }
    }

    /// Whether appends are checked against what their decisions consulted (on Postgres, where
    /// other processes write too). The embedded store has one writer: its decisions always see
    /// the current state.
    pub fn checks_consulted(&self) -> bool {
        matches!(self.backend, Backend::Postgres { .. })
    }

    /// Appends one command's events to aggregate type `A` (see [`crate::append`]): personal data
    /// sealed, the `cip_id` claim and the data key taken (for an erasure on Postgres: the key
    /// destroyed and the claim released), the snapshot stored, all or nothing.
    /// On Postgres this is one autocommitted statement (shared with other appends made at the same
    /// moment, see [`crate::append`]), after which tailing readers are woken.
    pub async fn append<A: Aggregate>(&self, batch: &Batch) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Memory(m) => {
                let sealed = self.vault.seal_events(&batch.events).await?;
                let snapshot = batch
                    .snapshot
                    .as_ref()
                    .map(|s| (batch.aggregate_id.clone(), s.payload.clone(), s.number));
                Ok(m.persist::<A>(&sealed, snapshot).await?)
            }
            Backend::Postgres { waker, appends, .. } => {
                let sealed = self.vault.seal_with_fresh_key(&batch.events)?;
                appends
                    .append(Prepared::new(A::TYPE, batch, sealed)?)
                    .await?;
                waker.wake();
                Ok(())
            }
        }
    }

    /// Appends the events one command decided for two aggregates, `A`'s and `B`'s, all or
    /// nothing: on Postgres one autocommitted statement (not grouped with other appends), so a
    /// conflict on either stream, or a changed fact either decision read, stores neither. For a
    /// command that must create two aggregates together (an account and its profile), where two
    /// appends could leave the first without the second.
    ///
    /// A paired append stores no snapshot (it is meant for streams being opened; the embedded
    /// store keeps snapshots per append of one aggregate): a batch with one is refused as
    /// [`StoreError::Corrupt`] before anything is written.
    pub async fn append_together<A: Aggregate, B: Aggregate>(
        &self,
        a: &Batch,
        b: &Batch,
    ) -> Result<(), StoreError> {
        if a.snapshot.is_some() || b.snapshot.is_some() {
            return Err(StoreError::Corrupt(format!(
                "a paired append of {} and {} stores no snapshot",
                A::TYPE,
                B::TYPE
            )));
        }
        match &self.backend {
            Backend::Memory(m) => {
                let mut events = self.vault.seal_events(&a.events).await?;
                events.extend(self.vault.seal_events(&b.events).await?);
                Ok(m.persist::<A>(&events, None).await?)
            }
            Backend::Postgres { waker, appends, .. } => {
                let first = Prepared::new(A::TYPE, a, self.vault.seal_with_fresh_key(&a.events)?)?;
                let second = Prepared::new(B::TYPE, b, self.vault.seal_with_fresh_key(&b.events)?)?;
                appends.append_together(&[&first, &second]).await?;
                waker.wake();
                Ok(())
            }
        }
    }

    /// How many appends are on their way (waiting for their group, or in flight): an operator's
    /// gauge of write pressure. Always 0 on the embedded store.
    pub fn appends_in_progress(&self) -> usize {
        match &self.backend {
            Backend::Memory(_) => 0,
            Backend::Postgres { appends, .. } => appends.in_progress(),
        }
    }

    /// Up to `limit` committed events after `position`, in global log order.
    pub async fn read_after(
        &self,
        position: i64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        match &self.backend {
            Backend::Memory(m) => Ok(m.read_after(position, limit)?),
            Backend::Postgres { log, .. } => log.read_after(position, limit).await,
        }
    }

    /// Every event of one aggregate, in sequence order, with time and metadata.
    pub async fn stream_of(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        match &self.backend {
            Backend::Memory(m) => Ok(m.stream_of(aggregate_type, aggregate_id)?),
            Backend::Postgres { log, .. } => log.stream_of(aggregate_type, aggregate_id).await,
        }
    }

    /// The ids of the accounts `identity` owns or is a member of, as their opening events say.
    pub async fn accounts_of(
        &self,
        identity: onboarding_domain::IdentityId,
    ) -> Result<Vec<String>, StoreError> {
        use onboarding_domain::{event_names, AccountEvent};
        match &self.backend {
            Backend::Memory(m) => {
                let mut ids = Vec::new();
                let mut position = 0;
                loop {
                    let batch = m.read_after(position, 1000)?;
                    let Some(last) = batch.last().map(|e| e.position) else {
                        return Ok(ids);
                    };
                    for e in batch.iter().filter(|e| e.event_type == event_names::ACCOUNT_OPENED) {
                        if let Ok(AccountEvent::AccountOpened(o)) =
                            serde_json::from_value::<AccountEvent>(e.payload.clone())
                        {
                            if o.owner == identity || o.members.iter().any(|m| m.identity_id == identity) {
                                ids.push(e.aggregate_id.clone());
                            }
                        }
                    }
                    position = last;
                }
            }
            Backend::Postgres { log, .. } => Ok(sqlx::query_scalar(
                "SELECT aggregate_id FROM events
                  WHERE aggregate_type = $1 AND event_type = $2
                    AND (payload -> $2 ->> 'owner' = $3
                         OR payload -> $2 -> 'members' @> jsonb_build_array(jsonb_build_object('identity_id', $3)))",
            )
            .bind(event_names::ACCOUNT)
            .bind(event_names::ACCOUNT_OPENED)
            .bind(identity.to_string())
            .fetch_all(log.pool())
            .await?),
        }
    }

    /// The position of the last committed event in the log.
    pub async fn head(&self) -> Result<i64, StoreError> {
        match &self.backend {
            Backend::Memory(m) => Ok(m.head()?),
            Backend::Postgres { log, .. } => log.sequence().await,
        }
    }
}

impl PersistedEventRepository for EventRepository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        match &self.backend {
            Backend::Memory(m) => m.get_events::<A>(aggregate_id).await,
            Backend::Postgres { repo, .. } => repo.get_events::<A>(aggregate_id).await,
        }
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        match &self.backend {
            Backend::Memory(m) => m.get_last_events::<A>(aggregate_id, last_sequence).await,
            Backend::Postgres { repo, .. } => {
                repo.get_last_events::<A>(aggregate_id, last_sequence).await
            }
        }
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        match &self.backend {
            Backend::Memory(m) => m.get_snapshot::<A>(aggregate_id).await,
            Backend::Postgres { repo, .. } => repo.get_snapshot::<A>(aggregate_id).await,
        }
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        // Personal data never reaches the log in clear.
        let sealed = self
            .vault
            .seal_events(events)
            .await
            .map_err(|e| PersistenceError::UnknownError(Box::new(e)))?;
        let events = sealed.as_slice();
        match &self.backend {
            Backend::Memory(m) => m.persist::<A>(events, snapshot_update).await,
            Backend::Postgres { repo, .. } => repo.persist::<A>(events, snapshot_update).await,
        }
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        match &self.backend {
            Backend::Memory(m) => m.stream_events::<A>(aggregate_id).await,
            Backend::Postgres { repo, .. } => repo.stream_events::<A>(aggregate_id).await,
        }
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        match &self.backend {
            Backend::Memory(m) => m.stream_all_events::<A>().await,
            Backend::Postgres { repo, .. } => repo.stream_all_events::<A>().await,
        }
    }
}
