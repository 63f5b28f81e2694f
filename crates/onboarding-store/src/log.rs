//! The global, ordered log: every committed event with its position and commit time.
//!
//! Positions are assigned in commit order and start at 1. A reader that has seen everything up
//! to position `p` asks for events after `p` and gets them in order, in bounded batches.

use chrono::{DateTime, Utc};
use cqrs_es::persist::SerializedEvent;
use serde::Serialize;

use crate::metadata::EventMetadata;

/// A committed event as the log holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedEvent {
    /// Place in the global order (1-based, gap-free in commit order).
    pub position: i64,
    /// When it was committed.
    pub recorded_at: DateTime<Utc>,
    /// The aggregate type, e.g. `identity`.
    pub aggregate_type: String,
    /// The aggregate id.
    pub aggregate_id: String,
    /// Place in its aggregate's stream (1-based).
    pub sequence: i64,
    /// The event type, e.g. `IdentitySubmitted`.
    pub event_type: String,
    /// The payload's schema version.
    pub event_version: String,
    /// The payload (may hold personal data: never log it).
    #[serde(skip)]
    pub payload: serde_json::Value,
    /// Who, why, because of what.
    pub metadata: EventMetadata,
    /// The event's hash in its stream's chain, hex (PostgreSQL only; the embedded store keeps
    /// no chain).
    pub hash: Option<String>,
}

impl RecordedEvent {
    /// The event as `cqrs-es` serializes it, for deserializing into a domain event (after
    /// upcasting).
    pub fn to_serialized(&self) -> SerializedEvent {
        SerializedEvent {
            aggregate_id: self.aggregate_id.clone(),
            sequence: usize::try_from(self.sequence).unwrap_or_default(),
            aggregate_type: self.aggregate_type.clone(),
            event_type: self.event_type.clone(),
            event_version: self.event_version.clone(),
            payload: self.payload.clone(),
            metadata: serde_json::Value::Null,
        }
    }
}

impl RecordedEvent {
    /// The domain event inside, after passing the stored payload through `upcasters`.
    pub fn decode<A: cqrs_es::Aggregate>(
        &self,
        upcasters: &[Box<dyn cqrs_es::persist::EventUpcaster>],
    ) -> Result<A::Event, crate::StoreError> {
        let mut event = self.to_serialized();
        for upcaster in upcasters {
            if upcaster.can_upcast(&event.event_type, &event.event_version) {
                event = upcaster.upcast(event);
            }
        }
        serde_json::from_value(event.payload).map_err(|e| {
            crate::StoreError::Corrupt(format!(
                "{} {} #{}: {}",
                self.aggregate_type,
                self.aggregate_id,
                self.sequence,
                // serde's message can quote payload text; keep only its position.
                match e.classify() {
                    serde_json::error::Category::Data => "payload does not match the event schema",
                    _ => "payload is not valid JSON",
                }
            ))
        })
    }

    /// A one-line summary without personal data (the event type when the payload is unreadable).
    pub fn summary(&self) -> String {
        use onboarding_domain::{event_names, Account, Identity, Profile};
        let upcasters = crate::aggregates::all_upcasters();
        let summary = match self.aggregate_type.as_str() {
            event_names::IDENTITY => self.decode::<Identity>(&upcasters).map(|e| e.summary()),
            event_names::ACCOUNT => self.decode::<Account>(&upcasters).map(|e| e.summary()),
            event_names::PROFILE => self.decode::<Profile>(&upcasters).map(|e| e.summary()),
            _ => return self.event_type.clone(),
        };
        summary.unwrap_or_else(|_| format!("{} (unreadable payload)", self.event_type))
    }
}
