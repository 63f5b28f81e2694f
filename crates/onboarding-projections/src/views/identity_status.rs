//! `identity_status`: one row per identity — kind, status, Paxos link, timestamps.

use chrono::{DateTime, Utc};
use onboarding_domain::vocab::{IdentityKind, IdentityStatus as Status};
use onboarding_domain::{Decision, IdentityEvent, IdentityId};
use serde::{Deserialize, Serialize};

use crate::event::{DomainEvent, ProjectedEvent};
use crate::view::View;

/// The status of one identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityStatusRow {
    /// The identity.
    pub identity_id: IdentityId,
    /// Person or institution.
    pub kind: IdentityKind,
    /// Current status.
    pub status: Status,
    /// The Paxos identity id, once mirrored.
    pub paxos_identity_id: Option<String>,
    /// The last decision's name, e.g. `APPROVED` or `DOCUMENTS_REQUIRED`.
    pub last_decision: Option<String>,
    /// Documents asked for by a pending documents-required decision.
    pub documents_required: Vec<String>,
    /// For an institution, its member identities.
    pub members: Vec<IdentityId>,
    /// When it was submitted.
    pub submitted_at: DateTime<Utc>,
    /// When the last decision was recorded.
    pub decided_at: Option<DateTime<Utc>>,
    /// When the row last changed.
    pub updated_at: DateTime<Utc>,
    /// Whether the identity's personal data was erased.
    #[serde(default)]
    pub forgotten: bool,
    /// Where mirroring to Paxos stands.
    #[serde(default)]
    pub mirror: MirrorState,
}

/// Where an identity's mirroring to Paxos stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MirrorState {
    /// Not (yet) created at Paxos.
    #[default]
    NotMirrored,
    /// Created at Paxos and linked (`paxos_identity_id` is set).
    Mirrored,
    /// Paxos permanently refused it (see the identity's `IdentityMirrorRejected` event).
    Rejected,
}

/// The `identity_status` view.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdentityStatus;

impl View for IdentityStatus {
    type Row = IdentityStatusRow;

    fn name(&self) -> &'static str {
        "identity_status"
    }

    fn keys(&self, event: &ProjectedEvent) -> Vec<String> {
        match event.event {
            DomainEvent::Identity(_) => vec![event.aggregate_id().to_owned()],
            _ => Vec::new(),
        }
    }

    fn apply(
        &self,
        _key: &str,
        row: &mut Option<IdentityStatusRow>,
        event: &ProjectedEvent,
    ) -> Result<(), String> {
        let DomainEvent::Identity(e) = &event.event else {
            return Ok(());
        };
        let at = event.record.recorded_at;
        if let IdentityEvent::IdentitySubmitted { id, submission } = e {
            *row = Some(IdentityStatusRow {
                identity_id: *id,
                kind: submission.kind(),
                status: Status::Pending,
                paxos_identity_id: None,
                last_decision: None,
                documents_required: Vec::new(),
                members: submission.members().iter().map(|m| m.identity_id).collect(),
                submitted_at: at,
                decided_at: None,
                updated_at: at,
                forgotten: false,
                mirror: MirrorState::NotMirrored,
            });
            return Ok(());
        }
        let r = row
            .as_mut()
            .ok_or_else(|| format!("{} before IdentitySubmitted", event.record.event_type))?;
        r.updated_at = at;
        match e {
            IdentityEvent::IdentitySubmitted { .. } => {}
            IdentityEvent::DecisionRecorded { decision, to, .. } => {
                r.status = *to;
                r.last_decision = Some(decision.name().to_owned());
                r.decided_at = Some(at);
                r.documents_required = match decision {
                    Decision::DocumentsRequired { documents } => documents.clone(),
                    _ => Vec::new(),
                };
            }
            IdentityEvent::PaxosIdentityLinked { paxos_identity_id } => {
                r.paxos_identity_id = Some(paxos_identity_id.clone());
                r.mirror = MirrorState::Mirrored;
            }
            IdentityEvent::MirrorRejected(rejection) => {
                if rejection.operation == "CreateIdentity" {
                    r.mirror = MirrorState::Rejected;
                }
            }
            IdentityEvent::IdentityForgotten { .. } => {
                r.forgotten = true;
            }
            IdentityEvent::IdentityDisabled { .. } => {
                r.status = Status::Disabled;
                r.last_decision = Some("DISABLED".to_owned());
                r.decided_at = Some(at);
            }
        }
        Ok(())
    }
}
