//! What an identity, account or order depends on: an institution waits until its members are
//! mirrored and is then created with their Paxos ids; whatever depends on something Paxos
//! permanently refused is never sent, and that is recorded where it can be seen.

use onboarding_ledger::domain::vocab::IdentityStatus;
use onboarding_ledger::domain::{event_names, Decision, DecisionSource, IdentityId};
use onboarding_ledger::projections::views::MirrorState;
use onboarding_ledger::{CommandContext, Ledger};
use onboarding_mirror::{Checkpoints, MirrorOptions, MirrorWorker};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::support::*;

fn unique_ein() -> String {
    let ssn = unique_ssn().replace('-', "");
    format!("{}-{}", &ssn[..2], &ssn[2..])
}

fn institution_json(owner: IdentityId, control: IdentityId, ein: &str) -> String {
    json!({
        "institution_details": {
            "name": "Quint Robotics Inc",
            "business_address": {
                "country": "USA", "address1": "200 Market Street", "city": "San Francisco",
                "province": "CA", "zip_code": "94105"
            },
            "incorporation_address": {
                "country": "USA", "address1": "251 Little Falls Drive", "city": "Wilmington",
                "province": "DE", "zip_code": "19808"
            },
            "institution_type": "CORPORATION",
            "institution_sub_type": "MANUFACTURING",
            "cip_id": ein,
            "cip_id_type": "EIN",
            "cip_id_country": "USA",
            "govt_registration_date": "2019-03-01",
            "regulation_status": "NON_REGULATED",
            "trading_type": "PRIVATE",
            "business_description": "Industrial robotics design and manufacturing"
        },
        "institution_members": [
            { "identity_id": owner.to_string(), "roles": ["BENEFICIAL_OWNER"], "ownership": "60" },
            { "identity_id": control.to_string(),
              "roles": ["MANAGEMENT_CONTROL_PERSON", "ACCOUNT_OPENER"], "position": "CEO" }
        ],
        "customer_due_diligence": {
            "source_of_wealth": "BUSINESS_OWNERSHIP_DIVIDENDS",
            "source_of_funds": "BUSINESS_DIVIDENDS_PROFITS",
            "industry_sector": "MANUFACTURING",
            "has_underlying_trust_structure": false,
            "has_nominee_shareholders": false
        },
        "tax_details": [{ "tax_payer_id": ein, "tax_payer_country": "USA" }]
    })
    .to_string()
}

/// A worker that mirrors only the events of `correlation`, keeping its place in memory.
fn scoped(w: &World, correlation: &str) -> MirrorWorker {
    MirrorWorker::new(
        w.ledger.clone(),
        w.paxos.clone(),
        Checkpoints::Memory(Default::default()),
        MirrorOptions {
            correlation: Some(correlation.to_owned()),
            ..MirrorOptions::default()
        },
    )
}

fn in_flow(correlation: &str) -> CommandContext {
    CommandContext::new("integration-test", "test").with_correlation_id(correlation)
}

