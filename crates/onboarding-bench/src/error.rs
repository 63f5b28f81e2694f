//! Why a benchmark run failed.

use std::time::Duration;

use onboarding_ledger::projections::ProjectionError;
use onboarding_ledger::{LedgerError, StoreError};

/// Why a benchmark run failed. No figure is reported from a failed run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// [`BenchOptions::stop`](crate::BenchOptions::stop) was cancelled: the run stopped early,
    /// its throwaway databases dropped, with no figures.
    #[error("the benchmark was interrupted; its throwaway databases were dropped")]
    Interrupted,
    /// The options make no benchmark (no writers, a zero duration, ...); fix them.
    #[error("invalid benchmark options: {0}")]
    Options(&'static str),
    /// The server at the given URL refused or failed a statement of the harness itself (connect,
    /// `CREATE DATABASE`, baseline inserts and reads). Check the URL, that the server is up, and
    /// that the role may create databases.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Setting up or migrating the throwaway database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A ledger command failed during a measurement: the figures would not be honest, so the run
    /// stops. The message says which command and why.
    #[error("a benchmarked command failed: {0}")]
    Ledger(#[from] LedgerError),
    /// The projector failed during catch-up or while following the log.
    #[error("the projector failed: {0}")]
    Projection(#[from] ProjectionError),
    /// The template flow the generator copies did not come out as expected (the domain changed
    /// the events a flow writes); update `workload.rs`.
    #[error("the template flow is not as expected: {0}")]
    Template(&'static str),
    /// A command's effect did not reach the read model in time: the projector is stuck or the
    /// log is held back by a long transaction on the same database.
    #[error("{what} did not happen within {waited:?}")]
    Timeout {
        /// What was waited for.
        what: &'static str,
        /// How long.
        waited: Duration,
    },
    /// The log could not be sequenced because a transaction of another session on the
    /// benchmark's database stays open (sequencing waits for every older transaction that could
    /// write to it to end). Let it finish or end it.
    #[error(
        "{what} did not happen within {waited:?}: session {} on database {:?} ({}) has kept a \
         transaction open for {:.0} s, holding back the log's horizon",
        holder.pid, holder.database, holder.state, holder.open_seconds
    )]
    LogHeldBack {
        /// What was waited for.
        what: &'static str,
        /// How long.
        waited: Duration,
        /// The session holding the horizon back.
        holder: Holder,
    },
    /// A catch-up ended before the head of the log (a projection is held by another projector
    /// or stopped early); nothing else may use the throwaway database.
    #[error("projection {projection} stopped at {position} of {head}")]
    NotCaughtUp {
        /// The projection.
        projection: String,
        /// Where it stopped (0 when another projector holds it).
        position: i64,
        /// The head of the log.
        head: i64,
    },
    /// A benchmark task panicked or was cancelled (a bug in the harness).
    #[error("a benchmark task ended abnormally: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A session whose open transaction holds back the log's horizon.
#[derive(Debug, Clone)]
pub struct Holder {
    /// Its server process id (`pg_stat_activity.pid`).
    pub pid: i32,
    /// Its database.
    pub database: String,
    /// Its state, e.g. `idle in transaction`.
    pub state: String,
    /// How long its transaction has been open, seconds.
    pub open_seconds: f64,
}
