//! Submitting a person: required fields, formats, the clock rules, tax details, `cip_id`
//! uniqueness.

use cqrs_es::test::TestFramework;
use onboarding_domain::values::ValueError;
use onboarding_domain::vocab::{CipIdType, IdentityKind, IdentityStatus};
use onboarding_domain::{
    Identity, IdentityCommand, IdentityError, IdentityEvent, IdentityId, Problem,
};
use serde_json::{json, Value};

use crate::support::*;

fn submit(id: IdentityId, draft: &Value) -> IdentityCommand {
    IdentityCommand::Submit {
        id,
        submission: submission(draft),
    }
}

/// Submits `draft` as a new identity with nobody else in the ledger.
async fn submitting(draft: &Value) -> (IdentityId, Result<Vec<IdentityEvent>, IdentityError>) {
    let id = IdentityId::new();
    let result = TestFramework::<Identity>::with(services(FakeDirectory::new()))
        .given_no_previous_events()
        .when_async(submit(id, draft))
        .await
        .inspect_result();
    (id, result)
}

async fn assert_accepted(draft: &Value) {
    let id = IdentityId::new();
    TestFramework::<Identity>::with(services(FakeDirectory::new()))
        .given_no_previous_events()
        .when_async(submit(id, draft))
        .await
        .then_expect_events(vec![IdentityEvent::IdentitySubmitted {
            id,
            submission: submission(draft),
        }]);
}

async fn assert_refused<const N: usize>(draft: &Value, expected: [(&str, Problem); N]) {
    let (_, result) = submitting(draft).await;
    assert_eq!(result, Err(IdentityError::Invalid(violations(expected))));
}

fn parse_errors(draft: &Value) -> onboarding_domain::Violations {
    match parse(draft) {
        Ok(_) => panic!("the draft should be refused"),
        Err(v) => v,
    }
}

#[tokio::test]
async fn a_complete_person_is_submitted_as_pending() {
    let draft = person_draft();
    let (id, result) = submitting(&draft).await;
    let events = result.expect("accepted");
    assert_eq!(
        events,
        vec![IdentityEvent::IdentitySubmitted {
            id,
            submission: submission(&draft),
        }]
    );
    let state: Identity = state_after(events);
    assert_eq!(state.id(), Some(id));
    assert_eq!(state.kind(), Some(IdentityKind::Person));
    assert_eq!(state.status(), Some(IdentityStatus::Pending));
}

#[test]
fn every_required_person_field_is_named_when_missing() {
    let required = [
        ("/person_details/first_name", "person_details.first_name"),
        ("/person_details/last_name", "person_details.last_name"),
        (
            "/person_details/date_of_birth",
            "person_details.date_of_birth",
        ),
        ("/person_details/address", "person_details.address"),
        (
            "/person_details/address/country",
            "person_details.address.country",
        ),
        (
            "/person_details/address/address1",
            "person_details.address.address1",
        ),
        (
            "/person_details/address/city",
            "person_details.address.city",
        ),
        (
            "/person_details/address/province",
            "person_details.address.province",
        ),
        ("/person_details/nationality", "person_details.nationality"),
        ("/person_details/cip_id", "person_details.cip_id"),
        ("/person_details/cip_id_type", "person_details.cip_id_type"),
        (
            "/person_details/cip_id_country",
            "person_details.cip_id_country",
        ),
        (
            "/person_details/verifier_type",
            "person_details.verifier_type",
        ),
        (
            "/person_details/passthrough_verifier_type",
            "person_details.passthrough_verifier_type",
        ),
        (
            "/person_details/passthrough_verified_at",
            "person_details.passthrough_verified_at",
        ),
        (
            "/person_details/passthrough_verification_id",
            "person_details.passthrough_verification_id",
        ),
        (
            "/person_details/passthrough_verification_status",
            "person_details.passthrough_verification_status",
        ),
        (
            "/person_details/passthrough_verification_fields",
            "person_details.passthrough_verification_fields",
        ),
        ("/customer_due_diligence", "customer_due_diligence"),
        (
            "/customer_due_diligence/estimated_yearly_income",
            "customer_due_diligence.estimated_yearly_income",
        ),
        (
            "/customer_due_diligence/expected_transfer_value",
            "customer_due_diligence.expected_transfer_value",
        ),
        (
            "/customer_due_diligence/source_of_wealth",
            "customer_due_diligence.source_of_wealth",
        ),
        (
            "/customer_due_diligence/employment_status",
            "customer_due_diligence.employment_status",
        ),
        (
            "/customer_due_diligence/employment_industry_sector",
            "customer_due_diligence.employment_industry_sector",
        ),
    ];
    for (pointer, field) in required {
        let v = parse_errors(&without(person_draft(), pointer));
        assert_eq!(
            v,
            violations([(field, Problem::Missing)]),
            "removing {pointer}"
        );
        // Blank text counts as missing too.
        if let Some(Value::String(_)) = person_draft().pointer(pointer) {
            let v = parse_errors(&with(person_draft(), pointer, json!("   ")));
            assert_eq!(
                v,
                violations([(field, Problem::Missing)]),
                "blanking {pointer}"
            );
        }
    }
}

