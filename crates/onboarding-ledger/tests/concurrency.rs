//! Optimistic concurrency: parallel writers of one profile either append whole or get
//! `LedgerError::Conflict` having written nothing; retries make every writer succeed.

use std::collections::BTreeSet;

use futures::future::join_all;
use onboarding_ledger::domain::vocab::AccountType;
use onboarding_ledger::domain::{event_names, ProfileId};
use onboarding_ledger::{AccountRequest, Ledger, LedgerError};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::fixtures::{self, amount};

const WRITERS: usize = 8;

/// Distinct powers of two, so the balance alone tells which fundings were applied.
fn power_of_two_amounts() -> Vec<String> {
    (0..WRITERS).map(|i| (1u32 << i).to_string()).collect()
}

/// Runs one funding per amount concurrently; returns the indexes that succeeded. Every failure
/// must be a conflict on this profile.
async fn fund_concurrently(
    ledger: &Ledger,
    profile: ProfileId,
    prefix: &str,
    amounts: &[String],
) -> Vec<usize> {
    let results = join_all(
        amounts
            .iter()
            .enumerate()
            .map(|(i, a)| fixtures::fund(ledger, profile, format!("{prefix}-{i}"), a)),
    )
    .await;
    let mut won = Vec::new();
    for (i, result) in results.into_iter().enumerate() {
        match result {
            Ok(()) => won.push(i),
            Err(LedgerError::Conflict {
                aggregate_type,
                aggregate_id,
            }) => {
                assert_eq!(aggregate_type, event_names::PROFILE);
                assert_eq!(aggregate_id, profile.to_string());
            }
            Err(other) => panic!("a racing funding failed with {other}"),
        }
    }
    won
}

/// Checks that the profile holds exactly the fundings `expected` (id → amount), in events and in
/// balance, and that its stream has no gap.
async fn assert_profile_holds(ledger: &Ledger, profile: ProfileId, expected: &[(String, String)]) {
    let events = ledger
        .events_of(event_names::PROFILE, &profile.to_string())
        .await
        .unwrap();
    let sequences: Vec<i64> = events.iter().map(|e| e.sequence).collect();
    let gapless: Vec<i64> = (1..=i64::try_from(events.len()).unwrap()).collect();
    assert_eq!(sequences, gapless);
    assert_eq!(
        events.len(),
        1 + expected.len(),
        "opened + one event per success"
    );

    let stored: BTreeSet<(String, String)> = fixtures::fundings(&events)
        .into_iter()
        .map(|(id, a)| (id, a.to_string()))
        .collect();
    let wanted: BTreeSet<(String, String)> = expected.iter().cloned().collect();
    assert_eq!(stored, wanted);

    let amounts: Vec<_> = expected.iter().map(|(_, a)| amount(a)).collect();
    assert_eq!(
        fixtures::available_usd(ledger, profile).await,
        fixtures::sum(&amounts)
    );
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn writers_that_loaded_the_same_version_all_but_one_conflict(
    _: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let pool = fixtures::wide_pool(connect, 16).await;
    let profile = fixtures::open_profile(&fixtures::ledger(&pool)).await;
    // A ledger that has not seen the profile: every writer loads it from the store, at the same
    // version (one that had it cached would decide again on losing, from the store).
    let ledger = fixtures::ledger(&pool);
    let amounts = power_of_two_amounts();

    // Hold every append at the door until all writers have loaded the profile and tried to
    // insert (blocked at the gate, or waiting to join the next group of appends behind the
    // blocked ones): they then race for the same sequence number, deterministically.
    let won = fixtures::gated(
        &pool,
        &ledger,
        WRITERS,
        fund_concurrently(&ledger, profile, "dep", &amounts),
    )
    .await;

    assert_eq!(won.len(), 1, "exactly one of the writers wins: {won:?}");
    let expected: Vec<_> = won
        .iter()
        .map(|&i| (format!("dep-{i}"), amounts[i].clone()))
        .collect();
    assert_profile_holds(&ledger, profile, &expected).await;
    pool.close().await;
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn racing_writers_either_append_whole_or_conflict_and_retries_let_all_succeed(
    _: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let pool = fixtures::wide_pool(connect, 16).await;
    let ledger = fixtures::ledger(&pool);
    let profile = fixtures::open_profile(&ledger).await;
    let amounts = power_of_two_amounts();

    let won = fund_concurrently(&ledger, profile, "dep", &amounts).await;
    assert!(!won.is_empty(), "someone always wins a race");
    let mut expected: Vec<_> = won
        .iter()
        .map(|&i| (format!("dep-{i}"), amounts[i].clone()))
        .collect();
    assert_profile_holds(&ledger, profile, &expected).await;

    // Each loss of a writer is another writer's commit, so 7 retries would already do.
    let patient = fixtures::ledger_with_retries(&pool, 20);
    let won = fund_concurrently(&patient, profile, "late", &amounts).await;
    assert_eq!(won, (0..WRITERS).collect::<Vec<_>>());
    expected.extend((0..WRITERS).map(|i| (format!("late-{i}"), amounts[i].clone())));
    assert_profile_holds(&patient, profile, &expected).await;
    pool.close().await;
}

/// An account and its profile are stored together or not at all: when the profile's event
/// cannot be stored, neither is the account's (two appends left the account behind).
#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn an_account_is_not_stored_without_its_profile(pool: sqlx::PgPool) {
    let ledger = fixtures::ledger(&pool);
    let owner = fixtures::approved_person(&ledger).await;
    // The profile's first event fails as a taken stream would.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_profiles() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             RAISE EXCEPTION 'profile stream taken' USING ERRCODE = 'unique_violation';
         END $$;
         CREATE TRIGGER refuse_profiles BEFORE INSERT ON events FOR EACH ROW
             WHEN (NEW.aggregate_type = 'profile') EXECUTE FUNCTION refuse_profiles();",
    )
    .execute(&pool)
    .await
    .unwrap();

    let request = AccountRequest::new(owner, AccountType::Brokerage);
    let account_id = request.account_id;
    let err = ledger
        .open_account(&fixtures::ctx(), request.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::Conflict { .. }), "{err:?}");
    let stored = ledger
        .events_of(event_names::ACCOUNT, &account_id.to_string())
        .await
        .unwrap();
    assert!(stored.is_empty(), "the account was stored alone");

    sqlx::query("DROP TRIGGER refuse_profiles ON events")
        .execute(&pool)
        .await
        .unwrap();
    let opened = ledger
        .open_account(&fixtures::ctx(), request)
        .await
        .unwrap();
    let profile = ledger.profile(opened.profile_id).await.unwrap().unwrap();
    assert_eq!(profile.account_id(), Some(account_id));
}

