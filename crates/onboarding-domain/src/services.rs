//! What the aggregates need from outside, as ports.
//!
//! Aggregates never do IO themselves. A command that depends on another aggregate (an account
//! needs an approved owner) or on a set constraint across aggregates (a `cip_id` is unique) asks
//! these ports, which the store crate implements: over the event store itself (never a read model,
//! which may lag) and over an atomic uniqueness table.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::ids::{AccountId, IdentityId};
use crate::values::CipKey;
use crate::vocab::{IdentityKind, IdentityStatus};

/// What other aggregates need to know about an identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentityFacts {
    /// Person or institution.
    pub kind: IdentityKind,
    /// Its status now.
    pub status: IdentityStatus,
}

/// What a profile needs to know about its account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountFacts {
    /// The owning identity.
    pub owner: IdentityId,
    /// Whether the account is open (not closed).
    pub open: bool,
}

/// A port could not answer (the store is unreachable, a stored event is unreadable).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("lookup failed: {0}")]
pub struct LookupError(pub String);

/// Reads the current state of other aggregates, consistently with the event store.
#[async_trait]
pub trait Directory: Send + Sync {
    /// The identity's kind and status, or `None` if it was never submitted.
    async fn identity(&self, id: IdentityId) -> Result<Option<IdentityFacts>, LookupError>;
    /// The account's owner and state, or `None` if it was never opened.
    async fn account(&self, id: AccountId) -> Result<Option<AccountFacts>, LookupError>;
}

/// The outcome of claiming a `cip_id` for an identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CipClaim {
    /// The claim is this identity's (now, or already from an earlier attempt).
    Claimed,
    /// Another identity holds it.
    HeldBy(IdentityId),
}

/// The set constraint "a `cip_id` belongs to at most one identity", enforced atomically.
#[async_trait]
pub trait CipRegistry: Send + Sync {
    /// Claims `key` for `identity`. Idempotent for the same identity; when two identities race
    /// for one key, exactly one gets [`CipClaim::Claimed`].
    async fn claim(&self, key: &CipKey, identity: IdentityId) -> Result<CipClaim, LookupError>;

    /// Releases whatever `identity` holds (after it was forgotten, so nothing derived from its
    /// documents remains and the person may onboard afresh).
    async fn release(&self, identity: IdentityId) -> Result<(), LookupError>;
}

/// The time, as the domain's rules see it (dates of birth in the past, verifications not in the
/// future).
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock stopped at one instant, for tests and replays.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// Everything the aggregates' command handlers may consult. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    /// Other aggregates' state.
    pub directory: Arc<dyn Directory>,
    /// `cip_id` uniqueness.
    pub cips: Arc<dyn CipRegistry>,
    /// The time.
    pub clock: Arc<dyn Clock>,
}

impl Services {
    /// Bundles the three ports.
    pub fn new(
        directory: Arc<dyn Directory>,
        cips: Arc<dyn CipRegistry>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            directory,
            cips,
            clock,
        }
    }
}
