//! A failing event stops its projection at that event, visibly, without a silent skip; the
//! batch it was in is rolled back; the other projections go on; after a retry it resumes from
//! its checkpoint and applies every event exactly once.

use onboarding_projections::audit::AuditTrail;
use onboarding_projections::views::IdentityStatus;
use onboarding_projections::{ProjectionError, ProjectionStatus, Projector};
use sqlx::PgPool;

use crate::support::commands::{approved_person, ledger};
use crate::support::recorder::{positions, recorded, Control, Fault, Recorder};
use crate::support::{
    catch_up_all, committed, eventually, options, wait_at_head, wait_sequenced, wide_pool, within,
    Background,
};

fn status_of<'a>(status: &'a [ProjectionStatus], name: &str) -> &'a ProjectionStatus {
    status.iter().find(|s| s.name == name).unwrap()
}

/// The failing recorder first, so that the built-ins after it show whether a failure holds the
/// others back.
fn projector_failing_at(pool: &PgPool, position: i64) -> (Projector, std::sync::Arc<Control>) {
    let control = Control::with_fault(Fault::Fail(position));
    let projector = Projector::without_builtins(pool.clone())
        .with_projection(Recorder::new("recorder", "one", control.clone()))
        .with_view(IdentityStatus)
        .with_projection(AuditTrail)
        .with_options(options(3));
    (projector, control)
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_failing_event_stops_only_its_projection_until_retried(pool: PgPool) {
    let ledger = ledger(&pool);
    for _ in 0..5 {
        approved_person(&ledger).await;
    }
    let (projector, control) = projector_failing_at(&pool, 8);
    assert_eq!(wait_sequenced(&pool).await, 10);

    let error = within("catch-up", projector.catch_up()).await.unwrap_err();
    assert!(
        matches!(&error, ProjectionError::Apply { position: 8, message } if message == "injected failure at 8"),
        "{error:?}"
    );
    assert!(!control.armed());
    let status = projector.status().await.unwrap();
    let recorder = status_of(&status, "recorder");
    assert_eq!(
        recorder.position, 6,
        "the checkpoint stays before the failed batch"
    );
    assert_eq!(recorder.lag, 4);
    assert_eq!(recorder.failed_position, Some(8));
    assert!(recorder
        .failure
        .as_deref()
        .unwrap()
        .contains("injected failure at 8"));
    // The batch 7..=9 wrote its rows before failing: they were rolled back with it.
    assert_eq!(
        positions(&recorded(&pool, "recorder").await),
        (1..=6).collect::<Vec<_>>()
    );
    for name in ["identity_status", "audit_trail"] {
        let s = status_of(&status, name);
        assert_eq!((s.position, s.failed_position), (10, None), "{name}");
    }

    // A stopped projection stays stopped (no silent skip), and still does not hold the others
    // back.
    approved_person(&ledger).await;
    wait_sequenced(&pool).await;
    let error = within("catch-up", projector.catch_up()).await.unwrap_err();
    assert!(
        matches!(&error, ProjectionError::Stopped { name, position: 8, .. } if name == "recorder"),
        "{error:?}"
    );
    let status = projector.status().await.unwrap();
    assert_eq!(status_of(&status, "recorder").position, 6);
    assert_eq!(status_of(&status, "identity_status").position, 12);
    assert_eq!(status_of(&status, "audit_trail").position, 12);

    // The fault is gone (it fired once); a retry resumes from the checkpoint.
    projector.retry("recorder").await.unwrap();
    assert_eq!(catch_up_all(&projector, &pool).await, 12);
    let rows = recorded(&pool, "recorder").await;
    assert_eq!(positions(&rows), (1..=12).collect::<Vec<_>>());
    let status = projector.status().await.unwrap();
    assert!(status.iter().all(|s| s.failure.is_none() && s.lag == 0));
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_running_projector_keeps_the_other_projections_going_after_a_failure(pool: PgPool) {
    let ledger = ledger(&pool);
    let wide = wide_pool(&pool, 8).await;
    let (projector, _control) = projector_failing_at(&wide, 3);
    let running = Background::start(projector.clone());
    approved_person(&ledger).await;
    eventually("the recorder to apply the first two events", || async {
        projector
            .status()
            .await
            .unwrap()
            .iter()
            .any(|s| s.name == "recorder" && s.position == 2)
    })
    .await;
    approved_person(&ledger).await;
    eventually("the recorder to stop at 3", || async {
        projector
            .status()
            .await
            .unwrap()
            .iter()
            .any(|s| s.name == "recorder" && s.failed_position == Some(3))
    })
    .await;

    for _ in 0..3 {
        approved_person(&ledger).await;
    }
    let head = committed(&pool).await;
    assert_eq!(head, 10);
    let others = Projector::without_builtins(wide.clone())
        .with_view(IdentityStatus)
        .with_projection(AuditTrail);
    wait_at_head(&others, &pool).await;
    let status = projector.status().await.unwrap();
    let recorder = status_of(&status, "recorder");
    assert_eq!((recorder.position, recorder.failed_position), (2, Some(3)));
    assert_eq!(positions(&recorded(&pool, "recorder").await), vec![1, 2]);

    // Retried from elsewhere (another process's `projector run --retry`): the running
    // projector takes it back and catches it up, and no longer reports it stopped.
    Projector::without_builtins(wide.clone())
        .with_projection(Recorder::new("recorder", "one", Control::new()))
        .retry("recorder")
        .await
        .unwrap();
    approved_person(&ledger).await;
    let head = committed(&pool).await;
    eventually(
        "the running projector to take the recorder back",
        || async {
            projector
                .status()
                .await
                .unwrap()
                .iter()
                .any(|s| s.name == "recorder" && s.position == head && s.failure.is_none())
        },
    )
    .await;
    assert_eq!(
        positions(&recorded(&pool, "recorder").await),
        (1..=head).collect::<Vec<_>>()
    );

    let stopped = running.stop().await;
    assert!(stopped.is_empty(), "{stopped:?}");
    wide.close().await;
}
