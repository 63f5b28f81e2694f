//! A transaction that takes a lower place in the log but commits after later events: the log
//! waits for it, and it is projected exactly once, before the events that committed earlier.

use onboarding_domain::event_names;
use onboarding_projections::{CatchUp, Projector};
use sqlx::PgPool;

use crate::support::commands::{approved_person, ledger};
use crate::support::views::{EveryEvent, Seen};
use crate::support::{
    catch_up_all, committed, insert_foreign_event, options, wait_at_head, wide_pool, Background,
};

/// Every row of the `every_event` view, by position.
async fn seen(pool: &PgPool) -> Vec<Seen> {
    let rows: Vec<serde_json::Value> =
        sqlx::query_scalar("SELECT row FROM every_event ORDER BY position")
            .fetch_all(pool)
            .await
            .expect("read every_event");
    rows.into_iter()
        .map(|r| serde_json::from_value(r).expect("a Seen row"))
        .collect()
}

/// Checks that the view saw positions 1..=`head`, each exactly once.
fn assert_each_once(seen: &[Seen], head: i64) {
    let positions: Vec<i64> = seen.iter().map(|s| s.position).collect();
    assert_eq!(
        positions,
        (1..=head).collect::<Vec<_>>(),
        "positions 1..=head"
    );
    assert!(
        seen.iter().all(|s| s.applied == 1),
        "an event was applied twice: {seen:?}"
    );
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_transaction_committing_after_later_events_is_projected_exactly_once(pool: PgPool) {
    let ledger = ledger(&pool);
    let projector = Projector::new(pool.clone()).with_view(EveryEvent);
    approved_person(&ledger).await;
    let before = catch_up_all(&projector, &pool).await;
    assert_eq!(before, 2);

    // A slow writer inserts an event and keeps its transaction open...
    let mut late = pool.begin().await.unwrap();
    insert_foreign_event(&mut late, "late-1", 1).await;
    // ...while later commands commit.
    let later = approved_person(&ledger).await;
    assert_eq!(
        committed(&pool).await,
        before + 2,
        "the later events are committed"
    );

    // The log does not pass the open transaction: nothing after it is projected, so nothing
    // can be skipped when it commits.
    let done = projector.catch_up().await.unwrap();
    assert!(
        done.iter().all(|(_, c)| *c == CatchUp::CaughtUp(before)),
        "{done:?}"
    );
    assert_eq!(projector.head().await.unwrap(), before);
    assert_each_once(&seen(&pool).await, before);
    assert!(ledger.identity_status(later).await.unwrap().is_none());

    late.commit().await.unwrap();
    let head = catch_up_all(&projector, &pool).await;
    assert_eq!(head, before + 3);
    let seen = seen(&pool).await;
    assert_each_once(&seen, head);
    // It holds the place its transaction took, before the events that committed first.
    let late_event = &seen[usize::try_from(before).unwrap()];
    assert_eq!(
        (
            late_event.aggregate_type.as_str(),
            late_event.aggregate_id.as_str()
        ),
        ("test", "late-1")
    );
    assert!(seen[usize::try_from(before).unwrap() + 1..]
        .iter()
        .all(|s| s.aggregate_type == event_names::IDENTITY && s.aggregate_id == later.to_string()));
    // The built-in read models went past it without trouble.
    assert!(ledger.identity_status(later).await.unwrap().is_some());
    assert!(projector
        .status()
        .await
        .unwrap()
        .iter()
        .all(|s| s.position == head && s.lag == 0 && s.failure.is_none()));
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_running_projector_waits_for_a_late_commit_and_never_skips_it(pool: PgPool) {
    let wide = wide_pool(&pool, 10).await;
    let ledger = ledger(&pool);
    let projector = Projector::new(wide.clone())
        .with_view(EveryEvent)
        .with_options(options(2));
    let running = Background::start(projector.clone());
    approved_person(&ledger).await;
    let before = wait_at_head(&projector, &pool).await;

    let mut late = pool.begin().await.unwrap();
    insert_foreign_event(&mut late, "late-2", 1).await;
    for _ in 0..3 {
        approved_person(&ledger).await;
    }
    // The projector is woken by those commits, but the log holds still behind the open
    // transaction.
    assert_eq!(projector.head().await.unwrap(), before);
    assert_each_once(&seen(&wide).await, before);

    late.commit().await.unwrap();
    let head = wait_at_head(&projector, &pool).await;
    assert_eq!(head, before + 7);
    let seen = seen(&wide).await;
    assert_each_once(&seen, head);
    assert_eq!(
        seen[usize::try_from(before).unwrap()].aggregate_id,
        "late-2"
    );

    assert!(running.stop().await.is_empty());
    wide.close().await;
}
