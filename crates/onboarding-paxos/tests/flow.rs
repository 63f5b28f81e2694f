//! The mirrored flow end to end against the sandbox: identity, decision event, account with
//! profile, deposit, orders, events paging.

use std::collections::HashMap;
use std::time::Duration;

use onboarding_domain::vocab::{IdentityStatus, OrderSide, OrderType, TimeInForce};
use onboarding_domain::{
    AccountId, AccountOpening, Decision, OrderId, OrderRequest, ProfileId, ReportedOrderState,
};
use onboarding_paxos::mapping;
use onboarding_paxos::model::{EventsQuery, OrderStatus};
use onboarding_paxos::PaxosClient;
use paxos_sandbox::{DecisionConfig, SandboxConfig, SandboxHandle};
use rust_decimal_macros::dec;
use serde_json::json;

use crate::support::{client, person_request, sandbox, sandbox_with, WAIT};

/// Creates a person, waits for its approval and opens an account with a profile; returns the
/// Paxos identity id and profile id.
pub async fn approved_account(sandbox: &SandboxHandle, client: &PaxosClient) -> (String, String) {
    let (ledger_id, request) = person_request("321-54-9876", "Account-Holder");
    let identity = client.ensure_identity(&request).await.unwrap().into_inner();
    sandbox
        .wait_for_event(WAIT, |e| e.object["identity_id"] == json!(identity.id))
        .await
        .expect("the identity is decided");
    let ids = HashMap::from([(ledger_id, identity.id.clone())]);
    let opening = AccountOpening {
        account_id: AccountId::new(),
        profile_id: ProfileId::new(),
        owner: ledger_id,
        account_type: onboarding_domain::vocab::AccountType::Brokerage,
        members: Vec::new(),
        description: None,
    };
    let account = client
        .ensure_account(&mapping::create_account(&opening, &ids).unwrap())
        .await
        .unwrap()
        .into_inner();
    (
        identity.id,
        account.profile_id.expect("create_profile gives a profile"),
    )
}

#[tokio::test]
async fn a_person_is_created_decided_funded_and_trades() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let (ledger_id, request) = person_request("123-45-6789", "Fischer");
    let identity = client.ensure_identity(&request).await.unwrap().into_inner();
    assert_eq!(identity.status(), Some(IdentityStatus::Pending));
    assert_eq!(identity.ref_id, Some(ledger_id.to_string()));

    // The sandbox answers date_of_birth as a timestamp; the client reads it as the date.
    let detailed = client
        .get_identity_with_details(&identity.id)
        .await
        .unwrap();
    assert_eq!(
        detailed.person_details.unwrap().date_of_birth,
        chrono::NaiveDate::from_ymd_opt(1985, 4, 12)
    );

    let event = sandbox
        .wait_for_event(WAIT, |e| e.event_type == "identity.approved")
        .await
        .expect("approved");
    let fetched = client.get_event(&event.id).await.unwrap();
    assert_eq!(fetched.identity_id(), Some(identity.id.as_str()));
    assert_eq!(fetched.new_summary_status(), Some(IdentityStatus::Approved));
    assert_eq!(mapping::decision(&fetched), Some(Decision::Approved));
    let approved = client.get_identity(&identity.id).await.unwrap();
    assert_eq!(approved.status(), Some(IdentityStatus::Approved));

    let ids = HashMap::from([(ledger_id, identity.id.clone())]);
    let opening = AccountOpening {
        account_id: AccountId::new(),
        profile_id: ProfileId::new(),
        owner: ledger_id,
        account_type: onboarding_domain::vocab::AccountType::Brokerage,
        members: Vec::new(),
        description: None,
    };
    let account = client
        .ensure_account(&mapping::create_account(&opening, &ids).unwrap())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(account.ref_id, Some(opening.account_id.to_string()));
    let profile = account.profile_id.clone().unwrap();

    let deposit =
        mapping::sandbox_deposit(&"USD".parse().unwrap(), "1000".parse().unwrap()).unwrap();
    client.sandbox_deposit(&profile, &deposit).await.unwrap();

    let order = OrderRequest {
        order_id: OrderId::new(),
        side: OrderSide::Buy,
        market: "BTCUSD".parse().unwrap(),
        order_type: OrderType::Market,
        base_amount: None,
        quote_amount: Some("600".parse().unwrap()),
        price: None,
        stop_price: None,
        time_in_force: TimeInForce::Ioc,
        expires_at: None,
    };
    let request = mapping::create_order(&order, &identity.id, &account.id);
    let placed = client
        .ensure_order(&profile, &request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(placed.status, Some(OrderStatus::Filled));
    let polled = client.get_order(&profile, &placed.id).await.unwrap();
    let progress = mapping::order_progress(&polled).unwrap();
    assert_eq!(progress.state, ReportedOrderState::Filled);
    assert_eq!(progress.amount_filled.value(), dec!(0.01));
    assert_eq!(progress.average_price.map(|p| p.value()), Some(dec!(60000)));

    // Placing the same order again (a retry) finds it instead of buying twice.
    let again = client.ensure_order(&profile, &request).await.unwrap();
    assert!(!again.is_new());
    assert_eq!(again.get().id, placed.id);

    let balances = client.list_balances(&profile).await.unwrap();
    let of = |asset: &str| {
        balances
            .iter()
            .find(|b| b.asset == asset)
            .unwrap()
            .available
    };
    assert_eq!(of("USD"), Some(dec!(400)));
    assert_eq!(of("BTC"), Some(dec!(0.01)));
}

