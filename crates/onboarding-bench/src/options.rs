//! What a benchmark run measures and for how long.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::error::BenchError;

/// Receives one line of progress at each step of a run (a full run takes minutes).
pub type Progress = Arc<dyn Fn(&str) + Send + Sync>;

/// How a benchmark run is set up. Start from [`BenchOptions::full`] or [`BenchOptions::quick`]
/// and change fields as needed.
#[derive(Clone)]
pub struct BenchOptions {
    /// A PostgreSQL URL. The harness creates (and drops) its throwaway databases on this server,
    /// so the role must be allowed to `CREATE DATABASE`; the database named is not touched.
    pub database_url: String,
    /// Marks the report as a quick run: short phases, noisier figures.
    pub quick: bool,
    /// How many events the projector catches up over.
    pub events: usize,
    /// The concurrencies at which commands and raw inserts are measured.
    pub writers: Vec<usize>,
    /// How long each command and raw-insert phase is measured.
    pub duration: Duration,
    /// How long each phase runs before measuring starts (connections, statement caches).
    pub warmup: Duration,
    /// Fresh pre-funded profiles per PlaceOrder phase, shared out among the writers so that no
    /// two writers touch one profile and no profile grows a long history.
    pub order_profiles: usize,
    /// How many commands the read-model latency is measured over.
    pub latency_samples: usize,
    /// Also measure what-if variants that need no code change (the projector with larger
    /// batches, with asynchronously committing sessions), to size proposed improvements.
    pub explore: bool,
    /// Where progress lines go (nowhere when `None`).
    pub progress: Option<Progress>,
    /// Cancel to stop the run early (Ctrl-C in the CLI): the section in progress stops, its
    /// throwaway database is dropped, and the run fails with [`BenchError::Interrupted`].
    pub stop: CancellationToken,
}

impl BenchOptions {
    /// The full run: 1,000,000 events, 1, 4 and 16 writers, 10 s phases, 1,000 latency samples.
    pub fn full(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            quick: false,
            events: 1_000_000,
            writers: vec![1, 4, 16],
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(1),
            order_profiles: 1_000,
            latency_samples: 1_000,
            explore: false,
            progress: None,
            stop: CancellationToken::new(),
        }
    }

    /// The quick run (well under two minutes on two cores): 20,000 events, 2 s phases, 200
    /// latency samples.
    pub fn quick(database_url: impl Into<String>) -> Self {
        Self {
            quick: true,
            events: 20_000,
            duration: Duration::from_secs(2),
            warmup: Duration::from_millis(500),
            order_profiles: 500,
            latency_samples: 200,
            ..Self::full(database_url)
        }
    }

    /// Sends progress lines to `progress`.
    pub fn with_progress(mut self, progress: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(progress));
        self
    }

    pub(crate) fn say(&self, line: &str) {
        tracing::info!("{line}");
        if let Some(progress) = &self.progress {
            progress(line);
        }
    }

    pub(crate) fn check(&self) -> Result<(), BenchError> {
        if self.writers.is_empty() || self.writers.contains(&0) {
            return Err(BenchError::Options(
                "writers must be a non-empty list of counts ≥ 1",
            ));
        }
        if self.duration.is_zero() {
            return Err(BenchError::Options("duration must be positive"));
        }
        if self.events == 0 {
            return Err(BenchError::Options("events must be at least 1"));
        }
        if self.latency_samples == 0 {
            return Err(BenchError::Options("latency_samples must be at least 1"));
        }
        if self.order_profiles < self.max_writers() {
            return Err(BenchError::Options(
                "order_profiles must be at least the largest writer count",
            ));
        }
        Ok(())
    }

    pub(crate) fn max_writers(&self) -> usize {
        self.writers.iter().copied().max().unwrap_or(1)
    }
}

impl fmt::Debug for BenchOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password.
        f.debug_struct("BenchOptions")
            .field("quick", &self.quick)
            .field("events", &self.events)
            .field("writers", &self.writers)
            .field("duration", &self.duration)
            .field("warmup", &self.warmup)
            .field("order_profiles", &self.order_profiles)
            .field("latency_samples", &self.latency_samples)
            .field("explore", &self.explore)
            .finish_non_exhaustive()
    }
}
