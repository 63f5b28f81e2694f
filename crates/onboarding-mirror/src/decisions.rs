//! Paxos events back into the ledger: the one path shared by the webhook receiver and the
//! events poller. An event is acted on only as `GET /events/{id}` returns it (a webhook body is
//! never trusted), and `identity.approved | denied | disabled | documents_required` become
//! `RecordDecision` with the Paxos event as the source. Each event id is handled once per
//! process while it is among the recent ones remembered (a bounded set, [`SEEN_CAPACITY`] ids
//! by default, oldest forgotten first), and once ever in effect: recording a decision is
//! idempotent on the Paxos event id (the identity ignores an event id it has already applied),
//! so an event forgotten and delivered again costs one fetch and records nothing.
//!
//! **Order.** The poller reads Paxos's events in the order Paxos created them and applies them
//! in that order. Webhooks arrive in no particular order, and anyone holding the webhook header
//! can post an old event id again; so a webhook's decision is recorded only when it is the next
//! one: the status change it records starts from the identity's status in the ledger (the
//! event's `old_summary_status`; for an event without it, when its decision is the identity's
//! status at Paxos now, `GET /identities/{id}`). Any other delivery is
//! [`Handled::Superseded`]: not remembered as handled, it is left to the poller, which applies
//! it in its place in Paxos's order (after the approval a late disable must follow, before the
//! re-approval that undid it).

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;

use onboarding_ledger::domain::{
    event_names, vocab::IdentityStatus, Decision, DecisionSource, Identity, IdentityError,
    IdentityId,
};
use onboarding_ledger::{CommandContext, Ledger, LedgerError};
use onboarding_paxos::model::Event;
use onboarding_paxos::{mapping, PaxosClient};

use crate::error::MirrorError;
use crate::lock;
use crate::recent::RecentIds;

/// How many recent Paxos event ids a [`DecisionRecorder`] remembers by default.
pub const SEEN_CAPACITY: usize = 10_000;

/// How many Paxos identity ids a [`DecisionRecorder`] keeps the ledger id of (one
/// `GET /identities/{id}` saved per event about an identity still remembered).
const IDENTITIES_REMEMBERED: NonZeroUsize = match NonZeroUsize::new(10_000) {
    Some(n) => n,
    None => unreachable!(),
};

/// What handling one Paxos event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// A decision was recorded for this ledger identity.
    Recorded(IdentityId),
    /// Nothing to record: not a decision event, an identity this ledger does not know, the
    /// decision already in effect, or a decision the identity refuses for good (in Paxos's
    /// order: one its status does not allow, one that is invalid such as documents required
    /// without naming any, one for a forgotten identity), logged as a warning.
    Ignored,
    /// This event id was already handled by this process.
    Duplicate,
    /// A webhook's decision that is not the identity's status at Paxos any more, or that the
    /// ledger's status does not allow yet (a late, early or replayed delivery): nothing
    /// recorded, and the event id is not remembered, so the events poller applies it in Paxos's
    /// order.
    Superseded,
}

/// In what order events reach [`DecisionRecorder`]: Paxos's own (the poller), or any (webhooks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arrival {
    InPaxosOrder,
    Unordered,
}

/// Records Paxos identity decisions in the ledger. Cheap to clone.
#[derive(Clone)]
pub struct DecisionRecorder {
    ledger: Arc<Ledger>,
    paxos: PaxosClient,
    seen: Arc<Mutex<RecentIds>>,
    /// Ledger ids of recently seen Paxos identities (bounded: the least recently used go).
    identities: Arc<Mutex<LruCache<String, IdentityId>>>,
}

impl std::fmt::Debug for DecisionRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionRecorder").finish_non_exhaustive()
    }
}

impl DecisionRecorder {
    /// A recorder writing to `ledger`, reading events from `paxos`, remembering the last
    /// [`SEEN_CAPACITY`] event ids.
    pub fn new(ledger: Arc<Ledger>, paxos: PaxosClient) -> Self {
        Self::with_capacity(ledger, paxos, SEEN_CAPACITY)
    }

    /// A recorder remembering at most `capacity` recent event ids (at least one).
    pub fn with_capacity(ledger: Arc<Ledger>, paxos: PaxosClient, capacity: usize) -> Self {
        Self {
            ledger,
            paxos,
            seen: Arc::new(Mutex::new(RecentIds::new(capacity))),
            identities: Arc::new(Mutex::new(LruCache::new(IDENTITIES_REMEMBERED))),
        }
    }

    /// Whether this event id was handled by this process and is still remembered.
    pub fn is_seen(&self, event_id: &str) -> bool {
        lock(&self.seen).contains(event_id)
    }

    /// How many event ids are remembered (never more than the capacity).
    pub fn remembered(&self) -> usize {
        lock(&self.seen).len()
    }

    /// A webhook's path: fetches the event with `GET /events/{id}` and handles what Paxos
    /// returns, recording a decision only while it is the identity's status at Paxos (see the
    /// module documentation).
    pub async fn handle_event_id(&self, event_id: &str) -> Result<Handled, MirrorError> {
        if self.is_seen(event_id) {
            return Ok(Handled::Duplicate);
        }
        let event = self.paxos.get_event(event_id).await?;
        self.handle(&event, Arrival::Unordered).await
    }

    /// The poller's path: handles an event as `GET /events` returned it, in Paxos's order.
    pub async fn handle_event(&self, event: &Event) -> Result<Handled, MirrorError> {
        self.handle(event, Arrival::InPaxosOrder).await
    }

