//! `onboarding`: the command line of the onboarding ledger.
//!
//! `onboarding demo` runs the seed onboarding flows end to end (on the embedded store unless a
//! database is given, mirrored to an in-process Paxos sandbox unless a Paxos URL is given); the
//! other commands run one ledger operation each. Configuration comes from flags and the
//! environment (`DATABASE_URL`, `PAXOS_*`). Output is for people by default and JSON
//! with `--json`. This binary holds no business rules: it parses arguments, calls the
//! `onboarding-ledger` API and prints what comes back.

mod bench;
mod commands;
mod demo;
mod paxos;
mod print;
mod read;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use onboarding_ledger::domain::IdentityId;
use onboarding_ledger::{CommandContext, FingerprintKey, Ledger, LedgerOptions, MasterKey};

/// mimalloc rather than the system allocator: the projector's batches and the commands' JSON
/// allocate and free many small objects across threads, where glibc's allocator spent about a
/// sixth of the projector's CPU time consolidating free lists (`docs/benchmarks.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The onboarding ledger: an auditable, event-sourced record of onboarding customers onto Paxos.
#[derive(Debug, Parser)]
#[command(name = "onboarding", version, about)]
struct Cli {
    /// Postgres URL of the event store; the embedded in-memory store when absent.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,
    /// Who is acting (stored with every event).
    #[arg(long, env = "ONBOARDING_ACTOR", global = true, default_value = "cli")]
    actor: String,
    /// Why (stored with every event of this invocation).
    #[arg(long, global = true)]
    reason: Option<String>,
    /// Print JSON for machines instead of text for people.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the seed onboarding flows (a person; a corporation with its members) end to end,
    /// mirrored to an in-process Paxos sandbox (or the Paxos given by --paxos-url).
    Demo(demo::DemoArgs),
    /// Apply the database migrations.
    Migrate,
    /// Submit, decide or disable identities.
    #[command(subcommand)]
    Identity(commands::IdentityCommand),
    /// Open or close accounts.
    #[command(subcommand)]
    Account(commands::AccountCommand),
    /// Fund profiles.
    #[command(subcommand)]
    Profile(commands::ProfileCommand),
    /// Place orders.
    #[command(subcommand)]
    Order(commands::OrderCommand),
    /// Show an identity's status (from the read model).
    Status {
        /// The identity.
        identity: IdentityId,
    },
    /// Print an identity's audit trail, or everyone's with --all.
    Audit {
        /// The identity.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        identity: Option<IdentityId>,
        /// The whole trail, ordered by position.
        #[arg(long)]
        all: bool,
        /// Only what was recorded until this time (RFC 3339), e.g. 2026-03-01T00:00:00Z.
        #[arg(long)]
        as_of: Option<chrono::DateTime<chrono::Utc>>,
        /// Output format: `table` by default, `jsonl` with the global `--json`; an explicit
        /// `--format` always wins.
        #[arg(long, value_enum)]
        format: Option<read::AuditFormat>,
    },
    /// Erase an identity's personal data (crypto-shredding), when the retention period allows.
    Forget {
        /// The identity.
        identity: IdentityId,
    },
    /// Recompute every hash chain and the log digest; exits non-zero naming the first break.
    Verify {
        /// A digest kept earlier, as POSITION:HEX (printed by a previous verify); fails unless
        /// the log up to POSITION still digests to HEX.
        #[arg(long)]
        expect: Option<String>,
    },
    /// Run the projector, or show where each projection stands.
    #[command(subcommand)]
    Projector(read::ProjectorCommand),
    /// Measure throughput and latency against raw PostgreSQL baselines (throwaway databases).
    Bench(bench::BenchArgs),
    /// Mirror the ledger to Paxos.
    #[command(subcommand)]
    Mirror(paxos::MirrorCommand),
    /// Receive Paxos webhooks, poll Paxos events and mirror the ledger, until interrupted.
    Serve(paxos::ServeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            print::errln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if json => {
            // Not `outln!`: with the reader gone, the status must still say that this failed.
            let error = serde_json::json!({ "ok": false, "error": format!("{e:#}") });
            let _ = writeln!(std::io::stdout(), "{error}");
            ExitCode::FAILURE
        }
        Err(e) => {
            print::errln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("ONBOARDING_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo(args) => demo::run(cli.database_url.as_deref(), cli.json, &args).await,
        Command::Migrate => {
            let url = cli
                .database_url
                .as_deref()
                .ok_or_else(|| anyhow::anyhow!("migrate needs --database-url or DATABASE_URL"))?;
            onboarding_ledger::Ledger::migrate(url).await?;
            print::done(cli.json, "migrations applied");
            Ok(())
        }
        Command::Identity(c) => {
            c.check()?;
            let (ledger, ctx) = connect(&cli.database_url, &cli.actor, &cli.reason).await?;
            commands::identity(&ledger, &ctx, cli.json, c).await
        }
        Command::Account(c) => {
            let (ledger, ctx) = connect(&cli.database_url, &cli.actor, &cli.reason).await?;
            commands::account(&ledger, &ctx, cli.json, c).await
        }
        Command::Profile(c) => {
            let (ledger, ctx) = connect(&cli.database_url, &cli.actor, &cli.reason).await?;
            commands::profile(&ledger, &ctx, cli.json, c).await
        }
        Command::Order(c) => {
            let (ledger, ctx) = connect(&cli.database_url, &cli.actor, &cli.reason).await?;
            commands::order(&ledger, &ctx, cli.json, c).await
        }
        Command::Status { identity } => {
            let (ledger, _) = connect(&cli.database_url, &cli.actor, &cli.reason).await?;
            read::status(&ledger, identity, cli.json).await
        }
        Command::Audit {
            identity,
            all: _,
            as_of,
            format,
        } => {
            let (ledger, _) = connect(&cli.database_url, &cli.actor, &cli.reason).await?;
            let format = read::AuditFormat::chosen(format, cli.json);
            read::audit(&ledger, identity, as_of, format).await
        }
        Command::Forget { identity } => {
            let (ledger, ctx) = connect(&cli.database_url, &cli.actor, &cli.reason).await?;
            let reason = ctx.reason().unwrap_or("erasure requested").to_owned();
            ledger.forget_identity(&ctx, identity, reason).await?;
            print::ids(
                cli.json,
                &[("identity_id", identity.to_string())],
                "personal data erased",
            );
            Ok(())
        }
        Command::Verify { expect } => {
            let (ledger, _) = connect(&cli.database_url, &cli.actor, &cli.reason).await?;
            read::verify(&ledger, expect.as_deref(), cli.json).await
        }
        Command::Bench(args) => bench::run(cli.database_url.as_deref(), cli.json, args).await,
        Command::Projector(c) => {
            let (ledger, _) = connect(&cli.database_url, &cli.actor, &cli.reason).await?;
            read::projector(&ledger, cli.json, c).await
        }
        Command::Mirror(c) => {
            let (ledger, _) = connect(&cli.database_url, &cli.actor, &cli.reason).await?;
            paxos::mirror(ledger, cli.json, c).await
        }
        Command::Serve(args) => {
            let (ledger, _) = connect(&cli.database_url, &cli.actor, &cli.reason).await?;
            paxos::serve(ledger, args).await
        }
    }
}

/// The ledger on the configured database and the context of this invocation. Commands that
/// change the ledger need a database: the embedded store would forget them on exit.
async fn connect(
    database_url: &Option<String>,
    actor: &str,
    reason: &Option<String>,
) -> anyhow::Result<(Ledger, CommandContext)> {
    let url = database_url.as_deref().ok_or_else(|| {
        anyhow::anyhow!(
            "this command needs a database (the embedded store lives only as long as one process): \
             pass --database-url or set DATABASE_URL"
        )
    })?;
    let ledger = Ledger::connect(url, options()?).await?;
    let mut ctx = CommandContext::new(actor, "cli");
    if let Some(reason) = reason {
        ctx = ctx.with_reason(reason);
    }
    Ok((ledger, ctx))
}

/// The ledger options from the environment: keys and retention.
pub fn options() -> anyhow::Result<LedgerOptions> {
    let key_provider = match MasterKey::from_env()? {
        Some(key) => key,
        None => {
            tracing::warn!(
                "{} is not set: sealing personal data under the development master key",
                MasterKey::ENV
            );
            MasterKey::development()
        }
    };
    let mut options = LedgerOptions {
        cip_key: cip_key()?,
        key_provider: std::sync::Arc::new(key_provider),
        ..LedgerOptions::default()
    };
    if let Ok(days) = std::env::var("ONBOARDING_RETENTION_DAYS") {
        options.retention = retention_days(&days)?;
    }
    Ok(options)
}

/// `ONBOARDING_RETENTION_DAYS` as a period: a whole number of days, from 0 up to what the
/// calendar can count.
fn retention_days(text: &str) -> anyhow::Result<chrono::Duration> {
    text.trim()
        .parse::<u32>()
        .ok()
        .and_then(|days| chrono::Duration::try_days(days.into()))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "ONBOARDING_RETENTION_DAYS must be a whole number of days from 0 to {}",
                u32::MAX
            )
        })
}

