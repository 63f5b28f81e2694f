//! Submitting an institution: type-specific fields, due diligence, members and their roles.

use cqrs_es::test::TestFramework;
use onboarding_domain::money::Percentage;
use onboarding_domain::values::ValueError;
use onboarding_domain::vocab::{IdentityKind, IdentityStatus, MemberRole};
use onboarding_domain::{
    Identity, IdentityCommand, IdentityError, IdentityEvent, IdentityId, Problem,
};
use rust_decimal_macros::dec;
use serde_json::{json, Value};

use crate::support::*;

async fn submit_as(
    id: IdentityId,
    draft: &Value,
    directory: FakeDirectory,
) -> Result<Vec<IdentityEvent>, IdentityError> {
    TestFramework::<Identity>::with(services(directory))
        .given_no_previous_events()
        .when_async(IdentityCommand::Submit {
            id,
            submission: submission(draft),
        })
        .await
        .inspect_result()
}

/// Submits the institution with its members approved in the directory.
async fn assert_accepted(i: &Institution) {
    let id = IdentityId::new();
    let events = submit_as(id, &i.draft, i.directory())
        .await
        .unwrap_or_else(|e| panic!("expected acceptance, got {e}"));
    assert_eq!(
        events,
        vec![IdentityEvent::IdentitySubmitted {
            id,
            submission: submission(&i.draft),
        }]
    );
}

async fn assert_refused<const N: usize>(i: &Institution, expected: [(&str, Problem); N]) {
    let result = submit_as(IdentityId::new(), &i.draft, i.directory()).await;
    assert_eq!(result, Err(IdentityError::Invalid(violations(expected))));
}

