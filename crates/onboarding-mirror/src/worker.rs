//! The mirror worker: follows the global log after commit from its own checkpoint and makes
//! Paxos match it, one event at a time, in log order.
//!
//! - `IdentitySubmitted` → Create Identity (members by their Paxos ids), then
//!   `link_paxos_identity`. `AccountOpened` → Create Account with `create_profile`, then
//!   `link_paxos_account`. `ProfileFunded` (sandbox test funds) → sandbox deposit, then a
//!   `ProfilePaxosMirrored` fact. `OrderPlaced` → Create Order for the owner's Paxos identity
//!   and account, a `ProfilePaxosMirrored` fact with the Paxos order id, and polling until the
//!   order is final (`record_order_update` settles fills, correlated with the placement and
//!   caused by `paxos-order:{id}`). After a restart, open orders are found again from those
//!   facts, before the checkpoint at the start and in the log as the pass meets them. `IdentityDisabled` → Update
//!   Identity `set_user_disabled`.
//! - At-least-once, exactly-once in effect: every create carries the ledger id as `ref_id`
//!   (a 409 for it resolves the existing resource) and every ledger command the mirror sends
//!   is idempotent, so a crash between a Paxos call and the checkpoint repeats harmlessly.
//! - An event that cannot be mirrored yet (a transient Paxos failure, a member or owner not
//!   mirrored yet) stops the pass at its position; the next pass starts there again. A
//!   permanent refusal is recorded as a `*MirrorRejected` event and the pass moves on.
//! - No database transaction is open across a Paxos call: the checkpoint is saved with one
//!   autocommit statement after each event.
//!
//! Sandbox deposits carry no `ref_id`. The worker skips a funding whose
//! `ProfilePaxosMirrored` fact exists; after an ambiguous failure (timeout, 5xx, transport) it
//! compares the Paxos balance of the asset with the one read just before the call, and counts
//! the deposit as done when the balance grew by the amount. A crash between the call and that
//! check can still deposit twice on retry, and an order of the same profile filling between the
//! two balance reads can mislead the comparison either way (a fill crediting the asset passes
//! for the deposit; one debiting it hides the deposit, which is then made again): sandbox test
//! money only, and the API offers no idempotency key or listing that would tell for sure.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use onboarding_ledger::domain::profile::ReportedOrderState;
use onboarding_ledger::domain::{
    AccountEvent, Amount, FundingMethod, IdentityEvent, IdentityId, MirrorRejection, OrderId,
    OrderRequest, PaxosMirrored, ProfileEvent, ProfileId,
};
use onboarding_ledger::projections::{DomainEvent, ProjectedEvent};
use onboarding_ledger::{CommandContext, Ledger, RecordedEvent};
use onboarding_paxos::mapping::{self, OrderProgress};
use onboarding_paxos::model::Balance;
use onboarding_paxos::{Error as PaxosError, PaxosClient};
use rust_decimal::Decimal;
use tokio_util::sync::CancellationToken;

use crate::checkpoint::{Checkpoints, Lease, MIRROR_CHECKPOINT};
use crate::error::MirrorError;
use crate::lock;

/// How long [`MirrorWorker::run_once`] waits for committed events to be sequenced.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Operation names recorded in mirror facts and rejections.
pub mod operation {
    /// `POST /identity/identities`.
    pub const CREATE_IDENTITY: &str = "CreateIdentity";
    /// `PUT /identity/identities/{id}` (disable).
    pub const UPDATE_IDENTITY: &str = "UpdateIdentity";
    /// `POST /identity/accounts`.
    pub const CREATE_ACCOUNT: &str = "CreateAccount";
    /// `POST /sandbox/profiles/{id}/deposit`.
    pub const SANDBOX_DEPOSIT: &str = "CreateSandboxDeposit";
    /// `POST /profiles/{id}/orders`.
    pub const CREATE_ORDER: &str = "CreateOrder";
}

/// How the worker paces itself.
#[derive(Debug, Clone)]
pub struct MirrorOptions {
    /// Log events read per batch.
    pub batch: usize,
    /// The pause between passes of [`MirrorWorker::run`].
    pub interval: Duration,
    /// Mirror only the events of this correlation id, skipping every other (a private mirror,
    /// e.g. `onboarding demo` with its own sandbox on a shared database); every event when
    /// `None`. Such a mirror should keep its place in [`Checkpoints::Memory`], not in the
    /// shared `paxos_mirror` checkpoint.
    pub correlation: Option<String>,
}

