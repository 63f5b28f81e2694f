//! The Identity aggregate: the KYC record of a person or an institution.
//!
//! Lifecycle: `SubmitIdentity` makes it `PENDING`; decisions move it to `APPROVED` or `DENIED`,
//! later `DISABLED` (off-boarded) or `ERROR` (frozen). The aggregate keeps no personal data in its
//! state (only kind, status and links), so snapshots never hold PII.

pub mod draft;
pub mod rules;
pub mod submission;

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::event_names;
use crate::ids::IdentityId;
use crate::mirror::MirrorRejection;
use crate::services::{CipClaim, LookupError, Services};
use crate::violation::{Problem, Violations};
use crate::vocab::{IdentityKind, IdentityStatus};
pub use submission::IdentitySubmission;

/// A compliance decision about an identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Decision {
    /// Onboarded: may transact.
    Approved,
    /// Refused.
    Denied,
    /// Off-boarded: may hold and sell, may not buy.
    Disabled,
    /// Frozen for compliance.
    Error,
    /// Enhanced due diligence: these documents are needed; the identity stays `PENDING`.
    DocumentsRequired {
        /// The kinds of document asked for.
        documents: Vec<String>,
    },
}

impl Decision {
    /// The decision's name as stored and shown, e.g. `APPROVED`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Approved => "APPROVED",
            Self::Denied => "DENIED",
            Self::Disabled => "DISABLED",
            Self::Error => "ERROR",
            Self::DocumentsRequired { .. } => "DOCUMENTS_REQUIRED",
        }
    }

    /// The status this decision puts an identity in (documents required keeps it `PENDING`).
    pub fn status(&self) -> IdentityStatus {
        match self {
            Self::Approved => IdentityStatus::Approved,
            Self::Denied => IdentityStatus::Denied,
            Self::Disabled => IdentityStatus::Disabled,
            Self::Error => IdentityStatus::Error,
            Self::DocumentsRequired { .. } => IdentityStatus::Pending,
        }
    }

    /// The status this decision leads to from `from`, or `None` when the move is not allowed.
    ///
    /// `PENDING → APPROVED | DENIED | ERROR` (documents required keeps it `PENDING`);
    /// `APPROVED → DISABLED | ERROR`; `DISABLED → APPROVED | ERROR` (re-enabled or frozen);
    /// `ERROR → APPROVED | DENIED | DISABLED` (unfrozen); `DENIED` is final.
    pub fn next_status(&self, from: IdentityStatus) -> Option<IdentityStatus> {
        use IdentityStatus as S;
        let to = self.status();
        let allowed = matches!(
            (from, to),
            (S::Pending, S::Approved | S::Denied | S::Error | S::Pending)
                | (S::Approved, S::Disabled | S::Error)
                | (S::Disabled, S::Approved | S::Error)
                | (S::Error, S::Approved | S::Denied | S::Disabled)
        );
        allowed.then_some(to)
    }
}

/// Who or what a decision came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum DecisionSource {
    /// A Paxos event (webhook or events poller), by its id.
    PaxosEvent {
        /// The Paxos event id.
        event_id: String,
    },
    /// A named compliance officer of the integrator.
    ComplianceOfficer {
        /// The officer's name or staff id.
        officer: String,
    },
}

/// What the store says about the end of an identity's relationship, looked up before `Forget`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionFacts {
    /// Now.
    pub now: DateTime<Utc>,
    /// When the identity entered its current status, if that status ends the relationship
    /// (denied, disabled, error), from the event's commit time.
    pub ended_at: Option<DateTime<Utc>>,
    /// Accounts of the identity (owned or as a member) still open.
    pub open_accounts: u32,
    /// When its last account closed.
    pub last_account_closed_at: Option<DateTime<Utc>>,
    /// How long records must be kept after the relationship ends.
    pub retention: chrono::Duration,
}

