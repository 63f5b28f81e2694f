//! `onboarding demo`: the seeds' two onboarding flows, end to end, mirrored to Paxos.
//!
//! 1. A person, verified by the integrator's IDV provider (passthrough), is submitted and
//!    mirrored to Paxos, which approves; a brokerage account and profile are opened at Paxos,
//!    funded with 10,000 USD of sandbox test funds, and a market buy of BTC is filled by Paxos
//!    and settled in the profile. An order beyond the balance is refused by the ledger.
//! 2. A corporation: its beneficial owner and control person are submitted and approved by Paxos
//!    first, then the corporation is created at Paxos with them as members (by their Paxos
//!    identity ids); a compliance officer's enhanced due diligence asks for documents, then
//!    Paxos approves. The account is funded and a limit buy stays open at Paxos until the market
//!    falls to its price; the fill is polled and settles the profile.
//!
//! Paxos is an in-process `paxos-sandbox` unless `--paxos-api-url` names one ([`mirror`]);
//! with `--no-mirror` a compliance officer decides and fills are recorded by hand. The demo data
//! is synthetic; document numbers are drawn per run so that several demos can share one
//! database.

mod mirror;

use std::str::FromStr;
use std::sync::Arc;

use anyhow::{bail, Context};
use onboarding_ledger::domain::vocab::{
    AccountType, IdentityStatus, OrderSide, OrderType, TimeInForce,
};
use onboarding_ledger::domain::{
    event_names, AccountId, Amount, Asset, Decision, DecisionSource, FundingMethod, IdentityId,
    Market, OrderId, OrderRequest, ProfileId, ReportedOrderState,
};
use onboarding_ledger::{AccountRequest, CommandContext, Ledger, LedgerError, LedgerOptions};
use serde_json::{json, Value};
use uuid::Uuid;

pub use mirror::DemoArgs;
use mirror::DemoMirror;

use crate::print::{self, outln};

const PERSON: &str = include_str!("../demo/person.json");
const INSTITUTION: &str = include_str!("../demo/institution.json");

/// Narrates the demo's steps unless the output is JSON.
struct Narrator {
    quiet: bool,
}

impl Narrator {
    fn section(&self, title: &str) {
        if !self.quiet {
            outln!("\n== {title}");
        }
    }

