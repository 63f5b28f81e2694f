//! One-line, human-readable summaries of events, for audit trails and terminals. They name
//! kinds, statuses, ids, assets and amounts, and never personal data.

use crate::account::AccountEvent;
use crate::identity::{Decision, DecisionSource, IdentityEvent, IdentitySubmission};
use crate::profile::ProfileEvent;

impl IdentityEvent {
    /// What happened, in one line, without personal data.
    pub fn summary(&self) -> String {
        match self {
            Self::IdentitySubmitted { submission, .. } => match submission.as_ref() {
                IdentitySubmission::Person(p) => format!(
                    "person submitted (IDV {} via {}), PENDING",
                    p.details.verification.status, p.details.verification.verifier
                ),
                IdentitySubmission::Institution(i) => format!(
                    "institution submitted ({} / {}, {} members), PENDING",
                    i.details.institution_type,
                    i.details.institution_sub_type,
                    i.details.members.len()
                ),
            },
            Self::DecisionRecorded {
                decision,
                source,
                from,
                to,
                ..
            } => {
                let by = match source {
                    DecisionSource::PaxosEvent { event_id } => format!("Paxos event {event_id}"),
                    DecisionSource::ComplianceOfficer { officer } => {
                        format!("compliance officer {officer}")
                    }
                };
                match decision {
                    Decision::DocumentsRequired { documents } => format!(
                        "documents required ({}) by {by}, stays {to}",
                        documents.join(", ")
                    ),
                    _ => format!("{} by {by}: {from} -> {to}", decision.name()),
                }
            }
            Self::PaxosIdentityLinked { paxos_identity_id } => {
                format!("linked to Paxos identity {paxos_identity_id}")
            }
            Self::IdentityForgotten { .. } => "personal data erased (key destroyed)".to_owned(),
            Self::IdentityDisabled { from, .. } => {
                format!("disabled on request: {from} -> DISABLED")
            }
            Self::MirrorRejected(r) => rejection(r),
        }
    }
}

impl AccountEvent {
    /// What happened, in one line, without personal data.
    pub fn summary(&self) -> String {
        match self {
            Self::AccountOpened(o) => format!(
                "{} account opened for identity {} with profile {}{}",
                o.account_type,
                o.owner,
                o.profile_id,
                if o.members.is_empty() {
                    String::new()
                } else {
                    format!(", {} members", o.members.len())
                }
            ),
            Self::PaxosAccountLinked {
                paxos_account_id,
                paxos_profile_id,
            } => format!("linked to Paxos account {paxos_account_id}, profile {paxos_profile_id}"),
            Self::AccountClosed { .. } => "account closed".to_owned(),
            Self::MirrorRejected(r) => rejection(r),
        }
    }
}

impl ProfileEvent {
    /// What happened, in one line, without personal data.
    pub fn summary(&self) -> String {
        match self {
            Self::ProfileOpened { account_id, .. } => {
                format!("profile opened for account {account_id}")
            }
            Self::ProfileFunded {
                asset,
                amount,
                method,
                ..
            } => format!("funded {amount} {asset} ({method:?})"),
            Self::OrderPlaced { order, hold } => {
                let size = match (order.base_amount, order.quote_amount) {
                    (Some(b), _) => format!("{b} {}", order.market.base()),
                    (None, Some(q)) => format!("{q} {} worth", order.market.quote()),
                    (None, None) => String::new(),
                };
                let price = order.price.map(|p| format!(" @ {p}")).unwrap_or_default();
                format!(
                    "{} {} {} {size}{price}, holds {} {}",
                    order.order_type, order.side, order.market, hold.amount, hold.asset
                )
            }
            Self::OrderFilled {
                order_id,
                base_amount,
                quote_amount,
                ..
            } => format!("order {order_id} filled {base_amount} for {quote_amount}"),
            Self::OrderClosed {
                order_id,
                outcome,
                released,
                ..
            } => format!("order {order_id} {}, released {released}", outcome.as_str()),
            Self::PaxosMirrored(m) => format!(
                "{} {} mirrored to Paxos{}",
                m.operation,
                m.reference,
                m.paxos_id
                    .as_ref()
                    .map(|id| format!(" as {id}"))
                    .unwrap_or_default()
            ),
            Self::MirrorRejected(r) => rejection(r),
        }
    }
}

fn rejection(r: &crate::mirror::MirrorRejection) -> String {
    let problem = r.problem_type.as_deref();
    match r.status {
        Some(status) => format!(
            "Paxos refused {} {} ({status}{}): {}",
            r.operation,
            r.reference,
            problem.map(|t| format!(" {t}")).unwrap_or_default(),
            r.reason
        ),
        // Decided here, before any call: Paxos never saw the request.
        None => format!(
            "not sent to Paxos: {} {}{}: {}",
            r.operation,
            r.reference,
            problem.map(|t| format!(" ({t})")).unwrap_or_default(),
            r.reason
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::rejection;
    use crate::mirror::MirrorRejection;

    fn refused(status: Option<u16>) -> MirrorRejection {
        MirrorRejection {
            operation: "CreateAccount".to_owned(),
            reference: "a1".to_owned(),
            problem_type: Some("dependency-not-mirrored".to_owned()),
            status,
            reason: "identities i1 cannot be mirrored".to_owned(),
        }
    }

    #[test]
    fn a_refusal_made_before_any_call_does_not_say_paxos_refused() {
        assert_eq!(
            rejection(&refused(None)),
            "not sent to Paxos: CreateAccount a1 (dependency-not-mirrored): \
             identities i1 cannot be mirrored"
        );
        assert_eq!(
            rejection(&refused(Some(403))),
            "Paxos refused CreateAccount a1 (403 dependency-not-mirrored): \
             identities i1 cannot be mirrored"
        );
    }
}