/// The commands an identity accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum IdentityCommand {
    /// Submit a person or institution for onboarding.
    Submit {
        /// The new identity's id (the aggregate id).
        id: IdentityId,
        /// What is submitted.
        submission: Box<IdentitySubmission>,
    },
    /// Record an onboarding decision.
    RecordDecision {
        /// The decision.
        decision: Decision,
        /// Where it came from.
        source: DecisionSource,
        /// Why, where given.
        reason: Option<String>,
    },
    /// Record the id Paxos gave this identity once mirrored.
    LinkPaxosIdentity {
        /// The Paxos identity id.
        paxos_identity_id: String,
    },
    /// Off-board the identity at the integrator's request (mirrored to Paxos as a disable).
    Disable {
        /// Why.
        reason: String,
    },
    /// Erase the identity's personal data (right to erasure), once the retention period after
    /// the relationship ended has passed. The store then destroys the identity's data key.
    Forget {
        /// Why (e.g. the customer's request reference).
        reason: String,
        /// The facts the retention rule needs.
        facts: RetentionFacts,
    },
    /// Record that Paxos permanently refused a mirrored call about this identity. The same
    /// operation and reference recorded again changes nothing.
    RecordMirrorRejection(MirrorRejection),
}

/// What happened to an identity. Stored names and versions are in [`event_names`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum IdentityEvent {
    /// The identity was submitted and is `PENDING`.
    IdentitySubmitted {
        /// The identity's id.
        id: IdentityId,
        /// What was submitted (personal data in its `pii` parts).
        submission: Box<IdentitySubmission>,
    },
    /// A decision was recorded.
    DecisionRecorded {
        /// The decision.
        decision: Decision,
        /// Where it came from.
        source: DecisionSource,
        /// Why, where given.
        reason: Option<String>,
        /// The status before.
        from: IdentityStatus,
        /// The status after.
        to: IdentityStatus,
    },
    /// The identity was linked to its Paxos counterpart.
    PaxosIdentityLinked {
        /// The Paxos identity id.
        paxos_identity_id: String,
    },
    /// The integrator off-boarded the identity.
    IdentityDisabled {
        /// Why.
        reason: String,
        /// The status before.
        from: IdentityStatus,
    },
    /// The identity's personal data was erased; its status and history remain.
    IdentityForgotten {
        /// Why.
        reason: String,
    },
    /// Paxos permanently refused a mirrored call about the identity.
    MirrorRejected(MirrorRejection),
}

impl DomainEvent for IdentityEvent {
    fn event_type(&self) -> String {
        match self {
            Self::IdentitySubmitted { .. } => event_names::IDENTITY_SUBMITTED,
            Self::DecisionRecorded { .. } => event_names::DECISION_RECORDED,
            Self::PaxosIdentityLinked { .. } => event_names::PAXOS_IDENTITY_LINKED,
            Self::IdentityDisabled { .. } => event_names::IDENTITY_DISABLED,
            Self::IdentityForgotten { .. } => event_names::IDENTITY_FORGOTTEN,
            Self::MirrorRejected(_) => event_names::IDENTITY_MIRROR_REJECTED,
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        event_names::IDENTITY_EVENT_VERSION.to_owned()
    }
}

/// Why an identity command was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IdentityError {
    /// Fields are missing or wrong; fix each named field and resubmit.
    #[error("invalid identity: {0}")]
    Invalid(Violations),
    /// Another identity already holds this (cip_id, cip_id_type, cip_id_country); use that
    /// identity instead of creating a second one.
    #[error("cip_id is already used by identity {existing}")]
    CipIdTaken {
        /// The identity that holds it.
        existing: IdentityId,
    },
    /// This identity id was already submitted; submit under a new id.
    #[error("identity was already submitted")]
    AlreadySubmitted,
    /// The identity does not exist; submit it first.
    #[error("identity has not been submitted")]
    NotSubmitted,
    /// The decision is not allowed from the current status; check the status first.
    #[error("cannot record {decision} for an identity that is {from}")]
    IllegalTransition {
        /// The current status.
        from: IdentityStatus,
        /// The refused decision.
        decision: &'static str,
    },
    /// The identity is already linked to a different Paxos identity; investigate, do not retry.
    #[error("identity is already linked to another Paxos identity")]
    PaxosLinkConflict,
    /// The relationship has not ended (the identity is not denied or disabled, or accounts are
    /// still open): close them and disable the identity first.
    #[error("cannot forget an identity that is {status} with {open_accounts} open account(s)")]
    RelationshipActive {
        /// The current status.
        status: IdentityStatus,
        /// Accounts still open.
        open_accounts: u32,
    },
    /// The records must be kept until `until`; erase then.
    #[error("personal data must be retained until {until}")]
    RetentionActive {
        /// When the retention period ends.
        until: DateTime<Utc>,
    },
    /// The identity's personal data was erased; it accepts no more commands (except the record
    /// of a Paxos refusal of a call mirrored before, which carries no personal data).
    #[error("identity has been forgotten")]
    Forgotten,
    /// A lookup the rules need failed; retry when the store is reachable.
    #[error(transparent)]
    Lookup(#[from] LookupError),
}

/// The state of one identity, rebuilt from its events. Holds no personal data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    id: Option<IdentityId>,
    kind: Option<IdentityKind>,
    status: Option<IdentityStatus>,
    members: Vec<IdentityId>,
    paxos_identity_id: Option<String>,
    paxos_events_applied: BTreeSet<String>,
    documents_required: Vec<String>,
    #[serde(default)]
    forgotten: bool,
    #[serde(default)]
    mirror_rejections: BTreeSet<String>,
}

