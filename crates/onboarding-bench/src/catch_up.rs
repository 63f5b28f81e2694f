//! Projector catch-up from zero over a generated log, against a raw ordered read of the same
//! rows in the projector's catch-up batch size.

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use onboarding_ledger::projections::runtime::CATCH_UP_BATCH;
use onboarding_ledger::projections::{CatchUp, Projector, ProjectorOptions};
use serde_json::Value;
use sqlx::{PgPool, Row};

use crate::error::BenchError;
use crate::generate::Template;
use crate::horizon;
use crate::memory::{self, Sampler};
use crate::options::BenchOptions;
use crate::report::{ratio, CatchUpFigure, CatchUpVariant, MemoryFigure, ProjectionTime};
use crate::scratch::ScratchDatabase;
use crate::sql;

/// How long sequencing may wait for the benchmark database's other transactions to end.
const SEQUENCE_DEADLINE: Duration = Duration::from_secs(60);

/// Generates `options.events` events, sequences them, then times the raw read, the catch-up
/// and the raw read again.
pub(crate) async fn measure(
    options: &BenchOptions,
    db: &ScratchDatabase,
    template: &Template,
) -> Result<CatchUpFigure, BenchError> {
    let pool = db.pool(6).await?;
    let result = measure_on(options, db, &pool, template).await;
    pool.close().await;
    result
}

async fn measure_on(
    options: &BenchOptions,
    db: &ScratchDatabase,
    pool: &PgPool,
    template: &Template,
) -> Result<CatchUpFigure, BenchError> {
    options.say(&format!("catch-up: generating {} events", options.events));
    let started = Instant::now();
    let generated = template
        .generate(pool, template.len(), options.events, |_| {})
        .await?;
    let generate_events_per_s = per_s(generated, started.elapsed());

    let started = Instant::now();
    let expected = i64::try_from(generated).unwrap_or(i64::MAX);
    let head = horizon::sequenced(pool, expected, SEQUENCE_DEADLINE).await?;
    let sequence_events_per_s = per_s(generated, started.elapsed());
    sqlx::raw_sql(sql::SETTLE_LOG).execute(pool).await?;
    let events = u64::try_from(head).unwrap_or_default();
    options.say(&format!(
        "catch-up: {events} events generated ({generate_events_per_s:.0}/s) and sequenced \
         ({sequence_events_per_s:.0}/s); reading them raw"
    ));

    // The projector reads the log in batches of `CATCH_UP_BATCH` while far below the head.
    let batch_size = ProjectorOptions::default().batch_size.max(CATCH_UP_BATCH);
    let raw_before = raw_read(pool, batch_size).await?;

    options.say("catch-up: running the projector from zero");
    // When each projection reaches the head (they catch up together, over one read of the
    // log). The progress callback gets the head the projector already knows: no query.
    let finished: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let marks = finished.clone();
    let projector = Projector::new(pool.clone()).with_progress(Arc::new(move |name, at, _| {
        if at >= head {
            if let Ok(mut marks) = marks.lock() {
                marks.push((name.to_owned(), Instant::now()));
            }
        }
    }));
    let before_mib = memory::rss_mib();
    let sampler = Sampler::start();
    let started = Instant::now();
    let done = projector.catch_up().await;
    let took = started.elapsed();
    let mut projections = Vec::new();
    let mut from = started;
    for (name, at) in finished.lock().map(|m| m.clone()).unwrap_or_default() {
        let seconds = (at - from).as_secs_f64();
        projections.push(ProjectionTime {
            name,
            seconds,
            events_per_s: events as f64 / seconds.max(f64::MIN_POSITIVE),
        });
        from = at;
    }
    let (samples_mib, peak_mib) = sampler.stop();
    let after_mib = memory::rss_mib();
    caught_up(done?, head)?;

    let raw_after = raw_read(pool, batch_size).await?;
    let raw_best = raw_before.min(raw_after);
    let catch_up_events_per_s = per_s(events, took);
    let raw_read_events_per_s = per_s(events, raw_best);

    let mut variants = Vec::new();
    if options.explore {
        for &(batch_size, synchronous_commit) in VARIANTS {
            let name = format!(
                "batch={batch_size},synchronous_commit={}",
                if synchronous_commit { "on" } else { "off" }
            );
            options.say(&format!("catch-up: again from zero with {name}"));
            let took = variant(db, &projector, batch_size, synchronous_commit, head).await?;
            let events_per_s = per_s(events, took);
            variants.push(CatchUpVariant {
                name,
                batch_size,
                synchronous_commit,
                catch_up_events_per_s: events_per_s,
                ratio: ratio(events_per_s, raw_read_events_per_s),
            });
        }
    }
    Ok(CatchUpFigure {
        events,
        batch_size,
        projections,
        generate_events_per_s,
        sequence_events_per_s,
        catch_up_seconds: took.as_secs_f64(),
        catch_up_events_per_s,
        raw_read_events_per_s,
        ratio: ratio(catch_up_events_per_s, raw_read_events_per_s),
        memory: MemoryFigure {
            before_mib,
            peak_mib,
            after_mib,
            samples_mib,
        },
        variants,
    })
}

