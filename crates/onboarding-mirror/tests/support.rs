//! Fixtures: a sandbox, a client wired to it, a ledger on the test's database, a mirror.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use onboarding_ledger::domain::vocab::{AccountType, OrderSide, OrderType, TimeInForce};
use onboarding_ledger::domain::{
    Amount, FundingMethod, IdentityId, OrderId, OrderRequest, ProfileId,
};
use onboarding_ledger::{AccountRequest, CommandContext, Ledger, LedgerOptions, OpenedAccount};
use onboarding_mirror::{
    Checkpoints, DecisionRecorder, EventsPoller, MirrorOptions, MirrorReport, MirrorWorker,
};
use onboarding_paxos::{Pacing, PaxosClient, PaxosConfig, RetryPolicy};
use paxos_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use sqlx::PgPool;

/// How long any wait on a condition may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// Everything one test drives.
pub struct World {
    pub sandbox: SandboxHandle,
    pub paxos: PaxosClient,
    pub ledger: Arc<Ledger>,
    pub mirror: MirrorWorker,
    pub recorder: DecisionRecorder,
    pub poller: EventsPoller,
}

pub async fn world(pool: &PgPool) -> World {
    world_with(pool, SandboxConfig::default()).await
}

pub async fn world_with(pool: &PgPool, config: SandboxConfig) -> World {
    let sandbox = Sandbox::start(config).await.expect("the sandbox starts");
    let paxos = client(&sandbox, Duration::from_secs(5));
    let ledger = Arc::new(Ledger::on_pool(pool.clone(), &LedgerOptions::default()));
    let checkpoints = Checkpoints::for_ledger(&ledger);
    let mirror = MirrorWorker::new(
        ledger.clone(),
        paxos.clone(),
        checkpoints.clone(),
        MirrorOptions::default(),
    );
    let recorder = DecisionRecorder::new(ledger.clone(), paxos.clone());
    let poller = EventsPoller::new(paxos.clone(), recorder.clone(), checkpoints);
    World {
        sandbox,
        paxos,
        ledger,
        mirror,
        recorder,
        poller,
    }
}

/// A client for `sandbox`: fast retries, pacing that does not slow tests.
pub fn client(sandbox: &SandboxHandle, timeout: Duration) -> PaxosClient {
    let mut config = PaxosConfig::new(
        &sandbox.base_url,
        &sandbox.oauth_url,
        &sandbox.client_id,
        &sandbox.client_secret,
    );
    config.timeout = timeout;
    config.retry = RetryPolicy {
        max_attempts: 4,
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        jitter: true,
        max_retry_after: Duration::from_secs(2),
    };
    config.pacing = Pacing {
        identity_per_second: 1000,
        other_per_second: 1000,
        token_interval: Duration::from_millis(1),
    };
    PaxosClient::new(config).expect("a valid configuration")
}

pub fn ctx() -> CommandContext {
    CommandContext::new("integration-test", "test")
}

pub fn unique_ssn() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed) + std::process::id() % 1000 * 10;
    format!(
        "{:03}-{:02}-{:04}",
        200 + n % 500,
        10 + n % 80,
        1000 + n % 9000
    )
}

