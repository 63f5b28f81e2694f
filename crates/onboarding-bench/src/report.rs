//! What a run measured: figures, ratios, a table for people and JSON for machines.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Whether this was a quick run (short phases, noisier figures).
    pub quick: bool,
    /// Where it ran.
    pub machine: Machine,
    /// Command throughput against raw inserts, per command and concurrency.
    pub commands: Vec<CommandFigure>,
    /// Projector catch-up against a raw ordered read.
    pub catch_up: CatchUpFigure,
    /// Command-to-read-model latency with the projector following live.
    pub latency: LatencyFigure,
    /// Every ratio of the run, in the order of the table.
    pub ratios: Vec<Ratio>,
}

/// The machine and server settings the figures depend on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPUs available to this process.
    pub cpus: usize,
    /// The 1-minute load average at the start and at the end of the run. Anything above the
    /// benchmark's own load means other processes shared the CPUs and the figures are low.
    pub load_average: [f64; 2],
    /// PostgreSQL's `server_version`.
    pub server_version: String,
    /// `synchronous_commit` of the benchmark sessions (`on`: every commit waits for its WAL
    /// flush).
    pub synchronous_commit: String,
    /// The server's `fsync`.
    pub fsync: String,
    /// The server's `shared_buffers`.
    pub shared_buffers: String,
    /// The server's `wal_sync_method`.
    pub wal_sync_method: String,
}

/// The command a throughput figure is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandKind {
    /// `Ledger::submit_identity_json`: a person with a unique SSN.
    Submit,
    /// `Ledger::place_order`: a market buy on a pre-funded profile.
    Order,
}

impl CommandKind {
    /// The name used in ratio lines and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submit => "submit",
            Self::Order => "order",
        }
    }
}

/// Throughput of one command at one concurrency, and of raw inserts of the same size at the same
/// concurrency, measured back to back.
#[derive(Debug, Clone, Serialize)]
pub struct CommandFigure {
    /// The command.
    pub command: CommandKind,
    /// Concurrent writers.
    pub writers: usize,
    /// Commands completed in the measured window.
    pub commands: u64,
    /// Commands per second.
    pub commands_per_s: f64,
    /// Per-command latency.
    pub command_latency: Percentiles,
    /// Raw single-row INSERT transactions per second: the mean of the two raw phases.
    pub raw_inserts_per_s: f64,
    /// The raw phases just before and just after the command phase, inserts/s.
    pub raw_runs_per_s: [f64; 2],
    /// Per-insert latency.
    pub raw_latency: Percentiles,
    /// Bytes of each raw row's payload (the same as the command's event payload).
    pub payload_bytes: usize,
    /// `commands_per_s / raw_inserts_per_s`.
    pub ratio: f64,
    /// Submissions only: the least the command must write, as a raw statement.
    pub floor: Option<Floor>,
}

/// The rows a submission must write together (its event, the `cip_id` claim that keeps cip ids
/// unique, the data key that makes its personal data erasable), as one autocommitted raw
/// statement with none of the ledger's own work: what no implementation keeping those
/// guarantees can beat with one commit per command.
#[derive(Debug, Clone, Serialize)]
pub struct Floor {
    /// Such statements per second, at the command's concurrency.
    pub per_s: f64,
    /// `per_s / raw_inserts_per_s`: the highest ratio a submission could reach without sharing
    /// commits.
    pub ratio: f64,
}

/// Projector catch-up from zero over a generated log.
#[derive(Debug, Clone, Serialize)]
pub struct CatchUpFigure {
    /// Events in the log.
    pub events: u64,
    /// Events per batch of the projector far below the head (`CATCH_UP_BATCH`); the raw read
    /// uses the same.
    pub batch_size: usize,
    /// Each read model's share of the catch-up, in the order they caught up.
    pub projections: Vec<ProjectionTime>,
    /// Generating the events (COPY through the hash-chain trigger), events/s.
    pub generate_events_per_s: f64,
    /// Sequencing them into `event_log`, events/s.
    pub sequence_events_per_s: f64,
    /// Seconds `Projector::catch_up` took.
    pub catch_up_seconds: f64,
    /// Log events per second of catch-up (every read model brought to the head).
    pub catch_up_events_per_s: f64,
    /// The raw ordered read of the same rows, events/s (the faster of a read before and one
    /// after the catch-up).
    pub raw_read_events_per_s: f64,
    /// `catch_up_events_per_s / raw_read_events_per_s`.
    pub ratio: f64,
    /// The process's memory during catch-up.
    pub memory: MemoryFigure,
    /// The same catch-up run other ways (only when exploring).
    pub variants: Vec<CatchUpVariant>,
}

