//! The [`Ledger`] type.

use std::future::Future;
use std::sync::Arc;

use cqrs_es::CqrsFramework;
use onboarding_domain::identity::draft::IdentityDraft;
use onboarding_domain::values::Text;
use onboarding_domain::vocab::AccountType;
use onboarding_domain::{
    event_names, Account, AccountCommand, AccountError, AccountId, AccountMember, AccountOpening,
    Amount, Asset, Clock, Decision, DecisionSource, FundingMethod, Identity, IdentityCommand,
    IdentityId, IdentitySubmission, OrderId, OrderRequest, Profile, ProfileCommand, ProfileId,
    ReportedOrderState, Services, SystemClock,
};
use onboarding_store::aggregates::{self, AccountStore, IdentityStore, ProfileStore};
use onboarding_store::cip::{FingerprintKey, InMemoryCipRegistry, PostgresCipRegistry};
use onboarding_store::crypto::{KeyProvider, MasterKey};
use onboarding_store::directory::StoreDirectory;
use onboarding_store::{postgres, CommandContext, EventRepository, RecordedEvent};
use uuid::Uuid;

use crate::error::{from_aggregate, LedgerError};

/// How a [`Ledger`] is set up.
#[derive(Clone)]
pub struct LedgerOptions {
    /// The key behind `cip_id` fingerprints; every process sharing a database must use the same.
    pub cip_key: FingerprintKey,
    /// The time the domain rules see.
    pub clock: Arc<dyn Clock>,
    /// How many times a command that lost an optimistic-concurrency race is retried (0: never;
    /// the caller gets [`LedgerError::Conflict`]).
    pub conflict_retries: u32,
    /// Postgres pool size.
    pub max_connections: u32,
    /// Wraps the per-identity keys that seal personal data.
    pub key_provider: Arc<dyn KeyProvider>,
    /// How long records are kept after a relationship ends before personal data may be erased.
    pub retention: chrono::Duration,
}

/// Five years (and a leap day), the default retention period.
pub const DEFAULT_RETENTION_DAYS: i64 = 5 * 365 + 1;

impl Default for LedgerOptions {
    fn default() -> Self {
        Self {
            cip_key: FingerprintKey::development(),
            clock: Arc::new(SystemClock),
            conflict_retries: 0,
            max_connections: 10,
            key_provider: Arc::new(MasterKey::development()),
            retention: chrono::Duration::days(DEFAULT_RETENTION_DAYS),
        }
    }
}

/// What it takes to open an account. Ids are chosen up front so that a retried request opens the
/// same account instead of a second one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRequest {
    /// The new account's id.
    pub account_id: AccountId,
    /// The new profile's id.
    pub profile_id: ProfileId,
    /// The owner; must be approved.
    pub owner: IdentityId,
    /// The product.
    pub account_type: AccountType,
    /// Joint owners and other members.
    pub members: Vec<AccountMember>,
    /// A description.
    pub description: Option<Text>,
}

impl AccountRequest {
    /// A request for a new account (fresh ids) of `account_type` owned by `owner`.
    pub fn new(owner: IdentityId, account_type: AccountType) -> Self {
        Self {
            account_id: AccountId::new(),
            profile_id: ProfileId::new(),
            owner,
            account_type,
            members: Vec::new(),
            description: None,
        }
    }
}

/// The ids of an opened account and its profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenedAccount {
    /// The account.
    pub account_id: AccountId,
    /// Its profile.
    pub profile_id: ProfileId,
}

/// The onboarding ledger: commands in, events stored, state and history out.
pub struct Ledger {
    repo: EventRepository,
    pub(crate) read_side: crate::read_side::ReadSide,
    pub(crate) cips: Arc<dyn onboarding_domain::CipRegistry>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) retention: chrono::Duration,
    identities: CqrsFramework<Identity, IdentityStore>,
    accounts: CqrsFramework<Account, AccountStore>,
    profiles: CqrsFramework<Profile, ProfileStore>,
    identity_store: IdentityStore,
    account_store: AccountStore,
    profile_store: ProfileStore,
    conflict_retries: u32,
}

