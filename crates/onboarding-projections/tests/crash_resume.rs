//! A projector that dies in the middle of a batch loses nothing and duplicates nothing: the
//! batch's rows and its checkpoint commit together or not at all, and whoever resumes starts
//! from the checkpoint.

use std::sync::Arc;

use onboarding_projections::{CatchUp, ProjectionError, Projector};
use sqlx::PgPool;
use tokio::sync::{mpsc, Notify};

use crate::support::commands::{approved_person, ledger};
use crate::support::recorder::{positions, recorded, Control, Fault, Recorder};
use crate::support::{
    catch_up_all, committed, eventually, listeners, options, wait_sequenced, wide_pool, within,
    Background,
};

/// The recorder's checkpoint.
async fn checkpoint(pool: &PgPool, name: &str) -> i64 {
    sqlx::query_scalar("SELECT position FROM projection_checkpoints WHERE name = $1")
        .bind(name)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_projector_killed_mid_batch_resumes_without_loss_or_duplicates(pool: PgPool) {
    let ledger = ledger(&pool);
    for _ in 0..6 {
        approved_person(&ledger).await;
    }
    assert_eq!(wait_sequenced(&pool).await, 12);
    let wide = wide_pool(&pool, 4).await;
    // Batches of 3: [1..=3] [4..=6] [7..=9] [10..=12]; the third is held open mid-transaction.
    let (entered, mut held) = mpsc::unbounded_channel();
    let control = Control::with_fault(Fault::Hold {
        at: 8,
        entered,
        release: Arc::new(Notify::new()),
    });
    let first = Projector::without_builtins(wide.clone())
        .with_projection(Recorder::new("recorder", "first", control.clone()))
        .with_options(options(3));
    let running = Background::start(first);
    assert_eq!(held.recv().await, Some(8));

    // Mid-batch, the read model is still exactly the log up to its checkpoint: the held batch's
    // rows are written but not committed.
    assert_eq!(checkpoint(&pool, "recorder").await, 6);
    assert_eq!(
        positions(&recorded(&pool, "recorder").await),
        (1..=6).collect::<Vec<_>>()
    );

    running.kill().await;
    // The killed projector's sessions close with it (its lease and its listener).
    eventually("the killed projector's listener to go", || async {
        listeners(&pool).await == 0
    })
    .await;

    let second = Projector::without_builtins(pool.clone())
        .with_projection(Recorder::new("recorder", "second", Control::new()))
        .with_options(options(3));
    // The dead session's lease is freed when the server notices the closed connection.
    eventually("the second projector to get the lease", || async {
        within("catch-up", second.catch_up()).await.unwrap()
            == [("recorder".to_owned(), CatchUp::CaughtUp(12))]
    })
    .await;
    let rows = recorded(&pool, "recorder").await;
    assert_eq!(positions(&rows), (1..=12).collect::<Vec<_>>());
    for (position, instance) in &rows {
        let expected = if *position <= 6 { "first" } else { "second" };
        assert_eq!(instance, expected, "position {position}");
    }
    assert_eq!(control.overlaps(), 0);
    wide.close().await;
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_panic_mid_batch_rolls_the_batch_back_and_stops_only_that_projection(pool: PgPool) {
    let ledger = ledger(&pool);
    for _ in 0..5 {
        approved_person(&ledger).await;
    }
    let projector = Projector::without_builtins(pool.clone())
        .with_projection(Recorder::new(
            "recorder",
            "one",
            Control::with_fault(Fault::Panic(5)),
        ))
        .with_view(onboarding_projections::views::IdentityStatus)
        .with_options(options(3));
    assert_eq!(wait_sequenced(&pool).await, 10);

    let error = within("catch-up", projector.catch_up()).await.unwrap_err();
    assert!(
        matches!(&error, ProjectionError::Apply { position: 4, message } if message.contains("injected panic at 5")),
        "{error:?}"
    );
    let status = projector.status().await.unwrap();
    let recorder = status.iter().find(|s| s.name == "recorder").unwrap();
    assert_eq!(recorder.position, 3);
    assert_eq!(recorder.failed_position, Some(4), "the batch that panicked");
    assert!(recorder.failure.as_deref().unwrap().contains("panicked"));
    let others = status.iter().find(|s| s.name == "identity_status").unwrap();
    assert_eq!((others.position, others.failed_position), (10, None));
    assert_eq!(positions(&recorded(&pool, "recorder").await), vec![1, 2, 3]);

    projector.retry("recorder").await.unwrap();
    assert_eq!(catch_up_all(&projector, &pool).await, 10);
    assert_eq!(
        positions(&recorded(&pool, "recorder").await),
        (1..=10).collect::<Vec<_>>()
    );
    assert_eq!(committed(&pool).await, 10);
}