impl Identity {
    /// The id, once submitted.
    pub fn id(&self) -> Option<IdentityId> {
        self.id
    }

    /// Person or institution, once submitted.
    pub fn kind(&self) -> Option<IdentityKind> {
        self.kind
    }

    /// The status, once submitted.
    pub fn status(&self) -> Option<IdentityStatus> {
        self.status
    }

    /// For an institution, its member identities.
    pub fn members(&self) -> &[IdentityId] {
        &self.members
    }

    /// The Paxos identity id, once mirrored.
    pub fn paxos_identity_id(&self) -> Option<&str> {
        self.paxos_identity_id.as_deref()
    }

    /// Whether its personal data was erased.
    pub fn is_forgotten(&self) -> bool {
        self.forgotten
    }

    /// Whether Paxos permanently refused mirroring this identity (`CreateIdentity`).
    pub fn mirror_rejected(&self) -> bool {
        self.mirror_rejections
            .iter()
            .any(|k| k.starts_with("CreateIdentity/"))
    }

    /// Documents asked for by the last documents-required decision.
    pub fn documents_required(&self) -> &[String] {
        &self.documents_required
    }

    fn current_status(&self) -> Result<IdentityStatus, IdentityError> {
        if self.forgotten {
            return Err(IdentityError::Forgotten);
        }
        self.status.ok_or(IdentityError::NotSubmitted)
    }

    fn forget(
        &self,
        reason: String,
        facts: RetentionFacts,
    ) -> Result<Option<IdentityEvent>, IdentityError> {
        if self.forgotten {
            return Ok(None); // a retried erasure: the store finishes destroying the key
        }
        let status = self.current_status()?;
        if !status.ends_relationship() || facts.open_accounts > 0 {
            return Err(IdentityError::RelationshipActive {
                status,
                open_accounts: facts.open_accounts,
            });
        }
        let start = facts
            .ended_at
            .max(facts.last_account_closed_at)
            .unwrap_or(facts.now);
        // A period too long for the calendar never ends.
        let until = start
            .checked_add_signed(facts.retention)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        if facts.now < until {
            return Err(IdentityError::RetentionActive { until });
        }
        Ok(Some(IdentityEvent::IdentityForgotten { reason }))
    }

    async fn submit(
        &self,
        id: IdentityId,
        submission: Box<IdentitySubmission>,
        services: &Services,
    ) -> Result<IdentityEvent, IdentityError> {
        if self.status.is_some() {
            return Err(IdentityError::AlreadySubmitted);
        }
        let now = services.clock.now();
        let mut violations = match submission.as_ref() {
            IdentitySubmission::Person(p) => rules::check_person(p, now),
            IdentitySubmission::Institution(i) => rules::check_institution(i, now),
        };
        let mut facts = Vec::with_capacity(submission.members().len());
        for member in submission.members() {
            facts.push((
                member.identity_id,
                services.directory.identity(member.identity_id).await?,
            ));
        }
        violations.extend(rules::check_members(id, &facts));
        if !violations.is_empty() {
            return Err(IdentityError::Invalid(violations));
        }
        let Some(cip_key) = submission.cip_key() else {
            let mut v = Violations::new();
            v.push("person_details", Problem::NotInClear);
            return Err(IdentityError::Invalid(v));
        };
        // Claimed last, so a submission refused for any other reason never holds a claim.
        match services.cips.claim(&cip_key, id).await? {
            CipClaim::Claimed => Ok(IdentityEvent::IdentitySubmitted { id, submission }),
            CipClaim::HeldBy(existing) => Err(IdentityError::CipIdTaken { existing }),
        }
    }