impl Ledger {
    /// A ledger on the embedded in-memory store.
    pub fn in_memory() -> Self {
        Self::in_memory_with(LedgerOptions::default())
    }

    /// A ledger on the embedded in-memory store, with options.
    pub fn in_memory_with(options: LedgerOptions) -> Self {
        let cips = Arc::new(InMemoryCipRegistry::new(options.cip_key.clone()));
        let repo = EventRepository::in_memory().with_key_provider(options.key_provider.clone());
        Self::assemble(repo, cips, &options)
    }

    /// A ledger on the Postgres database at `url`, whose schema must be migrated
    /// ([`Ledger::migrate`] or `onboarding migrate`).
    pub async fn connect(url: &str, options: LedgerOptions) -> Result<Self, LedgerError> {
        let pool = postgres::connect(url, options.max_connections).await?;
        postgres::check_schema(&pool).await?;
        Ok(Self::on_pool(pool, &options))
    }

    /// A ledger on an existing, migrated pool.
    pub fn on_pool(pool: sqlx::PgPool, options: &LedgerOptions) -> Self {
        let cips = Arc::new(PostgresCipRegistry::new(
            options.cip_key.clone(),
            pool.clone(),
        ));
        let repo = EventRepository::postgres(pool).with_key_provider(options.key_provider.clone());
        Self::assemble(repo, cips, options)
    }

    /// Applies the schema migrations to the database at `url`.
    pub async fn migrate(url: &str) -> Result<(), LedgerError> {
        let pool = postgres::connect(url, 1).await?;
        postgres::migrate(&pool).await?;
        pool.close().await;
        Ok(())
    }

    fn assemble(
        repo: EventRepository,
        cips: Arc<dyn onboarding_domain::CipRegistry>,
        options: &LedgerOptions,
    ) -> Self {
        let services = Services::new(
            Arc::new(StoreDirectory::new(repo.clone())),
            cips.clone(),
            options.clock.clone(),
        );
        Self {
            cips,
            clock: options.clock.clone(),
            retention: options.retention,
            read_side: crate::read_side::ReadSide::for_repository(&repo),
            identities: CqrsFramework::new(
                aggregates::identity_store(repo.clone()),
                vec![],
                services.clone(),
            ),
            accounts: CqrsFramework::new(
                aggregates::account_store(repo.clone()),
                vec![],
                services.clone(),
            ),
            profiles: CqrsFramework::new(aggregates::profile_store(repo.clone()), vec![], services),
            identity_store: aggregates::identity_store(repo.clone()),
            account_store: aggregates::account_store(repo.clone()),
            profile_store: aggregates::profile_store(repo.clone()),
            repo,
            conflict_retries: options.conflict_retries,
        }
    }

    /// The event repository behind this ledger (for readers of the log).
    pub fn repository(&self) -> &EventRepository {
        &self.repo
    }

    /// Runs `attempt` again while it loses concurrency races, up to the configured retries.
    async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T, LedgerError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, LedgerError>>,
    {
        let mut left = self.conflict_retries;
        loop {
            match attempt().await {
                Err(LedgerError::Conflict { .. }) if left > 0 => left -= 1,
                other => return other,
            }
        }
    }

    /// Runs one command on one aggregate with the caller's metadata, retrying lost races as
    /// configured.
    async fn execute<A, ES>(
        &self,
        framework: &CqrsFramework<A, ES>,
        ctx: &CommandContext,
        aggregate_id: String,
        command: A::Command,
        refused: fn(A::Error) -> LedgerError,
    ) -> Result<(), LedgerError>
    where
        A: cqrs_es::Aggregate,
        A::Command: Clone,
        ES: cqrs_es::EventStore<A>,
    {
        self.retrying(|| async {
            framework
                .execute_with_metadata(
                    &aggregate_id,
                    command.clone(),
                    ctx.metadata_for(Uuid::now_v7()),
                )
                .await
                .map_err(|e| from_aggregate(e, A::TYPE, &aggregate_id, refused))
        })
        .await
    }

    pub(crate) async fn identity_command(
        &self,
        ctx: &CommandContext,
        id: IdentityId,
        command: IdentityCommand,
    ) -> Result<(), LedgerError> {
        self.execute(
            &self.identities,
            ctx,
            id.to_string(),
            command,
            LedgerError::Identity,
        )
        .await
    }

