use std::process::{Command, Output};

use serde_json::Value;
use sqlx::PgPool;

const BIN: &str = env!("CARGO_BIN_EXE_onboarding");

/// The demo's personal data, which must never reach the terminal.
const DEMO_PII: &[&str] = &[
    "Ada",
    "Quint",
    "Ortiz",
    "1988-04-12",
    "Main Street",
    "Market Street",
    "ada.quint@example.com",
    "Quint Robotics",
];

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("the onboarding binary runs")
}

#[test]
fn the_demo_runs_both_flows_on_the_embedded_store_without_printing_personal_data() {
    let out = run(&["demo"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed: {stderr}");
    assert!(stdout.contains("Flow 1: onboard a person"));
    assert!(stdout.contains("Flow 2: onboard an institution"));
    assert!(
        stdout.contains("insufficient funds"),
        "the refused order is shown"
    );
    assert!(stdout.contains("person_details.date_of_birth is required"));
    assert!(stdout.contains("Demo complete"));
    for pii in DEMO_PII {
        assert!(!stdout.contains(pii), "stdout leaks {pii}");
        assert!(!stderr.contains(pii), "stderr leaks {pii}");
    }
}

#[sqlx::test(migrations = false)]
async fn with_trace_logging_on_postgres_no_personal_data_reaches_the_output(pool: PgPool) {
    let out = Command::new(BIN)
        .args(["demo", "--database-url", &url_of(&pool)])
        .env("ONBOARDING_LOG", "trace")
        .output()
        .expect("the onboarding binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.lines().count() > 100,
        "trace logging was on (got {} lines)",
        stderr.lines().count()
    );
    for stream in [String::from_utf8_lossy(&out.stdout), stderr] {
        for pii in DEMO_PII {
            assert!(!stream.contains(pii), "output leaks {pii}");
        }
        // Document numbers are drawn per run: no SSN- or EIN-shaped text may appear at all.
        let ssn_like = stream
            .split(|c: char| !c.is_ascii_digit() && c != '-')
            .any(|w| {
                let parts: Vec<&str> = w.split('-').collect();
                parts.len() == 3
                    && parts[0].len() == 3
                    && parts[1].len() == 2
                    && parts[2].len() == 4
            });
        assert!(!ssn_like, "output contains an SSN-shaped value");
    }
}

#[test]
fn the_demo_reports_final_balances_as_json() {
    let out = run(&["demo", "--json"]);
    assert!(out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let flows = report["flows"].as_array().expect("flows");
    assert_eq!(flows.len(), 2);
    for flow in flows {
        assert_eq!(flow["status"], "APPROVED");
    }
    let usd = |flow: &Value| {
        flow["balances"]
            .as_array()
            .and_then(|b| b.iter().find(|x| x["asset"] == "USD"))
            .map(|x| x["available"].as_str().unwrap_or_default().to_owned())
    };
    // 10000 funded; the person spent 1000 at market, the corporation 0.1 BTC at 49950.
    assert_eq!(usd(&flows[0]).as_deref(), Some("9000"));
    assert_eq!(usd(&flows[1]).as_deref(), Some("5005"));
    // Mirrored to the in-process sandbox: Paxos ids came back, Paxos approved.
    assert_eq!(report["mirrored_to"], "in-process sandbox");
    for flow in flows {
        let paxos = &flow["paxos"];
        assert_eq!(paxos["mirror"], "MIRRORED", "{flow}");
        for id in ["identity_id", "account_id", "profile_id"] {
            assert!(
                paxos[id].as_str().is_some_and(|s| !s.is_empty()),
                "{id}: {flow}"
            );
        }
        assert_eq!(flow["last_decision"], "APPROVED");
    }
}

#[test]
fn without_the_mirror_the_demo_runs_on_the_ledger_alone_with_the_same_balances() {
    let out = run(&["demo", "--json", "--no-mirror"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(report["mirrored_to"], Value::Null);
    let flows = report["flows"].as_array().expect("flows");
    for flow in flows {
        assert_eq!(flow["status"], "APPROVED");
        assert_eq!(flow["paxos"]["mirror"], "NOT_MIRRORED");
        assert_eq!(flow["paxos"]["identity_id"], Value::Null);
    }
    let usd: Vec<_> = flows
        .iter()
        .map(|f| {
            f["balances"]
                .as_array()
                .and_then(|b| b.iter().find(|x| x["asset"] == "USD"))
                .map(|x| x["available"].clone())
        })
        .collect();
    assert_eq!(usd, [Some("9000".into()), Some("5005".into())]);
}

#[test]
fn the_human_demo_output_shows_the_paxos_outcomes() {
    let out = run(&["demo"]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    for shown in [
        "mirroring to the in-process Paxos sandbox",
        "mirrored: Paxos Create Identity",
        "Paxos decided: person",
        "mirrored: Paxos Create Account (create_profile)",
        "mirrored: Paxos sandbox deposit of 10000 USD",
        "is OPEN (the market is at 50000)",
        "polled until final: FILLED 0.1 BTC",
        "Paxos: mirror MIRRORED",
        "PaxosIdentityLinked",
        "paxos-mirror",
    ] {
        assert!(stdout.contains(shown), "{shown} missing from:\n{stdout}");
    }
}

/// The URL of the fresh database behind `pool`, on the server `DATABASE_URL` names.
/// Runs `sql` past the append-only triggers, as only a superuser can (an attacker with full
/// control of the database).
pub async fn tamper(pool: &PgPool, sql: &str) {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(sql).execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
}

pub fn url_of(pool: &PgPool) -> String {
    let server = std::env::var("DATABASE_URL").expect("DATABASE_URL is set for database tests");
    let name = pool
        .connect_options()
        .get_database()
        .expect("a test database name")
        .to_owned();
    let (base, _) = server.rsplit_once('/').expect("a URL with a database path");
    format!("{base}/{name}")
}

#[sqlx::test(migrations = false)]
async fn four_demos_at_once_on_one_fresh_database_all_succeed_and_their_events_add_up(
    pool: PgPool,
) {
    let url = url_of(&pool);
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(BIN)
                .args(["demo", "--json", "--database-url", &url])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn demo")
        })
        .collect();
    let mut written = 0;
    for child in children {
        let out = child.wait_with_output().expect("demo finishes");
        assert!(
            out.status.success(),
            "a demo failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
        written += report["events_written"].as_i64().expect("events_written");
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, written);
    let head: i64 = sqlx::query_scalar("SELECT sequence_events(100000)")
        .fetch_one(&pool)
        .await
        .unwrap();
    let (count, max): (i64, Option<i64>) =
        sqlx::query_as("SELECT count(*), max(position) FROM event_log")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((head, count, max), (written, written, Some(written)));
}

#[test]
fn a_mutating_command_without_a_database_says_what_is_missing() {
    let out = run(&[
        "account",
        "open",
        "--owner",
        "01a200f7-3db5-71f9-a566-77f0ad76d8fe",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("needs a database"), "{stderr}");
}

#[sqlx::test(migrations = false)]
async fn the_exported_audit_trail_carries_each_events_chain_hash(pool: PgPool) {
    let url = url_of(&pool);
    assert!(run_with(&["demo", "--database-url", &url]).status.success());
    let out = run_with(&[
        "audit",
        "--all",
        "--format",
        "jsonl",
        "--database-url",
        &url,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(lines.len() as i64 >= events, "at least one entry per event");
    for line in &lines {
        for field in [
            "position",
            "recorded_at",
            "identity_id",
            "aggregate_type",
            "aggregate_id",
            "sequence",
            "event_type",
            "actor",
            "correlation_id",
            "causation_id",
            "summary",
        ] {
            assert!(line.get(field).is_some(), "{field} missing from {line}");
        }
        let stored: String = sqlx::query_scalar(
            "SELECT encode(e.hash, 'hex') FROM event_log l JOIN events e ON e.event_id = l.event_id
              WHERE l.position = $1",
        )
        .bind(line["position"].as_i64().expect("position"))
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(line["event_hash"].as_str(), Some(stored.as_str()));
    }
    let positions: Vec<i64> = lines
        .iter()
        .filter_map(|l| l["position"].as_i64())
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] <= w[1]),
        "ordered by position"
    );

    let csv = run_with(&["audit", "--all", "--format", "csv", "--database-url", &url]);
    let csv = String::from_utf8_lossy(&csv.stdout);
    let header = csv.lines().next().expect("a header");
    assert!(
        header.contains("event_hash") && header.contains("position"),
        "{header}"
    );
    assert_eq!(csv.lines().count(), lines.len() + 1);
}

#[sqlx::test(migrations = false)]
async fn verify_names_the_first_broken_stream_after_tampering(pool: PgPool) {
    let url = url_of(&pool);
    assert!(run_with(&["demo", "--database-url", &url]).status.success());
    let intact = run_with(&["verify", "--database-url", &url]);
    assert!(intact.status.success());
    let digest_line = String::from_utf8_lossy(&intact.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("log digest ").map(str::to_owned))
        .expect("a digest");

    let (aggregate_id,): (String,) = sqlx::query_as(
        "SELECT aggregate_id FROM events WHERE aggregate_type = 'profile' AND sequence = 2 LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    tamper(
        &pool,
        &format!(
            "UPDATE events SET payload = jsonb_set(payload, '{{ProfileFunded,amount}}', '\"99999\"')
              WHERE aggregate_type = 'profile' AND aggregate_id = '{aggregate_id}' AND sequence = 2"
        ),
    )
    .await;

    let broken = run_with(&["verify", "--database-url", &url, "--expect", &digest_line]);
    assert!(!broken.status.success());
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(
        stderr.contains(&format!("profile {aggregate_id} sequence 2")),
        "names the stream and sequence: {stderr}"
    );
}

fn run_with(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("the onboarding binary runs")
}
