use onboarding_ledger::{CommandContext, Ledger, LedgerOptions};
use sqlx::PgPool;

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_fresh_database_has_an_empty_log(pool: PgPool) {
    let ledger = Ledger::on_pool(pool, &LedgerOptions::default());
    assert_eq!(ledger.read_log(0, 10).await.unwrap().len(), 0);
    let _ = CommandContext::new("t", "test");
}
