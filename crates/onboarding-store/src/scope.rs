//! What one command's decision consulted outside its own aggregate, collected while the decision
//! is made and checked when its events are appended.
//!
//! A command handler asks the [`Directory`](onboarding_domain::Directory) about other aggregates
//! and the [`CipRegistry`](onboarding_domain::CipRegistry) for a `cip_id` claim. When the ledger
//! decides a command inside [`consulting`], those ports note here which version of which
//! aggregate they answered from, and which claim the decision relies on; the append then writes
//! the events only if every noted aggregate is still at that version and the claim is taken in
//! the same statement. Outside a scope the ports note nothing.

use std::cell::RefCell;
use std::future::Future;

use onboarding_domain::IdentityId;

tokio::task_local! {
    static SCOPE: RefCell<Consulted>;
}

/// How the `cip_id` registry answers inside a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClaimMode {
    /// Assume the claim is free; the append takes it or fails with
    /// [`StoreError::CipClaimLost`](crate::StoreError::CipClaimLost).
    #[default]
    AtAppend,
    /// Look at the current holder first (after a lost claim), so the decision can name it.
    LookFirst,
}

/// Another aggregate's state a decision relied on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    /// Its type.
    pub aggregate_type: &'static str,
    /// Its id.
    pub aggregate_id: String,
    /// The sequence of its last event the answer saw (0: it had none).
    pub sequence: usize,
    /// Whether the answer came from a cached state (rather than from the store just now).
    pub cached: bool,
}

/// A `cip_id` claim a decision relied on, to be taken when its events are appended.
#[derive(Clone, PartialEq, Eq)]
pub struct Claim {
    /// The keyed fingerprint of the cip key (never the number itself).
    pub fingerprint: Vec<u8>,
    /// The identity claiming it.
    pub identity: IdentityId,
}

impl std::fmt::Debug for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claim")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

/// Everything one decision consulted.
#[derive(Debug, Clone, Default)]
pub struct Consulted {
    /// How the registry answers.
    pub claim_mode: ClaimMode,
    /// The other aggregates read, each once.
    pub reads: Vec<Read>,
    /// The claim to take at append.
    pub claim: Option<Claim>,
}

/// Runs `decide` in a fresh scope and returns its output with what it consulted.
pub async fn consulting<F: Future>(claim_mode: ClaimMode, decide: F) -> (F::Output, Consulted) {
    let cell = RefCell::new(Consulted {
        claim_mode,
        ..Consulted::default()
    });
    SCOPE
        .scope(cell, async move {
            let output = decide.await;
            let consulted = SCOPE.with(|c| c.take());
            (output, consulted)
        })
        .await
}

/// The registry's mode in the current scope, `None` outside one.
pub fn claim_mode() -> Option<ClaimMode> {
    SCOPE.try_with(|c| c.borrow().claim_mode).ok()
}

/// Notes that a decision read `aggregate_type` `aggregate_id` at `sequence` (no-op outside a
/// scope). A second read of the same aggregate keeps the first version seen.
pub fn note_read(aggregate_type: &'static str, aggregate_id: &str, sequence: usize, cached: bool) {
    let _ = SCOPE.try_with(|c| {
        let mut c = c.borrow_mut();
        let seen = c
            .reads
            .iter()
            .any(|r| r.aggregate_type == aggregate_type && r.aggregate_id == aggregate_id);
        if !seen {
            c.reads.push(Read {
                aggregate_type,
                aggregate_id: aggregate_id.to_owned(),
                sequence,
                cached,
            });
        }
    });
}

/// Notes the claim a decision relies on; `false` outside a scope (the caller must claim now).
pub fn note_claim(claim: Claim) -> bool {
    SCOPE
        .try_with(|c| c.borrow_mut().claim = Some(claim))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_scope_collects_reads_once_and_the_claim() {
        let identity = IdentityId::new();
        let ((), consulted) = consulting(ClaimMode::LookFirst, async {
            assert_eq!(claim_mode(), Some(ClaimMode::LookFirst));
            note_read("identity", "a", 3, true);
            note_read("identity", "a", 4, false);
            note_read("account", "a", 1, false);
            assert!(note_claim(Claim {
                fingerprint: vec![1, 2],
                identity,
            }));
        })
        .await;
        assert_eq!(consulted.reads.len(), 2);
        assert_eq!(consulted.reads[0].sequence, 3);
        assert!(consulted.reads[0].cached);
        assert_eq!(consulted.claim.map(|c| c.identity), Some(identity));
    }

    #[tokio::test]
    async fn outside_a_scope_nothing_is_noted() {
        assert_eq!(claim_mode(), None);
        note_read("identity", "a", 1, false);
        assert!(!note_claim(Claim {
            fingerprint: vec![1],
            identity: IdentityId::new(),
        }));
    }
}
