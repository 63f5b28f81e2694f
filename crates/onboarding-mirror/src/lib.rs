//! `onboarding-mirror`: keeps Paxos in step with the onboarding ledger and brings Paxos's
//! decisions back. It sits on top of `onboarding-ledger` (commands, the global log) and
//! `onboarding-paxos` (the only crate that knows Paxos JSON); neither of those knows the other.
//!
//! - [`MirrorWorker`] ([`worker`]): follows the global log after commit from its own
//!   checkpoint (`paxos_mirror`) and mirrors each command with a Paxos counterpart; outcomes
//!   (Paxos ids, rejections) come back as ledger events. One worker runs at a time (a lease).
//! - [`WebhookReceiver`] ([`webhook`]): an `axum` router for Paxos webhooks, authenticated by
//!   a configured header compared in constant time; it answers at once and records decisions
//!   fetched from `GET /events/{id}` in the background.
//! - [`EventsPoller`] ([`poller`]): catches up on events whose webhooks were lost.
//! - [`DecisionRecorder`] ([`decisions`]): the one idempotent path from a Paxos event to
//!   `RecordDecision`, shared by the receiver and the poller.
//! - [`Checkpoints`] ([`checkpoint`]): positions and the lease, in PostgreSQL
//!   (`projection_checkpoints`, advisory locks) or in memory.

pub mod checkpoint;
pub mod decisions;
mod error;
pub mod poller;
pub mod webhook;
pub mod worker;

pub use checkpoint::Checkpoints;
pub use decisions::{DecisionRecorder, Handled};
pub use error::MirrorError;
pub use poller::{EventsPoller, PollReport};
pub use webhook::{serve, ReceiverStats, WebhookAuth, WebhookReceiver, WEBHOOK_PATH};
pub use worker::{MirrorOptions, MirrorReport, MirrorWorker};
