//! `cip_id` uniqueness under a race: one submission wins, every other one is told who holds it,
//! and the claims table holds no document number.

use futures::future::join_all;
use onboarding_ledger::domain::vocab::IdentityStatus;
use onboarding_ledger::domain::{event_names, IdentityError};
use onboarding_ledger::LedgerError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

use crate::fixtures::{self, ctx};

const RACERS: usize = 8;

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn one_of_many_submissions_with_the_same_ssn_wins(
    _: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let pool = fixtures::wide_pool(connect, 16).await;
    let ledger = fixtures::ledger(&pool);
    let ctx = ctx();
    let ssn = fixtures::unique_ssn();
    let json = fixtures::person_json(&ssn);

    let results = join_all((0..RACERS).map(|_| ledger.submit_identity_json(&ctx, &json))).await;

    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one submission wins");
    let winner = *winners[0];
    for result in &results {
        match result {
            Ok(id) => assert_eq!(*id, winner),
            Err(LedgerError::Identity(IdentityError::CipIdTaken { existing })) => {
                assert_eq!(*existing, winner, "a loser is told the winner's id");
            }
            Err(other) => panic!("a losing submission failed with {other}"),
        }
    }
    // Losing again later gives the same answer.
    match ledger.submit_identity_json(&ctx, &json).await {
        Err(LedgerError::Identity(IdentityError::CipIdTaken { existing })) => {
            assert_eq!(existing, winner)
        }
        other => panic!("a late duplicate was not refused: {other:?}"),
    }

    let submitted: Vec<String> =
        sqlx::query_scalar("SELECT aggregate_id FROM events WHERE event_type = $1")
            .bind(event_names::IDENTITY_SUBMITTED)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(submitted, [winner.to_string()]);
    let identity = ledger.identity(winner).await.unwrap().unwrap();
    assert_eq!(identity.status(), Some(IdentityStatus::Pending));

    let claims: Vec<(Vec<u8>, Uuid, String)> =
        sqlx::query_as("SELECT fingerprint, identity_id, to_jsonb(c)::text FROM cip_claims c")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(claims.len(), 1, "one claim, the winner's");
    let (fingerprint, holder, row) = &claims[0];
    assert_eq!(*holder, winner.as_uuid());
    assert_eq!(fingerprint.len(), 32, "an HMAC-SHA256 fingerprint");
    let digits: String = ssn.chars().filter(char::is_ascii_digit).collect();
    let ssn_hex: String = ssn.bytes().map(|b| format!("{b:02x}")).collect();
    let digits_hex: String = digits.bytes().map(|b| format!("{b:02x}")).collect();
    for needle in [&ssn, &digits, &ssn_hex, &digits_hex] {
        assert!(!row.contains(needle.as_str()), "cip_claims holds the SSN");
    }
    pool.close().await;
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn different_ssns_do_not_collide(pool: sqlx::PgPool) {
    let ledger = fixtures::ledger(&pool);
    let ctx = ctx();
    let a = fixtures::submit_person(&ledger, &ctx).await;
    let b = fixtures::submit_person(&ledger, &ctx).await;
    assert_ne!(a, b);
    let claims: i64 = sqlx::query_scalar("SELECT count(*) FROM cip_claims")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(claims, 2);
}
