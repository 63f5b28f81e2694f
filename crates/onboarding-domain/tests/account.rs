//! Opening, linking and closing accounts.

use cqrs_es::test::TestFramework;
use onboarding_domain::values::Text;
use onboarding_domain::vocab::{AccountMemberRole, AccountType, IdentityKind, IdentityStatus};
use onboarding_domain::{
    Account, AccountCommand, AccountError, AccountEvent, AccountId, AccountMember, AccountOpening,
    IdentityId, Problem, ProfileId,
};

use crate::support::*;

fn opening(
    owner: IdentityId,
    account_type: AccountType,
    members: Vec<AccountMember>,
) -> AccountOpening {
    AccountOpening {
        account_id: AccountId::new(),
        profile_id: ProfileId::new(),
        owner,
        account_type,
        members,
        description: Some(Text::parse("Joint brokerage", Text::NAME_MAX).unwrap()),
    }
}

fn joint(id: IdentityId) -> AccountMember {
    AccountMember {
        identity_id: id,
        role: AccountMemberRole::BeneficialOwner,
    }
}

fn framework(directory: FakeDirectory) -> TestFramework<Account> {
    TestFramework::with(services(directory))
}

async fn assert_opens(directory: FakeDirectory, o: AccountOpening) {
    framework(directory)
        .given_no_previous_events()
        .when_async(AccountCommand::Open(o.clone()))
        .await
        .then_expect_events(vec![AccountEvent::AccountOpened(o)]);
}

async fn assert_refused(directory: FakeDirectory, o: AccountOpening, error: AccountError) {
    framework(directory)
        .given_no_previous_events()
        .when_async(AccountCommand::Open(o))
        .await
        .then_expect_error(error);
}

#[tokio::test]
async fn opening_an_account_for_an_approved_owner_records_it_with_its_profile() {
    let owner = IdentityId::new();
    let directory = FakeDirectory::new().person(owner, IdentityStatus::Approved);
    let o = opening(owner, AccountType::Brokerage, vec![]);
    let events = framework(directory)
        .given_no_previous_events()
        .when_async(AccountCommand::Open(o.clone()))
        .await
        .inspect_result()
        .expect("opened");
    assert_eq!(events, vec![AccountEvent::AccountOpened(o.clone())]);
    let state: Account = state_after(events);
    assert!(state.is_open());
    assert_eq!(state.opening().map(|x| x.profile_id), Some(o.profile_id));
}

#[tokio::test]
async fn an_approved_institution_may_open_a_brokerage_account() {
    let owner = IdentityId::new();
    let directory =
        FakeDirectory::new().identity(owner, IdentityKind::Institution, IdentityStatus::Approved);
    assert_opens(directory, opening(owner, AccountType::Brokerage, vec![])).await;
}

#[tokio::test]
async fn opening_an_account_requires_an_existing_owner() {
    let owner = IdentityId::new();
    assert_refused(
        FakeDirectory::new(),
        opening(owner, AccountType::Brokerage, vec![]),
        AccountError::UnknownOwner(owner),
    )
    .await;
}

#[tokio::test]
async fn opening_an_account_requires_an_approved_owner() {
    for status in [
        IdentityStatus::Pending,
        IdentityStatus::Denied,
        IdentityStatus::Disabled,
        IdentityStatus::Error,
    ] {
        let owner = IdentityId::new();
        assert_refused(
            FakeDirectory::new().person(owner, status),
            opening(owner, AccountType::Brokerage, vec![]),
            AccountError::OwnerNotApproved { owner, status },
        )
        .await;
    }
}

#[tokio::test]
async fn a_joint_account_with_an_approved_person_opens() {
    let (owner, partner) = (IdentityId::new(), IdentityId::new());
    let directory = FakeDirectory::new()
        .person(owner, IdentityStatus::Approved)
        .person(partner, IdentityStatus::Approved);
    assert_opens(
        directory,
        opening(owner, AccountType::Brokerage, vec![joint(partner)]),
    )
    .await;
}

#[tokio::test]
async fn joint_members_must_be_approved() {
    for status in [
        IdentityStatus::Pending,
        IdentityStatus::Denied,
        IdentityStatus::Disabled,
        IdentityStatus::Error,
    ] {
        let (owner, partner) = (IdentityId::new(), IdentityId::new());
        let directory = FakeDirectory::new()
            .person(owner, IdentityStatus::Approved)
            .person(partner, status);
        assert_refused(
            directory,
            opening(owner, AccountType::Brokerage, vec![joint(partner)]),
            AccountError::Invalid(violations([(
                "members[0].identity_id",
                Problem::IneligibleStatus {
                    id: partner,
                    status,
                },
            )])),
        )
        .await;
    }
}

