//! Several projector processes on one database: a lease keeps one active per projection, the
//! others wait, and one of them takes over when the holder stops or dies.

use onboarding_projections::{CatchUp, Projector};
use sqlx::PgPool;

use crate::support::commands::{approved_person, ledger};
use crate::support::recorder::{positions, recorded, Control, Recorder};
use crate::support::views::EveryEvent;
use crate::support::{eventually, listeners, options, wait_at_head, wide_pool, Background};

/// A projector "process" with its own pool, applying the recorder as `instance`.
async fn process(
    pool: &PgPool,
    instance: &str,
    control: &std::sync::Arc<Control>,
) -> (Projector, PgPool) {
    let own = wide_pool(pool, 6).await;
    let projector = Projector::without_builtins(own.clone())
        .with_projection(Recorder::new("recorder", instance, control.clone()))
        .with_view(EveryEvent)
        .with_options(options(2));
    (projector, own)
}

/// Which instances applied which positions, as runs: `[("a", 1..=4), ("b", 5..=8)]`.
fn runs(rows: &[(i64, String)]) -> Vec<(String, i64, i64)> {
    let mut runs: Vec<(String, i64, i64)> = Vec::new();
    for (position, instance) in rows {
        match runs.last_mut() {
            Some((last, _, to)) if last == instance => *to = *position,
            _ => runs.push((instance.clone(), *position, *position)),
        }
    }
    runs
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn one_projector_applies_a_projection_and_another_takes_over_when_it_stops_or_dies(
    pool: PgPool,
) {
    let ledger = ledger(&pool);
    let control = Control::new();
    let (a, pool_a) = process(&pool, "a", &control).await;
    let (b, pool_b) = process(&pool, "b", &control).await;
    let (c, pool_c) = process(&pool, "c", &control).await;

    approved_person(&ledger).await;
    let run_a = Background::start(a.clone());
    wait_at_head(&a, &pool).await;
    // A holds both leases: B, started now, waits; a one-off catch-up leaves them alone.
    let run_b = Background::start(b.clone());
    assert_eq!(
        b.catch_up().await.unwrap(),
        [
            ("recorder".to_owned(), CatchUp::HeldElsewhere),
            ("every_event".to_owned(), CatchUp::HeldElsewhere)
        ]
    );
    for _ in 0..3 {
        approved_person(&ledger).await;
    }
    let head = wait_at_head(&b, &pool).await;
    assert_eq!(
        runs(&recorded(&pool, "recorder").await),
        [("a".to_owned(), 1, head)]
    );

    // A stops cleanly: it releases its leases, and B takes over.
    assert!(run_a.stop().await.is_empty());
    for _ in 0..3 {
        approved_person(&ledger).await;
    }
    let handed_over = head;
    let head = wait_at_head(&b, &pool).await;
    assert_eq!(
        runs(&recorded(&pool, "recorder").await),
        [
            ("a".to_owned(), 1, handed_over),
            ("b".to_owned(), handed_over + 1, head)
        ]
    );

    // B dies (its connections close with it): C, waiting, takes over.
    let run_c = Background::start(c.clone());
    eventually("C's listener to start", || async {
        listeners(&pool).await == 2
    })
    .await;
    run_b.kill().await;
    eventually("only C's listener to remain", || async {
        listeners(&pool).await == 1
    })
    .await;
    for _ in 0..3 {
        approved_person(&ledger).await;
    }
    let died = head;
    let head = wait_at_head(&c, &pool).await;
    let rows = recorded(&pool, "recorder").await;
    assert_eq!(
        runs(&rows),
        [
            ("a".to_owned(), 1, handed_over),
            ("b".to_owned(), handed_over + 1, died),
            ("c".to_owned(), died + 1, head)
        ]
    );
    // Every event exactly once (the primary key would have stopped a second application), and
    // never two appliers inside the projection at once.
    assert_eq!(positions(&rows), (1..=head).collect::<Vec<_>>());
    assert_eq!(control.overlaps(), 0);
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT (row ->> 'applied')::bigint FROM every_event")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(applied.len(), usize::try_from(head).unwrap());
    assert!(applied.iter().all(|n| *n == 1));
    assert!(run_c.stop().await.is_empty());
    for own in [pool_a, pool_b, pool_c] {
        own.close().await;
    }
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn projectors_racing_on_the_same_projection_apply_each_event_once(pool: PgPool) {
    let ledger = ledger(&pool);
    let control = Control::new();
    let mut projectors = Vec::new();
    let mut pools = Vec::new();
    for instance in ["a", "b", "c"] {
        let (projector, own) = process(&pool, instance, &control).await;
        projectors.push(projector);
        pools.push(own);
    }
    let running: Vec<Background> = projectors.iter().cloned().map(Background::start).collect();
    // Catch-ups racing with the running projectors, while commits keep coming.
    for _ in 0..5 {
        approved_person(&ledger).await;
        let (x, y) = tokio::join!(projectors[0].catch_up(), projectors[1].catch_up());
        x.unwrap();
        y.unwrap();
    }
    let head = wait_at_head(&projectors[2], &pool).await;
    assert_eq!(head, 10);
    assert_eq!(
        positions(&recorded(&pool, "recorder").await),
        (1..=head).collect::<Vec<_>>()
    );
    assert_eq!(control.overlaps(), 0);
    for r in running {
        assert!(r.stop().await.is_empty());
    }
    for own in pools {
        own.close().await;
    }
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn projectors_starting_together_both_set_up(pool: PgPool) {
    let control = Control::new();
    for round in 0..10 {
        let name = format!("race_{round}");
        let a = Projector::without_builtins(pool.clone()).with_projection(Recorder::new(
            &name,
            "a",
            control.clone(),
        ));
        let b = Projector::without_builtins(pool.clone()).with_projection(Recorder::new(
            &name,
            "b",
            control.clone(),
        ));
        let (x, y) = tokio::join!(a.setup(), b.setup());
        x.unwrap_or_else(|e| panic!("round {round}: {e}"));
        y.unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
}