/// A token cancelled on Ctrl-C: long-running commands stop cleanly with it.
pub(crate) fn interrupted() -> tokio_util::sync::CancellationToken {
    let token = tokio_util::sync::CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        cancel.cancel();
    });
    token
}

/// The cip fingerprint key from `ONBOARDING_CIP_KEY`, or the development key with a warning.
pub fn cip_key() -> anyhow::Result<FingerprintKey> {
    match FingerprintKey::from_env().map_err(|e| anyhow::anyhow!(e))? {
        Some(key) => Ok(key),
        None => {
            tracing::warn!(
                "{} is not set: using the development cip fingerprint key",
                FingerprintKey::ENV
            );
            Ok(FingerprintKey::development())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::retention_days;

    #[test]
    fn retention_is_a_whole_number_of_days_that_the_calendar_can_count() {
        assert_eq!(
            retention_days("1826").unwrap(),
            chrono::Duration::days(1826)
        );
        assert_eq!(retention_days(" 0 ").unwrap(), chrono::Duration::zero());
        for bad in ["-1", "1.5", "five", "", "99999999999999"] {
            let err = retention_days(bad).unwrap_err().to_string();
            assert!(err.contains("ONBOARDING_RETENTION_DAYS"), "{bad:?}: {err}");
        }
    }
}
