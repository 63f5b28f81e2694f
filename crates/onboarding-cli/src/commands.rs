//! The commands that run one ledger operation each against a PostgreSQL event store.

use std::path::PathBuf;

use anyhow::Context;
use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use onboarding_ledger::domain::vocab::{
    AccountMemberRole, AccountType, OrderSide, OrderType, TimeInForce,
};
use onboarding_ledger::domain::{
    AccountId, AccountMember, Amount, Asset, Decision, DecisionSource, FundingMethod, IdentityId,
    Market, OrderId, OrderRequest, ProfileId,
};
use onboarding_ledger::{AccountRequest, CommandContext, Ledger};
use serde_json::json;

use crate::print::{self, outln};

/// `onboarding identity ...`
#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Submit a person or institution from a JSON file in the Paxos CreateIdentity shape
    /// (institution members named by ledger identity id); prints the new identity id.
    Submit {
        /// The JSON file (`-` for standard input).
        #[arg(long)]
        file: PathBuf,
    },
    /// Record an onboarding decision.
    Decide(DecideArgs),
    /// Off-board an identity (it may then only sell).
    Disable {
        /// The identity.
        identity: IdentityId,
    },
}

/// Arguments of `identity decide`: who decided is exactly one of `--paxos-event` and
/// `--officer`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["paxos_event", "officer"])))]
pub struct DecideArgs {
    /// The identity.
    identity: IdentityId,
    /// The decision.
    #[arg(long, value_enum, requires_if("documents-required", "documents"))]
    decision: DecisionArg,
    /// A document asked for; required with, and only accepted with, `--decision
    /// documents-required` (repeatable).
    #[arg(long = "document", value_name = "KIND")]
    documents: Vec<String>,
    /// The Paxos event the decision comes from.
    #[arg(long)]
    paxos_event: Option<String>,
    /// The compliance officer who decided.
    #[arg(long)]
    officer: Option<String>,
}

impl DecideArgs {
    /// Refuses what clap cannot express: `--document` with a decision other than
    /// `documents-required`. Checked before connecting, so that a mistyped command costs nothing.
    pub fn check(&self) -> anyhow::Result<()> {
        match self.decision {
            DecisionArg::DocumentsRequired => Ok(()),
            _ if self.documents.is_empty() => Ok(()),
            _ => anyhow::bail!("--document is only accepted with --decision documents-required"),
        }
    }
}

impl IdentityCommand {
    /// Checks the arguments that clap cannot, before anything is connected to.
    pub fn check(&self) -> anyhow::Result<()> {
        match self {
            Self::Decide(args) => args.check(),
            Self::Submit { .. } | Self::Disable { .. } => Ok(()),
        }
    }
}

/// A decision, as typed on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DecisionArg {
    /// APPROVED.
    Approved,
    /// DENIED.
    Denied,
    /// DISABLED.
    Disabled,
    /// ERROR (frozen).
    Error,
    /// Enhanced due diligence: documents required.
    DocumentsRequired,
}

/// `onboarding account ...`
#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Open an account and its profile for an approved identity; prints both ids.
    Open {
        /// The owning identity.
        #[arg(long)]
        owner: IdentityId,
        /// The product.
        #[arg(long = "type", default_value = "BROKERAGE")]
        account_type: AccountType,
        /// A joint owner (an approved person; repeatable).
        #[arg(long = "joint")]
        joint: Vec<IdentityId>,
        /// An authorized user (an approved person; repeatable).
        #[arg(long = "authorized-user")]
        authorized_users: Vec<IdentityId>,
    },
    /// Close an open account (the reason is `--reason`). Erasing a disabled identity's
    /// personal data needs every account it is on closed first.
    Close {
        /// The account.
        #[arg(value_name = "ACCOUNT_ID")]
        account: AccountId,
    },
}

