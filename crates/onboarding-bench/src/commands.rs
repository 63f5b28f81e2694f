//! Command throughput against raw single-row INSERT transactions, at each concurrency.
//!
//! For every writer count, phases run back to back on one throwaway database: raw inserts shaped
//! like `IdentitySubmitted`, the submission's floor (the same row with the `cip_id` claim and data
//! key a submission must write with it, in one raw statement), `SubmitIdentity` commands, the same
//! raw inserts again; then raw inserts, `PlaceOrder` and raw inserts for `OrderPlaced`. Each phase runs `warmup + duration` and counts what
//! completes inside the `duration` window; a command's baseline is the mean of the raw phases
//! around it.

use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use onboarding_ledger::domain::{event_names, ProfileId};
use onboarding_ledger::{Ledger, LedgerOptions};
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::BenchError;
use crate::generate::{StoredShape, Template};
use crate::options::BenchOptions;
use crate::report::{ratio, CommandFigure, CommandKind, Floor, Percentiles};
use crate::scratch::ScratchDatabase;
use crate::sql;
use crate::workload::{self, People};

/// One operation of a writer; `n` counts the writer's operations from 0.
trait Operation: Send + Sync + 'static {
    fn call(&self, writer: usize, n: u64) -> impl Future<Output = Result<(), BenchError>> + Send;
}

/// What one phase measured.
struct Phase {
    per_s: f64,
    /// The latency of every operation completed in the window.
    latencies: Vec<Duration>,
}