    pub(crate) async fn account_command(
        &self,
        ctx: &CommandContext,
        id: AccountId,
        command: AccountCommand,
    ) -> Result<(), LedgerError> {
        self.execute(
            &self.accounts,
            ctx,
            id.to_string(),
            command,
            LedgerError::Account,
        )
        .await
    }

    pub(crate) async fn profile_command(
        &self,
        ctx: &CommandContext,
        id: ProfileId,
        command: ProfileCommand,
    ) -> Result<(), LedgerError> {
        self.execute(
            &self.profiles,
            ctx,
            id.to_string(),
            command,
            LedgerError::Profile,
        )
        .await
    }

    /// Submits a person or institution; returns its new id. The identity is `PENDING`.
    pub async fn submit_identity(
        &self,
        ctx: &CommandContext,
        submission: IdentitySubmission,
    ) -> Result<IdentityId, LedgerError> {
        let id = IdentityId::new();
        self.submit_identity_as(ctx, id, submission).await?;
        Ok(id)
    }

    /// Submits under a chosen id (a retried request resubmits under the same id and gets
    /// `AlreadySubmitted` rather than a duplicate).
    pub async fn submit_identity_as(
        &self,
        ctx: &CommandContext,
        id: IdentityId,
        submission: IdentitySubmission,
    ) -> Result<(), LedgerError> {
        let command = IdentityCommand::Submit {
            id,
            submission: Box::new(submission),
        };
        self.identity_command(ctx, id, command).await
    }

    /// Parses a submission in the Paxos `CreateIdentity` JSON shape (members by ledger identity
    /// id) and submits it.
    pub async fn submit_identity_json(
        &self,
        ctx: &CommandContext,
        json: &str,
    ) -> Result<IdentityId, LedgerError> {
        let submission = IdentityDraft::from_json(json)
            .and_then(IdentityDraft::parse)
            .map_err(LedgerError::Invalid)?;
        self.submit_identity(ctx, submission).await
    }

    /// Records an onboarding decision. The same Paxos event recorded twice changes nothing.
    pub async fn record_decision(
        &self,
        ctx: &CommandContext,
        id: IdentityId,
        decision: Decision,
        source: DecisionSource,
        reason: Option<String>,
    ) -> Result<(), LedgerError> {
        let command = IdentityCommand::RecordDecision {
            decision,
            source,
            reason,
        };
        self.identity_command(ctx, id, command).await
    }

    /// Records the Paxos identity id of a mirrored identity.
    pub async fn link_paxos_identity(
        &self,
        ctx: &CommandContext,
        id: IdentityId,
        paxos_identity_id: String,
    ) -> Result<(), LedgerError> {
        let command = IdentityCommand::LinkPaxosIdentity { paxos_identity_id };
        self.identity_command(ctx, id, command).await
    }

    /// Off-boards an identity at the integrator's request.
    pub async fn disable_identity(
        &self,
        ctx: &CommandContext,
        id: IdentityId,
        reason: String,
    ) -> Result<(), LedgerError> {
        self.identity_command(ctx, id, IdentityCommand::Disable { reason })
            .await
    }

    /// Opens an account and its profile. Retrying the same request completes a partly done
    /// opening (account opened, profile not yet) instead of failing.
    pub async fn open_account(
        &self,
        ctx: &CommandContext,
        request: AccountRequest,
    ) -> Result<OpenedAccount, LedgerError> {
        let opening = AccountOpening {
            account_id: request.account_id,
            profile_id: request.profile_id,
            owner: request.owner,
            account_type: request.account_type,
            members: request.members,
            description: request.description,
        };
        let result = self
            .account_command(
                ctx,
                opening.account_id,
                AccountCommand::Open(opening.clone()),
            )
            .await;
        match result {
            Ok(()) => {}
            Err(LedgerError::Account(AccountError::AlreadyOpened))
                if self.account(opening.account_id).await?.opening() == Some(&opening) => {}
            Err(e) => return Err(e),
        }
        let open_profile = ProfileCommand::Open {
            profile_id: opening.profile_id,
            account_id: opening.account_id,
            owner: opening.owner,
        };
        self.profile_command(ctx, opening.profile_id, open_profile)
            .await?;
        Ok(OpenedAccount {
            account_id: opening.account_id,
            profile_id: opening.profile_id,
        })
    }

