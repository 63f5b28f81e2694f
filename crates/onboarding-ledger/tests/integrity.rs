//! The log is append-only and tamper-evident: every change that gets past the triggers is found
//! by `verify`, which names the first broken stream and sequence.

use onboarding_ledger::Ledger;
use onboarding_store::integrity::{self, BreakReason};
use sqlx::PgPool;

use crate::fixtures::{approved_person, ledger, open_profile};

/// A database with a few streams of several events.
async fn populated(pool: &PgPool) -> Ledger {
    let ledger = ledger(pool);
    approved_person(&ledger).await;
    let profile = open_profile(&ledger).await;
    crate::fixtures::fund(&ledger, profile, "f1", "10")
        .await
        .unwrap();
    crate::fixtures::fund(&ledger, profile, "f2", "20")
        .await
        .unwrap();
    // Give every event its log position before anything is tampered with.
    assert!(integrity::verify(pool, None).await.unwrap().is_intact());
    ledger
}

/// Runs `sql` with the triggers off, as only a superuser attacker could.
async fn tamper(pool: &PgPool, sql: &str) {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::raw_sql(sql).execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
}

async fn profile_id(pool: &PgPool) -> String {
    sqlx::query_scalar("SELECT aggregate_id FROM events WHERE aggregate_type = 'profile' LIMIT 1")
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn first_break(pool: &PgPool) -> (String, i64, BreakReason) {
    let v = integrity::verify(pool, None).await.unwrap();
    let b = v.first_break.expect("a break is found");
    (b.aggregate_id, b.sequence, b.reason)
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn an_untouched_log_verifies_and_its_digest_is_stable(pool: PgPool) {
    populated(&pool).await;
    let v = integrity::verify(&pool, None).await.unwrap();
    assert!(v.is_intact(), "{v:?}");
    let (events, streams): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT (aggregate_type, aggregate_id)) FROM events",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((v.events as i64, v.streams as i64), (events, streams));
    assert_eq!(v.digest.position, events);
    let again = integrity::log_digest(&pool, Some(v.digest.position))
        .await
        .unwrap();
    assert_eq!(again, v.digest);
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn update_delete_and_truncate_of_the_log_are_rejected(pool: PgPool) {
    populated(&pool).await;
    for sql in [
        "UPDATE events SET metadata = '{}'",
        "DELETE FROM events",
        "TRUNCATE events CASCADE",
        "UPDATE event_log SET position = position + 100",
        "DELETE FROM event_log",
        "TRUNCATE event_log",
    ] {
        let err = sqlx::query(sql).execute(&pool).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    assert!(integrity::verify(&pool, None).await.unwrap().is_intact());
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn the_application_role_may_append_and_read_but_not_rewrite(pool: PgPool) {
    populated(&pool).await;
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SET LOCAL ROLE onboarding_app")
        .execute(&mut *tx)
        .await
        .unwrap();
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert!(count > 0, "the role reads the log");
    sqlx::query("SAVEPOINT s").execute(&mut *tx).await.unwrap();
    let err = sqlx::query("ALTER TABLE events DISABLE TRIGGER events_append_only")
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("owner"),
        "the role owns nothing: {err}"
    );
    sqlx::query("ROLLBACK TO SAVEPOINT s")
        .execute(&mut *tx)
        .await
        .unwrap();
    let err = sqlx::query("SET session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_changed_payload_is_found_at_its_sequence(pool: PgPool) {
    populated(&pool).await;
    let profile = profile_id(&pool).await;
    tamper(
        &pool,
        &format!(
            "UPDATE events SET payload = jsonb_set(payload, '{{ProfileFunded,amount}}', '\"1000000\"')
              WHERE aggregate_id = '{profile}' AND sequence = 2"
        ),
    )
    .await;
    assert_eq!(
        first_break(&pool).await,
        (profile, 2, BreakReason::ContentChanged)
    );
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn changed_metadata_is_found_at_its_sequence(pool: PgPool) {
    populated(&pool).await;
    let profile = profile_id(&pool).await;
    tamper(
        &pool,
        &format!(
            "UPDATE events SET metadata = jsonb_set(metadata, '{{actor}}', '\"mallory\"')
              WHERE aggregate_id = '{profile}' AND sequence = 3"
        ),
    )
    .await;
    assert_eq!(
        first_break(&pool).await,
        (profile, 3, BreakReason::ContentChanged)
    );
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_deleted_event_is_found_where_the_sequence_jumps(pool: PgPool) {
    populated(&pool).await;
    let profile = profile_id(&pool).await;
    tamper(
        &pool,
        &format!(
            "DELETE FROM event_log WHERE event_id IN (SELECT event_id FROM events WHERE aggregate_id = '{profile}' AND sequence = 2);
             DELETE FROM events WHERE aggregate_id = '{profile}' AND sequence = 2"
        ),
    )
    .await;
    assert_eq!(
        first_break(&pool).await,
        (profile, 3, BreakReason::SequenceGap)
    );
    let v = integrity::verify(&pool, None).await.unwrap();
    assert!(v.log_gap.is_some(), "the log's positions show the hole too");
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn reordered_events_are_found(pool: PgPool) {
    populated(&pool).await;
    let profile = profile_id(&pool).await;
    tamper(
        &pool,
        &format!(
            "UPDATE events SET sequence = sequence + 1000 WHERE aggregate_id = '{profile}' AND sequence IN (2, 3);
             UPDATE events SET sequence = CASE sequence WHEN 1002 THEN 3 ELSE 2 END
              WHERE aggregate_id = '{profile}' AND sequence IN (1002, 1003)"
        ),
    )
    .await;
    let (id, sequence, reason) = first_break(&pool).await;
    assert_eq!((id, sequence), (profile, 2));
    assert_eq!(reason, BreakReason::LinkBroken);
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn an_inserted_event_is_found(pool: PgPool) {
    populated(&pool).await;
    let profile = profile_id(&pool).await;
    // A forged last event with a made-up hash, and one that copies its predecessor's link.
    tamper(
        &pool,
        &format!(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, prev_hash, hash)
             SELECT aggregate_type, aggregate_id, 4, event_type, event_version, payload, metadata, hash, sha256('forged')
               FROM events WHERE aggregate_id = '{profile}' AND sequence = 3"
        ),
    )
    .await;
    assert_eq!(
        first_break(&pool).await,
        (profile, 4, BreakReason::ContentChanged)
    );
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_rewritten_chain_still_fails_the_digest_an_auditor_kept(pool: PgPool) {
    populated(&pool).await;
    let kept = integrity::verify(&pool, None).await.unwrap().digest;
    let profile = profile_id(&pool).await;
    // A thorough attacker rewrites the payload and recomputes the whole stream's chain.
    tamper(
        &pool,
        &format!(
            "UPDATE events SET payload = jsonb_set(payload, '{{ProfileFunded,amount}}', '\"1000000\"')
              WHERE aggregate_id = '{profile}' AND sequence = 2;
             UPDATE events e SET hash = sha256(event_hash_input(e.prev_hash, e))
              WHERE aggregate_id = '{profile}' AND sequence = 2;
             UPDATE events e SET prev_hash = p.hash FROM events p
              WHERE e.aggregate_id = '{profile}' AND p.aggregate_id = e.aggregate_id AND p.sequence = 2 AND e.sequence = 3;
             UPDATE events e SET hash = sha256(event_hash_input(e.prev_hash, e))
              WHERE aggregate_id = '{profile}' AND sequence = 3"
        ),
    )
    .await;
    let v = integrity::verify(&pool, Some(kept.position)).await.unwrap();
    assert!(
        v.first_break.is_none(),
        "the chains were rewritten consistently"
    );
    assert_ne!(v.digest, kept, "but the kept digest no longer matches");
}
