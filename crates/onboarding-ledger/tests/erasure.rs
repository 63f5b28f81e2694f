//! Personal data is sealed per identity and erased by destroying the identity's key, under the
//! retention policy; everything that is not personal data stays and still verifies.

use onboarding_ledger::domain::pii::Personal;
use onboarding_ledger::domain::vocab::IdentityStatus;
use onboarding_ledger::domain::{Decision, IdentityError, IdentityId, IdentitySubmission};
use onboarding_ledger::{Ledger, LedgerError, LedgerOptions, StoreError};
use sqlx::PgPool;

use crate::fixtures::{ctx, officer, person_json, unique_ssn};

/// The personal values of `person_json`, none of which may be stored in clear.
const PERSONAL: &[&str] = &[
    "Quint",
    "1988-04-12",
    "Main Street",
    "ada.quint@example.com",
    "10001",
];

/// Every row of every table and view of the public schema, as text.
async fn dump(pool: &PgPool) -> String {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut all = String::new();
    for table in tables {
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT t::text FROM \"{table}\" t"))
            .fetch_all(pool)
            .await
            .unwrap();
        all.push_str(&rows.join("\n"));
    }
    all
}

/// Whether `value` occurs in `text` as a whole token: not inside a longer run of letters and
/// digits, nor as a fraction after a `.`, where a short value (a zip code) turns up by chance
/// (in a hash's hex, a timestamp's microseconds).
fn holds(text: &str, value: &str) -> bool {
    text.match_indices(value).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + value.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '.')
            && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

