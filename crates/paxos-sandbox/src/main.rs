//! The `paxos-sandbox` binary: serves the sandbox on a fixed address until interrupted, for demos
//! and offline development. Point a client at the printed URLs.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use paxos_sandbox::{DecisionConfig, Sandbox, SandboxConfig, WebhookConfig};
use rust_decimal::Decimal;

/// A local stand-in for the Paxos v2 API (identities, accounts, deposits, orders, events).
#[derive(Debug, Parser)]
#[command(name = "paxos-sandbox", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "PAXOS_SANDBOX_BIND", default_value = "127.0.0.1:4010")]
    bind: SocketAddr,
    /// OAuth client id to accept.
    #[arg(long, env = "PAXOS_CLIENT_ID", default_value = "sandbox-client")]
    client_id: String,
    /// OAuth client secret to accept.
    #[arg(
        long,
        env = "PAXOS_CLIENT_SECRET",
        default_value = "sandbox-secret",
        hide_env_values = true
    )]
    client_secret: String,
    /// Lifetime of issued tokens, in seconds.
    #[arg(long, default_value_t = 3599)]
    token_ttl_secs: u64,
    /// Decide identities this many milliseconds after creation.
    #[arg(long, default_value_t = 2000, conflicts_with = "manual_decisions")]
    decision_delay_ms: u64,
    /// Never decide identities automatically.
    #[arg(long)]
    manual_decisions: bool,
    /// Deny persons with this last name (or institutions with this name); repeatable.
    #[arg(long = "deny-name")]
    deny_names: Vec<String>,
    /// Deny identities whose cip_id matches this pattern (`*` wildcard); repeatable.
    #[arg(long = "deny-cip-id")]
    deny_cip_ids: Vec<String>,
    /// Ask persons with this last name for documents; repeatable.
    #[arg(long = "documents-required-name")]
    documents_required_names: Vec<String>,
    /// Deliver webhooks to this URL.
    #[arg(long, env = "PAXOS_SANDBOX_WEBHOOK_URL")]
    webhook_url: Option<String>,
    /// Name of the webhook authentication header.
    #[arg(
        long,
        env = "PAXOS_WEBHOOK_HEADER",
        default_value = "X-Paxos-Webhook-Key"
    )]
    webhook_header: String,
    /// Value of the webhook authentication header.
    #[arg(
        long,
        env = "PAXOS_WEBHOOK_SECRET",
        default_value = "",
        hide_env_values = true
    )]
    webhook_secret: String,
    /// A market price as MARKET=PRICE, e.g. BTCUSD=65000; repeatable.
    #[arg(long = "price", value_parser = parse_price)]
    prices: Vec<(String, Decimal)>,
    /// Price of markets without a --price.
    #[arg(long, default_value = "100")]
    default_price: Decimal,
}

fn parse_price(text: &str) -> Result<(String, Decimal), String> {
    let (market, price) = text
        .split_once('=')
        .ok_or_else(|| "expected MARKET=PRICE, e.g. BTCUSD=65000".to_owned())?;
    let price: Decimal = price
        .trim()
        .parse()
        .map_err(|_| "the price must be a decimal number".to_owned())?;
    Ok((market.trim().to_uppercase(), price))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let mut config = SandboxConfig {
        bind: args.bind,
        client_id: args.client_id,
        client_secret: args.client_secret,
        token_ttl: Duration::from_secs(args.token_ttl_secs),
        decisions: DecisionConfig {
            delay: (!args.manual_decisions).then(|| Duration::from_millis(args.decision_delay_ms)),
            deny_names: args.deny_names,
            deny_cip_ids: args.deny_cip_ids,
            documents_required_names: args.documents_required_names,
        },
        webhook: args
            .webhook_url
            .map(|url| WebhookConfig::new(url, args.webhook_header, args.webhook_secret)),
        default_price: Some(args.default_price),
        ..SandboxConfig::default()
    };
    config.prices.extend(args.prices);
    let sandbox = Sandbox::start(config)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    println!("paxos-sandbox: REST  {}", sandbox.base_url);
    println!("paxos-sandbox: OAuth {}", sandbox.token_url());
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    sandbox.shutdown();
    Ok(())
}
