//! Deciding about an identity: legal transitions, duplicate Paxos events, documents required,
//! the Paxos link and off-boarding.

use cqrs_es::test::TestFramework;
use onboarding_domain::vocab::IdentityStatus;
use onboarding_domain::{
    Decision, DecisionSource, Identity, IdentityCommand, IdentityError, IdentityEvent, IdentityId,
    Problem,
};

use crate::support::*;

fn submitted() -> IdentityEvent {
    IdentityEvent::IdentitySubmitted {
        id: IdentityId::new(),
        submission: submission(&person_draft()),
    }
}

fn officer() -> DecisionSource {
    DecisionSource::ComplianceOfficer {
        officer: "m.okafor".to_owned(),
    }
}

fn paxos(event_id: &str) -> DecisionSource {
    DecisionSource::PaxosEvent {
        event_id: event_id.to_owned(),
    }
}

/// The history of an identity that has reached `status`.
fn history_to(status: IdentityStatus) -> Vec<IdentityEvent> {
    let mut events = vec![submitted()];
    let moved = |decision: Decision, from, to| IdentityEvent::DecisionRecorded {
        decision,
        source: officer(),
        reason: None,
        from,
        to,
    };
    use IdentityStatus as S;
    match status {
        S::Pending => {}
        S::Approved => events.push(moved(Decision::Approved, S::Pending, S::Approved)),
        S::Denied => events.push(moved(Decision::Denied, S::Pending, S::Denied)),
        S::Error => events.push(moved(Decision::Error, S::Pending, S::Error)),
        S::Disabled => {
            events.push(moved(Decision::Approved, S::Pending, S::Approved));
            events.push(moved(Decision::Disabled, S::Approved, S::Disabled));
        }
    }
    assert_eq!(
        state_after::<Identity>(events.clone()).status(),
        Some(status)
    );
    events
}

fn decide(decision: Decision, source: DecisionSource) -> IdentityCommand {
    IdentityCommand::RecordDecision {
        decision,
        source,
        reason: Some("screening complete".to_owned()),
    }
}

fn framework() -> TestFramework<Identity> {
    TestFramework::with(services(FakeDirectory::new()))
}

fn documents() -> Decision {
    Decision::DocumentsRequired {
        documents: vec!["PROOF_OF_ADDRESS".to_owned()],
    }
}

fn all_decisions() -> Vec<Decision> {
    vec![
        Decision::Approved,
        Decision::Denied,
        Decision::Disabled,
        Decision::Error,
        documents(),
    ]
}

const ALL_STATUSES: [IdentityStatus; 5] = [
    IdentityStatus::Pending,
    IdentityStatus::Approved,
    IdentityStatus::Denied,
    IdentityStatus::Disabled,
    IdentityStatus::Error,
];

/// The transition table as the onboarding process states it, written out independently of
/// `Decision::next_status`.
fn expected_transition(from: IdentityStatus, decision: &Decision) -> Option<IdentityStatus> {
    use IdentityStatus as S;
    match (from, decision) {
        (S::Pending, Decision::Approved) => Some(S::Approved),
        (S::Pending, Decision::Denied) => Some(S::Denied),
        (S::Pending, Decision::Error) => Some(S::Error),
        (S::Pending, Decision::DocumentsRequired { .. }) => Some(S::Pending),
        (S::Approved, Decision::Disabled) => Some(S::Disabled),
        (S::Approved, Decision::Error) => Some(S::Error),
        (S::Disabled, Decision::Approved) => Some(S::Approved),
        (S::Disabled, Decision::Error) => Some(S::Error),
        (S::Error, Decision::Approved) => Some(S::Approved),
        (S::Error, Decision::Denied) => Some(S::Denied),
        (S::Error, Decision::Disabled) => Some(S::Disabled),
        _ => None,
    }
}

#[tokio::test]
async fn every_legal_transition_is_recorded() {
    let mut legal = 0;
    for from in ALL_STATUSES {
        for decision in all_decisions() {
            let Some(to) = expected_transition(from, &decision) else {
                continue;
            };
            legal += 1;
            framework()
                .given(history_to(from))
                .when_async(decide(decision.clone(), officer()))
                .await
                .then_expect_events(vec![IdentityEvent::DecisionRecorded {
                    decision,
                    source: officer(),
                    reason: Some("screening complete".to_owned()),
                    from,
                    to,
                }]);
        }
    }
    assert_eq!(legal, 11);
}

#[tokio::test]
async fn every_other_transition_is_illegal() {
    let mut illegal = 0;
    for from in ALL_STATUSES {
        for decision in all_decisions() {
            if expected_transition(from, &decision).is_some() {
                continue;
            }
            illegal += 1;
            framework()
                .given(history_to(from))
                .when_async(decide(decision.clone(), paxos("evt-new")))
                .await
                .then_expect_error(IdentityError::IllegalTransition {
                    from,
                    decision: decision.name(),
                });
        }
    }
    assert_eq!(illegal, 14);
}

