//! The embedded store: an in-memory implementation of `cqrs-es`'s `PersistedEventRepository`,
//! so the domain, upcasters and snapshots run exactly as on Postgres, with no server.
//!
//! It enforces the same optimistic concurrency (an append whose first sequence is not the
//! stream's next fails with a conflict, and nothing of it is kept) and assigns global positions
//! in commit order. It prints nothing, unlike `cqrs_es::mem_store::MemStore`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::Utc;
use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use cqrs_es::Aggregate;
use serde_json::Value;

use crate::log::RecordedEvent;
use crate::metadata::EventMetadata;

#[derive(Default)]
struct State {
    log: Vec<RecordedEvent>,
    // (aggregate type, aggregate id) -> indexes into `log`, in sequence order.
    streams: HashMap<(String, String), Vec<usize>>,
    snapshots: HashMap<(String, String), SerializedSnapshot>,
}

/// An event repository held in memory. Clones share the same events.
#[derive(Clone, Default)]
pub struct InMemoryEventRepository {
    state: Arc<Mutex<State>>,
}

impl InMemoryEventRepository {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, PersistenceError> {
        self.state
            .lock()
            .map_err(|_| PersistenceError::UnknownError("in-memory store poisoned".into()))
    }

    /// Up to `limit` events after `position`, in global order.
    pub fn read_after(
        &self,
        position: i64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, PersistenceError> {
        let state = self.lock()?;
        let start = usize::try_from(position.max(0)).unwrap_or(usize::MAX);
        Ok(state.log.iter().skip(start).take(limit).cloned().collect())
    }

    /// The position of the last event, 0 when empty.
    pub fn head(&self) -> Result<i64, PersistenceError> {
        Ok(i64::try_from(self.lock()?.log.len()).unwrap_or(i64::MAX))
    }

    /// Every event of one aggregate in sequence order.
    pub fn stream_of(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Vec<RecordedEvent>, PersistenceError> {
        let state = self.lock()?;
        let key = (aggregate_type.to_owned(), aggregate_id.to_owned());
        Ok(state
            .streams
            .get(&key)
            .into_iter()
            .flatten()
            .map(|i| state.log[*i].clone())
            .collect())
    }

    fn stream_events(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        after: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let state = self.lock()?;
        let key = (aggregate_type.to_owned(), aggregate_id.to_owned());
        Ok(state
            .streams
            .get(&key)
            .into_iter()
            .flatten()
            .map(|i| &state.log[*i])
            .filter(|e| e.sequence > i64::try_from(after).unwrap_or(i64::MAX))
            .map(to_serialized_with_metadata)
            .collect())
    }
}

fn to_serialized_with_metadata(e: &RecordedEvent) -> SerializedEvent {
    let mut s = e.to_serialized();
    s.metadata = serde_json::to_value(metadata_map(&e.metadata)).unwrap_or(Value::Null);
    s
}

fn metadata_map(m: &EventMetadata) -> HashMap<&'static str, String> {
    use crate::metadata::keys;
    let mut map = HashMap::from([
        (keys::ACTOR, m.actor.clone()),
        (keys::CORRELATION_ID, m.correlation_id.clone()),
        (keys::CAUSATION_ID, m.causation_id.clone()),
        (keys::ORIGIN, m.origin.clone()),
        (keys::COMMAND_ID, m.command_id.clone()),
    ]);
    if let Some(r) = &m.reason {
        map.insert(keys::REASON, r.clone());
    }
    map
}

impl PersistedEventRepository for InMemoryEventRepository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.stream_events(A::TYPE, aggregate_id, 0)
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.stream_events(A::TYPE, aggregate_id, last_sequence)
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        let state = self.lock()?;
        Ok(state
            .snapshots
            .get(&(A::TYPE.to_owned(), aggregate_id.to_owned()))
            .map(|s| SerializedSnapshot {
                aggregate_id: s.aggregate_id.clone(),
                aggregate: s.aggregate.clone(),
                current_sequence: s.current_sequence,
                current_snapshot: s.current_snapshot,
            }))
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        let mut state = self.lock()?;
        // Check everything first: a rejected append leaves no trace.
        let mut next_expected: HashMap<(String, String), usize> = HashMap::new();
        for e in events {
            let key = (e.aggregate_type.clone(), e.aggregate_id.clone());
            let expected = match next_expected.get(&key) {
                Some(n) => *n,
                None => state.streams.get(&key).map_or(0, Vec::len) + 1,
            };
            if e.sequence != expected {
                return Err(PersistenceError::OptimisticLockError);
            }
            next_expected.insert(key, expected + 1);
        }
        if let Some((aggregate_id, _, current_snapshot)) = &snapshot_update {
            let key = (A::TYPE.to_owned(), aggregate_id.clone());
            let stored = state.snapshots.get(&key).map_or(0, |s| s.current_snapshot);
            if stored + 1 != *current_snapshot {
                return Err(PersistenceError::OptimisticLockError);
            }
        }
        let recorded_at = Utc::now();
        for e in events {
            let position = i64::try_from(state.log.len() + 1).unwrap_or(i64::MAX);
            let metadata = EventMetadata::from_json(&e.metadata);
            let index = state.log.len();
            state.log.push(RecordedEvent {
                position,
                recorded_at,
                aggregate_type: e.aggregate_type.clone(),
                aggregate_id: e.aggregate_id.clone(),
                sequence: i64::try_from(e.sequence).unwrap_or(i64::MAX),
                event_type: e.event_type.clone(),
                event_version: e.event_version.clone(),
                payload: e.payload.clone(),
                metadata,
                hash: None,
            });
            state
                .streams
                .entry((e.aggregate_type.clone(), e.aggregate_id.clone()))
                .or_default()
                .push(index);
        }
        if let Some((aggregate_id, aggregate, current_snapshot)) = snapshot_update {
            let current_sequence = events.last().map_or(0, |e| e.sequence);
            state.snapshots.insert(
                (A::TYPE.to_owned(), aggregate_id.clone()),
                SerializedSnapshot {
                    aggregate_id,
                    aggregate,
                    current_sequence,
                    current_snapshot,
                },
            );
        }
        Ok(())
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        replay(self.stream_events(A::TYPE, aggregate_id, 0)?).await
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        let events: Vec<SerializedEvent> = {
            let state = self.lock()?;
            state
                .log
                .iter()
                .filter(|e| e.aggregate_type == A::TYPE)
                .map(to_serialized_with_metadata)
                .collect()
        };
        replay(events).await
    }
}

async fn replay(events: Vec<SerializedEvent>) -> Result<ReplayStream, PersistenceError> {
    let (mut feed, stream) = ReplayStream::new(events.len().max(1));
    for e in events {
        feed.push(Ok(e)).await?;
    }
    Ok(stream)
}
