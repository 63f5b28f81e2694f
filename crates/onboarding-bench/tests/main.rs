//! The harness end to end in a tiny mode against a real PostgreSQL (`DATABASE_URL`, else the
//! local test server). It checks the report's shape, never timing targets: figures from a tiny
//! run on a shared machine say nothing.

use std::time::Duration;

use std::sync::{Arc, Mutex};

use onboarding_bench::{BenchError, BenchOptions, CommandKind};
use sqlx::Connection;

const LOCAL: &str = "postgres://postgres:postgres@127.0.0.1:5432/postgres";

fn tiny() -> BenchOptions {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| LOCAL.to_owned());
    BenchOptions {
        events: 500,
        writers: vec![1, 2],
        duration: Duration::from_millis(300),
        warmup: Duration::from_millis(100),
        order_profiles: 10,
        latency_samples: 5,
        ..BenchOptions::quick(url)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_run_reports_every_ratio_and_positive_rates() {
    let report = onboarding_bench::run(tiny())
        .await
        .expect("the run succeeds");

    let names: Vec<&str> = report.ratios.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "commands.submit.writers=1",
            "floor.submit.writers=1",
            "commands.order.writers=1",
            "commands.submit.writers=2",
            "floor.submit.writers=2",
            "commands.order.writers=2",
            "catch_up.events=500",
        ]
    );
    assert!(report.ratios.iter().all(|r| r.value > 0.0), "{report}");
    for c in &report.commands {
        assert!(c.commands > 0 && c.commands_per_s > 0.0, "{report}");
        assert!(c.raw_inserts_per_s > 0.0, "{report}");
        // Only submissions have a floor, and it ran (each call wrote a claim and a key).
        let floor = c.floor.as_ref().map(|f| f.per_s > 0.0);
        let expected = (c.command == CommandKind::Submit).then_some(true);
        assert_eq!(floor, expected, "{report}");
    }
    assert!(report
        .commands
        .iter()
        .any(|c| c.command == CommandKind::Order));
    assert_eq!(report.catch_up.events, 500);
    assert!(report.catch_up.catch_up_events_per_s > 0.0);
    assert!(report.catch_up.raw_read_events_per_s > 0.0);
    assert!(report.latency.visible.p50_ms > 0.0);
    assert!(report.latency.visible.p99_ms >= report.latency.visible.p50_ms);

    let table = report.to_string();
    for ratio in &report.ratios {
        let line = ratio.to_string();
        assert!(line.starts_with(&format!("ratio {} ", ratio.name)));
        assert!(
            table.lines().any(|l| l == line),
            "{line} missing from\n{table}"
        );
    }
    let json = serde_json::to_value(&report).expect("the report serializes");
    assert_eq!(json["ratios"].as_array().map(Vec::len), Some(7));
    assert_eq!(json["commands"][0]["command"], "submit");
}

/// Stopping a run ends the section in progress and drops its throwaway database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_run_drops_its_throwaway_database() {
    let options = tiny();
    let url = options.database_url.clone();
    let stop = options.stop.clone();
    let databases = Arc::new(Mutex::new(Vec::new()));
    let seen = databases.clone();
    let options = options.with_progress(move |line| {
        if let Some(name) = line.split("working in database ").nth(1) {
            seen.lock().unwrap().push(name.to_owned());
            stop.cancel();
        }
    });

    let err = onboarding_bench::run(options).await.unwrap_err();
    assert!(matches!(err, BenchError::Interrupted), "{err}");
    let names = databases.lock().unwrap().clone();
    assert_eq!(names.len(), 1, "no section after the stop: {names:?}");
    assert!(names[0].starts_with("onboarding_bench_"), "{names:?}");
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&names[0])
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(!exists, "{} is still there", names[0]);
}

#[tokio::test]
async fn options_without_writers_are_refused() {
    let options = BenchOptions {
        writers: Vec::new(),
        ..tiny()
    };
    assert!(onboarding_bench::run(options).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_only_run_projects_every_event() {
    let figure = onboarding_bench::run_catch_up(tiny())
        .await
        .expect("the run succeeds");
    assert_eq!(figure.events, 500);
    assert_eq!(figure.projections.len(), 5, "{:?}", figure.projections);
    assert!(figure.catch_up_events_per_s > 0.0);
    assert!(figure.raw_read_events_per_s > 0.0);
}
