//! `onboarding-paxos`: the ledger's client of the Paxos v2 API, the only crate that knows
//! Paxos's wire JSON. It knows no SQL and nothing of the ledger's store: the mirror worker and
//! the webhook receiver built on it hand it domain values and get typed answers back.
//!
//! - [`PaxosClient`] ([`client`]): one method per operation the mirror uses (Create, Get and
//!   Update Identity; Create and Get Account; the sandbox deposit and balances; Create, Get and
//!   Cancel Order; Get and List Events). The `ensure_*` methods make creates retry-safe: a 409
//!   for our own `ref_id` returns the existing resource as [`Created::Existing`].
//! - `auth`: OAuth2 client credentials, the token cached and renewed shortly before expiry,
//!   one renewal at a time, renewed once on a 401. Secrets never appear in `Debug` or logs.
//! - [`model`]: typed request and response bodies, strict when sending, liberal when reading.
//! - [`mapping`]: domain values (`IdentitySubmission`, `AccountOpening`, funding, `OrderRequest`)
//!   to request bodies, and Paxos events and orders back to domain decisions and order states.
//! - [`problem`]: RFC 7807 problems mapped to the typed [`Error`]; no message carries a
//!   request body or a problem's free text.
//! - Pacing below Paxos's rate limits, timeouts, and retries with exponential backoff and
//!   jitter for transient failures only ([`RetryPolicy`], [`Pacing`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), onboarding_paxos::Error> {
//! use onboarding_paxos::{PaxosClient, PaxosConfig};
//! let client = PaxosClient::new(PaxosConfig::paxos_sandbox("client-id", "client-secret"))?;
//! let identity = client.get_identity("36ae1728-c54a-4046-86df-8a413e0ab9b3").await?;
//! println!("{:?}", identity.status());
//! # Ok(()) }
//! ```

mod auth;
pub mod client;
pub mod config;
pub mod mapping;
pub mod model;
mod pacing;
pub mod problem;

pub use client::{Created, PaxosClient};
pub use config::{Pacing, PaxosConfig, RetryPolicy};
pub use problem::{Duplicate, Error, Problem};
