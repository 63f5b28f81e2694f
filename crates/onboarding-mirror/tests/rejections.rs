//! Permanent refusals are recorded as events with the problem's type and status, never with
//! Paxos's free text.

use onboarding_ledger::domain::event_names;
use sqlx::PgPool;

use crate::support::*;

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_cip_id_taken_at_paxos_is_recorded_as_a_rejection(pool: PgPool) {
    let w = world(&pool).await;
    let ssn = unique_ssn();
    // Someone else (another integrator's ref_id) already holds this cip_id at Paxos.
    let submission =
        onboarding_ledger::domain::IdentityDraft::from_json(&person_json(&ssn, "Other"))
            .and_then(onboarding_ledger::domain::IdentityDraft::parse)
            .expect("a valid draft");
    let foreign = onboarding_paxos::mapping::create_identity(
        onboarding_ledger::domain::IdentityId::new(),
        &submission,
        &std::collections::BTreeMap::new(),
    )
    .expect("a request");
    w.paxos.create_identity(&foreign).await.expect("created");

    let id = w
        .ledger
        .submit_identity_json(&ctx(), &person_json(&ssn, "Quint"))
        .await
        .unwrap();
    let report = mirror_all(&w).await;
    assert_eq!(report.rejected, 1);
    let identity = w.ledger.identity(id).await.unwrap().unwrap();
    assert!(identity.paxos_identity_id().is_none());
    assert!(identity.mirror_rejected());
    let events = w
        .ledger
        .events_of(event_names::IDENTITY, &id.to_string())
        .await
        .unwrap();
    let rejected = events
        .iter()
        .find(|e| e.event_type == event_names::IDENTITY_MIRROR_REJECTED)
        .expect("a rejection event");
    let r = &rejected.payload["MirrorRejected"];
    assert_eq!(r["operation"], "CreateIdentity");
    assert_eq!(r["reference"], id.to_string());
    assert_eq!(r["status"], 409);
    assert_eq!(r["problem_type"], "already-exists");
    assert!(
        !rejected.payload.to_string().contains(&ssn),
        "no PII in the rejection"
    );
    // Another pass neither calls Paxos again nor records a second rejection.
    let before = w.sandbox.requests().len();
    mirror_all(&w).await;
    assert_eq!(w.sandbox.requests().len(), before);
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn an_order_paxos_refuses_is_recorded_and_its_hold_released(pool: PgPool) {
    let w = world(&pool).await;
    let (_, opened) = mirrored_account(&w).await;
    // The ledger has funds that Paxos never received (a real deposit is not mirrored).
    fund_with(
        &w,
        opened.profile_id,
        "wire-1",
        ("USD", "1000"),
        onboarding_ledger::domain::FundingMethod::Deposit,
    )
    .await;
    let order_id = w
        .ledger
        .place_order(&ctx(), opened.profile_id, market_buy("500"))
        .await
        .unwrap();
    let report = mirror_all(&w).await;
    assert_eq!(report.rejected, 1);
    let profile = w.ledger.profile(opened.profile_id).await.unwrap().unwrap();
    assert!(profile.mirror_rejected("CreateOrder", &order_id.to_string()));
    assert!(profile.open_orders().is_empty());
    let usd = profile.balance(&"USD".parse().unwrap());
    assert_eq!(usd.available, amount("1000"), "the hold is released");
    let types = event_types(
        &w.ledger,
        event_names::PROFILE,
        &opened.profile_id.to_string(),
    )
    .await;
    assert!(types.contains(&event_names::PROFILE_MIRROR_REJECTED.to_owned()));
}
