//! A read model an embedding application defines (a `View`) gets every event of the log exactly
//! once, in log order and in each aggregate's sequence order, including events of aggregate
//! types the ledger does not know.

use std::sync::Arc;

use onboarding_projections::view::load_row;
use onboarding_projections::Projector;
use sqlx::PgPool;

use crate::support::commands::{ctx, customer_flow, ledger};
use crate::support::read_models::log;
use crate::support::views::{assert_in_log_order, ArrivalOrder, Seen, ARRIVALS};
use crate::support::{
    catch_up_all, insert_foreign_event, options, wait_at_head, wide_pool, Background,
};

async fn arrivals(pool: &PgPool) -> Vec<Seen> {
    load_row(pool, "arrival_order", ARRIVALS)
        .await
        .unwrap()
        .expect("the view has its row")
}

/// Checks the view's arrivals against the log itself.
async fn assert_matches_log(pool: &PgPool, arrivals: &[Seen]) {
    let log: Vec<(i64, String, String, i64)> = log(pool)
        .await
        .into_iter()
        .map(|e| {
            (
                e.position(),
                e.record.aggregate_type,
                e.record.aggregate_id,
                e.record.sequence,
            )
        })
        .collect();
    let seen: Vec<(i64, String, String, i64)> = arrivals
        .iter()
        .map(|s| {
            (
                s.position,
                s.aggregate_type.clone(),
                s.aggregate_id.clone(),
                s.sequence,
            )
        })
        .collect();
    assert_eq!(seen, log);
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_custom_view_receives_every_event_in_order(pool: PgPool) {
    let ledger = ledger(&pool);
    customer_flow(&ledger, &ctx()).await;
    let mut conn = pool.acquire().await.unwrap();
    insert_foreign_event(&mut conn, "other-writer", 1).await;
    insert_foreign_event(&mut conn, "other-writer", 2).await;
    drop(conn);
    customer_flow(&ledger, &ctx()).await;

    // Batches of 4 cut the log at many places.
    let projector = Projector::without_builtins(pool.clone())
        .with_view(ArrivalOrder)
        .with_options(options(4));
    let head = catch_up_all(&projector, &pool).await;
    assert_eq!(head, 36);
    let arrivals = arrivals(&pool).await;
    assert_in_log_order(&arrivals, head);
    assert_matches_log(&pool, &arrivals).await;
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_custom_view_following_concurrent_writers_receives_every_event_in_order(pool: PgPool) {
    let wide = wide_pool(&pool, 12).await;
    let ledger = Arc::new(ledger(&wide));
    let projector = Projector::new(wide.clone())
        .with_view(ArrivalOrder)
        .with_options(options(3));
    let running = Background::start(projector.clone());
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let ledger = ledger.clone();
            tokio::spawn(async move { customer_flow(&ledger, &ctx()).await })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let head = wait_at_head(&projector, &pool).await;
    assert_eq!(head, 4 * crate::support::commands::EVENTS_PER_FLOW);
    let arrivals = arrivals(&pool).await;
    assert_in_log_order(&arrivals, head);
    assert_matches_log(&pool, &arrivals).await;
    assert!(running.stop().await.is_empty());
    wide.close().await;
}
