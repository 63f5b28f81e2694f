//! Events as projections see them: the stored record and the decoded domain event together.

use cqrs_es::persist::EventUpcaster;
use cqrs_es::Aggregate;
use onboarding_domain::{event_names, AccountEvent, IdentityEvent, ProfileEvent};
use onboarding_domain::{Account, Identity, Profile};
use onboarding_store::{RecordedEvent, StoreError};
use serde::Deserialize;

use crate::error::ProjectionError;

/// A decoded domain event.
#[derive(Debug, Clone, PartialEq)]
pub enum DomainEvent {
    /// An identity event.
    Identity(IdentityEvent),
    /// An account event.
    Account(AccountEvent),
    /// A profile event.
    Profile(ProfileEvent),
    /// An event of an aggregate type this ledger does not define (another writer shares the log).
    Other,
}

/// One event of the log, ready to project.
#[derive(Debug, Clone)]
pub struct ProjectedEvent {
    /// The stored record: position, time, aggregate, sequence, metadata.
    pub record: RecordedEvent,
    /// The domain event, upcast to the current version.
    pub event: DomainEvent,
}

impl ProjectedEvent {
    /// Decodes a stored record (after upcasting).
    pub fn decode(record: RecordedEvent) -> Result<Self, ProjectionError> {
        Self::decode_with(record, &onboarding_store::aggregates::all_upcasters())
    }

    /// Decodes a stored record with upcasters built once for a whole batch. A payload that no
    /// upcaster touches is deserialized in place, without the copy upcasting needs.
    pub(crate) fn decode_with(
        record: RecordedEvent,
        upcasters: &[Box<dyn EventUpcaster>],
    ) -> Result<Self, ProjectionError> {
        let event = match record.aggregate_type.as_str() {
            event_names::IDENTITY => {
                DomainEvent::Identity(decode_payload::<Identity>(&record, upcasters)?)
            }
            event_names::ACCOUNT => {
                DomainEvent::Account(decode_payload::<Account>(&record, upcasters)?)
            }
            event_names::PROFILE => {
                DomainEvent::Profile(decode_payload::<Profile>(&record, upcasters)?)
            }
            _ => DomainEvent::Other,
        };
        Ok(Self { record, event })
    }

    /// The log position.
    pub fn position(&self) -> i64 {
        self.record.position
    }

    /// What happened, in one line, without personal data.
    pub fn summary(&self) -> String {
        match &self.event {
            DomainEvent::Identity(e) => e.summary(),
            DomainEvent::Account(e) => e.summary(),
            DomainEvent::Profile(e) => e.summary(),
            DomainEvent::Other => self.record.event_type.clone(),
        }
    }

    /// The aggregate id.
    pub fn aggregate_id(&self) -> &str {
        &self.record.aggregate_id
    }
}

/// The domain event of `record`, as [`RecordedEvent::decode`] would give it, with the same
/// error, but reading the payload in place when no upcaster applies.
fn decode_payload<A: Aggregate>(
    record: &RecordedEvent,
    upcasters: &[Box<dyn EventUpcaster>],
) -> Result<A::Event, ProjectionError> {
    let fail = |e: StoreError| ProjectionError::Decode {
        position: record.position,
        message: e.to_string(),
    };
    if upcasters
        .iter()
        .any(|u| u.can_upcast(&record.event_type, &record.event_version))
    {
        return record.decode::<A>(upcasters).map_err(fail);
    }
    A::Event::deserialize(&record.payload).map_err(|e| {
        fail(StoreError::Corrupt(format!(
            "{} {} #{}: {}",
            record.aggregate_type,
            record.aggregate_id,
            record.sequence,
            // serde's message can quote payload text; keep only its kind.
            match e.classify() {
                serde_json::error::Category::Data => "payload does not match the event schema",
                _ => "payload is not valid JSON",
            }
        )))
    })
}
