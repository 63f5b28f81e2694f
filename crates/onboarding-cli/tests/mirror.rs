//! `onboarding mirror run --once` against a local Paxos sandbox, over real HTTP, on a fresh
//! database: the submitted identity reaches Paxos once, and the read model shows it.

use std::process::{Command, Output};

use paxos_sandbox::{DecisionConfig, Sandbox, SandboxConfig};
use serde_json::Value;
use sqlx::PgPool;

use crate::demo::url_of;

const BIN: &str = env!("CARGO_BIN_EXE_onboarding");
const PERSON: &str = include_str!("../demo/person.json");

/// Runs the binary off the async runtime, so that the sandbox in this process keeps serving.
async fn onboarding(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(&args)
            .env_remove("DATABASE_URL")
            .env_remove("PAXOS_API_URL")
            .env_remove("PAXOS_OAUTH_URL")
            .env_remove("PAXOS_CLIENT_ID")
            .env_remove("PAXOS_CLIENT_SECRET")
            .output()
            .expect("the onboarding binary runs")
    })
    .await
    .expect("the blocking task")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn args(list: &[&str], url: &str) -> Vec<String> {
    list.iter()
        .map(|s| (*s).to_owned())
        .chain(["--database-url".to_owned(), url.to_owned()])
        .collect()
}

/// The identity's `status --json` once `ready` holds for it, running `projector run --once`
/// before each look: the log sequences an event only once every older transaction in the
/// cluster has ended, so a catch-up right after a commit may not see it yet.
async fn status_when(url: &str, id: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        ok(&onboarding(args(&["projector", "run", "--once"], url)).await);
        let out = onboarding(args(&["status", "--json", id], url)).await;
        let row = out
            .status
            .success()
            .then(|| serde_json::from_slice::<Value>(&out.stdout).expect("JSON"));
        match row {
            Some(row) if ready(&row) => return row,
            last => assert!(
                std::time::Instant::now() < deadline,
                "the read model did not get there: {last:?}"
            ),
        }
    }
}

