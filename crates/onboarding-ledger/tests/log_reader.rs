//! The global log: gap-free positions in commit order, read in small batches while writers are
//! busy, and never skipping an event whose transaction commits late.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use onboarding_ledger::domain::{event_names, IdentityId, ProfileId};
use onboarding_ledger::{Ledger, RecordedEvent};
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use tokio::sync::watch;

use crate::fixtures::{self, ctx};

const WRITERS: usize = 8;
const COMMANDS_PER_WRITER: usize = 25;
const BATCH: usize = 7;

/// One writer's work: new identities, fundings of its own profile, and fundings of a profile
/// every writer shares (so some commands lose races and retry).
async fn write(ledger: Arc<Ledger>, writer: usize, own: ProfileId, shared: ProfileId) {
    for i in 0..COMMANDS_PER_WRITER {
        let funding = format!("w{writer}-{i}");
        match i % 5 {
            0 => {
                fixtures::submit_person(&ledger, &ctx()).await;
            }
            1 => fixtures::fund(&ledger, shared, funding, "1").await.unwrap(),
            _ => fixtures::fund(&ledger, own, funding, "2").await.unwrap(),
        }
    }
}

/// Reads the whole log in batches of `BATCH` until it has read `total` events, `total` being
/// announced once the writers are done.
async fn read_everything(
    ledger: &Ledger,
    mut total: watch::Receiver<Option<usize>>,
) -> Vec<RecordedEvent> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen: Vec<RecordedEvent> = Vec::new();
    loop {
        let last = seen.last().map_or(0, |e| e.position);
        let batch = ledger.read_log(last, BATCH).await.unwrap();
        assert!(batch.len() <= BATCH);
        if batch.is_empty() {
            let expected = *total.borrow_and_update();
            if expected.is_some_and(|n| seen.len() >= n) {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "the log stopped at {}",
                seen.len()
            );
            // Back off while the log is caught up; correctness never depends on this.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        seen.extend(batch);
    }
}

/// Positions 1..=n exactly, each event once, each aggregate's events in sequence order.
fn assert_well_ordered(log: &[RecordedEvent]) {
    let positions: Vec<i64> = log.iter().map(|e| e.position).collect();
    let expected: Vec<i64> = (1..=i64::try_from(log.len()).unwrap()).collect();
    assert_eq!(
        positions, expected,
        "positions are 1..=n without gaps or repeats"
    );
    let mut next: HashMap<(&str, &str), i64> = HashMap::new();
    for e in log {
        let sequence = next
            .entry((e.aggregate_type.as_str(), e.aggregate_id.as_str()))
            .or_insert(1);
        assert_eq!(
            e.sequence, *sequence,
            "{} {} arrives out of sequence order",
            e.aggregate_type, e.aggregate_id
        );
        *sequence += 1;
    }
}

