//! Mirror outcomes: permanent Paxos rejections and mirrored-call facts, recorded once each,
//! without touching balances or statuses.

use cqrs_es::test::TestFramework;
use onboarding_domain::vocab::AccountType;
use onboarding_domain::{
    AccountCommand, AccountEvent, AccountId, AccountOpening, Identity, IdentityCommand,
    IdentityError, IdentityEvent, IdentityId, MirrorRejection, PaxosMirrored, Profile,
    ProfileCommand, ProfileError, ProfileEvent, ProfileId,
};

use crate::support::*;

fn submitted() -> IdentityEvent {
    IdentityEvent::IdentitySubmitted {
        id: IdentityId::new(),
        submission: submission(&person_draft()),
    }
}

fn rejection(operation: &str, status: Option<u16>) -> MirrorRejection {
    MirrorRejection {
        operation: operation.to_owned(),
        reference: "ref-1".to_owned(),
        problem_type: Some("already-exists".to_owned()),
        status,
        reason: "Paxos already has this resource".to_owned(),
    }
}

fn opened_profile() -> ProfileEvent {
    ProfileEvent::ProfileOpened {
        profile_id: ProfileId::new(),
        account_id: AccountId::new(),
        owner: IdentityId::new(),
    }
}

#[test]
fn a_mirror_rejection_of_a_submitted_identity_is_recorded() {
    let r = rejection("CreateIdentity", Some(409));
    TestFramework::<Identity>::with(services(FakeDirectory::new()))
        .given(vec![submitted()])
        .when(IdentityCommand::RecordMirrorRejection(r.clone()))
        .then_expect_events(vec![IdentityEvent::MirrorRejected(r)]);
}

#[test]
fn the_same_mirror_rejection_recorded_twice_changes_nothing() {
    let r = rejection("CreateIdentity", Some(409));
    TestFramework::<Identity>::with(services(FakeDirectory::new()))
        .given(vec![submitted(), IdentityEvent::MirrorRejected(r.clone())])
        .when(IdentityCommand::RecordMirrorRejection(r))
        .then_expect_events(vec![]);
}

#[test]
fn a_mirror_rejection_needs_a_4xx_status_when_it_has_one() {
    let result = TestFramework::<Identity>::with(services(FakeDirectory::new()))
        .given(vec![submitted()])
        .when(IdentityCommand::RecordMirrorRejection(rejection(
            "CreateIdentity",
            Some(503),
        )))
        .inspect_result();
    assert!(matches!(result, Err(IdentityError::Invalid(_))));
}

#[test]
fn a_rejected_identity_reports_it_and_keeps_its_status() {
    let identity: Identity = state_after(vec![
        submitted(),
        IdentityEvent::MirrorRejected(rejection("CreateIdentity", None)),
    ]);
    assert!(identity.mirror_rejected());
    assert_eq!(
        identity.status(),
        Some(onboarding_domain::vocab::IdentityStatus::Pending)
    );
}

#[test]
fn an_account_records_a_mirror_rejection_once_it_is_opened() {
    let owner = IdentityId::new();
    let opening = AccountOpening {
        account_id: AccountId::new(),
        profile_id: ProfileId::new(),
        owner,
        account_type: AccountType::Brokerage,
        members: Vec::new(),
        description: None,
    };
    let r = rejection("CreateAccount", Some(403));
    TestFramework::<onboarding_domain::Account>::with(services(FakeDirectory::new()))
        .given(vec![AccountEvent::AccountOpened(opening)])
        .when(AccountCommand::RecordMirrorRejection(r.clone()))
        .then_expect_events(vec![AccountEvent::MirrorRejected(r)]);
}

#[test]
fn a_profile_records_a_mirrored_call_once_without_moving_balances() {
    let fact = PaxosMirrored {
        operation: "CreateSandboxDeposit".to_owned(),
        reference: "fund-1".to_owned(),
        paxos_id: Some("activity-1".to_owned()),
    };
    TestFramework::<Profile>::with(services(FakeDirectory::new()))
        .given(vec![opened_profile()])
        .when(ProfileCommand::RecordPaxosMirrored(fact.clone()))
        .then_expect_events(vec![ProfileEvent::PaxosMirrored(fact.clone())]);
    TestFramework::<Profile>::with(services(FakeDirectory::new()))
        .given(vec![
            opened_profile(),
            ProfileEvent::PaxosMirrored(fact.clone()),
        ])
        .when(ProfileCommand::RecordPaxosMirrored(fact.clone()))
        .then_expect_events(vec![]);
    let profile: Profile = state_after(vec![opened_profile(), ProfileEvent::PaxosMirrored(fact)]);
    assert_eq!(
        profile.paxos_mirrored("CreateSandboxDeposit", "fund-1"),
        Some(Some("activity-1"))
    );
    assert!(profile.balances().is_empty());
}

#[test]
fn a_profile_that_is_not_opened_refuses_mirror_outcomes() {
    let result = TestFramework::<Profile>::with(services(FakeDirectory::new()))
        .given_no_previous_events()
        .when(ProfileCommand::RecordMirrorRejection(rejection(
            "CreateOrder",
            Some(403),
        )))
        .inspect_result();
    assert!(matches!(result, Err(ProfileError::NotOpened)));
}