#[test]
fn optional_person_fields_may_be_left_out() {
    let mut d = person_draft();
    for pointer in [
        "/person_details/email",
        "/person_details/address/zip_code",
        "/metadata",
        "/ref_id",
    ] {
        remove(&mut d, pointer);
    }
    let s = parse(&d).expect("accepted without optional fields");
    assert!(s.common().metadata.is_empty());
}

#[test]
fn every_problem_of_a_draft_is_reported_at_once() {
    let mut d = person_draft();
    remove(&mut d, "/person_details/first_name");
    set(&mut d, "/person_details/nationality", json!("XX"));
    set(&mut d, "/person_details/date_of_birth", json!("14.03.1987"));
    let v = parse_errors(&d);
    assert!(v.mentions("person_details.first_name"));
    assert!(v.mentions("person_details.nationality"));
    assert!(v.mentions("person_details.date_of_birth"));
    assert_eq!(v.iter().count(), 3);
}

#[test]
fn countries_must_be_iso_alpha_3() {
    for (pointer, field, bad) in [
        (
            "/person_details/nationality",
            "person_details.nationality",
            "US",
        ),
        (
            "/person_details/address/country",
            "person_details.address.country",
            "usa",
        ),
        (
            "/person_details/cip_id_country",
            "person_details.cip_id_country",
            "XXX",
        ),
        (
            "/tax_details/0/tax_payer_country",
            "tax_details[0].tax_payer_country",
            "United States",
        ),
    ] {
        let v = parse_errors(&with(person_draft(), pointer, json!(bad)));
        assert_eq!(
            v,
            violations([(field, Problem::Value(ValueError::NotACountry))]),
            "{field} = {bad}"
        );
    }
}

#[test]
fn alpha_3_countries_other_than_the_usa_are_accepted() {
    let d = with(person_draft(), "/person_details/nationality", json!("DEU"));
    let mut d = d;
    set_or_insert(&mut d["person_details"], "country_of_birth", json!("FRA"));
    let s = parse(&d).expect("accepted");
    match s {
        onboarding_domain::IdentitySubmission::Person(p) => {
            assert_eq!(p.details.nationality.as_str(), "DEU");
            assert_eq!(
                p.details.country_of_birth.map(|c| c.to_string()),
                Some("FRA".to_owned())
            );
        }
        other => panic!("expected a person, got {other:?}"),
    }
}

#[test]
fn ssn_and_itin_must_be_written_xxx_xx_xxxx() {
    for (kind, number) in [
        ("SSN", "531279046"),
        ("SSN", "53-127-9046"),
        ("SSN", "531-27-904"),
        ("SSN", "531-27-904a"),
        ("ITIN", "912-70-12345"),
    ] {
        let d = with(person_draft(), "/person_details/cip_id_type", json!(kind));
        let d = with(d, "/person_details/cip_id", json!(number));
        let kind: CipIdType = kind.parse().unwrap();
        assert_eq!(
            parse_errors(&d),
            violations([(
                "person_details.cip_id",
                Problem::Value(ValueError::BadCipFormat {
                    kind,
                    format: "xxx-xx-xxxx"
                })
            )]),
            "{kind} {number}"
        );
    }
}

#[tokio::test]
async fn a_us_resident_with_a_well_formed_itin_is_accepted() {
    let d = with(person_draft(), "/person_details/cip_id_type", json!("ITIN"));
    let d = with(d, "/person_details/cip_id", json!("912-70-1234"));
    assert_accepted(&d).await;
}

#[test]
fn an_ein_must_be_written_xx_xxxxxxx() {
    let i = Institution::corporation().detail("cip_id", json!("123-45-6789"));
    assert_eq!(
        parse_errors(&i.draft),
        violations([(
            "institution_details.cip_id",
            Problem::Value(ValueError::BadCipFormat {
                kind: CipIdType::Ein,
                format: "xx-xxxxxxx"
            })
        )])
    );
    let i = Institution::corporation().detail("cip_id", json!("98-7654321"));
    assert!(parse(&i.draft).is_ok());
}

