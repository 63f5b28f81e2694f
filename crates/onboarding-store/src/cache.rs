//! Aggregate states kept in memory between commands, so a command on a known aggregate decides
//! without reading its events again.
//!
//! A cached state is only ever a guess: the append that follows a decision writes the next
//! sequence number, which the events table's primary key refuses if any other writer (another
//! process, the stock `postgres-es` repository) appended in between. The ledger then forgets the
//! entry, loads the aggregate from the store and decides again, so a stale entry costs one
//! retry and never a wrong event.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use lru::LruCache;

/// An aggregate's state as of its last event.
#[derive(Debug, Clone)]
pub struct Known<A> {
    /// The state.
    pub state: A,
    /// The sequence of its last event (0: none yet).
    pub sequence: usize,
    /// How many snapshots it has had (`None`: none).
    pub snapshot: Option<usize>,
}

impl<A: Default> Known<A> {
    /// An aggregate with no events.
    pub fn empty() -> Self {
        Self {
            state: A::default(),
            sequence: 0,
            snapshot: None,
        }
    }
}

/// The most recently used aggregate states of one type, up to a fixed number.
pub struct StateCache<A> {
    entries: Mutex<LruCache<String, Known<A>>>,
}

impl<A: Clone> StateCache<A> {
    /// A cache of up to `capacity` aggregates (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self {
            entries: Mutex::new(LruCache::new(capacity)),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, LruCache<String, Known<A>>> {
        // A panic while holding the lock cannot leave an entry half written (every operation is
        // a single map call), so a poisoned cache is still consistent.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached state of `id`, if any.
    pub fn get(&self, id: &str) -> Option<Known<A>> {
        self.entries().get(id).cloned()
    }

    /// Remembers `known` for `id`, unless a later state of it is already remembered.
    pub fn put(&self, id: &str, known: Known<A>) {
        let mut entries = self.entries();
        if entries
            .peek(id)
            .is_some_and(|current| current.sequence > known.sequence)
        {
            return;
        }
        entries.put(id.to_owned(), known);
    }

    /// Forgets `id` (its cached state proved stale, or it must not outlive a change).
    pub fn forget(&self, id: &str) {
        self.entries().pop(id);
    }

    /// How many aggregates are cached.
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(sequence: usize) -> Known<u32> {
        Known {
            state: u32::try_from(sequence).unwrap_or(0),
            sequence,
            snapshot: None,
        }
    }

    #[test]
    fn a_later_state_is_never_replaced_by_an_earlier_one() {
        let cache = StateCache::new(4);
        cache.put("a", known(3));
        cache.put("a", known(2));
        assert_eq!(cache.get("a").map(|k| k.sequence), Some(3));
        cache.put("a", known(4));
        assert_eq!(cache.get("a").map(|k| k.state), Some(4));
    }

    #[test]
    fn the_least_recently_used_entry_goes_first() {
        let cache = StateCache::new(2);
        cache.put("a", known(1));
        cache.put("b", known(1));
        assert!(cache.get("a").is_some());
        cache.put("c", known(1));
        assert!(cache.get("b").is_none());
        assert!(cache.get("a").is_some() && cache.get("c").is_some());
        cache.forget("a");
        assert_eq!(cache.len(), 1);
    }
}
