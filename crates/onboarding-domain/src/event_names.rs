//! Stored names: aggregate types, event types and event versions. These strings are a schema
//! shared with every database that holds the log; never rename one. A changed payload gets a new
//! version and an upcaster, not a new meaning for an old name.

/// Aggregate type of [`Identity`](crate::Identity).
pub const IDENTITY: &str = "identity";
/// Aggregate type of [`Account`](crate::Account).
pub const ACCOUNT: &str = "account";
/// Aggregate type of [`Profile`](crate::Profile).
pub const PROFILE: &str = "profile";

/// An identity was submitted.
pub const IDENTITY_SUBMITTED: &str = "IdentitySubmitted";
/// A decision about an identity was recorded.
pub const DECISION_RECORDED: &str = "DecisionRecorded";
/// An identity was linked to its Paxos counterpart.
pub const PAXOS_IDENTITY_LINKED: &str = "PaxosIdentityLinked";
/// An identity was off-boarded on request.
pub const IDENTITY_DISABLED: &str = "IdentityDisabled";
/// An identity's personal data was erased.
pub const IDENTITY_FORGOTTEN: &str = "IdentityForgotten";
/// Paxos permanently refused mirroring the identity (or a call about it).
pub const IDENTITY_MIRROR_REJECTED: &str = "IdentityMirrorRejected";
/// Current version of every identity event.
pub const IDENTITY_EVENT_VERSION: &str = "1.0";

/// An account was opened.
pub const ACCOUNT_OPENED: &str = "AccountOpened";
/// An account was linked to its Paxos account and profile.
pub const PAXOS_ACCOUNT_LINKED: &str = "PaxosAccountLinked";
/// An account was closed.
pub const ACCOUNT_CLOSED: &str = "AccountClosed";
/// Paxos permanently refused mirroring the account.
pub const ACCOUNT_MIRROR_REJECTED: &str = "AccountMirrorRejected";
/// Current version of every account event.
pub const ACCOUNT_EVENT_VERSION: &str = "1.0";

/// A profile was opened for an account.
pub const PROFILE_OPENED: &str = "ProfileOpened";
/// A profile was credited.
pub const PROFILE_FUNDED: &str = "ProfileFunded";
/// An order was placed and its hold taken.
pub const ORDER_PLACED: &str = "OrderPlaced";
/// An order (partly) executed.
pub const ORDER_FILLED: &str = "OrderFilled";
/// An order reached a final state and released what it still held.
pub const ORDER_CLOSED: &str = "OrderClosed";
/// Paxos permanently refused a mirrored profile call (a deposit, an order).
pub const PROFILE_MIRROR_REJECTED: &str = "ProfileMirrorRejected";
/// A profile call without a ledger event of its own took effect at Paxos (a sandbox deposit,
/// an order's creation with its Paxos id).
pub const PROFILE_PAXOS_MIRRORED: &str = "ProfilePaxosMirrored";
/// Current version of every profile event.
pub const PROFILE_EVENT_VERSION: &str = "1.0";