fn regulator() -> [(&'static str, Value); 3] {
    [
        (
            "regulator_name",
            json!("Securities and Exchange Commission"),
        ),
        ("regulator_jurisdiction", json!("USA")),
        ("regulator_register_number", json!("801-12345")),
    ]
}

#[tokio::test]
async fn a_complete_corporation_is_submitted_with_its_members() {
    let i = Institution::corporation();
    let id = IdentityId::new();
    let events = submit_as(id, &i.draft, i.directory())
        .await
        .expect("accepted");
    let state: Identity = state_after(events);
    assert_eq!(state.kind(), Some(IdentityKind::Institution));
    assert_eq!(state.status(), Some(IdentityStatus::Pending));
    assert_eq!(state.members(), &[i.owner, i.controller]);
}

#[test]
fn every_required_institution_field_is_named_when_missing() {
    for name in [
        "name",
        "business_address",
        "incorporation_address",
        "institution_type",
        "institution_sub_type",
        "cip_id",
        "cip_id_type",
        "cip_id_country",
        "govt_registration_date",
        "regulation_status",
        "trading_type",
        "business_description",
    ] {
        let i = Institution::corporation();
        let d = without(i.draft, &format!("/institution_details/{name}"));
        let field = format!("institution_details.{name}");
        assert_eq!(
            parse(&d).unwrap_err(),
            violations([(field.as_str(), Problem::Missing)]),
            "removing {name}"
        );
    }
}

#[tokio::test]
async fn a_regulated_private_institution_names_its_regulator() {
    for status in ["US_REGULATED", "INTL_REGULATED"] {
        let i = Institution::corporation().detail("regulation_status", json!(status));
        assert_refused(
            &i,
            [("institution_details.regulator_name", Problem::Missing)],
        )
        .await;
    }
}

#[tokio::test]
async fn a_regulated_private_institution_with_its_regulator_is_accepted() {
    let mut i = Institution::corporation().detail("regulation_status", json!("US_REGULATED"));
    for (name, value) in regulator() {
        i = i.detail(name, value);
    }
    assert_accepted(&i).await;
}

#[test]
fn a_regulator_is_named_in_full_or_not_at_all() {
    let i = Institution::corporation()
        .detail("regulation_status", json!("US_REGULATED"))
        .detail("regulator_name", json!("FINRA"));
    assert_eq!(
        parse(&i.draft).unwrap_err(),
        violations([
            (
                "institution_details.regulator_jurisdiction",
                Problem::Missing
            ),
            (
                "institution_details.regulator_register_number",
                Problem::Missing
            ),
        ])
    );
}

#[tokio::test]
async fn a_regulated_public_institution_needs_no_regulator() {
    let i = Institution::corporation()
        .detail("regulation_status", json!("US_REGULATED"))
        .detail("trading_type", json!("PUBLIC"))
        .detail("listed_exchange", json!("NYSE"))
        .detail("ticker_symbol", json!("NWT"));
    assert_accepted(&i).await;
}

#[tokio::test]
async fn a_public_institution_names_its_listing() {
    let i = Institution::corporation().detail("trading_type", json!("PUBLIC"));
    assert_refused(
        &i,
        [("institution_details.listed_exchange", Problem::Missing)],
    )
    .await;
}

#[test]
fn a_listing_needs_both_exchange_and_ticker() {
    let i = Institution::corporation()
        .detail("trading_type", json!("PUBLIC"))
        .detail("listed_exchange", json!("NYSE"));
    assert_eq!(
        parse(&i.draft).unwrap_err(),
        violations([("institution_details.ticker_symbol", Problem::Missing)])
    );
}

#[tokio::test]
async fn a_publicly_traded_subsidiary_names_its_parent() {
    let i = Institution::corporation().detail("trading_type", json!("PUBLICLY_TRADED_SUBSIDIARY"));
    assert_refused(
        &i,
        [(
            "institution_details.parent_institution_name",
            Problem::Missing,
        )],
    )
    .await;
    let i = i.detail("parent_institution_name", json!("Northwind Group plc"));
    assert_accepted(&i).await;
}

#[tokio::test]
async fn a_trust_has_sub_type_investment() {
    let i = Institution::trust().detail("institution_sub_type", json!("HEDGE_FUND"));
    assert_refused(
        &i,
        [(
            "institution_details.institution_sub_type",
            Problem::TrustSubTypeMustBeInvestment,
        )],
    )
    .await;
}

#[tokio::test]
async fn a_trust_with_sub_type_investment_and_no_due_diligence_is_accepted() {
    assert_accepted(&Institution::trust()).await;
}

#[tokio::test]
async fn a_business_needs_due_diligence() {
    for kind in ["CORPORATION", "LLC", "PARTNERSHIP"] {
        let mut i = Institution::corporation().detail("institution_type", json!(kind));
        remove(&mut i.draft, "/customer_due_diligence");
        assert_refused(&i, [("customer_due_diligence", Problem::Missing)]).await;
    }
}

#[test]
fn business_due_diligence_answers_are_all_required() {
    for name in [
        "source_of_wealth",
        "source_of_funds",
        "industry_sector",
        "has_underlying_trust_structure",
        "has_nominee_shareholders",
    ] {
        let d = without(
            Institution::corporation().draft,
            &format!("/customer_due_diligence/{name}"),
        );
        let field = format!("customer_due_diligence.{name}");
        assert_eq!(
            parse(&d).unwrap_err(),
            violations([(field.as_str(), Problem::Missing)]),
            "{name}"
        );
    }
}

#[tokio::test]
async fn an_institution_is_identified_by_ein_ssn_itin_or_registration_number() {
    let i = Institution::corporation()
        .detail("cip_id_type", json!("PASSPORT"))
        .detail("cip_id", json!("C01X00T47"));
    assert_refused(
        &i,
        [(
            "institution_details.cip_id_type",
            Problem::CipTypeNotAllowed {
                cip_id_type: "PASSPORT".to_owned(),
                kind: IdentityKind::Institution,
            },
        )],
    )
    .await;
    let i = Institution::corporation()
        .detail("cip_id_type", json!("REGISTRATION_NUMBER"))
        .detail("cip_id", json!("HRB 12345"))
        .detail("cip_id_country", json!("DEU"));
    assert_accepted(&i).await;
}

#[tokio::test]
async fn a_registration_date_in_the_future_is_rejected() {
    let i = Institution::corporation().detail("govt_registration_date", json!("2025-06-02"));
    assert_refused(
        &i,
        [(
            "institution_details.govt_registration_date",
            Problem::InTheFuture,
        )],
    )
    .await;
}

#[tokio::test]
async fn a_registration_date_may_be_today_and_written_as_a_timestamp() {
    let i =
        Institution::corporation().detail("govt_registration_date", json!("2025-06-01T00:00:00Z"));
    assert_accepted(&i).await;
}

#[tokio::test]
async fn institution_tax_details_are_required_unless_declared_not_required() {
    let mut i = Institution::corporation();
    remove(&mut i.draft, "/tax_details");
    assert_refused(&i, [("tax_details", Problem::Missing)]).await;
    set_or_insert(&mut i.draft, "tax_details_not_required", json!(true));
    assert_accepted(&i).await;
}

#[test]
fn an_institution_has_at_least_one_member() {
    let i = Institution::corporation().members(|_, _| vec![]);
    assert_eq!(
        parse(&i.draft).unwrap_err(),
        violations([("institution_members", Problem::Empty)])
    );
}

#[test]
fn a_member_entry_is_checked_field_by_field() {
    let i = Institution::corporation().members(|owner, controller| {
        vec![
            json!({"identity_id": "not-a-uuid", "roles": ["BENEFICIAL_OWNER"], "ownership": "60"}),
            json!({"identity_id": controller.to_string(), "roles": []}),
            json!({"identity_id": owner.to_string(), "roles": ["CHAIRMAN"], "ownership": "125"}),
        ]
    });
    let v = parse(&i.draft).unwrap_err();
    assert!(matches!(
        problems_at(&v, "institution_members[0].identity_id").as_slice(),
        [Problem::Shape(_)]
    ));
    assert_eq!(
        problems_at(&v, "institution_members[1].roles"),
        vec![&Problem::Empty]
    );
    assert!(matches!(
        problems_at(&v, "institution_members[2].roles[0]").as_slice(),
        [Problem::Vocabulary(_)]
    ));
    assert_eq!(
        problems_at(&v, "institution_members[2].ownership"),
        vec![&Problem::Value(ValueError::NotAPercentage)]
    );
    assert_eq!(v.iter().count(), 4);
}

#[tokio::test]
async fn a_member_must_exist_in_this_ledger() {
    let i = Institution::corporation();
    let directory = FakeDirectory::new().person(i.owner, IdentityStatus::Approved);
    let result = submit_as(IdentityId::new(), &i.draft, directory).await;
    assert_eq!(
        result,
        Err(IdentityError::Invalid(violations([(
            "institution_members[1].identity_id",
            Problem::UnknownIdentity(i.controller)
        )])))
    );
}

#[tokio::test]
async fn a_member_must_be_a_person() {
    let i = Institution::corporation();
    let directory = FakeDirectory::new()
        .person(i.owner, IdentityStatus::Approved)
        .identity(
            i.controller,
            IdentityKind::Institution,
            IdentityStatus::Approved,
        );
    let result = submit_as(IdentityId::new(), &i.draft, directory).await;
    assert_eq!(
        result,
        Err(IdentityError::Invalid(violations([(
            "institution_members[1].identity_id",
            Problem::NotAPerson(i.controller)
        )])))
    );
}

#[tokio::test]
async fn a_member_must_be_pending_or_approved() {
    for status in [
        IdentityStatus::Denied,
        IdentityStatus::Disabled,
        IdentityStatus::Error,
    ] {
        let i = Institution::corporation();
        let directory = FakeDirectory::new()
            .person(i.owner, status)
            .person(i.controller, IdentityStatus::Approved);
        let result = submit_as(IdentityId::new(), &i.draft, directory).await;
        assert_eq!(
            result,
            Err(IdentityError::Invalid(violations([(
                "institution_members[0].identity_id",
                Problem::IneligibleStatus {
                    id: i.owner,
                    status
                }
            )]))),
            "{status}"
        );
    }
}

#[tokio::test]
async fn a_pending_member_is_accepted() {
    let i = Institution::corporation();
    let directory = FakeDirectory::new()
        .person(i.owner, IdentityStatus::Pending)
        .person(i.controller, IdentityStatus::Pending);
    assert!(submit_as(IdentityId::new(), &i.draft, directory)
        .await
        .is_ok());
}

#[tokio::test]
async fn an_institution_is_not_its_own_member() {
    let this = IdentityId::new();
    let i = Institution::corporation().members(|owner, _| {
        vec![
            member(owner, &["BENEFICIAL_OWNER"], Some("60")),
            member(this, &["MANAGEMENT_CONTROL_PERSON"], None),
        ]
    });
    let result = submit_as(this, &i.draft, i.directory()).await;
    assert_eq!(
        result,
        Err(IdentityError::Invalid(violations([(
            "institution_members[1].identity_id",
            Problem::SelfReference
        )])))
    );
}

#[tokio::test]
async fn a_member_appears_only_once() {
    let i = Institution::corporation().members(|owner, controller| {
        vec![
            member(owner, &["BENEFICIAL_OWNER"], Some("30")),
            member(controller, &["MANAGEMENT_CONTROL_PERSON"], None),
            member(owner, &["AUTHORIZED_USER"], None),
        ]
    });
    assert_refused(
        &i,
        [("institution_members[2].identity_id", Problem::Duplicate)],
    )
    .await;
}

#[tokio::test]
async fn a_trust_needs_a_trustee_grantor_or_beneficiary() {
    let i = Institution::trust().members(|owner, controller| {
        vec![
            member(owner, &["AUTHORIZED_USER"], None),
            member(controller, &["ACCOUNT_OPENER"], None),
        ]
    });
    assert_refused(
        &i,
        [(
            "institution_members",
            Problem::MissingRole(vec![
                MemberRole::Trustee,
                MemberRole::Grantor,
                MemberRole::Beneficiary,
            ]),
        )],
    )
    .await;
}

#[tokio::test]
async fn any_one_trust_role_is_enough() {
    for role in ["TRUSTEE", "GRANTOR", "BENEFICIARY"] {
        let i = Institution::trust().members(|owner, controller| {
            vec![
                member(owner, &[role], None),
                member(controller, &["AUTHORIZED_USER"], None),
            ]
        });
        assert_accepted(&i).await;
    }
}

#[tokio::test]
async fn a_business_needs_a_beneficial_owner_of_25_percent_or_more() {
    for kind in ["CORPORATION", "LLC", "PARTNERSHIP"] {
        let i = Institution::corporation()
            .detail("institution_type", json!(kind))
            .members(|owner, controller| {
                vec![
                    member(owner, &["BENEFICIAL_OWNER"], Some("24.99")),
                    member(controller, &["MANAGEMENT_CONTROL_PERSON"], None),
                ]
            });
        assert_refused(&i, [("institution_members", Problem::NoQualifyingOwner)]).await;
    }
}

#[tokio::test]
async fn a_beneficial_owner_of_exactly_25_percent_qualifies() {
    let i = Institution::corporation().members(|owner, controller| {
        vec![
            member(owner, &["BENEFICIAL_OWNER"], Some("25")),
            member(controller, &["MANAGEMENT_CONTROL_PERSON"], None),
        ]
    });
    assert_accepted(&i).await;
}

#[tokio::test]
async fn a_large_share_held_without_the_beneficial_owner_role_does_not_qualify() {
    let i = Institution::corporation().members(|owner, controller| {
        vec![
            member(owner, &["AUTHORIZED_USER"], Some("80")),
            member(controller, &["MANAGEMENT_CONTROL_PERSON"], None),
        ]
    });
    assert_refused(&i, [("institution_members", Problem::NoQualifyingOwner)]).await;
}

#[tokio::test]
async fn a_beneficial_owner_states_its_share() {
    let i = Institution::corporation().members(|owner, controller| {
        vec![
            member(owner, &["BENEFICIAL_OWNER"], None),
            member(controller, &["MANAGEMENT_CONTROL_PERSON"], None),
        ]
    });
    assert_refused(
        &i,
        [
            (
                "institution_members[0].ownership",
                Problem::OwnershipRequired,
            ),
            ("institution_members", Problem::NoQualifyingOwner),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_business_needs_a_management_control_person() {
    for kind in ["CORPORATION", "LLC", "PARTNERSHIP"] {
        let i = Institution::corporation()
            .detail("institution_type", json!(kind))
            .members(|owner, controller| {
                vec![
                    member(owner, &["BENEFICIAL_OWNER"], Some("60")),
                    member(controller, &["AUTHORIZED_USER"], None),
                ]
            });
        assert_refused(
            &i,
            [(
                "institution_members",
                Problem::MissingRole(vec![MemberRole::ManagementControlPerson]),
            )],
        )
        .await;
    }
}

#[tokio::test]
async fn one_member_may_hold_both_business_roles() {
    let i = Institution::corporation().members(|owner, _| {
        vec![member(
            owner,
            &["BENEFICIAL_OWNER", "MANAGEMENT_CONTROL_PERSON"],
            Some("100"),
        )]
    });
    assert_accepted(&i).await;
}

#[tokio::test]
async fn ownership_adds_up_to_at_most_100_percent() {
    let i = Institution::corporation().members(|owner, controller| {
        vec![
            member(owner, &["BENEFICIAL_OWNER"], Some("60")),
            member(
                controller,
                &["BENEFICIAL_OWNER", "MANAGEMENT_CONTROL_PERSON"],
                Some("40.5"),
            ),
        ]
    });
    assert_refused(
        &i,
        [(
            "institution_members",
            Problem::OwnershipOver100(dec!(100.5)),
        )],
    )
    .await;
}

#[tokio::test]
async fn ownership_of_exactly_100_percent_is_accepted() {
    let i = Institution::corporation().members(|owner, controller| {
        vec![
            member(owner, &["BENEFICIAL_OWNER"], Some("60")),
            member(
                controller,
                &["BENEFICIAL_OWNER", "MANAGEMENT_CONTROL_PERSON"],
                Some("40"),
            ),
        ]
    });
    assert_accepted(&i).await;
}

#[test]
fn a_share_is_a_percentage_between_0_and_100() {
    assert!("100".parse::<Percentage>().is_ok());
    assert!("0".parse::<Percentage>().is_ok());
    assert_eq!(
        "100.01".parse::<Percentage>(),
        Err(ValueError::NotAPercentage)
    );
    assert_eq!("-1".parse::<Percentage>(), Err(ValueError::NotAPercentage));
    assert_eq!("a lot".parse::<Percentage>(), Err(ValueError::NotADecimal));
}

#[tokio::test]
async fn a_directory_failure_is_reported_as_such_not_as_a_violation() {
    let i = Institution::corporation();
    let services = onboarding_domain::Services::new(
        std::sync::Arc::new(UnreachableDirectory),
        MemoryCips::new(),
        std::sync::Arc::new(onboarding_domain::FixedClock(now())),
    );
    let result = TestFramework::<Identity>::with(services)
        .given_no_previous_events()
        .when_async(IdentityCommand::Submit {
            id: IdentityId::new(),
            submission: submission(&i.draft),
        })
        .await
        .inspect_result();
    assert!(
        matches!(result, Err(IdentityError::Lookup(_))),
        "{result:?}"
    );
}
