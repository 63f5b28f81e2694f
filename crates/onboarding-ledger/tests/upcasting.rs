//! Old event versions are upcast as they are loaded and never rewritten in the database.

use onboarding_ledger::domain::vocab::IdentityStatus;
use onboarding_ledger::domain::{
    event_names, Decision, DecisionSource, Identity, IdentityEvent, IdentityId,
};
use onboarding_store::aggregates::all_upcasters;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::fixtures::{self, ctx};

/// Appends a `DecisionRecorded` 0.9 event as the pre-release code wrote it.
async fn insert_0_9_decision(pool: &PgPool, id: IdentityId, sequence: i64, body: &Value) {
    sqlx::query(
        "INSERT INTO events
             (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ($1, $2, $3, $4, '0.9', $5, $6)",
    )
    .bind(event_names::IDENTITY)
    .bind(id.to_string())
    .bind(sequence)
    .bind(event_names::DECISION_RECORDED)
    .bind(json!({ event_names::DECISION_RECORDED: body }))
    .bind(json!({ "actor": "legacy-import", "origin": "migration" }))
    .execute(pool)
    .await
    .unwrap();
}

/// The stored `(event_version, payload)` of one identity event.
async fn stored_row(pool: &PgPool, id: IdentityId, sequence: i64) -> (String, Value) {
    sqlx::query_as(
        "SELECT event_version, payload FROM events
          WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3",
    )
    .bind(event_names::IDENTITY)
    .bind(id.to_string())
    .bind(sequence)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_0_9_approval_loads_as_approved_and_stays_0_9_in_the_database(pool: PgPool) {
    let ledger = fixtures::ledger(&pool);
    let id = fixtures::submit_person(&ledger, &ctx()).await;
    let old = json!({
        "decision": "APPROVED",
        "source": { "source": "compliance_officer", "officer": "x" },
        "reason": null,
        "status": "APPROVED"
    });
    insert_0_9_decision(&pool, id, 2, &old).await;

    let fresh = fixtures::ledger(&pool);
    let identity = fresh.identity(id).await.unwrap().unwrap();
    assert_eq!(identity.status(), Some(IdentityStatus::Approved));

    // The history shows the stored row; decoding it upcasts.
    let history = fresh
        .events_of(event_names::IDENTITY, &id.to_string())
        .await
        .unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].event_version, "0.9");
    let decoded = history[1].decode::<Identity>(&all_upcasters()).unwrap();
    assert_eq!(
        decoded,
        IdentityEvent::DecisionRecorded {
            decision: Decision::Approved,
            source: DecisionSource::ComplianceOfficer {
                officer: "x".to_owned()
            },
            reason: None,
            from: IdentityStatus::Pending,
            to: IdentityStatus::Approved,
        }
    );
    assert!(!history[1].summary().contains("unreadable"));

    // Commands see the upcast state: an approved person may open an account.
    fixtures::open_account(&fresh, id).await;
    fresh
        .disable_identity(&ctx(), id, "customer request".to_owned())
        .await
        .unwrap();
    let identity = fresh.identity(id).await.unwrap().unwrap();
    assert_eq!(identity.status(), Some(IdentityStatus::Disabled));

    let (version, payload) = stored_row(&pool, id, 2).await;
    assert_eq!(version, "0.9", "an old event is never rewritten");
    assert_eq!(payload, json!({ event_names::DECISION_RECORDED: old }));
    let (version, _) = stored_row(&pool, id, 3).await;
    assert_eq!(version, event_names::IDENTITY_EVENT_VERSION);
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_0_9_denial_without_a_reason_field_keeps_its_outcome(pool: PgPool) {
    let ledger = fixtures::ledger(&pool);
    let id = fixtures::submit_person(&ledger, &ctx()).await;
    insert_0_9_decision(
        &pool,
        id,
        2,
        &json!({
            "decision": "DENIED",
            "source": { "source": "paxos_event", "event_id": "evt-1" },
            "status": "DENIED"
        }),
    )
    .await;

    let identity = ledger.identity(id).await.unwrap().unwrap();
    assert_eq!(identity.status(), Some(IdentityStatus::Denied));
    // The Paxos event is known as applied: delivering it again changes nothing.
    ledger
        .record_decision(
            &ctx(),
            id,
            Decision::Denied,
            DecisionSource::PaxosEvent {
                event_id: "evt-1".to_owned(),
            },
            None,
        )
        .await
        .unwrap();
    let history = ledger
        .events_of(event_names::IDENTITY, &id.to_string())
        .await
        .unwrap();
    assert_eq!(history.len(), 2);
}
