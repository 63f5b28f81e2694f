//! What the Paxos mirror reports back into the ledger: a permanent refusal of a mirrored
//! command ([`MirrorRejection`]), and for calls that carry no `ref_id` of their own (sandbox
//! deposits) or whose Paxos id the ledger needs later (orders), the fact that a call took
//! effect ([`PaxosMirrored`]). Both are recorded as events so the mirror's history is part of
//! the audit trail. Neither holds personal data: a rejection carries the problem's type, status
//! and a reason the mirror composed, never Paxos's free-text `detail`.

use serde::{Deserialize, Serialize};

use crate::violation::{Problem, Violations};

/// Paxos (or the mirror, when a dependency could not be mirrored) refused a mirrored command
/// for good: it will not be retried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirrorRejection {
    /// The Paxos operation, e.g. `CreateIdentity`, `CreateAccount`, `CreateOrder`.
    pub operation: String,
    /// The ledger id the call was about (the identity, account, order or funding id).
    pub reference: String,
    /// The problem type's slug, e.g. `already-exists`, `insufficient-funds`; `None` for a
    /// generic problem.
    pub problem_type: Option<String>,
    /// The HTTP status Paxos answered; `None` when the mirror refused locally (e.g. a member
    /// whose own mirroring was rejected).
    pub status: Option<u16>,
    /// Why, without personal data (composed by the mirror, never Paxos's `detail`).
    pub reason: String,
}

impl MirrorRejection {
    /// The key a rejection is deduplicated on: one rejection per operation and reference.
    pub fn key(&self) -> String {
        format!("{}/{}", self.operation, self.reference)
    }

    /// Checks the fields: operation and reference present, status a 4xx when given.
    pub fn check(&self) -> Result<(), Violations> {
        let mut v = Violations::new();
        if self.operation.trim().is_empty() {
            v.push("operation", Problem::Missing);
        }
        if self.reference.trim().is_empty() {
            v.push("reference", Problem::Missing);
        }
        if self.status.is_some_and(|s| !(400..500).contains(&s)) {
            v.push("status", Problem::NotAllowed);
        }
        v.into_result(())
    }
}

/// A mirrored call took effect at Paxos (used where the ledger has no other event saying so).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaxosMirrored {
    /// The Paxos operation, e.g. `CreateSandboxDeposit`, `CreateOrder`.
    pub operation: String,
    /// The ledger id the call was about (the funding or order id).
    pub reference: String,
    /// What Paxos answered with: the order id, the deposit's activity id.
    pub paxos_id: Option<String>,
}

impl PaxosMirrored {
    /// The key it is deduplicated on.
    pub fn key(&self) -> String {
        format!("{}/{}", self.operation, self.reference)
    }
}