#[tokio::test]
async fn a_denial_is_final() {
    for decision in all_decisions() {
        let result = framework()
            .given(history_to(IdentityStatus::Denied))
            .when_async(decide(decision.clone(), officer()))
            .await
            .inspect_result();
        assert!(
            matches!(result, Err(IdentityError::IllegalTransition { .. })),
            "{} after a denial: {result:?}",
            decision.name()
        );
    }
}

#[tokio::test]
async fn the_same_paxos_event_recorded_twice_is_a_no_op() {
    let mut events = history_to(IdentityStatus::Pending);
    events.push(IdentityEvent::DecisionRecorded {
        decision: Decision::Approved,
        source: paxos("evt-1"),
        reason: None,
        from: IdentityStatus::Pending,
        to: IdentityStatus::Approved,
    });
    framework()
        .given(events)
        .when_async(decide(Decision::Approved, paxos("evt-1")))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn a_different_paxos_event_with_the_same_decision_is_judged_on_its_own() {
    let mut events = history_to(IdentityStatus::Pending);
    events.push(IdentityEvent::DecisionRecorded {
        decision: Decision::Approved,
        source: paxos("evt-1"),
        reason: None,
        from: IdentityStatus::Pending,
        to: IdentityStatus::Approved,
    });
    framework()
        .given(events)
        .when_async(decide(Decision::Approved, paxos("evt-2")))
        .await
        .then_expect_error(IdentityError::IllegalTransition {
            from: IdentityStatus::Approved,
            decision: "APPROVED",
        });
}

#[tokio::test]
async fn a_paxos_event_delivered_again_after_later_decisions_changes_nothing() {
    // identity.approved (evt-1), then identity.disabled (evt-2), then evt-1 again out of order.
    let mut events = history_to(IdentityStatus::Pending);
    for (id, decision, from, to) in [
        (
            "evt-1",
            Decision::Approved,
            IdentityStatus::Pending,
            IdentityStatus::Approved,
        ),
        (
            "evt-2",
            Decision::Disabled,
            IdentityStatus::Approved,
            IdentityStatus::Disabled,
        ),
    ] {
        events.push(IdentityEvent::DecisionRecorded {
            decision,
            source: paxos(id),
            reason: None,
            from,
            to,
        });
    }
    framework()
        .given(events)
        .when_async(decide(Decision::Approved, paxos("evt-1")))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn documents_required_keeps_the_identity_pending() {
    let events = framework()
        .given(history_to(IdentityStatus::Pending))
        .when_async(decide(documents(), paxos("evt-7")))
        .await
        .inspect_result()
        .expect("recorded");
    assert_eq!(
        events,
        vec![IdentityEvent::DecisionRecorded {
            decision: documents(),
            source: paxos("evt-7"),
            reason: Some("screening complete".to_owned()),
            from: IdentityStatus::Pending,
            to: IdentityStatus::Pending,
        }]
    );
    let mut history = history_to(IdentityStatus::Pending);
    history.extend(events);
    let state: Identity = state_after(history.clone());
    assert_eq!(state.status(), Some(IdentityStatus::Pending));
    assert_eq!(state.documents_required(), ["PROOF_OF_ADDRESS".to_owned()]);

    // The approval that follows the documents clears the request.
    history.push(IdentityEvent::DecisionRecorded {
        decision: Decision::Approved,
        source: paxos("evt-8"),
        reason: None,
        from: IdentityStatus::Pending,
        to: IdentityStatus::Approved,
    });
    let state: Identity = state_after(history);
    assert_eq!(state.status(), Some(IdentityStatus::Approved));
    assert!(state.documents_required().is_empty());
}

#[tokio::test]
async fn documents_required_names_at_least_one_document() {
    framework()
        .given(history_to(IdentityStatus::Pending))
        .when_async(decide(
            Decision::DocumentsRequired { documents: vec![] },
            paxos("evt-7"),
        ))
        .await
        .then_expect_error(IdentityError::Invalid(violations([(
            "documents",
            Problem::Empty,
        )])));
}

#[tokio::test]
async fn a_decision_names_its_source() {
    framework()
        .given(history_to(IdentityStatus::Pending))
        .when_async(decide(Decision::Approved, paxos(" ")))
        .await
        .then_expect_error(IdentityError::Invalid(violations([(
            "source.event_id",
            Problem::Missing,
        )])));
    framework()
        .given(history_to(IdentityStatus::Pending))
        .when_async(decide(
            Decision::Approved,
            DecisionSource::ComplianceOfficer {
                officer: String::new(),
            },
        ))
        .await
        .then_expect_error(IdentityError::Invalid(violations([(
            "source.officer",
            Problem::Missing,
        )])));
}

#[tokio::test]
async fn a_decision_needs_a_submitted_identity() {
    framework()
        .given_no_previous_events()
        .when_async(decide(Decision::Approved, officer()))
        .await
        .then_expect_error(IdentityError::NotSubmitted);
}

fn link(id: &str) -> IdentityCommand {
    IdentityCommand::LinkPaxosIdentity {
        paxos_identity_id: id.to_owned(),
    }
}

#[tokio::test]
async fn linking_records_the_paxos_identity_id() {
    let events = framework()
        .given(history_to(IdentityStatus::Pending))
        .when_async(link("px-123"))
        .await
        .inspect_result()
        .expect("linked");
    assert_eq!(
        events,
        vec![IdentityEvent::PaxosIdentityLinked {
            paxos_identity_id: "px-123".to_owned()
        }]
    );
    let mut history = history_to(IdentityStatus::Pending);
    history.extend(events);
    assert_eq!(
        state_after::<Identity>(history).paxos_identity_id(),
        Some("px-123")
    );
}

#[tokio::test]
async fn linking_again_to_the_same_paxos_identity_is_a_no_op() {
    let mut history = history_to(IdentityStatus::Pending);
    history.push(IdentityEvent::PaxosIdentityLinked {
        paxos_identity_id: "px-123".to_owned(),
    });
    framework()
        .given(history)
        .when_async(link("px-123"))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn linking_to_another_paxos_identity_is_a_conflict() {
    let mut history = history_to(IdentityStatus::Pending);
    history.push(IdentityEvent::PaxosIdentityLinked {
        paxos_identity_id: "px-123".to_owned(),
    });
    framework()
        .given(history)
        .when_async(link("px-999"))
        .await
        .then_expect_error(IdentityError::PaxosLinkConflict);
}

#[tokio::test]
async fn a_link_needs_a_paxos_id_and_a_submitted_identity() {
    framework()
        .given(history_to(IdentityStatus::Pending))
        .when_async(link(""))
        .await
        .then_expect_error(IdentityError::Invalid(violations([(
            "paxos_identity_id",
            Problem::Missing,
        )])));
    framework()
        .given_no_previous_events()
        .when_async(link("px-123"))
        .await
        .then_expect_error(IdentityError::NotSubmitted);
}

fn disable() -> IdentityCommand {
    IdentityCommand::Disable {
        reason: "customer closed the relationship".to_owned(),
    }
}

#[tokio::test]
async fn disabling_an_approved_identity_off_boards_it() {
    for from in [IdentityStatus::Approved, IdentityStatus::Error] {
        let events = framework()
            .given(history_to(from))
            .when_async(disable())
            .await
            .inspect_result()
            .expect("disabled");
        assert_eq!(
            events,
            vec![IdentityEvent::IdentityDisabled {
                reason: "customer closed the relationship".to_owned(),
                from,
            }]
        );
        let mut history = history_to(from);
        history.extend(events);
        assert_eq!(
            state_after::<Identity>(history).status(),
            Some(IdentityStatus::Disabled)
        );
    }
}

#[tokio::test]
async fn disabling_a_disabled_identity_is_a_no_op() {
    framework()
        .given(history_to(IdentityStatus::Disabled))
        .when_async(disable())
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn only_an_approved_or_frozen_identity_can_be_disabled() {
    for from in [IdentityStatus::Pending, IdentityStatus::Denied] {
        framework()
            .given(history_to(from))
            .when_async(disable())
            .await
            .then_expect_error(IdentityError::IllegalTransition {
                from,
                decision: "DISABLED",
            });
    }
    framework()
        .given_no_previous_events()
        .when_async(disable())
        .await
        .then_expect_error(IdentityError::NotSubmitted);
}

fn forget(retention: chrono::Duration) -> IdentityCommand {
    let now = chrono::Utc::now();
    IdentityCommand::Forget {
        reason: "customer request".to_owned(),
        facts: onboarding_domain::RetentionFacts {
            now,
            ended_at: Some(now),
            open_accounts: 0,
            last_account_closed_at: None,
            retention,
        },
    }
}

#[test]
fn a_retention_period_beyond_the_calendar_never_ends_and_does_not_panic() {
    let result = framework()
        .given(history_to(IdentityStatus::Denied))
        .when(forget(chrono::Duration::MAX))
        .inspect_result();
    assert!(
        matches!(result, Err(IdentityError::RetentionActive { until }) if until == chrono::DateTime::<chrono::Utc>::MAX_UTC),
        "{result:?}"
    );
}

#[test]
fn a_paxos_event_delivered_again_after_an_erasure_changes_nothing() {
    let mut history = history_to(IdentityStatus::Pending);
    history.push(IdentityEvent::DecisionRecorded {
        decision: Decision::Denied,
        source: paxos("evt-denied"),
        reason: None,
        from: IdentityStatus::Pending,
        to: IdentityStatus::Denied,
    });
    history.push(IdentityEvent::IdentityForgotten {
        reason: "customer request".to_owned(),
    });
    framework()
        .given(history.clone())
        .when(decide(Decision::Denied, paxos("evt-denied")))
        .then_expect_events(vec![]);
    // Any other decision is still refused.
    framework()
        .given(history)
        .when(decide(Decision::Approved, paxos("evt-other")))
        .then_expect_error(IdentityError::Forgotten);
}
