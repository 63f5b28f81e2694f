//! The Paxos side of the command line: `onboarding mirror run [--once]` follows the log and
//! mirrors it to Paxos; `onboarding serve` runs the webhook receiver, the events poller and the
//! mirror together until interrupted. Settings come from flags or the `PAXOS_*` environment.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use onboarding_ledger::Ledger;
use onboarding_mirror::{
    Checkpoints, DecisionRecorder, EventsPoller, MirrorOptions, MirrorReport, MirrorWorker,
    WebhookAuth, WebhookReceiver, WEBHOOK_PATH,
};
use onboarding_paxos::config::SANDBOX_API_URL;
use onboarding_paxos::{PaxosClient, PaxosConfig};

use crate::print::outln;

/// How to reach Paxos.
#[derive(Debug, Args)]
pub struct PaxosArgs {
    /// The Paxos REST base, including `/v2`. `--paxos-url` is the same flag.
    #[arg(
        long,
        visible_alias = "paxos-url",
        env = "PAXOS_API_URL",
        default_value = SANDBOX_API_URL
    )]
    paxos_api_url: String,
    /// The Paxos OAuth host (tokens from `{url}/oauth2/token`).
    #[arg(long, env = "PAXOS_OAUTH_URL", default_value = onboarding_paxos::config::SANDBOX_OAUTH_URL)]
    paxos_oauth_url: String,
    /// The OAuth client id.
    #[arg(long, env = "PAXOS_CLIENT_ID")]
    paxos_client_id: String,
    /// The OAuth client secret.
    #[arg(long, env = "PAXOS_CLIENT_SECRET", hide_env_values = true)]
    paxos_client_secret: String,
}

impl PaxosArgs {
    fn client(&self) -> anyhow::Result<PaxosClient> {
        PaxosClient::new(PaxosConfig::new(
            &self.paxos_api_url,
            &self.paxos_oauth_url,
            &self.paxos_client_id,
            &self.paxos_client_secret,
        ))
        .context("Paxos client configuration")
    }
}

/// `onboarding mirror ...`.
#[derive(Debug, Subcommand)]
pub enum MirrorCommand {
    /// Mirror the log to Paxos: until interrupted, or one pass with --once.
    Run {
        /// One pass up to the head of the log, then exit.
        #[arg(long)]
        once: bool,
        /// Pause between passes, in milliseconds.
        #[arg(long, default_value_t = 500)]
        interval_ms: u64,
        #[command(flatten)]
        paxos: PaxosArgs,
    },
}

/// `onboarding serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where the webhook receiver listens.
    #[arg(long, env = "ONBOARDING_LISTEN", default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// The header Paxos authenticates its webhooks with.
    #[arg(
        long,
        env = "PAXOS_WEBHOOK_HEADER",
        default_value = "X-Paxos-Webhook-Key"
    )]
    paxos_webhook_header: String,
    /// The header's value.
    #[arg(long, env = "PAXOS_WEBHOOK_SECRET", hide_env_values = true)]
    paxos_webhook_secret: String,
    /// Pause between catch-ups of the events poller, in seconds.
    #[arg(long, default_value_t = 30)]
    poll_seconds: u64,
    /// Do not run the mirror worker in this process.
    #[arg(long)]
    no_mirror: bool,
    #[command(flatten)]
    paxos: PaxosArgs,
}

fn worker(ledger: &Arc<Ledger>, paxos: PaxosClient, interval: Duration) -> MirrorWorker {
    MirrorWorker::new(
        ledger.clone(),
        paxos,
        Checkpoints::for_ledger(ledger),
        MirrorOptions {
            interval,
            ..MirrorOptions::default()
        },
    )
}

/// Runs `onboarding mirror ...`.
pub async fn mirror(ledger: Ledger, json: bool, command: MirrorCommand) -> anyhow::Result<()> {
    let MirrorCommand::Run {
        once,
        interval_ms,
        paxos,
    } = command;
    let ledger = Arc::new(ledger);
    let worker = worker(&ledger, paxos.client()?, Duration::from_millis(interval_ms));
    if once {
        let report = worker.run_once().await?;
        outln!("{}", pass_report(&report, json));
        return Ok(());
    }
    worker.run(crate::interrupted()).await?;
    Ok(())
}

