//! Tokens, validation, uniqueness, orders, events and faults.

use std::time::Duration;

use axum::http::StatusCode as AxumStatus;
use paxos_sandbox::{DecisionConfig, SandboxConfig, SandboxDecision};
use reqwest::StatusCode;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

use crate::support::{person, Api};

#[tokio::test]
async fn the_token_endpoint_checks_credentials_and_the_api_checks_tokens() {
    let api = Api::default().await;
    let refused = api
        .http
        .post(api.sandbox.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "sandbox-client"),
            ("client_secret", "wrong"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    let anonymous = api
        .http
        .get(format!("{}/events", api.sandbox.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = api.get("/events").await;
    assert_eq!(status, StatusCode::OK);

    api.sandbox.faults().expire_tokens();
    let (status, problem) = api.get("/events").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem["status"], json!(401));
}

#[tokio::test]
async fn an_invalid_body_is_refused_naming_each_violation_without_its_value() {
    let api = Api::default().await;
    let mut body = person("r-1", "123-45-6789");
    body["person_details"]["cip_id_type"] = json!("TAX_NUMBER");
    body["person_details"]["first_name"] = json!("J<ne>");
    let (status, problem) = api.post("/identity/identities", body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let paths: Vec<&str> = problem["meta"]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"/person_details/cip_id_type"), "{problem}");
    assert!(paths.contains(&"/person_details/first_name"), "{problem}");
    let text = problem.to_string();
    assert!(
        !text.contains("TAX_NUMBER") && !text.contains("J<ne>"),
        "{text}"
    );
    assert_eq!(api.sandbox.stats().identities, 0);
}

#[tokio::test]
async fn documented_rules_beyond_the_schema_are_enforced() {
    let api = Api::default().await;
    let mut body = person("r-1", "123456789");
    body["person_details"]
        .as_object_mut()
        .unwrap()
        .remove("last_name");
    let (status, problem) = api.post("/identity/identities", body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("/person_details/last_name: is required"),
        "{detail}"
    );
    assert!(
        detail.contains("/person_details/cip_id: must have the format xxx-xx-xxxx"),
        "{detail}"
    );

    let (status, _) = api
        .post("/identity/identities", json!("not an object"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn ref_id_and_cip_id_are_unique_with_the_documented_409() {
    let api = Api::default().await;
    let (status, first) = api
        .post("/identity/identities", person("r-1", "123-45-6789"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let first_id = first["id"].clone();

    let (status, problem) = api
        .post("/identity/identities", person("r-1", "987-65-4321"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        problem["type"],
        json!("https://developer.paxos.com/docs/v2/problems/already-exists")
    );
    assert_eq!(problem["detail"], json!("duplicate ref_id provided"));
    assert_eq!(problem["meta"]["existing"]["id"], first_id);

    let (status, problem) = api
        .post("/identity/identities", person("r-2", "123-45-6789"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        problem["detail"],
        json!("duplicate (cip_id, cip_id_type, cip_id_country) provided")
    );
    assert_eq!(problem["meta"]["existing"]["id"], first_id);
    assert_eq!(api.sandbox.stats().identities, 1);
}

#[tokio::test]
async fn identities_are_answered_without_details_unless_asked() {
    let api = Api::default().await;
    let (_, created) = api
        .post("/identity/identities", person("r-1", "123-45-6789"))
        .await;
    let id = created["id"].as_str().unwrap();
    let (_, plain) = api.get(&format!("/identity/identities/{id}")).await;
    assert!(plain.get("person_details").is_none());
    assert_eq!(plain["ref_id"], json!("r-1"));
    let (_, detailed) = api
        .get(&format!("/identity/identities/{id}?include_details=true"))
        .await;
    assert_eq!(
        detailed["person_details"]["date_of_birth"],
        json!("1980-01-01T00:00:00Z")
    );
}

#[tokio::test]
async fn accounts_need_an_approved_owner_and_get_a_profile() {
    let api = Api::start(SandboxConfig {
        decisions: DecisionConfig {
            delay: None,
            ..DecisionConfig::default()
        },
        ..SandboxConfig::default()
    })
    .await;
    let (_, identity) = api
        .post("/identity/identities", person("r-1", "123-45-6789"))
        .await;
    let id = identity["id"].as_str().unwrap().to_owned();
    let body = json!({"account": {"identity_id": id, "ref_id": "acc-1"}, "create_profile": true});
    let (status, _) = api.post("/identity/accounts", body.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    api.sandbox.decide(&id, SandboxDecision::Approve).unwrap();
    let (status, account) = api.post("/identity/accounts", body.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(account["profile_id"].is_string());
    let (status, problem) = api.post("/identity/accounts", body).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(problem["meta"]["existing"]["id"], account["id"]);
}

#[tokio::test]
async fn orders_fill_at_the_set_price_and_respect_balances() {
    let api = Api::default().await;
    let identity = api.approved_person("r-1", "123-45-6789").await;
    let (account, profile) = api.account(&identity, "acc-1").await;
    let order = |ref_id: &str, quote: &str| {
        json!({"ref_id": ref_id, "side": "BUY", "market": "BTCUSD", "type": "MARKET",
               "quote_amount": quote, "identity_id": identity, "identity_account_id": account})
    };
    let (status, problem) = api
        .post(&format!("/profiles/{profile}/orders"), order("o-1", "100"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        problem["type"],
        json!("https://developer.paxos.com/docs/v2/problems/insufficient-funds")
    );
    assert_eq!(problem["meta"]["needed"], json!("100"));
    assert_eq!(problem["meta"]["available"], json!("0"));

    let (status, _) = api
        .post(
            &format!("/sandbox/profiles/{profile}/deposit"),
            json!({"asset": "USD", "amount": "1000"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    api.sandbox.set_price("BTCUSD", dec!(50000));
    let (status, filled) = api
        .post(&format!("/profiles/{profile}/orders"), order("o-1", "100"))
        .await;
    assert_eq!(status, StatusCode::OK, "{filled}");
    assert_eq!(filled["status"], json!("FILLED"));
    assert_eq!(filled["amount_filled"], json!("0.00200000"));
    assert_eq!(
        filled["volume_weighted_average_price"],
        json!("50000.00000000")
    );

    let (_, balances) = api.get(&format!("/profiles/{profile}/balances")).await;
    assert_eq!(
        balances,
        json!({"items": [
            {"asset": "BTC", "available": "0.002", "trading": "0"},
            {"asset": "USD", "available": "900", "trading": "0"}
        ]})
    );
    let (status, _) = api
        .post(&format!("/profiles/{profile}/orders"), order("o-1", "100"))
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "ref_id makes orders idempotent"
    );
}

#[tokio::test]
async fn open_limit_orders_hold_funds_and_can_be_cancelled() {
    let api = Api::default().await;
    let identity = api.approved_person("r-1", "123-45-6789").await;
    let (_, profile) = api.account(&identity, "acc-1").await;
    api.post(
        &format!("/sandbox/profiles/{profile}/deposit"),
        json!({"asset": "USD", "amount": "1000"}),
    )
    .await;
    let (_, order) = api
        .post(
            &format!("/profiles/{profile}/orders"),
            json!({"ref_id": "o-1", "side": "BUY", "market": "BTCUSD", "type": "LIMIT",
                   "base_amount": "0.01", "price": "40000"}),
        )
        .await;
    assert_eq!(order["status"], json!("OPEN"));
    let (_, balances) = api
        .get(&format!("/profiles/{profile}/balances?assets=USD"))
        .await;
    assert_eq!(balances["items"][0]["trading"], json!("400"));
    let id = order["id"].as_str().unwrap();
    let (status, answer) = api
        .send("DELETE", &format!("/profiles/{profile}/orders/{id}"), None)
        .await;
    assert_eq!((status, answer), (StatusCode::OK, json!({})));
    let (_, order) = api.get(&format!("/profiles/{profile}/orders/{id}")).await;
    assert_eq!(order["status"], json!("CANCELLED"));
    let (_, balances) = api.get(&format!("/profiles/{profile}/balances")).await;
    assert_eq!(balances["items"][0]["available"], json!("1000"));
}

/// A BTCUSD sell of `profile` with `ref_id` and the rest of `body`; the order as answered.
async fn sell(api: &Api, profile: &str, ref_id: &str, mut body: Value) -> (StatusCode, Value) {
    body["ref_id"] = json!(ref_id);
    body["side"] = json!("SELL");
    body["market"] = json!("BTCUSD");
    api.send("POST", &format!("/profiles/{profile}/orders"), Some(body))
        .await
}

/// An order's status and average price.
async fn progress(api: &Api, profile: &str, order: &Value) -> (Value, Value) {
    let id = order["id"].as_str().unwrap();
    let (_, o) = api.get(&format!("/profiles/{profile}/orders/{id}")).await;
    (
        o["status"].clone(),
        o["volume_weighted_average_price"].clone(),
    )
}

/// Stop (loss) orders are sells that rest, holding their base, until the price falls to their
/// stop: a stop market then fills at the market price, a stop limit at its limit once crossed.
#[tokio::test]
async fn stop_orders_rest_until_the_price_falls_to_their_stop() {
    let api = Api::default().await;
    let identity = api.approved_person("r-1", "123-45-6789").await;
    let (_, profile) = api.account(&identity, "acc-1").await;
    api.post(
        &format!("/sandbox/profiles/{profile}/deposit"),
        json!({"asset": "BTC", "amount": "1", "crypto_network": "BITCOIN"}),
    )
    .await;
    api.sandbox.set_price("BTCUSD", dec!(50000));
    let (_, stop_market) = sell(
        &api,
        &profile,
        "s-1",
        json!({"type": "STOP_MARKET", "base_amount": "0.25", "stop_price": "45000"}),
    )
    .await;
    let (_, stop_limit) = sell(
        &api,
        &profile,
        "s-2",
        json!({"type": "STOP_LIMIT", "base_amount": "0.25", "stop_price": "45000",
               "price": "44000"}),
    )
    .await;
    assert_eq!(stop_market["status"], json!("OPEN"));
    assert_eq!(stop_market["stop_price"], json!("45000"));
    assert_eq!(stop_limit["status"], json!("OPEN"));
    let (_, balances) = api
        .get(&format!("/profiles/{profile}/balances?assets=BTC"))
        .await;
    assert_eq!(balances["items"][0]["trading"], json!("0.5"));

    // Above the stop: nothing. At 43,000 both are triggered: the stop market fills there, the
    // stop limit (a sell at 44,000 or better) waits; at 44,500 it fills at its limit.
    api.sandbox.set_price("BTCUSD", dec!(46000));
    assert_eq!(
        progress(&api, &profile, &stop_market).await.0,
        json!("OPEN")
    );
    api.sandbox.set_price("BTCUSD", dec!(43000));
    assert_eq!(
        progress(&api, &profile, &stop_market).await,
        (json!("FILLED"), json!("43000.00000000"))
    );
    assert_eq!(progress(&api, &profile, &stop_limit).await.0, json!("OPEN"));
    api.sandbox.set_price("BTCUSD", dec!(44500));
    assert_eq!(
        progress(&api, &profile, &stop_limit).await,
        (json!("FILLED"), json!("44000.00000000"))
    );

    // Stop buys are not supported.
    let buy = json!({"ref_id": "s-3", "side": "BUY", "market": "BTCUSD", "type": "STOP_MARKET",
                     "base_amount": "0.1", "stop_price": "45000"});
    let (code, refused) = api
        .send("POST", &format!("/profiles/{profile}/orders"), Some(buy))
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{refused}");
}

/// The largest amount a `Decimal` holds.
const MAX_AMOUNT: &str = "79228162514264337593543950335";

#[tokio::test]
async fn a_deposit_that_would_overflow_the_balance_is_refused_with_400() {
    let api = Api::default().await;
    let identity = api.approved_person("r-1", "123-45-6789").await;
    let (_, profile) = api.account(&identity, "acc-1").await;
    let deposit = format!("/sandbox/profiles/{profile}/deposit");
    let (status, _) = api
        .post(&deposit, json!({"asset": "USD", "amount": MAX_AMOUNT}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = api
        .post(&deposit, json!({"asset": "USD", "amount": "1"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["detail"], json!("amount invalid: too large"));
    let (_, balances) = api.get(&format!("/profiles/{profile}/balances")).await;
    assert_eq!(balances["items"][0]["available"], json!(MAX_AMOUNT));
    assert_eq!(api.sandbox.stats().deposits, 1);
}

#[tokio::test]
async fn a_crypto_deposit_needs_a_network_that_carries_the_asset() {
    let api = Api::default().await;
    let identity = api.approved_person("r-1", "123-45-6789").await;
    let (_, profile) = api.account(&identity, "acc-1").await;
    let deposit = format!("/sandbox/profiles/{profile}/deposit");
    let refused = [
        json!({"asset": "BTC", "amount": "1"}),
        json!({"asset": "ETH", "amount": "1", "crypto_network": "BITCOIN"}),
        json!({"asset": "USD", "amount": "1", "crypto_network": "ETHEREUM"}),
    ];
    for body in refused {
        let (status, problem) = api.post(&deposit, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {problem}");
        assert_eq!(
            problem["meta"]["violations"][0]["path"],
            json!("/crypto_network"),
            "{body}: {problem}"
        );
    }
    assert_eq!(api.sandbox.stats().deposits, 0);
    let (_, balances) = api.get(&format!("/profiles/{profile}/balances")).await;
    assert_eq!(balances, json!({"items": []}), "nothing credited");

    let (status, problem) = api
        .post(
            &deposit,
            json!({"asset": "BTC", "amount": "1", "crypto_network": "BITCOIN"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{problem}");
    assert_eq!(api.sandbox.stats().deposits, 1);
}

#[tokio::test]
async fn orders_whose_amounts_overflow_are_refused_with_400_and_change_nothing() {
    let api = Api::default().await;
    let identity = api.approved_person("r-1", "123-45-6789").await;
    let (_, profile) = api.account(&identity, "acc-1").await;
    let orders = format!("/profiles/{profile}/orders");

    // A limit buy whose cost, base_amount × price, does not fit a decimal.
    let (status, problem) = api
        .post(
            &orders,
            json!({"ref_id": "o-1", "side": "BUY", "market": "BTCUSD", "type": "LIMIT",
                   "base_amount": MAX_AMOUNT, "price": "2"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");

    // A market sell of every BTC a decimal holds: its proceeds at 60,000 USD do not fit.
    let (status, _) = api
        .post(
            &format!("/sandbox/profiles/{profile}/deposit"),
            json!({"asset": "BTC", "amount": MAX_AMOUNT, "crypto_network": "BITCOIN"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = api
        .post(
            &orders,
            json!({"ref_id": "o-2", "side": "SELL", "market": "BTCUSD", "type": "MARKET",
                   "base_amount": MAX_AMOUNT}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    let (_, balances) = api.get(&format!("/profiles/{profile}/balances")).await;
    assert_eq!(
        balances,
        json!({"items": [{"asset": "BTC", "available": MAX_AMOUNT, "trading": "0"}]}),
        "no hold is left behind"
    );
    assert_eq!(api.sandbox.stats().orders, 0);
}

#[tokio::test]
async fn events_page_ascending_by_created_at() {
    let api = Api::start(SandboxConfig {
        decisions: DecisionConfig {
            delay: None,
            ..DecisionConfig::default()
        },
        ..SandboxConfig::default()
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let (_, identity) = api
            .post(
                "/identity/identities",
                person(&format!("r-{i}"), &format!("12{i}-45-6789")),
            )
            .await;
        let id = identity["id"].as_str().unwrap().to_owned();
        api.sandbox.decide(&id, SandboxDecision::Approve).unwrap();
        ids.push(id);
    }
    let (_, page) = api.get("/events?limit=2").await;
    let page = page["events"].as_array().unwrap().clone();
    assert_eq!(page.len(), 2);
    let after = page[1]["created_at"].as_str().unwrap();
    let (_, rest) = api
        .send(
            "GET",
            &format!(
                "/events?limit=2&created_at.gt={}",
                after.replace('+', "%2B")
            ),
            None,
        )
        .await;
    let rest = rest["events"].as_array().unwrap().clone();
    let seen: Vec<&Value> = page
        .iter()
        .chain(&rest)
        .map(|e| &e["object"]["identity_id"])
        .collect();
    assert_eq!(
        seen,
        ids.iter()
            .map(|i| json!(i))
            .collect::<Vec<_>>()
            .iter()
            .collect::<Vec<_>>()
    );

    let (status, event) = api
        .get(&format!("/events/{}", page[0]["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(event["type"], json!("identity.approved"));
    assert_eq!(event["object"]["new_summary_status"], json!("APPROVED"));
    let (status, _) = api.get("/events?limit=101").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api.get(&format!("/events/{}", uuid::Uuid::new_v4())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn injected_faults_fire_in_order_and_record_every_request() {
    let api = Api::default().await;
    let faults = api.sandbox.faults();
    faults.fail_next(1, AxumStatus::SERVICE_UNAVAILABLE);
    faults.rate_limit_next(1, Duration::from_secs(7));
    faults.fail_next_after_handling(1, AxumStatus::BAD_GATEWAY);
    let (s1, _) = api
        .post("/identity/identities", person("r-1", "123-45-6789"))
        .await;
    assert_eq!(s1, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(api.sandbox.stats().identities, 0, "failed before handling");
    let response = api
        .http
        .get(format!("{}/events", api.sandbox.base_url))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "7");
    let (s3, _) = api
        .post("/identity/identities", person("r-1", "123-45-6789"))
        .await;
    assert_eq!(s3, StatusCode::BAD_GATEWAY);
    assert_eq!(api.sandbox.stats().identities, 1, "failed after handling");
    assert_eq!(faults.pending(), 0);
    let recorded: Vec<(String, u16)> = api
        .sandbox
        .requests()
        .iter()
        .map(|r| (r.method.clone(), r.status))
        .collect();
    assert_eq!(
        recorded,
        [
            ("POST".into(), 503),
            ("GET".into(), 429),
            ("POST".into(), 502)
        ]
    );
    assert_eq!(
        api.sandbox.requests()[0].body.as_ref().unwrap()["ref_id"],
        json!("r-1")
    );
}