#[tokio::test]
async fn joint_members_must_be_persons() {
    let (owner, company) = (IdentityId::new(), IdentityId::new());
    let directory = FakeDirectory::new()
        .person(owner, IdentityStatus::Approved)
        .identity(company, IdentityKind::Institution, IdentityStatus::Approved);
    assert_refused(
        directory,
        opening(owner, AccountType::Brokerage, vec![joint(company)]),
        AccountError::Invalid(violations([(
            "members[0].identity_id",
            Problem::NotAPerson(company),
        )])),
    )
    .await;
}

#[tokio::test]
async fn joint_members_must_exist() {
    let (owner, stranger) = (IdentityId::new(), IdentityId::new());
    let directory = FakeDirectory::new().person(owner, IdentityStatus::Approved);
    assert_refused(
        directory,
        opening(owner, AccountType::Brokerage, vec![joint(stranger)]),
        AccountError::Invalid(violations([(
            "members[0].identity_id",
            Problem::UnknownIdentity(stranger),
        )])),
    )
    .await;
}

#[tokio::test]
async fn the_owner_is_not_also_a_member() {
    let owner = IdentityId::new();
    let directory = FakeDirectory::new().person(owner, IdentityStatus::Approved);
    assert_refused(
        directory,
        opening(owner, AccountType::Brokerage, vec![joint(owner)]),
        AccountError::Invalid(violations([(
            "members[0].identity_id",
            Problem::SelfReference,
        )])),
    )
    .await;
}

#[tokio::test]
async fn a_member_appears_only_once_on_an_account() {
    let (owner, partner) = (IdentityId::new(), IdentityId::new());
    let directory = FakeDirectory::new()
        .person(owner, IdentityStatus::Approved)
        .person(partner, IdentityStatus::Approved);
    let advisor = AccountMember {
        identity_id: partner,
        role: AccountMemberRole::FinancialAdvisor,
    };
    assert_refused(
        directory,
        opening(owner, AccountType::Brokerage, vec![joint(partner), advisor]),
        AccountError::Invalid(violations([("members[1].identity_id", Problem::Duplicate)])),
    )
    .await;
}

#[tokio::test]
async fn an_ira_belongs_to_a_single_person() {
    for account_type in [
        AccountType::TraditionalIra,
        AccountType::RothIra,
        AccountType::SepIra,
    ] {
        let (owner, partner) = (IdentityId::new(), IdentityId::new());
        let directory = FakeDirectory::new()
            .person(owner, IdentityStatus::Approved)
            .person(partner, IdentityStatus::Approved);
        assert_refused(
            directory,
            opening(owner, account_type, vec![joint(partner)]),
            AccountError::RetirementAccountNeedsOnePerson(account_type),
        )
        .await;

        let company = IdentityId::new();
        let directory = FakeDirectory::new().identity(
            company,
            IdentityKind::Institution,
            IdentityStatus::Approved,
        );
        assert_refused(
            directory,
            opening(company, account_type, vec![]),
            AccountError::RetirementAccountNeedsOnePerson(account_type),
        )
        .await;
    }
}

#[tokio::test]
async fn an_ira_for_one_person_opens_and_may_name_an_advisor() {
    let (owner, advisor) = (IdentityId::new(), IdentityId::new());
    let directory = FakeDirectory::new()
        .person(owner, IdentityStatus::Approved)
        .person(advisor, IdentityStatus::Approved);
    assert_opens(
        directory.clone(),
        opening(owner, AccountType::RothIra, vec![]),
    )
    .await;
    assert_opens(
        directory,
        opening(
            owner,
            AccountType::TraditionalIra,
            vec![AccountMember {
                identity_id: advisor,
                role: AccountMemberRole::FinancialAdvisor,
            }],
        ),
    )
    .await;
}

fn opened(owner: IdentityId) -> AccountEvent {
    AccountEvent::AccountOpened(opening(owner, AccountType::Brokerage, vec![]))
}

fn approved_owner() -> (IdentityId, FakeDirectory) {
    let owner = IdentityId::new();
    (
        owner,
        FakeDirectory::new().person(owner, IdentityStatus::Approved),
    )
}

