//! The webhook receiver: an `axum` [`Router`] an application mounts (or [`serve`]s on its
//! own). Paxos signs nothing, so a delivery only says "event X happened": the receiver checks
//! the configured header in constant time, answers at once, and a background task fetches the
//! event from Paxos and records what that returns ([`DecisionRecorder`]). Deliveries repeat
//! and arrive out of order: an event id already handled or queued is answered 200 and dropped.
//! A test delivery (`is_test`, sent to check the endpoint) is answered 200, counted
//! ([`ReceiverStats::tests`]) and never fetched.
//!
//! Memory is bounded: at most [`QUEUE_CAPACITY`] events wait to be fetched (a delivery beyond
//! that is answered 503, and Paxos delivers it again later), and the recorder remembers a
//! bounded number of recent event ids. An id forgotten and delivered again is fetched once more
//! and records nothing new, since recording a decision is idempotent on the Paxos event id.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::routing::post;
use axum::Router;
use onboarding_paxos::model::WebhookDelivery;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::decisions::{DecisionRecorder, Handled};
use crate::error::MirrorError;
use crate::lock;

/// The path the router answers deliveries on.
pub const WEBHOOK_PATH: &str = "/paxos/webhooks";

/// How many accepted deliveries may wait to be fetched before new ones are answered 503.
pub const QUEUE_CAPACITY: usize = 1024;

/// How Paxos authenticates its deliveries: a header name and value chosen in the dashboard.
#[derive(Clone)]
pub struct WebhookAuth {
    /// The header's name, e.g. `X-Paxos-Webhook-Key`.
    pub header: HeaderName,
    /// The header's value.
    pub secret: SecretString,
}

impl std::fmt::Debug for WebhookAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookAuth")
            .field("header", &self.header)
            .field("secret", &"[redacted]")
            .finish()
    }
}

impl WebhookAuth {
    /// Parses the header name; `None` when it is not a valid header name.
    pub fn new(header: &str, secret: impl Into<String>) -> Option<Self> {
        Some(Self {
            header: HeaderName::try_from(header).ok()?,
            secret: SecretString::from(secret.into()),
        })
    }

    /// Whether `headers` carry the configured value, compared in constant time. The SHA-256
    /// digests are compared, not the values: `ct_eq` on slices of different lengths answers at
    /// once, which would tell a caller the secret's length.
    fn accepts(&self, headers: &HeaderMap) -> bool {
        let Some(given) = headers.get(&self.header) else {
            return false;
        };
        let given = Sha256::digest(given.as_bytes());
        let expected = Sha256::digest(self.secret.expose_secret().as_bytes());
        given.as_slice().ct_eq(expected.as_slice()).into()
    }
}

/// Counters of a receiver, for health checks and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiverStats {
    /// Deliveries refused for a missing or wrong auth header.
    pub unauthorized: u64,
    /// Deliveries accepted and queued.
    pub accepted: u64,
    /// Deliveries of an event id already handled or queued.
    pub duplicates: u64,
    /// Events fetched and handled (recorded or ignored).
    pub handled: u64,
    /// Events whose handling recorded a decision.
    pub recorded: u64,
    /// Events whose handling failed (left for redelivery or the events poller).
    pub failed: u64,
    /// Events whose decision was no longer (or not yet) current, left to the events poller.
    pub superseded: u64,
    /// Test deliveries (`is_test`, sent from Paxos's dashboard to check the endpoint):
    /// acknowledged, never fetched or acted on.
    pub tests: u64,
}

#[derive(Clone)]
struct ReceiverState {
    auth: Arc<WebhookAuth>,
    recorder: DecisionRecorder,
    queue: mpsc::Sender<String>,
    queued: Arc<Mutex<HashSet<String>>>,
    stats: Arc<watch::Sender<ReceiverStats>>,
}

/// A running receiver: its router and a view of its counters.
#[derive(Debug)]
pub struct WebhookReceiver {
    router: Router,
    stats: watch::Receiver<ReceiverStats>,
}