    /// Records the Paxos ids of a mirrored account and its profile.
    pub async fn link_paxos_account(
        &self,
        ctx: &CommandContext,
        id: AccountId,
        paxos_account_id: String,
        paxos_profile_id: String,
    ) -> Result<(), LedgerError> {
        let command = AccountCommand::LinkPaxosAccount {
            paxos_account_id,
            paxos_profile_id,
        };
        self.account_command(ctx, id, command).await
    }

    /// Closes an account.
    pub async fn close_account(
        &self,
        ctx: &CommandContext,
        id: AccountId,
        reason: String,
    ) -> Result<(), LedgerError> {
        self.account_command(ctx, id, AccountCommand::Close { reason })
            .await
    }

    /// Credits a profile. A `funding_id` seen before is ignored, so retries are safe.
    pub async fn fund_profile(
        &self,
        ctx: &CommandContext,
        profile: ProfileId,
        funding_id: String,
        asset: Asset,
        amount: Amount,
        method: FundingMethod,
    ) -> Result<(), LedgerError> {
        let command = ProfileCommand::Fund {
            funding_id,
            asset,
            amount,
            method,
        };
        self.profile_command(ctx, profile, command).await
    }

    /// Places an order on a profile and takes its hold; returns the order id.
    pub async fn place_order(
        &self,
        ctx: &CommandContext,
        profile: ProfileId,
        order: OrderRequest,
    ) -> Result<OrderId, LedgerError> {
        let order_id = order.order_id;
        self.profile_command(ctx, profile, ProfileCommand::PlaceOrder(order))
            .await?;
        Ok(order_id)
    }

    /// Records an order's progress as the venue reports it (cumulative fill).
    #[allow(clippy::too_many_arguments)]
    pub async fn record_order_update(
        &self,
        ctx: &CommandContext,
        profile: ProfileId,
        order_id: OrderId,
        state: ReportedOrderState,
        amount_filled: Amount,
        average_price: Option<Amount>,
        reason: Option<String>,
    ) -> Result<(), LedgerError> {
        let command = ProfileCommand::RecordOrderUpdate {
            order_id,
            state,
            amount_filled,
            average_price,
            reason,
        };
        self.profile_command(ctx, profile, command).await
    }

    /// The identity's current state, or `None` when it was never submitted.
    pub async fn identity(&self, id: IdentityId) -> Result<Option<Identity>, LedgerError> {
        let key = id.to_string();
        let identity: Identity = aggregates::load(&self.identity_store, &key)
            .await
            .map_err(|e| from_aggregate(e, event_names::IDENTITY, &key, LedgerError::Identity))?;
        Ok(identity.status().is_some().then_some(identity))
    }

    /// The account's current state (default state when never opened).
    pub async fn account(&self, id: AccountId) -> Result<Account, LedgerError> {
        let key = id.to_string();
        aggregates::load(&self.account_store, &key)
            .await
            .map_err(|e| from_aggregate(e, event_names::ACCOUNT, &key, LedgerError::Account))
    }

    /// The profile's current state, or `None` when never opened.
    pub async fn profile(&self, id: ProfileId) -> Result<Option<Profile>, LedgerError> {
        let key = id.to_string();
        let profile: Profile = aggregates::load(&self.profile_store, &key)
            .await
            .map_err(|e| from_aggregate(e, event_names::PROFILE, &key, LedgerError::Profile))?;
        Ok(profile.account_id().is_some().then_some(profile))
    }

    /// Every stored event of one aggregate, with its time, position and metadata.
    pub async fn events_of(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Vec<RecordedEvent>, LedgerError> {
        Ok(self.repo.stream_of(aggregate_type, aggregate_id).await?)
    }

    /// Up to `limit` events after `position` in the global log.
    pub async fn read_log(
        &self,
        position: i64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, LedgerError> {
        Ok(self.repo.read_after(position, limit).await?)
    }
}
