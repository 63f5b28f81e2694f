//! The built-in read models following the ledger: they show what the commands did, and a
//! running projector is woken by the commit's notification rather than by its polling.

use std::time::Duration;

use onboarding_projections::views::{IdentityStatusRow, OrderRow};
use onboarding_projections::{CatchUp, Projector, ProjectorOptions};
use serde_json::Value;
use sqlx::PgPool;

use crate::support::commands::{
    amount, ctx, customer_flow, fund, ledger, limit_buy, submit_person,
};
use crate::support::recorder::{recorded, Control, Fault, Recorder};
use crate::support::{
    catch_up_all, committed, eventually, listeners, options, wait_sequenced, wide_pool, Background,
};

async fn row(pool: &PgPool, table: &str, key: String) -> Value {
    sqlx::query_scalar(&format!("SELECT row FROM {table} WHERE key = $1"))
        .bind(key)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn the_read_models_show_what_the_commands_did(pool: PgPool) {
    let ledger = ledger(&pool);
    let flow = customer_flow(&ledger, &ctx()).await;
    let projector = Projector::new(pool.clone());
    let head = catch_up_all(&projector, &pool).await;
    assert_eq!(
        projector.catch_up().await.unwrap(),
        projector
            .names()
            .into_iter()
            .map(|n| (n, CatchUp::CaughtUp(head)))
            .collect::<Vec<_>>()
    );

    let institution: IdentityStatusRow =
        serde_json::from_value(row(&pool, "identity_status", flow.institution.to_string()).await)
            .unwrap();
    assert_eq!(institution.members, vec![flow.owner, flow.member]);
    assert_eq!(institution.last_decision.as_deref(), Some("APPROVED"));
    assert_eq!(
        institution.status,
        onboarding_domain::vocab::IdentityStatus::Approved
    );

    let joint = row(&pool, "accounts", flow.joint.account_id.to_string()).await;
    assert_eq!(joint["owner"], flow.owner.to_string());
    assert_eq!(joint["profile_id"], flow.joint.profile_id.to_string());
    assert_eq!(joint["status"], "OPEN");
    assert_eq!(joint["members"][0]["identity_id"], flow.member.to_string());
    let corporate = row(&pool, "accounts", flow.corporate.account_id.to_string()).await;
    assert_eq!(corporate["owner"], flow.institution.to_string());

    // The balances are the write side's own state.
    let profile = row(&pool, "profiles", flow.joint.profile_id.to_string()).await;
    let written = ledger
        .profile(flow.joint.profile_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(profile, serde_json::to_value(&written).unwrap());
    // 10000 deposited, 5000 held for 0.1 BTC at 50000, 4995 spent, 5 released.
    let settled: bool = sqlx::query_scalar(
        "SELECT available = 5005 AND held = 0 FROM profile_balances
          WHERE profile_id = $1 AND asset = 'USD'",
    )
    .bind(flow.joint.profile_id.to_string())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(settled);

    let order = row(
        &pool,
        "orders",
        OrderRow::key(flow.joint.profile_id, flow.order),
    )
    .await;
    assert_eq!(order["status"], "FILLED");
    assert_eq!(order["profile_id"], flow.joint.profile_id.to_string());

    let trail = ledger.audit_trail(Some(flow.member), None).await.unwrap();
    assert_eq!(
        trail.len(),
        2 + 1 + 7,
        "own events, the corporation's submission, the joint account's"
    );
    assert!(trail.windows(2).all(|w| w[0].position < w[1].position));
    assert!(trail.iter().all(|e| e.actor == "projection-test"));
}

/// Order ids are unique within a profile only; a row per (profile, order).
#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn one_order_id_on_two_profiles_keeps_a_row_for_each(pool: PgPool) {
    let ledger = ledger(&pool);
    let flow = customer_flow(&ledger, &ctx()).await;
    // The joint account's (filled) order id again, on the corporation's profile.
    fund(&ledger, &ctx(), flow.corporate.profile_id, "10000").await;
    ledger
        .place_order(&ctx(), flow.corporate.profile_id, limit_buy(flow.order))
        .await
        .expect("an order id is free on another profile");
    let projector = Projector::new(pool.clone());
    catch_up_all(&projector, &pool).await;

    let joint = row(
        &pool,
        "orders",
        OrderRow::key(flow.joint.profile_id, flow.order),
    )
    .await;
    assert_eq!(joint["status"], "FILLED");
    assert_eq!(joint["profile_id"], flow.joint.profile_id.to_string());
    let corporate: OrderRow = serde_json::from_value(
        row(
            &pool,
            "orders",
            OrderRow::key(flow.corporate.profile_id, flow.order),
        )
        .await,
    )
    .unwrap();
    assert_eq!(corporate.profile_id, flow.corporate.profile_id);
    assert_eq!(corporate.filled_base, amount("0"));
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE row ->> 'order_id' = $1")
        .bind(flow.order.to_string())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 2);
}

