//! How each aggregate is stored: event-sourced identities and accounts, snapshotted profiles,
//! and the upcasters every load passes stored events through.

use cqrs_es::persist::{EventUpcaster, PersistedEventStore};
use cqrs_es::{AggregateContext, EventStore};
use onboarding_domain::{Account, Identity, Profile};

use crate::cache::Known;
use crate::repository::EventRepository;
use crate::snapshot::SnapshotStore;
use crate::upcast;

/// A profile is snapshotted every this many events: a busy trader's profile collects thousands
/// of order events, and each command would otherwise replay them all.
pub const PROFILE_SNAPSHOT_EVERY: usize = 50;

/// The event store of identities.
pub type IdentityStore = PersistedEventStore<EventRepository, Identity>;
/// The event store of accounts.
pub type AccountStore = PersistedEventStore<EventRepository, Account>;
/// The event store of profiles.
pub type ProfileStore = SnapshotStore<Profile>;

/// Identities, fully event-sourced.
pub fn identity_store(repo: EventRepository) -> IdentityStore {
    PersistedEventStore::new_event_store(repo).with_upcasters(upcast::identity())
}

/// Accounts, fully event-sourced.
pub fn account_store(repo: EventRepository) -> AccountStore {
    PersistedEventStore::new_event_store(repo).with_upcasters(upcast::account())
}

/// Profiles, with snapshots every [`PROFILE_SNAPSHOT_EVERY`] events.
pub fn profile_store(repo: EventRepository) -> ProfileStore {
    SnapshotStore::new(repo, PROFILE_SNAPSHOT_EVERY, upcast::profile())
}

/// How the ledger loads an aggregate (snapshot when it has one, later events, upcasters).
pub type Loader<A> = PersistedEventStore<EventRepository, A>;

/// The profile loader, reading the snapshots [`profile_store`] and the ledger write.
pub fn profile_loader(repo: EventRepository) -> Loader<Profile> {
    PersistedEventStore::new_snapshot_store(repo, PROFILE_SNAPSHOT_EVERY)
        .with_upcasters(upcast::profile())
}

/// Loads an aggregate's current state with the sequence of its last event and its snapshot
/// count, from the store.
pub async fn load_known<A>(
    loader: &Loader<A>,
    id: &str,
) -> Result<Known<A>, cqrs_es::AggregateError<A::Error>>
where
    A: cqrs_es::Aggregate,
{
    let context = loader.load_aggregate(id).await?;
    Ok(Known {
        state: context.aggregate,
        sequence: context.current_sequence,
        snapshot: context.current_snapshot,
    })
}

/// Loads the current state of an aggregate (default state when it has no events).
pub async fn load<A, S>(store: &S, id: &str) -> Result<A, cqrs_es::AggregateError<A::Error>>
where
    A: cqrs_es::Aggregate + Clone,
    S: EventStore<A>,
{
    let mut context = store.load_aggregate(id).await?;
    Ok(context.aggregate().clone())
}

/// Every registered upcaster, for readers of the raw log.
pub fn all_upcasters() -> Vec<Box<dyn EventUpcaster>> {
    let mut all = upcast::identity();
    all.extend(upcast::account());
    all.extend(upcast::profile());
    all
}
