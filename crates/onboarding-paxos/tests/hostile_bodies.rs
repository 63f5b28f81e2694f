//! Webhook deliveries and fetched events are attacker-reachable input (a webhook endpoint is
//! public): whatever arrives is parsed into a value or refused, never a panic, and a decision is
//! only ever taken from a well-formed identity event.

use onboarding_paxos::mapping;
use onboarding_paxos::model::{Event, WebhookDelivery};
use proptest::prelude::*;
use serde_json::{json, Value};

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,30}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 20, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("id".to_owned()),
                    Just("type".to_owned()),
                    Just("object".to_owned()),
                    Just("created_at".to_owned()),
                    Just("identity_id".to_owned()),
                    Just("required_documents".to_owned()),
                    "[a-z_]{1,10}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_webhook_bodies_parse_or_are_refused(text in ".{0,300}", doc in any_json()) {
        let _ = serde_json::from_str::<WebhookDelivery>(&text);
        if let Ok(d) = serde_json::from_value::<WebhookDelivery>(doc) {
            prop_assert!(d.id.len() <= 10_000);
        }
    }

    #[test]
    fn only_identity_events_yield_decisions(doc in any_json(), kind in prop_oneof![
        Just("identity.approved".to_owned()), Just("identity.denied".to_owned()),
        Just("identity.disabled".to_owned()), Just("identity.documents_required".to_owned()),
        Just("identity.kyc_refresh.started".to_owned()), Just("order.filled".to_owned()),
        "[a-z._]{0,20}"
    ]) {
        let mut event = json!({"id": "e1", "type": kind, "created_at": "2026-01-01T00:00:00Z"});
        event["object"] = doc;
        if let Ok(event) = serde_json::from_value::<Event>(event) {
            let decided = mapping::decision(&event);
            let is_decision_type = matches!(
                kind.as_str(),
                "identity.approved" | "identity.denied" | "identity.disabled" | "identity.documents_required"
            );
            prop_assert_eq!(decided.is_some(), is_decision_type);
        }
    }
}
