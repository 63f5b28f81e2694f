//! Orders have no webhook: the mirror polls open orders until they are final, also after a
//! restart, and records their progress with the order's correlation and the Paxos order as the
//! cause.

use std::sync::Arc;

use onboarding_ledger::domain::event_names;
use onboarding_ledger::CommandContext;
use onboarding_mirror::{Checkpoints, MirrorOptions, MirrorWorker};
use rust_decimal_macros::dec;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::support::*;

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_limit_order_stays_open_is_polled_until_it_fills_then_settles(pool: PgPool) {
    let w = world(&pool).await;
    let (_, opened) = funded_account(&w, "10000").await;
    let profile_key = opened.profile_id.to_string();

    // Below the market (60000): Paxos keeps it open.
    let placing = CommandContext::new("integration-test", "test").with_correlation_id("flow-42");
    let order_id = w
        .ledger
        .place_order(&placing, opened.profile_id, limit_buy("0.1", "59000"))
        .await
        .expect("placed");
    let report = mirror_all(&w).await;
    assert_eq!(report.open_orders, 1, "{report:?}");
    let profile = w.ledger.profile(opened.profile_id).await.unwrap().unwrap();
    let paxos_order = profile
        .paxos_mirrored("CreateOrder", &order_id.to_string())
        .expect("mirrored")
        .expect("with the Paxos order id")
        .to_owned();

    // Polled again: still open, nothing recorded, the hold intact.
    let before = events(&w.ledger, event_names::PROFILE, &profile_key)
        .await
        .len();
    let report = mirror_all(&w).await;
    assert_eq!(report.open_orders, 1);
    assert_eq!(
        events(&w.ledger, event_names::PROFILE, &profile_key)
            .await
            .len(),
        before
    );
    let profile = w.ledger.profile(opened.profile_id).await.unwrap().unwrap();
    assert!(profile.open_orders().contains_key(&order_id));
    let usd = profile.balance(&"USD".parse().unwrap());
    assert_eq!((usd.available, usd.held), (amount("4100"), amount("5900")));
    let polls = requests(
        &w.sandbox,
        "GET",
        &format!(
            "/profiles/{}/orders/{paxos_order}",
            w.ledger
                .account(opened.account_id)
                .await
                .unwrap()
                .paxos_ids()
                .unwrap()
                .1
        ),
    );
    assert_eq!(polls.len(), 2, "polled once per pass");

    // The market falls through the limit: the next poll sees the fill and settles it.
    w.sandbox.set_price("BTCUSD", dec!(58000));
    let report = mirror_all(&w).await;
    assert_eq!(report.open_orders, 0);
    let profile = w.ledger.profile(opened.profile_id).await.unwrap().unwrap();
    assert!(profile.open_orders().is_empty());
    let closed = &profile.closed_orders()[&order_id];
    assert_eq!(closed.outcome.as_str(), "FILLED");
    assert_eq!(closed.filled_base, amount("0.1"));
    let usd = profile.balance(&"USD".parse().unwrap());
    let btc = profile.balance(&"BTC".parse().unwrap());
    assert_eq!(usd.available, amount("4100"), "filled at the 59000 limit");
    assert_eq!(usd.held, amount("0"));
    assert_eq!(btc.available, amount("0.1"));

    // The updates carry the order's correlation and the Paxos order as their cause.
    let stream = events(&w.ledger, event_names::PROFILE, &profile_key).await;
    let updates: Vec<_> = stream
        .iter()
        .filter(|e| {
            e.event_type == event_names::ORDER_FILLED || e.event_type == event_names::ORDER_CLOSED
        })
        .collect();
    assert_eq!(updates.len(), 2, "one fill, one close");
    for update in updates {
        assert_eq!(update.metadata.actor, "paxos-mirror");
        assert_eq!(update.metadata.correlation_id, "flow-42");
        assert_eq!(
            update.metadata.causation_id,
            format!("paxos-order:{paxos_order}")
        );
    }
    // Final: no more polling.
    let gets = w.sandbox.requests().len();
    assert_eq!(mirror_all(&w).await.open_orders, 0);
    assert_eq!(w.sandbox.requests().len(), gets);
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_new_worker_resumes_polling_an_open_order_and_mirrors_nothing_twice(pool: PgPool) {
    let w = world(&pool).await;
    let id = approved_person(&w).await;
    let opened = open_account(&w, id).await;
    fund_sandbox(&w, opened.profile_id, "fund-1", "10000").await;
    let order_id = w
        .ledger
        .place_order(&ctx(), opened.profile_id, limit_buy("0.1", "59000"))
        .await
        .expect("placed");

    // A worker running in the background mirrors the account, the funds and the order, and is
    // stopped while the order is open.
    let first = Arc::new(MirrorWorker::new(
        w.ledger.clone(),
        w.paxos.clone(),
        Checkpoints::for_ledger(&w.ledger),
        MirrorOptions::default(),
    ));
    let stop = CancellationToken::new();
    let running = tokio::spawn({
        let (first, stop) = (first.clone(), stop.clone());
        async move { first.run(stop).await }
    });
    w.sandbox
        .wait_for_stats(WAIT, |s| s.orders == 1)
        .await
        .expect("the order reaches Paxos");
    stop.cancel();
    running
        .await
        .expect("the worker task")
        .expect("the worker stops cleanly");
    drop(first);

    let made = w.sandbox.stats();
    assert_eq!(
        (made.identities, made.accounts, made.deposits, made.orders),
        (1, 1, 1, 1)
    );
    let posts = |w: &World| {
        w.sandbox
            .requests()
            .iter()
            .filter(|r| r.method == "POST" || r.method == "PUT")
            .count()
    };
    let posted = posts(&w);

    // A new worker (a restarted process) finds the open order from the log and polls it.
    let second = MirrorWorker::new(
        w.ledger.clone(),
        w.paxos.clone(),
        Checkpoints::for_ledger(&w.ledger),
        MirrorOptions::default(),
    );
    // (Whether the order's fact lies before the first worker's checkpoint or after it, where
    // the pass meets it, depends on how far the first worker got.)
    let report = second.run_once().await.expect("the pass runs");
    assert_eq!(report.open_orders, 1, "{report:?}");
    assert_eq!(report.waiting, None);
    drop(second);
    // Now the fact is certainly before the checkpoint: yet another worker restores it from
    // the log before its first pass.
    let third = MirrorWorker::new(
        w.ledger.clone(),
        w.paxos.clone(),
        Checkpoints::for_ledger(&w.ledger),
        MirrorOptions::default(),
    );
    let report = third.run_once().await.expect("the pass runs");
    assert_eq!((report.handled, report.open_orders), (0, 1), "{report:?}");
    w.sandbox.set_price("BTCUSD", dec!(58000));
    let report = third.run_once().await.expect("the pass runs");
    assert_eq!(report.open_orders, 0, "{report:?}");

    let profile = w.ledger.profile(opened.profile_id).await.unwrap().unwrap();
    assert_eq!(
        profile.closed_orders()[&order_id].outcome.as_str(),
        "FILLED"
    );
    assert_eq!(
        profile.balance(&"USD".parse().unwrap()).available,
        amount("4100")
    );
    let now = w.sandbox.stats();
    assert_eq!(
        (now.identities, now.accounts, now.deposits, now.orders),
        (made.identities, made.accounts, made.deposits, made.orders),
        "no Paxos resource created twice"
    );
    assert_eq!(posts(&w), posted, "no create or update sent again");
    let mirrored = events(
        &w.ledger,
        event_names::PROFILE,
        &opened.profile_id.to_string(),
    )
    .await
    .iter()
    .filter(|e| e.event_type == event_names::PROFILE_PAXOS_MIRRORED)
    .count();
    assert_eq!(mirrored, 2, "one deposit, one order");
}

/// A stop loss (a STOP_MARKET sell) is sent with its stop price, rests at Paxos until the price
/// falls to its stop, then fills at the market price and settles in the ledger.
#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_stop_loss_rests_until_the_price_falls_to_its_stop_then_settles(pool: PgPool) {
    use onboarding_ledger::domain::vocab::{OrderSide, OrderType, TimeInForce};
    use onboarding_ledger::domain::{FundingMethod, OrderId, OrderRequest};

    let w = world(&pool).await;
    let id = approved_person(&w).await;
    let opened = open_account(&w, id).await;
    fund_with(
        &w,
        opened.profile_id,
        "btc-1",
        ("BTC", "1"),
        FundingMethod::SandboxTestFunds,
    )
    .await;
    let stop_loss = OrderRequest {
        order_id: OrderId::new(),
        side: OrderSide::Sell,
        market: "BTCUSD".parse().expect("a market"),
        order_type: OrderType::StopMarket,
        base_amount: Some(amount("0.25")),
        quote_amount: None,
        price: None,
        stop_price: Some(amount("45000")),
        time_in_force: TimeInForce::Gtc,
        expires_at: None,
    };
    let order_id = w
        .ledger
        .place_order(&ctx(), opened.profile_id, stop_loss)
        .await
        .expect("placed");

    // The market (60000) is above the stop: Paxos keeps it open.
    assert_eq!(mirror_all(&w).await.open_orders, 1);
    let sent: Vec<_> = (w.sandbox.requests().into_iter())
        .filter(|r| r.method == "POST" && r.path.ends_with("/orders"))
        .collect();
    assert_eq!(sent.len(), 1);
    let body = sent[0].body.as_ref().expect("a body");
    assert_eq!(
        (&body["type"], &body["stop_price"]),
        (
            &serde_json::json!("STOP_MARKET"),
            &serde_json::json!("45000")
        )
    );

    w.sandbox.set_price("BTCUSD", dec!(44000));
    assert_eq!(mirror_all(&w).await.open_orders, 0);
    let profile = w.ledger.profile(opened.profile_id).await.unwrap().unwrap();
    let closed = &profile.closed_orders()[&order_id];
    assert_eq!(closed.outcome.as_str(), "FILLED");
    assert_eq!(closed.filled_base, amount("0.25"));
    let usd = profile.balance(&"USD".parse().unwrap());
    let btc = profile.balance(&"BTC".parse().unwrap());
    assert_eq!(usd.available, amount("11000"), "0.25 BTC at 44000");
    assert_eq!((btc.available, btc.held), (amount("0.75"), amount("0")));
}