/// `onboarding profile ...`
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Credit a profile.
    Fund {
        /// The profile.
        profile: ProfileId,
        /// The asset, e.g. USD.
        #[arg(long)]
        asset: Asset,
        /// The amount, an exact decimal such as 10000 or 0.5.
        #[arg(long)]
        amount: Amount,
        /// Your id of this funding; repeated with the same contents it is ignored, with other
        /// contents refused (default: a new id).
        #[arg(long)]
        funding_id: Option<String>,
        /// A real deposit instead of sandbox test funds.
        #[arg(long)]
        deposit: bool,
    },
}

/// `onboarding order ...`
#[derive(Debug, Subcommand)]
pub enum OrderCommand {
    /// Place an order on a profile; prints the order id.
    Place(PlaceArgs),
}

/// Arguments of `order place`.
#[derive(Debug, Args)]
pub struct PlaceArgs {
    /// The profile.
    profile: ProfileId,
    /// BUY or SELL.
    #[arg(long)]
    side: OrderSide,
    /// The market, e.g. BTCUSD.
    #[arg(long)]
    market: Market,
    /// LIMIT, MARKET, POST_ONLY_LIMIT, STOP_MARKET or STOP_LIMIT.
    #[arg(long = "type")]
    order_type: OrderType,
    /// Base amount (limit orders, market sells, stops).
    #[arg(long)]
    base_amount: Option<Amount>,
    /// Quote amount (market buys).
    #[arg(long)]
    quote_amount: Option<Amount>,
    /// Limit price.
    #[arg(long)]
    price: Option<Amount>,
    /// Stop price.
    #[arg(long)]
    stop_price: Option<Amount>,
    /// GTC, FOK, IOC or GTT (default: IOC for MARKET orders, GTC for the others, as Paxos).
    #[arg(long)]
    time_in_force: Option<TimeInForce>,
    /// Expiry of a GTT order (RFC 3339).
    #[arg(long)]
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Your order id (default: a new one); retrying with the same id cannot place it twice.
    #[arg(long)]
    order_id: Option<OrderId>,
}

/// Runs `identity ...`.
pub async fn identity(
    ledger: &Ledger,
    ctx: &CommandContext,
    json: bool,
    command: IdentityCommand,
) -> anyhow::Result<()> {
    match command {
        IdentityCommand::Submit { file } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("reading standard input")?
            } else {
                std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?
            };
            let id = ledger.submit_identity_json(ctx, &text).await?;
            print::ids(
                json,
                &[("identity_id", id.to_string())],
                "identity submitted, PENDING",
            );
        }
        IdentityCommand::Decide(args) => {
            let decision = match args.decision {
                DecisionArg::Approved => Decision::Approved,
                DecisionArg::Denied => Decision::Denied,
                DecisionArg::Disabled => Decision::Disabled,
                DecisionArg::Error => Decision::Error,
                DecisionArg::DocumentsRequired => Decision::DocumentsRequired {
                    documents: args.documents,
                },
            };
            let source = match (args.paxos_event, args.officer) {
                (Some(event_id), _) => DecisionSource::PaxosEvent { event_id },
                (None, Some(officer)) => DecisionSource::ComplianceOfficer { officer },
                // clap requires one of the two; this is only the type's other case.
                (None, None) => anyhow::bail!("give one of --paxos-event and --officer"),
            };
            let name = decision.name();
            ledger
                .record_decision(ctx, args.identity, decision, source, None)
                .await
                .with_context(|| format!("identity {}", args.identity))?;
            let status = ledger
                .identity(args.identity)
                .await?
                .and_then(|i| i.status())
                .map(|s| s.to_string())
                .unwrap_or_default();
            if json {
                outln!(
                    "{}",
                    json!({ "identity_id": args.identity.to_string(), "decision": name, "status": status })
                );
            } else {
                outln!(
                    "decision {name} recorded; identity {} is {status}",
                    args.identity
                );
            }
        }
        IdentityCommand::Disable { identity } => {
            let reason = ctx_reason(ctx);
            ledger
                .disable_identity(ctx, identity, reason)
                .await
                .with_context(|| format!("identity {identity}"))?;
            print::ids(
                json,
                &[("identity_id", identity.to_string())],
                "identity disabled",
            );
        }
    }
    Ok(())
}

