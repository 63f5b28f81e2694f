//! OAuth2: one token for many calls, renewal before expiry, one re-authentication on 401.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use onboarding_paxos::model::EventsQuery;
use onboarding_paxos::{Error, PaxosClient, PaxosConfig};
use paxos_sandbox::SandboxConfig;
use serde_json::{json, Value};

use crate::support::{client, config, sandbox, sandbox_with};

/// A cheap authenticated call.
async fn call(client: &PaxosClient) -> Result<(), Error> {
    client.list_events(&EventsQuery::default()).await.map(drop)
}

#[tokio::test]
async fn one_token_serves_many_calls_even_concurrent_ones() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let calls = (0..20).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { call(&client).await })
    });
    for handle in calls.collect::<Vec<_>>() {
        handle.await.unwrap().unwrap();
    }
    call(&client).await.unwrap();
    assert_eq!(sandbox.stats().tokens_issued, 1);
    assert_eq!(sandbox.requests().len(), 21);
}

#[tokio::test]
async fn a_token_is_renewed_before_it_expires() {
    // Tokens live 30 s; the client renews any token with less than 60 s left, so every call
    // needs a new one. With 3600 s tokens the same client reuses its token.
    let sandbox = sandbox_with(SandboxConfig {
        token_ttl: Duration::from_secs(30),
        ..SandboxConfig::default()
    })
    .await;
    let mut cfg = config(&sandbox);
    cfg.renew_before = Duration::from_secs(60);
    let renewing = PaxosClient::new(cfg.clone()).unwrap();
    for _ in 0..3 {
        call(&renewing).await.unwrap();
    }
    assert_eq!(sandbox.stats().tokens_issued, 3);

    cfg.renew_before = Duration::from_secs(10);
    let caching = PaxosClient::new(cfg).unwrap();
    for _ in 0..3 {
        call(&caching).await.unwrap();
    }
    assert_eq!(sandbox.stats().tokens_issued, 4);
}

#[tokio::test]
async fn an_expired_token_is_renewed_once_and_the_call_repeated() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    call(&client).await.unwrap();
    sandbox.faults().expire_tokens();
    call(&client).await.unwrap();
    assert_eq!(sandbox.stats().tokens_issued, 2);
    let statuses: Vec<u16> = sandbox.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 401, 200]);
}

#[tokio::test]
async fn a_second_401_is_not_retried_again() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    sandbox.faults().fail_next(2, StatusCode::UNAUTHORIZED);
    let err = call(&client).await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized), "{err:?}");
    assert_eq!(sandbox.stats().tokens_issued, 2);
    assert_eq!(sandbox.requests().len(), 2);
}

#[tokio::test]
async fn wrong_credentials_are_unauthorized_without_retries() {
    let sandbox = sandbox().await;
    let mut cfg = config(&sandbox);
    cfg.client_secret = "wrong".to_owned().into();
    let client = PaxosClient::new(cfg).unwrap();
    let err = call(&client).await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized), "{err:?}");
    assert_eq!(sandbox.stats().token_requests_refused, 1);
    assert!(sandbox.requests().is_empty());
}

#[tokio::test]
async fn the_secret_never_appears_in_debug_output() {
    let sandbox = sandbox().await;
    let cfg = config(&sandbox);
    let client = PaxosClient::new(cfg.clone()).unwrap();
    call(&client).await.unwrap();
    for text in [format!("{cfg:?}"), format!("{client:?}")] {
        assert!(!text.contains(&sandbox.client_secret), "{text}");
        assert!(!text.contains("sbx_"), "a token leaked: {text}");
    }
}

/// A stand-in OAuth server and API on loopback whose tokens claim `expires_in`; it counts the
/// tokens it issues. The base URL serves both, as the sandbox does.
async fn server_with_expires_in(expires_in: Value) -> (String, Arc<AtomicUsize>) {
    let issued = Arc::new(AtomicUsize::new(0));
    let counter = issued.clone();
    let app = Router::new()
        .route(
            "/oauth2/token",
            post(move || {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let body = json!({"access_token": format!("t-{n}"), "expires_in": expires_in});
                async move { Json(body) }
            }),
        )
        .fallback(|| async { Json(json!({"events": []})) });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("bound"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, issued)
}

#[tokio::test]
async fn a_huge_expires_in_is_capped_instead_of_overflowing() {
    for expires_in in [json!(u64::MAX), json!(u64::MAX.to_string())] {
        let (url, issued) = server_with_expires_in(expires_in).await;
        let client = PaxosClient::new(PaxosConfig::new(&url, &url, "id", "secret")).unwrap();
        call(&client).await.unwrap();
        call(&client).await.unwrap();
        // Still a long-lived token: the second call reuses it.
        assert_eq!(issued.load(Ordering::SeqCst), 1);
    }
}
