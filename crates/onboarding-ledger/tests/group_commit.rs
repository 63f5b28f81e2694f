//! Appends made at the same moment share one statement and one commit; a group that cannot be
//! stored whole is stored append by append, each with the outcome it would have had alone.

use futures::future::join_all;
use onboarding_ledger::domain::{event_names, ProfileError, ProfileId};
use onboarding_ledger::LedgerError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::fixtures::{self, amount};

const PROFILES: usize = 12;

/// The transactions that wrote the fundings `prefix-*`.
async fn funding_transactions(pool: &PgPool, prefix: &str) -> (i64, i64) {
    sqlx::query_as(
        "SELECT count(*), count(DISTINCT transaction_id) FROM events
          WHERE event_type = $1 AND payload::text LIKE '%' || $2 || '%'",
    )
    .bind(event_names::PROFILE_FUNDED)
    .bind(prefix)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn appends_waiting_together_commit_together(_: PgPoolOptions, connect: PgConnectOptions) {
    let pool = fixtures::wide_pool(connect, 24).await;
    let ledger = fixtures::ledger(&pool);
    let mut profiles: Vec<ProfileId> = Vec::new();
    for _ in 0..PROFILES {
        profiles.push(fixtures::open_profile(&ledger).await);
    }

    let fundings = profiles
        .iter()
        .enumerate()
        .map(|(i, p)| fixtures::fund(&ledger, *p, format!("grouped-{i}"), "5"));
    let results = fixtures::gated(&pool, &ledger, PROFILES, join_all(fundings)).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");

    let (events, transactions) = funding_transactions(&pool, "grouped-").await;
    assert_eq!(events, PROFILES as i64);
    assert!(
        transactions < PROFILES as i64,
        "{PROFILES} appends in {transactions} transactions: none were grouped"
    );
    for profile in profiles {
        assert_eq!(fixtures::available_usd(&ledger, profile).await, amount("5"));
    }
    pool.close().await;
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_group_with_a_conflict_in_it_gives_each_append_its_own_outcome(
    _: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let pool = fixtures::wide_pool(connect, 24).await;
    let setup = fixtures::ledger(&pool);
    let mut profiles: Vec<ProfileId> = Vec::new();
    for _ in 0..PROFILES {
        profiles.push(fixtures::open_profile(&setup).await);
    }
    // A ledger that has not seen the profiles: the two fundings of the first one both load it
    // at the same version, and one of them must lose.
    let ledger = fixtures::ledger(&pool);
    let contested = profiles[0];
    let mut targets = profiles.clone();
    targets.push(contested);

    let fundings = targets
        .iter()
        .enumerate()
        .map(|(i, p)| fixtures::fund(&ledger, *p, format!("mixed-{i}"), "5"));
    let results = fixtures::gated(&pool, &ledger, targets.len(), join_all(fundings)).await;

    let conflicts: Vec<usize> = (results.iter().enumerate())
        .filter(|(_, r)| matches!(r, Err(LedgerError::Conflict { .. })))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(conflicts.len(), 1, "{results:?}");
    assert!(
        conflicts[0] == 0 || conflicts[0] == PROFILES,
        "only the contested profile conflicts"
    );
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), PROFILES);
    for profile in &profiles {
        assert_eq!(
            fixtures::available_usd(&ledger, *profile).await,
            amount("5")
        );
    }
    pool.close().await;
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_stale_fact_inside_a_group_refuses_only_its_own_command(
    _: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let pool = fixtures::wide_pool(connect, 24).await;
    let here = fixtures::ledger(&pool);
    let there = fixtures::ledger(&pool);
    let mut profiles = Vec::new();
    let mut owners = Vec::new();
    for _ in 0..6 {
        let owner = fixtures::approved_person(&here).await;
        let profile = fixtures::open_account(&here, owner).await.profile_id;
        fixtures::fund(&here, profile, "deposit", "1000")
            .await
            .unwrap();
        profiles.push(profile);
        owners.push(owner);
    }
    // `here` remembers the last owner as approved; another process disables it.
    let disabled = owners[5];
    there
        .disable_identity(&fixtures::ctx(), disabled, "off-boarded".to_owned())
        .await
        .unwrap();

    // The first two orders take the two slots and go alone; the others wait behind them and
    // form one group, the disabled owner's order (decided on the stale fact, and last) among
    // them.
    let ctx = fixtures::ctx();
    let orders = profiles
        .iter()
        .map(|p| here.place_order(&ctx, *p, fixtures::market_buy("100")));
    let results = fixtures::gated(&pool, &here, profiles.len(), join_all(orders)).await;

    for (i, result) in results.iter().enumerate() {
        if i == 5 {
            assert!(
                matches!(
                    result,
                    Err(LedgerError::Profile(ProfileError::OwnerNotAllowed { .. }))
                ),
                "the order of a disabled owner was not refused: {result:?}"
            );
        } else {
            assert!(result.is_ok(), "order {i}: {result:?}");
        }
    }
    let placed: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = $1")
        .bind(event_names::ORDER_PLACED)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(placed, 5);
    pool.close().await;
}