async fn stored_events(pool: &PgPool) -> BTreeSet<(String, String, i64)> {
    sqlx::query_as("SELECT aggregate_type, aggregate_id, sequence FROM events")
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn readers_in_small_batches_see_every_event_once_in_order_while_writers_append(
    _: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let pool = fixtures::wide_pool(connect, 16).await;
    // Writers of the shared profile lose races; each loss is another writer's commit.
    let ledger = Arc::new(fixtures::ledger_with_retries(&pool, 100));
    let owner = fixtures::approved_person(&ledger).await;
    let mut profiles = Vec::new();
    for _ in 0..=WRITERS {
        profiles.push(fixtures::open_account(&ledger, owner).await.profile_id);
    }
    let shared = profiles[WRITERS];

    let (announce, total) = watch::channel(None);
    let writers = async {
        let tasks =
            (0..WRITERS).map(|w| tokio::spawn(write(Arc::clone(&ledger), w, profiles[w], shared)));
        for task in join_all(tasks).await {
            task.expect("a writer failed");
        }
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&pool)
            .await
            .unwrap();
        announce.send_replace(Some(usize::try_from(count).unwrap()));
    };
    // Two readers, so that sequencing also runs from two sessions at once.
    let (first, second, ()) = tokio::join!(
        read_everything(&ledger, total.clone()),
        read_everything(&ledger, total),
        writers
    );

    let stored = stored_events(&pool).await;
    let setup = 2 + 2 * (WRITERS + 1);
    assert_eq!(stored.len(), setup + WRITERS * COMMANDS_PER_WRITER);
    assert_eq!(
        first.len(),
        stored.len(),
        "the log holds every stored event"
    );
    assert_well_ordered(&first);
    let logged: BTreeSet<(String, String, i64)> = first
        .iter()
        .map(|e| (e.aggregate_type.clone(), e.aggregate_id.clone(), e.sequence))
        .collect();
    assert_eq!(logged, stored);
    assert_eq!(first, second, "every reader sees the same log");

    let shared_events = ledger
        .events_of(event_names::PROFILE, &shared.to_string())
        .await
        .unwrap();
    assert_eq!(shared_events.len(), 1 + WRITERS * COMMANDS_PER_WRITER / 5);
    pool.close().await;
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn an_open_transaction_holds_the_log_back_and_nothing_is_skipped(pool: PgPool) {
    let ledger = fixtures::ledger(&pool);
    let ctx = ctx();
    let early = fixtures::submit_person(&ledger, &ctx).await;
    let head = fixtures::read_log_until(&ledger, 0, 1, 10).await[0].position;

    // A slow writer: its event is inserted but not committed.
    let slow = IdentityId::new();
    let mut slow_tx = pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO events
             (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ($1, $2, 1, $3, $4, $5, $6)",
    )
    .bind(event_names::IDENTITY)
    .bind(slow.to_string())
    .bind(event_names::PAXOS_IDENTITY_LINKED)
    .bind(event_names::IDENTITY_EVENT_VERSION)
    .bind(json!({ event_names::PAXOS_IDENTITY_LINKED: { "paxos_identity_id": "px-slow" } }))
    .bind(json!({ "actor": "slow-writer", "origin": "test" }))
    .execute(&mut *slow_tx)
    .await
    .unwrap();

    // Faster writers commit after it.
    let later = fixtures::submit_person(&ledger, &ctx).await;
    fixtures::approve(&ledger, &ctx, later).await;
    fixtures::approve(&ledger, &ctx, early).await;
    let committed: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(committed, 4, "the faster writers' events are committed");

    // The log does not pass the open transaction, however often it is asked.
    for _ in 0..5 {
        assert_eq!(ledger.read_log(head, 100).await.unwrap(), []);
    }
    let pending = ledger
        .events_of(event_names::IDENTITY, &later.to_string())
        .await
        .unwrap();
    assert!(
        pending.iter().all(|e| e.position == 0),
        "events behind the open transaction have no position yet"
    );
    // Waiting for every visible event to be sequenced sees them pending, and gives up.
    let log = onboarding_store::postgres::PostgresLog::new(pool.clone());
    let err = log
        .sequence_visible(std::time::Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("still unsequenced"), "{err}");

    slow_tx.commit().await.unwrap();
    assert_eq!(
        log.sequence_visible(std::time::Duration::from_secs(10))
            .await
            .unwrap(),
        head + 4,
        "once the slow writer commits, everything visible is sequenced"
    );
    let after = fixtures::read_log_until(&ledger, head, 4, 100).await;
    let got: Vec<(String, &str)> = after
        .iter()
        .map(|e| (e.aggregate_id.clone(), e.event_type.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (slow.to_string(), event_names::PAXOS_IDENTITY_LINKED),
            (later.to_string(), event_names::IDENTITY_SUBMITTED),
            (later.to_string(), event_names::DECISION_RECORDED),
            (early.to_string(), event_names::DECISION_RECORDED),
        ],
        "the slow event comes first, then the others in commit order"
    );
    assert_eq!(ledger.read_log(head + 4, 100).await.unwrap(), []);
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_transaction_open_in_another_database_does_not_hold_the_log_back(pool: PgPool) {
    use sqlx::Connection;

    let ledger = fixtures::ledger(&pool);
    // A write transaction in another database of the same server (the one `DATABASE_URL` names,
    // beside this test's own), open for the whole test: its transaction id is older than every
    // event below, which a cluster-wide horizon would hold back until it ends.
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let mut other = sqlx::PgConnection::connect(&url).await.unwrap();
    let mut other_tx = Connection::begin(&mut other).await.unwrap();
    let other_db: String = sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(&mut *other_tx)
        .await
        .unwrap();
    let this_db: String = sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_ne!(other_db, this_db);
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *other_tx)
        .await
        .unwrap();

    let id = fixtures::submit_person(&ledger, &ctx()).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let events = loop {
        let events = ledger.read_log(0, 10).await.unwrap();
        if !events.is_empty() {
            break events;
        }
        assert!(
            Instant::now() < deadline,
            "another database's open transaction holds this database's log back"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].aggregate_id, id.to_string());
    other_tx.rollback().await.unwrap();
}
