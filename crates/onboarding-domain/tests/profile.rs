//! Opening and funding a profile.

use onboarding_domain::money::AmountError;
use onboarding_domain::{
    AccountId, Amount, FundingMethod, Problem, Profile, ProfileCommand, ProfileError, ProfileEvent,
};

use crate::support::*;

fn open(h: &Holder) -> ProfileCommand {
    ProfileCommand::Open {
        profile_id: h.profile_id,
        account_id: h.account_id,
        owner: h.owner,
    }
}

fn fund(funding_id: &str, asset_code: &str, amount: Amount) -> ProfileCommand {
    ProfileCommand::Fund {
        funding_id: funding_id.to_owned(),
        asset: asset(asset_code),
        amount,
        method: FundingMethod::SandboxTestFunds,
    }
}

#[tokio::test]
async fn opening_a_profile_records_its_account_and_owner() {
    let h = Holder::approved();
    let events = h
        .framework()
        .given_no_previous_events()
        .when_async(open(&h))
        .await
        .inspect_result()
        .expect("opened");
    assert_eq!(events, vec![h.opened()]);
    let state: Profile = state_after(events);
    assert_eq!(state.profile_id(), Some(h.profile_id));
    assert_eq!(state.account_id(), Some(h.account_id));
    assert_eq!(state.owner(), Some(h.owner));
    assert!(state.balances().is_empty());
}

#[tokio::test]
async fn opening_a_profile_again_for_its_account_is_a_no_op() {
    let h = Holder::approved();
    h.framework()
        .given(vec![h.opened()])
        .when_async(open(&h))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn a_profile_belongs_to_one_account() {
    let h = Holder::approved();
    let other = ProfileCommand::Open {
        profile_id: h.profile_id,
        account_id: AccountId::new(),
        owner: h.owner,
    };
    h.framework()
        .given(vec![h.opened()])
        .when_async(other)
        .await
        .then_expect_error(ProfileError::AlreadyOpened);
}

#[tokio::test]
async fn funding_credits_available() {
    let h = Holder::approved();
    let events = h
        .framework()
        .given(h.funded(&[("USD", "100.25")]))
        .when_async(fund("dep-x", "USD", amt("50.5")))
        .await
        .inspect_result()
        .expect("funded");
    assert_eq!(
        events,
        vec![ProfileEvent::ProfileFunded {
            funding_id: "dep-x".to_owned(),
            asset: asset("USD"),
            amount: amt("50.5"),
            method: FundingMethod::SandboxTestFunds,
        }]
    );
    let mut history = h.funded(&[("USD", "100.25")]);
    history.extend(events);
    let state: Profile = state_after(history);
    assert_eq!(state.balance(&asset("USD")), balance("150.75", "0"));
    assert_eq!(state.balance(&asset("BTC")), balance("0", "0"));
}

#[tokio::test]
async fn a_repeated_funding_id_is_a_no_op() {
    let h = Holder::approved();
    h.framework()
        .given(vec![h.opened(), funding("dep-1", "USD", "100")])
        .when_async(ProfileCommand::Fund {
            funding_id: "dep-1".to_owned(),
            asset: asset("USD"),
            amount: amt("100"),
            method: FundingMethod::Deposit,
        })
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn a_funding_id_reused_with_other_contents_is_refused_naming_it() {
    let h = Holder::approved();
    // `funding` records dep-1 as a deposit of 100 USD; each retry below differs in one thing.
    let retry = |code: &str, amount: &str, method: FundingMethod| ProfileCommand::Fund {
        funding_id: "dep-1".to_owned(),
        asset: asset(code),
        amount: amt(amount),
        method,
    };
    for command in [
        retry("USD", "250", FundingMethod::Deposit),
        retry("BTC", "100", FundingMethod::Deposit),
        retry("USD", "100", FundingMethod::SandboxTestFunds),
    ] {
        let mut expected = onboarding_domain::Violations::new();
        expected.push("funding_id", Problem::InUse);
        h.framework()
            .given(vec![h.opened(), funding("dep-1", "USD", "100")])
            .when_async(command)
            .await
            .then_expect_error(ProfileError::Invalid(expected));
    }
    h.framework()
        .given(vec![h.opened(), funding("dep-1", "USD", "100")])
        .when_async(retry("USD", "100", FundingMethod::Deposit))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn funding_names_its_id_and_a_positive_amount() {
    let h = Holder::approved();
    h.framework()
        .given(vec![h.opened()])
        .when_async(fund(" ", "USD", Amount::ZERO))
        .await
        .then_expect_error(ProfileError::Invalid(violations([
            ("funding_id", Problem::Missing),
            ("amount", Problem::Amount(AmountError::Zero)),
        ])));
}

#[tokio::test]
async fn an_unopened_profile_cannot_be_funded() {
    let h = Holder::approved();
    h.framework()
        .given_no_previous_events()
        .when_async(fund("dep-1", "USD", amt("1")))
        .await
        .then_expect_error(ProfileError::NotOpened);
}

#[tokio::test]
async fn a_credit_beyond_what_a_balance_can_hold_is_refused() {
    // Without the refusal the event would be stored and then dropped by `apply`: money
    // recorded as deposited but never credited.
    let h = Holder::approved();
    h.framework()
        .given(vec![
            h.opened(),
            funding("dep-1", "USD", "79228162514264337593543950000"),
        ])
        .when_async(fund("dep-2", "USD", amt("1000")))
        .await
        .then_expect_error(ProfileError::Invalid(violations([(
            "amount",
            Problem::Amount(AmountError::Overflow),
        )])));
}
