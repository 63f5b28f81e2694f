//! The webhook receiver and the events poller: authentication, dedupe, acting only on the
//! fetched event, and catch-up after dropped deliveries.

use std::time::Duration;

use onboarding_ledger::domain::vocab::IdentityStatus;
use onboarding_ledger::domain::{event_names, Decision, IdentityId};
use onboarding_mirror::{WebhookAuth, WebhookReceiver, WEBHOOK_PATH};
use paxos_sandbox::{DecisionConfig, SandboxConfig, SandboxDecision, WebhookConfig};
use serde_json::json;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::support::*;

const HEADER: &str = "X-Paxos-Webhook-Key";
const SECRET: &str = "s3cret-webhook-value";

/// A receiver served on loopback; its URL.
async fn receiver(w: &World) -> (WebhookReceiver, String, CancellationToken) {
    let receiver = WebhookReceiver::new(
        WebhookAuth::new(HEADER, SECRET).expect("a header name"),
        w.recorder.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}{WEBHOOK_PATH}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    tokio::spawn(onboarding_mirror::serve(
        listener,
        receiver.router(),
        stop.clone(),
    ));
    (receiver, url, stop)
}

/// A person submitted and mirrored, Paxos sending webhooks to a receiver: the world, the
/// receiver, its stop token, the ledger id and the Paxos id.
async fn person_behind_webhooks(
    pool: &PgPool,
) -> (
    World,
    WebhookReceiver,
    CancellationToken,
    IdentityId,
    String,
) {
    let w = world_with(pool, manual_decisions()).await;
    let (receiver, url, stop) = receiver(&w).await;
    w.sandbox
        .set_webhook(Some(WebhookConfig::new(&url, HEADER, SECRET)));
    let id = submit_person(&w.ledger).await;
    mirror_all(&w).await;
    let paxos_id = paxos_identity_id(&w, id).await;
    (w, receiver, stop, id, paxos_id)
}

/// The identity's status in the ledger (it must exist).
async fn status_in_ledger(w: &World, id: IdentityId) -> Option<IdentityStatus> {
    w.ledger.identity(id).await.unwrap().unwrap().status()
}

fn manual_decisions() -> SandboxConfig {
    SandboxConfig {
        decisions: DecisionConfig {
            delay: None,
            ..DecisionConfig::default()
        },
        ..SandboxConfig::default()
    }
}