#[tokio::test]
async fn a_person_cannot_be_identified_by_an_ein() {
    let d = with(person_draft(), "/person_details/cip_id_type", json!("EIN"));
    let d = with(d, "/person_details/cip_id", json!("12-3456789"));
    assert_refused(
        &d,
        [(
            "person_details.cip_id_type",
            Problem::CipTypeNotAllowed {
                cip_id_type: "EIN".to_owned(),
                kind: IdentityKind::Person,
            },
        )],
    )
    .await;
}

#[tokio::test]
async fn a_person_born_today_is_rejected() {
    let d = with(
        person_draft(),
        "/person_details/date_of_birth",
        json!("2025-06-01"),
    );
    assert_refused(
        &d,
        [("person_details.date_of_birth", Problem::NotInThePast)],
    )
    .await;
}

#[tokio::test]
async fn a_person_born_in_the_future_is_rejected() {
    let d = with(
        person_draft(),
        "/person_details/date_of_birth",
        json!("2031-01-01"),
    );
    assert_refused(
        &d,
        [("person_details.date_of_birth", Problem::NotInThePast)],
    )
    .await;
}

#[tokio::test]
async fn a_person_born_yesterday_is_accepted() {
    let d = with(
        person_draft(),
        "/person_details/date_of_birth",
        json!("2025-05-31"),
    );
    assert_accepted(&d).await;
}

