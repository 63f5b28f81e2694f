//! The one-operation commands end to end on a fresh database: `account close` and what it
//! unblocks (erasure), and `--json` on `audit`.

use std::process::{Command, Output};

use serde_json::Value;
use sqlx::PgPool;

use crate::demo::url_of;

const BIN: &str = env!("CARGO_BIN_EXE_onboarding");
const PERSON: &str = "demo/person.json";

/// Runs the binary on `url`, with erasure allowed as soon as the relationship ends.
fn onboarding(url: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .args(["--database-url", url])
        .env("ONBOARDING_RETENTION_DAYS", "0")
        .output()
        .expect("the onboarding binary runs")
}

/// The JSON a successful `--json` command printed.
fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

/// The URL of the fresh database behind `pool`, migrated with `onboarding migrate`.
fn migrated(pool: &PgPool) -> String {
    let url = url_of(pool);
    json_of(&onboarding(&url, &["migrate", "--json"]));
    url
}

/// Submits the demo's person on `url` and approves it; its id.
fn approved_person(url: &str) -> String {
    let submitted = json_of(&onboarding(
        url,
        &["identity", "submit", "--file", PERSON, "--json"],
    ));
    let identity = field(&submitted, "identity_id");
    json_of(&onboarding(
        url,
        &[
            "identity",
            "decide",
            &identity,
            "--decision",
            "approved",
            "--officer",
            "officer-1",
            "--json",
        ],
    ));
    identity
}

fn field(value: &Value, name: &str) -> String {
    value[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} missing from {value}"))
        .to_owned()
}

#[sqlx::test(migrations = false)]
async fn closing_the_last_account_of_a_disabled_identity_lets_its_erasure_succeed(pool: PgPool) {
    let url = migrated(&pool);
    let identity = approved_person(&url);
    let opened = json_of(&onboarding(
        &url,
        &["account", "open", "--owner", &identity, "--json"],
    ));
    let account = field(&opened, "account_id");
    json_of(&onboarding(
        &url,
        &["identity", "disable", &identity, "--json"],
    ));

    let refused = onboarding(&url, &["forget", &identity]);
    assert!(
        !refused.status.success(),
        "erasure is refused while an account is open"
    );

    let closed = json_of(&onboarding(
        &url,
        &[
            "account",
            "close",
            &account,
            "--reason",
            "customer left",
            "--actor",
            "ops-1",
            "--json",
        ],
    ));
    assert_eq!(field(&closed, "account_id"), account);
    let (reason, actor): (Option<String>, Option<String>) = sqlx::query_as(
        "SELECT payload #>> '{AccountClosed,reason}', metadata ->> 'actor' FROM events
          WHERE aggregate_type = 'account' AND aggregate_id = $1 AND event_type = 'AccountClosed'",
    )
    .bind(&account)
    .fetch_one(&pool)
    .await
    .expect("one AccountClosed event");
    assert_eq!(reason.as_deref(), Some("customer left"));
    assert_eq!(actor.as_deref(), Some("ops-1"));

    let forgotten = onboarding(&url, &["forget", &identity]);
    assert!(
        forgotten.status.success(),
        "erasure succeeds once the account is closed: {}",
        String::from_utf8_lossy(&forgotten.stderr)
    );
}

#[sqlx::test(migrations = false)]
async fn closing_an_account_prints_its_id_and_a_second_close_is_refused(pool: PgPool) {
    let url = migrated(&pool);
    let identity = approved_person(&url);
    let account = field(
        &json_of(&onboarding(
            &url,
            &["account", "open", "--owner", &identity, "--json"],
        )),
        "account_id",
    );

    let closed = onboarding(&url, &["account", "close", &account]);
    assert!(closed.status.success());
    assert_eq!(
        String::from_utf8_lossy(&closed.stdout).trim(),
        format!("account closed: account_id {account}")
    );
    let (reason,): (Option<String>,) = sqlx::query_as(
        "SELECT payload #>> '{AccountClosed,reason}' FROM events
          WHERE aggregate_id = $1 AND event_type = 'AccountClosed'",
    )
    .bind(&account)
    .fetch_one(&pool)
    .await
    .expect("one AccountClosed event");
    assert!(
        reason.is_some_and(|r| !r.is_empty()),
        "a default reason is recorded"
    );

    let again = onboarding(&url, &["account", "close", &account, "--json"]);
    assert!(
        !again.status.success(),
        "a closed account cannot close again"
    );
    let error: Value = serde_json::from_slice(&again.stdout).expect("a JSON error");
    assert_eq!(error["ok"], false);
}

#[sqlx::test(migrations = false)]
async fn audit_with_json_prints_json_lines_unless_a_format_is_given(pool: PgPool) {
    let url = url_of(&pool);
    let demo = onboarding(&url, &["demo", "--no-mirror"]);
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );

    let out = onboarding(&url, &["audit", "--all", "--json"]);
    assert!(out.status.success());
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(!lines.is_empty(), "the demo left a trail");
    let jsonl = onboarding(&url, &["audit", "--all", "--format", "jsonl"]);
    assert_eq!(out.stdout, jsonl.stdout, "--json is --format jsonl");

    let csv = onboarding(&url, &["audit", "--all", "--json", "--format", "csv"]);
    let csv = String::from_utf8_lossy(&csv.stdout);
    assert!(
        csv.lines().next().is_some_and(|h| h.contains("event_hash")),
        "an explicit --format wins: {csv}"
    );
}
