//! `onboarding-mirror`: keeps Paxos in step with the onboarding ledger and brings Paxos's
//! decisions back. It sits on top of `onboarding-ledger` (commands, the global log) and
//! `onboarding-paxos` (the only crate that knows Paxos JSON); neither of those knows the other.
//!
//! - [`MirrorWorker`] ([`worker`]): follows the global log after commit from its own
//!   checkpoint (`paxos_mirror`) and mirrors each command with a Paxos counterpart; outcomes
//!   (Paxos ids, rejections) come back as ledger events. One worker runs at a time (a lease).
//!   A private worker ([`MirrorOptions::correlation`] with
//!   [`Checkpoints::in_memory_from_head`]) mirrors only one flow's events, as `onboarding demo`
//!   does on a shared database.
//! - [`WebhookReceiver`] ([`webhook`]): an `axum` router for Paxos webhooks, authenticated by
//!   a configured header compared in constant time; it answers at once and records decisions
//!   fetched from `GET /events/{id}` in the background (test deliveries are acknowledged only).
//! - [`EventsPoller`] ([`poller`]): applies Paxos's events in Paxos's order: those whose
//!   webhooks were lost, and those a webhook delivered out of order (left to it as
//!   [`Handled::Superseded`]).
//! - [`DecisionRecorder`] ([`decisions`]): the one idempotent path from a Paxos event to
//!   `RecordDecision`, shared by the receiver and the poller; it remembers a bounded number of
//!   recent event ids (the ledger ignores a Paxos event id it already applied, so forgetting
//!   one is harmless).
//! - [`Checkpoints`] ([`checkpoint`]): positions and the lease, in PostgreSQL
//!   (`projection_checkpoints`, advisory locks) or in memory.

pub mod checkpoint;
pub mod decisions;
mod error;
pub mod poller;
mod recent;
pub mod webhook;
pub mod worker;

pub use checkpoint::Checkpoints;
pub use decisions::{DecisionRecorder, Handled};
pub use error::MirrorError;
pub use poller::{EventsPoller, PollReport};
pub use webhook::{serve, ReceiverStats, WebhookAuth, WebhookReceiver, WEBHOOK_PATH};
pub use worker::{MirrorOptions, MirrorReport, MirrorWorker};

/// Locks `m`, also after a panic elsewhere poisoned it (every value guarded in this crate stays
/// consistent between statements: a cache, counters, a set of ids).
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
