//! The corpus of malformed identity files in `tests/malformed-identities/`: each is refused with
//! a typed error naming the offending field, nothing is written, and no personal value from the
//! file appears in the error.

use onboarding_ledger::domain::{IdentityError, Violations};
use onboarding_ledger::{CommandContext, Ledger, LedgerError};

fn corpus_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/malformed-identities")
}

/// Every string value in a JSON document longer than three characters (names, dates, numbers),
/// the personal data an error must not echo.
fn strings_in(text: &str) -> Vec<String> {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) if s.len() > 3 => out.push(s.clone()),
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            serde_json::Value::Object(o) => o.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        walk(&v, &mut out);
    }
    out
}

/// Values that are vocabulary, not personal data, and may be named in an error.
fn is_vocabulary(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
}

#[tokio::test]
async fn every_malformed_identity_file_is_refused_naming_its_field() {
    let expected =
        std::fs::read_to_string(corpus_dir().join("expected.tsv")).expect("expected.tsv");
    let ledger = Ledger::in_memory();
    let ctx = CommandContext::new("corpus", "test");
    let mut checked = 0;
    for line in expected
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (file, field) = line.split_once('\t').expect("file<TAB>field");
        let text = std::fs::read_to_string(corpus_dir().join(file)).expect("corpus file");
        let err = ledger
            .submit_identity_json(&ctx, &text)
            .await
            .expect_err(file);
        let violations: &Violations = match &err {
            LedgerError::Invalid(v) | LedgerError::Identity(IdentityError::Invalid(v)) => v,
            other => panic!("{file}: expected field violations, got {other:?}"),
        };
        assert!(
            violations.iter().any(|v| v.field == field),
            "{file}: no violation names {field}: {violations}"
        );
        let message = err.to_string();
        for value in strings_in(&text).iter().filter(|s| !is_vocabulary(s)) {
            assert!(
                !message.contains(value.as_str()),
                "{file}: the error echoes {value:?}: {message}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 25, "the corpus was read ({checked} files)");
    assert!(
        ledger.read_log(0, 10).await.unwrap().is_empty(),
        "nothing was written"
    );
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn stored_data_that_does_not_read_is_reported_without_its_text(pool: sqlx::PgPool) {
    let ledger = crate::fixtures::ledger(&pool);
    let id = crate::fixtures::submit_person(&ledger, &crate::fixtures::ctx()).await;
    // A later event whose payload serde would quote in its error message.
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('identity', $1, 2, 'DecisionRecorded', '1.0',
                 '{\"DecisionRecorded\": {\"to\": \"Ada Quint 1988-04-12\"}}', '{}')",
    )
    .bind(id.to_string())
    .execute(&pool)
    .await
    .unwrap();
    let fresh = crate::fixtures::ledger(&pool);
    let read = fresh.identity(id).await.map(|_| ()).unwrap_err();
    let decided = fresh
        .record_decision(
            &crate::fixtures::ctx(),
            id,
            onboarding_ledger::domain::Decision::Approved,
            crate::fixtures::officer(),
            None,
        )
        .await
        .unwrap_err();
    for err in [read, decided] {
        let text = format!("{err} {err:?}");
        assert!(matches!(err, LedgerError::Store(_)), "{text}");
        assert!(!text.contains("Quint"), "stored text leaked: {text}");
    }
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn an_account_asking_for_another_accounts_profile_is_refused_before_anything_is_written(
    pool: sqlx::PgPool,
) {
    use onboarding_ledger::domain::vocab::AccountType;
    use onboarding_ledger::domain::Problem;
    use onboarding_ledger::AccountRequest;

    let ledger = crate::fixtures::ledger(&pool);
    let owner = crate::fixtures::approved_person(&ledger).await;
    let first = crate::fixtures::open_account(&ledger, owner).await;
    let mut second = AccountRequest::new(owner, AccountType::Brokerage);
    second.profile_id = first.profile_id;
    let second_id = second.account_id;
    let err = ledger
        .open_account(&crate::fixtures::ctx(), second)
        .await
        .unwrap_err();
    let LedgerError::Invalid(violations) = err else {
        panic!("expected Invalid, got {err:?}");
    };
    let mut expected = Violations::new();
    expected.push("profile_id", Problem::InUse);
    assert_eq!(violations, expected);
    assert!(
        ledger.account(second_id).await.unwrap().opening().is_none(),
        "no orphan account"
    );
}