fn decisions_of(events: &[onboarding_ledger::RecordedEvent]) -> usize {
    events
        .iter()
        .filter(|e| e.event_type == event_names::DECISION_RECORDED)
        .count()
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_webhook_records_the_decision_once_even_when_delivered_twice(pool: PgPool) {
    let (w, receiver, _stop, id, paxos_id) = person_behind_webhooks(&pool).await;

    let event = w
        .sandbox
        .decide(&paxos_id, SandboxDecision::Approve)
        .expect("decided");
    let stats = receiver.wait_for(WAIT, |s| s.recorded == 1).await;
    assert_eq!(stats.recorded, 1);
    assert!(w.sandbox.redeliver(&event.id));
    let stats = receiver.wait_for(WAIT, |s| s.duplicates == 1).await;
    assert_eq!(stats.duplicates, 1, "{stats:?}");

    assert_eq!(
        status_in_ledger(&w, id).await,
        Some(IdentityStatus::Approved)
    );
    let events = w
        .ledger
        .events_of(event_names::IDENTITY, &id.to_string())
        .await
        .unwrap();
    assert_eq!(decisions_of(&events), 1);
    let fetches = requests(&w.sandbox, "GET", &format!("/events/{}", event.id));
    assert_eq!(fetches.len(), 1, "the duplicate was not even fetched");
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_webhook_with_a_wrong_or_missing_auth_header_is_refused(pool: PgPool) {
    let w = world_with(&pool, manual_decisions()).await;
    let (receiver, url, _stop) = receiver(&w).await;
    let http = reqwest::Client::new();
    let body = json!({"id": "evt-1", "type": "identity.approved", "source": "com.paxos",
                      "time": "2026-01-01T00:00:00Z", "object": "event"});
    let wrong = http
        .post(&url)
        .header(HEADER, "s3cret-webhook-valuX")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let missing = http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    let stats = receiver.stats();
    assert_eq!(stats.unauthorized, 2);
    assert_eq!(stats.accepted, 0);
    assert!(
        requests(&w.sandbox, "GET", "/events/evt-1").is_empty(),
        "nothing fetched"
    );
}

/// Paxos's test deliveries (`is_test`) name no real event: acknowledged, never fetched (the
/// fetch would answer 404 and count as a failure).
#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_test_delivery_is_acknowledged_and_not_fetched(pool: PgPool) {
    let w = world_with(&pool, manual_decisions()).await;
    let (receiver, url, _stop) = receiver(&w).await;
    let body = json!({"id": "evt-test", "type": "identity.approved", "source": "com.paxos",
                      "time": "2026-01-01T00:00:00Z", "object": "event", "is_test": true});
    let answer = reqwest::Client::new()
        .post(&url)
        .header(HEADER, SECRET)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let stats = receiver.stats();
    assert_eq!((stats.tests, stats.accepted, stats.failed), (1, 0, 0));
    assert!(requests(&w.sandbox, "GET", "/events/evt-test").is_empty());
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_webhook_body_is_not_trusted_only_the_fetched_event_counts(pool: PgPool) {
    let w = world_with(&pool, manual_decisions()).await;
    let (receiver, url, _stop) = receiver(&w).await;
    let id = submit_person(&w.ledger).await;
    mirror_all(&w).await;
    let paxos_id = paxos_identity_id(&w, id).await;
    let event = w
        .sandbox
        .decide(&paxos_id, SandboxDecision::Deny)
        .expect("decided");
    // A delivery claiming approval for the denial event.
    let lie = json!({"id": event.id, "type": "identity.approved", "source": "com.paxos",
                     "time": "2026-01-01T00:00:00Z", "object": "event"});
    let answer = reqwest::Client::new()
        .post(&url)
        .header(HEADER, SECRET)
        .json(&lie)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    receiver.wait_for(WAIT, |s| s.handled == 1).await;
    assert_eq!(
        status_in_ledger(&w, id).await,
        Some(IdentityStatus::Denied),
        "acted on as fetched"
    );
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn the_events_poller_catches_up_after_dropped_webhooks(pool: PgPool) {
    let w = world_with(&pool, manual_decisions()).await;
    let (receiver, url, _stop) = receiver(&w).await;
    w.sandbox
        .set_webhook(Some(WebhookConfig::new(&url, HEADER, SECRET)));
    let first = submit_person(&w.ledger).await;
    let second = submit_person(&w.ledger).await;
    mirror_all(&w).await;
    w.sandbox.faults().drop_webhooks(2);
    let p1 = paxos_identity_id(&w, first).await;
    let p2 = paxos_identity_id(&w, second).await;
    w.sandbox.decide(&p1, SandboxDecision::Approve).unwrap();
    w.sandbox
        .decide(
            &p2,
            SandboxDecision::RequireDocuments(vec!["PROOF_OF_ADDRESS".to_owned()]),
        )
        .unwrap();
    w.sandbox
        .wait_for_stats(WAIT, |s| s.webhooks_dropped == 2)
        .await
        .expect("both dropped");
    assert_eq!(receiver.stats().accepted, 0);

    let report = w.poller.catch_up().await.expect("catch up");
    assert_eq!(report.recorded, 2);
    assert_eq!(
        status_in_ledger(&w, first).await,
        Some(IdentityStatus::Approved)
    );
    let two = w.ledger.identity(second).await.unwrap().unwrap();
    assert_eq!(two.documents_required(), ["PROOF_OF_ADDRESS".to_owned()]);
    // The cursor moved: a second catch-up reads nothing new.
    let again = w.poller.catch_up().await.expect("catch up");
    assert_eq!(again.recorded, 0);
    let _ = (Decision::Approved, Duration::ZERO);
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn the_dedupe_memory_is_bounded_and_a_forgotten_event_records_nothing_new(pool: PgPool) {
    let w = world_with(&pool, manual_decisions()).await;
    let recorder =
        onboarding_mirror::DecisionRecorder::with_capacity(w.ledger.clone(), w.paxos.clone(), 2);
    let receiver = WebhookReceiver::new(
        WebhookAuth::new(HEADER, SECRET).expect("a header name"),
        recorder.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}{WEBHOOK_PATH}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    tokio::spawn(onboarding_mirror::serve(
        listener,
        receiver.router(),
        stop.clone(),
    ));
    w.sandbox
        .set_webhook(Some(WebhookConfig::new(&url, HEADER, SECRET)));
    let ids = [
        submit_person(&w.ledger).await,
        submit_person(&w.ledger).await,
        submit_person(&w.ledger).await,
    ];
    mirror_all(&w).await;
    let mut decided = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let paxos_id = paxos_identity_id(&w, *id).await;
        decided.push(
            w.sandbox
                .decide(&paxos_id, SandboxDecision::Approve)
                .expect("decided"),
        );
        let stats = receiver.wait_for(WAIT, |s| s.handled == n as u64 + 1).await;
        assert_eq!(stats.handled, n as u64 + 1, "{stats:?}");
        assert!(recorder.remembered() <= 2, "the bound holds");
    }
    assert_eq!(recorder.remembered(), 2);
    assert!(
        !recorder.is_seen(&decided[0].id),
        "the oldest was forgotten"
    );

    // A recent event delivered again is still dropped without a fetch.
    assert!(w.sandbox.redeliver(&decided[2].id));
    let stats = receiver.wait_for(WAIT, |s| s.duplicates == 1).await;
    assert_eq!(stats.duplicates, 1, "{stats:?}");
    let fetches = |event: &str| requests(&w.sandbox, "GET", &format!("/events/{event}")).len();
    assert_eq!(fetches(&decided[2].id), 1);

    // The forgotten one is fetched again, and the ledger records nothing new: its change from
    // PENDING is not the next one for an identity already approved (and a decision is
    // idempotent on its Paxos event id besides).
    assert!(w.sandbox.redeliver(&decided[0].id));
    let stats = receiver.wait_for(WAIT, |s| s.superseded == 1).await;
    assert_eq!((stats.handled, stats.superseded), (3, 1), "{stats:?}");
    assert_eq!(fetches(&decided[0].id), 2);
    for id in ids {
        let events = w
            .ledger
            .events_of(event_names::IDENTITY, &id.to_string())
            .await
            .unwrap();
        assert_eq!(decisions_of(&events), 1, "one decision for {id}");
    }
    assert_eq!(recorder.remembered(), 2);
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_webhook_out_of_order_is_left_to_the_poller_which_applies_paxos_order(pool: PgPool) {
    let (w, receiver, _stop, id, paxos_id) = person_behind_webhooks(&pool).await;
    // Paxos approves, then disables; both first deliveries are lost.
    w.sandbox.faults().drop_webhooks(2);
    let approved = w
        .sandbox
        .decide(&paxos_id, SandboxDecision::Approve)
        .unwrap();
    let disabled = w
        .sandbox
        .decide(&paxos_id, SandboxDecision::Disable)
        .unwrap();
    w.sandbox
        .wait_for_stats(WAIT, |s| s.webhooks_dropped == 2)
        .await
        .expect("both dropped");

    // Redelivered the wrong way round: the disable records a change from APPROVED, which the
    // ledger has not reached, so it is neither recorded nor remembered as handled; the approval
    // (from PENDING) is next in line and recorded.
    assert!(w.sandbox.redeliver(&disabled.id));
    let stats = receiver.wait_for(WAIT, |s| s.superseded == 1).await;
    assert_eq!((stats.recorded, stats.superseded), (0, 1), "{stats:?}");
    assert!(w.sandbox.redeliver(&approved.id));
    let stats = receiver.wait_for(WAIT, |s| s.recorded == 1).await;
    assert_eq!((stats.recorded, stats.superseded), (1, 1), "{stats:?}");
    assert_eq!(
        status_in_ledger(&w, id).await,
        Some(IdentityStatus::Approved)
    );

    // The poller applies the disable in its place and ends where Paxos is.
    let report = w.poller.catch_up().await.expect("catch up");
    assert_eq!(report.recorded, 1);
    assert_eq!(
        status_in_ledger(&w, id).await,
        Some(IdentityStatus::Disabled)
    );

    // A replay of the old approval changes nothing either.
    assert!(w.sandbox.redeliver(&approved.id));
    let stats = receiver.wait_for(WAIT, |s| s.duplicates == 1).await;
    assert_eq!(stats.duplicates, 1, "{stats:?}");
    assert_eq!(
        status_in_ledger(&w, id).await,
        Some(IdentityStatus::Disabled)
    );
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_webhook_whose_predecessors_were_lost_waits_for_the_poller(pool: PgPool) {
    let (w, receiver, _stop, id, paxos_id) = person_behind_webhooks(&pool).await;
    // Approved, disabled, approved again at Paxos; only the last delivery arrives.
    w.sandbox.faults().drop_webhooks(2);
    w.sandbox
        .decide(&paxos_id, SandboxDecision::Approve)
        .unwrap();
    w.sandbox
        .decide(&paxos_id, SandboxDecision::Disable)
        .unwrap();
    w.sandbox
        .wait_for_stats(WAIT, |s| s.webhooks_dropped == 2)
        .await
        .expect("both dropped");
    w.sandbox
        .decide(&paxos_id, SandboxDecision::Approve)
        .unwrap();
    // It records a change from DISABLED, which the ledger has not reached: not recorded yet
    // (recorded first, the poller's older disable would have ended the ledger DISABLED).
    let stats = receiver.wait_for(WAIT, |s| s.superseded == 1).await;
    assert_eq!((stats.recorded, stats.superseded), (0, 1), "{stats:?}");

    let report = w.poller.catch_up().await.expect("catch up");
    assert_eq!(report.recorded, 3);
    assert_eq!(
        status_in_ledger(&w, id).await,
        Some(IdentityStatus::Approved),
        "as at Paxos"
    );
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn an_event_the_identity_refuses_for_good_does_not_hold_the_poller_back(pool: PgPool) {
    let w = world_with(&pool, manual_decisions()).await;
    let id = submit_person(&w.ledger).await;
    mirror_all(&w).await;
    let paxos_id = paxos_identity_id(&w, id).await;
    // Documents required without naming any: the ledger refuses that decision, every time.
    w.sandbox
        .decide(&paxos_id, SandboxDecision::RequireDocuments(Vec::new()))
        .unwrap();
    w.sandbox
        .decide(&paxos_id, SandboxDecision::Approve)
        .unwrap();

    let report = w
        .poller
        .catch_up()
        .await
        .expect("the refused event is passed over");
    assert_eq!((report.read, report.recorded), (2, 1));
    assert_eq!(
        status_in_ledger(&w, id).await,
        Some(IdentityStatus::Approved)
    );
    let again = w
        .poller
        .catch_up()
        .await
        .expect("nothing left to hold it back");
    assert_eq!(again.recorded, 0);
}

/// `n` documents-required decisions of the Paxos identity `paxos_id`, all at the instant `at`.
fn decide_at(w: &World, paxos_id: &str, at: chrono::DateTime<chrono::Utc>, n: usize) {
    w.sandbox.freeze_event_clock(Some(at));
    for _ in 0..n {
        w.sandbox
            .decide(
                paxos_id,
                SandboxDecision::RequireDocuments(vec!["PROOF_OF_ADDRESS".to_owned()]),
            )
            .unwrap();
    }
}

/// Paxos pages events by time alone and several can share an instant: a page (100 events)
/// that ends inside one must not lose the instant's other events (`created_at.gt` did, and with
/// them here the approval).
#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_page_ending_inside_an_instant_loses_none_of_its_events(pool: PgPool) {
    let w = world_with(&pool, manual_decisions()).await;
    let id = submit_person(&w.ledger).await;
    mirror_all(&w).await;
    let paxos_id = paxos_identity_id(&w, id).await;
    let t1 = chrono::Utc::now();
    decide_at(&w, &paxos_id, t1, 60);
    let t2 = t1 + chrono::TimeDelta::milliseconds(1);
    decide_at(&w, &paxos_id, t2, 59);
    w.sandbox
        .decide(&paxos_id, SandboxDecision::Approve)
        .unwrap();
    w.sandbox.freeze_event_clock(None);
    let events = w.sandbox.events();
    assert!(
        events.len() > 100 && events[99].created_at == t2,
        "a page ends inside t2"
    );

    let report = w.poller.catch_up().await.expect("catch up");
    assert_eq!(report.read, events.len());
    assert_eq!(
        status_in_ledger(&w, id).await,
        Some(IdentityStatus::Approved)
    );
    // Read from the last instant again, the events handled there are passed over.
    let again = w.poller.catch_up().await.expect("catch up");
    assert_eq!((again.read, again.recorded), (0, 0));
}

/// More events at one instant than a page holds cannot all be reached by time; the poller skips
/// the rest of that instant instead of reading the same page for ever.
#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_whole_page_at_one_instant_is_skipped_past_not_read_for_ever(pool: PgPool) {
    let w = world_with(&pool, manual_decisions()).await;
    let id = submit_person(&w.ledger).await;
    mirror_all(&w).await;
    let paxos_id = paxos_identity_id(&w, id).await;
    let before = w.sandbox.events().len();
    decide_at(&w, &paxos_id, chrono::Utc::now(), 130);
    w.sandbox.freeze_event_clock(None);

    let report = w.poller.catch_up().await.expect("catch up ends");
    assert_eq!(report.read, before + 100, "the first 100 of the instant");
}