impl WebhookReceiver {
    /// A receiver checking `auth` and recording through `recorder`; spawns the background task
    /// that handles queued events (it stops when the router and its clones are dropped).
    pub fn new(auth: WebhookAuth, recorder: DecisionRecorder) -> Self {
        let (queue, mut rx) = mpsc::channel::<String>(QUEUE_CAPACITY);
        let (stats_tx, stats) = watch::channel(ReceiverStats::default());
        let state = ReceiverState {
            auth: Arc::new(auth),
            recorder: recorder.clone(),
            queue,
            queued: Arc::default(),
            stats: Arc::new(stats_tx),
        };
        let worker = state.clone();
        tokio::spawn(async move {
            while let Some(event_id) = rx.recv().await {
                let result = worker.recorder.handle_event_id(&event_id).await;
                lock(&worker.queued).remove(&event_id);
                worker.stats.send_modify(|s| match &result {
                    Ok(Handled::Recorded(_)) => {
                        s.handled += 1;
                        s.recorded += 1;
                    }
                    Ok(Handled::Ignored) => s.handled += 1,
                    Ok(Handled::Duplicate) => s.duplicates += 1,
                    Ok(Handled::Superseded) => s.superseded += 1,
                    Err(_) => s.failed += 1,
                });
                if let Err(e) = result {
                    tracing::warn!(%event_id, error = %e, "webhook event not handled; the events poller will catch it up");
                }
            }
        });
        let router = Router::new()
            .route(WEBHOOK_PATH, post(receive))
            .with_state(state);
        Self { router, stats }
    }

    /// The router to mount (it answers `POST` [`WEBHOOK_PATH`]).
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// The counters so far.
    pub fn stats(&self) -> ReceiverStats {
        *self.stats.borrow()
    }

    /// Waits until the counters satisfy `ready`, or `timeout` passes; the last counters.
    pub async fn wait_for(
        &self,
        timeout: std::time::Duration,
        ready: impl Fn(&ReceiverStats) -> bool,
    ) -> ReceiverStats {
        let mut rx = self.stats.clone();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|s| ready(s))).await;
        let stats = *rx.borrow();
        stats
    }
}

async fn receive(
    State(state): State<ReceiverState>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    if !state.auth.accepts(&headers) {
        state.stats.send_modify(|s| s.unauthorized += 1);
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(delivery) = serde_json::from_slice::<WebhookDelivery>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    // A test delivery names no real event (`GET /events/{id}` knows only real ones): it only
    // checks that the endpoint answers and authenticates.
    if delivery.is_test == Some(true) {
        tracing::info!(event_id = %delivery.id, "test webhook delivery acknowledged");
        state.stats.send_modify(|s| s.tests += 1);
        return StatusCode::OK;
    }
    // Only the id is used; type and time are Paxos's to tell through GET /events/{id}.
    let fresh =
        !state.recorder.is_seen(&delivery.id) && lock(&state.queued).insert(delivery.id.clone());
    if !fresh {
        state.stats.send_modify(|s| s.duplicates += 1);
        return StatusCode::OK;
    }
    if let Err(e) = state.queue.try_send(delivery.id) {
        // Full (or stopped): not accepted, so not remembered; Paxos delivers it again.
        let id = match e {
            mpsc::error::TrySendError::Full(id) | mpsc::error::TrySendError::Closed(id) => id,
        };
        lock(&state.queued).remove(&id);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    state.stats.send_modify(|s| s.accepted += 1);
    StatusCode::OK
}

/// Serves `router` on `listener` until `shutdown` is cancelled (the standalone server of
/// `onboarding serve`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> Result<(), MirrorError> {
    let addr: Option<SocketAddr> = listener.local_addr().ok();
    tracing::info!(?addr, path = WEBHOOK_PATH, "webhook receiver listening");
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await?;
    Ok(())
}
