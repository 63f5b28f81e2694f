//! Webhook deliveries: each recorded event is POSTed, metadata only, to the configured receiver
//! with the configured authentication header, tried a few times, in event order.

use std::sync::{Arc, Mutex};

use serde_json::json;
use tokio::sync::mpsc;

use crate::config::WebhookConfig;
use crate::faults::{lock, Faults};
use crate::state::{timestamp, EventRecord, Store};

/// Spawns the deliverer; events sent into the returned channel are delivered in order.
pub(crate) fn spawn_deliverer(
    store: Arc<Mutex<Store>>,
    target: Arc<Mutex<Option<WebhookConfig>>>,
    faults: Faults,
    changed: Arc<tokio::sync::Notify>,
) -> mpsc::UnboundedSender<EventRecord> {
    let (tx, mut rx) = mpsc::unbounded_channel::<EventRecord>();
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            let Some(config) = lock(&target).clone() else {
                continue;
            };
            let outcome = deliver(&http, &config, &faults, &event).await;
            {
                let mut store = lock(&store);
                match outcome {
                    Delivery::Delivered => store.stats.webhooks_delivered += 1,
                    Delivery::Dropped => store.stats.webhooks_dropped += 1,
                    Delivery::Failed => store.stats.webhooks_failed += 1,
                }
            }
            changed.notify_waiters();
        }
    });
    tx
}

enum Delivery {
    Delivered,
    Dropped,
    Failed,
}

async fn deliver(
    http: &reqwest::Client,
    config: &WebhookConfig,
    faults: &Faults,
    event: &EventRecord,
) -> Delivery {
    if faults.take_webhook_drop() {
        tracing::info!(event_id = %event.id, "webhook dropped by an injected fault");
        return Delivery::Dropped;
    }
    let body = json!({
        "id": event.id,
        "type": event.event_type,
        "source": "com.paxos",
        "time": timestamp(event.created_at),
        "object": "event",
    });
    for attempt in 1..=config.max_attempts.max(1) {
        let result = http
            .post(&config.url)
            .header(config.header_name.as_str(), config.header_value.as_str())
            .json(&body)
            .send()
            .await;
        match result {
            Ok(r) if r.status().is_success() => return Delivery::Delivered,
            Ok(r) => {
                tracing::info!(event_id = %event.id, attempt, status = r.status().as_u16(), "webhook refused")
            }
            Err(e) => tracing::info!(event_id = %event.id, attempt, error = %e, "webhook failed"),
        }
        if attempt < config.max_attempts {
            tokio::time::sleep(config.retry_delay).await;
        }
    }
    Delivery::Failed
}
