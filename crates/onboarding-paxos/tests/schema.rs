//! Every request body the client builds from domain values validates against the request schema
//! of its operation in Paxos's OpenAPI document (and the documented rules the schema omits).

use std::collections::HashMap;

use chrono::{TimeZone, Utc};
use onboarding_domain::vocab::{AccountMemberRole, AccountType, OrderSide, OrderType, TimeInForce};
use onboarding_domain::{
    AccountId, AccountMember, AccountOpening, IdentityId, OrderId, OrderRequest, ProfileId,
};
use onboarding_paxos::mapping::{self, MappingError};
use paxos_sandbox::{rules, Operation, RequestSchemas};
use serde::Serialize;
use serde_json::{json, Value};

use crate::support::{corporation_draft, person_request, submission};

/// The body as sent, checked against the schema and the rules; panics listing violations.
fn assert_valid(op: Operation, body: &impl Serialize) -> Value {
    let value = serde_json::to_value(body).expect("serializable");
    if let Err(violations) = RequestSchemas::embedded().validate(op, &value) {
        panic!("{op} body breaks the OpenAPI schema: {violations:?}");
    }
    let broken = match op {
        Operation::CreateIdentity => rules::create_identity(&value),
        Operation::CreateAccount => rules::create_account(&value),
        Operation::CreateOrder => rules::create_order(&value),
        Operation::CreateSandboxDeposit => rules::create_sandbox_deposit(&value),
        Operation::UpdateIdentity => Vec::new(),
    };
    assert!(
        broken.is_empty(),
        "{op} body breaks the documented rules: {broken:?}"
    );
    value
}

#[test]
fn create_identity_for_a_person_matches_the_schema() {
    let (id, request) = person_request("123-45-6789", "Fischer");
    let body = assert_valid(Operation::CreateIdentity, &request);
    assert_eq!(body["ref_id"], json!(id.to_string()));
    assert_eq!(body["person_details"]["date_of_birth"], json!("1985-04-12"));
    assert_eq!(
        body["person_details"]["verifier_type"],
        json!("PASSTHROUGH")
    );
    assert!(body.get("institution_details").is_none());
}

#[test]
fn create_identity_for_an_institution_matches_the_schema() {
    let (owner, controller) = (IdentityId::new(), IdentityId::new());
    let ids = HashMap::from([
        (owner, "paxos-owner".to_owned()),
        (controller, "paxos-controller".to_owned()),
    ]);
    let id = IdentityId::new();
    let request =
        mapping::create_identity(id, &submission(&corporation_draft(owner, controller)), &ids)
            .expect("both members are mirrored");
    let body = assert_valid(Operation::CreateIdentity, &request);
    assert_eq!(
        body["institution_members"],
        json!([
            {"identity_id": "paxos-owner", "roles": ["BENEFICIAL_OWNER"], "ownership": "60", "position": "CEO"},
            {"identity_id": "paxos-controller", "roles": ["MANAGEMENT_CONTROL_PERSON"]}
        ])
    );
    assert_eq!(
        body["institution_details"]["govt_registration_date"],
        json!("2015-02-01T00:00:00Z")
    );
}

#[test]
fn an_institution_waits_for_its_members_to_be_mirrored() {
    let (owner, controller) = (IdentityId::new(), IdentityId::new());
    let ids = HashMap::from([(owner, "paxos-owner".to_owned())]);
    let err = mapping::create_identity(
        IdentityId::new(),
        &submission(&corporation_draft(owner, controller)),
        &ids,
    )
    .unwrap_err();
    assert_eq!(err, MappingError::NotMirrored(vec![controller]));
}

#[test]
fn update_identity_to_disable_matches_the_schema() {
    let body = assert_valid(Operation::UpdateIdentity, &mapping::disable_identity());
    assert_eq!(body, json!({"set_user_disabled": true}));
}

fn opening(owner: IdentityId, joint: IdentityId) -> AccountOpening {
    AccountOpening {
        account_id: AccountId::new(),
        profile_id: ProfileId::new(),
        owner,
        account_type: AccountType::Brokerage,
        members: vec![AccountMember {
            identity_id: joint,
            role: AccountMemberRole::BeneficialOwner,
        }],
        description: Some(onboarding_domain::values::Text::parse("Joint brokerage", 200).unwrap()),
    }
}

