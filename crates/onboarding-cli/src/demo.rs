//! `onboarding demo`: the seeds' two onboarding flows, end to end.
//!
//! 1. A person, verified by the integrator's IDV provider (passthrough), is submitted, approved,
//!    gets a brokerage account and profile, is funded with 10,000 USD, buys BTC at market, and
//!    the fill settles the profile. An order beyond the balance is refused.
//! 2. A corporation: its beneficial owner and control person are submitted and approved first,
//!    then the corporation with them as members; enhanced due diligence asks for documents, a
//!    compliance officer approves; the account is funded and a limit order fills in two parts.
//!
//! The demo data is synthetic; document numbers are drawn per run so that several demos can share
//! one database.

use std::str::FromStr;

use anyhow::{bail, Context};
use onboarding_ledger::domain::vocab::{
    AccountType, IdentityStatus, OrderSide, OrderType, TimeInForce,
};
use onboarding_ledger::domain::{
    event_names, Amount, Asset, Decision, DecisionSource, FundingMethod, IdentityId, Market,
    OrderId, OrderRequest, ProfileId, ReportedOrderState,
};
use onboarding_ledger::{AccountRequest, CommandContext, Ledger, LedgerError, LedgerOptions};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::print;

const PERSON: &str = include_str!("../demo/person.json");
const INSTITUTION: &str = include_str!("../demo/institution.json");

/// Narrates the demo's steps unless the output is JSON.
struct Narrator {
    quiet: bool,
}

impl Narrator {
    fn section(&self, title: &str) {
        if !self.quiet {
            println!("\n== {title}");
        }
    }

    fn step(&self, text: impl AsRef<str>) {
        if !self.quiet {
            println!("  - {}", text.as_ref());
        }
    }
}

/// A synthetic SSN, different each run.
fn synthetic_ssn() -> String {
    let n = Uuid::new_v4().as_u128();
    format!(
        "{:03}-{:02}-{:04}",
        100 + n % 500,
        10 + (n >> 16) % 89,
        1000 + (n >> 32) % 9000
    )
}

/// A synthetic EIN, different each run.
fn synthetic_ein() -> String {
    let n = Uuid::new_v4().as_u128();
    format!(
        "{:02}-{:07}",
        10 + n % 89,
        1_000_000 + (n >> 16) % 9_000_000
    )
}

fn person_json(first_name: &str, last_name: &str) -> anyhow::Result<String> {
    let mut person: Value = serde_json::from_str(PERSON).context("demo person JSON")?;
    let ssn = synthetic_ssn();
    person["person_details"]["first_name"] = json!(first_name);
    person["person_details"]["last_name"] = json!(last_name);
    person["person_details"]["cip_id"] = json!(ssn);
    person["tax_details"][0]["tax_payer_id"] = json!(ssn);
    Ok(person.to_string())
}

fn institution_json(owner: IdentityId, control: IdentityId) -> anyhow::Result<String> {
    let mut inst: Value = serde_json::from_str(INSTITUTION).context("demo institution JSON")?;
    let ein = synthetic_ein();
    inst["institution_details"]["cip_id"] = json!(ein);
    inst["tax_details"][0]["tax_payer_id"] = json!(ein);
    inst["institution_members"][0]["identity_id"] = json!(owner.to_string());
    inst["institution_members"][1]["identity_id"] = json!(control.to_string());
    Ok(inst.to_string())
}

fn amount(text: &str) -> anyhow::Result<Amount> {
    Amount::from_str(text).with_context(|| format!("demo amount {text}"))
}

fn asset(code: &str) -> anyhow::Result<Asset> {
    Asset::from_str(code).with_context(|| format!("demo asset {code}"))
}

fn btcusd() -> anyhow::Result<Market> {
    Market::from_str("BTCUSD").context("demo market")
}

/// A BTCUSD market buy spending `quote` USD (immediate or cancel).
fn market_buy(quote: &str) -> anyhow::Result<OrderRequest> {
    Ok(OrderRequest {
        order_id: OrderId::new(),
        side: OrderSide::Buy,
        market: btcusd()?,
        order_type: OrderType::Market,
        base_amount: None,
        quote_amount: Some(amount(quote)?),
        price: None,
        stop_price: None,
        time_in_force: TimeInForce::Ioc,
        expires_at: None,
    })
}

/// A BTCUSD limit buy of `base` BTC at `price` USD (good till cancelled).
fn limit_buy(base: &str, price: &str) -> anyhow::Result<OrderRequest> {
    Ok(OrderRequest {
        base_amount: Some(amount(base)?),
        quote_amount: None,
        price: Some(amount(price)?),
        order_type: OrderType::Limit,
        time_in_force: TimeInForce::Gtc,
        ..market_buy("1")?
    })
}

