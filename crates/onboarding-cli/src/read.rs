//! `status`, `audit` and `projector`: the read side on the command line.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use onboarding_ledger::domain::IdentityId;
use onboarding_ledger::projections::{
    AuditEntry, CatchUp, ProjectionError, Projector, ProjectorOptions,
};
use onboarding_ledger::Ledger;
use serde_json::json;

use crate::print::{self, outln};

/// Output formats of `audit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    /// A table for people.
    Table,
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header.
    Csv,
}

impl AuditFormat {
    /// The format `audit` prints in: the one given with `--format`, else JSON lines under the
    /// global `--json` (so that `--json` means machine output for every command), else a table.
    pub fn chosen(explicit: Option<Self>, json: bool) -> Self {
        match explicit {
            Some(format) => format,
            None if json => Self::Jsonl,
            None => Self::Table,
        }
    }
}

/// `onboarding projector ...`
#[derive(Debug, Subcommand)]
pub enum ProjectorCommand {
    /// Apply the log to the read models, following it live until interrupted.
    Run {
        /// Catch up and exit instead of following the log.
        #[arg(long)]
        once: bool,
        /// Empty this projection and replay it from position zero first (others keep running).
        #[arg(long, value_name = "NAME")]
        rebuild: Option<String>,
        /// Clear the recorded failure of this projection so it resumes from its checkpoint.
        #[arg(long, value_name = "NAME")]
        retry: Option<String>,
        /// Events per batch (one transaction each).
        #[arg(long, default_value_t = 500)]
        batch_size: usize,
    },
    /// Show each projection's checkpoint, lag and failure.
    Status,
}

/// Prints an identity's status from the `identity_status` read model.
pub async fn status(ledger: &Ledger, id: IdentityId, json: bool) -> anyhow::Result<()> {
    let row = ledger.identity_status(id).await?.with_context(|| {
        format!("identity {id} is not in the read model (is the projector running?)")
    })?;
    if json {
        outln!("{}", serde_json::to_string(&row)?);
    } else {
        outln!("identity     {}", row.identity_id);
        outln!("kind         {}", row.kind);
        outln!("status       {}", row.status);
        if let Some(d) = &row.last_decision {
            outln!(
                "decision     {d} at {}",
                row.decided_at.map(|t| t.to_rfc3339()).unwrap_or_default()
            );
        }
        if !row.documents_required.is_empty() {
            outln!("documents    {}", row.documents_required.join(", "));
        }
        outln!(
            "paxos id     {}",
            row.paxos_identity_id.as_deref().unwrap_or("(not mirrored)")
        );
        let mirror = serde_json::to_value(row.mirror)?;
        outln!("mirror       {}", mirror.as_str().unwrap_or("-"));
        outln!("submitted    {}", row.submitted_at.to_rfc3339());
        outln!("updated      {}", row.updated_at.to_rfc3339());
    }
    Ok(())
}

/// Prints an audit trail.
pub async fn audit(
    ledger: &Ledger,
    identity: Option<IdentityId>,
    as_of: Option<DateTime<Utc>>,
    format: AuditFormat,
) -> anyhow::Result<()> {
    let entries = ledger.audit_trail(identity, as_of).await?;
    write_audit(&entries, format, &mut print::Stdout)
}

/// Writes entries in a format.
pub fn write_audit(
    entries: &[AuditEntry],
    format: AuditFormat,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    match format {
        AuditFormat::Jsonl => {
            for e in entries {
                writeln!(out, "{}", serde_json::to_string(e)?)?;
            }
        }
        AuditFormat::Csv => {
            let mut w = csv::Writer::from_writer(out);
            for e in entries {
                w.serialize(e)?;
            }
            w.flush()?;
        }
        AuditFormat::Table => {
            for e in entries {
                writeln!(
                    out,
                    "#{:<6} {}  {:<36}  {:<8} {:<3} {:<20} {:<24} {}",
                    e.position,
                    e.recorded_at.format("%Y-%m-%d %H:%M:%S%.3f"),
                    e.identity_id,
                    e.aggregate_type,
                    e.sequence,
                    e.event_type,
                    e.actor,
                    e.summary
                )?;
            }
        }
    }
    Ok(())
}

/// Runs `projector ...`.
pub async fn projector(
    ledger: &Ledger,
    json: bool,
    command: ProjectorCommand,
) -> anyhow::Result<()> {
    let projector = ledger
        .projector()
        .context("the projector needs a database: pass --database-url or set DATABASE_URL")?;
    match command {
        ProjectorCommand::Status => {
            let status = projector.status().await?;
            if json {
                outln!("{}", serde_json::to_string(&status)?);
            } else {
                for s in status {
                    let state = match (&s.failed_position, &s.failure) {
                        (Some(p), Some(f)) => format!("STOPPED at #{p}: {f}"),
                        _ => "ok".to_owned(),
                    };
                    outln!(
                        "{:<16} position {:>8}  lag {:>6}  {state}",
                        s.name,
                        s.position,
                        s.lag
                    );
                }
            }
        }
        ProjectorCommand::Run {
            once,
            rebuild,
            retry,
            batch_size,
        } => {
            let bars = Progress::new(json);
            let projector = projector
                .with_options(ProjectorOptions {
                    batch_size,
                    ..ProjectorOptions::default()
                })
                .with_progress(bars.callback());
            if let Some(name) = &rebuild {
                projector
                    .reset(name)
                    .await
                    .map_err(|e| naming_the_projections(e, &projector, "--rebuild"))?;
                if !json {
                    crate::print::errln!("{name}: emptied, replaying from position 0");
                }
            }
            if let Some(name) = &retry {
                projector
                    .retry(name)
                    .await
                    .map_err(|e| naming_the_projections(e, &projector, "--retry"))?;
            }
            if once {
                let done = projector.catch_up().await?;
                bars.finish();
                report(&done, json);
            } else {
                let stopped = projector.run(crate::interrupted()).await?;
                bars.finish();
                for e in &stopped {
                    crate::print::errln!("stopped: {e}");
                }
                if !stopped.is_empty() {
                    anyhow::bail!(
                        "{} projection(s) stopped; see `onboarding projector status`",
                        stopped.len()
                    );
                }
            }
        }
    }
    Ok(())
}

