//! `onboarding bench`: the performance harness (`onboarding-bench`) on throwaway databases of the
//! configured server, printing a table (or JSON) with every ratio on a line of its own.

use std::time::Duration;

use anyhow::Context;
use onboarding_bench::BenchOptions;

use crate::print::{out, outln};

/// What `onboarding bench` measures.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Short phases and 20,000 events: finishes in under two minutes on two cores.
    #[arg(long)]
    quick: bool,
    /// Events the projector catches up over (default 1,000,000; 20,000 with --quick).
    #[arg(long)]
    events: Option<usize>,
    /// Concurrent writers of the command measurements, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
    writers: Vec<usize>,
    /// Seconds each command phase is measured (default 10; 2 with --quick).
    #[arg(long)]
    duration_secs: Option<f64>,
    /// Also measure the projector's what-if variants (other batch sizes and commit modes).
    #[arg(long)]
    explore: bool,
    /// Measure one section alone: `catch-up` prints the projector catch-up figure as JSON.
    #[arg(long, value_enum)]
    only: Option<Section>,
}

/// A section of the benchmark that can run alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Section {
    /// The projector catch-up over `--events` generated events, against a raw ordered read.
    CatchUp,
}

/// Runs the benchmark against the server of `database_url` (it creates and drops its own
/// databases there) and prints the report.
pub async fn run(database_url: Option<&str>, json: bool, args: BenchArgs) -> anyhow::Result<()> {
    let url = database_url.context(
        "bench needs --database-url or DATABASE_URL: a server on which it may create databases",
    )?;
    let mut options = if args.quick {
        BenchOptions::quick(url)
    } else {
        BenchOptions::full(url)
    }
    .with_progress(|line| crate::print::errln!("bench: {line}"));
    // Ctrl-C stops the run and drops its throwaway databases (a million events take gigabytes).
    options.stop = crate::interrupted();
    options.writers = args.writers;
    options.explore = args.explore;
    if let Some(events) = args.events {
        options.events = events;
    }
    if let Some(seconds) = args.duration_secs {
        options.duration = Duration::try_from_secs_f64(seconds).context("--duration-secs")?;
    }
    if args.only == Some(Section::CatchUp) {
        let figure = onboarding_bench::run_catch_up(options).await?;
        outln!("{}", serde_json::to_string_pretty(&figure)?);
        return Ok(());
    }
    let report = onboarding_bench::run(options).await?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        out!("{report}");
    }
    Ok(())
}
