//! The embedded mode runs the same projection logic: the same commands give the same read models
//! in memory as on PostgreSQL, and a failing view neither duplicates nor loses events elsewhere.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::DateTime;
use onboarding_domain::vocab::{AccountMemberRole, AccountType};
use onboarding_domain::{AccountMember, Decision, FundingMethod, IdentityId, OrderId};
use onboarding_ledger::{AccountRequest, CommandContext, Ledger};
use onboarding_projections::views::{IdentityStatusRow, Profiles};
use onboarding_projections::{AuditEntry, MemoryProjector, ProjectedEvent, ProjectionError, View};
use sqlx::PgPool;

use crate::support::commands::{
    amount, approve, ctx, customer_flow, institution_json, ledger, officer, person_json,
    submission, trade, unique_ein, unique_ssn, usd, EVENTS_PER_FLOW,
};
use crate::support::views::{assert_in_log_order, ArrivalOrder, ARRIVALS};
use crate::support::wait_sequenced;

/// One onboarding story with every id chosen up front, so that both stores hold the same ids.
struct Story {
    owner: IdentityId,
    member: IdentityId,
    institution: IdentityId,
    joint: AccountRequest,
    corporate: AccountRequest,
    order: OrderId,
    ssns: [String; 2],
    ein: String,
}

impl Story {
    fn new() -> Self {
        let owner = IdentityId::new();
        let member = IdentityId::new();
        let institution = IdentityId::new();
        let mut joint = AccountRequest::new(owner, AccountType::Brokerage);
        joint.members.push(AccountMember {
            identity_id: member,
            role: AccountMemberRole::BeneficialOwner,
        });
        Self {
            owner,
            member,
            institution,
            joint,
            corporate: AccountRequest::new(institution, AccountType::Brokerage),
            order: OrderId::new(),
            ssns: [unique_ssn(), unique_ssn()],
            ein: unique_ein(),
        }
    }

    fn identities(&self) -> [IdentityId; 3] {
        [self.owner, self.member, self.institution]
    }

    async fn play(&self, ledger: &Ledger) {
        let ctx = ctx().with_correlation_id("parity-story");
        for (id, ssn) in [(self.owner, &self.ssns[0]), (self.member, &self.ssns[1])] {
            ledger
                .submit_identity_as(&ctx, id, submission(&person_json(ssn)))
                .await
                .unwrap();
            approve(ledger, &ctx, id).await;
        }
        let corporation = institution_json(&self.ein, self.owner, self.member);
        ledger
            .submit_identity_as(&ctx, self.institution, submission(&corporation))
            .await
            .unwrap();
        let documents = Decision::DocumentsRequired {
            documents: vec!["PROOF_OF_ADDRESS".to_owned()],
        };
        ledger
            .record_decision(&ctx, self.institution, documents, officer(), None)
            .await
            .unwrap();
        approve(ledger, &ctx, self.institution).await;
        ledger
            .link_paxos_identity(&ctx, self.owner, "paxos-identity-1".to_owned())
            .await
            .unwrap();

        for (request, deposit) in [(&self.joint, "10000"), (&self.corporate, "250")] {
            let opened = ledger.open_account(&ctx, request.clone()).await.unwrap();
            fund_as(ledger, &ctx, request, deposit).await;
            assert_eq!(opened.profile_id, request.profile_id);
        }
        trade(ledger, &ctx, self.joint.profile_id, self.order).await;
        ledger
            .link_paxos_account(
                &ctx,
                self.joint.account_id,
                "paxos-account-1".to_owned(),
                "paxos-profile-1".to_owned(),
            )
            .await
            .unwrap();
    }
}

async fn fund_as(
    ledger: &Ledger,
    ctx: &CommandContext,
    request: &AccountRequest,
    usd_amount: &str,
) {
    ledger
        .fund_profile(
            ctx,
            request.profile_id,
            format!("deposit-{}", request.account_id),
            usd(),
            amount(usd_amount),
            FundingMethod::Deposit,
        )
        .await
        .unwrap();
}

/// A status row without its timestamps (each store stamps its own commit times).
fn untimed(mut row: IdentityStatusRow) -> IdentityStatusRow {
    let epoch = DateTime::UNIX_EPOCH;
    row.submitted_at = epoch;
    row.updated_at = epoch;
    row.decided_at = row.decided_at.map(|_| epoch);
    row
}

