//! Rebuilding a read model from position zero yields the same rows as following the log live,
//! also while a projector keeps running the others.

use onboarding_projections::Projector;
use sqlx::PgPool;

use crate::support::commands::{ctx, customer_flow, ledger};
use crate::support::read_models::{audit_pairs, expected_audit, log, snapshot};
use crate::support::{catch_up_all, options, wait_at_head, wide_pool, Background};

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn rebuilding_every_read_model_reproduces_the_live_one(pool: PgPool) {
    let ledger = ledger(&pool);
    let wide = wide_pool(&pool, 10).await;
    let live = Projector::new(wide.clone()).with_options(options(50));
    let running = Background::start(live.clone());
    let (first, second) = (ctx(), ctx());
    tokio::join!(
        customer_flow(&ledger, &first),
        customer_flow(&ledger, &second)
    );
    wait_at_head(&live, &pool).await;
    assert!(running.stop().await.is_empty());
    let followed = snapshot(&pool).await;
    assert!(
        followed.values().all(|rows| !rows.is_empty()),
        "every read model has rows: {followed:?}"
    );

    // Another batch size, so batches cut the log elsewhere.
    let rebuild = Projector::new(pool.clone()).with_options(options(7));
    for name in rebuild.names() {
        rebuild.reset(&name).await.unwrap();
    }
    assert!(rebuild
        .status()
        .await
        .unwrap()
        .iter()
        .all(|s| s.position == 0 && s.failure.is_none()));
    assert!(snapshot(&pool).await.values().all(Vec::is_empty));
    catch_up_all(&rebuild, &pool).await;
    assert_eq!(snapshot(&pool).await, followed);
    wide.close().await;
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn one_read_model_rebuilds_while_a_projector_keeps_running(pool: PgPool) {
    let ledger = ledger(&pool);
    let wide = wide_pool(&pool, 10).await;
    let live = Projector::new(wide.clone()).with_options(options(5));
    let running = Background::start(live.clone());
    customer_flow(&ledger, &ctx()).await;
    wait_at_head(&live, &pool).await;
    let before = snapshot(&pool).await;

    // `onboarding projector run --rebuild audit_trail` from another process, while this one
    // runs and commands keep coming: the running holder of the lease replays it.
    Projector::new(pool.clone())
        .reset("audit_trail")
        .await
        .unwrap();
    customer_flow(&ledger, &ctx()).await;
    wait_at_head(&live, &pool).await;
    assert!(running.stop().await.is_empty());
    let after = snapshot(&pool).await;
    assert_eq!(audit_pairs(&pool).await, expected_audit(&log(&pool).await));
    assert!(
        before["audit_trail"]
            .iter()
            .all(|entry| after["audit_trail"].contains(entry)),
        "the replayed entries are the ones it had"
    );

    // The same as rebuilding everything from scratch.
    let rebuild = Projector::new(pool.clone());
    for name in rebuild.names() {
        rebuild.reset(&name).await.unwrap();
    }
    catch_up_all(&rebuild, &pool).await;
    assert_eq!(snapshot(&pool).await, after);
    wide.close().await;
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_running_projector_replays_a_reset_read_model_while_the_log_is_quiet(pool: PgPool) {
    let ledger = ledger(&pool);
    let wide = wide_pool(&pool, 10).await;
    let live = Projector::new(wide.clone()).with_options(options(5));
    let running = Background::start(live.clone());
    customer_flow(&ledger, &ctx()).await;
    let head = wait_at_head(&live, &pool).await;
    let before = snapshot(&pool).await;

    // No command follows the reset: the running holder of the lease notices the moved
    // checkpoint by itself (at its next poll) and replays the read model.
    Projector::new(pool.clone())
        .reset("identity_status")
        .await
        .unwrap();
    assert_eq!(wait_at_head(&live, &pool).await, head);
    assert_eq!(snapshot(&pool).await, before);
    assert!(running.stop().await.is_empty());
    wide.close().await;
}
