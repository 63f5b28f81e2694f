//! Fault injection, changeable while the sandbox runs: latency, failed or rate-limited answers,
//! answers lost after the request took effect, dropped webhooks, expired tokens.
//!
//! Faults are queued; each API request (every path under `/v2`, not the token endpoint) takes the
//! next one, in arrival order.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;

/// One injected fault, consumed by one API request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status without handling the request: it has no effect.
    Fail(StatusCode),
    /// Handle the request, then answer with this status instead: the effect happened, the
    /// answer is lost (the case a `ref_id` makes safe to retry).
    FailAfterHandling(StatusCode),
    /// Answer 429 with this `Retry-After` (whole seconds) without handling the request.
    RateLimit(Duration),
    /// Answer 403 `insufficient scopes` (an `about:blank` problem, as Paxos answers a token
    /// lacking the operation's scope) without handling the request.
    MissingScope,
    /// Handle the request, then hold the answer this long: a client whose timeout is shorter
    /// sees a timeout although the effect happened.
    DelayAfterHandling(Duration),
}

/// The faults of one sandbox. Cheap to clone; all clones share the same queue.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    inner: Arc<FaultsInner>,
}

#[derive(Debug, Default)]
struct FaultsInner {
    queue: Mutex<VecDeque<Fault>>,
    latency_ms: AtomicU64,
    drop_webhooks: AtomicU64,
    token_epoch: AtomicU64,
}

impl Faults {
    /// Queues `fault` for the next `n` API requests (after those already queued).
    pub fn push(&self, fault: Fault, n: usize) {
        let mut queue = lock(&self.inner.queue);
        queue.extend(std::iter::repeat_n(fault, n));
    }

    /// The next `n` API requests fail with `status` (e.g. 500, 502, 503) and have no effect.
    pub fn fail_next(&self, n: usize, status: StatusCode) {
        self.push(Fault::Fail(status), n);
    }

    /// The next `n` API requests take effect, then answer `status` instead of their result.
    pub fn fail_next_after_handling(&self, n: usize, status: StatusCode) {
        self.push(Fault::FailAfterHandling(status), n);
    }

    /// The next `n` API requests answer 429 with `Retry-After: retry_after` (whole seconds).
    pub fn rate_limit_next(&self, n: usize, retry_after: Duration) {
        self.push(Fault::RateLimit(retry_after), n);
    }

    /// The next `n` API requests take effect, then their answers wait `delay`.
    pub fn delay_next(&self, n: usize, delay: Duration) {
        self.push(Fault::DelayAfterHandling(delay), n);
    }

    /// Every API request waits `latency` before it is handled (zero turns it off).
    pub fn set_latency(&self, latency: Duration) {
        let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self.inner.latency_ms.store(ms, Ordering::SeqCst);
    }

    /// The next `n` webhook deliveries are dropped (never sent, never retried).
    pub fn drop_webhooks(&self, n: u64) {
        self.inner.drop_webhooks.fetch_add(n, Ordering::SeqCst);
    }

    /// Every token issued so far stops working: the next API call with one answers 401.
    pub fn expire_tokens(&self) {
        self.inner.token_epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// Removes queued faults, latency and pending webhook drops.
    pub fn clear(&self) {
        lock(&self.inner.queue).clear();
        self.inner.latency_ms.store(0, Ordering::SeqCst);
        self.inner.drop_webhooks.store(0, Ordering::SeqCst);
    }

    /// How many queued faults are left.
    pub fn pending(&self) -> usize {
        lock(&self.inner.queue).len()
    }

    pub(crate) fn next(&self) -> Option<Fault> {
        lock(&self.inner.queue).pop_front()
    }

    pub(crate) fn latency(&self) -> Duration {
        Duration::from_millis(self.inner.latency_ms.load(Ordering::SeqCst))
    }

    /// Whether the next delivery is to be dropped (and counts it).
    pub(crate) fn take_webhook_drop(&self) -> bool {
        self.inner
            .drop_webhooks
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    pub(crate) fn token_epoch(&self) -> u64 {
        self.inner.token_epoch.load(Ordering::SeqCst)
    }
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it (the sandbox's state
/// stays usable for the remaining assertions of a failing test).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
