//! The commands the benchmark issues, and the one complete flow that every generated event is
//! copied from.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use onboarding_ledger::domain::vocab::{AccountType, OrderSide, OrderType, TimeInForce};
use onboarding_ledger::domain::{
    Amount, Asset, Decision, DecisionSource, FundingMethod, IdentityId, Market, OrderId,
    OrderRequest, ReportedOrderState,
};
use onboarding_ledger::{AccountRequest, CommandContext, Ledger, OpenedAccount};

use crate::error::BenchError;

/// A valid person submission (the demo's person, Paxos `CreateIdentity` shape).
const PERSON: &str = include_str!("../data/person.json");
/// The SSN in [`PERSON`], replaced by a unique one in every submission.
const PERSON_SSN: &str = "111-22-3333";

/// What funds every benchmark profile: enough for a million orders.
const FUNDING: &str = "1000000000";
/// What each benchmark order spends.
const ORDER_QUOTE: &str = "1000";

/// The context of every benchmark command.
pub(crate) fn context() -> CommandContext {
    CommandContext::new("bench", "bench").with_reason("benchmark")
}

/// Person submissions with SSNs unique among those it hands out (each run has its own database,
/// so its own `cip_id` claims; share one `People` per database).
#[derive(Debug, Default)]
pub(crate) struct People {
    next: AtomicU64,
}

impl People {
    /// The next person's JSON.
    pub(crate) fn next_json(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let ssn = format!(
            "{:03}-{:02}-{:04}",
            100 + (n / 1_000_000) % 900,
            10 + (n / 10_000) % 90,
            n % 10_000
        );
        PERSON.replace(PERSON_SSN, &ssn)
    }
}

/// A market buy of [`ORDER_QUOTE`] USD of BTC with a fresh order id.
pub(crate) fn market_buy() -> Result<OrderRequest, BenchError> {
    Ok(OrderRequest {
        order_id: OrderId::new(),
        side: OrderSide::Buy,
        market: Market::from_str("BTCUSD").map_err(|_| BenchError::Template("market BTCUSD"))?,
        order_type: OrderType::Market,
        base_amount: None,
        quote_amount: Some(amount(ORDER_QUOTE)?),
        price: None,
        stop_price: None,
        time_in_force: TimeInForce::Ioc,
        expires_at: None,
    })
}

fn amount(text: &'static str) -> Result<Amount, BenchError> {
    Amount::from_str(text).map_err(|_| BenchError::Template("an amount"))
}

/// The aggregates of one recorded flow.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flow {
    /// The person.
    pub(crate) identity: IdentityId,
    /// Their account and profile.
    pub(crate) opened: OpenedAccount,
}

/// Runs one complete onboarding through the ledger: a person submitted and approved, an account
/// and profile opened, the profile funded, an order placed and filled, a second order placed.
/// Its events are the template of every generated event, so generated events are exactly what
/// the ledger writes.
pub(crate) async fn record_flow(ledger: &Ledger, people: &People) -> Result<Flow, BenchError> {
    let ctx = context();
    let identity = ledger
        .submit_identity_json(&ctx, &people.next_json())
        .await?;
    ledger
        .record_decision(
            &ctx,
            identity,
            Decision::Approved,
            DecisionSource::ComplianceOfficer {
                officer: "bench-compliance".to_owned(),
            },
            Some("IDV and screening passed".to_owned()),
        )
        .await?;
    let opened = ledger
        .open_account(&ctx, AccountRequest::new(identity, AccountType::Brokerage))
        .await?;
    ledger
        .fund_profile(
            &ctx,
            opened.profile_id,
            format!("bench-deposit-{}", uuid::Uuid::now_v7()),
            Asset::from_str("USD").map_err(|_| BenchError::Template("asset USD"))?,
            amount(FUNDING)?,
            FundingMethod::SandboxTestFunds,
        )
        .await?;
    let filled = ledger
        .place_order(&ctx, opened.profile_id, market_buy()?)
        .await?;
    ledger
        .record_order_update(
            &ctx,
            opened.profile_id,
            filled,
            ReportedOrderState::Filled,
            amount("0.02")?,
            Some(amount("50000")?),
            None,
        )
        .await?;
    ledger
        .place_order(&ctx, opened.profile_id, market_buy()?)
        .await?;
    Ok(Flow { identity, opened })
}
