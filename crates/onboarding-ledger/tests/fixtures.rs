//! What the tests start from: ledgers on the test database, valid person submissions with unique
//! SSNs, and the approve, open and fund steps most scenarios need.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use onboarding_ledger::domain::vocab::{AccountType, OrderSide, OrderType, TimeInForce};
use onboarding_ledger::domain::{
    Amount, Asset, Decision, DecisionSource, FundingMethod, IdentityId, OrderId, OrderRequest,
    Profile, ProfileEvent, ProfileId,
};
use onboarding_ledger::{
    AccountRequest, CommandContext, Ledger, LedgerError, LedgerOptions, OpenedAccount,
    RecordedEvent,
};
use onboarding_store::aggregates::all_upcasters;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool};

/// How long a test waits for the log to catch up before failing (the log only waits for this
/// test database's own transactions: see `a_transaction_open_in_another_database_...`).
const LOG_DEADLINE: Duration = Duration::from_secs(30);

/// The context of an ordinary test command.
pub fn ctx() -> CommandContext {
    CommandContext::new("integration-test", "test")
}

/// A ledger on `pool` with default options (no conflict retries).
pub fn ledger(pool: &PgPool) -> Ledger {
    Ledger::on_pool(pool.clone(), &LedgerOptions::default())
}

/// A ledger on `pool` that retries lost concurrency races `conflict_retries` times.
pub fn ledger_with_retries(pool: &PgPool, conflict_retries: u32) -> Ledger {
    let options = LedgerOptions {
        conflict_retries,
        ..LedgerOptions::default()
    };
    Ledger::on_pool(pool.clone(), &options)
}

/// A pool of `size` connections on the test database, for tests that hold more sessions at once
/// than the 5 of `#[sqlx::test]`'s pool. Close it before the test returns, so that the test
/// database can be dropped.
pub async fn wide_pool(connect: PgConnectOptions, size: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(size)
        .connect_with(connect)
        .await
        .expect("connect to the test database")
}

/// A syntactically valid SSN no other test person of this process has.
pub fn unique_ssn() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!(
        "{:03}-{:02}-{:04}",
        200 + (n / 1_000_000) % 700,
        (n / 10_000) % 100,
        n % 10_000
    )
}

/// A person submission (the demo's `person.json`) with `ssn` as cip_id and tax payer id.
pub fn person_json(ssn: &str) -> String {
    serde_json::json!({
        "person_details": {
            "first_name": "Ada",
            "last_name": "Quint",
            "date_of_birth": "1988-04-12",
            "address": {
                "country": "USA",
                "address1": "1 Main Street",
                "city": "New York",
                "province": "NY",
                "zip_code": "10001"
            },
            "nationality": "USA",
            "cip_id": ssn,
            "cip_id_type": "SSN",
            "cip_id_country": "USA",
            "email": "ada.quint@example.com",
            "verifier_type": "PASSTHROUGH",
            "passthrough_verifier_type": "PERSONA",
            "passthrough_verified_at": "2026-01-15T10:00:00Z",
            "passthrough_verification_id": "inq_test_0001",
            "passthrough_verification_status": "APPROVED",
            "passthrough_verification_fields": [
                "FULL_LEGAL_NAME", "ADDRESS", "DATE_OF_BIRTH", "CIP_ID"
            ]
        },
        "customer_due_diligence": {
            "estimated_yearly_income": "INCOME_100K_TO_250K",
            "expected_transfer_value": "TRANSFER_VALUE_25K_TO_50K",
            "source_of_wealth": "EMPLOYMENT_INCOME",
            "employment_status": "FULL_TIME",
            "employment_industry_sector": "FINANCE_INSURANCE"
        },
        "tax_details": [{ "tax_payer_id": ssn, "tax_payer_country": "USA" }],
        "metadata": { "channel": "test" }
    })
    .to_string()
}

/// Submits a new person with a fresh SSN; it is `PENDING`.
pub async fn submit_person(ledger: &Ledger, ctx: &CommandContext) -> IdentityId {
    ledger
        .submit_identity_json(ctx, &person_json(&unique_ssn()))
        .await
        .expect("a valid person is accepted")
}

/// A compliance officer's approval.
pub async fn approve(ledger: &Ledger, ctx: &CommandContext, id: IdentityId) {
    ledger
        .record_decision(ctx, id, Decision::Approved, officer(), None)
        .await
        .expect("a pending identity can be approved");
}

/// The decision source used by the tests.
pub fn officer() -> DecisionSource {
    DecisionSource::ComplianceOfficer {
        officer: "officer-7".to_owned(),
    }
}

/// A submitted and approved person.
pub async fn approved_person(ledger: &Ledger) -> IdentityId {
    let ctx = ctx();
    let id = submit_person(ledger, &ctx).await;
    approve(ledger, &ctx, id).await;
    id
}

/// Opens a brokerage account (and its profile) for `owner`.
pub async fn open_account(ledger: &Ledger, owner: IdentityId) -> OpenedAccount {
    ledger
        .open_account(&ctx(), AccountRequest::new(owner, AccountType::Brokerage))
        .await
        .expect("an approved owner can open an account")
}

/// An open, empty profile of a new approved person.
pub async fn open_profile(ledger: &Ledger) -> ProfileId {
    let owner = approved_person(ledger).await;
    open_account(ledger, owner).await.profile_id
}

