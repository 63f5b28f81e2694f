//! Runs the benchmark harness from the command line (the same as `onboarding bench`):
//!
//! ```sh
//! cargo run --release -p onboarding-bench --example bench -- [--quick] [--json] [--explore]
//!     [--events N] [--writers 1,4,16] [--duration-secs S] [--database-url URL]
//!     [--only catch-up]
//! ```
//!
//! `--only catch-up` measures the projector catch-up alone and prints its figure (JSON).
//!
//! The URL defaults to `DATABASE_URL`, then to the local test server. Progress goes to stderr;
//! the report (a table, or JSON with `--json`) to stdout.

use std::time::Duration;

use anyhow::{bail, Context};
use onboarding_bench::BenchOptions;

// The allocator of `onboarding` itself (see its `main.rs`), so that the example measures what
// the CLI does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const LOCAL: &str = "postgres://postgres:postgres@127.0.0.1:5432/postgres";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut quick, mut json, mut explore) = (false, false, false);
    let (mut events, mut writers, mut duration, mut url) = (None, None, None, None);
    let mut only_catch_up = false;
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--quick" => quick = true,
            "--json" => json = true,
            "--explore" => explore = true,
            "--events" => events = Some(value()?.parse::<usize>()?),
            "--writers" => {
                writers = Some(
                    value()?
                        .split(',')
                        .map(str::parse)
                        .collect::<Result<Vec<usize>, _>>()?,
                )
            }
            "--duration-secs" => duration = Some(Duration::from_secs_f64(value()?.parse()?)),
            "--database-url" => url = Some(value()?),
            "--only" => match value()?.as_str() {
                "catch-up" => only_catch_up = true,
                other => bail!("--only knows catch-up, not {other}"),
            },
            other => bail!("unknown argument {other}"),
        }
    }
    let url = url
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .unwrap_or_else(|| LOCAL.to_owned());
    let mut options = if quick {
        BenchOptions::quick(url)
    } else {
        BenchOptions::full(url)
    }
    .with_progress(|line| eprintln!("bench: {line}"));
    // Ctrl-C stops the run and drops its throwaway databases.
    let stop = options.stop.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.cancel();
    });
    options.explore = explore;
    if let Some(events) = events {
        options.events = events;
    }
    if let Some(writers) = writers {
        options.writers = writers;
    }
    if let Some(duration) = duration {
        options.duration = duration;
    }
    if only_catch_up {
        let figure = onboarding_bench::run_catch_up(options).await?;
        println!("{}", serde_json::to_string_pretty(&figure)?);
        return Ok(());
    }
    let report = onboarding_bench::run(options).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(())
}
