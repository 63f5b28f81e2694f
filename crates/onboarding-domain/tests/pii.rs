//! Personal data never appears in `Debug` or `Display` output.

use cqrs_es::test::TestFramework;
use onboarding_domain::{
    Identity, IdentityCommand, IdentityDraft, IdentityError, IdentityEvent, IdentityId,
};
use serde_json::json;

use crate::support::*;

const PERSON_PII: [&str; 8] = [
    FIRST_NAME,
    LAST_NAME,
    DATE_OF_BIRTH,
    SSN,
    STREET,
    CITY,
    "philippa@example.com",
    "62565",
];

fn assert_no_pii(what: &str, text: &str, pii: &[&str]) {
    for value in pii {
        assert!(
            !text.contains(value),
            "{what} shows personal data {value:?}: {text}"
        );
    }
}

#[test]
fn the_personal_data_is_in_the_submission() {
    // The control for the tests below: the values are really there to leak.
    let stored = serde_json::to_string(&submission(&person_draft())).unwrap();
    for value in PERSON_PII {
        assert!(stored.contains(value), "{value} is not stored");
    }
}

#[test]
fn debug_of_a_person_submission_shows_no_personal_data() {
    let s = submission(&person_draft());
    let id = IdentityId::new();
    assert_no_pii("the submission", &format!("{s:?}"), &PERSON_PII);
    assert_no_pii("the submission", &format!("{s:#?}"), &PERSON_PII);
    let command = IdentityCommand::Submit {
        id,
        submission: s.clone(),
    };
    assert_no_pii("the command", &format!("{command:?}"), &PERSON_PII);
    let event = IdentityEvent::IdentitySubmitted { id, submission: s };
    assert_no_pii("the event", &format!("{event:?}"), &PERSON_PII);
}

#[test]
fn debug_of_a_draft_shows_no_personal_data() {
    let draft = IdentityDraft::from_json(&person_draft().to_string()).unwrap();
    assert_no_pii("the draft", &format!("{draft:?}"), &PERSON_PII);
}

#[test]
fn debug_of_an_institution_submission_shows_no_identifying_data() {
    let i = Institution::corporation();
    let s = submission(&i.draft);
    let text = format!("{s:?}");
    assert_no_pii(
        "the institution",
        &text,
        &[
            "Northwind",
            "1 Industrial Way",
            "Wilmington",
            "12-3456789",
            "widgets",
        ],
    );
    // Member ids are not personal data and do show, so the output is not just empty.
    assert!(text.contains(&i.owner.to_string()));
}

#[test]
fn violations_never_echo_the_rejected_values() {
    let mut d = person_draft();
    set(
        &mut d,
        "/person_details/first_name",
        json!(format!("{FIRST_NAME}<>")),
    );
    set(
        &mut d,
        "/person_details/last_name",
        json!(LAST_NAME.repeat(20)),
    );
    set(&mut d, "/person_details/nationality", json!(FIRST_NAME));
    set(
        &mut d,
        "/person_details/date_of_birth",
        json!(format!("{DATE_OF_BIRTH}T00:00:00Z")),
    );
    set(&mut d, "/person_details/cip_id", json!(format!("{SSN}1")));
    set(&mut d, "/person_details/address/country", json!(STREET));
    set(
        &mut d,
        "/person_details/address/province",
        json!(format!("{CITY}|")),
    );
    set(
        &mut d,
        "/person_details/email",
        json!(format!("{FIRST_NAME} {LAST_NAME}")),
    );
    set(&mut d, "/person_details/cip_id_country", json!(CITY));
    set(
        &mut d,
        "/customer_due_diligence/employment_status",
        json!(LAST_NAME),
    );
    let v = parse(&d).expect_err("refused");
    assert_eq!(v.iter().count(), 10, "{v}");
    assert_no_pii("the violations", &v.to_string(), &PERSON_PII);
    assert_no_pii("the violations", &format!("{v:?}"), &PERSON_PII);
    let error = IdentityError::Invalid(v);
    assert_no_pii("the error", &error.to_string(), &PERSON_PII);
    assert_no_pii("the error", &format!("{error:?}"), &PERSON_PII);
}

#[test]
fn json_errors_never_echo_the_input() {
    let mut d = person_draft();
    set(&mut d, "/person_details/address", json!(STREET));
    let v = IdentityDraft::from_json(&d.to_string()).expect_err("refused");
    assert_no_pii("a type error", &v.to_string(), &PERSON_PII);

    let broken = format!("{{\"person_details\": {{\"first_name\": \"{FIRST_NAME}\" \"{SSN}\"");
    let v = IdentityDraft::from_json(&broken).expect_err("refused");
    assert_no_pii("a syntax error", &v.to_string(), &PERSON_PII);
    assert_no_pii("a syntax error", &format!("{v:?}"), &PERSON_PII);
}

#[tokio::test]
async fn rule_errors_never_echo_the_person() {
    let born_today = "2025-06-01";
    let d = with(
        person_draft(),
        "/person_details/date_of_birth",
        json!(born_today),
    );
    let result = TestFramework::<Identity>::with(services(FakeDirectory::new()))
        .given_no_previous_events()
        .when_async(IdentityCommand::Submit {
            id: IdentityId::new(),
            submission: submission(&d),
        })
        .await
        .inspect_result();
    let error = result.expect_err("refused");
    let mut pii = PERSON_PII.to_vec();
    pii.push(born_today);
    assert_no_pii("the refusal", &error.to_string(), &pii);
    assert_no_pii("the refusal", &format!("{error:?}"), &pii);

    let taken = IdentityError::CipIdTaken {
        existing: IdentityId::new(),
    };
    assert_no_pii("a duplicate", &taken.to_string(), &PERSON_PII);
}
