//! The demo's Paxos side: an in-process `paxos-sandbox` (the default) or a Paxos given by URL,
//! a private mirror worker and the events poller.
//!
//! The mirror is private to one demo run: it mirrors only the run's own events (its
//! correlation id) and keeps its positions in memory, starting at the head of the log, so that
//! demos sharing a database (and a long-running `onboarding mirror run`, which keeps the shared
//! `paxos_mirror` checkpoint) never mirror each other's events. Decisions come back as Paxos
//! decides them, read through the events poller (no webhook receiver is needed).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use onboarding_ledger::domain::vocab::IdentityStatus;
use onboarding_ledger::domain::{IdentityId, OrderId, ProfileId};
use onboarding_ledger::Ledger;
use onboarding_mirror::checkpoint::EVENTS_CURSOR;
use onboarding_mirror::{
    Checkpoints, DecisionRecorder, EventsPoller, MirrorOptions, MirrorReport, MirrorWorker,
};
use onboarding_paxos::config::SANDBOX_OAUTH_URL;
use onboarding_paxos::{Pacing, PaxosClient, PaxosConfig};
use paxos_sandbox::{DecisionConfig, Sandbox, SandboxConfig, SandboxHandle};
use rust_decimal::Decimal;

/// The BTCUSD price the in-process sandbox starts at.
pub const SANDBOX_BTCUSD: u32 = 50_000;

/// How the demo reaches Paxos (`onboarding demo` flags).
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Run on the ledger alone: a compliance officer decides every identity and order fills
    /// are recorded by hand, nothing is mirrored to Paxos.
    #[arg(long)]
    no_mirror: bool,
    /// Mirror to this Paxos REST base (including `/v2`) instead of an in-process sandbox.
    /// `--paxos-url` is the same flag.
    #[arg(long, visible_alias = "paxos-url", env = "PAXOS_API_URL")]
    paxos_api_url: Option<String>,
    /// The OAuth host of `--paxos-api-url` (tokens from `{url}/oauth2/token`); Paxos's sandbox
    /// OAuth host when absent.
    #[arg(long, env = "PAXOS_OAUTH_URL")]
    paxos_oauth_url: Option<String>,
    /// The OAuth client id for `--paxos-api-url`.
    #[arg(long, env = "PAXOS_CLIENT_ID")]
    paxos_client_id: Option<String>,
    /// The OAuth client secret for `--paxos-api-url`.
    #[arg(long, env = "PAXOS_CLIENT_SECRET", hide_env_values = true)]
    paxos_client_secret: Option<String>,
    /// The longest wait for each Paxos decision or order fill, in seconds.
    #[arg(long, env = "PAXOS_WAIT_SECONDS", default_value_t = 60)]
    paxos_wait_seconds: u64,
}

/// The demo's connection to Paxos, with its private mirror and poller.
pub struct DemoMirror {
    ledger: Arc<Ledger>,
    worker: MirrorWorker,
    poller: EventsPoller,
    sandbox: Option<SandboxHandle>,
    wait: Duration,
    pause: Duration,
}