/// A market order buying BTC for `quote` USD.
pub fn market_buy(quote: &str) -> OrderRequest {
    OrderRequest {
        order_id: OrderId::new(),
        side: OrderSide::Buy,
        market: "BTCUSD".parse().expect("a known market"),
        order_type: OrderType::Market,
        base_amount: None,
        quote_amount: Some(amount(quote)),
        price: None,
        stop_price: None,
        time_in_force: TimeInForce::Ioc,
        expires_at: None,
    }
}

/// Credits `amount` USD to `profile` as deposit `funding_id`.
pub async fn fund(
    ledger: &Ledger,
    profile: ProfileId,
    funding_id: impl Into<String>,
    amount: &str,
) -> Result<(), LedgerError> {
    ledger
        .fund_profile(
            &ctx(),
            profile,
            funding_id.into(),
            usd(),
            self::amount(amount),
            FundingMethod::Deposit,
        )
        .await
}

/// US dollars.
pub fn usd() -> Asset {
    "USD".parse().expect("USD is an asset code")
}

/// An exact amount from its decimal text.
pub fn amount(text: &str) -> Amount {
    text.parse().expect("a decimal amount")
}

/// The sum of `amounts`.
pub fn sum<'a>(amounts: impl IntoIterator<Item = &'a Amount>) -> Amount {
    amounts.into_iter().fold(Amount::ZERO, |total, a| {
        total.checked_add(*a).expect("test sums stay small")
    })
}

/// The USD `available` balance of a profile as `ledger` loads it.
pub async fn available_usd(ledger: &Ledger, profile: ProfileId) -> Amount {
    ledger
        .profile(profile)
        .await
        .expect("the profile loads")
        .expect("the profile is open")
        .balance(&usd())
        .available
}

/// The `(funding_id, amount)` of every `ProfileFunded` event among `events`, decoded as the
/// store decodes them.
pub fn fundings(events: &[RecordedEvent]) -> Vec<(String, Amount)> {
    let upcasters = all_upcasters();
    events
        .iter()
        .filter_map(|e| match e.decode::<Profile>(&upcasters) {
            Ok(ProfileEvent::ProfileFunded {
                funding_id, amount, ..
            }) => Some((funding_id, amount)),
            Ok(_) => None,
            Err(err) => panic!("stored profile event does not decode: {err}"),
        })
        .collect()
}

/// The events of one aggregate once every one of them has a log position.
pub async fn sequenced_events_of(
    ledger: &Ledger,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Vec<RecordedEvent> {
    let deadline = Instant::now() + LOG_DEADLINE;
    loop {
        let events = ledger
            .events_of(aggregate_type, aggregate_id)
            .await
            .expect("events_of");
        if events.iter().all(|e| e.position > 0) {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "events of {aggregate_type} {aggregate_id} were never sequenced"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Reads the log after `after` in batches of `batch` until `count` events have arrived, checking
/// on the way that positions follow each other with no gap.
pub async fn read_log_until(
    ledger: &Ledger,
    after: i64,
    count: usize,
    batch: usize,
) -> Vec<RecordedEvent> {
    let deadline = Instant::now() + LOG_DEADLINE;
    let mut seen: Vec<RecordedEvent> = Vec::new();
    while seen.len() < count {
        let last = seen.last().map_or(after, |e| e.position);
        let events = ledger.read_log(last, batch).await.expect("read_log");
        assert!(events.len() <= batch, "read_log returned more than asked");
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e.position, last + 1 + i as i64, "log positions have a gap");
        }
        if events.is_empty() {
            assert!(
                Instant::now() < deadline,
                "the log stopped at {} of {count} events",
                seen.len()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        seen.extend(events);
    }
    seen
}

/// Takes, in `tx`, the advisory lock every ledger append takes on an identity's stream (see the
/// migration `20261122000007_consulted_facts.sql`): exclusive as its writer holds it, or shared
/// as an append that read it does. Held until `tx` ends.
pub async fn lock_identity_stream(tx: &mut PgConnection, identity: IdentityId, shared: bool) {
    let lock = if shared {
        "SELECT pg_advisory_xact_lock_shared(hashtextextended('identity/' || $1, 0))"
    } else {
        "SELECT pg_advisory_xact_lock(hashtextextended('identity/' || $1, 0))"
    };
    sqlx::query(lock)
        .bind(identity.to_string())
        .execute(tx)
        .await
        .unwrap();
}

/// Waits until `n` sessions of this database wait for a lock while inserting events.
pub async fn wait_for_blocked_appends(pool: &PgPool, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let blocked: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
              WHERE datname = current_database()
                AND wait_event_type = 'Lock'
                AND (query LIKE '%INSERT INTO events%' OR query LIKE '-- ledger append%')",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if blocked >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {blocked} of {n} appends got blocked"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until `n` appends of `ledger` are on their way (waiting for their group or in flight).
pub async fn wait_for_appends_in_progress(ledger: &Ledger, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pending = ledger.repository().appends_in_progress();
        if pending >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {pending} of {n} appends got under way"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Holds every append at the door (`LOCK TABLE events`) while `run` gets under way with `n` of
/// them, then opens it: they then race deterministically.
pub async fn gated<T>(
    pool: &PgPool,
    ledger: &Ledger,
    n: usize,
    run: impl std::future::Future<Output = T>,
) -> T {
    let mut gate = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE events IN EXCLUSIVE MODE")
        .execute(&mut *gate)
        .await
        .unwrap();
    let release = async {
        wait_for_appends_in_progress(ledger, n).await;
        gate.commit().await.unwrap();
    };
    let (out, ()) = tokio::join!(run, release);
    out
}
