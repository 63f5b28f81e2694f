//! Hostile input: whatever arrives, parsing answers with a value or a typed error naming a
//! field, never a panic.

use onboarding_domain::{AccountEvent, Amount, IdentityDraft, IdentityEvent, ProfileEvent};
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::support::person_draft;

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The JSON pointers of every leaf of a document.
fn leaves(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(o) => o
            .iter()
            .for_each(|(k, v)| leaves(v, format!("{at}/{k}"), out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| leaves(v, format!("{at}/{i}"), out)),
        _ => out.push(at),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_text_never_panics_the_identity_parser(text in ".{0,400}") {
        if let Err(v) = IdentityDraft::from_json(&text).and_then(IdentityDraft::parse) {
            prop_assert!(!v.is_empty());
        }
    }

    #[test]
    fn arbitrary_json_is_answered_with_named_fields(doc in any_json()) {
        match IdentityDraft::from_json(&doc.to_string()).and_then(IdentityDraft::parse) {
            Ok(_) => prop_assert!(false, "an arbitrary document cannot be a valid identity"),
            Err(v) => prop_assert!(v.iter().all(|x| !x.field.is_empty())),
        }
    }

    #[test]
    fn replacing_any_field_of_a_valid_person_is_refused_or_accepted_never_panics(
        pick in any::<prop::sample::Index>(),
        replacement in any_json(),
    ) {
        let mut draft = person_draft();
        let mut paths = Vec::new();
        leaves(&draft, String::new(), &mut paths);
        let path = pick.get(&paths).clone();
        if let Some(slot) = draft.pointer_mut(&path) {
            *slot = replacement;
        }
        if let Err(v) = IdentityDraft::from_json(&draft.to_string()).and_then(IdentityDraft::parse) {
            prop_assert!(!v.is_empty());
            prop_assert!(v.iter().all(|x| !x.field.is_empty()));
        }
    }

    #[test]
    fn amounts_parse_only_from_plain_non_negative_decimals(text in "[-+0-9.eE,_ ]{0,30}") {
        if let Ok(a) = text.parse::<Amount>() {
            prop_assert!(!a.value().is_sign_negative() || a.is_zero());
            prop_assert!(!text.contains(['e', 'E', ',', '_', '+']));
            prop_assert_eq!(a.to_string().parse::<Amount>(), Ok(a));
        }
    }

    #[test]
    fn arbitrary_event_payloads_decode_or_fail_cleanly(payload in any_json()) {
        // The store's decode goes through serde; a hostile or corrupt payload must be an error.
        let _ = serde_json::from_value::<IdentityEvent>(payload.clone());
        let _ = serde_json::from_value::<AccountEvent>(payload.clone());
        let _ = serde_json::from_value::<ProfileEvent>(payload);
    }
}
