//! Decisions are delivered as webhooks with the configured header; drops are injectable.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use paxos_sandbox::{DecisionConfig, SandboxConfig, WebhookConfig};
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::support::{person, Api, WAIT};

/// One delivery: its auth header and body.
type Delivery = (Option<String>, Value);

/// A receiver recording each delivery.
#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<Delivery>>>,
    arrived: Arc<Notify>,
}

impl Receiver {
    async fn start(self) -> String {
        async fn accept(State(r): State<Receiver>, headers: HeaderMap, Json(body): Json<Value>) {
            let key = headers
                .get("x-paxos-webhook-key")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            r.seen.lock().unwrap().push((key, body));
            r.arrived.notify_waiters();
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/webhooks", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/webhooks", post(accept))
            .with_state(self);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    async fn wait_for(&self, n: usize) -> Vec<Delivery> {
        tokio::time::timeout(WAIT, async {
            loop {
                let notified = self.arrived.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self.seen.lock().unwrap().len() >= n {
                    return self.seen.lock().unwrap().clone();
                }
                notified.await;
            }
        })
        .await
        .expect("deliveries arrive")
    }
}

fn config(url: String, delay: Duration) -> SandboxConfig {
    SandboxConfig {
        decisions: DecisionConfig {
            delay: Some(delay),
            deny_cip_ids: vec!["999-*".to_owned()],
            ..DecisionConfig::default()
        },
        webhook: Some(WebhookConfig::new(url, "X-Paxos-Webhook-Key", "s3cret")),
        ..SandboxConfig::default()
    }
}

#[tokio::test]
async fn decisions_are_delivered_as_metadata_only_webhooks_with_the_header() {
    let receiver = Receiver::default();
    let url = receiver.clone().start().await;
    let api = Api::start(config(url, Duration::from_millis(20))).await;
    let (_, approved) = api
        .post("/identity/identities", person("r-1", "123-45-6789"))
        .await;
    let (_, denied) = api
        .post("/identity/identities", person("r-2", "999-45-6789"))
        .await;
    let deliveries = receiver.wait_for(2).await;
    let events = api.sandbox.events();
    for (key, body) in &deliveries {
        assert_eq!(key.as_deref(), Some("s3cret"));
        let event = events.iter().find(|e| json!(e.id) == body["id"]).unwrap();
        assert_eq!(body["type"], json!(event.event_type));
        assert_eq!(body["source"], json!("com.paxos"));
        assert_eq!(body["object"], json!("event"));
        assert!(body["time"].is_string());
        assert_eq!(body.as_object().unwrap().len(), 5, "metadata only: {body}");
    }
    let kind_of = |id: &Value| {
        events
            .iter()
            .find(|e| e.object["identity_id"] == *id)
            .map(|e| e.event_type.clone())
            .unwrap()
    };
    assert_eq!(kind_of(&approved["id"]), "identity.approved");
    assert_eq!(kind_of(&denied["id"]), "identity.denied");
}

#[tokio::test]
async fn dropped_webhooks_leave_the_event_retrievable() {
    let receiver = Receiver::default();
    let url = receiver.clone().start().await;
    let api = Api::start(config(url, Duration::ZERO)).await;
    api.sandbox.faults().drop_webhooks(1);
    api.post("/identity/identities", person("r-1", "123-45-6789"))
        .await;
    let stats = api
        .sandbox
        .wait_for_stats(WAIT, |s| s.webhooks_dropped == 1)
        .await
        .expect("the delivery is dropped");
    assert_eq!(stats.webhooks_delivered, 0);
    let event = api.sandbox.events().pop().unwrap();
    let (status, fetched) = api.get(&format!("/events/{}", event.id)).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert_eq!(fetched["type"], json!("identity.approved"));

    // Paxos retries deliveries; the sandbox can redeliver on demand.
    assert!(api.sandbox.redeliver(&event.id));
    let deliveries = receiver.wait_for(1).await;
    assert_eq!(deliveries[0].1["id"], json!(event.id));
}