/// Openings racing for one caller-chosen profile id: exactly one account is opened, and the
/// others leave nothing behind (each gets a conflict, or `profile_id` in use).
#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn openings_racing_for_one_profile_leave_no_account_without_it(
    _: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let pool = fixtures::wide_pool(connect, 16).await;
    let ledger = fixtures::ledger(&pool);
    let owner = fixtures::approved_person(&ledger).await;
    for _ in 0..10 {
        let profile_id = ProfileId::new();
        let requests: Vec<AccountRequest> = (0..4)
            .map(|_| AccountRequest {
                profile_id,
                ..AccountRequest::new(owner, AccountType::Brokerage)
            })
            .collect();
        // One ledger each, so that no cache is shared: as separate processes would race.
        let ledgers: Vec<Ledger> = requests.iter().map(|_| fixtures::ledger(&pool)).collect();
        let ctx = fixtures::ctx();
        let results =
            join_all((ledgers.iter().zip(&requests)).map(|(l, r)| l.open_account(&ctx, r.clone())))
                .await;

        let mut opened = Vec::new();
        for (request, result) in requests.iter().zip(results) {
            match result {
                Ok(o) => opened.push(o.account_id),
                Err(LedgerError::Conflict { .. } | LedgerError::Invalid(_)) => {
                    let account = ledger.account(request.account_id).await.unwrap();
                    assert!(
                        account.opening().is_none(),
                        "an account without its profile"
                    );
                }
                Err(other) => panic!("a racing opening failed with {other}"),
            }
        }
        assert_eq!(opened.len(), 1, "exactly one opening wins: {opened:?}");
        let profile = ledger.profile(profile_id).await.unwrap().unwrap();
        assert_eq!(profile.account_id(), Some(opened[0]));
    }
    pool.close().await;
}

/// An opening's paired append counts among the appends in progress (the operator's gauge of
/// write pressure) while it is on its way.
#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_paired_append_counts_as_in_progress(pool: sqlx::PgPool) {
    let ledger = fixtures::ledger(&pool);
    let owner = fixtures::approved_person(&ledger).await;
    // The opening reads the owner, so its append waits for this lock on the owner's stream.
    let mut tx = pool.begin().await.unwrap();
    fixtures::lock_identity_stream(&mut tx, owner, false).await;
    let ctx = fixtures::ctx();
    let request = AccountRequest::new(owner, AccountType::Brokerage);
    let (opened, ()) = tokio::join!(ledger.open_account(&ctx, request), async {
        fixtures::wait_for_blocked_appends(&pool, 1).await;
        assert_eq!(ledger.repository().appends_in_progress(), 1);
        tx.commit().await.unwrap();
    });
    opened.expect("the opening goes through once the lock is released");
    assert_eq!(ledger.repository().appends_in_progress(), 0);
}