struct Flow {
    identity: IdentityId,
    profile: ProfileId,
    label: &'static str,
    /// Every aggregate the flow created, as (aggregate type, id).
    created: Vec<(&'static str, String)>,
}

/// Runs both flows; fails on the first unexpected outcome.
pub async fn run(database_url: Option<&str>, json_output: bool) -> anyhow::Result<()> {
    let say = Narrator { quiet: json_output };
    let ledger = match database_url {
        Some(url) => {
            Ledger::migrate(url).await?;
            let options = LedgerOptions {
                conflict_retries: 3,
                ..crate::options()?
            };
            say.step("event store: Postgres");
            Ledger::connect(url, options).await?
        }
        None => {
            say.step("event store: embedded (in memory); pass --database-url for Postgres");
            Ledger::in_memory()
        }
    };
    let correlation = Uuid::now_v7().to_string();
    let ops = CommandContext::new("demo:onboarding-ops", "demo").with_correlation_id(&correlation);
    let officer = CommandContext::new("demo:compliance-officer", "demo")
        .with_correlation_id(&correlation)
        .with_reason("KYC review completed");

    let person = person_flow(&ledger, &ops, &officer, &say).await?;
    let institution = institution_flow(&ledger, &ops, &officer, &say).await?;

    say.section("Read models (projected from the log)");
    ledger.catch_up().await?;
    let mut summary = Vec::new();
    let mut trails = Vec::new();
    for flow in [&person, &institution] {
        let row = ledger
            .identity_status(flow.identity)
            .await?
            .context("identity missing from the identity_status read model")?;
        if row.status != IdentityStatus::Approved {
            bail!("{} ended {}, expected APPROVED", flow.label, row.status);
        }
        let profile = ledger
            .profile(flow.profile)
            .await?
            .context("profile vanished")?;
        say.step(format!(
            "{} identity {}: {} ({}), last decision {}",
            flow.label,
            flow.identity,
            row.status,
            row.kind,
            row.last_decision.as_deref().unwrap_or("-")
        ));
        for (a, b) in profile.balances() {
            say.step(format!(
                "    {a:<4} available {:>10}  held {:>6}",
                b.available.to_string(),
                b.held.to_string()
            ));
        }
        let balances: Vec<Value> = profile
            .balances()
            .iter()
            .map(|(a, b)| json!({ "asset": a.as_str(), "available": b.available.to_string(), "held": b.held.to_string() }))
            .collect();
        summary.push(json!({
            "flow": flow.label,
            "identity_id": flow.identity.to_string(),
            "status": row.status.as_str(),
            "profile_id": flow.profile.to_string(),
            "balances": balances,
        }));
    }

    say.section("Audit trails");
    for flow in [&person, &institution] {
        let trail = ledger.audit_trail(Some(flow.identity), None).await?;
        if !json_output {
            println!(
                "  {} identity {} ({} entries)",
                flow.label,
                flow.identity,
                trail.len()
            );
            print::trail(&trail);
        }
        trails.push(json!({ "identity_id": flow.identity.to_string(), "entries": trail.len() }));
    }
    let mut events_written = 0;
    for (aggregate_type, id) in person.created.iter().chain(&institution.created) {
        events_written += ledger.events_of(aggregate_type, id).await?.len();
    }
    if json_output {
        println!(
            "{}",
            json!({ "ok": true, "flows": summary, "trails": trails, "events_written": events_written })
        );
    } else {
        println!("\nDemo complete: {events_written} events written.");
    }
    Ok(())
}

async fn submit_and_approve(
    ledger: &Ledger,
    ops: &CommandContext,
    officer: &CommandContext,
    json: &str,
    what: &str,
    say: &Narrator,
) -> anyhow::Result<IdentityId> {
    let id = ledger.submit_identity_json(ops, json).await?;
    say.step(format!("submitted {what}: identity {id} is PENDING"));
    ledger
        .record_decision(
            officer,
            id,
            Decision::Approved,
            DecisionSource::ComplianceOfficer {
                officer: "demo-compliance".to_owned(),
            },
            Some("IDV and screening passed".to_owned()),
        )
        .await?;
    say.step(format!("decision recorded: {what} {id} APPROVED"));
    Ok(id)
}

async fn fund(
    ledger: &Ledger,
    ops: &CommandContext,
    profile: ProfileId,
    say: &Narrator,
) -> anyhow::Result<()> {
    ledger
        .fund_profile(
            ops,
            profile,
            format!("demo-deposit-{}", Uuid::now_v7()),
            asset("USD")?,
            amount("10000")?,
            FundingMethod::SandboxTestFunds,
        )
        .await?;
    say.step(format!(
        "profile {profile} funded with 10000 USD (sandbox test funds)"
    ));
    Ok(())
}

async fn person_flow(
    ledger: &Ledger,
    ops: &CommandContext,
    officer: &CommandContext,
    say: &Narrator,
) -> anyhow::Result<Flow> {
    say.section("Flow 1: onboard a person (passthrough IDV)");

    let mut incomplete: Value = serde_json::from_str(&person_json("Ada", "Quint")?)?;
    if let Some(details) = incomplete["person_details"].as_object_mut() {
        details.remove("date_of_birth");
        details.insert("nationality".to_owned(), json!("XX"));
    }
    match ledger
        .submit_identity_json(ops, &incomplete.to_string())
        .await
    {
        Err(LedgerError::Invalid(v)) => {
            say.step(format!("an incomplete submission is refused: {v}"))
        }
        other => bail!("an incomplete submission was not refused: {other:?}"),
    }

    let id = submit_and_approve(
        ledger,
        ops,
        officer,
        &person_json("Ada", "Quint")?,
        "person",
        say,
    )
    .await?;
    let opened = ledger
        .open_account(ops, AccountRequest::new(id, AccountType::Brokerage))
        .await?;
    say.step(format!(
        "BROKERAGE account {} opened with profile {}",
        opened.account_id, opened.profile_id
    ));
    fund(ledger, ops, opened.profile_id, say).await?;

    let too_big = market_buy("20000")?;
    match ledger.place_order(ops, opened.profile_id, too_big).await {
        Err(e @ LedgerError::Profile(_)) => {
            say.step(format!("a 20000 USD market buy is refused: {e}"))
        }
        other => bail!("an order beyond the balance was not refused: {other:?}"),
    }

    let order = market_buy("1000")?;
    let order_id = ledger.place_order(ops, opened.profile_id, order).await?;
    say.step(format!(
        "MARKET BUY BTCUSD for 1000 USD placed: order {order_id}, 1000 USD held"
    ));
    ledger
        .record_order_update(
            ops,
            opened.profile_id,
            order_id,
            ReportedOrderState::Filled,
            amount("0.02")?,
            Some(amount("50000")?),
            None,
        )
        .await?;
    say.step("order FILLED: 0.02 BTC at 50000 USD; hold settled");
    Ok(Flow {
        identity: id,
        profile: opened.profile_id,
        label: "person",
        created: vec![
            (event_names::IDENTITY, id.to_string()),
            (event_names::ACCOUNT, opened.account_id.to_string()),
            (event_names::PROFILE, opened.profile_id.to_string()),
        ],
    })
}

async fn institution_flow(
    ledger: &Ledger,
    ops: &CommandContext,
    officer: &CommandContext,
    say: &Narrator,
) -> anyhow::Result<Flow> {
    say.section("Flow 2: onboard an institution (a corporation and its members)");
    let owner = submit_and_approve(
        ledger,
        ops,
        officer,
        &person_json("Bea", "Quint")?,
        "beneficial owner (person, 60%)",
        say,
    )
    .await?;
    let control = submit_and_approve(
        ledger,
        ops,
        officer,
        &person_json("Cal", "Ortiz")?,
        "management control person (person)",
        say,
    )
    .await?;
    let id = ledger
        .submit_identity_json(ops, &institution_json(owner, control)?)
        .await?;
    say.step(format!(
        "submitted corporation with both members: identity {id} is PENDING"
    ));
    ledger
        .record_decision(
            officer,
            id,
            Decision::DocumentsRequired {
                documents: vec![
                    "ARTICLES_OF_INCORPORATION".to_owned(),
                    "PROOF_OF_ADDRESS".to_owned(),
                ],
            },
            DecisionSource::ComplianceOfficer {
                officer: "demo-compliance".to_owned(),
            },
            Some("enhanced due diligence".to_owned()),
        )
        .await?;
    say.step("enhanced due diligence: documents required, still PENDING");
    ledger
        .record_decision(
            officer,
            id,
            Decision::Approved,
            DecisionSource::ComplianceOfficer {
                officer: "demo-compliance".to_owned(),
            },
            Some("documents verified".to_owned()),
        )
        .await?;
    say.step(format!("decision recorded: corporation {id} APPROVED"));

    let opened = ledger
        .open_account(ops, AccountRequest::new(id, AccountType::Brokerage))
        .await?;
    say.step(format!(
        "BROKERAGE account {} opened with profile {}",
        opened.account_id, opened.profile_id
    ));
    fund(ledger, ops, opened.profile_id, say).await?;
    let order = limit_buy("0.1", "50000")?;
    let order_id = ledger.place_order(ops, opened.profile_id, order).await?;
    say.step(format!(
        "LIMIT BUY 0.1 BTC @ 50000 placed: order {order_id}, 5000 USD held"
    ));
    ledger
        .record_order_update(
            ops,
            opened.profile_id,
            order_id,
            ReportedOrderState::Open,
            amount("0.04")?,
            Some(amount("49900")?),
            None,
        )
        .await?;
    say.step("partially filled: 0.04 BTC at 49900");
    ledger
        .record_order_update(
            ops,
            opened.profile_id,
            order_id,
            ReportedOrderState::Filled,
            amount("0.1")?,
            Some(amount("49950")?),
            None,
        )
        .await?;
    say.step("FILLED: 0.1 BTC at an average 49950; 4995 USD spent, 5 USD released");
    Ok(Flow {
        identity: id,
        profile: opened.profile_id,
        label: "institution",
        created: vec![
            (event_names::IDENTITY, owner.to_string()),
            (event_names::IDENTITY, control.to_string()),
            (event_names::IDENTITY, id.to_string()),
            (event_names::ACCOUNT, opened.account_id.to_string()),
            (event_names::PROFILE, opened.profile_id.to_string()),
        ],
    })
}
