//! Problems come back as typed errors.

use std::collections::BTreeMap;

use onboarding_domain::vocab::{OrderSide, OrderType};
use onboarding_paxos::model::CreateOrderRequest;
use onboarding_paxos::{Duplicate, Error};
use rust_decimal_macros::dec;

use crate::flow::approved_account;
use crate::support::{client, person_request, sandbox};

#[tokio::test]
async fn a_409_on_our_own_ref_id_names_the_existing_identity() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let (_, request) = person_request("123-45-6789", "Fischer");
    let first = client.create_identity(&request).await.unwrap();
    let err = client.create_identity(&request).await.unwrap_err();
    match err {
        Error::AlreadyExists {
            existing_id,
            duplicate_of,
            ..
        } => {
            assert_eq!(existing_id, first.id);
            assert_eq!(duplicate_of, Duplicate::RefId);
        }
        other => panic!("unexpected {other:?}"),
    }
    // The retry-safe form turns it into the existing identity.
    let again = client.ensure_identity(&request).await.unwrap();
    assert!(!again.is_new());
    assert_eq!(again.get().id, first.id);
}

#[tokio::test]
async fn a_cip_id_held_by_another_identity_is_a_business_rejection() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let (_, first) = person_request("123-45-6789", "Fischer");
    let (_, second) = person_request("123-45-6789", "Other");
    let existing = client.create_identity(&first).await.unwrap();
    let err = client.ensure_identity(&second).await.unwrap_err();
    match err {
        Error::AlreadyExists {
            existing_id,
            duplicate_of: Duplicate::CipId,
            ..
        } => assert_eq!(existing_id, existing.id),
        other => panic!("unexpected {other:?}"),
    }
}

fn market_buy(quote: rust_decimal::Decimal) -> CreateOrderRequest {
    CreateOrderRequest {
        ref_id: uuid::Uuid::new_v4().to_string(),
        side: OrderSide::Buy,
        market: "BTCUSD".parse().unwrap(),
        order_type: OrderType::Market,
        base_amount: None,
        quote_amount: Some(quote),
        price: None,
        stop_price: None,
        time_in_force: None,
        expiration_date: None,
        on_behalf_of: None,
        metadata: BTreeMap::new(),
    }
}

#[tokio::test]
async fn insufficient_funds_is_typed_with_its_meta() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let (_, profile) = approved_account(&sandbox, &client).await;
    let err = client
        .create_order(&profile, &market_buy(dec!(100)))
        .await
        .unwrap_err();
    match err {
        Error::InsufficientFunds { meta } => {
            assert_eq!(meta.profile_id.as_deref(), Some(profile.as_str()));
            assert_eq!(meta.asset.as_deref(), Some("USD"));
            assert_eq!(meta.available, Some(dec!(0)));
            assert_eq!(meta.needed, Some(dec!(100)));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!err_is_transient_after(&sandbox));
}

fn err_is_transient_after(sandbox: &paxos_sandbox::SandboxHandle) -> bool {
    // Exactly one order attempt: a business rejection is not retried.
    sandbox
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/orders"))
        .count()
        != 1
}

#[tokio::test]
async fn a_malformed_order_is_a_validation_error_naming_the_field() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let (_, profile) = approved_account(&sandbox, &client).await;
    let mut order = market_buy(dec!(1));
    order.order_type = OrderType::Limit; // a limit order without base_amount and price
    let err = client.create_order(&profile, &order).await.unwrap_err();
    match &err {
        Error::Validation { status, detail, .. } => {
            assert_eq!(*status, 400);
            let detail = detail.as_ref().unwrap().as_str();
            assert!(detail.contains("/base_amount"), "{detail}");
            assert!(detail.contains("/price"), "{detail}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        !err.to_string().contains("base_amount"),
        "Display stays generic"
    );
}