    fn record_decision(
        &self,
        decision: Decision,
        source: DecisionSource,
        reason: Option<String>,
    ) -> Result<Option<IdentityEvent>, IdentityError> {
        // The same Paxos event delivered again changes nothing, whatever happened since (an
        // erasure included).
        if let DecisionSource::PaxosEvent { event_id } = &source {
            if self.paxos_events_applied.contains(event_id) {
                return Ok(None);
            }
        }
        let from = self.current_status()?;
        let mut v = Violations::new();
        match &source {
            DecisionSource::PaxosEvent { event_id } if event_id.trim().is_empty() => {
                v.push("source.event_id", Problem::Missing)
            }
            DecisionSource::ComplianceOfficer { officer } if officer.trim().is_empty() => {
                v.push("source.officer", Problem::Missing)
            }
            _ => {}
        }
        if let Decision::DocumentsRequired { documents } = &decision {
            if documents.is_empty() {
                v.push("documents", Problem::Empty);
            }
        }
        if !v.is_empty() {
            return Err(IdentityError::Invalid(v));
        }
        let to = decision
            .next_status(from)
            .ok_or(IdentityError::IllegalTransition {
                from,
                decision: decision.name(),
            })?;
        Ok(Some(IdentityEvent::DecisionRecorded {
            decision,
            source,
            reason,
            from,
            to,
        }))
    }
}

impl Aggregate for Identity {
    const TYPE: &'static str = event_names::IDENTITY;
    type Command = IdentityCommand;
    type Event = IdentityEvent;
    type Error = IdentityError;
    type Services = Services;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &cqrs_es::event_sink::EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let event = match command {
            IdentityCommand::Submit { id, submission } => {
                Some(self.submit(id, submission, services).await?)
            }
            IdentityCommand::RecordDecision {
                decision,
                source,
                reason,
            } => self.record_decision(decision, source, reason)?,
            IdentityCommand::LinkPaxosIdentity { paxos_identity_id } => {
                self.current_status()?;
                if paxos_identity_id.trim().is_empty() {
                    let mut v = Violations::new();
                    v.push("paxos_identity_id", Problem::Missing);
                    return Err(IdentityError::Invalid(v));
                }
                match &self.paxos_identity_id {
                    Some(existing) if *existing == paxos_identity_id => None,
                    Some(_) => return Err(IdentityError::PaxosLinkConflict),
                    None => Some(IdentityEvent::PaxosIdentityLinked { paxos_identity_id }),
                }
            }
            IdentityCommand::Forget { reason, facts } => self.forget(reason, facts)?,
            IdentityCommand::RecordMirrorRejection(rejection) => {
                // Also after an erasure: the mirror may learn of a refusal of a call it made
                // before (see `IdentityError::Forgotten`).
                self.status.ok_or(IdentityError::NotSubmitted)?;
                rejection.check().map_err(IdentityError::Invalid)?;
                (!self.mirror_rejections.contains(&rejection.key()))
                    .then_some(IdentityEvent::MirrorRejected(rejection))
            }
            IdentityCommand::Disable { reason } => {
                let from = self.current_status()?;
                if from == IdentityStatus::Disabled {
                    None
                } else if Decision::Disabled.next_status(from).is_none() {
                    return Err(IdentityError::IllegalTransition {
                        from,
                        decision: Decision::Disabled.name(),
                    });
                } else {
                    Some(IdentityEvent::IdentityDisabled { reason, from })
                }
            }
        };
        if let Some(event) = event {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            IdentityEvent::IdentitySubmitted { id, submission } => {
                self.id = Some(id);
                self.kind = Some(submission.kind());
                self.status = Some(IdentityStatus::Pending);
                self.members = submission.members().iter().map(|m| m.identity_id).collect();
            }
            IdentityEvent::DecisionRecorded {
                decision,
                source,
                to,
                ..
            } => {
                if let DecisionSource::PaxosEvent { event_id } = source {
                    self.paxos_events_applied.insert(event_id);
                }
                self.documents_required = match decision {
                    Decision::DocumentsRequired { documents } => documents,
                    _ => Vec::new(),
                };
                self.status = Some(to);
            }
            IdentityEvent::PaxosIdentityLinked { paxos_identity_id } => {
                self.paxos_identity_id = Some(paxos_identity_id);
            }
            IdentityEvent::IdentityDisabled { .. } => {
                self.status = Some(IdentityStatus::Disabled);
            }
            IdentityEvent::IdentityForgotten { .. } => {
                self.forgotten = true;
            }
            IdentityEvent::MirrorRejected(rejection) => {
                self.mirror_rejections.insert(rejection.key());
            }
        }
    }
}