pub fn person_json(ssn: &str, last_name: &str) -> String {
    serde_json::json!({
        "person_details": {
            "first_name": "Ada",
            "last_name": last_name,
            "date_of_birth": "1988-04-12",
            "address": {
                "country": "USA", "address1": "1 Main Street", "city": "New York",
                "province": "NY", "zip_code": "10001"
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
        "tax_details": [{ "tax_payer_id": ssn, "tax_payer_country": "USA" }]
    })
    .to_string()
}

pub async fn submit_person(ledger: &Ledger) -> IdentityId {
    ledger
        .submit_identity_json(&ctx(), &person_json(&unique_ssn(), "Quint"))
        .await
        .expect("a valid person is accepted")
}

/// One mirror pass that must reach the head of the log.
pub async fn mirror_all(world: &World) -> MirrorReport {
    let report = world.mirror.run_once().await.expect("the mirror pass runs");
    assert_eq!(
        report.waiting, None,
        "the pass reached the head: {report:?}"
    );
    report
}

/// Submits a person, mirrors it, and records Paxos's approval through the events poller.
pub async fn approved_person(world: &World) -> IdentityId {
    let id = submit_person(&world.ledger).await;
    mirror_all(world).await;
    let paxos_id = paxos_identity_id(world, id).await;
    world
        .sandbox
        .wait_for_event(WAIT, |e| {
            e.event_type == "identity.approved" && e.object["identity_id"] == paxos_id.as_str()
        })
        .await
        .expect("the sandbox approves");
    world
        .poller
        .catch_up()
        .await
        .expect("the poller catches up");
    id
}

pub async fn paxos_identity_id(world: &World, id: IdentityId) -> String {
    world
        .ledger
        .identity(id)
        .await
        .expect("readable")
        .expect("submitted")
        .paxos_identity_id()
        .expect("linked to Paxos")
        .to_owned()
}

pub async fn open_account(world: &World, owner: IdentityId) -> OpenedAccount {
    world
        .ledger
        .open_account(&ctx(), AccountRequest::new(owner, AccountType::Brokerage))
        .await
        .expect("an approved owner can open an account")
}

pub fn amount(text: &str) -> Amount {
    text.parse().expect("an amount")
}

pub async fn fund_sandbox(world: &World, profile: ProfileId, funding_id: &str, usd: &str) {
    fund_with(
        world,
        profile,
        funding_id,
        ("USD", usd),
        FundingMethod::SandboxTestFunds,
    )
    .await;
}

/// Credits `profile` with `(asset, amount)` under `funding_id` by `method`.
pub async fn fund_with(
    world: &World,
    profile: ProfileId,
    funding_id: &str,
    (asset, how_much): (&str, &str),
    method: FundingMethod,
) {
    world
        .ledger
        .fund_profile(
            &ctx(),
            profile,
            funding_id.to_owned(),
            asset.parse().expect("an asset code"),
            amount(how_much),
            method,
        )
        .await
        .expect("funding is accepted");
}

pub fn market_buy(usd: &str) -> OrderRequest {
    OrderRequest {
        order_id: OrderId::new(),
        side: OrderSide::Buy,
        market: "BTCUSD".parse().expect("a market"),
        order_type: OrderType::Market,
        base_amount: None,
        quote_amount: Some(amount(usd)),
        price: None,
        stop_price: None,
        time_in_force: TimeInForce::Ioc,
        expires_at: None,
    }
}

/// The requests the sandbox received for `method path` (path after the `/v2` base).
pub fn requests(
    sandbox: &SandboxHandle,
    method: &str,
    path: &str,
) -> Vec<paxos_sandbox::RecordedRequest> {
    let full = format!("/v2{path}");
    sandbox
        .requests()
        .into_iter()
        .filter(|r| r.method == method && (r.path == full || r.path == path))
        .collect()
}

/// Event types in one aggregate's stream.
pub async fn event_types(ledger: &Ledger, aggregate: &str, id: &str) -> Vec<String> {
    ledger
        .events_of(aggregate, id)
        .await
        .expect("readable")
        .into_iter()
        .map(|e| e.event_type)
        .collect()
}

/// A BTCUSD limit buy of `base` BTC at `price` USD, good till cancelled.
pub fn limit_buy(base: &str, price: &str) -> OrderRequest {
    OrderRequest {
        order_type: OrderType::Limit,
        base_amount: Some(amount(base)),
        quote_amount: None,
        price: Some(amount(price)),
        time_in_force: TimeInForce::Gtc,
        ..market_buy("1")
    }
}

/// An approved person with a mirrored account whose profile holds `usd` of sandbox funds, at
/// Paxos and in the ledger.
/// An approved person's account, opened and mirrored (owner, account and profile at Paxos).
pub async fn mirrored_account(world: &World) -> (IdentityId, OpenedAccount) {
    let id = approved_person(world).await;
    let opened = open_account(world, id).await;
    mirror_all(world).await;
    (id, opened)
}

pub async fn funded_account(world: &World, usd: &str) -> (IdentityId, OpenedAccount) {
    let id = approved_person(world).await;
    let opened = open_account(world, id).await;
    fund_sandbox(world, opened.profile_id, "fund-1", usd).await;
    mirror_all(world).await;
    (id, opened)
}

/// Events of one aggregate's stream.
pub async fn events(
    ledger: &Ledger,
    aggregate: &str,
    id: &str,
) -> Vec<onboarding_ledger::RecordedEvent> {
    ledger.events_of(aggregate, id).await.expect("readable")
}