#[tokio::test]
async fn an_account_is_opened_only_once() {
    let (owner, directory) = approved_owner();
    framework(directory)
        .given(vec![opened(owner)])
        .when_async(AccountCommand::Open(opening(
            owner,
            AccountType::Brokerage,
            vec![],
        )))
        .await
        .then_expect_error(AccountError::AlreadyOpened);
}

fn link(account: &str, profile: &str) -> AccountCommand {
    AccountCommand::LinkPaxosAccount {
        paxos_account_id: account.to_owned(),
        paxos_profile_id: profile.to_owned(),
    }
}

#[tokio::test]
async fn linking_records_the_paxos_account_and_profile() {
    let (owner, directory) = approved_owner();
    let events = framework(directory)
        .given(vec![opened(owner)])
        .when_async(link("pa-1", "pp-1"))
        .await
        .inspect_result()
        .expect("linked");
    assert_eq!(
        events,
        vec![AccountEvent::PaxosAccountLinked {
            paxos_account_id: "pa-1".to_owned(),
            paxos_profile_id: "pp-1".to_owned(),
        }]
    );
    let mut history = vec![opened(owner)];
    history.extend(events);
    assert_eq!(
        state_after::<Account>(history).paxos_ids(),
        Some(("pa-1", "pp-1"))
    );
}

#[tokio::test]
async fn linking_again_to_the_same_paxos_ids_is_a_no_op() {
    let (owner, directory) = approved_owner();
    framework(directory)
        .given(vec![
            opened(owner),
            AccountEvent::PaxosAccountLinked {
                paxos_account_id: "pa-1".to_owned(),
                paxos_profile_id: "pp-1".to_owned(),
            },
        ])
        .when_async(link("pa-1", "pp-1"))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn linking_to_other_paxos_ids_is_a_conflict() {
    for (account, profile) in [("pa-2", "pp-1"), ("pa-1", "pp-2")] {
        let (owner, directory) = approved_owner();
        framework(directory)
            .given(vec![
                opened(owner),
                AccountEvent::PaxosAccountLinked {
                    paxos_account_id: "pa-1".to_owned(),
                    paxos_profile_id: "pp-1".to_owned(),
                },
            ])
            .when_async(link(account, profile))
            .await
            .then_expect_error(AccountError::PaxosLinkConflict);
    }
}

#[tokio::test]
async fn a_link_names_both_paxos_ids() {
    let (owner, directory) = approved_owner();
    framework(directory)
        .given(vec![opened(owner)])
        .when_async(link(" ", ""))
        .await
        .then_expect_error(AccountError::Invalid(violations([
            ("paxos_account_id", Problem::Missing),
            ("paxos_profile_id", Problem::Missing),
        ])));
}

#[tokio::test]
async fn only_an_open_account_can_be_linked() {
    let (owner, directory) = approved_owner();
    framework(directory.clone())
        .given_no_previous_events()
        .when_async(link("pa-1", "pp-1"))
        .await
        .then_expect_error(AccountError::NotOpened);
    framework(directory)
        .given(vec![
            opened(owner),
            AccountEvent::AccountClosed {
                reason: "done".to_owned(),
            },
        ])
        .when_async(link("pa-1", "pp-1"))
        .await
        .then_expect_error(AccountError::Closed);
}

#[tokio::test]
async fn closing_an_open_account_records_it() {
    let (owner, directory) = approved_owner();
    let close = AccountCommand::Close {
        reason: "moved to another broker".to_owned(),
    };
    let events = framework(directory)
        .given(vec![opened(owner)])
        .when_async(close)
        .await
        .inspect_result()
        .expect("closed");
    assert_eq!(
        events,
        vec![AccountEvent::AccountClosed {
            reason: "moved to another broker".to_owned()
        }]
    );
    let mut history = vec![opened(owner)];
    history.extend(events);
    assert!(!state_after::<Account>(history).is_open());
}

#[tokio::test]
async fn a_closed_or_unopened_account_cannot_be_closed() {
    let (owner, directory) = approved_owner();
    let close = || AccountCommand::Close {
        reason: "again".to_owned(),
    };
    framework(directory.clone())
        .given(vec![
            opened(owner),
            AccountEvent::AccountClosed {
                reason: "done".to_owned(),
            },
        ])
        .when_async(close())
        .await
        .then_expect_error(AccountError::Closed);
    framework(directory)
        .given_no_previous_events()
        .when_async(close())
        .await
        .then_expect_error(AccountError::NotOpened);
}
