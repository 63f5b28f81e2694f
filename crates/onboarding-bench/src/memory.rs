//! The process's resident memory, from `/proc/self/status` (Linux; zero elsewhere).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the sampler reads the RSS.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// How many samples a report keeps (evenly spaced over the span).
const KEPT_SAMPLES: usize = 20;

/// A line of `/proc/self/status` in MiB (`VmRSS`, `VmHWM`).
fn status_mib(key: &str) -> f64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return 0.0;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// The resident set size now, MiB.
pub(crate) fn rss_mib() -> f64 {
    status_mib("VmRSS")
}

/// Samples the RSS in a thread until stopped, and resets the kernel's high-water mark at the
/// start so that it covers exactly the sampled span.
pub(crate) struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<f64>>,
    hwm_reset: bool,
}

impl Sampler {
    /// Starts sampling.
    pub(crate) fn start() -> Self {
        // "5" resets VmHWM to the current RSS (Linux ≥ 4.0); not every sandbox allows it.
        let hwm_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                samples.push(rss_mib());
                std::thread::sleep(SAMPLE_EVERY);
            }
            samples
        });
        Self {
            stop,
            thread,
            hwm_reset,
        }
    }

    /// Stops; returns up to [`KEPT_SAMPLES`] evenly spaced samples and the peak (the
    /// high-water mark where it was reset, else the highest sample).
    pub(crate) fn stop(self) -> (Vec<f64>, f64) {
        self.stop.store(true, Ordering::Relaxed);
        let mut samples = self.thread.join().unwrap_or_default();
        samples.push(rss_mib());
        let sampled = samples.iter().copied().fold(0.0, f64::max);
        let peak = if self.hwm_reset {
            status_mib("VmHWM").max(sampled)
        } else {
            sampled
        };
        let step = samples.len().div_ceil(KEPT_SAMPLES).max(1);
        let kept = samples.iter().step_by(step).copied().collect();
        (kept, peak)
    }
}