    fn step(&self, text: impl AsRef<str>) {
        if !self.quiet {
            outln!("  - {}", text.as_ref());
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

/// What the demo says of its order still open at Paxos after the wait: on PostgreSQL a
/// running `onboarding mirror run` picks it up; the embedded store ends with this process.
fn still_open(order: OrderId, on_postgres: bool) -> String {
    if on_postgres {
        format!("order {order} is still OPEN at Paxos; `onboarding mirror run` keeps polling it")
    } else {
        format!(
            "order {order} is still OPEN at Paxos; nothing will poll it \
             (the embedded store ends with this demo)"
        )
    }
}

struct Flow {
    identity: IdentityId,
    account: AccountId,
    profile: ProfileId,
    label: &'static str,
    /// Every aggregate the flow created, as (aggregate type, id).
    created: Vec<(&'static str, String)>,
}

/// What the flows share: the ledger, who acts, the narrator and the Paxos side (if any).
struct Demo<'a> {
    ledger: &'a Ledger,
    ops: CommandContext,
    officer: CommandContext,
    say: Narrator,
    paxos: Option<DemoMirror>,
    /// Whether the ledger is on PostgreSQL, where what the demo wrote outlives it.
    on_postgres: bool,
}

/// Runs both flows; fails on the first unexpected outcome.
pub async fn run(
    database_url: Option<&str>,
    json_output: bool,
    args: &DemoArgs,
) -> anyhow::Result<()> {
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
    let ledger = Arc::new(ledger);
    let correlation = Uuid::now_v7().to_string();
    let paxos = match DemoMirror::start(&ledger, args, &correlation).await? {
        Some((mirror, target)) => {
            say.step(format!(
                "mirroring to the {target}; decisions come back through the events poller"
            ));
            Some(mirror)
        }
        None => {
            say.step("not mirrored to Paxos (--no-mirror): a compliance officer decides");
            None
        }
    };
    let demo = Demo {
        ledger: &ledger,
        ops: CommandContext::new("demo:onboarding-ops", "demo").with_correlation_id(&correlation),
        officer: CommandContext::new("demo:compliance-officer", "demo")
            .with_correlation_id(&correlation)
            .with_reason("KYC review completed"),
        say,
        paxos,
        on_postgres: database_url.is_some(),
    };

    let person = demo.person_flow().await?;
    let institution = demo.institution_flow().await?;
    let say = &demo.say;

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
        let account = ledger.account(flow.account).await?;
        let (paxos_account, paxos_profile) = account.paxos_ids().map_or((None, None), |(a, p)| {
            (Some(a.to_owned()), Some(p.to_owned()))
        });
        let mirror = serde_json::to_value(row.mirror)?;
        say.step(format!(
            "{} identity {}: {} ({}), last decision {}",
            flow.label,
            flow.identity,
            row.status,
            row.kind,
            row.last_decision.as_deref().unwrap_or("-")
        ));
        say.step(format!(
            "    Paxos: mirror {}, identity {}, account {}, profile {}",
            mirror.as_str().unwrap_or("-"),
            row.paxos_identity_id.as_deref().unwrap_or("-"),
            paxos_account.as_deref().unwrap_or("-"),
            paxos_profile.as_deref().unwrap_or("-"),
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
            "last_decision": row.last_decision,
            "profile_id": flow.profile.to_string(),
            "balances": balances,
            "paxos": {
                "mirror": mirror,
                "identity_id": row.paxos_identity_id,
                "account_id": paxos_account,
                "profile_id": paxos_profile,
            },
        }));
    }

    say.section("Audit trails");
    for flow in [&person, &institution] {
        let trail = ledger.audit_trail(Some(flow.identity), None).await?;
        if !json_output {
            outln!(
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
    let mirrored_to = demo.paxos.as_ref().map(|m| {
        if m.sandbox().is_some() {
            "in-process sandbox"
        } else {
            "paxos-api-url"
        }
    });
    if json_output {
        outln!(
            "{}",
            json!({
                "ok": true,
                "mirrored_to": mirrored_to,
                "flows": summary,
                "trails": trails,
                "events_written": events_written,
            })
        );
    } else {
        outln!("\nDemo complete: {events_written} events written.");
    }
    Ok(())
}

impl Demo<'_> {
    /// Submits an identity and gets it decided: by Paxos when mirrored, else by the officer.
    /// Its id, once APPROVED.
    async fn submit_and_approve(&self, json: &str, what: &str) -> anyhow::Result<IdentityId> {
        let id = self.ledger.submit_identity_json(&self.ops, json).await?;
        self.say
            .step(format!("submitted {what}: identity {id} is PENDING"));
        if self.paxos.is_some() {
            self.mirror_identity(id, what).await?;
            self.paxos_decision(id, what).await?;
        } else {
            self.officer_approves(id, what, "IDV and screening passed")
                .await?;
        }
        Ok(id)
    }

    /// Mirrors the pending identity; its Paxos id.
    async fn mirror_identity(&self, id: IdentityId, what: &str) -> anyhow::Result<String> {
        if let Some(paxos) = &self.paxos {
            paxos.pass(what).await?;
        }
        let paxos_id = self
            .ledger
            .identity(id)
            .await?
            .and_then(|i| i.paxos_identity_id().map(str::to_owned))
            .with_context(|| format!("{what} {id} was not linked to a Paxos identity"))?;
        self.say.step(format!(
            "mirrored: Paxos Create Identity (ref_id {id}) answered identity {paxos_id}"
        ));
        Ok(paxos_id)
    }

    /// Waits for Paxos's decision, read through the events poller; fails unless APPROVED.
    async fn paxos_decision(&self, id: IdentityId, what: &str) -> anyhow::Result<()> {
        let Some(paxos) = &self.paxos else {
            return Ok(());
        };
        let status = paxos.decision(id).await?;
        if status != IdentityStatus::Approved {
            bail!("Paxos decided {what} {id}: {status}, expected APPROVED");
        }
        self.say.step(format!(
            "Paxos decided: {what} {id} APPROVED (identity.approved, recorded from the events poller)"
        ));
        Ok(())
    }

    async fn officer_approves(&self, id: IdentityId, what: &str, why: &str) -> anyhow::Result<()> {
        self.ledger
            .record_decision(
                &self.officer,
                id,
                Decision::Approved,
                DecisionSource::ComplianceOfficer {
                    officer: "demo-compliance".to_owned(),
                },
                Some(why.to_owned()),
            )
            .await?;
        self.say
            .step(format!("decision recorded: {what} {id} APPROVED"));
        Ok(())
    }

    /// Opens a brokerage account (mirrored: a Paxos account with its profile).
    async fn open_account(
        &self,
        owner: IdentityId,
    ) -> anyhow::Result<onboarding_ledger::OpenedAccount> {
        let opened = self
            .ledger
            .open_account(
                &self.ops,
                AccountRequest::new(owner, AccountType::Brokerage),
            )
            .await?;
        self.say.step(format!(
            "BROKERAGE account {} opened with profile {}",
            opened.account_id, opened.profile_id
        ));
        if let Some(paxos) = &self.paxos {
            paxos.pass("the account").await?;
            let account = self.ledger.account(opened.account_id).await?;
            let (a, p) = account
                .paxos_ids()
                .context("the account was not linked to Paxos")?;
            self.say.step(format!(
                "mirrored: Paxos Create Account (create_profile) answered account {a}, profile {p}"
            ));
        }
        Ok(opened)
    }

    async fn fund(&self, profile: ProfileId) -> anyhow::Result<()> {
        let funding = format!("demo-deposit-{}", Uuid::now_v7());
        self.ledger
            .fund_profile(
                &self.ops,
                profile,
                funding.clone(),
                asset("USD")?,
                amount("10000")?,
                FundingMethod::SandboxTestFunds,
            )
            .await?;
        self.say.step(format!(
            "profile {profile} funded with 10000 USD (sandbox test funds)"
        ));
        if let Some(paxos) = &self.paxos {
            paxos.pass("the funding").await?;
            let mirrored = self
                .ledger
                .profile(profile)
                .await?
                .is_some_and(|p| p.paxos_mirrored("CreateSandboxDeposit", &funding).is_some());
            if !mirrored {
                bail!("the sandbox deposit was not mirrored");
            }
            self.say
                .step("mirrored: Paxos sandbox deposit of 10000 USD");
        }
        Ok(())
    }

    /// The Paxos order id of a mirrored order.
    async fn paxos_order(&self, profile: ProfileId, order: OrderId) -> anyhow::Result<String> {
        self.ledger
            .profile(profile)
            .await?
            .and_then(|p| {
                p.paxos_mirrored("CreateOrder", &order.to_string())
                    .flatten()
                    .map(str::to_owned)
            })
            .context("the order was not mirrored to Paxos")
    }

    /// How an order ended in the ledger, e.g. `FILLED 0.02`.
    async fn outcome(&self, profile: ProfileId, order: OrderId) -> anyhow::Result<String> {
        let profile = self
            .ledger
            .profile(profile)
            .await?
            .context("profile vanished")?;
        let closed = profile
            .closed_orders()
            .get(&order)
            .context("the order is still open")?;
        Ok(format!(
            "{} {} BTC",
            closed.outcome.as_str(),
            closed.filled_base
        ))
    }

    async fn person_flow(&self) -> anyhow::Result<Flow> {
        let (ledger, ops, say) = (self.ledger, &self.ops, &self.say);
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

        let id = self
            .submit_and_approve(&person_json("Ada", "Quint")?, "person")
            .await?;
        let opened = self.open_account(id).await?;
        self.fund(opened.profile_id).await?;

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
        match &self.paxos {
            Some(paxos) => {
                if !paxos.order_final(opened.profile_id, order_id).await? {
                    bail!("Paxos has not filled the market order {order_id}");
                }
                let paxos_order = self.paxos_order(opened.profile_id, order_id).await?;
                let outcome = self.outcome(opened.profile_id, order_id).await?;
                say.step(format!(
                    "mirrored: Paxos order {paxos_order}; polled: {outcome}; hold settled"
                ));
            }
            None => {
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
            }
        }
        Ok(Flow {
            identity: id,
            account: opened.account_id,
            profile: opened.profile_id,
            label: "person",
            created: vec![
                (event_names::IDENTITY, id.to_string()),
                (event_names::ACCOUNT, opened.account_id.to_string()),
                (event_names::PROFILE, opened.profile_id.to_string()),
            ],
        })
    }

    async fn institution_flow(&self) -> anyhow::Result<Flow> {
        let (ledger, ops, officer, say) = (self.ledger, &self.ops, &self.officer, &self.say);
        say.section("Flow 2: onboard an institution (a corporation and its members)");
        let owner = self
            .submit_and_approve(
                &person_json("Bea", "Quint")?,
                "beneficial owner (person, 60%)",
            )
            .await?;
        let control = self
            .submit_and_approve(
                &person_json("Cal", "Ortiz")?,
                "management control person (person)",
            )
            .await?;
        let id = ledger
            .submit_identity_json(ops, &institution_json(owner, control)?)
            .await?;
        say.step(format!(
            "submitted corporation with both members: identity {id} is PENDING"
        ));
        if self.paxos.is_some() {
            self.mirror_identity(id, "corporation").await?;
            say.step("its members were sent by their Paxos identity ids");
        }
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
        if self.paxos.is_some() {
            self.paxos_decision(id, "corporation").await?;
        } else {
            self.officer_approves(id, "corporation", "documents verified")
                .await?;
        }

        let opened = self.open_account(id).await?;
        self.fund(opened.profile_id).await?;
        match &self.paxos {
            Some(paxos) => {
                // Below the market: Paxos keeps it open until the price comes down to it.
                let order = limit_buy("0.1", "49950")?;
                let order_id = ledger.place_order(ops, opened.profile_id, order).await?;
                say.step(format!(
                    "LIMIT BUY 0.1 BTC @ 49950 placed: order {order_id}, 4995 USD held"
                ));
                paxos.pass("the order").await?;
                let paxos_order = self.paxos_order(opened.profile_id, order_id).await?;
                say.step(format!(
                    "mirrored: Paxos order {paxos_order} is OPEN (the market is at {})",
                    mirror::SANDBOX_BTCUSD
                ));
                if let Some(sandbox) = paxos.sandbox() {
                    sandbox.set_price("BTCUSD", 49_900.into());
                    say.step("the sandbox market falls to 49900: the limit order fills at 49950");
                }
                if paxos.order_final(opened.profile_id, order_id).await? {
                    let outcome = self.outcome(opened.profile_id, order_id).await?;
                    say.step(format!(
                        "polled until final: {outcome}; 4995 USD spent, the hold settled"
                    ));
                } else {
                    say.step(still_open(order_id, self.on_postgres));
                }
            }
            None => {
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
            }
        }
        Ok(Flow {
            identity: id,
            account: opened.account_id,
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
}

#[cfg(test)]
mod tests {
    use onboarding_ledger::domain::OrderId;

    use super::still_open;

    #[test]
    fn only_on_postgres_is_an_order_still_open_left_to_mirror_run() {
        let order = OrderId::new();
        assert!(still_open(order, true).contains("`onboarding mirror run` keeps polling it"));
        let embedded = still_open(order, false);
        assert!(!embedded.contains("mirror run"), "{embedded}");
        assert!(embedded.contains(&order.to_string()), "{embedded}");
    }
}
