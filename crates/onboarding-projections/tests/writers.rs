//! Eight concurrent writers and a projector following them live: the read models end at the
//! head of the log, and the audit trail holds exactly one entry per (event, subject identity).

use std::sync::Arc;

use onboarding_projections::views::IdentityStatusRow;
use onboarding_projections::Projector;
use sqlx::PgPool;

use crate::support::commands::{ctx, customer_flow, ledger, Flow, EVENTS_PER_FLOW};
use crate::support::read_models::{audit_pairs, expected_audit, log};
use crate::support::views::{assert_in_log_order, ArrivalOrder, Seen, ARRIVALS};
use crate::support::{committed, options, wait_at_head, wide_pool, Background};

const WRITERS: usize = 8;
const FLOWS_PER_WRITER: usize = 2;

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn eight_writers_and_a_following_projector_end_with_one_audit_entry_per_event_and_subject(
    pool: PgPool,
) {
    let wide = wide_pool(&pool, 20).await;
    let ledger = Arc::new(ledger(&wide));
    let projector = Projector::new(wide.clone())
        .with_view(ArrivalOrder)
        .with_options(options(16));
    let running = Background::start(projector.clone());

    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                let mut flows = Vec::new();
                for _ in 0..FLOWS_PER_WRITER {
                    flows.push(customer_flow(&ledger, &ctx()).await);
                }
                flows
            })
        })
        .collect();
    let mut flows: Vec<Flow> = Vec::new();
    for w in writers {
        flows.extend(w.await.unwrap());
    }

    let head = wait_at_head(&projector, &pool).await;
    let expected_events = EVENTS_PER_FLOW * i64::try_from(WRITERS * FLOWS_PER_WRITER).unwrap();
    assert_eq!(head, expected_events);
    assert_eq!(committed(&pool).await, head);
    let status = projector.status().await.unwrap();
    assert!(
        status
            .iter()
            .all(|s| s.position == head && s.lag == 0 && s.failure.is_none()),
        "{status:?}"
    );

    // Exactly one entry per (event, subject).
    let events = log(&pool).await;
    let expected = expected_audit(&events);
    let entries = count(&pool, "SELECT count(*) FROM audit_trail").await;
    assert_eq!(entries, i64::try_from(expected.len()).unwrap());
    assert_eq!(audit_pairs(&pool).await, expected);
    // Every event of this log concerns somebody: each position is in the trail.
    assert_eq!(
        count(&pool, "SELECT count(DISTINCT position) FROM audit_trail").await,
        count(&pool, "SELECT count(*) FROM event_log").await
    );
    // Per flow: 2 + 2 (persons) + 3 + 2 (corporation and members) + 7 × 2 (joint account) + 3.
    assert_eq!(entries, 26 * i64::try_from(flows.len()).unwrap());

    // The views agree with what was written.
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM identity_status WHERE status = 'APPROVED'"
        )
        .await,
        i64::try_from(3 * flows.len()).unwrap()
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM accounts").await,
        i64::try_from(2 * flows.len()).unwrap()
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM orders WHERE status = 'FILLED'").await,
        i64::try_from(flows.len()).unwrap()
    );
    for flow in &flows {
        let row: IdentityStatusRow = onboarding_projections::view::load_row(
            &pool,
            "identity_status",
            &flow.institution.to_string(),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(row.members, vec![flow.owner, flow.member]);
        let profile: serde_json::Value =
            sqlx::query_scalar("SELECT row FROM profiles WHERE key = $1")
                .bind(flow.joint.profile_id.to_string())
                .fetch_one(&pool)
                .await
                .unwrap();
        let written = ledger
            .profile(flow.joint.profile_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(profile, serde_json::to_value(&written).unwrap());
    }
    let arrivals: Vec<Seen> =
        onboarding_projections::view::load_row(&pool, "arrival_order", ARRIVALS)
            .await
            .unwrap()
            .unwrap();
    assert_in_log_order(&arrivals, head);

    assert!(running.stop().await.is_empty());
    wide.close().await;
}