/// What `mirror run --once` prints about its pass: JSON with numbers as numbers (`waiting` is
/// null unless the pass stopped early), or a line for people naming `waiting` only when it did.
fn pass_report(report: &MirrorReport, json: bool) -> String {
    let waiting = report.waiting.as_deref().filter(|w| !w.is_empty());
    if json {
        return serde_json::json!({
            "checkpoint": report.checkpoint,
            "handled": report.handled,
            "rejected": report.rejected,
            "open_orders": report.open_orders,
            "waiting": waiting,
        })
        .to_string();
    }
    let mut line = format!(
        "mirror pass done: checkpoint {}, handled {}, rejected {}, open_orders {}",
        report.checkpoint, report.handled, report.rejected, report.open_orders
    );
    if let Some(waiting) = waiting {
        line.push_str(&format!(", waiting {waiting}"));
    }
    line
}

/// Runs `onboarding serve`.
pub async fn serve(ledger: Ledger, args: ServeArgs) -> anyhow::Result<()> {
    let ledger = Arc::new(ledger);
    let paxos = args.paxos.client()?;
    let auth = WebhookAuth::new(&args.paxos_webhook_header, args.paxos_webhook_secret)
        .context("PAXOS_WEBHOOK_HEADER is not a valid header name")?;
    let recorder = DecisionRecorder::new(ledger.clone(), paxos.clone());
    let receiver = WebhookReceiver::new(auth, recorder.clone());
    let poller = EventsPoller::new(paxos.clone(), recorder, Checkpoints::for_ledger(&ledger));
    let stop = crate::interrupted();

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    tracing::info!(listen = %args.listen, path = WEBHOOK_PATH, "serving Paxos webhooks");
    let server = tokio::spawn(onboarding_mirror::serve(
        listener,
        receiver.router(),
        stop.clone(),
    ));

    let poll_stop = stop.clone();
    let every = Duration::from_secs(args.poll_seconds.max(1));
    let polling = tokio::spawn(async move {
        loop {
            if let Err(e) = poller.catch_up().await {
                tracing::warn!(error = %e, "events catch-up failed; retrying");
            }
            tokio::select! {
                () = poll_stop.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    });
    if !args.no_mirror {
        worker(&ledger, paxos, Duration::from_millis(500))
            .run(stop.clone())
            .await?;
    }
    stop.cancelled().await;
    polling.await.ok();
    server.await??;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use onboarding_mirror::MirrorReport;
    use serde_json::json;

    use super::{pass_report, PaxosArgs};

    fn pass(waiting: Option<&str>) -> MirrorReport {
        MirrorReport {
            checkpoint: 42,
            handled: 7,
            rejected: 1,
            waiting: waiting.map(str::to_owned),
            open_orders: 2,
        }
    }

    #[test]
    fn a_pass_that_reached_the_head_prints_no_waiting_field() {
        assert_eq!(
            pass_report(&pass(None), false),
            "mirror pass done: checkpoint 42, handled 7, rejected 1, open_orders 2"
        );
        assert_eq!(
            pass_report(&pass(Some("identity 1 is not mirrored yet")), false),
            "mirror pass done: checkpoint 42, handled 7, rejected 1, open_orders 2, \
             waiting identity 1 is not mirrored yet"
        );
    }

    #[test]
    fn the_json_pass_report_carries_numbers_as_numbers() {
        let report: serde_json::Value =
            serde_json::from_str(&pass_report(&pass(None), true)).expect("JSON");
        assert_eq!(
            report,
            json!({ "checkpoint": 42, "handled": 7, "rejected": 1, "open_orders": 2, "waiting": null })
        );
        let waiting: serde_json::Value =
            serde_json::from_str(&pass_report(&pass(Some("a reason")), true)).expect("JSON");
        assert_eq!(waiting["waiting"], "a reason");
    }

    /// `PaxosArgs` on a command line of its own.
    #[derive(Debug, Parser)]
    struct Paxos {
        #[command(flatten)]
        args: PaxosArgs,
    }

    #[test]
    fn paxos_url_is_another_name_for_paxos_api_url() {
        for flag in ["--paxos-url", "--paxos-api-url"] {
            let paxos = Paxos::try_parse_from([
                "mirror",
                flag,
                "http://127.0.0.1:9/v2",
                "--paxos-client-id",
                "id",
                "--paxos-client-secret",
                "secret",
            ])
            .unwrap_or_else(|e| panic!("{flag}: {e}"));
            assert_eq!(paxos.args.paxos_api_url, "http://127.0.0.1:9/v2", "{flag}");
        }
    }
}