/// How long one read model took to catch up over the whole log.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectionTime {
    /// The projection.
    pub name: String,
    /// Seconds from the previous projection's end (or the start) to this one's.
    pub seconds: f64,
    /// Log events per second for this projection alone.
    pub events_per_s: f64,
}

/// The projector catching up the same log from zero, set up another way (no code changed).
#[derive(Debug, Clone, Serialize)]
pub struct CatchUpVariant {
    /// What differs, e.g. `batch=5000,synchronous_commit=off`.
    pub name: String,
    /// Events per batch.
    pub batch_size: usize,
    /// Whether the projector's sessions committed synchronously.
    pub synchronous_commit: bool,
    /// Log events per second of catch-up.
    pub catch_up_events_per_s: f64,
    /// Against the same raw ordered read as the main figure.
    pub ratio: f64,
}

/// Resident memory of the benchmark process around the catch-up.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryFigure {
    /// RSS just before, MiB.
    pub before_mib: f64,
    /// Peak RSS during, MiB (the kernel's high-water mark, reset just before, or the highest
    /// sample where the reset is not allowed).
    pub peak_mib: f64,
    /// RSS just after, MiB.
    pub after_mib: f64,
    /// RSS during the catch-up, MiB: up to 20 samples evenly spaced in time.
    pub samples_mib: Vec<f64>,
}

/// How long a command's effect takes to show in the read model.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyFigure {
    /// Commands measured (one at a time).
    pub samples: usize,
    /// From calling the command until it returned (committed).
    pub command: Percentiles,
    /// From calling the command until its `identity_status` row was visible.
    pub visible: Percentiles,
    /// How often the read model was polled, ms.
    pub poll_interval_ms: f64,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