/// What-if set-ups of the projector: (batch size, synchronous commit).
const VARIANTS: &[(usize, bool)] = &[(5_000, true), (500, false), (5_000, false)];

/// Resets every projection of `projector` and times a catch-up from zero with another batch
/// size and commit mode.
async fn variant(
    db: &ScratchDatabase,
    projector: &Projector,
    batch_size: usize,
    synchronous_commit: bool,
    head: i64,
) -> Result<Duration, BenchError> {
    for name in projector.names() {
        projector.reset(&name).await?;
    }
    let pool = db.pool_committing(6, synchronous_commit).await?;
    let timed = async {
        sqlx::raw_sql(sql::SETTLE_READ_MODELS)
            .execute(&pool)
            .await?;
        let options = ProjectorOptions {
            batch_size,
            ..ProjectorOptions::default()
        };
        let projector = Projector::new(pool.clone()).with_options(options);
        let started = Instant::now();
        let done = projector.catch_up().await?;
        let took = started.elapsed();
        caught_up(done, head)?;
        Ok(took)
    }
    .await;
    pool.close().await;
    timed
}

/// Fails unless every projection reached `head`.
fn caught_up(done: Vec<(String, CatchUp)>, head: i64) -> Result<(), BenchError> {
    for (projection, outcome) in done {
        let position = match outcome {
            CatchUp::CaughtUp(position) => position,
            CatchUp::HeldElsewhere => 0,
        };
        if position != head {
            return Err(BenchError::NotCaughtUp {
                projection,
                position,
                head,
            });
        }
    }
    Ok(())
}

/// Reads the whole log in position order, `batch` rows per query, decoding the columns the
/// projector's read decodes; returns how long it took.
async fn raw_read(pool: &PgPool, batch: usize) -> Result<Duration, BenchError> {
    let started = Instant::now();
    let limit = i64::try_from(batch).unwrap_or(i64::MAX);
    let mut position = 0i64;
    loop {
        let rows = sqlx::query(sql::RAW_READ_BATCH)
            .bind(position)
            .bind(limit)
            .fetch_all(pool)
            .await?;
        let Some(last) = rows.last() else {
            break;
        };
        position = last.try_get("position")?;
        for row in &rows {
            black_box(decode(row)?);
        }
    }
    Ok(started.elapsed())
}

type RawEvent = (
    i64,
    DateTime<Utc>,
    String,
    String,
    i64,
    String,
    String,
    Value,
    Value,
);

fn decode(row: &sqlx::postgres::PgRow) -> Result<RawEvent, sqlx::Error> {
    Ok((
        row.try_get("position")?,
        row.try_get("recorded_at")?,
        row.try_get("aggregate_type")?,
        row.try_get("aggregate_id")?,
        row.try_get("sequence")?,
        row.try_get("event_type")?,
        row.try_get("event_version")?,
        row.try_get("payload")?,
        row.try_get("metadata")?,
    ))
}

fn per_s(count: u64, took: Duration) -> f64 {
    count as f64 / took.as_secs_f64().max(f64::MIN_POSITIVE)
}
