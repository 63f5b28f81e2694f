//! The event store of the onboarding ledger.
//!
//! Postgres is the store of record, through `postgres-es` on the schema in `migrations/`; an
//! embedded in-memory store runs the same aggregates, upcasters and snapshots with no server.
//! This crate also owns the global ordered log (every committed event with a gap-free position),
//! event metadata (actor, reason, correlation, causation, origin), the `cip_id` uniqueness
//! registry, and the [`Directory`](onboarding_domain::Directory) port over the store. It knows
//! nothing of Paxos.

pub mod aggregates;
pub mod append;
pub mod cache;
pub mod cip;
pub mod crypto;
pub mod directory;
pub mod error;
pub mod integrity;
pub mod log;
pub mod memory;
pub mod metadata;
pub mod postgres;
pub mod repository;
pub mod scope;
pub mod snapshot;
pub mod upcast;
pub mod vault;

pub use error::StoreError;
pub use log::RecordedEvent;
pub use metadata::{CommandContext, EventMetadata};
pub use repository::EventRepository;