impl Default for MirrorOptions {
    fn default() -> Self {
        Self {
            batch: 100,
            interval: Duration::from_millis(500),
            correlation: None,
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorReport {
    /// The checkpoint after the pass.
    pub checkpoint: i64,
    /// Log events handled (mirrored, skipped or rejected).
    pub handled: usize,
    /// Permanent rejections recorded.
    pub rejected: usize,
    /// Why the pass stopped before the head, if it did (it resumes there next time).
    pub waiting: Option<String>,
    /// Orders still open at Paxos, polled each pass.
    pub open_orders: usize,
}

/// An order mirrored and not final yet.
#[derive(Debug, Clone)]
struct TrackedOrder {
    profile: ProfileId,
    paxos_profile: String,
    paxos_order: String,
    /// The correlation of the order's placement, carried by the updates the polls record.
    correlation: String,
}

/// What handling one log event came to.
enum Step {
    Done,
    Rejected,
    Wait(String),
}

/// The mirror worker. One runs at a time per database (a lease); cheap to share in an `Arc`.
pub struct MirrorWorker {
    ledger: Arc<Ledger>,
    paxos: PaxosClient,
    checkpoints: Checkpoints,
    options: MirrorOptions,
    orders: Mutex<Option<BTreeMap<OrderId, TrackedOrder>>>,
}

impl std::fmt::Debug for MirrorWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MirrorWorker")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

fn ctx(record: &RecordedEvent, why: &str) -> CommandContext {
    CommandContext::new("paxos-mirror", "paxos-mirror")
        .with_reason(why.to_owned())
        .with_correlation_id(record.metadata.correlation_id.clone())
        .caused_by(format!("log:{}", record.position))
}

/// Turns a Paxos failure into a step: transient or configuration problems wait (the position
/// is retried; a 403 for a missing scope is configuration), rejections of the request are
/// permanent.
fn classify(
    operation: &str,
    reference: String,
    error: PaxosError,
) -> Result<MirrorRejection, String> {
    let (status, problem_type) = match &error {
        PaxosError::AlreadyExists { problem, .. } => (409, problem.slug().map(str::to_owned)),
        PaxosError::InsufficientFunds { .. } => (403, Some("insufficient-funds".to_owned())),
        PaxosError::Validation {
            status, problem, ..
        } => (*status, problem.slug().map(str::to_owned)),
        // A business refusal, named or not (a missing scope is `Unauthorized`: it waits).
        PaxosError::Forbidden { problem_type, .. } => (403, problem_type.clone()),
        PaxosError::NotFound => (404, None),
        PaxosError::Rejected { status, problem } if (400..500).contains(status) => {
            (*status, problem.slug().map(str::to_owned))
        }
        other => return Err(format!("{operation} {reference}: {other}")),
    };
    Ok(MirrorRejection {
        operation: operation.to_owned(),
        reference,
        problem_type,
        status: Some(status),
        // Display of a Paxos error never includes the problem's detail or meta.
        reason: error.to_string(),
    })
}

/// A refusal made here, before any call: `problem` is [`DEPENDENCY_NOT_MIRRORED`] or
/// [`NOT_MAPPABLE`].
fn local_rejection(
    operation: &str,
    reference: String,
    problem: &str,
    reason: String,
) -> MirrorRejection {
    MirrorRejection {
        operation: operation.to_owned(),
        reference,
        problem_type: Some(problem.to_owned()),
        status: None,
        reason,
    }
}

/// The problem type of a request not sent because something it needs was refused by Paxos.
const DEPENDENCY_NOT_MIRRORED: &str = "dependency-not-mirrored";

/// The problem type of a request not sent because a value has no Paxos equivalent.
const NOT_MAPPABLE: &str = "not-mappable";

/// Why a deposit waits when Paxos reports balances too large to add up: the deposit cannot be
/// checked against them, so it waits at its position rather than guess (or panic).
const BALANCE_OVERFLOW: &str = "the asset's Paxos balance is too large to add up";

/// Available plus trading of `asset` over `balances`, or `None` if the sum overflows a
/// `Decimal` (Paxos's numbers are not ours to trust: `+` on them would panic).
fn asset_total(balances: &[Balance], asset: &str) -> Option<Decimal> {
    balances
        .iter()
        .filter(|b| b.asset.eq_ignore_ascii_case(asset))
        .try_fold(Decimal::ZERO, |total, b| {
            total
                .checked_add(b.available.unwrap_or_default())?
                .checked_add(b.trading.unwrap_or_default())
        })
}

/// Whether a balance went from `before` to `after` by at least `amount`; `None` when the
/// difference overflows a `Decimal`.
fn grew_by(before: Decimal, after: Decimal, amount: Decimal) -> Option<bool> {
    after.checked_sub(before).map(|grown| grown >= amount)
}

/// Identity ids as people read them, comma separated.
fn listed(ids: &[IdentityId]) -> String {
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    ids.join(", ")
}

/// Paxos ids of ledger identities, or which are missing and whether any of those was refused.
enum Resolved {
    Ids(BTreeMap<IdentityId, String>),
    Missing {
        rejected: bool,
        ids: Vec<IdentityId>,
    },
}

impl MirrorWorker {
    /// A worker mirroring `ledger` to `paxos`, keeping its checkpoint in `checkpoints`.
    pub fn new(
        ledger: Arc<Ledger>,
        paxos: PaxosClient,
        checkpoints: Checkpoints,
        options: MirrorOptions,
    ) -> Self {
        Self {
            ledger,
            paxos,
            checkpoints,
            options,
            orders: Mutex::new(None),
        }
    }

    /// Runs passes until `shutdown` is cancelled, holding the lease throughout.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), MirrorError> {
        let mut lease = self
            .checkpoints
            .try_lease(MIRROR_CHECKPOINT)
            .await?
            .ok_or(MirrorError::LeaseHeld(MIRROR_CHECKPOINT))?;
        loop {
            // A lease lost (its session ended) or a checkpoint moved by another mirror stops
            // this one: two must never mirror the same events.
            lease.check().await?;
            match self.pass(&mut lease).await {
                Ok(report) if report.waiting.is_some() => {
                    tracing::info!(waiting = ?report.waiting, "mirror waiting")
                }
                Ok(_) => {}
                Err(e @ MirrorError::LeaseLost(_)) => return Err(e),
                Err(e) => tracing::warn!(error = %e, "mirror pass failed; retrying"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return lease.release().await,
                () = tokio::time::sleep(self.options.interval) => {}
            }
        }
    }

    /// One pass under the lease: mirrors the log from the checkpoint to the head as of this
    /// call (every event committed before it, or up to the first event that must wait), then
    /// polls the open orders once.
    pub async fn run_once(&self) -> Result<MirrorReport, MirrorError> {
        let mut lease = self
            .checkpoints
            .try_lease(MIRROR_CHECKPOINT)
            .await?
            .ok_or(MirrorError::LeaseHeld(MIRROR_CHECKPOINT))?;
        let report = match crate::checkpoint::settle_log(&self.ledger, SETTLE_TIMEOUT).await {
            Ok(()) => self.pass(&mut lease).await,
            Err(e) => Err(e),
        };
        lease.release().await?;
        report
    }

    /// Mirrors from the checkpoint on. The lease is checked before each event is mirrored, so
    /// that a mirror whose lease ended stops at once; should the checkpoint still have moved
    /// under it (a mirror that had lost its lease, between its check and its write), the pass
    /// ends and the next one starts from where the checkpoint now is.
    async fn pass(&self, lease: &mut Lease) -> Result<MirrorReport, MirrorError> {
        let mut report = MirrorReport {
            checkpoint: self.checkpoints.load(MIRROR_CHECKPOINT).await?,
            ..MirrorReport::default()
        };
        self.restore_orders(report.checkpoint).await?;
        'log: loop {
            let batch = self
                .ledger
                .read_log(report.checkpoint, self.options.batch)
                .await?;
            if batch.is_empty() {
                break;
            }
            for record in batch {
                let position = record.position;
                lease.check().await?;
                match self.mirror(record).await? {
                    Step::Done => {}
                    Step::Rejected => report.rejected += 1,
                    Step::Wait(why) => {
                        report.waiting = Some(why);
                        break 'log;
                    }
                }
                report.handled += 1;
                match (self.checkpoints)
                    .advance(MIRROR_CHECKPOINT, report.checkpoint, position)
                    .await
                {
                    Ok(()) => report.checkpoint = position,
                    Err(MirrorError::LeaseLost(_)) => {
                        // Moved by a mirror that had lost its lease: if this one still holds
                        // it, start again from where the checkpoint now is.
                        lease.check().await?;
                        tracing::warn!(position, "mirror checkpoint moved by another mirror");
                        report.checkpoint = self.checkpoints.load(MIRROR_CHECKPOINT).await?;
                        break 'log;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        report.open_orders = self.poll_orders().await?;
        Ok(report)
    }

    async fn mirror(&self, record: RecordedEvent) -> Result<Step, MirrorError> {
        let position = record.position;
        if !self.in_scope(&record) {
            return Ok(Step::Done);
        }
        let projected = ProjectedEvent::decode(record).map_err(|e| MirrorError::Decode {
            position,
            reason: e.to_string(),
        })?;
        let record = &projected.record;
        match &projected.event {
            DomainEvent::Identity(IdentityEvent::IdentitySubmitted { id, .. }) => {
                self.create_identity(record, *id).await
            }
            DomainEvent::Identity(IdentityEvent::IdentityDisabled { .. }) => {
                let id: IdentityId = parse(&record.aggregate_id, position)?;
                self.disable_identity(record, id).await
            }
            DomainEvent::Account(AccountEvent::AccountOpened(opening)) => {
                self.create_account(record, opening).await
            }
            DomainEvent::Profile(ProfileEvent::ProfileFunded {
                funding_id,
                asset,
                amount,
                method: FundingMethod::SandboxTestFunds,
            }) => {
                let profile = parse(&record.aggregate_id, position)?;
                self.deposit(record, profile, funding_id, asset, *amount)
                    .await
            }
            DomainEvent::Profile(ProfileEvent::OrderPlaced { order, .. }) => {
                let profile = parse(&record.aggregate_id, position)?;
                self.create_order(record, profile, order).await
            }
            // An order created at Paxos by an earlier run that stopped before this position
            // (a crash, a restart): poll it from here on.
            DomainEvent::Profile(ProfileEvent::PaxosMirrored(fact)) => {
                if let Some((order, tracked)) = self.still_open(record, fact).await? {
                    self.track(order, tracked);
                }
                Ok(Step::Done)
            }
            _ => Ok(Step::Done),
        }
    }

    async fn resolve(
        &self,
        ids: impl IntoIterator<Item = IdentityId>,
    ) -> Result<Resolved, MirrorError> {
        let mut found = BTreeMap::new();
        let mut missing = Vec::new();
        let mut rejected = false;
        for id in ids {
            let identity = self.ledger.identity(id).await?;
            match identity.as_ref().and_then(|i| i.paxos_identity_id()) {
                Some(p) => {
                    found.insert(id, p.to_owned());
                }
                None => {
                    rejected |= identity.is_none_or(|i| i.mirror_rejected() || i.is_forgotten());
                    missing.push(id);
                }
            }
        }
        Ok(if missing.is_empty() {
            Resolved::Ids(found)
        } else {
            Resolved::Missing {
                rejected,
                ids: missing,
            }
        })
    }

    async fn create_identity(
        &self,
        record: &RecordedEvent,
        id: IdentityId,
    ) -> Result<Step, MirrorError> {
        let Some(identity) = self.ledger.identity(id).await? else {
            return Ok(Step::Done);
        };
        if identity.paxos_identity_id().is_some()
            || identity.mirror_rejected()
            || identity.is_forgotten()
        {
            return Ok(Step::Done);
        }
        let ctx = ctx(record, "mirror CreateIdentity");
        let ids = match self.resolve(identity.members().to_vec()).await? {
            Resolved::Ids(ids) => ids,
            Resolved::Missing {
                rejected: false,
                ids,
            } => {
                return Ok(Step::Wait(format!(
                    "identity {id}: members {} not mirrored yet",
                    listed(&ids)
                )))
            }
            Resolved::Missing {
                rejected: true,
                ids,
            } => {
                let rejection = local_rejection(
                    operation::CREATE_IDENTITY,
                    id.to_string(),
                    DEPENDENCY_NOT_MIRRORED,
                    format!("members {} cannot be mirrored", listed(&ids)),
                );
                self.ledger
                    .record_identity_mirror_rejection(&ctx, id, rejection)
                    .await?;
                return Ok(Step::Rejected);
            }
        };
        let submission = self.ledger.personal_data(id).await?;
        let request = match mapping::create_identity(id, &submission, &ids) {
            Ok(r) => r,
            Err(e) => {
                let rejection = local_rejection(
                    operation::CREATE_IDENTITY,
                    id.to_string(),
                    NOT_MAPPABLE,
                    e.to_string(),
                );
                self.ledger
                    .record_identity_mirror_rejection(&ctx, id, rejection)
                    .await?;
                return Ok(Step::Rejected);
            }
        };
        match self.paxos.ensure_identity(&request).await {
            Ok(created) => {
                self.ledger
                    .link_paxos_identity(&ctx, id, created.into_inner().id)
                    .await?;
                Ok(Step::Done)
            }
            Err(e) => match classify(operation::CREATE_IDENTITY, id.to_string(), e) {
                Ok(rejection) => {
                    self.ledger
                        .record_identity_mirror_rejection(&ctx, id, rejection)
                        .await?;
                    Ok(Step::Rejected)
                }
                Err(why) => Ok(Step::Wait(why)),
            },
        }
    }

    async fn disable_identity(
        &self,
        record: &RecordedEvent,
        id: IdentityId,
    ) -> Result<Step, MirrorError> {
        let Some(identity) = self.ledger.identity(id).await? else {
            return Ok(Step::Done);
        };
        let Some(paxos_id) = identity.paxos_identity_id() else {
            return Ok(if identity.mirror_rejected() || identity.is_forgotten() {
                Step::Done
            } else {
                Step::Wait(format!("identity {id} not mirrored yet"))
            });
        };
        match self.paxos.disable_identity(paxos_id).await {
            Ok(_) => Ok(Step::Done),
            Err(e) => match classify(operation::UPDATE_IDENTITY, id.to_string(), e) {
                Ok(rejection) => {
                    let ctx = ctx(record, "mirror UpdateIdentity");
                    self.ledger
                        .record_identity_mirror_rejection(&ctx, id, rejection)
                        .await?;
                    Ok(Step::Rejected)
                }
                Err(why) => Ok(Step::Wait(why)),
            },
        }
    }

    async fn create_account(
        &self,
        record: &RecordedEvent,
        opening: &onboarding_ledger::domain::AccountOpening,
    ) -> Result<Step, MirrorError> {
        let id = opening.account_id;
        let account = self.ledger.account(id).await?;
        if account.paxos_ids().is_some() || account.mirror_rejected() {
            return Ok(Step::Done);
        }
        let ctx = ctx(record, "mirror CreateAccount");
        let wanted =
            std::iter::once(opening.owner).chain(opening.members.iter().map(|m| m.identity_id));
        let ids = match self.resolve(wanted.collect::<Vec<_>>()).await? {
            Resolved::Ids(ids) => ids,
            Resolved::Missing {
                rejected: false,
                ids,
            } => {
                return Ok(Step::Wait(format!(
                    "account {id}: identities {} not mirrored yet",
                    listed(&ids)
                )))
            }
            Resolved::Missing {
                rejected: true,
                ids,
            } => {
                let rejection = local_rejection(
                    operation::CREATE_ACCOUNT,
                    id.to_string(),
                    DEPENDENCY_NOT_MIRRORED,
                    format!("identities {} cannot be mirrored", listed(&ids)),
                );
                self.ledger
                    .record_account_mirror_rejection(&ctx, id, rejection)
                    .await?;
                return Ok(Step::Rejected);
            }
        };
        let request = match mapping::create_account(opening, &ids) {
            Ok(r) => r,
            Err(e) => return Ok(Step::Wait(format!("account {id}: {e}"))),
        };
        match self.paxos.ensure_account(&request).await {
            Ok(created) => {
                let account = created.into_inner();
                let Some(profile) = account.profile_id else {
                    return Ok(Step::Wait(format!(
                        "account {id}: Paxos answered without a profile id"
                    )));
                };
                self.ledger
                    .link_paxos_account(&ctx, id, account.id, profile)
                    .await?;
                Ok(Step::Done)
            }
            Err(e) => match classify(operation::CREATE_ACCOUNT, id.to_string(), e) {
                Ok(rejection) => {
                    self.ledger
                        .record_account_mirror_rejection(&ctx, id, rejection)
                        .await?;
                    Ok(Step::Rejected)
                }
                Err(why) => Ok(Step::Wait(why)),
            },
        }
    }

    /// The Paxos account and profile of a ledger profile, or the step to take instead.
    async fn paxos_account(
        &self,
        record: &RecordedEvent,
        profile: ProfileId,
        operation: &str,
        reference: &str,
    ) -> Result<Result<(onboarding_ledger::domain::Profile, String, String), Step>, MirrorError>
    {
        let Some(state) = self.ledger.profile(profile).await? else {
            return Ok(Err(Step::Done));
        };
        let Some(account_id) = state.account_id() else {
            return Ok(Err(Step::Done));
        };
        let account = self.ledger.account(account_id).await?;
        match account.paxos_ids() {
            Some((a, p)) => {
                let (a, p) = (a.to_owned(), p.to_owned());
                Ok(Ok((state, a, p)))
            }
            None if account.mirror_rejected() => {
                let rejection = local_rejection(
                    operation,
                    reference.to_owned(),
                    DEPENDENCY_NOT_MIRRORED,
                    format!("account {account_id} cannot be mirrored"),
                );
                let ctx = ctx(record, "mirror rejection");
                self.ledger
                    .record_profile_mirror_rejection(&ctx, profile, rejection)
                    .await?;
                Ok(Err(Step::Rejected))
            }
            None => Ok(Err(Step::Wait(format!(
                "account {account_id} not mirrored yet"
            )))),
        }
    }

    async fn deposit(
        &self,
        record: &RecordedEvent,
        profile: ProfileId,
        funding_id: &str,
        asset: &onboarding_ledger::domain::Asset,
        amount: Amount,
    ) -> Result<Step, MirrorError> {
        let op = operation::SANDBOX_DEPOSIT;
        let (state, _, paxos_profile) =
            match self.paxos_account(record, profile, op, funding_id).await? {
                Ok(found) => found,
                Err(step) => return Ok(step),
            };
        if state.paxos_mirrored(op, funding_id).is_some() || state.mirror_rejected(op, funding_id) {
            return Ok(Step::Done);
        }
        let ctx = ctx(record, "mirror sandbox deposit");
        // A crypto asset whose network is unknown would be refused by Paxos: refused here.
        let request = match mapping::sandbox_deposit(asset, amount) {
            Ok(request) => request,
            Err(e) => {
                let rejection =
                    local_rejection(op, funding_id.to_owned(), NOT_MAPPABLE, e.to_string());
                self.ledger
                    .record_profile_mirror_rejection(&ctx, profile, rejection)
                    .await?;
                return Ok(Step::Rejected);
            }
        };
        let before = match self.balance(&paxos_profile, asset.as_str()).await {
            Ok(Some(b)) => b,
            Ok(None) => {
                return Ok(Step::Wait(format!(
                    "balances of profile {profile}: {BALANCE_OVERFLOW}"
                )))
            }
            Err(e) => return Ok(Step::Wait(format!("balances of profile {profile}: {e}"))),
        };
        let activity = match self.paxos.sandbox_deposit(&paxos_profile, &request).await {
            Ok(deposit) => deposit.activity_id,
            Err(
                e @ (PaxosError::Timeout | PaxosError::Server { .. } | PaxosError::Transport(_)),
            ) => {
                // Ambiguous: it may have taken effect. Only the balance can tell.
                let after = match self.balance(&paxos_profile, asset.as_str()).await {
                    Ok(Some(b)) => b,
                    Ok(None) | Err(_) => {
                        return Ok(Step::Wait(format!("deposit {funding_id}: {e}")))
                    }
                };
                match grew_by(before, after, amount.value()) {
                    Some(true) => None,
                    Some(false) => return Ok(Step::Wait(format!("deposit {funding_id}: {e}"))),
                    None => {
                        return Ok(Step::Wait(format!(
                            "deposit {funding_id}: {e}; {BALANCE_OVERFLOW}"
                        )))
                    }
                }
            }
            Err(e) => {
                return match classify(op, funding_id.to_owned(), e) {
                    Ok(rejection) => {
                        self.ledger
                            .record_profile_mirror_rejection(&ctx, profile, rejection)
                            .await?;
                        Ok(Step::Rejected)
                    }
                    Err(why) => Ok(Step::Wait(why)),
                }
            }
        };
        let fact = PaxosMirrored {
            operation: op.to_owned(),
            reference: funding_id.to_owned(),
            paxos_id: activity,
        };
        self.ledger
            .record_paxos_mirrored(&ctx, profile, fact)
            .await?;
        Ok(Step::Done)
    }

    /// Available plus trading of one asset at Paxos; `None` when that does not fit a `Decimal`.
    async fn balance(
        &self,
        paxos_profile: &str,
        asset: &str,
    ) -> Result<Option<Decimal>, PaxosError> {
        let balances = self.paxos.list_balances(paxos_profile).await?;
        Ok(asset_total(&balances, asset))
    }

    async fn create_order(
        &self,
        record: &RecordedEvent,
        profile: ProfileId,
        order: &OrderRequest,
    ) -> Result<Step, MirrorError> {
        let op = operation::CREATE_ORDER;
        let reference = order.order_id.to_string();
        let (state, paxos_account, paxos_profile) =
            match self.paxos_account(record, profile, op, &reference).await? {
                Ok(found) => found,
                Err(Step::Rejected) => {
                    // The account will never exist at Paxos, so neither will the order: release
                    // the ledger's hold, as for an order Paxos refuses.
                    let ctx = ctx(record, "mirror rejection");
                    self.release_refused(&ctx, profile, order.order_id, "account not mirrored")
                        .await?;
                    return Ok(Step::Rejected);
                }
                Err(step) => return Ok(step),
            };
        if state.mirror_rejected(op, &reference) || state.paxos_mirrored(op, &reference).is_some() {
            return Ok(Step::Done); // tracked by restore_orders when still open
        }
        if !state.open_orders().contains_key(&order.order_id) {
            return Ok(Step::Done); // closed in the ledger before it was mirrored
        }
        let owner = state.owner().into_iter().collect::<Vec<_>>();
        let paxos_identity = match self.resolve(owner).await? {
            Resolved::Ids(ids) => ids.into_values().next().unwrap_or_default(),
            Resolved::Missing { ids, .. } => {
                return Ok(Step::Wait(format!(
                    "order {reference}: owner {} not mirrored",
                    listed(&ids)
                )))
            }
        };
        let ctx = ctx(record, "mirror CreateOrder");
        let request = mapping::create_order(order, &paxos_identity, &paxos_account);
        match self.paxos.ensure_order(&paxos_profile, &request).await {
            Ok(created) => {
                let paxos_order = created.into_inner();
                let fact = PaxosMirrored {
                    operation: op.to_owned(),
                    reference: reference.clone(),
                    paxos_id: Some(paxos_order.id.clone()),
                };
                self.ledger
                    .record_paxos_mirrored(&ctx, profile, fact)
                    .await?;
                let tracked = TrackedOrder {
                    profile,
                    paxos_profile,
                    paxos_order: paxos_order.id.clone(),
                    correlation: record.metadata.correlation_id.clone(),
                };
                let progress = mapping::order_progress(&paxos_order);
                if !self.settle(order.order_id, &tracked, progress).await? {
                    self.track(order.order_id, tracked);
                }
                Ok(Step::Done)
            }
            Err(e) => match classify(op, reference, e) {
                Ok(rejection) => {
                    let reason = rejection.reason.clone();
                    self.ledger
                        .record_profile_mirror_rejection(&ctx, profile, rejection)
                        .await?;
                    // Paxos will never fill it: release the ledger's hold.
                    self.release_refused(&ctx, profile, order.order_id, &reason)
                        .await?;
                    Ok(Step::Rejected)
                }
                Err(why) => Ok(Step::Wait(why)),
            },
        }
    }

    /// Closes an order Paxos will never fill as `REJECTED`, releasing its hold in the ledger
    /// (a no-op when the ledger already closed it).
    async fn release_refused(
        &self,
        ctx: &CommandContext,
        profile: ProfileId,
        order: OrderId,
        reason: &str,
    ) -> Result<(), MirrorError> {
        let open = self
            .ledger
            .profile(profile)
            .await?
            .is_some_and(|p| p.open_orders().contains_key(&order));
        if open {
            self.ledger
                .record_order_update(
                    ctx,
                    profile,
                    order,
                    ReportedOrderState::Rejected,
                    Amount::ZERO,
                    None,
                    Some(reason.to_owned()),
                )
                .await?;
        }
        Ok(())
    }

    fn track(&self, order: OrderId, tracked: TrackedOrder) {
        lock(&self.orders)
            .get_or_insert_default()
            .insert(order, tracked);
    }

    /// Records an order's progress; whether the order is final (no more polling).
    async fn settle(
        &self,
        order: OrderId,
        tracked: &TrackedOrder,
        progress: Option<OrderProgress>,
    ) -> Result<bool, MirrorError> {
        let Some(p) = progress else {
            return Ok(false);
        };
        // Correlated with the order's placement, caused by the Paxos order it reports on.
        let ctx = CommandContext::new("paxos-mirror", "paxos-order-poll")
            .with_reason("Paxos order status".to_owned())
            .with_correlation_id(tracked.correlation.clone())
            .caused_by(format!("paxos-order:{}", tracked.paxos_order));
        let reason = (p.state != ReportedOrderState::Open && p.state != ReportedOrderState::Filled)
            .then(|| format!("Paxos order {}", tracked.paxos_order));
        match self
            .ledger
            .record_order_update(
                &ctx,
                tracked.profile,
                order,
                p.state,
                p.amount_filled,
                p.average_price,
                reason,
            )
            .await
        {
            Ok(()) => Ok(p.state != ReportedOrderState::Open),
            Err(onboarding_ledger::LedgerError::Profile(e)) => {
                tracing::warn!(order = %order, error = %e, "order update refused by the ledger; no longer polled");
                Ok(true)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Polls each open mirrored order once; how many stay open.
    async fn poll_orders(&self) -> Result<usize, MirrorError> {
        let orders: Vec<(OrderId, TrackedOrder)> = lock(&self.orders)
            .get_or_insert_default()
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        for (order, tracked) in orders {
            let answer = match self
                .paxos
                .get_order(&tracked.paxos_profile, &tracked.paxos_order)
                .await
            {
                Ok(answer) => answer,
                Err(e) => {
                    tracing::warn!(order = %order, error = %e, "order poll failed");
                    continue;
                }
            };
            if self
                .settle(order, &tracked, mapping::order_progress(&answer))
                .await?
            {
                lock(&self.orders).get_or_insert_default().remove(&order);
            }
        }
        Ok(lock(&self.orders).as_ref().map_or(0, BTreeMap::len))
    }

    /// After a start, finds the orders mirrored before the checkpoint that are still open.
    /// (Facts after the checkpoint are met by the pass itself, see [`Self::mirror`].)
    async fn restore_orders(&self, checkpoint: i64) -> Result<(), MirrorError> {
        if lock(&self.orders).is_some() {
            return Ok(());
        }
        let mut found = BTreeMap::new();
        let mut position = 0;
        while position < checkpoint {
            let batch = self.ledger.read_log(position, 500).await?;
            let Some(last) = batch.last() else { break };
            position = last.position;
            for record in batch {
                if record.position > checkpoint
                    || record.event_type
                        != onboarding_ledger::domain::event_names::PROFILE_PAXOS_MIRRORED
                    || !self.in_scope(&record)
                {
                    continue;
                }
                let position = record.position;
                let projected =
                    ProjectedEvent::decode(record).map_err(|e| MirrorError::Decode {
                        position,
                        reason: e.to_string(),
                    })?;
                let DomainEvent::Profile(ProfileEvent::PaxosMirrored(fact)) = &projected.event
                else {
                    continue;
                };
                if let Some((order, tracked)) = self.still_open(&projected.record, fact).await? {
                    found.insert(order, tracked);
                }
            }
        }
        *lock(&self.orders) = Some(found);
        Ok(())
    }

    /// Whether this worker mirrors `record` (see [`MirrorOptions::correlation`]).
    fn in_scope(&self, record: &RecordedEvent) -> bool {
        self.options
            .correlation
            .as_ref()
            .is_none_or(|only| record.metadata.correlation_id == *only)
    }

    /// The order a `ProfilePaxosMirrored` fact reports as created at Paxos, when it is still
    /// open in the ledger (so still to be polled).
    async fn still_open(
        &self,
        record: &RecordedEvent,
        fact: &PaxosMirrored,
    ) -> Result<Option<(OrderId, TrackedOrder)>, MirrorError> {
        let (Some(paxos_order), Ok(order)) = (&fact.paxos_id, fact.reference.parse::<OrderId>())
        else {
            return Ok(None);
        };
        if fact.operation != operation::CREATE_ORDER {
            return Ok(None);
        }
        let profile: ProfileId = parse(&record.aggregate_id, record.position)?;
        let Some(state) = self.ledger.profile(profile).await? else {
            return Ok(None);
        };
        if !state.open_orders().contains_key(&order) {
            return Ok(None);
        }
        let Some(account) = state.account_id() else {
            return Ok(None);
        };
        let Some((_, paxos_profile)) = self
            .ledger
            .account(account)
            .await?
            .paxos_ids()
            .map(|(a, p)| (a.to_owned(), p.to_owned()))
        else {
            return Ok(None);
        };
        Ok(Some((
            order,
            TrackedOrder {
                profile,
                paxos_profile,
                paxos_order: paxos_order.clone(),
                correlation: record.metadata.correlation_id.clone(),
            },
        )))
    }
}

fn parse<T: std::str::FromStr>(text: &str, position: i64) -> Result<T, MirrorError> {
    text.parse().map_err(|_| MirrorError::Decode {
        position,
        reason: "aggregate id is not a ledger id".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;
    use rust_decimal_macros::dec;

    use super::{asset_total, grew_by, Balance};

    fn balance(asset: &str, available: Decimal, trading: Decimal) -> Balance {
        Balance {
            asset: asset.to_owned(),
            available: Some(available),
            trading: Some(trading),
        }
    }

    #[test]
    fn an_asset_total_adds_available_and_trading_of_that_asset_only() {
        let balances = [
            balance("USD", dec!(10), dec!(2.5)),
            balance("usd", dec!(1), Decimal::ZERO),
            balance("BTC", Decimal::MAX, Decimal::MAX),
        ];
        assert_eq!(asset_total(&balances, "USD"), Some(dec!(13.5)));
        assert_eq!(asset_total(&balances, "ETH"), Some(Decimal::ZERO));
    }

    #[test]
    fn an_asset_total_too_large_for_a_decimal_is_none() {
        let within_one = [balance("USD", Decimal::MAX, Decimal::ONE)];
        assert_eq!(asset_total(&within_one, "USD"), None);
        let across_items = [
            balance("USD", Decimal::MAX, Decimal::ZERO),
            balance("USD", Decimal::ONE, Decimal::ZERO),
        ];
        assert_eq!(asset_total(&across_items, "USD"), None);
    }

    #[test]
    fn growth_is_compared_and_an_overflowing_difference_is_none() {
        assert_eq!(grew_by(dec!(100), dec!(800), dec!(700)), Some(true));
        assert_eq!(grew_by(dec!(100), dec!(799), dec!(700)), Some(false));
        assert_eq!(grew_by(Decimal::MIN, Decimal::MAX, dec!(700)), None);
    }
}
