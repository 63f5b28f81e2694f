//! A snapshotting event store whose snapshots hold exactly the state their events replay to.
//!
//! `cqrs_es::persist::PersistedEventStore` 0.5 builds a snapshot by applying the command's new
//! events to the aggregate it handed to the command handler, but `EventSink::write` has already
//! applied them there: every snapshot counted the events of the command that took it twice (a
//! profile funded at the snapshot boundary was credited twice on every later load). When a
//! command's events crossed the boundary it also applied only the first few, yet the repository
//! records the snapshot at the sequence of the last, so the others were never replayed.
//!
//! [`SnapshotStore`] loads through `PersistedEventStore` (snapshot, later events, upcasters) and
//! commits itself: the snapshot is the state as loaded with every new event applied once, stored
//! at the last new event's sequence, in the same transaction as the events.

use std::collections::HashMap;

use cqrs_es::persist::{
    EventStoreAggregateContext, EventUpcaster, PersistedEventRepository, PersistedEventStore,
    SerializedEvent,
};
use cqrs_es::{Aggregate, AggregateContext, AggregateError, EventEnvelope, EventStore};

use crate::repository::EventRepository;

/// Events plus a snapshot every `every` events.
pub struct SnapshotStore<A: Aggregate + Clone> {
    loader: PersistedEventStore<EventRepository, A>,
    repo: EventRepository,
    every: usize,
}

impl<A: Aggregate + Clone> SnapshotStore<A> {
    /// A store over `repo` taking a snapshot whenever an append reaches or passes a multiple of
    /// `every` events, reading old event versions through `upcasters`.
    pub fn new(
        repo: EventRepository,
        every: usize,
        upcasters: Vec<Box<dyn EventUpcaster>>,
    ) -> Self {
        Self {
            loader: PersistedEventStore::new_snapshot_store(repo.clone(), every)
                .with_upcasters(upcasters),
            repo,
            every: every.max(1),
        }
    }
}

/// An aggregate being handled, with its state as it was loaded.
pub struct SnapshotContext<A: Aggregate> {
    context: EventStoreAggregateContext<A>,
    loaded: A,
}

impl<A: Aggregate> AggregateContext<A> for SnapshotContext<A> {
    fn aggregate(&mut self) -> &mut A {
        &mut self.context.aggregate
    }
}

impl<A: Aggregate + Clone> EventStore<A> for SnapshotStore<A> {
    type AC = SnapshotContext<A>;

    async fn load_events(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        self.loader.load_events(aggregate_id).await
    }

    async fn load_aggregate(
        &self,
        aggregate_id: &str,
    ) -> Result<SnapshotContext<A>, AggregateError<A::Error>> {
        let context = self.loader.load_aggregate(aggregate_id).await?;
        Ok(SnapshotContext {
            loaded: context.aggregate.clone(),
            context,
        })
    }

    async fn commit(
        &self,
        events: Vec<A::Event>,
        context: SnapshotContext<A>,
        metadata: HashMap<String, String>,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        let SnapshotContext { context, loaded } = context;
        let last = context.current_sequence;
        let envelopes: Vec<EventEnvelope<A>> = events
            .into_iter()
            .zip(last + 1..)
            .map(|(payload, sequence)| EventEnvelope {
                aggregate_id: context.aggregate_id.clone(),
                sequence,
                payload,
                metadata: metadata.clone(),
            })
            .collect();
        let serialized = envelopes
            .iter()
            .map(SerializedEvent::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let head = last + envelopes.len();
        let snapshot = if head / self.every > last / self.every {
            let mut state = loaded;
            for envelope in &envelopes {
                state.apply(envelope.payload.clone());
            }
            let next = context.current_snapshot.map_or(1, |n| n + 1);
            Some((
                context.aggregate_id.clone(),
                serde_json::to_value(state)?,
                next,
            ))
        } else {
            None
        };
        self.repo.persist::<A>(&serialized, snapshot).await?;
        Ok(envelopes)
    }
}
