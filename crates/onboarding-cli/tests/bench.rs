//! `onboarding bench --only catch-up`: the catch-up section alone, on throwaway databases of the
//! test server, printed as JSON.

use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_onboarding");

#[test]
fn only_the_catch_up_is_measured_and_printed_as_json() {
    let server = std::env::var("DATABASE_URL").expect("DATABASE_URL is set for database tests");
    let out = Command::new(BIN)
        .args(["bench", "--only", "catch-up", "--quick", "--events", "600"])
        .args(["--database-url", &server])
        .output()
        .expect("the onboarding binary runs");
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let figure: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(figure["events"], 600);
    assert!(figure["catch_up_events_per_s"].as_f64().unwrap_or(0.0) > 0.0);
    assert!(figure["raw_read_events_per_s"].as_f64().unwrap_or(0.0) > 0.0);
    // Only the catch-up: no command figures.
    assert!(figure.get("commands").is_none());
}