async fn submit_person_in(ledger: &Ledger, correlation: &str) -> IdentityId {
    ledger
        .submit_identity_json(&in_flow(correlation), &person_json(&unique_ssn(), "Quint"))
        .await
        .expect("a valid person")
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn an_institution_waits_for_its_members_then_is_created_with_their_paxos_ids(pool: PgPool) {
    let w = world(&pool).await;
    // The members belong to one flow, the corporation to another; each flow's mirror sees only
    // its own events, so the corporation's mirror meets members nobody mirrored yet.
    let owner = submit_person_in(&w.ledger, "members").await;
    let control = submit_person_in(&w.ledger, "members").await;
    let ein = unique_ein();
    let corporation = w
        .ledger
        .submit_identity_json(
            &in_flow("corporation"),
            &institution_json(owner, control, &ein),
        )
        .await
        .expect("a valid institution");
    let corporation_mirror = scoped(&w, "corporation");

    let report = corporation_mirror.run_once().await.expect("the pass runs");
    let waiting = report.waiting.clone().expect("it waits");
    assert!(waiting.contains("not mirrored yet"), "{waiting}");
    assert!(waiting.contains(&owner.to_string()) && waiting.contains(&control.to_string()));
    assert!(requests(&w.sandbox, "POST", "/identity/identities").is_empty());
    // Waiting is not giving up: again and again it waits at the same place.
    let again = corporation_mirror.run_once().await.expect("the pass runs");
    assert_eq!(again.checkpoint, report.checkpoint);
    assert!(again.waiting.is_some());
    let identity = w.ledger.identity(corporation).await.unwrap().unwrap();
    assert!(identity.paxos_identity_id().is_none() && !identity.mirror_rejected());

    // The members are mirrored; the corporation follows with their Paxos ids.
    let members_report = scoped(&w, "members")
        .run_once()
        .await
        .expect("the pass runs");
    assert_eq!(members_report.waiting, None);
    let (p_owner, p_control) = (
        paxos_identity_id(&w, owner).await,
        paxos_identity_id(&w, control).await,
    );
    let report = corporation_mirror.run_once().await.expect("the pass runs");
    assert_eq!(report.waiting, None, "{report:?}");

    let posts = requests(&w.sandbox, "POST", "/identity/identities");
    assert_eq!(posts.len(), 3);
    let body = posts[2].body.clone().expect("a JSON body");
    let expected: Value = json!({
        "ref_id": corporation.to_string(),
        "institution_details": {
            "name": "Quint Robotics Inc",
            "business_address": {
                "country": "USA", "address1": "200 Market Street", "city": "San Francisco",
                "province": "CA", "zip_code": "94105"
            },
            "incorporation_address": {
                "country": "USA", "address1": "251 Little Falls Drive", "city": "Wilmington",
                "province": "DE", "zip_code": "19808"
            },
            "institution_type": "CORPORATION",
            "institution_sub_type": "MANUFACTURING",
            "cip_id": ein,
            "cip_id_type": "EIN",
            "cip_id_country": "USA",
            "govt_registration_date": "2019-03-01T00:00:00Z",
            "regulation_status": "NON_REGULATED",
            "trading_type": "PRIVATE",
            "business_description": "Industrial robotics design and manufacturing"
        },
        "institution_members": [
            { "identity_id": p_owner, "roles": ["BENEFICIAL_OWNER"], "ownership": "60" },
            // Roles are a set in the ledger: sent in their canonical order.
            { "identity_id": p_control,
              "roles": ["ACCOUNT_OPENER", "MANAGEMENT_CONTROL_PERSON"], "position": "CEO" }
        ],
        "customer_due_diligence": {
            "source_of_wealth": "BUSINESS_OWNERSHIP_DIVIDENDS",
            "source_of_funds": "BUSINESS_DIVIDENDS_PROFITS",
            "industry_sector": "MANUFACTURING",
            "has_underlying_trust_structure": false,
            "has_nominee_shareholders": false
        },
        "tax_details": [{ "tax_payer_id": ein, "tax_payer_country": "USA" }]
    });
    assert_eq!(body, expected, "{body:#}");
    let p_corporation = paxos_identity_id(&w, corporation).await;
    let at_paxos = w.sandbox.identity(&p_corporation).expect("created");
    assert_eq!(at_paxos["ref_id"], corporation.to_string());
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn an_account_and_order_of_a_refused_identity_are_never_sent_and_that_is_recorded(
    pool: PgPool,
) {
    let w = world(&pool).await;
    let ssn = unique_ssn();
    // Another integrator holds this cip_id at Paxos: Create Identity is refused for good.
    let foreign = onboarding_ledger::domain::IdentityDraft::from_json(&person_json(&ssn, "Other"))
        .and_then(onboarding_ledger::domain::IdentityDraft::parse)
        .expect("a valid draft");
    let foreign = onboarding_paxos::mapping::create_identity(
        IdentityId::new(),
        &foreign,
        &std::collections::BTreeMap::new(),
    )
    .expect("a request");
    w.paxos.create_identity(&foreign).await.expect("created");
    let id = w
        .ledger
        .submit_identity_json(&ctx(), &person_json(&ssn, "Quint"))
        .await
        .unwrap();
    assert_eq!(mirror_all(&w).await.rejected, 1);

    // The integrator's own compliance approves; the ledger lets the customer trade.
    w.ledger
        .record_decision(
            &ctx(),
            id,
            Decision::Approved,
            DecisionSource::ComplianceOfficer {
                officer: "officer-1".to_owned(),
            },
            Some("manual review".to_owned()),
        )
        .await
        .expect("approved");
    let opened = open_account(&w, id).await;
    fund_sandbox(&w, opened.profile_id, "fund-1", "1000").await;
    let order_id = w
        .ledger
        .place_order(&ctx(), opened.profile_id, market_buy("400"))
        .await
        .expect("placed");
    let sent_before = w.sandbox.requests().len();

    let report = mirror_all(&w).await;
    assert_eq!(report.rejected, 3, "account, deposit, order: {report:?}");
    assert_eq!(report.open_orders, 0);
    let stats = w.sandbox.stats();
    assert_eq!((stats.accounts, stats.deposits, stats.orders), (0, 0, 0));
    assert_eq!(
        w.sandbox.requests().len(),
        sent_before,
        "nothing sent to Paxos"
    );

    // Recorded on each aggregate, with the operation and why.
    let account = w.ledger.account(opened.account_id).await.unwrap();
    assert!(account.mirror_rejected() && account.paxos_ids().is_none());
    let account_events = events(
        &w.ledger,
        event_names::ACCOUNT,
        &opened.account_id.to_string(),
    )
    .await;
    let rejected = account_events
        .iter()
        .find(|e| e.event_type == event_names::ACCOUNT_MIRROR_REJECTED)
        .expect("the account's rejection");
    let r = &rejected.payload["MirrorRejected"];
    assert_eq!(r["operation"], "CreateAccount");
    assert_eq!(r["reference"], opened.account_id.to_string());
    assert_eq!(r["problem_type"], "dependency-not-mirrored");
    let profile = w.ledger.profile(opened.profile_id).await.unwrap().unwrap();
    assert!(profile.mirror_rejected("CreateSandboxDeposit", "fund-1"));
    assert!(profile.mirror_rejected("CreateOrder", &order_id.to_string()));
    // Paxos will never fill the order: it is closed and its hold released.
    assert_eq!(
        profile.closed_orders()[&order_id].outcome.as_str(),
        "REJECTED"
    );
    let usd = profile.balance(&"USD".parse().unwrap());
    assert_eq!((usd.available, usd.held), (amount("1000"), amount("0")));

    // Visible in the read models: the identity's mirror state and its audit trail.
    w.ledger.catch_up().await.expect("projected");
    let row = w.ledger.identity_status(id).await.unwrap().expect("a row");
    assert_eq!(row.mirror, MirrorState::Rejected);
    assert_eq!(row.status, IdentityStatus::Approved);
    let trail = w.ledger.audit_trail(Some(id), None).await.unwrap();
    for kind in [
        event_names::IDENTITY_MIRROR_REJECTED,
        event_names::ACCOUNT_MIRROR_REJECTED,
        event_names::PROFILE_MIRROR_REJECTED,
    ] {
        assert!(
            trail
                .iter()
                .any(|e| e.event_type == kind && e.actor == "paxos-mirror"),
            "{kind} in the audit trail"
        );
    }

    // Another pass sends nothing and records nothing more.
    let written = |evs: &[onboarding_ledger::RecordedEvent]| evs.len();
    let profile_events = written(
        &events(
            &w.ledger,
            event_names::PROFILE,
            &opened.profile_id.to_string(),
        )
        .await,
    );
    mirror_all(&w).await;
    assert_eq!(w.sandbox.requests().len(), sent_before);
    assert_eq!(
        written(
            &events(
                &w.ledger,
                event_names::PROFILE,
                &opened.profile_id.to_string()
            )
            .await
        ),
        profile_events
    );
}