impl Percentiles {
    /// The percentiles of `samples` (all zero when empty).
    pub fn of(samples: &mut [Duration]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        let at = |q: f64| {
            // Nearest rank.
            let rank = (q * samples.len() as f64).ceil() as usize;
            ms(samples[rank.clamp(1, samples.len()) - 1])
        };
        Self {
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            max_ms: ms(samples[samples.len() - 1]),
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One ratio of a run: how the ledger's path compares with its raw baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ratio {
    /// What it compares, e.g. `commands.submit.writers=4` or `catch_up.events=1000000`.
    pub name: String,
    /// The ledger's rate divided by the baseline's.
    pub value: f64,
}

impl fmt::Display for Ratio {
    /// `ratio commands.submit.writers=4 0.93`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ratio {} {:.2}", self.name, self.value)
    }
}

impl BenchReport {
    /// Assembles a report and its ratios.
    pub(crate) fn new(
        quick: bool,
        machine: Machine,
        commands: Vec<CommandFigure>,
        catch_up: CatchUpFigure,
        latency: LatencyFigure,
    ) -> Self {
        let mut ratios = Vec::new();
        for c in &commands {
            ratios.push(Ratio {
                name: format!("commands.{}.writers={}", c.command.as_str(), c.writers),
                value: c.ratio,
            });
            if let Some(floor) = &c.floor {
                ratios.push(Ratio {
                    name: format!("floor.{}.writers={}", c.command.as_str(), c.writers),
                    value: floor.ratio,
                });
            }
        }
        ratios.push(Ratio {
            name: format!("catch_up.events={}", catch_up.events),
            value: catch_up.ratio,
        });
        Self {
            quick,
            machine,
            commands,
            catch_up,
            latency,
            ratios,
        }
    }
}

/// `a / b`, or 0 when there is no baseline.
pub(crate) fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.machine;
        writeln!(
            f,
            "onboarding bench{}: {} CPUs (load {:.1} → {:.1}), PostgreSQL {}, \
             synchronous_commit={}, fsync={}, wal_sync_method={}, shared_buffers={}",
            if self.quick { " --quick" } else { "" },
            m.cpus,
            m.load_average[0],
            m.load_average[1],
            m.server_version,
            m.synchronous_commit,
            m.fsync,
            m.wal_sync_method,
            m.shared_buffers
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "Commands vs raw single-row INSERT transactions (same table, hash-chain trigger and payload size)"
        )?;
        writeln!(
            f,
            "  {:<7} {:>7} {:>11} {:>8} {:>8} {:>10} {:>8} {:>8} {:>6}",
            "command",
            "writers",
            "commands/s",
            "p50 ms",
            "p99 ms",
            "raw ins/s",
            "p50 ms",
            "p99 ms",
            "ratio"
        )?;
        for c in &self.commands {
            writeln!(
                f,
                "  {:<7} {:>7} {:>11.1} {:>8.2} {:>8.2} {:>10.1} {:>8.2} {:>8.2} {:>6.2}",
                c.command.as_str(),
                c.writers,
                c.commands_per_s,
                c.command_latency.p50_ms,
                c.command_latency.p99_ms,
                c.raw_inserts_per_s,
                c.raw_latency.p50_ms,
                c.raw_latency.p99_ms,
                c.ratio
            )?;
            if let Some(floor) = &c.floor {
                writeln!(
                    f,
                    "  {:<7} {:>7} {:>11.1} {:>8} {:>8} {:>10} {:>8} {:>8} {:>6.2}   (event + cip claim + data key, raw)",
                    "floor", c.writers, floor.per_s, "", "", "", "", "", floor.ratio
                )?;
            }
        }
        let c = &self.catch_up;
        writeln!(f)?;
        writeln!(
            f,
            "Projector catch-up from zero over {} events ({} read models, batches of {})",
            c.events,
            c.projections.len(),
            c.batch_size
        )?;
        writeln!(
            f,
            "  catch-up {:>10.0} events/s ({:.1} s)   raw ordered read {:>10.0} events/s   ratio {:.3}",
            c.catch_up_events_per_s, c.catch_up_seconds, c.raw_read_events_per_s, c.ratio
        )?;
        let each: Vec<String> = c
            .projections
            .iter()
            .map(|p| format!("{} {:.1} s", p.name, p.seconds))
            .collect();
        writeln!(f, "  one after another: {}", each.join(", "))?;
        for v in &c.variants {
            writeln!(
                f,
                "  what if {:<36} {:>10.0} events/s   ratio {:.3}",
                v.name, v.catch_up_events_per_s, v.ratio
            )?;
        }
        writeln!(
            f,
            "  memory: RSS {:.1} MiB before, {:.1} MiB peak, {:.1} MiB after",
            c.memory.before_mib, c.memory.peak_mib, c.memory.after_mib
        )?;
        writeln!(
            f,
            "  setup: generated at {:.0} events/s, sequenced at {:.0} events/s",
            c.generate_events_per_s, c.sequence_events_per_s
        )?;
        let l = &self.latency;
        writeln!(f)?;
        writeln!(
            f,
            "Command → read model latency (SubmitIdentity → identity_status row, projector live, {} samples)",
            l.samples
        )?;
        writeln!(
            f,
            "  visible  p50 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms   (polled every {} ms)",
            l.visible.p50_ms, l.visible.p99_ms, l.visible.max_ms, l.poll_interval_ms
        )?;
        writeln!(
            f,
            "  command  p50 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms",
            l.command.p50_ms, l.command.p99_ms, l.command.max_ms
        )?;
        writeln!(f)?;
        for r in &self.ratios {
            writeln!(f, "{r}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ratio_prints_on_one_line_with_two_decimals() {
        let r = Ratio {
            name: "commands.submit.writers=4".to_owned(),
            value: 0.929,
        };
        assert_eq!(r.to_string(), "ratio commands.submit.writers=4 0.93");
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let p = Percentiles::of(&mut samples);
        assert_eq!((p.p50_ms, p.p99_ms, p.max_ms), (50.0, 99.0, 100.0));
    }
}