    async fn handle(&self, event: &Event, arrival: Arrival) -> Result<Handled, MirrorError> {
        if self.is_seen(&event.id) {
            return Ok(Handled::Duplicate);
        }
        let handled = self.record(event, arrival).await?;
        if handled != Handled::Superseded {
            lock(&self.seen).insert(&event.id);
        }
        Ok(handled)
    }

    async fn record(&self, event: &Event, arrival: Arrival) -> Result<Handled, MirrorError> {
        let Some(decision) = mapping::decision(event) else {
            return Ok(Handled::Ignored);
        };
        let Some(paxos_identity_id) = event.identity_id() else {
            return Ok(Handled::Ignored);
        };
        let Some(id) = self.ledger_identity(paxos_identity_id).await? else {
            tracing::info!(event_id = %event.id, "Paxos event about an identity this ledger does not know");
            return Ok(Handled::Ignored);
        };
        let Some(identity) = self.ledger.identity(id).await? else {
            return Ok(Handled::Ignored);
        };
        // Caused by the Paxos event; correlated with the identity's submission, so that the
        // decision sits in the same flow as the request it answers.
        let mut ctx = CommandContext::new("paxos-mirror", "paxos-event")
            .with_reason(format!("Paxos event {}", event.event_type))
            .caused_by(event.id.clone());
        if let Some(first) = self
            .ledger
            .events_of(event_names::IDENTITY, &id.to_string())
            .await?
            .first()
        {
            ctx = ctx.with_correlation_id(first.metadata.correlation_id.clone());
        }
        match identity.paxos_identity_id() {
            Some(linked) if linked != paxos_identity_id => {
                tracing::warn!(event_id = %event.id, identity = %id, "Paxos event for an identity linked to another Paxos id");
                return Ok(Handled::Ignored);
            }
            // The event can arrive before the mirror recorded the link: Paxos's `ref_id` (our
            // id) proves it, and linking is idempotent.
            None => match (self.ledger)
                .link_paxos_identity(&ctx, id, paxos_identity_id.to_owned())
                .await
            {
                Ok(()) => {}
                Err(LedgerError::Identity(e)) if is_final(&e) => {
                    tracing::warn!(event_id = %event.id, identity = %id, error = %e, "Paxos identity not linkable");
                    return Ok(Handled::Ignored);
                }
                Err(e) => return Err(e.into()),
            },
            Some(_) => {}
        }
        // A disable requested here is mirrored to Paxos, which answers with identity.disabled:
        // already in effect, nothing to record.
        if decision == Decision::Disabled && identity.status() == Some(IdentityStatus::Disabled) {
            return Ok(Handled::Ignored);
        }
        if arrival == Arrival::Unordered
            && !(self.next_in_line(event, paxos_identity_id, &decision, &identity)).await?
        {
            tracing::info!(event_id = %event.id, identity = %id, "Paxos decision out of order; left to the events poller");
            return Ok(Handled::Superseded);
        }
        let source = DecisionSource::PaxosEvent {
            event_id: event.id.clone(),
        };
        match self
            .ledger
            .record_decision(&ctx, id, decision, source, None)
            .await
        {
            Ok(()) => Ok(Handled::Recorded(id)),
            // Not allowed from the ledger's status: in Paxos's order, a decision that no longer
            // applies; from a webhook, maybe one that came before its predecessor.
            Err(LedgerError::Identity(IdentityError::IllegalTransition { .. }))
                if arrival == Arrival::Unordered =>
            {
                tracing::info!(event_id = %event.id, identity = %id, "Paxos decision not applicable yet; left to the events poller");
                Ok(Handled::Superseded)
            }
            // Any other refusal by the identity is final (retrying the same event would be
            // refused the same way, and would hold every later event behind it): logged and
            // passed over. Only a failed lookup is worth retrying.
            Err(LedgerError::Identity(e)) if is_final(&e) => {
                tracing::warn!(event_id = %event.id, identity = %id, error = %e, "Paxos decision not applicable");
                Ok(Handled::Ignored)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Whether a webhook's decision is the next one for the identity: the status change it
    /// records starts from the identity's status in the ledger (`old_summary_status`), so no
    /// earlier change is missing and it is not an old one delivered late or replayed. An event
    /// without that field counts when its decision is the identity's status at Paxos now.
    async fn next_in_line(
        &self,
        event: &Event,
        paxos_identity_id: &str,
        decision: &Decision,
        identity: &Identity,
    ) -> Result<bool, MirrorError> {
        if let Some(from) = event.old_summary_status() {
            return Ok(identity.status() == Some(from));
        }
        let current = self.paxos.get_identity(paxos_identity_id).await?.status();
        Ok(current == Some(decision.status()))
    }

    /// The ledger identity of a Paxos identity: its `ref_id` at Paxos, which is our id.
    async fn ledger_identity(&self, paxos_id: &str) -> Result<Option<IdentityId>, MirrorError> {
        if let Some(id) = lock(&self.identities).get(paxos_id) {
            return Ok(Some(*id));
        }
        let identity = match self.paxos.get_identity(paxos_id).await {
            Ok(identity) => identity,
            Err(onboarding_paxos::Error::NotFound) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let id = identity
            .ref_id
            .as_deref()
            .and_then(|r| r.parse::<IdentityId>().ok());
        if let Some(id) = id {
            lock(&self.identities).put(paxos_id.to_owned(), id);
        }
        Ok(id)
    }
}

/// Whether the identity's refusal is final: every one but a failed lookup, which may pass when
/// retried.
fn is_final(refusal: &IdentityError) -> bool {
    !matches!(refusal, IdentityError::Lookup(_))
}
