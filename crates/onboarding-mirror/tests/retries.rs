//! Transient failures are retried without duplicate Paxos resources; a 409 for our own
//! `ref_id` counts as success.

use std::time::Duration;

use axum::http::StatusCode;
use onboarding_paxos::mapping;
use onboarding_paxos::model::{OrderStatus, SandboxDepositRequest};
use rust_decimal::Decimal;
use sqlx::PgPool;

use crate::support::*;

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_create_answered_with_5xx_after_taking_effect_is_resolved_by_its_ref_id(pool: PgPool) {
    let w = world(&pool).await;
    let id = submit_person(&w.ledger).await;
    // The identity is created, the answer lost; the client's retry gets 409 for our ref_id.
    w.sandbox
        .faults()
        .fail_next_after_handling(1, StatusCode::BAD_GATEWAY);
    mirror_all(&w).await;
    assert_eq!(w.sandbox.stats().identities, 1, "no duplicate identity");
    let posts = requests(&w.sandbox, "POST", "/identity/identities");
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[1].status, 409);
    let paxos_id = paxos_identity_id(&w, id).await;
    assert!(w.sandbox.identity(&paxos_id).is_some());
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn failures_beyond_the_retries_wait_at_their_position_and_resume(pool: PgPool) {
    let w = world(&pool).await;
    let id = submit_person(&w.ledger).await;
    // More 503s than the client retries: the pass stops before the event and keeps its place.
    w.sandbox
        .faults()
        .fail_next(4, StatusCode::SERVICE_UNAVAILABLE);
    let report = w.mirror.run_once().await.expect("the pass runs");
    assert!(report.waiting.is_some(), "{report:?}");
    assert_eq!(report.checkpoint, 0);
    assert_eq!(w.sandbox.stats().identities, 0);
    // 429s are waited out within the pass.
    w.sandbox
        .faults()
        .rate_limit_next(2, Duration::from_secs(0));
    mirror_all(&w).await;
    assert_eq!(w.sandbox.stats().identities, 1);
    paxos_identity_id(&w, id).await;
}

/// A 403 for insufficient scopes is the client's configuration, not the request: the request
/// waits at its position for the credentials to be fixed, instead of being refused for good.
#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_403_for_missing_scopes_waits_at_its_position_instead_of_rejecting(pool: PgPool) {
    let w = world(&pool).await;
    let id = submit_person(&w.ledger).await;
    w.sandbox
        .faults()
        .push(paxos_sandbox::Fault::MissingScope, 1);
    let report = w.mirror.run_once().await.expect("the pass runs");
    assert!(report.waiting.is_some(), "{report:?}");
    assert_eq!(report.checkpoint, 0);
    assert_eq!(w.sandbox.stats().identities, 0);
    // Once Paxos accepts the client, the same request goes through.
    mirror_all(&w).await;
    assert_eq!(w.sandbox.stats().identities, 1);
    paxos_identity_id(&w, id).await;
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_timed_out_deposit_that_took_effect_is_not_repeated(pool: PgPool) {
    let w = world(&pool).await;
    let (_, opened) = mirrored_account(&w).await;
    fund_sandbox(&w, opened.profile_id, "fund-slow", "700").await;

    // A mirror whose client gives up after 300 ms; the sandbox deposits, then answers late.
    let impatient = onboarding_mirror::MirrorWorker::new(
        w.ledger.clone(),
        client(&w.sandbox, Duration::from_millis(300)),
        onboarding_mirror::Checkpoints::for_ledger(&w.ledger),
        onboarding_mirror::MirrorOptions::default(),
    );
    // The balance read before the deposit is answered on time; the deposit is delayed.
    w.sandbox
        .faults()
        .push(paxos_sandbox::Fault::DelayAfterHandling(Duration::ZERO), 1);
    w.sandbox.faults().push(
        paxos_sandbox::Fault::DelayAfterHandling(Duration::from_secs(1)),
        1,
    );
    let report = impatient.run_once().await.expect("the pass runs");
    assert_eq!(report.waiting, None, "{report:?}");
    assert_eq!(w.sandbox.stats().deposits, 1, "deposited exactly once");
    let profile = w.ledger.profile(opened.profile_id).await.unwrap().unwrap();
    assert_eq!(
        profile.paxos_mirrored("CreateSandboxDeposit", "fund-slow"),
        Some(None),
        "recorded as mirrored, without an activity id"
    );
    // Another pass does not deposit again.
    mirror_all(&w).await;
    assert_eq!(w.sandbox.stats().deposits, 1);
}

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_deposit_waits_when_the_paxos_balance_is_too_large_to_add_up(pool: PgPool) {
    let w = world(&pool).await;
    let (id, opened) = mirrored_account(&w).await;
    let paxos_identity = paxos_identity_id(&w, id).await;
    let account = w.ledger.account(opened.account_id).await.unwrap();
    let (paxos_account, paxos_profile) = account.paxos_ids().expect("linked");
    let (paxos_account, paxos_profile) = (paxos_account.to_owned(), paxos_profile.to_owned());

    // At Paxos: the largest USD amount a decimal holds available, plus one USD held by an
    // open limit order (1 BTC at 1 USD, far below the market), so available + trading overflows.
    let deposit = |amount| SandboxDepositRequest {
        asset: "USD".to_owned(),
        amount,
        crypto_network: None,
    };
    w.paxos
        .sandbox_deposit(&paxos_profile, &deposit(Decimal::MAX))
        .await
        .unwrap();
    let order = mapping::create_order(&limit_buy("1", "1"), &paxos_identity, &paxos_account);
    let open = w.paxos.create_order(&paxos_profile, &order).await.unwrap();
    assert_eq!(open.status, Some(OrderStatus::Open));
    w.paxos
        .sandbox_deposit(&paxos_profile, &deposit(Decimal::ONE))
        .await
        .unwrap();

    fund_sandbox(&w, opened.profile_id, "fund-1", "10").await;
    let report = w.mirror.run_once().await.expect("the pass runs");
    let waiting = report.waiting.expect("the deposit waits at its position");
    assert!(waiting.contains("too large to add up"), "{waiting}");
    assert!(!waiting.contains("Quint"), "no personal data: {waiting}");
    assert_eq!(
        w.sandbox.stats().deposits,
        2,
        "the funding was not deposited"
    );
}

/// Paxos needs a crypto deposit's network; for an asset whose network is not known the deposit
/// is refused here, recorded, and never sent (Paxos would refuse it anyway).
#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn a_deposit_of_an_asset_with_no_known_network_is_refused_before_sending(pool: PgPool) {
    let w = world(&pool).await;
    let (_, opened) = mirrored_account(&w).await;
    fund_with(
        &w,
        opened.profile_id,
        "fund-doge",
        ("DOGE", "5"),
        onboarding_ledger::domain::FundingMethod::SandboxTestFunds,
    )
    .await;
    mirror_all(&w).await;

    assert_eq!(w.sandbox.stats().deposits, 0);
    assert!(
        !w.sandbox
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/deposit")),
        "no deposit was sent"
    );
    let profile = w.ledger.profile(opened.profile_id).await.unwrap().unwrap();
    assert!(profile.mirror_rejected("CreateSandboxDeposit", "fund-doge"));
}