#[test]
fn a_value_counts_as_stored_only_as_a_whole_token() {
    assert!(holds(r#"{"zip_code": "10001"}"#, "10001"));
    assert!(holds("(1,10001,x)", "10001"));
    assert!(!holds("9f3a10001be2", "10001"), "inside a hash's hex");
    assert!(!holds("06:12:01.100012", "10001"), "inside a timestamp");
    assert!(
        !holds("06:12:01.10001+00", "10001"),
        "a timestamp's trimmed fraction"
    );
}

/// The identity's wrapped data key (`None` once destroyed).
async fn wrapped_key(pool: &PgPool, id: IdentityId) -> Option<Vec<u8>> {
    sqlx::query_scalar("SELECT wrapped_key FROM identity_keys WHERE identity_id = $1")
        .bind(id.as_uuid())
        .fetch_one(pool)
        .await
        .unwrap()
}

/// How many `cip_id` claims the identity holds.
async fn claims_of(pool: &PgPool, id: IdentityId) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM cip_claims WHERE identity_id = $1")
        .bind(id.as_uuid())
        .fetch_one(pool)
        .await
        .unwrap()
}

fn ledger_with_retention(pool: &PgPool, days: i64) -> Ledger {
    let options = LedgerOptions {
        retention: chrono::Duration::days(days),
        ..LedgerOptions::default()
    };
    Ledger::on_pool(pool.clone(), &options)
}

async fn denied_person(ledger: &Ledger, ssn: &str) -> IdentityId {
    decided_person(ledger, ssn, Decision::Denied).await
}

/// A person submitted under `ssn`, then decided `decision` by an officer.
async fn decided_person(ledger: &Ledger, ssn: &str, decision: Decision) -> IdentityId {
    let id = ledger
        .submit_identity_json(&ctx(), &person_json(ssn))
        .await
        .unwrap();
    ledger
        .record_decision(&ctx(), id, decision, officer(), None)
        .await
        .unwrap();
    id
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn personal_data_is_stored_only_sealed_and_opens_with_the_identity_key(pool: PgPool) {
    let ledger = ledger_with_retention(&pool, 0);
    let ssn = unique_ssn();
    let id = ledger
        .submit_identity_json(&ctx(), &person_json(&ssn))
        .await
        .unwrap();
    ledger.catch_up().await.unwrap();

    let dump = dump(&pool).await;
    assert!(
        dump.contains(&id.to_string()),
        "the dump covers the identity"
    );
    for value in PERSONAL.iter().copied().chain([ssn.as_str()]) {
        assert!(!holds(&dump, value), "{value} is stored in clear");
    }

    let IdentitySubmission::Person(person) = ledger.personal_data(id).await.unwrap() else {
        panic!("a person was submitted");
    };
    let pii = person.pii.clear().expect("opened");
    assert_eq!(pii.last_name.as_str(), "Quint");
    assert_eq!(pii.cip_id.expose(), ssn);
    assert!(matches!(person.tax_details, Personal::Clear(ref t) if t.len() == 1));
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn forgetting_is_refused_inside_the_retention_period_and_writes_nothing(pool: PgPool) {
    let ledger = ledger_with_retention(&pool, onboarding_ledger::DEFAULT_RETENTION_DAYS);
    let id = denied_person(&ledger, &unique_ssn()).await;
    let err = ledger
        .forget_identity(&ctx(), id, "customer request".into())
        .await
        .unwrap_err();
    let LedgerError::Identity(IdentityError::RetentionActive { until }) = err else {
        panic!("expected RetentionActive, got {err:?}");
    };
    let years = (until - chrono::Utc::now()).num_days() / 365;
    assert_eq!(years, 5, "retained five years after the denial");
    assert_eq!(
        ledger
            .events_of("identity", &id.to_string())
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(ledger.personal_data(id).await.is_ok(), "the key is intact");
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn an_approved_identity_cannot_be_forgotten(pool: PgPool) {
    let ledger = ledger_with_retention(&pool, 0);
    let id = decided_person(&ledger, &unique_ssn(), Decision::Approved).await;
    let err = ledger
        .forget_identity(&ctx(), id, "request".into())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            LedgerError::Identity(IdentityError::RelationshipActive {
                status: IdentityStatus::Approved,
                ..
            })
        ),
        "{err:?}"
    );
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn after_erasure_the_data_is_gone_and_status_audit_and_verify_still_work(pool: PgPool) {
    let ledger = ledger_with_retention(&pool, 0);
    let ssn = unique_ssn();
    let id = denied_person(&ledger, &ssn).await;

    ledger
        .forget_identity(&ctx(), id, "customer request".into())
        .await
        .unwrap();
    // Idempotent: a retried erasure succeeds and records nothing more.
    ledger
        .forget_identity(&ctx(), id, "retry".into())
        .await
        .unwrap();

    let events = ledger.events_of("identity", &id.to_string()).await.unwrap();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        ["IdentitySubmitted", "DecisionRecorded", "IdentityForgotten"]
    );

    let err = ledger.personal_data(id).await.unwrap_err();
    assert!(
        matches!(err, LedgerError::Store(StoreError::PersonalDataErased(x)) if x == id),
        "{err:?}"
    );
    let key = wrapped_key(&pool, id).await;
    assert_eq!(key, None, "the data key is destroyed");
    let claims: i64 = sqlx::query_scalar("SELECT count(*) FROM cip_claims")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(claims, 0, "the cip claim is released");

    ledger.catch_up().await.unwrap();
    let status = ledger
        .identity_status(id)
        .await
        .unwrap()
        .expect("still in the read model");
    assert_eq!(status.status, IdentityStatus::Denied);
    assert!(status.forgotten);
    let trail = ledger.audit_trail(Some(id), None).await.unwrap();
    assert_eq!(trail.len(), 3);
    assert_eq!(trail[2].event_type, "IdentityForgotten");
    let verification = ledger
        .verify(None)
        .await
        .unwrap()
        .expect("postgres verifies");
    assert!(verification.is_intact(), "{verification:?}");

    let dump = dump(&pool).await;
    for value in PERSONAL.iter().copied().chain([ssn.as_str()]) {
        assert!(!holds(&dump, value), "{value} survived erasure");
    }

    // The person may onboard afresh under the same document.
    assert!(ledger
        .submit_identity_json(&ctx(), &person_json(&ssn))
        .await
        .is_ok());
    // A forgotten identity accepts no more commands.
    let err = ledger
        .record_decision(&ctx(), id, Decision::Approved, officer(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, LedgerError::Identity(IdentityError::Forgotten)),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_embedded_store_seals_and_forgets_the_same_way() {
    let options = LedgerOptions {
        retention: chrono::Duration::zero(),
        ..LedgerOptions::default()
    };
    let ledger = Ledger::in_memory_with(options);
    let id = denied_person(&ledger, &unique_ssn()).await;
    let stored = &ledger.events_of("identity", &id.to_string()).await.unwrap()[0];
    assert!(stored.payload.to_string().contains("\"sealed\""));
    assert!(!stored.payload.to_string().contains("Quint"));
    assert!(ledger.personal_data(id).await.is_ok());
    ledger
        .forget_identity(&ctx(), id, "request".into())
        .await
        .unwrap();
    assert!(matches!(
        ledger.personal_data(id).await,
        Err(LedgerError::Store(StoreError::PersonalDataErased(_)))
    ));
}

/// Makes every statement on the key and claim tables fail except the ledger's append statement:
/// what a process crashing right after storing `IdentityForgotten` would leave undone.
async fn fail_every_write_but_the_append(pool: &PgPool) {
    for statement in [
        "CREATE FUNCTION crash_after_append() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF current_query() NOT LIKE '-- ledger append%' THEN
                 RAISE EXCEPTION 'simulated crash after the append';
             END IF;
             RETURN NULL;
         END $$",
        "CREATE TRIGGER crash_after_append BEFORE INSERT OR UPDATE OR DELETE ON identity_keys
         FOR EACH STATEMENT EXECUTE FUNCTION crash_after_append()",
        "CREATE TRIGGER crash_after_append BEFORE INSERT OR UPDATE OR DELETE ON cip_claims
         FOR EACH STATEMENT EXECUTE FUNCTION crash_after_append()",
    ] {
        sqlx::query(statement).execute(pool).await.unwrap();
    }
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn the_statement_recording_an_erasure_destroys_the_key_and_releases_the_claim(pool: PgPool) {
    let ledger = ledger_with_retention(&pool, 0);
    let ssn = unique_ssn();
    let id = denied_person(&ledger, &ssn).await;
    fail_every_write_but_the_append(&pool).await;

    let err = ledger
        .forget_identity(&ctx(), id, "customer request".into())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("simulated crash"),
        "the steps after the append were tried and failed: {err}"
    );
    let types: Vec<String> = (ledger.events_of("identity", &id.to_string()).await.unwrap())
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(types.last().map(String::as_str), Some("IdentityForgotten"));
    let key = wrapped_key(&pool, id).await;
    assert_eq!(key, None, "the key went with the event");
    let claims = claims_of(&pool, id).await;
    assert_eq!(claims, 0, "the claim went with the event");
    assert!(matches!(
        ledger.personal_data(id).await,
        Err(LedgerError::Store(StoreError::PersonalDataErased(x))) if x == id
    ));
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn an_erasure_whose_event_is_refused_destroys_nothing(pool: PgPool) {
    let ledger = ledger_with_retention(&pool, 0);
    let id = denied_person(&ledger, &unique_ssn()).await;
    for statement in [
        "CREATE FUNCTION refuse_forgetting() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF NEW.event_type = 'IdentityForgotten' THEN
                 RAISE EXCEPTION 'the server refuses the event';
             END IF;
             RETURN NEW;
         END $$",
        "CREATE TRIGGER refuse_forgetting BEFORE INSERT ON events
         FOR EACH ROW EXECUTE FUNCTION refuse_forgetting()",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    let err = ledger
        .forget_identity(&ctx(), id, "customer request".into())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("refuses the event"), "{err}");

    let key = wrapped_key(&pool, id).await;
    assert!(key.is_some(), "no event stored, so the key stays");
    let claims = claims_of(&pool, id).await;
    assert_eq!(claims, 1, "no event stored, so the claim stays");
    assert!(ledger.personal_data(id).await.is_ok());
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn an_identity_in_error_is_erasable_and_its_retention_counts_from_the_error(pool: PgPool) {
    let ledger = ledger_with_retention(&pool, onboarding_ledger::DEFAULT_RETENTION_DAYS);
    let id = decided_person(&ledger, &unique_ssn(), Decision::Error).await;
    let retained_until = || async {
        match ledger.forget_identity(&ctx(), id, "request".into()).await {
            Err(LedgerError::Identity(IdentityError::RetentionActive { until })) => until,
            other => panic!("expected RetentionActive, got {other:?}"),
        }
    };
    let first = retained_until().await;
    let second = retained_until().await;
    assert_eq!(first, second, "the retention period ends at a fixed time");
    assert_eq!((first - chrono::Utc::now()).num_days() / 365, 5);

    let ledger = ledger_with_retention(&pool, 0);
    ledger
        .forget_identity(&ctx(), id, "request".into())
        .await
        .unwrap();
    assert!(matches!(
        ledger.personal_data(id).await,
        Err(LedgerError::Store(StoreError::PersonalDataErased(_)))
    ));
}
