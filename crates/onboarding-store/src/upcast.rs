//! Upcasters: old event versions are rewritten into the current shape as they are loaded, never
//! in the database. Add one whenever an event's payload changes shape, and bump the event's
//! version in `onboarding_domain::event_names`.

use cqrs_es::persist::{EventUpcaster, SemanticVersionEventUpcaster};
use onboarding_domain::event_names;
use serde_json::Value;

/// Identity upcasters.
///
/// `DecisionRecorded` 0.9 (the pre-release shape) carried the decision as a bare string and no
/// `from` status: `{"DecisionRecorded": {"decision": "APPROVED", "source": .., "status": ..}}`.
/// It becomes 1.0 with the tagged decision and `from` unknown-as-`PENDING` (the only status
/// 0.9 decisions were ever recorded from).
pub fn identity() -> Vec<Box<dyn EventUpcaster>> {
    vec![Box::new(SemanticVersionEventUpcaster::new(
        event_names::DECISION_RECORDED,
        event_names::IDENTITY_EVENT_VERSION,
        Box::new(decision_recorded_0_9_to_1_0),
    ))]
}

/// Account upcasters (none yet).
pub fn account() -> Vec<Box<dyn EventUpcaster>> {
    Vec::new()
}

/// Profile upcasters (none yet).
pub fn profile() -> Vec<Box<dyn EventUpcaster>> {
    Vec::new()
}

fn decision_recorded_0_9_to_1_0(mut payload: Value) -> Value {
    if let Some(body) = payload
        .get_mut(event_names::DECISION_RECORDED)
        .and_then(Value::as_object_mut)
    {
        if let Some(Value::String(name)) = body.get("decision").cloned() {
            body.insert(
                "decision".to_owned(),
                serde_json::json!({ "decision": name }),
            );
        }
        if let Some(status) = body.remove("status") {
            body.insert("to".to_owned(), status);
        }
        body.entry("from")
            .or_insert(Value::String("PENDING".to_owned()));
        body.entry("reason").or_insert(Value::Null);
    }
    payload
}

#[cfg(test)]
mod tests {
    use cqrs_es::persist::SerializedEvent;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::*;

    fn old_event(payload: Value) -> SerializedEvent {
        SerializedEvent {
            aggregate_id: "a".into(),
            sequence: 2,
            aggregate_type: event_names::IDENTITY.into(),
            event_type: event_names::DECISION_RECORDED.into(),
            event_version: "0.9".into(),
            payload,
            metadata: Value::Null,
        }
    }

    #[test]
    fn a_0_9_decision_becomes_a_1_0_decision() {
        let upcasters = identity();
        let old = old_event(json!({"DecisionRecorded": {"decision": "APPROVED",
            "source": {"source": "compliance_officer", "officer": "x"}, "status": "APPROVED"}}));
        assert!(upcasters[0].can_upcast(&old.event_type, &old.event_version));
        let new = upcasters[0].upcast(old);
        let event: onboarding_domain::IdentityEvent = serde_json::from_value(new.payload).unwrap();
        assert!(matches!(
            event,
            onboarding_domain::IdentityEvent::DecisionRecorded {
                from: onboarding_domain::vocab::IdentityStatus::Pending,
                to: onboarding_domain::vocab::IdentityStatus::Approved,
                ..
            }
        ));
        assert!(!upcasters[0].can_upcast(event_names::DECISION_RECORDED, "1.0"));
    }

    proptest! {
        #[test]
        fn upcasting_any_payload_never_panics(s in ".{0,60}", n in any::<i64>()) {
            for payload in [json!(s), json!(n), json!({"DecisionRecorded": s}), json!({"DecisionRecorded": {"decision": n}}), Value::Null] {
                let _ = identity()[0].upcast(old_event(payload));
            }
        }
    }
}
