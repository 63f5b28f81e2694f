//! Every output path survives a reader that has gone (`onboarding demo | head`): the binary ends
//! with its own status (0 when it succeeded) instead of panicking with "failed printing to
//! stdout" (status 101).

use std::process::{Command, Output, Stdio};

use sqlx::PgPool;

use crate::demo::{tamper, url_of};

const BIN: &str = env!("CARGO_BIN_EXE_onboarding");

/// Runs the binary with its standard output on a pipe whose only reader has already exited, so
/// that the first line it prints meets a broken pipe whatever the timing.
fn with_stdout_closed(args: &[&str]) -> Output {
    let mut reader = Command::new("true")
        .stdin(Stdio::piped())
        .spawn()
        .expect("`true` runs");
    let pipe = reader.stdin.take().expect("a pipe into `true`");
    reader.wait().expect("`true` exits");
    Command::new(BIN)
        .args(args)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::from(pipe))
        .stderr(Stdio::piped())
        .output()
        .expect("the onboarding binary runs")
}

/// Asserts that the run ended quietly and successfully, as it does when nobody reads.
fn assert_quiet(args: &[&str], out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
    assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
}

#[test]
fn the_demo_ends_quietly_when_its_reader_has_gone() {
    for args in [
        &["demo"][..],
        &["demo", "--no-mirror"],
        &["demo", "--no-mirror", "--json"],
    ] {
        assert_quiet(args, &with_stdout_closed(args));
    }
}

#[test]
fn a_json_error_still_fails_without_a_panic_when_its_reader_has_gone() {
    let args = [
        "account",
        "open",
        "--owner",
        "01a200f7-3db5-71f9-a566-77f0ad76d8fe",
        "--json",
    ];
    let out = with_stdout_closed(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(1), "still a failure: {stderr}");
}

#[sqlx::test(migrations = false)]
async fn the_read_commands_end_quietly_when_their_reader_has_gone(pool: PgPool) {
    let url = url_of(&pool);
    let demo = Command::new(BIN)
        .args(["demo", "--no-mirror", "--json", "--database-url", &url])
        .output()
        .expect("the demo runs");
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&demo.stdout).expect("JSON");
    let identity = report["flows"][0]["identity_id"]
        .as_str()
        .expect("an identity id")
        .to_owned();
    for args in [
        &["audit", "--all"][..],
        &["audit", "--all", "--format", "csv"],
        &["audit", "--all", "--json"],
        &["audit", &identity],
        &["status", &identity],
        &["verify"],
        &["projector", "status"],
        &["projector", "run", "--once"],
    ] {
        let mut with_url = args.to_vec();
        with_url.extend(["--database-url", &url]);
        assert_quiet(&with_url, &with_stdout_closed(&with_url));
    }
}

/// A closed output must not turn a failure into success: `verify | head` on a broken chain
/// still fails (the rest of the output is dropped, the command runs to its verdict).
#[sqlx::test(migrations = false)]
async fn a_broken_chain_still_fails_verify_when_its_reader_has_gone(pool: PgPool) {
    let url = url_of(&pool);
    let demo = Command::new(BIN)
        .args(["demo", "--no-mirror", "--database-url", &url])
        .output()
        .expect("the demo runs");
    assert!(demo.status.success());
    tamper(
        &pool,
        "UPDATE events SET metadata = jsonb_set(metadata, '{actor}', '\"mallory\"')
          WHERE event_id = (SELECT min(event_id) FROM events)",
    )
    .await;

    let args = ["verify", "--database-url", &url];
    let out = with_stdout_closed(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(1), "the verdict stands: {stderr}");
}
