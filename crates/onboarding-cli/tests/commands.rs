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

/// `payload #> path` of the one `event_type` event of aggregate `aggregate_id` (JSON null when
/// the path is absent).
async fn stored(pool: &PgPool, aggregate_id: &str, event_type: &str, path: &str) -> Value {
    let (value,): (Option<Value>,) = sqlx::query_as(
        "SELECT payload #> $3::text[] FROM events WHERE aggregate_id = $1 AND event_type = $2",
    )
    .bind(aggregate_id)
    .bind(event_type)
    .bind(path)
    .fetch_one(pool)
    .await
    .unwrap_or_else(|e| panic!("one {event_type} event: {e}"));
    value.unwrap_or(Value::Null)
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
    let reason = stored(&pool, &account, "AccountClosed", "{AccountClosed,reason}").await;
    let reason = reason.as_str().map(str::to_owned);
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

/// Runs the binary without a database: for what must be refused before connecting.
fn without_database(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("the onboarding binary runs")
}

const SOME_IDENTITY: &str = "01a200f7-3db5-71f9-a566-77f0ad76d8fe";

#[test]
fn a_decision_needs_exactly_one_of_a_paxos_event_and_an_officer() {
    let decide = [
        "identity",
        "decide",
        SOME_IDENTITY,
        "--decision",
        "approved",
    ];
    let neither = without_database(&decide);
    assert_eq!(neither.status.code(), Some(2), "a usage error");
    let stderr = String::from_utf8_lossy(&neither.stderr);
    assert!(
        stderr.contains("--paxos-event") && stderr.contains("--officer"),
        "names both: {stderr}"
    );

    let mut both = decide.to_vec();
    both.extend(["--officer", "officer-1", "--paxos-event", "event-1"]);
    let both = without_database(&both);
    assert_eq!(both.status.code(), Some(2), "a usage error");
    let stderr = String::from_utf8_lossy(&both.stderr);
    assert!(stderr.contains("cannot be used with"), "{stderr}");

    let help = without_database(&["identity", "decide", "--help"]);
    let usage = String::from_utf8_lossy(&help.stdout);
    let usage = usage
        .lines()
        .find(|l| l.starts_with("Usage:"))
        .unwrap_or_default();
    assert!(
        usage.contains("--paxos-event") && usage.contains("--officer"),
        "the usage line names both: {usage}"
    );
}

#[test]
fn documents_required_needs_a_document_and_only_it_takes_one() {
    let missing = without_database(&[
        "identity",
        "decide",
        SOME_IDENTITY,
        "--decision",
        "documents-required",
        "--officer",
        "officer-1",
    ]);
    assert_eq!(missing.status.code(), Some(2), "a usage error");
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("--document <KIND>"), "{stderr}");

    let stray = without_database(&[
        "identity",
        "decide",
        SOME_IDENTITY,
        "--decision",
        "approved",
        "--document",
        "PROOF_OF_ADDRESS",
        "--officer",
        "officer-1",
    ]);
    assert!(!stray.status.success());
    let stderr = String::from_utf8_lossy(&stray.stderr);
    assert!(
        stderr.contains("--document is only accepted with --decision documents-required"),
        "refused before connecting: {stderr}"
    );
}

#[sqlx::test(migrations = false)]
async fn documents_required_records_every_document_asked_for(pool: PgPool) {
    let url = migrated(&pool);
    let submitted = json_of(&onboarding(
        &url,
        &["identity", "submit", "--file", PERSON, "--json"],
    ));
    let identity = field(&submitted, "identity_id");
    let decided = json_of(&onboarding(
        &url,
        &[
            "identity",
            "decide",
            &identity,
            "--decision",
            "documents-required",
            "--document",
            "PROOF_OF_ADDRESS",
            "--document",
            "BANK_STATEMENT",
            "--officer",
            "officer-1",
            "--json",
        ],
    ));
    assert_eq!(field(&decided, "status"), "PENDING");
    let documents = stored(
        &pool,
        &identity,
        "DecisionRecorded",
        "{DecisionRecorded,decision,documents}",
    )
    .await;
    assert_eq!(
        documents,
        serde_json::json!(["PROOF_OF_ADDRESS", "BANK_STATEMENT"])
    );
}

#[sqlx::test(migrations = false)]
async fn verify_says_when_the_kept_position_is_beyond_the_end_of_the_log(pool: PgPool) {
    let url = migrated(&pool);
    approved_person(&url);
    let intact = onboarding(&url, &["verify"]);
    assert!(intact.status.success());
    let kept = String::from_utf8_lossy(&intact.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("log digest ").map(str::to_owned))
        .expect("a digest");
    let (head, digest) = kept.split_once(':').expect("POSITION:HEX");
    let head: i64 = head.parse().expect("a position");

    let beyond = format!("{}:{digest}", head + 5);
    let out = onboarding(&url, &["verify", "--expect", &beyond]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "the log ends at position {head}, before the kept position {}",
            head + 5
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("no longer matches"), "{stderr}");
}

#[sqlx::test(migrations = false)]
async fn an_unknown_projection_name_is_refused_with_the_names_there_are(pool: PgPool) {
    let url = migrated(&pool);
    for flag in ["--rebuild", "--retry"] {
        let out = onboarding(&url, &["projector", "run", "--once", flag, "nope"]);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("no projection named nope"), "{stderr}");
        assert!(stderr.contains(flag), "{stderr}");
        for name in [
            "identity_status",
            "accounts",
            "profiles",
            "orders",
            "audit_trail",
        ] {
            assert!(stderr.contains(name), "{name} missing: {stderr}");
        }
    }
}

/// A command on an id the ledger does not have says which id, not only that one is missing.
#[sqlx::test(migrations = false)]
async fn a_command_on_an_unknown_id_names_it(pool: PgPool) {
    let url = migrated(&pool);
    let unknown = onboarding_ledger::domain::IdentityId::new().to_string();
    let out = onboarding(
        &url,
        &[
            "identity",
            "decide",
            &unknown,
            "--decision",
            "approved",
            "--officer",
            "o-1",
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&unknown), "{stderr}");
    assert!(stderr.contains("not been submitted"), "{stderr}");

    let profile = onboarding_ledger::domain::ProfileId::new().to_string();
    let out = onboarding(
        &url,
        &[
            "profile", "fund", &profile, "--asset", "USD", "--amount", "10",
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&profile), "{stderr}");
}
