//! State and audit as of a past time: an identity approved later was pending then, and the
//! trail as of then stops there.

use chrono::Duration;
use onboarding_domain::event_names;
use onboarding_domain::vocab::IdentityStatus;
use onboarding_ledger::Ledger;
use sqlx::PgPool;

use crate::support::commands::{approved_person, ledger};
use crate::support::wait_sequenced;

async fn check_point_in_time(ledger: &Ledger) {
    let id = approved_person(ledger).await;
    if let Some(pool) = ledger.repository().pool() {
        wait_sequenced(pool).await;
    }
    ledger.catch_up().await.unwrap();
    let events = ledger
        .events_of(event_names::IDENTITY, &id.to_string())
        .await
        .unwrap();
    let [submitted, decided] = [&events[0], &events[1]];
    assert_eq!(submitted.event_type, event_names::IDENTITY_SUBMITTED);
    assert!(
        submitted.recorded_at < decided.recorded_at,
        "two commits, two times"
    );
    let status_at = |t| async move {
        ledger
            .identity_as_of(id, t)
            .await
            .unwrap()
            .and_then(|identity| identity.status())
    };

    let before = submitted.recorded_at - Duration::microseconds(1);
    assert_eq!(status_at(before).await, None, "not yet submitted");
    assert_eq!(
        status_at(submitted.recorded_at).await,
        Some(IdentityStatus::Pending)
    );
    let between = submitted.recorded_at + (decided.recorded_at - submitted.recorded_at) / 2;
    assert_eq!(status_at(between).await, Some(IdentityStatus::Pending));
    assert_eq!(
        status_at(decided.recorded_at).await,
        Some(IdentityStatus::Approved)
    );

    let types = |entries: Vec<onboarding_projections::AuditEntry>| -> Vec<String> {
        entries.into_iter().map(|e| e.event_type).collect()
    };
    assert!(ledger
        .audit_trail(Some(id), Some(before))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        types(ledger.audit_trail(Some(id), Some(between)).await.unwrap()),
        [event_names::IDENTITY_SUBMITTED]
    );
    assert_eq!(
        types(ledger.audit_trail(Some(id), None).await.unwrap()),
        [
            event_names::IDENTITY_SUBMITTED,
            event_names::DECISION_RECORDED
        ]
    );
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn an_identity_approved_later_was_pending_in_between_on_postgres(pool: PgPool) {
    check_point_in_time(&ledger(&pool)).await;
}

#[tokio::test]
async fn an_identity_approved_later_was_pending_in_between_in_memory() {
    check_point_in_time(&Ledger::in_memory()).await;
}