#[test]
fn create_account_matches_the_schema() {
    let (owner, joint) = (IdentityId::new(), IdentityId::new());
    let opening = opening(owner, joint);
    let ids = HashMap::from([(owner, "p-owner".to_owned()), (joint, "p-joint".to_owned())]);
    let request = mapping::create_account(&opening, &ids).unwrap();
    let body = assert_valid(Operation::CreateAccount, &request);
    assert_eq!(
        body,
        json!({
            "account": {
                "identity_id": "p-owner",
                "ref_id": opening.account_id.to_string(),
                "type": "BROKERAGE",
                "description": "Joint brokerage",
                "members": [{"identity_id": "p-joint", "roles": ["BENEFICIAL_OWNER"]}]
            },
            "create_profile": true
        })
    );
}

#[test]
fn create_sandbox_deposit_matches_the_schema() {
    let request = mapping::sandbox_deposit(&"USD".parse().unwrap(), "10000.50".parse().unwrap())
        .expect("USD is fiat");
    let body = assert_valid(Operation::CreateSandboxDeposit, &request);
    assert_eq!(body, json!({"asset": "USD", "amount": "10000.5"}));
}

#[test]
fn a_crypto_sandbox_deposit_names_its_network() {
    let request = mapping::sandbox_deposit(&"BTC".parse().unwrap(), "0.5".parse().unwrap())
        .expect("BTC has a network");
    let body = assert_valid(Operation::CreateSandboxDeposit, &request);
    assert_eq!(
        body,
        json!({"asset": "BTC", "amount": "0.5", "crypto_network": "BITCOIN"})
    );
}

#[test]
fn a_sandbox_deposit_of_an_asset_without_a_known_network_is_not_built() {
    let err = mapping::sandbox_deposit(&"DOGE".parse().unwrap(), "1".parse().unwrap())
        .expect_err("no network is known for DOGE");
    assert_eq!(
        err,
        MappingError::Unmappable {
            field: "crypto_network",
            value: "DOGE".to_owned()
        }
    );
}

#[test]
fn create_order_matches_the_schema_for_each_amount_rule() {
    let amount = |s: &str| Some(s.parse().unwrap());
    let base = OrderRequest {
        order_id: OrderId::new(),
        side: OrderSide::Buy,
        market: "BTCUSD".parse().unwrap(),
        order_type: OrderType::Market,
        base_amount: None,
        quote_amount: amount("250"),
        price: None,
        stop_price: None,
        time_in_force: TimeInForce::Ioc,
        expires_at: None,
    };
    let limit_sell = OrderRequest {
        side: OrderSide::Sell,
        order_type: OrderType::Limit,
        quote_amount: None,
        base_amount: amount("0.015"),
        price: amount("65000"),
        time_in_force: TimeInForce::Gtt,
        expires_at: Some(Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap()),
        ..base.clone()
    };
    for order in [base, limit_sell] {
        let request = mapping::create_order(&order, "p-identity", "p-account");
        let body = assert_valid(Operation::CreateOrder, &request);
        assert_eq!(body["ref_id"], json!(order.order_id.to_string()));
        assert_eq!(body["identity_id"], json!("p-identity"));
        assert_eq!(body["identity_account_id"], json!("p-account"));
    }
    let gtt = mapping::create_order(
        &OrderRequest {
            order_type: OrderType::Limit,
            base_amount: amount("1"),
            price: amount("1"),
            quote_amount: None,
            time_in_force: TimeInForce::Gtt,
            expires_at: Some(Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap()),
            order_id: OrderId::new(),
            side: OrderSide::Buy,
            market: "ETHUSD".parse().unwrap(),
            stop_price: None,
        },
        "i",
        "a",
    );
    assert_eq!(gtt.expiration_date.as_deref(), Some("1893553445000"));
}

#[test]
fn a_body_that_breaks_the_schema_is_caught() {
    // The check above is not vacuous: a wrong enum spelling is a violation.
    let (_, request) = person_request("123-45-6789", "Fischer");
    let mut body = serde_json::to_value(&request).unwrap();
    body["person_details"]["cip_id_type"] = json!("TAX_ID");
    let violations = RequestSchemas::embedded()
        .validate(Operation::CreateIdentity, &body)
        .unwrap_err();
    assert_eq!(violations[0].path, "/person_details/cip_id_type");
}
