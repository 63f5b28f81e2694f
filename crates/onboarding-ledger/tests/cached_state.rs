//! The ledger decides on cached aggregate states; whatever another writer changed meanwhile, the
//! outcome is the one a decision on the store's state would have had, and nothing decided on a
//! stale state is stored.

use onboarding_ledger::domain::vocab::IdentityStatus;
use onboarding_ledger::domain::{event_names, IdentityError, ProfileError};
use onboarding_ledger::LedgerError;
use sqlx::PgPool;

use crate::fixtures::{self, amount, ctx};

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_stale_cached_state_never_loses_an_update(pool: PgPool) {
    let here = fixtures::ledger(&pool);
    // Another process on the same database.
    let there = fixtures::ledger(&pool);
    let profile = fixtures::open_profile(&here).await;
    fixtures::fund(&here, profile, "first", "1").await.unwrap();

    fixtures::fund(&there, profile, "elsewhere", "2")
        .await
        .unwrap();
    // `here` still remembers the profile as it was before that funding.
    fixtures::fund(&here, profile, "second", "4").await.unwrap();

    let events = here
        .events_of(event_names::PROFILE, &profile.to_string())
        .await
        .unwrap();
    let sequences: Vec<i64> = events.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, [1, 2, 3, 4]);
    let fundings: Vec<String> = fixtures::fundings(&events)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(fundings, ["first", "elsewhere", "second"]);
    // Both ledgers, and a cold one, agree on the balance.
    for ledger in [&here, &there, &fixtures::ledger(&pool)] {
        assert_eq!(fixtures::available_usd(ledger, profile).await, amount("7"));
    }
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_decision_on_a_stale_fact_of_another_aggregate_is_not_stored(pool: PgPool) {
    let here = fixtures::ledger(&pool);
    let there = fixtures::ledger(&pool);
    let owner = fixtures::approved_person(&here).await;
    let profile = fixtures::open_account(&here, owner).await.profile_id;
    fixtures::fund(&here, profile, "deposit", "500")
        .await
        .unwrap();
    // `here` now remembers the owner as approved.
    here.place_order(&ctx(), profile, fixtures::market_buy("100"))
        .await
        .unwrap();

    there
        .disable_identity(&ctx(), owner, "off-boarded".to_owned())
        .await
        .unwrap();

    // A buy decided on the remembered owner would pass; the owner is disabled.
    let refused = here
        .place_order(&ctx(), profile, fixtures::market_buy("100"))
        .await;
    match refused {
        Err(LedgerError::Profile(ProfileError::OwnerNotAllowed { status, .. })) => {
            assert_eq!(status, IdentityStatus::Disabled)
        }
        other => panic!("a buy for a disabled owner was not refused: {other:?}"),
    }
    let placed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_id = $1 AND event_type = $2",
    )
    .bind(profile.to_string())
    .bind(event_names::ORDER_PLACED)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(placed, 1, "only the first order is stored");
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_claim_lost_at_append_names_the_holder_and_leaves_nothing_behind(pool: PgPool) {
    let here = fixtures::ledger(&pool);
    let there = fixtures::ledger(&pool);
    let json = fixtures::person_json(&fixtures::unique_ssn());

    let holder = there.submit_identity_json(&ctx(), &json).await.unwrap();
    // `here` has never seen that claim: its append takes the claim and loses it.
    match here.submit_identity_json(&ctx(), &json).await {
        Err(LedgerError::Identity(IdentityError::CipIdTaken { existing })) => {
            assert_eq!(existing, holder)
        }
        other => panic!("a duplicate cip_id was not refused: {other:?}"),
    }

    let counts: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM identity_keys),
                (SELECT count(*) FROM cip_claims)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(counts, (1, 1, 1), "only the holder's event, key and claim");
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_submission_stores_its_event_key_and_claim_together(pool: PgPool) {
    let ledger = fixtures::ledger(&pool);
    let id = fixtures::submit_person(&ledger, &ctx()).await;
    let (keys, claims): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM identity_keys WHERE identity_id = $1 AND wrapped_key IS NOT NULL),
                (SELECT count(*) FROM cip_claims WHERE identity_id = $1)",
    )
    .bind(id.as_uuid())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((keys, claims), (1, 1));
    // The sealed data opens with the stored key.
    let submission = ledger.personal_data(id).await.unwrap();
    assert!(serde_json::to_string(&submission)
        .unwrap()
        .contains("tax_payer_id"));
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_stale_cached_fact_never_refuses_a_command(pool: PgPool) {
    let here = fixtures::ledger(&pool);
    let there = fixtures::ledger(&pool);
    let owner = fixtures::submit_person(&here, &ctx()).await;
    // `here` remembers the owner as pending; another process approves it.
    fixtures::approve(&there, &ctx(), owner).await;

    let opened = fixtures::open_account(&here, owner).await;
    let account = here.account(opened.account_id).await.unwrap();
    assert!(account.is_open());
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_fact_changed_while_the_append_runs_is_seen(pool: PgPool) {
    let here = fixtures::ledger(&pool);
    let owner = fixtures::approved_person(&here).await;
    let profile = fixtures::open_account(&here, owner).await.profile_id;
    fixtures::fund(&here, profile, "deposit", "500")
        .await
        .unwrap();
    // A disable event to copy, from another identity.
    let other = fixtures::approved_person(&here).await;
    here.disable_identity(&ctx(), other, "off-boarded".to_owned())
        .await
        .unwrap();

    // Another ledger's append disabling the owner, caught between its insert and its commit:
    // the lock it holds on the owner's stream is the one every ledger append takes.
    let mut writer = pool.begin().await.unwrap();
    fixtures::lock_identity_stream(&mut writer, owner, false).await;
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         SELECT aggregate_type, $1, 3, event_type, event_version, payload, metadata
           FROM events WHERE aggregate_id = $2 AND event_type = $3",
    )
    .bind(owner.to_string())
    .bind(other.to_string())
    .bind(event_names::IDENTITY_DISABLED)
    .execute(&mut *writer)
    .await
    .unwrap();

    // `here` remembers the owner as approved; its order waits for the writer, then must see it.
    let ctx = ctx();
    let order = here.place_order(&ctx, profile, fixtures::market_buy("100"));
    tokio::pin!(order);
    tokio::select! {
        placed = &mut order => panic!("the order did not wait for the open append: {placed:?}"),
        () = fixtures::wait_for_blocked_appends(&pool, 1) => {}
    }
    writer.commit().await.unwrap();
    match order.await {
        Err(LedgerError::Profile(ProfileError::OwnerNotAllowed { status, .. })) => {
            assert_eq!(status, IdentityStatus::Disabled)
        }
        other => panic!("an order raced past a disable: {other:?}"),
    }
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn an_append_that_read_nothing_still_waits_for_a_reader_of_its_stream(pool: PgPool) {
    // Disabling an identity reads no other aggregate, so its append takes the short way through
    // the fact check: it must still take the exclusive lock on its own stream, or an order
    // checking the owner's status could commit after the disable on a status read before it.
    let here = fixtures::ledger(&pool);
    let owner = fixtures::approved_person(&here).await;

    // A reader of the owner's stream (an order's append), caught between its check and its
    // commit.
    let mut reader = pool.begin().await.unwrap();
    fixtures::lock_identity_stream(&mut reader, owner, true).await;

    let ctx = ctx();
    let disable = here.disable_identity(&ctx, owner, "off-boarded".to_owned());
    tokio::pin!(disable);
    tokio::select! {
        done = &mut disable => panic!("the disable did not wait for the reader: {done:?}"),
        () = fixtures::wait_for_blocked_appends(&pool, 1) => {}
    }
    reader.commit().await.unwrap();
    disable.await.unwrap();
    let identity = here.identity(owner).await.unwrap().unwrap();
    assert_eq!(identity.status(), Some(IdentityStatus::Disabled));
}
