//! The performance harness of the onboarding ledger: how fast the ledger's own paths are, each
//! as a ratio to the cheapest raw PostgreSQL operation that does the same storage work, measured
//! in the same run on the same server.
//!
//! [`run`] measures, each section on a throwaway database it creates on the server of
//! [`BenchOptions::database_url`] (`onboarding_bench_<random>_<section>`, migrated with the
//! store's migrations, dropped at the end), with `synchronous_commit = on`:
//!
//! 1. **Commands**: `SubmitIdentity` and `PlaceOrder` through [`Ledger`](onboarding_ledger::Ledger)
//!    at each writer count, as commands/s, against single-row autocommitted `INSERT`s of the same
//!    payloads into `bench_raw_events`, a table defined like `events` with the same hash-chain
//!    trigger (`sql/raw_baseline.sql` says exactly what the baseline includes, and why its
//!    `NOTIFY` is measured separately). For submissions also the *floor*: the event row with the
//!    `cip_id` claim and data key a submission must write with it, as one raw statement
//!    (`ratio floor.submit.writers=N`), the most a submission could reach with one commit each.
//! 2. **Catch-up**: `Projector::catch_up` from zero over generated events (copies of a real
//!    flow's events with fresh ids), as events/s, against a plain ordered read of the same rows
//!    in the projector's catch-up batch size; with the process's resident memory during the
//!    catch-up. [`run_catch_up`] measures this section alone.
//! 3. **Latency**: with the projector following the log live, the time from issuing a command
//!    until its effect is visible in the `identity_status` read model, p50 and p99.
//!
//! The [`BenchReport`] prints as a table for people, serializes to JSON for machines, and lists
//! every ratio on a line of its own (`ratio commands.submit.writers=4 0.93`).
//! `docs/benchmarks.md` has the method, the machine and the latest full run's figures.
//!
//! ```no_run
//! # async fn example() -> Result<(), onboarding_bench::BenchError> {
//! let options = onboarding_bench::BenchOptions::quick("postgres://postgres:postgres@127.0.0.1/postgres");
//! let report = onboarding_bench::run(options).await?;
//! println!("{report}");
//! # Ok(())
//! # }
//! ```

mod catch_up;
mod commands;
mod error;
mod generate;
mod horizon;
mod latency;
mod machine;
mod memory;
mod options;
mod report;
mod scratch;
mod sql;
mod workload;

pub use error::{BenchError, Holder};
pub use options::{BenchOptions, Progress};
pub use report::{
    BenchReport, CatchUpFigure, CatchUpVariant, CommandFigure, CommandKind, Floor, LatencyFigure,
    Machine, MemoryFigure, Percentiles, ProjectionTime, Ratio,
};

use scratch::on_scratch;

/// Measures the projector catch-up alone (section 2 of [`run`]): records one flow on a
/// throwaway database for the template, then generates, reads and projects the log on another.
pub async fn run_catch_up(options: BenchOptions) -> Result<CatchUpFigure, BenchError> {
    options.check()?;
    options.say("catch-up: recording the template flow on a throwaway database");
    let template = on_scratch(&options, "template", async |db| {
        commands::record_template(db).await
    })
    .await?;
    let figure = on_scratch(&options, "catchup", async |db| {
        catch_up::measure(&options, db, &template).await
    })
    .await?;
    options.say(&format!(
        "catch-up: {:.0} events/s, raw read {:.0} events/s, ratio {:.3}",
        figure.catch_up_events_per_s, figure.raw_read_events_per_s, figure.ratio
    ));
    Ok(figure)
}

/// Runs every measurement of `options` and reports them. Fails, without figures, if any
/// command, the projector or the server fails along the way.
pub async fn run(options: BenchOptions) -> Result<BenchReport, BenchError> {
    options.check()?;

    options.say("commands: creating a throwaway database");
    let (machine, commands, template) = on_scratch(&options, "commands", async |db| {
        let pool = db.pool(1).await?;
        let machine = machine::describe(&pool).await;
        pool.close().await;
        let (figures, template) = commands::measure(&options, db).await?;
        Ok((machine?, figures, template))
    })
    .await?;

    options.say("catch-up: creating a throwaway database");
    let catch_up = on_scratch(&options, "catchup", async |db| {
        catch_up::measure(&options, db, &template).await
    })
    .await?;
    drop(template);
    options.say(&format!(
        "catch-up: {:.0} events/s, raw read {:.0} events/s, ratio {:.3}",
        catch_up.catch_up_events_per_s, catch_up.raw_read_events_per_s, catch_up.ratio
    ));

    options.say("latency: creating a throwaway database");
    let latency = on_scratch(&options, "latency", async |db| {
        latency::measure(&options, db).await
    })
    .await?;
    options.say(&format!(
        "latency: visible p50 {:.2} ms, p99 {:.2} ms",
        latency.visible.p50_ms, latency.visible.p99_ms
    ));

    let mut machine = machine;
    machine.load_average[1] = machine::load_average();
    Ok(BenchReport::new(
        options.quick,
        machine,
        commands,
        catch_up,
        latency,
    ))
}