/// `error`, with the projections there are when it is about a name that is not one of them.
fn naming_the_projections(
    error: ProjectionError,
    projector: &Projector,
    flag: &str,
) -> anyhow::Error {
    match error {
        ProjectionError::Unknown(name) => anyhow::anyhow!(
            "{flag}: no projection named {name}; the projections are {}",
            projector.names().join(", ")
        ),
        other => other.into(),
    }
}

fn report(done: &[(String, CatchUp)], json: bool) {
    if json {
        let items: Vec<_> = done
            .iter()
            .map(|(name, c)| match c {
                CatchUp::CaughtUp(p) => json!({ "projection": name, "position": p }),
                CatchUp::HeldElsewhere => json!({ "projection": name, "held_elsewhere": true }),
            })
            .collect();
        outln!("{}", json!(items));
    } else {
        for (name, c) in done {
            match c {
                CatchUp::CaughtUp(p) => outln!("{name:<16} caught up to position {p}"),
                CatchUp::HeldElsewhere => {
                    outln!("{name:<16} skipped: another projector holds its lease")
                }
            }
        }
    }
}

/// One progress bar per projection on a terminal; nothing otherwise.
struct Progress {
    bars: Arc<Mutex<HashMap<String, ProgressBar>>>,
    hidden: bool,
}

impl Progress {
    fn new(json: bool) -> Self {
        Self {
            bars: Arc::default(),
            hidden: json,
        }
    }

    fn callback(&self) -> onboarding_ledger::projections::runtime::ProgressFn {
        let bars = self.bars.clone();
        let hidden = self.hidden;
        Arc::new(move |name: &str, position: i64, head: i64| {
            let Ok(mut bars) = bars.lock() else { return };
            let bar = bars.entry(name.to_owned()).or_insert_with(|| {
                let bar = ProgressBar::new(0);
                if hidden {
                    bar.set_draw_target(ProgressDrawTarget::hidden());
                }
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix:>16} {bar:40} {pos}/{len} events ({per_sec})",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar.set_prefix(name.to_owned());
                bar
            });
            bar.set_length(u64::try_from(head).unwrap_or_default());
            bar.set_position(u64::try_from(position).unwrap_or_default());
        })
    }

    fn finish(&self) {
        if let Ok(bars) = self.bars.lock() {
            for bar in bars.values() {
                bar.finish();
            }
        }
    }
}

/// Runs `verify`.
pub async fn verify(ledger: &Ledger, expect: Option<&str>, json: bool) -> anyhow::Result<()> {
    let expected = expect
        .map(|e| {
            let (position, digest) = e
                .split_once(':')
                .context("--expect takes POSITION:HEX, as printed by verify")?;
            let position: i64 = position
                .parse()
                .context("--expect position is not a number")?;
            anyhow::Ok((position, digest.to_ascii_lowercase()))
        })
        .transpose()?;
    let v = ledger
        .verify(expected.as_ref().map(|(p, _)| *p))
        .await?
        .context("verify needs the PostgreSQL store")?;
    let digest_ok = expected
        .as_ref()
        .is_none_or(|(p, d)| v.digest.position == *p && v.digest.digest == *d);
    if json {
        outln!(
            "{}",
            json!({ "intact": v.is_intact() && digest_ok, "verification": v, "digest_matches": expected.as_ref().map(|_| digest_ok) })
        );
    } else {
        outln!("checked {} events in {} streams", v.events, v.streams);
        outln!("log digest {}", v.digest);
    }
    if let Some(b) = &v.first_break {
        anyhow::bail!("chain broken: {b}");
    }
    if let Some(p) = v.log_gap {
        anyhow::bail!("log broken: position {p} is missing or its event is gone");
    }
    if let Some((kept, _)) = expected.as_ref().filter(|(p, _)| v.digest.position < *p) {
        anyhow::bail!(
            "the log ends at position {}, before the kept position {kept}",
            v.digest.position
        );
    }
    if !digest_ok {
        anyhow::bail!("the log up to the expected position no longer matches the kept digest");
    }
    if !json {
        outln!("intact");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::AuditFormat;

    #[test]
    fn audit_prints_json_lines_under_json_unless_a_format_is_given() {
        assert_eq!(AuditFormat::chosen(None, false), AuditFormat::Table);
        assert_eq!(AuditFormat::chosen(None, true), AuditFormat::Jsonl);
        for format in [AuditFormat::Table, AuditFormat::Jsonl, AuditFormat::Csv] {
            assert_eq!(AuditFormat::chosen(Some(format), true), format);
            assert_eq!(AuditFormat::chosen(Some(format), false), format);
        }
    }
}
