//! A capacity-bounded set of recently seen ids: the per-process dedupe memory of Paxos event
//! ids. When full, remembering one more id forgets the oldest, so memory stays flat however
//! long the process runs. Forgetting is safe: it only makes a very old redelivery cost one
//! `GET /events/{id}`, and recording a decision is idempotent on the Paxos event id (an
//! identity ignores an event id it has already applied).

use std::collections::{HashSet, VecDeque};

/// The most recent ids, at most `capacity` of them, oldest evicted first.
#[derive(Debug, Clone)]
pub(crate) struct RecentIds {
    capacity: usize,
    order: VecDeque<String>,
    members: HashSet<String>,
}

impl RecentIds {
    /// An empty set that remembers at most `capacity` ids (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            order: VecDeque::with_capacity(capacity.min(4096)),
            members: HashSet::with_capacity(capacity.min(4096)),
        }
    }

    /// Whether `id` is remembered.
    pub(crate) fn contains(&self, id: &str) -> bool {
        self.members.contains(id)
    }

    /// Remembers `id`, forgetting the oldest id when full; whether it was new.
    pub(crate) fn insert(&mut self, id: &str) -> bool {
        if self.members.contains(id) {
            return false;
        }
        if self.order.len() == self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.members.remove(&oldest);
            }
        }
        self.order.push_back(id.to_owned());
        self.members.insert(id.to_owned());
        true
    }

    /// How many ids are remembered.
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::RecentIds;

    #[test]
    fn remembers_at_most_its_capacity_forgetting_the_oldest_first() {
        let mut recent = RecentIds::new(3);
        for id in ["a", "b", "c", "d", "e"] {
            assert!(recent.insert(id));
            assert!(recent.len() <= 3);
        }
        assert_eq!(recent.len(), 3);
        assert!(!recent.contains("a") && !recent.contains("b"));
        assert!(recent.contains("c") && recent.contains("d") && recent.contains("e"));
    }

    #[test]
    fn a_duplicate_is_not_new_and_does_not_evict() {
        let mut recent = RecentIds::new(2);
        assert!(recent.insert("a"));
        assert!(recent.insert("b"));
        assert!(!recent.insert("a"));
        assert!(!recent.insert("b"));
        assert!(recent.contains("a") && recent.contains("b"));
        assert_eq!(recent.len(), 2);
    }

    #[test]
    fn a_zero_capacity_still_remembers_the_last_id() {
        let mut recent = RecentIds::new(0);
        assert!(recent.insert("a"));
        assert!(!recent.insert("a"));
        assert!(recent.insert("b"));
        assert!(!recent.contains("a"));
        assert_eq!(recent.len(), 1);
    }
}