/// An audit entry without what each store makes up itself: commit time, command ids, and the
/// event's chain hash (only the PostgreSQL store chains its events).
fn comparable(entries: Vec<AuditEntry>) -> Vec<AuditEntry> {
    let mut entries: Vec<AuditEntry> = entries
        .into_iter()
        .map(|mut e| {
            e.recorded_at = DateTime::UNIX_EPOCH;
            e.causation_id = String::new();
            e.event_hash = None;
            e
        })
        .collect();
    entries.sort_by_key(|e| (e.position, e.identity_id.as_uuid()));
    entries
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn the_same_commands_give_the_same_read_models_in_memory_and_on_postgres(pool: PgPool) {
    let story = Story::new();
    let memory = Ledger::in_memory();
    let postgres = ledger(&pool);
    story.play(&memory).await;
    story.play(&postgres).await;
    wait_sequenced(&pool).await;
    postgres.catch_up().await.unwrap();

    for id in story.identities() {
        let in_memory = memory.identity_status(id).await.unwrap().map(untimed);
        let on_postgres = postgres.identity_status(id).await.unwrap().map(untimed);
        assert!(in_memory.is_some());
        assert_eq!(in_memory, on_postgres, "identity {id}");
    }
    let in_memory = comparable(memory.audit_trail(None, None).await.unwrap());
    let on_postgres = comparable(postgres.audit_trail(None, None).await.unwrap());
    assert_eq!(in_memory.len(), 29);
    assert_eq!(in_memory, on_postgres);
    for id in story.identities() {
        let one = |all: &[AuditEntry]| -> Vec<AuditEntry> {
            all.iter()
                .filter(|e| e.identity_id == id)
                .cloned()
                .collect()
        };
        let on_postgres_one = comparable(postgres.audit_trail(Some(id), None).await.unwrap());
        assert_eq!(one(&in_memory), on_postgres_one, "trail of {id}");
    }
}

/// A view that refuses the event at a position once.
struct RefusesOnce {
    at: i64,
    armed: Arc<AtomicBool>,
}

impl View for RefusesOnce {
    type Row = u64;

    fn name(&self) -> &'static str {
        "refuses_once"
    }

    fn keys(&self, _event: &ProjectedEvent) -> Vec<String> {
        vec!["count".to_owned()]
    }

    fn apply(
        &self,
        _key: &str,
        row: &mut Option<u64>,
        event: &ProjectedEvent,
    ) -> Result<(), String> {
        if event.position() == self.at && self.armed.swap(false, Ordering::SeqCst) {
            return Err("not now".to_owned());
        }
        *row.get_or_insert(0) += 1;
        Ok(())
    }
}

#[tokio::test]
async fn a_failing_view_in_memory_does_not_replay_events_into_the_others() {
    let ledger = Ledger::in_memory();
    let flow = customer_flow(&ledger, &ctx()).await;
    let mut projector = MemoryProjector::new();
    let armed = Arc::new(AtomicBool::new(true));
    projector.register(RefusesOnce {
        at: 9,
        armed: armed.clone(),
    });

    let error = projector.catch_up(ledger.repository()).await.unwrap_err();
    assert!(
        matches!(error, ProjectionError::Apply { position: 9, .. }),
        "{error:?}"
    );
    assert_eq!(
        projector.position(),
        0,
        "the failed view holds the shared position"
    );
    assert_eq!(
        projector.catch_up(ledger.repository()).await.unwrap(),
        EVENTS_PER_FLOW
    );

    // Each event once everywhere: no entry twice, no deposit counted twice.
    let pairs: std::collections::BTreeSet<_> = projector
        .audit()
        .iter()
        .map(|e| (e.position, e.identity_id.as_uuid()))
        .collect();
    assert_eq!(projector.audit().len(), 26);
    assert_eq!(pairs.len(), 26);
    let profile = projector
        .view(&Profiles)
        .unwrap()
        .get(&flow.joint.profile_id.to_string())
        .cloned();
    assert_eq!(
        profile,
        ledger.profile(flow.joint.profile_id).await.unwrap()
    );
    let counted = projector
        .view(&RefusesOnce {
            at: 0,
            armed: Arc::default(),
        })
        .unwrap()
        .get("count")
        .copied();
    assert_eq!(counted, Some(u64::try_from(EVENTS_PER_FLOW).unwrap()));
}

#[tokio::test]
async fn a_view_registered_later_in_memory_receives_the_whole_log_in_order() {
    let ledger = Ledger::in_memory();
    customer_flow(&ledger, &ctx()).await;
    let mut projector = MemoryProjector::new();
    projector.catch_up(ledger.repository()).await.unwrap();
    customer_flow(&ledger, &ctx()).await;
    projector.register(ArrivalOrder);
    let head = projector.catch_up(ledger.repository()).await.unwrap();
    assert_eq!(head, 2 * EVENTS_PER_FLOW);
    let arrivals = projector
        .view(&ArrivalOrder)
        .unwrap()
        .get(ARRIVALS)
        .unwrap();
    assert_in_log_order(arrivals, head);
    assert_eq!(projector.audit().len(), 2 * 26);
}