/// The reason recorded for commands whose events require one: `--reason`, or a generic one.
fn ctx_reason(ctx: &CommandContext) -> String {
    ctx.reason()
        .unwrap_or("requested by the integrator")
        .to_owned()
}

/// Runs `account ...`.
pub async fn account(
    ledger: &Ledger,
    ctx: &CommandContext,
    json: bool,
    command: AccountCommand,
) -> anyhow::Result<()> {
    match command {
        AccountCommand::Open {
            owner,
            account_type,
            joint,
            authorized_users,
        } => {
            let mut request = AccountRequest::new(owner, account_type);
            request.members = joint
                .into_iter()
                .map(|identity_id| AccountMember {
                    identity_id,
                    role: AccountMemberRole::BeneficialOwner,
                })
                .chain(
                    authorized_users
                        .into_iter()
                        .map(|identity_id| AccountMember {
                            identity_id,
                            role: AccountMemberRole::AuthorizedUser,
                        }),
                )
                .collect();
            let opened = ledger.open_account(ctx, request).await?;
            print::ids(
                json,
                &[
                    ("account_id", opened.account_id.to_string()),
                    ("profile_id", opened.profile_id.to_string()),
                ],
                "account and profile opened",
            );
        }
        AccountCommand::Close { account } => {
            ledger
                .close_account(ctx, account, ctx_reason(ctx))
                .await
                .with_context(|| format!("account {account}"))?;
            print::ids(
                json,
                &[("account_id", account.to_string())],
                "account closed",
            );
        }
    }
    Ok(())
}

/// Runs `profile ...`.
pub async fn profile(
    ledger: &Ledger,
    ctx: &CommandContext,
    json: bool,
    command: ProfileCommand,
) -> anyhow::Result<()> {
    let ProfileCommand::Fund {
        profile,
        asset,
        amount,
        funding_id,
        deposit,
    } = command;
    let funding_id = funding_id.unwrap_or_else(|| format!("cli-{}", uuid::Uuid::now_v7()));
    let method = if deposit {
        FundingMethod::Deposit
    } else {
        FundingMethod::SandboxTestFunds
    };
    ledger
        .fund_profile(
            ctx,
            profile,
            funding_id.clone(),
            asset.clone(),
            amount,
            method,
        )
        .await
        .with_context(|| format!("profile {profile}"))?;
    let balance = ledger
        .profile(profile)
        .await?
        .map(|p| p.balance(&asset))
        .unwrap_or_default();
    if json {
        outln!(
            "{}",
            json!({ "profile_id": profile.to_string(), "funding_id": funding_id, "asset": asset.as_str(),
                    "available": balance.available.to_string(), "held": balance.held.to_string() })
        );
    } else {
        outln!(
            "funded {amount} {asset}; {asset} available {}, held {}",
            balance.available,
            balance.held
        );
    }
    Ok(())
}

/// Runs `order ...`.
pub async fn order(
    ledger: &Ledger,
    ctx: &CommandContext,
    json: bool,
    command: OrderCommand,
) -> anyhow::Result<()> {
    let OrderCommand::Place(a) = command;
    let request = OrderRequest {
        order_id: a.order_id.unwrap_or_default(),
        side: a.side,
        market: a.market,
        order_type: a.order_type,
        base_amount: a.base_amount,
        quote_amount: a.quote_amount,
        price: a.price,
        stop_price: a.stop_price,
        time_in_force: (a.time_in_force).unwrap_or(a.order_type.default_time_in_force()),
        expires_at: a.expires_at,
    };
    let order_id = ledger
        .place_order(ctx, a.profile, request)
        .await
        .with_context(|| format!("profile {}", a.profile))?;
    print::ids(json, &[("order_id", order_id.to_string())], "order placed");
    Ok(())
}