#[test]
fn a_date_of_birth_must_be_a_calendar_date() {
    for bad in ["14/03/1987", "1987-02-30", "1987-03-14T00:00:00Z"] {
        let d = with(person_draft(), "/person_details/date_of_birth", json!(bad));
        assert_eq!(
            parse_errors(&d),
            violations([(
                "person_details.date_of_birth",
                Problem::Value(ValueError::NotADate)
            )]),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn a_verification_in_the_future_is_rejected() {
    let d = with(
        person_draft(),
        "/person_details/passthrough_verified_at",
        json!("2025-06-01T12:00:01Z"),
    );
    assert_refused(
        &d,
        [(
            "person_details.passthrough_verified_at",
            Problem::InTheFuture,
        )],
    )
    .await;
}

#[tokio::test]
async fn a_verification_made_this_very_instant_is_accepted() {
    // 14:00 in UTC+2 is exactly the fixed clock's 12:00Z.
    let d = with(
        person_draft(),
        "/person_details/passthrough_verified_at",
        json!("2025-06-01T14:00:00+02:00"),
    );
    assert_accepted(&d).await;
}

#[test]
fn a_verification_time_must_be_rfc_3339() {
    let d = with(
        person_draft(),
        "/person_details/passthrough_verified_at",
        json!("2025-05-30 10:00"),
    );
    assert_eq!(
        parse_errors(&d),
        violations([(
            "person_details.passthrough_verified_at",
            Problem::Value(ValueError::NotATimestamp)
        )])
    );
}

#[test]
fn identity_verification_must_be_passthrough() {
    let d = with(
        person_draft(),
        "/person_details/verifier_type",
        json!("PAXOS"),
    );
    let v = parse_errors(&d);
    assert!(matches!(
        problems_at(&v, "person_details.verifier_type").as_slice(),
        [Problem::Shape(_)]
    ));
    assert_eq!(v.iter().count(), 1);
}

#[test]
fn the_verification_status_and_fields_come_from_their_vocabularies() {
    let d = with(
        person_draft(),
        "/person_details/passthrough_verification_status",
        json!("PENDING"),
    );
    let d = with(
        d,
        "/person_details/passthrough_verification_fields",
        json!(["FULL_LEGAL_NAME", "SHOE_SIZE"]),
    );
    let v = parse_errors(&d);
    assert!(matches!(
        problems_at(&v, "person_details.passthrough_verification_status").as_slice(),
        [Problem::Vocabulary(_)]
    ));
    assert!(matches!(
        problems_at(&v, "person_details.passthrough_verification_fields[1]").as_slice(),
        [Problem::Vocabulary(_)]
    ));
    assert_eq!(v.iter().count(), 2);
}

#[test]
fn the_verified_fields_must_not_be_empty() {
    let d = with(
        person_draft(),
        "/person_details/passthrough_verification_fields",
        json!([]),
    );
    assert_eq!(
        parse_errors(&d),
        violations([(
            "person_details.passthrough_verification_fields",
            Problem::Empty
        )])
    );
}

#[test]
fn an_email_must_look_like_an_email_address() {
    let d = with(
        person_draft(),
        "/person_details/email",
        json!("philippa at home"),
    );
    let v = parse_errors(&d);
    assert!(matches!(
        problems_at(&v, "person_details.email").as_slice(),
        [Problem::Shape(_)]
    ));
}

#[test]
fn names_may_only_use_the_paxos_character_set() {
    let d = with(
        person_draft(),
        "/person_details/first_name",
        json!("Phil<ippa>"),
    );
    assert_eq!(
        parse_errors(&d),
        violations([(
            "person_details.first_name",
            Problem::Value(ValueError::BadCharacters)
        )])
    );
    let d = with(
        person_draft(),
        "/person_details/last_name",
        json!("O'Brien-Smith"),
    );
    assert!(parse(&d).is_ok());
}

#[tokio::test]
async fn a_us_resident_needs_an_ssn_or_itin() {
    let d = with(
        person_draft(),
        "/person_details/cip_id_type",
        json!("PASSPORT"),
    );
    let d = with(d, "/person_details/cip_id", json!("X1234567"));
    assert_refused(
        &d,
        [(
            "person_details.cip_id_type",
            Problem::UsResidentNeedsSsnOrItin,
        )],
    )
    .await;
}

#[tokio::test]
async fn a_resident_elsewhere_may_use_a_passport() {
    let d = with(
        person_draft(),
        "/person_details/cip_id_type",
        json!("PASSPORT"),
    );
    let d = with(d, "/person_details/cip_id", json!("C01X00T47"));
    let d = with(d, "/person_details/cip_id_country", json!("DEU"));
    let d = with(d, "/person_details/address/country", json!("DEU"));
    let d = with(d, "/person_details/nationality", json!("DEU"));
    assert_accepted(&d).await;
}

#[tokio::test]
async fn tax_details_are_required_unless_declared_not_required() {
    let d = without(person_draft(), "/tax_details");
    assert_refused(&d, [("tax_details", Problem::Missing)]).await;
    let d = with(person_draft(), "/tax_details", json!([]));
    assert_refused(&d, [("tax_details", Problem::Missing)]).await;
}

#[tokio::test]
async fn tax_details_may_be_left_out_when_declared_not_required() {
    let mut d = without(person_draft(), "/tax_details");
    set_or_insert(&mut d, "tax_details_not_required", json!(true));
    assert_accepted(&d).await;
}

#[test]
fn each_tax_detail_needs_a_payer_id_and_country() {
    let d = with(
        person_draft(),
        "/tax_details",
        json!([{"tax_payer_id": SSN, "tax_payer_country": "USA"}, {"tax_payer_country": "USA"}]),
    );
    assert_eq!(
        parse_errors(&d),
        violations([("tax_details[1].tax_payer_id", Problem::Missing)])
    );
}

#[tokio::test]
async fn a_cip_id_already_held_names_the_identity_holding_it() {
    let cips = MemoryCips::new();
    let first = IdentityId::new();
    let second = IdentityId::new();
    let draft = person_draft();
    TestFramework::<Identity>::with(services_with(FakeDirectory::new(), cips.clone()))
        .given_no_previous_events()
        .when_async(submit(first, &draft))
        .await
        .then_expect_events(vec![IdentityEvent::IdentitySubmitted {
            id: first,
            submission: submission(&draft),
        }]);
    TestFramework::<Identity>::with(services_with(FakeDirectory::new(), cips.clone()))
        .given_no_previous_events()
        .when_async(submit(second, &draft))
        .await
        .then_expect_error(IdentityError::CipIdTaken { existing: first });
    assert_eq!(
        cips.holder(
            &submission(&draft)
                .cip_key()
                .expect("personal data in clear")
        ),
        Some(first)
    );
}

#[tokio::test]
async fn the_same_number_under_another_document_type_is_another_cip_id() {
    let cips = MemoryCips::new();
    let ssn = person_draft();
    let itin = with(person_draft(), "/person_details/cip_id_type", json!("ITIN"));
    for draft in [&ssn, &itin] {
        let id = IdentityId::new();
        TestFramework::<Identity>::with(services_with(FakeDirectory::new(), cips.clone()))
            .given_no_previous_events()
            .when_async(submit(id, draft))
            .await
            .then_expect_events(vec![IdentityEvent::IdentitySubmitted {
                id,
                submission: submission(draft),
            }]);
    }
    assert_eq!(cips.len(), 2);
}

#[tokio::test]
async fn retrying_a_submission_under_the_same_id_keeps_its_cip_claim() {
    // The first attempt claimed the cip_id but its events were never stored (e.g. a concurrency
    // conflict); the retry runs on a fresh aggregate and must not be refused by its own claim.
    let cips = MemoryCips::new();
    let id = IdentityId::new();
    let draft = person_draft();
    for _ in 0..2 {
        TestFramework::<Identity>::with(services_with(FakeDirectory::new(), cips.clone()))
            .given_no_previous_events()
            .when_async(submit(id, &draft))
            .await
            .then_expect_events(vec![IdentityEvent::IdentitySubmitted {
                id,
                submission: submission(&draft),
            }]);
    }
}

#[tokio::test]
async fn a_refused_submission_never_holds_a_cip_id() {
    let cips = MemoryCips::new();
    let refused = with(
        person_draft(),
        "/person_details/date_of_birth",
        json!("2025-06-01"),
    );
    let result = TestFramework::<Identity>::with(services_with(FakeDirectory::new(), cips.clone()))
        .given_no_previous_events()
        .when_async(submit(IdentityId::new(), &refused))
        .await
        .inspect_result();
    assert!(matches!(result, Err(IdentityError::Invalid(_))));
    assert_eq!(cips.len(), 0);

    let later = IdentityId::new();
    let draft = person_draft();
    TestFramework::<Identity>::with(services_with(FakeDirectory::new(), cips.clone()))
        .given_no_previous_events()
        .when_async(submit(later, &draft))
        .await
        .then_expect_events(vec![IdentityEvent::IdentitySubmitted {
            id: later,
            submission: submission(&draft),
        }]);
}

#[tokio::test]
async fn an_identity_is_submitted_only_once() {
    let id = IdentityId::new();
    let draft = person_draft();
    TestFramework::<Identity>::with(services(FakeDirectory::new()))
        .given(vec![IdentityEvent::IdentitySubmitted {
            id,
            submission: submission(&draft),
        }])
        .when_async(submit(id, &other_person_draft("111-22-3333")))
        .await
        .then_expect_error(IdentityError::AlreadySubmitted);
}

#[tokio::test]
async fn two_identities_racing_for_one_cip_id_get_it_once() {
    let cips = MemoryCips::new();
    let (a, b) = (IdentityId::new(), IdentityId::new());
    let draft = person_draft();
    let attempt = |id| {
        TestFramework::<Identity>::with(services_with(FakeDirectory::new(), cips.clone()))
            .given_no_previous_events()
            .when_async(submit(id, &draft))
    };
    let (ra, rb) = tokio::join!(attempt(a), attempt(b));
    let (ra, rb) = (ra.inspect_result(), rb.inspect_result());
    let winner = cips
        .holder(
            &submission(&draft)
                .cip_key()
                .expect("personal data in clear"),
        )
        .expect("claimed");
    let (won, lost, loser) = if winner == a {
        (ra, rb, b)
    } else {
        (rb, ra, a)
    };
    assert!(won.is_ok(), "{won:?}");
    assert_eq!(
        lost,
        Err(IdentityError::CipIdTaken { existing: winner }),
        "{loser}"
    );
}

#[tokio::test]
async fn a_submission_deserialized_by_a_caller_is_checked_like_a_parsed_one() {
    let json = serde_json::to_string(&submission(&person_draft())).unwrap();
    assert!(json.contains(SSN));
    // Valid text, but not the SSN format: it would fingerprint apart from the same number
    // written with its dashes.
    let undashed: Box<onboarding_domain::IdentitySubmission> =
        serde_json::from_str(&json.replace(SSN, &SSN.replace('-', ""))).unwrap();
    let result = TestFramework::<Identity>::with(services(FakeDirectory::new()))
        .given_no_previous_events()
        .when_async(IdentityCommand::Submit {
            id: IdentityId::new(),
            submission: undashed,
        })
        .await
        .inspect_result();
    assert_eq!(
        result,
        Err(IdentityError::Invalid(violations([(
            "person_details.cip_id",
            Problem::Value(ValueError::BadCipFormat {
                kind: CipIdType::Ssn,
                format: "xxx-xx-xxxx",
            }),
        )])))
    );

    // Text that no field accepts does not deserialize at all.
    for bad in [format!(" {SSN}"), "531-27-9046\\u0007".to_owned()] {
        let tampered = json.replace(SSN, &bad);
        assert!(
            serde_json::from_str::<onboarding_domain::IdentitySubmission>(&tampered).is_err(),
            "{bad:?} was accepted"
        );
    }
    let name = json.replace("\"Quarrington\"", "\"Quar\\u0000rington\"");
    assert_ne!(name, json, "the draft's last name is Quarrington");
    assert!(serde_json::from_str::<onboarding_domain::IdentitySubmission>(&name).is_err());
}
