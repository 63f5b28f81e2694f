//! The domain of the onboarding ledger: who a customer is (Identity), which products they use
//! (Account) and what they hold (Profile), as event-sourced aggregates on `cqrs-es`.
//!
//! This crate is pure: no IO, no SQL, no HTTP, no Paxos wire JSON. Every business rule of the
//! ledger lives here; what a command needs from outside (other aggregates' state, `cip_id`
//! uniqueness, the time) comes through the ports in [`services`]. Values are parsed into types that
//! cannot hold invalid data ([`values`], [`money`], [`vocab`]), personal data is kept apart in
//! [`pii`] and never printed, and stored names are fixed in [`event_names`].

pub mod account;
pub mod event_names;
pub mod identity;
pub mod ids;
pub mod mirror;
pub mod money;
pub mod pii;
pub mod profile;
pub mod services;
pub mod summary;
pub mod values;
pub mod violation;
pub mod vocab;

pub use account::{
    Account, AccountCommand, AccountError, AccountEvent, AccountMember, AccountOpening,
};
pub use identity::draft::IdentityDraft;
pub use identity::{
    Decision, DecisionSource, Identity, IdentityCommand, IdentityError, IdentityEvent,
    IdentitySubmission, RetentionFacts,
};
pub use ids::{AccountId, IdentityId, InvalidId, OrderId, ProfileId};
pub use mirror::{MirrorRejection, PaxosMirrored};
pub use money::{Amount, AmountError, Asset, Market};
pub use profile::{
    Balance, FundingMethod, OrderOutcome, OrderRequest, Profile, ProfileCommand, ProfileError,
    ProfileEvent, ReportedOrderState,
};
pub use services::{
    AccountFacts, CipClaim, CipRegistry, Clock, Directory, FixedClock, IdentityFacts, LookupError,
    Services, SystemClock,
};
pub use violation::{Problem, Violation, Violations};