#[sqlx::test(migrations = false)]
async fn mirror_run_once_creates_a_submitted_identity_at_paxos_and_the_status_shows_it(
    pool: PgPool,
) {
    let url = url_of(&pool);
    let sandbox = Sandbox::start(SandboxConfig {
        decisions: DecisionConfig {
            delay: None,
            ..DecisionConfig::default()
        },
        ..SandboxConfig::default()
    })
    .await
    .expect("the sandbox starts");
    ok(&onboarding(args(&["migrate"], &url)).await);

    let mut person: Value = serde_json::from_str(PERSON).unwrap();
    let n = std::process::id() % 9000;
    let ssn = format!("{:03}-{:02}-{:04}", 100 + n % 500, 10 + n % 89, 1000 + n);
    person["person_details"]["cip_id"] = ssn.clone().into();
    person["tax_details"][0]["tax_payer_id"] = ssn.into();
    let file =
        std::env::temp_dir().join(format!("onboarding-mirror-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, person.to_string()).unwrap();
    let submitted: Value = serde_json::from_str(&ok(&onboarding(args(
        &[
            "identity",
            "submit",
            "--json",
            "--file",
            file.to_str().unwrap(),
        ],
        &url,
    ))
    .await))
    .expect("JSON");
    std::fs::remove_file(&file).ok();
    let id = submitted["identity_id"].as_str().expect("an id").to_owned();

    let before = status_when(&url, &id, |_| true).await;
    assert_eq!(before["mirror"], "NOT_MIRRORED");
    assert_eq!(before["paxos_identity_id"], Value::Null);

    let paxos = [
        "--paxos-api-url",
        sandbox.base_url.as_str(),
        "--paxos-oauth-url",
        sandbox.oauth_url.as_str(),
        "--paxos-client-id",
        sandbox.client_id.as_str(),
        "--paxos-client-secret",
        sandbox.client_secret.as_str(),
    ];
    let mirror_once = || {
        let mut list = vec!["mirror", "run", "--once", "--json"];
        list.extend(paxos);
        args(&list, &url)
    };
    let report: Value =
        serde_json::from_str(&ok(&onboarding(mirror_once()).await)).expect("a JSON report");
    assert!(report["handled"].as_u64() > Some(0), "{report}");
    assert_eq!(report["rejected"], 0, "{report}");
    assert_eq!(report["waiting"], Value::Null, "{report}");

    let created: Vec<_> = sandbox
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/identity/identities"))
        .collect();
    assert_eq!(created.len(), 1);
    let body = created[0].body.clone().expect("a JSON body");
    assert_eq!(body["ref_id"], id.as_str());
    assert_eq!(
        body["person_details"]["cip_id"],
        person["person_details"]["cip_id"]
    );

    let after = status_when(&url, &id, |row| row["mirror"] != "NOT_MIRRORED").await;
    assert_eq!(after["mirror"], "MIRRORED");
    let paxos_id = after["paxos_identity_id"].as_str().expect("linked");
    let at_paxos = sandbox
        .identity(paxos_id)
        .expect("the identity exists at Paxos");
    assert_eq!(at_paxos["ref_id"], id.as_str());
    let human = ok(&onboarding(args(&["status", &id], &url)).await);
    assert!(human.contains("mirror       MIRRORED"), "{human}");
    assert!(human.contains(paxos_id), "{human}");

    // A second pass sends nothing again.
    let again: Value = serde_json::from_str(&ok(&onboarding(mirror_once()).await)).unwrap();
    assert_eq!(again["waiting"], Value::Null, "{again}");
    assert_eq!(sandbox.stats().identities, 1);
    let posts = sandbox
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 1);
}

fn paxos_flags(sandbox: &paxos_sandbox::SandboxHandle, wait_seconds: &str) -> Vec<String> {
    [
        "--paxos-api-url",
        sandbox.base_url.as_str(),
        "--paxos-oauth-url",
        sandbox.oauth_url.as_str(),
        "--paxos-client-id",
        sandbox.client_id.as_str(),
        "--paxos-client-secret",
        sandbox.client_secret.as_str(),
        "--paxos-wait-seconds",
        wait_seconds,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

#[tokio::test]
async fn the_demo_mirrors_to_a_paxos_given_by_url_and_waits_for_its_decisions() {
    // Another process's Paxos, as far as the demo knows: decisions come from its own rules.
    let sandbox = Sandbox::start(SandboxConfig::default())
        .await
        .expect("the sandbox starts");
    let mut list = vec!["demo".to_owned(), "--json".to_owned()];
    list.extend(paxos_flags(&sandbox, "2"));
    let out = onboarding(list).await;
    let report: Value = serde_json::from_str(&ok(&out)).expect("one JSON document");
    assert_eq!(report["mirrored_to"], "paxos-api-url");
    let flows = report["flows"].as_array().expect("flows");
    for flow in flows {
        assert_eq!(flow["status"], "APPROVED");
        assert_eq!(flow["paxos"]["mirror"], "MIRRORED");
        let paxos_id = flow["paxos"]["identity_id"].as_str().expect("linked");
        let at_paxos = sandbox.identity(paxos_id).expect("created at that Paxos");
        assert_eq!(at_paxos["ref_id"], flow["identity_id"]);
        assert_eq!(at_paxos["summary_status"], "APPROVED");
    }
    let stats = sandbox.stats();
    assert_eq!(
        (
            stats.identities,
            stats.accounts,
            stats.deposits,
            stats.orders
        ),
        (4, 2, 2, 2),
        "three persons and a corporation; two accounts, deposits and orders"
    );
    let approvals = sandbox
        .events()
        .iter()
        .filter(|e| e.event_type == "identity.approved")
        .count();
    assert_eq!(approvals, 4);
    // That market stays above the corporation's limit (60000 > 49950): the order is still
    // open at Paxos, and so still held in the ledger.
    let held = flows[1]["balances"]
        .as_array()
        .and_then(|b| b.iter().find(|x| x["asset"] == "USD"))
        .map(|x| x["held"].clone());
    assert_eq!(held, Some("4995".into()));
}

#[tokio::test]
async fn the_demo_fails_clearly_within_its_wait_when_paxos_does_not_decide() {
    let sandbox = Sandbox::start(SandboxConfig {
        decisions: DecisionConfig {
            delay: None,
            ..DecisionConfig::default()
        },
        ..SandboxConfig::default()
    })
    .await
    .expect("the sandbox starts");
    let started = std::time::Instant::now();
    let mut list = vec!["demo".to_owned()];
    list.extend(paxos_flags(&sandbox, "1"));
    let out = onboarding(list).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Paxos has not decided identity"),
        "{stderr}"
    );
    assert!(stderr.contains("--paxos-wait-seconds"), "{stderr}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "bounded"
    );
    assert_eq!(sandbox.stats().identities, 1, "the person was mirrored");
}

#[tokio::test]
async fn the_demo_asks_for_credentials_with_a_paxos_url() {
    let out = onboarding(vec![
        "demo".to_owned(),
        "--paxos-api-url".to_owned(),
        "http://127.0.0.1:9/v2".to_owned(),
    ])
    .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--paxos-client-id"), "{stderr}");
}
