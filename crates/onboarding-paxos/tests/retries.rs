//! Transient failures are retried with backoff, without creating anything twice.

use std::time::Duration;

use axum::http::StatusCode;
use onboarding_paxos::model::EventsQuery;
use onboarding_paxos::{mapping, Created, Error, PaxosClient};

use crate::support::{client, config, person_request, sandbox};

fn statuses(sandbox: &paxos_sandbox::SandboxHandle) -> Vec<u16> {
    sandbox.requests().iter().map(|r| r.status).collect()
}

#[tokio::test]
async fn a_5xx_before_handling_is_retried() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let (_, request) = person_request("123-45-6789", "Fischer");
    sandbox
        .faults()
        .fail_next(2, StatusCode::SERVICE_UNAVAILABLE);
    let created = client.ensure_identity(&request).await.unwrap();
    assert!(created.is_new());
    assert_eq!(statuses(&sandbox), [503, 503, 200]);
    assert_eq!(sandbox.stats().identities, 1);
}

#[tokio::test]
async fn a_lost_answer_after_the_create_took_effect_resolves_to_the_existing_identity() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let (id, request) = person_request("123-45-6789", "Fischer");
    sandbox
        .faults()
        .fail_next_after_handling(1, StatusCode::BAD_GATEWAY);
    let created = client.ensure_identity(&request).await.unwrap();
    let Created::Existing(identity) = created else {
        panic!("the retry should find the identity the first attempt created");
    };
    assert_eq!(identity.ref_id.as_deref(), Some(id.to_string().as_str()));
    // POST (502, took effect), POST (409 on our ref_id), GET the existing identity.
    assert_eq!(statuses(&sandbox), [502, 409, 200]);
    assert_eq!(sandbox.stats().identities, 1);
}

#[tokio::test]
async fn a_timeout_after_the_create_took_effect_creates_nothing_twice() {
    let sandbox = sandbox().await;
    let mut cfg = config(&sandbox);
    cfg.timeout = Duration::from_millis(300);
    let client = PaxosClient::new(cfg).unwrap();
    let (_, request) = person_request("123-45-6789", "Fischer");
    sandbox.faults().delay_next(1, Duration::from_secs(3));
    let created = client.ensure_identity(&request).await.unwrap();
    assert!(!created.is_new());
    assert_eq!(sandbox.stats().identities, 1);
    let ids: Vec<_> = sandbox
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.body.as_ref().unwrap()["ref_id"].clone())
        .collect();
    assert_eq!(ids.len(), 2, "one attempt, one retry");
    assert_eq!(ids[0], ids[1], "the retry carries the same ref_id");
}

#[tokio::test]
async fn a_429_waits_for_retry_after_and_retries() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    sandbox.faults().rate_limit_next(1, Duration::from_secs(1));
    let started = tokio::time::Instant::now();
    client.list_events(&EventsQuery::default()).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was honoured"
    );
    assert_eq!(statuses(&sandbox), [429, 200]);
}

#[tokio::test]
async fn a_429_asking_for_too_long_a_wait_is_returned_to_the_caller() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    sandbox
        .faults()
        .rate_limit_next(1, Duration::from_secs(300));
    let err = client
        .list_events(&EventsQuery::default())
        .await
        .unwrap_err();
    match err {
        Error::RateLimited { retry_after } => {
            assert_eq!(retry_after, Some(Duration::from_secs(300)));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(statuses(&sandbox), [429]);
}

#[tokio::test]
async fn retries_stop_after_the_attempts_allowed() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    sandbox
        .faults()
        .fail_next(10, StatusCode::INTERNAL_SERVER_ERROR);
    let err = client
        .list_events(&EventsQuery::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Server { status: 500 }), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(
        sandbox.requests().len(),
        4,
        "max_attempts is 4 in these tests"
    );
}

#[tokio::test]
async fn permanent_failures_are_not_retried() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let err = client.get_identity("no-such-identity").await.unwrap_err();
    assert!(matches!(err, Error::NotFound), "{err:?}");
    assert_eq!(sandbox.requests().len(), 1);
}

#[tokio::test]
async fn a_deposit_without_ref_id_is_not_repeated_after_it_may_have_taken_effect() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let profile = crate::flow::approved_account(&sandbox, &client).await.1;
    sandbox
        .faults()
        .fail_next_after_handling(1, StatusCode::BAD_GATEWAY);
    let deposit =
        mapping::sandbox_deposit(&"USD".parse().unwrap(), "100".parse().unwrap()).unwrap();
    let err = client
        .sandbox_deposit(&profile, &deposit)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Server { status: 502 }), "{err:?}");
    assert_eq!(sandbox.stats().deposits, 1, "not deposited twice");

    // A 429 is refused before it is processed: that is retried.
    sandbox.faults().rate_limit_next(1, Duration::ZERO);
    client.sandbox_deposit(&profile, &deposit).await.unwrap();
    assert_eq!(sandbox.stats().deposits, 2);
}
