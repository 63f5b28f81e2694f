//! A ledger that cannot work says why, in a way an operator can act on.

use std::time::{Duration, Instant};

use onboarding_ledger::{Ledger, LedgerError, LedgerOptions};
use onboarding_store::StoreError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::ConnectOptions;

fn expect_err(result: Result<Ledger, LedgerError>) -> LedgerError {
    match result {
        Ok(_) => panic!("the ledger connected"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn a_server_that_is_down_is_unreachable() {
    let started = Instant::now();
    let err = expect_err(
        Ledger::connect(
            "postgres://postgres@127.0.0.1:1/x",
            LedgerOptions::default(),
        )
        .await,
    );
    assert!(
        matches!(err, LedgerError::Store(StoreError::Unreachable(_))),
        "got {err:?}"
    );
    assert!(err.is_retryable());
    assert!(err.to_string().starts_with("cannot reach the database"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a refused connection fails fast, took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_malformed_url_is_reported_as_such() {
    let err = expect_err(Ledger::connect("not a url", LedgerOptions::default()).await);
    match &err {
        LedgerError::Store(StoreError::Config(message)) => {
            assert!(message.contains("invalid database URL"), "{message}");
            assert!(!err.is_retryable(), "a wrong URL stays wrong")
        }
        other => panic!("got {other:?}"),
    }
}

#[sqlx::test(migrations = false)]
async fn a_database_without_the_schema_asks_for_onboarding_migrate(
    _: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let url = connect.to_url_lossy().to_string();
    let err = expect_err(Ledger::connect(&url, LedgerOptions::default()).await);
    assert!(
        matches!(err, LedgerError::Store(StoreError::SchemaMissing(_))),
        "got {err:?}"
    );
    assert!(!err.is_retryable());
    assert!(
        err.to_string().contains("run `onboarding migrate`"),
        "{err}"
    );

    // Doing what the message says fixes it.
    Ledger::migrate(&url).await.unwrap();
    let ledger = Ledger::connect(&url, LedgerOptions::default())
        .await
        .expect("a migrated database connects");
    assert_eq!(ledger.read_log(0, 10).await.unwrap(), []);
    if let Some(pool) = ledger.repository().pool() {
        pool.close().await;
    }
}

#[sqlx::test(migrations = false)]
async fn reading_the_log_of_a_database_without_the_schema_asks_for_onboarding_migrate(
    pool: sqlx::PgPool,
) {
    let ledger = Ledger::on_pool(pool, &LedgerOptions::default());
    match ledger.read_log(0, 10).await {
        Err(err @ LedgerError::Store(StoreError::SchemaMissing(_))) => {
            assert!(
                err.to_string().contains("run `onboarding migrate`"),
                "{err}"
            )
        }
        other => panic!("got {other:?}"),
    }
}
