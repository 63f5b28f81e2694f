//! The caller's metadata (actor, reason, correlation, causation, origin) is stored with every
//! event and read back unchanged from an aggregate's history and from the global log.

use onboarding_ledger::domain::{event_names, Decision};
use onboarding_ledger::{CommandContext, EventMetadata};
use sqlx::PgPool;
use uuid::Uuid;

use crate::fixtures::{self, officer};

fn assert_command_id(metadata: &EventMetadata) -> Uuid {
    Uuid::parse_str(&metadata.command_id).expect("the command id is a UUID")
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn metadata_round_trips_through_history_and_log(pool: PgPool) {
    let ledger = fixtures::ledger(&pool);
    let explicit = CommandContext::new("alice@compliance", "api")
        .with_reason("KYC refresh")
        .caused_by("paxos-event:42")
        .with_correlation_id("flow-7f3a");
    let id = ledger
        .submit_identity_json(&explicit, &fixtures::person_json(&fixtures::unique_ssn()))
        .await
        .unwrap();
    let implicit = CommandContext::new("bob", "cli");
    ledger
        .record_decision(&implicit, id, Decision::Approved, officer(), None)
        .await
        .unwrap();

    let history =
        fixtures::sequenced_events_of(&ledger, event_names::IDENTITY, &id.to_string()).await;
    assert_eq!(history.len(), 2);

    let submitted = &history[0].metadata;
    let submit_command = assert_command_id(submitted);
    assert_eq!(
        *submitted,
        EventMetadata {
            actor: "alice@compliance".to_owned(),
            reason: Some("KYC refresh".to_owned()),
            correlation_id: "flow-7f3a".to_owned(),
            causation_id: "paxos-event:42".to_owned(),
            origin: "api".to_owned(),
            command_id: submit_command.to_string(),
        }
    );

    let decided = &history[1].metadata;
    let decide_command = assert_command_id(decided);
    assert_ne!(
        decide_command, submit_command,
        "each command has its own id"
    );
    assert_eq!(
        *decided,
        EventMetadata {
            actor: "bob".to_owned(),
            reason: None,
            correlation_id: implicit.correlation_id().to_owned(),
            causation_id: format!("command:{decide_command}"),
            origin: "cli".to_owned(),
            command_id: decide_command.to_string(),
        }
    );

    let log = fixtures::read_log_until(&ledger, 0, 2, 100).await;
    assert_eq!(log.len(), 2);
    for (logged, stored) in log.iter().zip(&history) {
        assert_eq!(logged.metadata, stored.metadata);
        assert_eq!(logged.position, stored.position);
        assert_eq!(logged.sequence, stored.sequence);
        assert_eq!(logged.recorded_at, stored.recorded_at);
    }
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn one_context_correlates_the_commands_of_a_flow(pool: PgPool) {
    let ledger = fixtures::ledger(&pool);
    let owner = fixtures::approved_person(&ledger).await;
    let flow = CommandContext::new("onboarding-service", "api").with_reason("new customer");
    let opened = ledger
        .open_account(
            &flow,
            onboarding_ledger::AccountRequest::new(
                owner,
                onboarding_ledger::domain::vocab::AccountType::Brokerage,
            ),
        )
        .await
        .unwrap();

    let account = ledger
        .events_of(event_names::ACCOUNT, &opened.account_id.to_string())
        .await
        .unwrap();
    let profile = ledger
        .events_of(event_names::PROFILE, &opened.profile_id.to_string())
        .await
        .unwrap();
    assert_eq!((account.len(), profile.len()), (1, 1));
    let (a, p) = (&account[0].metadata, &profile[0].metadata);
    assert_eq!(a.correlation_id, flow.correlation_id());
    assert_eq!(p.correlation_id, flow.correlation_id());
    assert_eq!(a.reason.as_deref(), Some("new customer"));
    assert_eq!(p.reason.as_deref(), Some("new customer"));
    assert_eq!(a.command_id, p.command_id, "one opening, one command id");
    assert_eq!(a.causation_id, format!("command:{}", a.command_id));
    assert_eq!(p.causation_id, format!("command:{}", p.command_id));
}