/// The migration that re-keyed `orders` empties the view and resets its checkpoint, so the
/// projector rebuilds it under the new keys (rows under the old keys are gone).
#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn the_orders_rekeying_migration_rebuilds_the_view(pool: PgPool) {
    let ledger = ledger(&pool);
    let flow = customer_flow(&ledger, &ctx()).await;
    let projector = Projector::new(pool.clone());
    let head = catch_up_all(&projector, &pool).await;
    // The table as it was before the migration: rows keyed by the order id alone.
    sqlx::raw_sql(
        "ALTER TABLE orders DROP CONSTRAINT orders_keyed_by_profile;
         UPDATE orders SET key = row ->> 'order_id';",
    )
    .execute(&pool)
    .await
    .unwrap();

    sqlx::raw_sql(include_str!(
        "../../../migrations/20261122000011_orders_keyed_by_profile.sql"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let (rows, checkpoint): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM orders),
                (SELECT position FROM projection_checkpoints WHERE name = 'orders')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((rows, checkpoint), (0, 0));

    assert_eq!(catch_up_all(&projector, &pool).await, head);
    let keys: Vec<String> = sqlx::query_scalar("SELECT key FROM orders")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(keys, [OrderRow::key(flow.joint.profile_id, flow.order)]);
    // A projector of an earlier version, writing the old key, is refused.
    let old_key = sqlx::query("UPDATE orders SET key = row ->> 'order_id'")
        .execute(&pool)
        .await;
    assert!(old_key.is_err(), "a row under the old key was written");
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_running_projector_wakes_on_the_commits_notification(pool: PgPool) {
    let wide = wide_pool(&pool, 10).await;
    let ledger = ledger(&pool);
    // Polling alone would take ten minutes.
    let projector = Projector::new(wide.clone()).with_options(ProjectorOptions {
        poll_interval: Duration::from_secs(600),
        ..options(100)
    });
    let running = Background::start(projector.clone());
    eventually("the projector to listen", || async {
        listeners(&pool).await == 1
    })
    .await;

    // Each commit notifies. A notified wake-up finds nothing new while an older transaction
    // elsewhere in the cluster (another test's) holds the log back; the next commit notifies
    // again.
    eventually("a notification to bring the read model up", || {
        let (ledger, projector, pool) = (&ledger, &projector, &pool);
        async move {
            submit_person(ledger, &ctx()).await;
            let head = committed(pool).await;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
            while tokio::time::Instant::now() < deadline {
                let status = projector.status().await.unwrap();
                if status.iter().all(|s| s.position == head) {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            false
        }
    })
    .await;
    assert!(running.stop().await.is_empty());
    wide.close().await;
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_clean_shutdown_finishes_the_batch_in_progress(pool: PgPool) {
    let ledger = ledger(&pool);
    for _ in 0..3 {
        submit_person(&ledger, &ctx()).await;
    }
    assert_eq!(wait_sequenced(&pool).await, 3);
    let wide = wide_pool(&pool, 4).await;
    let (entered, mut held) = tokio::sync::mpsc::unbounded_channel();
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let control = Control::with_fault(Fault::Hold {
        at: 2,
        entered,
        release: release.clone(),
    });
    let projector = Projector::without_builtins(wide.clone())
        .with_projection(Recorder::new("recorder", "one", control))
        .with_options(options(2));
    let running = Background::start(projector);
    assert_eq!(held.recv().await, Some(2));

    // Shutdown asked for mid-batch: the batch completes and commits, then the projector stops
    // before the next one.
    running.shutdown.cancel();
    release.notify_one();
    assert!(running.task.await.unwrap().unwrap().is_empty());
    let rows = recorded(&pool, "recorder").await;
    assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2]);
    let checkpoint: i64 =
        sqlx::query_scalar("SELECT position FROM projection_checkpoints WHERE name = 'recorder'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(checkpoint, 2);
    wide.close().await;
}
