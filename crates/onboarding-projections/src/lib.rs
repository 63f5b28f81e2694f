//! The read side of the onboarding ledger: read models built from the global log, and the
//! projector that keeps them current.
//!
//! Built-in read models: [`views::IdentityStatus`], [`views::Accounts`], [`views::Profiles`]
//! (balances), [`views::Orders`] and the [`audit`] trail. An embedding application adds its own
//! by implementing [`View`] (JSON rows by key; the easy way) or [`Projection`] (its own SQL) and
//! registering it with the [`Projector`]; it gets the same guarantees as the built-ins: every
//! event exactly once, in order, never skipped, resumable after a crash, rebuildable from zero.
//! [`MemoryProjector`] runs the same logic on the embedded store. This crate knows nothing of
//! HTTP or Paxos.

pub mod audit;
pub mod error;
pub mod event;
pub mod memory;
pub mod projection;
mod reader;
pub mod runtime;
pub mod view;
pub mod views;

pub use audit::AuditEntry;
pub use error::ProjectionError;
pub use event::{DomainEvent, ProjectedEvent};
pub use memory::{MemoryProjector, MemoryView};
pub use projection::Projection;
pub use runtime::{CatchUp, ProjectionStatus, Projector, ProjectorOptions};
pub use view::{View, ViewProjection};
