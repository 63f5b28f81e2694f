//! One mirror at a time: a lost lease or a checkpoint moved by another mirror stops a mirror
//! instead of letting two mirror the same events.

use std::time::Duration;

use onboarding_mirror::{Checkpoints, MirrorError, MirrorOptions, MirrorWorker};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::support::*;

/// The advisory lock class of the mirror's lease ("MIRR", `onboarding_mirror::checkpoint`).
const MIRROR_LEASE_CLASS: i32 = 0x4d49_5252;

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn the_checkpoint_moves_only_from_where_this_mirror_left_it(pool: PgPool) {
    let checkpoints = Checkpoints::Postgres(pool.clone());
    checkpoints
        .advance("paxos_mirror_test", 0, 3)
        .await
        .unwrap();
    checkpoints
        .advance("paxos_mirror_test", 3, 7)
        .await
        .unwrap();
    // Another mirror moved it to 7: a mirror that still thinks it is at 3 must not write.
    let err = checkpoints
        .advance("paxos_mirror_test", 3, 9)
        .await
        .unwrap_err();
    assert!(
        matches!(err, MirrorError::LeaseLost(ref name) if name == "paxos_mirror_test"),
        "{err}"
    );
    assert_eq!(checkpoints.load("paxos_mirror_test").await.unwrap(), 7);
    // A position never saved is 0, and only 0.
    assert!(checkpoints.advance("never_saved", 5, 6).await.is_err());
    assert_eq!(checkpoints.load("never_saved").await.unwrap(), 0);
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_mirror_whose_lease_session_ends_stops(pool: PgPool) {
    let w = world(&pool).await;
    let mirror = MirrorWorker::new(
        w.ledger.clone(),
        w.paxos.clone(),
        Checkpoints::Postgres(pool.clone()),
        MirrorOptions {
            interval: Duration::from_millis(20),
            ..MirrorOptions::default()
        },
    );
    let shutdown = CancellationToken::new();
    let running = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { mirror.run(shutdown).await }
    });
    // The lease's session, once it holds the lock (in this test's database: other tests'
    // mirrors hold the same lease in theirs).
    let lease_pid = tokio::time::timeout(WAIT, async {
        loop {
            let pid: Option<i32> = sqlx::query_scalar(
                "SELECT pid FROM pg_locks
                  WHERE locktype = 'advisory' AND granted AND objsubid = 2
                    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                    AND classid::int4 = $1 AND objid::int4 = hashtext($2)",
            )
            .bind(MIRROR_LEASE_CLASS)
            .bind("paxos_mirror")
            .fetch_optional(&pool)
            .await
            .unwrap();
            if let Some(pid) = pid {
                break pid;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the mirror takes its lease");
    let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(lease_pid)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(killed);
    let stopped = tokio::time::timeout(WAIT, running)
        .await
        .expect("the mirror stops by itself")
        .unwrap();
    assert!(
        matches!(stopped, Err(MirrorError::LeaseLost(_))),
        "{stopped:?}"
    );
    shutdown.cancel();
}
