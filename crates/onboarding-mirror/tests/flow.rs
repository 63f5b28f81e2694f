//! The whole way through: identity, decision, account, sandbox funds, an order filled and
//! settled, each with the exact request the mirror sent.

use onboarding_ledger::domain::event_names;
use onboarding_ledger::domain::vocab::IdentityStatus;
use onboarding_ledger::projections::views::MirrorState;
use serde_json::json;
use sqlx::PgPool;

use crate::support::*;

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn identity_account_funds_and_order_are_mirrored_with_their_exact_requests(pool: PgPool) {
    let w = world(&pool).await;

    // SubmitIdentity → Create Identity with ref_id = ledger id, then the link.
    let id = submit_person(&w.ledger).await;
    mirror_all(&w).await;
    let created = requests(&w.sandbox, "POST", "/identity/identities");
    assert_eq!(created.len(), 1);
    let body = created[0].body.clone().expect("a JSON body");
    assert_eq!(body["ref_id"], id.to_string());
    assert_eq!(body["person_details"]["last_name"], "Quint");
    assert_eq!(body["person_details"]["verifier_type"], "PASSTHROUGH");
    assert_eq!(
        body["customer_due_diligence"]["employment_status"],
        "FULL_TIME"
    );
    assert!(body.get("type").is_none(), "Paxos infers the type");
    let paxos_id = paxos_identity_id(&w, id).await;
    let row = w.ledger.identity_status(id).await.expect("readable");
    if let Some(row) = row {
        // The read model follows when the projector runs; the mirror state is part of it.
        assert!(matches!(
            row.mirror,
            MirrorState::Mirrored | MirrorState::NotMirrored
        ));
    }

    // Paxos approves; the poller records it with the Paxos event as the source.
    let approved = w
        .sandbox
        .wait_for_event(WAIT, |e| e.event_type == "identity.approved")
        .await
        .expect("approved");
    let report = w.poller.catch_up().await.expect("catch up");
    assert_eq!(report.recorded, 1);
    let identity = w.ledger.identity(id).await.unwrap().unwrap();
    assert_eq!(identity.status(), Some(IdentityStatus::Approved));
    let decision = w
        .ledger
        .events_of(event_names::IDENTITY, &id.to_string())
        .await
        .unwrap();
    let decided = decision
        .iter()
        .find(|e| e.event_type == event_names::DECISION_RECORDED)
        .expect("a decision");
    assert_eq!(
        decided.payload["DecisionRecorded"]["source"]["event_id"],
        json!(approved.id)
    );

    // OpenAccount → Create Account with create_profile, owner mapped, then the link.
    let opened = open_account(&w, id).await;
    mirror_all(&w).await;
    let accounts = requests(&w.sandbox, "POST", "/identity/accounts");
    assert_eq!(accounts.len(), 1);
    let body = accounts[0].body.clone().unwrap();
    assert_eq!(body["create_profile"], true);
    assert_eq!(body["account"]["identity_id"], json!(paxos_id));
    assert_eq!(body["account"]["ref_id"], opened.account_id.to_string());
    let account = w.ledger.account(opened.account_id).await.unwrap();
    let (paxos_account, paxos_profile) = account.paxos_ids().expect("linked");
    let (paxos_account, paxos_profile) = (paxos_account.to_owned(), paxos_profile.to_owned());

    // Sandbox test funds → a sandbox deposit, recorded as mirrored; a second pass repeats nothing.
    fund_sandbox(&w, opened.profile_id, "fund-1", "5000").await;
    mirror_all(&w).await;
    mirror_all(&w).await;
    let deposits = requests(
        &w.sandbox,
        "POST",
        &format!("/sandbox/profiles/{paxos_profile}/deposit"),
    );
    assert_eq!(deposits.len(), 1);
    assert_eq!(
        deposits[0].body,
        Some(json!({"asset": "USD", "amount": "5000"}))
    );
    let profile = w.ledger.profile(opened.profile_id).await.unwrap().unwrap();
    assert!(profile
        .paxos_mirrored("CreateSandboxDeposit", "fund-1")
        .is_some());

    // PlaceOrder → Create Order on the Paxos profile for the identity and account; the fill
    // is polled and settles the ledger's profile.
    let order = market_buy("1200");
    let order_id = w
        .ledger
        .place_order(&ctx(), opened.profile_id, order)
        .await
        .expect("placed");
    let report = mirror_all(&w).await;
    assert_eq!(report.open_orders, 0, "the market order is final");
    let orders = requests(
        &w.sandbox,
        "POST",
        &format!("/profiles/{paxos_profile}/orders"),
    );
    assert_eq!(orders.len(), 1);
    let body = orders[0].body.clone().unwrap();
    assert_eq!(body["ref_id"], order_id.to_string());
    assert_eq!(body["side"], "BUY");
    assert_eq!(body["type"], "MARKET");
    assert_eq!(body["market"], "BTCUSD");
    assert_eq!(body["quote_amount"], "1200");
    assert_eq!(body["identity_id"], json!(paxos_id));
    assert_eq!(body["identity_account_id"], json!(paxos_account));

    let profile = w.ledger.profile(opened.profile_id).await.unwrap().unwrap();
    assert!(profile.open_orders().is_empty());
    assert_eq!(
        profile.closed_orders()[&order_id].outcome.as_str(),
        "FILLED"
    );
    let usd = profile.balance(&"USD".parse().unwrap());
    let btc = profile.balance(&"BTC".parse().unwrap());
    assert_eq!(usd.held, amount("0"));
    assert_eq!(btc.available, amount("0.02"), "1200 USD at 60000");
    assert_eq!(usd.available, amount("3800"));
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn an_account_waits_for_its_owner_and_disabling_is_mirrored(pool: PgPool) {
    let w = world(&pool).await;
    let id = approved_person(&w).await;
    w.ledger
        .disable_identity(&ctx(), id, "customer left".to_owned())
        .await
        .expect("disabled");
    mirror_all(&w).await;
    let paxos_id = paxos_identity_id(&w, id).await;
    let updates = requests(
        &w.sandbox,
        "PUT",
        &format!("/identity/identities/{paxos_id}"),
    );
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].body, Some(json!({"set_user_disabled": true})));
    // Paxos answers with identity.disabled: already in effect, nothing more recorded.
    w.sandbox
        .wait_for_event(WAIT, |e| e.event_type == "identity.disabled")
        .await
        .expect("disabled at Paxos");
    w.poller.catch_up().await.expect("catch up");
    let identity = w.ledger.identity(id).await.unwrap().unwrap();
    assert_eq!(identity.status(), Some(IdentityStatus::Disabled));
}
