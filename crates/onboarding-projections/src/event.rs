//! Events as projections see them: the stored record and the decoded domain event together.

use onboarding_domain::{event_names, AccountEvent, IdentityEvent, ProfileEvent};
use onboarding_domain::{Account, Identity, Profile};
use onboarding_store::RecordedEvent;

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
        let upcasters = onboarding_store::aggregates::all_upcasters();
        let decode_error = |e: onboarding_store::StoreError| ProjectionError::Decode {
            position: record.position,
            message: e.to_string(),
        };
        let event = match record.aggregate_type.as_str() {
            event_names::IDENTITY => DomainEvent::Identity(
                record
                    .decode::<Identity>(&upcasters)
                    .map_err(decode_error)?,
            ),
            event_names::ACCOUNT => {
                DomainEvent::Account(record.decode::<Account>(&upcasters).map_err(decode_error)?)
            }
            event_names::PROFILE => {
                DomainEvent::Profile(record.decode::<Profile>(&upcasters).map_err(decode_error)?)
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
