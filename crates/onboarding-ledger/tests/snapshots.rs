//! Profiles are snapshotted every `PROFILE_SNAPSHOT_EVERY` events; a snapshot must hold exactly
//! the state its events replay to, or every later load starts from a wrong balance.

use onboarding_ledger::domain::vocab::{OrderSide, OrderType, TimeInForce};
use onboarding_ledger::domain::{
    event_names, Amount, OrderId, OrderRequest, Profile, ProfileId, ReportedOrderState,
};
use onboarding_ledger::Ledger;
use onboarding_store::aggregates::PROFILE_SNAPSHOT_EVERY;
use sqlx::PgPool;

use crate::fixtures::{self, amount, ctx, usd};

/// The stored snapshot of a profile: `(last_sequence, current_snapshot, state)`.
async fn stored_snapshot(pool: &PgPool, profile: ProfileId) -> (i64, i64, Profile) {
    let (last_sequence, current_snapshot, payload): (i64, i64, serde_json::Value) = sqlx::query_as(
        "SELECT last_sequence, current_snapshot, payload FROM snapshots
              WHERE aggregate_type = $1 AND aggregate_id = $2",
    )
    .bind(event_names::PROFILE)
    .bind(profile.to_string())
    .fetch_one(pool)
    .await
    .expect("the profile has a snapshot");
    let state = serde_json::from_value(payload).expect("the snapshot is a profile");
    (last_sequence, current_snapshot, state)
}

/// Funds `profile` `count` times with distinct ids and amounts; returns the amounts.
async fn fund_many(ledger: &Ledger, profile: ProfileId, count: usize) -> Vec<Amount> {
    let mut amounts = Vec::with_capacity(count);
    for i in 0..count {
        let a = amount(&format!("{}.{:02}", i + 1, i % 100));
        fixtures::fund(ledger, profile, format!("dep-{i}"), &a.to_string())
            .await
            .unwrap();
        amounts.push(a);
    }
    amounts
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_snapshotted_profile_reloads_with_the_balance_its_events_replay_to(pool: PgPool) {
    let ledger = fixtures::ledger(&pool);
    let profile = fixtures::open_profile(&ledger).await;
    let fundings = PROFILE_SNAPSHOT_EVERY + 10;
    let amounts = fund_many(&ledger, profile, fundings).await;

    let (last_sequence, current_snapshot, snapshot) = stored_snapshot(&pool, profile).await;
    let every = i64::try_from(PROFILE_SNAPSHOT_EVERY).unwrap();
    assert_eq!((last_sequence, current_snapshot), (every, 1));
    // Event 1 opened the profile, so the snapshot covers the first `every - 1` fundings.
    assert_eq!(
        snapshot.balance(&usd()).available,
        fixtures::sum(&amounts[..PROFILE_SNAPSHOT_EVERY - 1]),
        "the snapshot holds the state its events replay to"
    );

    let expected = fixtures::sum(&amounts);
    let events = ledger
        .events_of(event_names::PROFILE, &profile.to_string())
        .await
        .unwrap();
    assert_eq!(events.len(), 1 + fundings);
    let replayed: Vec<Amount> = fixtures::fundings(&events)
        .into_iter()
        .map(|(_, a)| a)
        .collect();
    assert_eq!(fixtures::sum(&replayed), expected);
    let fresh = fixtures::ledger(&pool);
    assert_eq!(fixtures::available_usd(&fresh, profile).await, expected);

    // Commands run on the snapshotted state too: a known funding id is still recognised.
    fixtures::fund(&fresh, profile, "dep-0", "1.00")
        .await
        .unwrap();
    assert_eq!(fixtures::available_usd(&fresh, profile).await, expected);
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_snapshot_taken_inside_a_multi_event_command_covers_all_its_events(pool: PgPool) {
    let ledger = fixtures::ledger(&pool);
    let profile = fixtures::open_profile(&ledger).await;
    // Events 2..=48 fund, 49 places an order; the update then writes a fill (50) and a close
    // (51) in one command, across the snapshot boundary.
    let amounts = fund_many(&ledger, profile, PROFILE_SNAPSHOT_EVERY - 3).await;
    let order_id = OrderId::new();
    let order = OrderRequest {
        order_id,
        side: OrderSide::Buy,
        market: "BTCUSD".parse().unwrap(),
        order_type: OrderType::Market,
        base_amount: None,
        quote_amount: Some(amount("100")),
        price: None,
        stop_price: None,
        time_in_force: TimeInForce::Ioc,
        expires_at: None,
    };
    ledger.place_order(&ctx(), profile, order).await.unwrap();
    ledger
        .record_order_update(
            &ctx(),
            profile,
            order_id,
            ReportedOrderState::Cancelled,
            amount("0.0005"),
            Some(amount("100000")),
            Some("partly filled, then cancelled".to_owned()),
        )
        .await
        .unwrap();
    let events = ledger
        .events_of(event_names::PROFILE, &profile.to_string())
        .await
        .unwrap();
    assert_eq!(events.len(), PROFILE_SNAPSHOT_EVERY + 1);

    // 100 USD held, 50 spent on 0.0005 BTC, 50 released.
    let usd_left = fixtures::sum(&amounts).checked_sub(amount("50")).unwrap();
    let check = |state: &Profile, what: &str| {
        assert_eq!(
            state.balance(&usd()).available,
            usd_left,
            "{what}: USD available"
        );
        assert_eq!(state.balance(&usd()).held, Amount::ZERO, "{what}: USD held");
        let btc = state.balance(&"BTC".parse().unwrap()).available;
        assert_eq!(btc, amount("0.0005"), "{what}: BTC available");
        assert!(state.open_orders().is_empty(), "{what}: no open order");
        assert!(
            state.closed_orders().contains_key(&order_id),
            "{what}: order closed"
        );
    };
    let (last_sequence, _, snapshot) = stored_snapshot(&pool, profile).await;
    assert_eq!(last_sequence, i64::try_from(events.len()).unwrap());
    check(&snapshot, "snapshot");
    let fresh = fixtures::ledger(&pool);
    check(&fresh.profile(profile).await.unwrap().unwrap(), "reloaded");
}

#[tokio::test]
async fn the_embedded_store_snapshots_like_postgres() {
    let ledger = Ledger::in_memory();
    let profile = fixtures::open_profile(&ledger).await;
    let amounts = fund_many(&ledger, profile, PROFILE_SNAPSHOT_EVERY + 10).await;
    assert_eq!(
        fixtures::available_usd(&ledger, profile).await,
        fixtures::sum(&amounts)
    );
}