/// Runs `operation` on `writers` concurrent tasks for `warmup + duration`; counts what completes
/// inside the last `duration`.
async fn phase<O: Operation>(
    operation: Arc<O>,
    writers: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<Phase, BenchError> {
    let from = Instant::now() + warmup;
    let until = from + duration;
    let tasks: Vec<_> = (0..writers)
        .map(|writer| {
            let operation = operation.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut n = 0u64;
                loop {
                    let begin = Instant::now();
                    if begin >= until {
                        break;
                    }
                    operation.call(writer, n).await?;
                    n += 1;
                    let end = Instant::now();
                    if (from..=until).contains(&end) {
                        latencies.push(end - begin);
                    }
                }
                Ok::<_, BenchError>(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    Ok(Phase {
        per_s: latencies.len() as f64 / duration.as_secs_f64(),
        latencies,
    })
}

/// `Ledger::submit_identity_json` of persons with unique SSNs.
struct Submits {
    ledger: Arc<Ledger>,
    people: Arc<People>,
}

impl Operation for Submits {
    async fn call(&self, _writer: usize, _n: u64) -> Result<(), BenchError> {
        let json = self.people.next_json();
        self.ledger
            .submit_identity_json(&workload::context(), &json)
            .await?;
        Ok(())
    }
}

/// `Ledger::place_order` on pre-funded profiles; writer `w` of `writers` uses only the profiles
/// at indexes `w, w + writers, ...`, in turn, so no two writers touch one profile.
struct Orders {
    ledger: Arc<Ledger>,
    profiles: Vec<ProfileId>,
    writers: usize,
}

impl Operation for Orders {
    async fn call(&self, writer: usize, n: u64) -> Result<(), BenchError> {
        let per_writer = (self.profiles.len() / self.writers).max(1) as u64;
        let index = writer + self.writers * (n % per_writer) as usize;
        self.ledger
            .place_order(
                &workload::context(),
                self.profiles[index],
                workload::market_buy()?,
            )
            .await?;
        Ok(())
    }
}

/// Single-row autocommitted INSERTs into `bench_raw_events`, with a stored event's type,
/// payload and metadata.
struct RawInserts {
    pool: PgPool,
    shape: StoredShape,
    /// `None`: every row starts a new stream (like a submission). `Some`: writer `w` appends to
    /// stream `streams[w]` (like orders on one profile), so the hash trigger looks up the
    /// predecessor as it does for a profile's events; the counter is the stream's last sequence.
    streams: Option<Vec<(String, AtomicI64)>>,
}

impl Operation for RawInserts {
    async fn call(&self, writer: usize, _n: u64) -> Result<(), BenchError> {
        let (aggregate_id, sequence) = match &self.streams {
            None => (Uuid::now_v7().to_string(), 1),
            Some(streams) => {
                let (id, last) = &streams[writer];
                (id.clone(), last.fetch_add(1, Ordering::Relaxed) + 1)
            }
        };
        sqlx::query(sql::RAW_INSERT)
            .bind(&self.shape.aggregate_type)
            .bind(aggregate_id)
            .bind(sequence)
            .bind(&self.shape.event_type)
            .bind(&self.shape.event_version)
            .bind(&self.shape.payload)
            .bind(&self.shape.metadata)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// What a submission must write at least, autocommitted in one statement: an event row like
/// [`RawInserts`]' (a new stream each), a `cip_id` claim and a data key of the stored sizes, with
/// unique values (the claim's fingerprint and the identity id are fresh each time).
struct FloorInserts {
    pool: PgPool,
    shape: StoredShape,
    fingerprint_bytes: usize,
    key_bytes: usize,
}

/// `n` bytes that no other call returns (whole random UUIDs, the last one cut short).
fn unique_bytes(n: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(n + 16);
    while bytes.len() < n {
        bytes.extend_from_slice(Uuid::new_v4().as_bytes());
    }
    bytes.truncate(n);
    bytes
}

impl Operation for FloorInserts {
    async fn call(&self, _writer: usize, _n: u64) -> Result<(), BenchError> {
        let identity = Uuid::now_v7();
        sqlx::query(sql::FLOOR_INSERT)
            .bind(&self.shape.aggregate_type)
            .bind(identity.to_string())
            .bind(1_i64)
            .bind(&self.shape.event_type)
            .bind(&self.shape.event_version)
            .bind(&self.shape.payload)
            .bind(&self.shape.metadata)
            .bind(unique_bytes(self.fingerprint_bytes))
            .bind(identity)
            .bind(unique_bytes(self.key_bytes))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// Records the template flow on `db` and nothing else, for a catch-up-only run.
pub(crate) async fn record_template(db: &ScratchDatabase) -> Result<Template, BenchError> {
    let pool = db.pool(4).await?;
    let recorded = async {
        let ledger = Ledger::on_pool(pool.clone(), &LedgerOptions::default());
        let flow = workload::record_flow(&ledger, &People::default()).await?;
        Template::read(&pool, &flow).await
    }
    .await;
    pool.close().await;
    recorded
}

/// Measures every command at every concurrency. Returns the figures and the template flow
/// (recorded on the way, reused to generate the catch-up log).
pub(crate) async fn measure(
    options: &BenchOptions,
    db: &ScratchDatabase,
) -> Result<(Vec<CommandFigure>, Template), BenchError> {
    let max = u32::try_from(options.max_writers()).unwrap_or(u32::MAX);
    let pool = db.pool(max.saturating_add(4)).await?;
    let raw_pool = db.pool(max).await?;
    let result = measure_on(options, &pool, &raw_pool).await;
    pool.close().await;
    raw_pool.close().await;
    result
}

async fn measure_on(
    options: &BenchOptions,
    pool: &PgPool,
    raw_pool: &PgPool,
) -> Result<(Vec<CommandFigure>, Template), BenchError> {
    sqlx::raw_sql(sql::RAW_BASELINE).execute(pool).await?;
    let ledger = Arc::new(Ledger::on_pool(
        pool.clone(),
        &LedgerOptions {
            conflict_retries: 3,
            ..LedgerOptions::default()
        },
    ));
    let people = Arc::new(People::default());
    let flow = workload::record_flow(&ledger, &people).await?;
    let template = Template::read(pool, &flow).await?;
    let submitted = template.shape(event_names::IDENTITY_SUBMITTED)?;
    let placed = template.shape(event_names::ORDER_PLACED)?;
    let funded_steps = template.funded_profile_steps()?;
    let profile_slot = template.profile_slot(&flow)?;
    let (fingerprint_bytes, key_bytes): (i32, i32) = sqlx::query_as(sql::CLAIM_AND_KEY_BYTES)
        .fetch_one(pool)
        .await?;

    // Every phase's profiles up front, so that no bulk write lands between two phases.
    let mut profiles: Vec<Vec<ProfileId>> = Vec::with_capacity(options.writers.len());
    for _ in &options.writers {
        let mut set = Vec::with_capacity(options.order_profiles);
        template
            .generate(
                pool,
                funded_steps,
                options.order_profiles * funded_steps,
                |ids| set.push(ProfileId::from_uuid(ids[profile_slot])),
            )
            .await?;
        profiles.push(set);
    }

    let (warmup, duration) = (options.warmup, options.duration);
    let mut figures = Vec::new();
    for (&writers, profiles) in options.writers.iter().zip(profiles) {
        let raw = Arc::new(RawInserts {
            pool: raw_pool.clone(),
            shape: submitted.clone(),
            streams: None,
        });
        let floor = Arc::new(FloorInserts {
            pool: raw_pool.clone(),
            shape: submitted.clone(),
            fingerprint_bytes: usize::try_from(fingerprint_bytes).unwrap_or(32),
            key_bytes: usize::try_from(key_bytes).unwrap_or(60),
        });
        let submits = Arc::new(Submits {
            ledger: ledger.clone(),
            people: people.clone(),
        });
        let raw_before = phase(raw.clone(), writers, warmup, duration).await?;
        let floor = phase(floor, writers, warmup, duration).await?;
        let done = phase(submits, writers, warmup, duration).await?;
        let raw_after = phase(raw, writers, warmup, duration).await?;
        let mut submit = figure(
            CommandKind::Submit,
            writers,
            done,
            [raw_before, raw_after],
            &submitted,
        );
        submit.floor = Some(Floor {
            per_s: floor.per_s,
            ratio: ratio(floor.per_s, submit.raw_inserts_per_s),
        });
        figures.push(submit);
        options.say(&progress_line(figures.last()));

        let raw = Arc::new(RawInserts {
            pool: raw_pool.clone(),
            shape: placed.clone(),
            streams: Some(
                (0..writers)
                    .map(|_| (Uuid::now_v7().to_string(), AtomicI64::new(0)))
                    .collect(),
            ),
        });
        let orders = Arc::new(Orders {
            ledger: ledger.clone(),
            profiles,
            writers,
        });
        let raw_before = phase(raw.clone(), writers, warmup, duration).await?;
        let done = phase(orders.clone(), writers, warmup, duration).await?;
        let raw_after = phase(raw, writers, warmup, duration).await?;
        let order = figure(
            CommandKind::Order,
            writers,
            done,
            [raw_before, raw_after],
            &placed,
        );
        figures.push(order);
        options.say(&progress_line(figures.last()));
    }
    Ok((figures, template))
}

/// The command phase against the mean of the raw phases run just before and just after it
/// (which cancels a steady drift of the machine's load).
fn figure(
    command: CommandKind,
    writers: usize,
    mut done: Phase,
    raw: [Phase; 2],
    shape: &StoredShape,
) -> CommandFigure {
    let raw_runs_per_s = raw.each_ref().map(|p| p.per_s);
    let raw_per_s = (raw_runs_per_s[0] + raw_runs_per_s[1]) / 2.0;
    let mut raw_latencies: Vec<Duration> = raw.into_iter().flat_map(|p| p.latencies).collect();
    CommandFigure {
        command,
        writers,
        commands: done.latencies.len() as u64,
        commands_per_s: done.per_s,
        command_latency: Percentiles::of(&mut done.latencies),
        raw_inserts_per_s: raw_per_s,
        raw_runs_per_s,
        raw_latency: Percentiles::of(&mut raw_latencies),
        payload_bytes: shape.payload_bytes(),
        ratio: ratio(done.per_s, raw_per_s),
        floor: None,
    }
}

fn progress_line(figure: Option<&CommandFigure>) -> String {
    figure.map_or_else(String::new, |f| {
        format!(
            "commands: {} × {} writers: {:.1}/s, raw inserts {:.1}/s, ratio {:.2}",
            f.command.as_str(),
            f.writers,
            f.commands_per_s,
            f.raw_inserts_per_s,
            f.ratio
        )
    })
}
