//! What one ledger appends, another ledger on the same database loads.

use chrono::Utc;
use onboarding_ledger::domain::event_names;
use onboarding_ledger::domain::vocab::{IdentityKind, IdentityStatus};
use sqlx::PgPool;

use crate::fixtures::{self, amount, ctx};

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_decided_identity_reloads_with_its_status_and_history(pool: PgPool) {
    let before = Utc::now();
    let writer = fixtures::ledger(&pool);
    let ctx = ctx();
    let id = fixtures::submit_person(&writer, &ctx).await;
    fixtures::approve(&writer, &ctx, id).await;

    let reader = fixtures::ledger(&pool);
    let identity = reader
        .identity(id)
        .await
        .unwrap()
        .expect("the identity exists");
    assert_eq!(identity.id(), Some(id));
    assert_eq!(identity.kind(), Some(IdentityKind::Person));
    assert_eq!(identity.status(), Some(IdentityStatus::Approved));

    let events =
        fixtures::sequenced_events_of(&reader, event_names::IDENTITY, &id.to_string()).await;
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            event_names::IDENTITY_SUBMITTED,
            event_names::DECISION_RECORDED
        ]
    );
    let sequences: Vec<i64> = events.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, [1, 2]);
    assert!(events[0].position > 0);
    assert!(events[0].position < events[1].position);
    assert!(events[0].recorded_at <= events[1].recorded_at);
    // recorded_at is the database's clock: allow for a little skew against this process's.
    let slack = chrono::Duration::seconds(5);
    assert!(events[0].recorded_at >= before - slack);
    assert!(events[1].recorded_at <= Utc::now() + slack);
    for e in &events {
        assert_eq!(e.aggregate_type, event_names::IDENTITY);
        assert_eq!(e.aggregate_id, id.to_string());
        assert_eq!(e.event_version, event_names::IDENTITY_EVENT_VERSION);
    }
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn an_unknown_identity_loads_as_none(pool: PgPool) {
    let ledger = fixtures::ledger(&pool);
    let id = onboarding_ledger::domain::IdentityId::new();
    assert!(ledger.identity(id).await.unwrap().is_none());
    assert!(ledger
        .events_of(event_names::IDENTITY, &id.to_string())
        .await
        .unwrap()
        .is_empty());
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_funded_profile_reloads_with_its_balance(pool: PgPool) {
    let writer = fixtures::ledger(&pool);
    let owner = fixtures::approved_person(&writer).await;
    let opened = fixtures::open_account(&writer, owner).await;
    fixtures::fund(&writer, opened.profile_id, "dep-1", "100.50")
        .await
        .unwrap();
    fixtures::fund(&writer, opened.profile_id, "dep-2", "0.25")
        .await
        .unwrap();
    // The same funding id again is accepted and changes nothing.
    fixtures::fund(&writer, opened.profile_id, "dep-1", "100.50")
        .await
        .unwrap();

    let reader = fixtures::ledger(&pool);
    let profile = reader.profile(opened.profile_id).await.unwrap().unwrap();
    assert_eq!(profile.account_id(), Some(opened.account_id));
    assert_eq!(profile.owner(), Some(owner));
    assert_eq!(
        profile.balance(&fixtures::usd()).available,
        amount("100.75")
    );
    let account = reader.account(opened.account_id).await.unwrap();
    assert!(account.is_open());
    let events = reader
        .events_of(event_names::PROFILE, &opened.profile_id.to_string())
        .await
        .unwrap();
    assert_eq!(events.len(), 3, "opened + two distinct fundings");
}