#[tokio::test]
async fn a_limit_order_stays_open_until_the_price_crosses() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let (identity, profile) = approved_account(&sandbox, &client).await;
    let deposit =
        mapping::sandbox_deposit(&"USD".parse().unwrap(), "1000".parse().unwrap()).unwrap();
    client.sandbox_deposit(&profile, &deposit).await.unwrap();
    let order = OrderRequest {
        order_id: OrderId::new(),
        side: OrderSide::Buy,
        market: "BTCUSD".parse().unwrap(),
        order_type: OrderType::Limit,
        base_amount: Some("0.01".parse().unwrap()),
        quote_amount: None,
        price: Some("50000".parse().unwrap()),
        stop_price: None,
        time_in_force: TimeInForce::Gtc,
        expires_at: None,
    };
    let mut request = mapping::create_order(&order, &identity, "unused");
    request.on_behalf_of = None;
    let placed = client.create_order(&profile, &request).await.unwrap();
    assert_eq!(placed.status, Some(OrderStatus::Open));
    let held = client.list_balances(&profile).await.unwrap();
    assert_eq!(held[0].available, Some(dec!(500)));
    assert_eq!(held[0].trading, Some(dec!(500)));

    sandbox.set_price("BTCUSD", dec!(49000));
    let filled = client.get_order(&profile, &placed.id).await.unwrap();
    assert_eq!(filled.status, Some(OrderStatus::Filled));
    assert_eq!(filled.amount_filled, Some(dec!(0.01)));
}

#[tokio::test]
async fn events_are_listed_ascending_and_paged_by_created_at() {
    let sandbox = sandbox_with(SandboxConfig {
        decisions: DecisionConfig {
            delay: None,
            ..DecisionConfig::default()
        },
        ..SandboxConfig::default()
    })
    .await;
    let client = client(&sandbox);
    let mut ids = Vec::new();
    for i in 0..5 {
        let (_, request) = person_request(&format!("{}23-45-678{i}", i + 1), "Fischer");
        ids.push(client.create_identity(&request).await.unwrap().id);
    }
    // Decide them in an order unlike creation, all within a few microseconds.
    for id in ids.iter().rev() {
        sandbox.decide(id, paxos_sandbox::SandboxDecision::Approve);
    }
    let mut seen = Vec::new();
    let mut query = EventsQuery {
        limit: Some(2),
        ..EventsQuery::default()
    };
    loop {
        let page = client.list_events(&query).await.unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        query.created_after = Some(last.created_at);
        seen.extend(page.iter().map(|e| e.identity_id().unwrap().to_owned()));
    }
    let expected: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, expected, "every event once, in creation order");
}

#[tokio::test]
async fn denial_rules_produce_denied_and_documents_required_events() {
    let sandbox = sandbox_with(SandboxConfig {
        decisions: DecisionConfig {
            delay: Some(Duration::from_millis(10)),
            deny_names: vec!["Mallory".to_owned()],
            deny_cip_ids: Vec::new(),
            documents_required_names: vec!["Docs".to_owned()],
        },
        ..SandboxConfig::default()
    })
    .await;
    let client = client(&sandbox);
    let (_, denied) = person_request("111-11-1111", "Mallory");
    let (_, docs) = person_request("222-22-2222", "Docs");
    let denied = client.create_identity(&denied).await.unwrap();
    let docs = client.create_identity(&docs).await.unwrap();
    for (id, kind) in [
        (&denied.id, "identity.denied"),
        (&docs.id, "identity.documents_required"),
    ] {
        let event = sandbox
            .wait_for_event(WAIT, |e| e.object["identity_id"] == json!(id))
            .await
            .expect("decided");
        assert_eq!(event.event_type, kind);
        let fetched = client.get_event(&event.id).await.unwrap();
        match mapping::decision(&fetched).unwrap() {
            Decision::Denied => assert_eq!(kind, "identity.denied"),
            Decision::DocumentsRequired { documents } => assert!(!documents.is_empty()),
            other => panic!("unexpected {other:?}"),
        }
    }
    let still = client.get_identity(&docs.id).await.unwrap();
    assert_eq!(still.status(), Some(IdentityStatus::Pending));
}

#[tokio::test]
async fn disabling_an_identity_is_mirrored_and_evented() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let (identity, _) = approved_account(&sandbox, &client).await;
    let disabled = client.disable_identity(&identity).await.unwrap();
    assert_eq!(disabled.status(), Some(IdentityStatus::Disabled));
    assert_eq!(disabled.user_disabled, Some(true));
    let event = sandbox
        .wait_for_event(WAIT, |e| e.event_type == "identity.disabled")
        .await
        .unwrap();
    assert_eq!(event.object["identity_id"], json!(identity));
}
