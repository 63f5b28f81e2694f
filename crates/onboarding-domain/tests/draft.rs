//! Reading a draft: the JSON shape, and which kind of identity it describes.

use onboarding_domain::{IdentityDraft, IdentitySubmission, Problem};
use serde_json::json;

use crate::support::*;

fn shape_error_at(text: &str) -> String {
    let v = IdentityDraft::from_json(text).expect_err("the JSON should be refused");
    let all: Vec<_> = v.iter().collect();
    assert_eq!(all.len(), 1, "{v}");
    assert!(matches!(all[0].problem, Problem::Shape(_)), "{v}");
    all[0].field.clone()
}

#[test]
fn a_value_of_the_wrong_json_type_is_named_by_its_path() {
    let mut d = person_draft();
    set(&mut d, "/person_details/address", json!("one string"));
    assert_eq!(shape_error_at(&d.to_string()), "person_details.address");

    let mut d = person_draft();
    set_or_insert(&mut d, "tax_details_not_required", json!("yes"));
    assert_eq!(shape_error_at(&d.to_string()), "tax_details_not_required");

    let mut d = person_draft();
    set(&mut d, "/tax_details/0/tax_payer_id", json!(123456789));
    assert_eq!(
        shape_error_at(&d.to_string()),
        "tax_details[0].tax_payer_id"
    );
}

#[test]
fn text_that_is_not_json_is_reported_at_the_root() {
    assert_eq!(shape_error_at("{\"person_details\": {"), "$");
    assert_eq!(shape_error_at("\"a person\""), "$");
}

#[test]
fn a_draft_names_a_person_or_an_institution() {
    assert_eq!(
        parse(&json!({})).unwrap_err(),
        violations([("person_details", Problem::Missing)])
    );
}

#[test]
fn a_draft_cannot_be_both_a_person_and_an_institution() {
    let mut d = person_draft();
    set_or_insert(
        &mut d,
        "institution_details",
        Institution::corporation().draft["institution_details"].clone(),
    );
    assert_eq!(
        parse(&d).unwrap_err(),
        violations([("institution_details", Problem::NotAllowed)])
    );
}

#[test]
fn a_person_has_no_institution_members() {
    let i = Institution::corporation();
    let mut d = person_draft();
    set_or_insert(
        &mut d,
        "institution_members",
        i.draft["institution_members"].clone(),
    );
    assert_eq!(
        parse(&d).unwrap_err(),
        violations([("institution_members", Problem::NotAllowed)])
    );
    // An empty list says nothing and is tolerated.
    let mut d = person_draft();
    set_or_insert(&mut d, "institution_members", json!([]));
    assert!(parse(&d).is_ok());
}

#[test]
fn unknown_fields_are_ignored() {
    let mut d = person_draft();
    set_or_insert(&mut d, "is_it_tuesday", json!(true));
    assert!(matches!(parse(&d), Ok(IdentitySubmission::Person(_))));
}

#[test]
fn metadata_and_flags_are_kept() {
    let mut d = person_draft();
    set_or_insert(&mut d, "is_merchant", json!(true));
    let s = parse(&d).expect("accepted");
    assert!(s.common().is_merchant);
    assert!(!s.common().tax_details_not_required);
    assert_eq!(
        s.common().metadata.get("channel").map(String::as_str),
        Some("web")
    );
}
