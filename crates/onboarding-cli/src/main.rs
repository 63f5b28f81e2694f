//! `onboarding`: the command line of the onboarding ledger.
//!
//! `onboarding demo` runs the seed onboarding flows end to end (on the embedded store unless a
//! database is given); the other commands run one ledger operation each. Configuration comes
//! from flags and the environment (`DATABASE_URL`). Output is for people by default and JSON
//! with `--json`. This binary holds no business rules: it parses arguments, calls the
//! `onboarding-ledger` API and prints what comes back.

mod demo;
mod print;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Run the seed onboarding flows (a person; a corporation with its members) end to end.
    Demo,
    /// Apply the database migrations.
    Migrate,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
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
        .init();
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo => demo::run(cli.database_url.as_deref(), cli.json).await,
        Command::Migrate => {
            let url = cli
                .database_url
                .as_deref()
                .ok_or_else(|| anyhow::anyhow!("migrate needs --database-url or DATABASE_URL"))?;
            onboarding_ledger::Ledger::migrate(url).await?;
            print::done(cli.json, "migrations applied");
            Ok(())
        }
    }
}
