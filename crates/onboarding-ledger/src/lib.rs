//! The front door of the onboarding ledger: one [`Ledger`] that an embedding application creates
//! once and calls for every onboarding step.
//!
//! It wires the domain's aggregates (`onboarding-domain`) to an event store
//! (`onboarding-store`): Postgres when given a database URL, the embedded in-memory store
//! otherwise, with the same behaviour. Every command carries a [`CommandContext`] whose actor,
//! reason, correlation and causation are stored with each event it produces.
//!
//! ```no_run
//! # async fn example() -> Result<(), onboarding_ledger::LedgerError> {
//! use onboarding_ledger::{CommandContext, Ledger};
//!
//! let ledger = Ledger::in_memory();
//! let ctx = CommandContext::new("onboarding-service", "api");
//! let json = std::fs::read_to_string("person.json").expect("readable file");
//! let id = ledger.submit_identity_json(&ctx, &json).await?;
//! println!("submitted {id}");
//! # Ok(())
//! # }
//! ```

mod erasure;
mod error;
mod ledger;
mod mirror_outcomes;
mod read_side;

pub use error::LedgerError;
pub use ledger::{AccountRequest, Ledger, LedgerOptions, OpenedAccount, DEFAULT_RETENTION_DAYS};
pub use onboarding_domain as domain;
pub use onboarding_projections as projections;
pub use onboarding_store::cip::FingerprintKey;
pub use onboarding_store::crypto::{KeyProvider, MasterKey};
pub use onboarding_store::{CommandContext, EventMetadata, RecordedEvent, StoreError};