impl DemoMirror {
    /// The Paxos side `args` ask for (`None` with `--no-mirror`), mirroring only the events of
    /// `correlation`. Also says where it mirrors to.
    pub async fn start(
        ledger: &Arc<Ledger>,
        args: &DemoArgs,
        correlation: &str,
    ) -> anyhow::Result<Option<(Self, String)>> {
        if args.no_mirror {
            return Ok(None);
        }
        let checkpoints = Checkpoints::in_memory_from_head(ledger).await?;
        let (paxos, sandbox, pause, target) = match &args.paxos_api_url {
            None => {
                let sandbox = Sandbox::start(SandboxConfig {
                    decisions: DecisionConfig {
                        // Decided asynchronously, as Paxos does, but soon.
                        delay: Some(Duration::from_millis(20)),
                        ..DecisionConfig::default()
                    },
                    prices: [("BTCUSD".to_owned(), Decimal::from(SANDBOX_BTCUSD))]
                        .into_iter()
                        .collect(),
                    ..SandboxConfig::default()
                })
                .await
                .context("starting the in-process Paxos sandbox")?;
                let mut config = PaxosConfig::new(
                    &sandbox.base_url,
                    &sandbox.oauth_url,
                    &sandbox.client_id,
                    &sandbox.client_secret,
                );
                // Paxos's rate limits do not apply to a sandbox in this process.
                config.pacing = Pacing {
                    identity_per_second: 1000,
                    other_per_second: 1000,
                    token_interval: Duration::from_millis(1),
                };
                let target = format!("in-process Paxos sandbox at {}", sandbox.base_url);
                let client = PaxosClient::new(config).context("sandbox client")?;
                (client, Some(sandbox), Duration::from_millis(10), target)
            }
            Some(url) => {
                let (Some(id), Some(secret)) = (&args.paxos_client_id, &args.paxos_client_secret)
                else {
                    bail!(
                        "--paxos-api-url needs --paxos-client-id and --paxos-client-secret \
                         (or PAXOS_CLIENT_ID and PAXOS_CLIENT_SECRET)"
                    );
                };
                let oauth = args.paxos_oauth_url.as_deref().unwrap_or(SANDBOX_OAUTH_URL);
                let client = PaxosClient::new(PaxosConfig::new(url, oauth, id, secret))
                    .context("Paxos client configuration")?;
                // Only events from about now on concern this run: do not page through the
                // account's whole history.
                let since = chrono::Utc::now() - chrono::Duration::minutes(5);
                checkpoints
                    .save(EVENTS_CURSOR, since.timestamp_micros())
                    .await?;
                (
                    client,
                    None,
                    Duration::from_secs(1),
                    format!("Paxos at {url}"),
                )
            }
        };
        let worker = MirrorWorker::new(
            ledger.clone(),
            paxos.clone(),
            checkpoints.clone(),
            MirrorOptions {
                correlation: Some(correlation.to_owned()),
                ..MirrorOptions::default()
            },
        );
        let recorder = DecisionRecorder::new(ledger.clone(), paxos.clone());
        let poller = EventsPoller::new(paxos, recorder, checkpoints);
        let mirror = Self {
            ledger: ledger.clone(),
            worker,
            poller,
            sandbox,
            wait: Duration::from_secs(args.paxos_wait_seconds.max(1)),
            pause,
        };
        Ok(Some((mirror, target)))
    }

    /// The in-process sandbox, if the demo runs one.
    pub fn sandbox(&self) -> Option<&SandboxHandle> {
        self.sandbox.as_ref()
    }

    /// Mirrors everything this run committed so far; fails when Paxos refused any of it or it
    /// cannot be mirrored within the wait.
    pub async fn pass(&self, what: &str) -> anyhow::Result<MirrorReport> {
        let deadline = tokio::time::Instant::now() + self.wait;
        loop {
            let report = self
                .worker
                .run_once()
                .await
                .with_context(|| format!("mirroring {what} to Paxos"))?;
            if report.rejected > 0 {
                bail!("Paxos refused {what}: the rejection is in the audit trail");
            }
            match &report.waiting {
                None => return Ok(report),
                Some(why) if tokio::time::Instant::now() >= deadline => {
                    bail!("{what} not mirrored within {}s: {why}", self.wait.as_secs())
                }
                Some(_) => tokio::time::sleep(self.pause).await,
            }
        }
    }

    /// Reads Paxos's events until identity `id` is decided (no longer `PENDING`); its status.
    pub async fn decision(&self, id: IdentityId) -> anyhow::Result<IdentityStatus> {
        let deadline = tokio::time::Instant::now() + self.wait;
        loop {
            self.poller
                .catch_up()
                .await
                .context("reading Paxos events")?;
            let status = self
                .ledger
                .identity(id)
                .await?
                .and_then(|i| i.status())
                .context("identity vanished")?;
            if status != IdentityStatus::Pending {
                return Ok(status);
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "Paxos has not decided identity {id} within {}s (it decides asynchronously: \
                     decide it at Paxos, or raise --paxos-wait-seconds)",
                    self.wait.as_secs()
                );
            }
            tokio::time::sleep(self.pause).await;
        }
    }

    /// Polls Paxos until `order` is final (filled, cancelled or rejected) in the ledger, up to
    /// the wait; whether it is.
    pub async fn order_final(&self, profile: ProfileId, order: OrderId) -> anyhow::Result<bool> {
        let deadline = tokio::time::Instant::now() + self.wait;
        loop {
            self.pass("the order").await?;
            let open = self
                .ledger
                .profile(profile)
                .await?
                .is_some_and(|p| p.open_orders().contains_key(&order));
            if !open {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(self.pause).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::DemoArgs;

    /// `DemoArgs` on a command line of its own.
    #[derive(Debug, Parser)]
    struct Demo {
        #[command(flatten)]
        args: DemoArgs,
    }

    #[test]
    fn the_demo_takes_paxos_url_as_another_name_for_paxos_api_url() {
        for flag in ["--paxos-url", "--paxos-api-url"] {
            let demo = Demo::try_parse_from(["demo", flag, "http://127.0.0.1:9/v2"])
                .unwrap_or_else(|e| panic!("{flag}: {e}"));
            assert_eq!(
                demo.args.paxos_api_url.as_deref(),
                Some("http://127.0.0.1:9/v2"),
                "{flag}"
            );
        }
    }
}
