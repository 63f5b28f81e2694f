//! `paxos-sandbox`: a local stand-in for the Paxos v2 API, serving the subset the onboarding
//! ledger mirrors to, for tests, demos and offline development. It knows nothing of the ledger;
//! it speaks only Paxos's wire contract.
//!
//! - **Token endpoint** `POST /oauth2/token` (client credentials), tokens that expire.
//! - **Operations** under `/v2`: create, get and update (disable) identities; create and get
//!   accounts (with profiles); sandbox deposits and balances; create, get and cancel orders; get
//!   and list events. State is in memory.
//! - **Validation**: every request body is checked against the request schema of its operation
//!   in Paxos's published OpenAPI document ([`spec`], embedded in the crate), then against the
//!   documented rules the schema leaves out ([`rules`]); violations answer 400 naming each path.
//! - **Uniqueness**: `ref_id` and `(cip_id, cip_id_type, cip_id_country)` answer 409
//!   `already-exists` with `meta.existing.id`, exactly as Paxos documents.
//! - **Decisions**: identities are decided after a configurable delay (approve by default, deny
//!   or ask for documents by name or `cip_id` pattern), recorded as `identity.*` events and
//!   delivered as webhooks (`{id, type, source, time, object}`) with a configured header.
//! - **Orders** fill at configurable market prices; limit orders fill when the price crosses;
//!   stop orders (sells only, as Paxos supports) rest until the price falls to their stop, then
//!   work as market or limit orders; a buy or sell beyond the available balance answers 403
//!   `insufficient-funds`.
//! - **Faults** ([`Faults`]) are injected at run time: latency, failures before or after the
//!   request took effect, 429s, delayed answers, dropped webhooks, expired tokens.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use paxos_sandbox::{Sandbox, SandboxConfig};
//! let sandbox = Sandbox::start(SandboxConfig::default()).await?;
//! println!("REST at {}, tokens at {}", sandbox.base_url, sandbox.token_url());
//! # Ok(()) }
//! ```

pub mod config;
pub mod faults;
pub mod problem;
pub mod rules;
mod server;
pub mod spec;
pub mod state;
mod webhooks;

pub use config::{DecisionConfig, SandboxConfig, WebhookConfig};
pub use faults::{Fault, Faults};
pub use server::{Sandbox, SandboxHandle};
pub use spec::{Operation, RequestSchemas, Violation};
pub use state::{EventRecord, RecordedRequest, SandboxDecision, Stats};
