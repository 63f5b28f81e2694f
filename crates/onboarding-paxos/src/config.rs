//! How a [`PaxosClient`](crate::PaxosClient) reaches Paxos: hosts, credentials, scopes,
//! timeouts, retries and pacing.

use std::time::Duration;

use secrecy::SecretString;

use crate::problem::Error;

/// Paxos's production REST base.
pub const PRODUCTION_API_URL: &str = "https://api.paxos.com/v2";
/// Paxos's production OAuth host (tokens at `/oauth2/token`).
pub const PRODUCTION_OAUTH_URL: &str = "https://oauth.paxos.com";
/// Paxos's sandbox REST base.
pub const SANDBOX_API_URL: &str = "https://api.sandbox.paxos.com/v2";
/// Paxos's sandbox OAuth host.
pub const SANDBOX_OAUTH_URL: &str = "https://oauth.sandbox.paxos.com";

/// The scopes the onboarding flow needs (`funding:read_profile` also covers sandbox deposits).
pub const ONBOARDING_SCOPES: &[&str] = &[
    "identity:read_identity",
    "identity:write_identity",
    "identity:read_account",
    "identity:write_account",
    "funding:read_profile",
    "funding:write_profile",
    "exchange:read_order",
    "exchange:write_order",
    "events:read_event",
];

/// Environment variables [`PaxosConfig::from_env`] reads.
pub mod env {
    /// The REST base; defaults to the Paxos sandbox.
    pub const API_URL: &str = "PAXOS_API_URL";
    /// The OAuth host; defaults to the Paxos sandbox's.
    pub const OAUTH_URL: &str = "PAXOS_OAUTH_URL";
    /// The OAuth client id (required).
    pub const CLIENT_ID: &str = "PAXOS_CLIENT_ID";
    /// The OAuth client secret (required).
    pub const CLIENT_SECRET: &str = "PAXOS_CLIENT_SECRET";
}

/// Everything a client needs. `Debug` never shows the secret.
#[derive(Debug, Clone)]
pub struct PaxosConfig {
    /// The REST base including `/v2`, e.g. [`SANDBOX_API_URL`].
    pub api_url: String,
    /// The OAuth host; tokens come from `{oauth_url}/oauth2/token`.
    pub oauth_url: String,
    /// The OAuth client id.
    pub client_id: String,
    /// The OAuth client secret.
    pub client_secret: SecretString,
    /// The scopes requested with each token.
    pub scopes: Vec<String>,
    /// How long one HTTP exchange may take.
    pub timeout: Duration,
    /// How long connecting may take.
    pub connect_timeout: Duration,
    /// A cached token is renewed once its remaining lifetime falls below this.
    pub renew_before: Duration,
    /// Retries of transient failures.
    pub retry: RetryPolicy,
    /// Client-side pacing below Paxos's rate limits.
    pub pacing: Pacing,
}

impl PaxosConfig {
    /// A configuration with default timeouts, retries, pacing and the onboarding scopes.
    pub fn new(
        api_url: impl Into<String>,
        oauth_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        Self {
            api_url: api_url.into(),
            oauth_url: oauth_url.into(),
            client_id: client_id.into(),
            client_secret: SecretString::from(client_secret.into()),
            scopes: ONBOARDING_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            renew_before: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            pacing: Pacing::default(),
        }
    }

    /// Paxos's sandbox environment.
    pub fn paxos_sandbox(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self::new(SANDBOX_API_URL, SANDBOX_OAUTH_URL, client_id, client_secret)
    }

    /// Paxos's production environment.
    pub fn paxos_production(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        Self::new(
            PRODUCTION_API_URL,
            PRODUCTION_OAUTH_URL,
            client_id,
            client_secret,
        )
    }

    /// Reads the [`env`](mod@crate::config::env) variables; the URLs default to Paxos's sandbox.
    pub fn from_env() -> Result<Self, Error> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let required =
            |name: &str| var(name).ok_or_else(|| Error::Config(format!("{name} is not set")));
        Ok(Self::new(
            var(env::API_URL).unwrap_or_else(|| SANDBOX_API_URL.to_owned()),
            var(env::OAUTH_URL).unwrap_or_else(|| SANDBOX_OAUTH_URL.to_owned()),
            required(env::CLIENT_ID)?,
            required(env::CLIENT_SECRET)?,
        ))
    }
}

/// Retries of transient failures (timeouts, transport errors, 5xx, 429) with exponential
/// backoff and jitter. Requests that are not idempotent (a sandbox deposit has no `ref_id`) are
/// retried only when they cannot have taken effect: connection failures and 429.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (a token renewal after a 401 is not counted).
    pub max_attempts: u32,
    /// The first backoff.
    pub min_delay: Duration,
    /// The longest backoff.
    pub max_delay: Duration,
    /// Randomize each backoff, so that many clients do not retry in step.
    pub jitter: bool,
    /// A 429 asking to wait longer than this is not waited for: the call fails with
    /// [`Error::RateLimited`] and the caller reschedules.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            jitter: true,
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }
}

/// Client-side pacing, per client, below Paxos's per-IP limits (identity 10/s, most others
/// 50/s, token 1/s). Clients sharing an IP share those limits: divide accordingly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pacing {
    /// Calls per second to `/identity/...`.
    pub identity_per_second: u32,
    /// Calls per second to every other path.
    pub other_per_second: u32,
    /// The shortest interval between two token requests.
    pub token_interval: Duration,
}

impl Default for Pacing {
    fn default() -> Self {
        Self {
            identity_per_second: 8,
            other_per_second: 40,
            token_interval: Duration::from_millis(1100),
        }
    }
}
