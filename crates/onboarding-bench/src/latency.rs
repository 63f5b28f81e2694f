//! Command-to-read-model latency with the projector following the log live.
//!
//! One command at a time: submit a person, then poll the `identity_status` read model until the
//! person's row is there. Polling is the measurement here (its interval bounds the resolution);
//! the projector itself is woken by the append's NOTIFY.

use std::time::{Duration, Instant};

use onboarding_ledger::projections::Projector;
use onboarding_ledger::{Ledger, LedgerOptions};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::error::BenchError;
use crate::horizon;
use crate::options::BenchOptions;
use crate::report::{LatencyFigure, Percentiles};
use crate::scratch::ScratchDatabase;
use crate::sql;
use crate::workload::{self, People};

/// How often the read model is polled.
const POLL: Duration = Duration::from_millis(1);
/// Commands issued before measuring (the projector starting, connections, caches).
const WARMUP_COMMANDS: usize = 20;
/// How long one command's effect may take to show before the run fails.
const DEADLINE: Duration = Duration::from_secs(30);

/// Measures `options.latency_samples` commands.
pub(crate) async fn measure(
    options: &BenchOptions,
    db: &ScratchDatabase,
) -> Result<LatencyFigure, BenchError> {
    let pool = db.pool(16).await?;
    let shutdown = CancellationToken::new();
    let projector = Projector::new(pool.clone());
    let running = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move { projector.run(shutdown).await })
    };
    let measured = measure_on(options, &pool).await;
    shutdown.cancel();
    let stopped = running.await;
    pool.close().await;
    let figure = measured?;
    if let Some(e) = stopped??.into_iter().next() {
        return Err(e.into());
    }
    Ok(figure)
}

async fn measure_on(options: &BenchOptions, pool: &PgPool) -> Result<LatencyFigure, BenchError> {
    let ledger = Ledger::on_pool(pool.clone(), &LedgerOptions::default());
    let people = People::default();
    let ctx = workload::context();
    let mut command = Vec::with_capacity(options.latency_samples);
    let mut visible = Vec::with_capacity(options.latency_samples);
    for i in 0..WARMUP_COMMANDS + options.latency_samples {
        let json = people.next_json();
        let begin = Instant::now();
        let id = ledger.submit_identity_json(&ctx, &json).await?;
        let committed = begin.elapsed();
        let key = id.to_string();
        loop {
            let seen: bool = sqlx::query_scalar(sql::IDENTITY_VISIBLE)
                .bind(&key)
                .fetch_one(pool)
                .await?;
            if seen {
                break;
            }
            if begin.elapsed() > DEADLINE {
                let what = "a submitted identity showing in identity_status";
                return Err(horizon::held_back(pool, what, DEADLINE).await);
            }
            tokio::time::sleep(POLL).await;
        }
        if i >= WARMUP_COMMANDS {
            visible.push(begin.elapsed());
            command.push(committed);
        }
    }
    Ok(LatencyFigure {
        samples: options.latency_samples,
        command: Percentiles::of(&mut command),
        visible: Percentiles::of(&mut visible),
        poll_interval_ms: POLL.as_secs_f64() * 1000.0,
    })
}
