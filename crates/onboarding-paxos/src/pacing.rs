//! Client-side rate limiting: one token bucket per Paxos rate-limit class, awaited before each
//! request is sent.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::config::Pacing;

/// The rate-limit class of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RateClass {
    /// `/identity/...`: 10 per second at Paxos.
    Identity,
    /// Every other API path: 50 per second at Paxos.
    Other,
    /// The token endpoint: 1 per second at Paxos.
    Token,
}

impl RateClass {
    /// The class of an API path given as segments after `/v2`.
    pub(crate) fn of_path(segments: &[&str]) -> Self {
        if segments.first() == Some(&"identity") {
            Self::Identity
        } else {
            Self::Other
        }
    }
}

/// The three buckets.
pub(crate) struct Pacer {
    identity: DefaultDirectRateLimiter,
    other: DefaultDirectRateLimiter,
    token: DefaultDirectRateLimiter,
}

impl std::fmt::Debug for Pacer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pacer")
    }
}

fn per_second(n: u32) -> Quota {
    Quota::per_second(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

impl Pacer {
    pub(crate) fn new(pacing: &Pacing) -> Self {
        let token = Quota::with_period(pacing.token_interval.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| per_second(1));
        Self {
            identity: RateLimiter::direct(per_second(pacing.identity_per_second)),
            other: RateLimiter::direct(per_second(pacing.other_per_second)),
            token: RateLimiter::direct(token),
        }
    }

    fn limiter(&self, class: RateClass) -> &DefaultDirectRateLimiter {
        match class {
            RateClass::Identity => &self.identity,
            RateClass::Other => &self.other,
            RateClass::Token => &self.token,
        }
    }

    /// Waits until a request of `class` may be sent.
    pub(crate) async fn ready(&self, class: RateClass) {
        self.limiter(class).until_ready().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted_at_once(pacer: &Pacer, class: RateClass, tries: usize) -> usize {
        (0..tries)
            .filter(|_| pacer.limiter(class).check().is_ok())
            .count()
    }

    #[test]
    fn each_class_admits_at_most_its_rate_at_once() {
        let pacer = Pacer::new(&Pacing::default());
        assert_eq!(admitted_at_once(&pacer, RateClass::Identity, 50), 8);
        assert_eq!(admitted_at_once(&pacer, RateClass::Other, 100), 40);
        assert_eq!(admitted_at_once(&pacer, RateClass::Token, 5), 1);
    }

    #[test]
    fn identity_paths_are_paced_apart_from_the_others() {
        assert_eq!(
            RateClass::of_path(&["identity", "identities"]),
            RateClass::Identity
        );
        assert_eq!(RateClass::of_path(&["events"]), RateClass::Other);
        assert_eq!(
            RateClass::of_path(&["profiles", "p", "orders"]),
            RateClass::Other
        );
    }

    #[tokio::test]
    async fn a_request_beyond_the_rate_waits_for_the_next_slot() {
        let pacer = Pacer::new(&Pacing {
            identity_per_second: 20,
            ..Pacing::default()
        });
        admitted_at_once(&pacer, RateClass::Identity, 20);
        let started = std::time::Instant::now();
        pacer.ready(RateClass::Identity).await;
        // One slot every 50 ms: the 21st request waits for it.
        assert!(started.elapsed() >= Duration::from_millis(30));
    }
}
