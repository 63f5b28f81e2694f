//! The [`Ledger`] type.

use std::sync::Arc;

use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::SerializedEvent;
use cqrs_es::EventEnvelope;
use onboarding_domain::identity::draft::IdentityDraft;
use onboarding_domain::values::Text;
use onboarding_domain::vocab::AccountType;
use onboarding_domain::{
    event_names, Account, AccountCommand, AccountError, AccountId, AccountMember, AccountOpening,
    Amount, Asset, Clock, Decision, DecisionSource, FundingMethod, Identity, IdentityCommand,
    IdentityId, IdentitySubmission, OrderId, OrderRequest, Profile, ProfileCommand, ProfileError,
    ProfileId, ReportedOrderState, Services, SystemClock,
};
use onboarding_store::aggregates;
use onboarding_store::append::{Batch, SnapshotUpdate};
use onboarding_store::cache::{Known, StateCache};
use onboarding_store::cip::{ClaimAtAppend, FingerprintKey, InMemoryCipRegistry};
use onboarding_store::crypto::{KeyProvider, MasterKey};
use onboarding_store::directory::StoreDirectory;
use onboarding_store::scope::{self, ClaimMode, Read};
use onboarding_store::{postgres, CommandContext, EventRepository, RecordedEvent, StoreError};
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
    /// the caller gets [`LedgerError::Conflict`]). Only races on state just loaded from the
    /// store count: a command decided on a cached state that turns out stale is always decided
    /// again on the store's state first, as if the cache had not been there.
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

/// How many times one command is decided again because what it decided on proved stale (a
/// cached state behind the store, a fact of another aggregate changed, a `cip_id` claimed
/// meanwhile) before the caller gets [`LedgerError::Conflict`].
const REDECIDE_LIMIT: u32 = 3;

/// How many aggregates of each type a ledger keeps in memory.
pub const CACHED_AGGREGATES: usize = 4096;

/// One aggregate type's way through the executor: how it is loaded, its cached states, how
/// often it is snapshotted.
struct Lane<A: cqrs_es::Aggregate + Clone> {
    loader: aggregates::Loader<A>,
    cache: Option<Arc<StateCache<A>>>,
    snapshot_every: Option<usize>,
}

impl<A> Lane<A>
where
    A: cqrs_es::Aggregate + Clone + serde::Serialize,
{
    fn cached(&self, id: &str) -> Option<Known<A>> {
        self.cache.as_ref().and_then(|c| c.get(id))
    }

    fn remember(&self, id: &str, known: Known<A>) {
        if let Some(cache) = &self.cache {
            cache.put(id, known);
        }
    }

    fn forget(&self, id: &str) {
        if let Some(cache) = &self.cache {
            cache.forget(id);
        }
    }

    /// The snapshot to store with `added` new events taking the aggregate from `sequence` (with
    /// `snapshot` snapshots so far) to `state`, when one is due.
    fn snapshot_due(
        &self,
        sequence: usize,
        snapshot: Option<usize>,
        state: &A,
        added: usize,
    ) -> Result<Option<SnapshotUpdate>, StoreError> {
        let Some(every) = self.snapshot_every else {
            return Ok(None);
        };
        let head = sequence + added;
        if head / every == sequence / every {
            return Ok(None);
        }
        Ok(Some(SnapshotUpdate {
            payload: serde_json::to_value(state).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            last_sequence: head,
            number: snapshot.map_or(1, |n| n + 1),
        }))
    }
}

/// What deciding one command on one aggregate gave.
struct Decided<A: cqrs_es::Aggregate> {
    /// The state with the decided events applied.
    state: A,
    /// The stream's last sequence before them.
    sequence: usize,
    /// Snapshots stored of the stream before them.
    snapshot: Option<usize>,
    outcome: Result<(), A::Error>,
    consulted: scope::Consulted,
    events: Vec<A::Event>,
}

impl<A> Decided<A>
where
    A: cqrs_es::Aggregate + Clone + serde::Serialize,
{
    /// A refusal, or nothing to store.
    fn stores_nothing(&self) -> bool {
        self.outcome.is_err() || self.events.is_empty()
    }

    /// Whether a fact the decision read came from a cache.
    fn rests_on_cache(&self) -> bool {
        self.consulted.reads.iter().any(|r| r.cached)
    }

    /// The events as the batch to append under `aggregate_id` with the caller's metadata (and a
    /// snapshot when one is due), and what the aggregate is known to be once it is stored.
    /// `command_id` identifies the command in the events' metadata (one id for every stream a
    /// command writes).
    fn into_batch(
        self,
        lane: &Lane<A>,
        ctx: &CommandContext,
        command_id: Uuid,
        aggregate_id: &str,
        refused: fn(A::Error) -> LedgerError,
    ) -> Result<(Batch, Known<A>), LedgerError> {
        let added = self.events.len();
        let metadata = ctx.metadata_for(command_id);
        let events = (self.events.into_iter())
            .zip(self.sequence + 1..)
            .map(|(payload, sequence)| {
                SerializedEvent::try_from(&EventEnvelope::<A> {
                    aggregate_id: aggregate_id.to_owned(),
                    sequence,
                    payload,
                    metadata: metadata.clone(),
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| from_aggregate(e.into(), A::TYPE, aggregate_id, refused))?;
        let snapshot = lane.snapshot_due(self.sequence, self.snapshot, &self.state, added)?;
        let after = Known {
            state: self.state,
            sequence: self.sequence + added,
            snapshot: snapshot.as_ref().map(|s| s.number).or(self.snapshot),
        };
        let batch = Batch {
            aggregate_id: aggregate_id.to_owned(),
            events,
            snapshot,
            consulted: self.consulted,
        };
        Ok((batch, after))
    }
}

/// Where a command's decision starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// The cached state when there is one, else the store's.
    Cached,
    /// No state at all: the id was generated for this command, so nothing can exist under it.
    Fresh,
}

/// The onboarding ledger: commands in, events stored, state and history out.
///
/// Commands run through the ledger's own executor (see `docs/architecture.md`, "Commands"):
/// decide on the cached state when there is one, append in one statement that checks everything
/// the decision relied on, and on any stale input decide again from the store.
pub struct Ledger {
    repo: EventRepository,
    pub(crate) read_side: crate::read_side::ReadSide,
    pub(crate) cips: Arc<dyn onboarding_domain::CipRegistry>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) retention: chrono::Duration,
    services: Services,
    identities: Lane<Identity>,
    accounts: Lane<Account>,
    profiles: Lane<Profile>,
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
        let cips = Arc::new(ClaimAtAppend::new(options.cip_key.clone(), pool.clone()));
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
        // The embedded store has a single writer, this process, and loads from memory: caching
        // would only hold a second copy. On Postgres other processes write too, which the
        // append's checks catch.
        let caching = repo.checks_consulted();
        let identity_cache = caching.then(|| Arc::new(StateCache::new(CACHED_AGGREGATES)));
        let account_cache = caching.then(|| Arc::new(StateCache::new(CACHED_AGGREGATES)));
        let directory = match (&identity_cache, &account_cache) {
            (Some(i), Some(a)) => StoreDirectory::cached(repo.clone(), i.clone(), a.clone()),
            _ => StoreDirectory::new(repo.clone()),
        };
        let services = Services::new(Arc::new(directory), cips.clone(), options.clock.clone());
        Self {
            cips,
            clock: options.clock.clone(),
            retention: options.retention,
            read_side: crate::read_side::ReadSide::for_repository(&repo),
            services,
            identities: Lane {
                loader: aggregates::identity_store(repo.clone()),
                cache: identity_cache,
                snapshot_every: None,
            },
            accounts: Lane {
                loader: aggregates::account_store(repo.clone()),
                cache: account_cache,
                snapshot_every: None,
            },
            profiles: Lane {
                loader: aggregates::profile_loader(repo.clone()),
                cache: caching.then(|| Arc::new(StateCache::new(CACHED_AGGREGATES))),
                snapshot_every: Some(aggregates::PROFILE_SNAPSHOT_EVERY),
            },
            repo,
            conflict_retries: options.conflict_retries,
        }
    }

    /// The event repository behind this ledger (for readers of the log).
    pub fn repository(&self) -> &EventRepository {
        &self.repo
    }

    /// Forgets the cached states of the other aggregates a stale decision read.
    fn forget_reads(&self, reads: &[Read]) {
        for read in reads {
            match read.aggregate_type {
                event_names::IDENTITY => self.identities.forget(&read.aggregate_id),
                event_names::ACCOUNT => self.accounts.forget(&read.aggregate_id),
                event_names::PROFILE => self.profiles.forget(&read.aggregate_id),
                _ => {}
            }
        }
    }

    /// Decides `command` on `known`, noting what the decision consulted outside the aggregate.
    async fn decide<A>(
        &self,
        known: Known<A>,
        command: A::Command,
        claim_mode: ClaimMode,
    ) -> Decided<A>
    where
        A: cqrs_es::Aggregate<Services = Services>,
    {
        let Known {
            mut state,
            sequence,
            snapshot,
        } = known;
        let sink = EventSink::default();
        let (outcome, consulted) =
            scope::consulting(claim_mode, state.handle(command, &self.services, &sink)).await;
        let events = sink.collect().await;
        Decided {
            state,
            sequence,
            snapshot,
            outcome,
            consulted,
            events,
        }
    }

    /// Runs one command on one aggregate with the caller's metadata.
    ///
    /// Decides on the cached state (or, for [`Start::Fresh`], on no state), then appends what
    /// it decided in one statement that also checks the decision's other inputs. Whenever an
    /// input proves stale (the append finds the sequence taken, a read fact changed, the
    /// `cip_id` claimed) or a decision on a cached state refuses or changes nothing, the command
    /// is decided again on the store's state, so a cache never changes an outcome. A conflict on
    /// the store's own state is a real race: retried as configured, then reported.
    async fn execute<A>(
        &self,
        lane: &Lane<A>,
        ctx: &CommandContext,
        aggregate_id: String,
        start: Start,
        command: A::Command,
        refused: fn(A::Error) -> LedgerError,
    ) -> Result<(), LedgerError>
    where
        A: cqrs_es::Aggregate<Services = Services> + Clone + serde::Serialize,
        A::Command: Clone,
    {
        let id = aggregate_id.as_str();
        let failed = |e| from_aggregate(e, A::TYPE, id, refused);
        let conflict = || LedgerError::Conflict {
            aggregate_type: A::TYPE,
            aggregate_id: aggregate_id.clone(),
        };
        let mut conflicts_left = self.conflict_retries;
        let mut redecides_left = REDECIDE_LIMIT;
        let mut start = Some(start);
        let mut claim_mode = ClaimMode::AtAppend;
        loop {
            let guess = match start {
                Some(Start::Fresh) => Some(Known::empty()),
                Some(Start::Cached) => lane.cached(id),
                None => None,
            };
            let guessed = guess.is_some();
            let known = match guess {
                Some(known) => known,
                None => aggregates::load_known(&lane.loader, id)
                    .await
                    .map_err(failed)?,
            };
            let mut decided = self.decide(known, command.clone(), claim_mode).await;
            // A refusal or a no-op is only final if nothing it rests on came from a cache: a
            // stale cached fact (an owner approved elsewhere since) must not refuse a command.
            let rests_on_cache = guessed || decided.rests_on_cache();
            if decided.stores_nothing() && rests_on_cache && redecides_left > 0 {
                lane.forget(id);
                self.forget_reads(&decided.consulted.reads);
                start = None;
                redecides_left -= 1;
                continue;
            }
            if let Err(e) = std::mem::replace(&mut decided.outcome, Ok(())) {
                return Err(refused(e));
            }
            if decided.events.is_empty() {
                return Ok(());
            }
            let verify = guessed && redecides_left > 0;
            let (batch, after) =
                decided.into_batch(lane, ctx, Uuid::now_v7(), &aggregate_id, refused)?;
            match self.repo.append::<A>(&batch).await {
                Ok(()) => {
                    lane.remember(id, after);
                    return Ok(());
                }
                Err(StoreError::Conflict) => {
                    lane.forget(id);
                    start = None;
                    if verify {
                        redecides_left -= 1;
                    } else if conflicts_left > 0 {
                        conflicts_left -= 1;
                    } else {
                        return Err(conflict());
                    }
                }
                Err(StoreError::StaleRead) if redecides_left > 0 => {
                    self.forget_reads(&batch.consulted.reads);
                    redecides_left -= 1;
                }
                Err(StoreError::CipClaimLost) if redecides_left > 0 => {
                    claim_mode = ClaimMode::LookFirst;
                    redecides_left -= 1;
                }
                Err(StoreError::StaleRead | StoreError::CipClaimLost) => return Err(conflict()),
                Err(e) => return Err(e.into()),
            }
        }
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
            Start::Cached,
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
            Start::Cached,
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
            Start::Cached,
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
        // A new id has no history to load.
        let id = IdentityId::new();
        let command = IdentityCommand::Submit {
            id,
            submission: Box::new(submission),
        };
        self.execute(
            &self.identities,
            ctx,
            id.to_string(),
            Start::Fresh,
            command,
            LedgerError::Identity,
        )
        .await?;
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

    /// Opens an account and its profile, both in one append: neither is stored without the
    /// other. Retrying the same request is a no-op once it is done (and completes an opening an
    /// earlier version left with the account only). The account's rules are checked first (the
    /// owner and members approved, the `account_id` not opened otherwise); then a `profile_id`
    /// that is already another account's profile is refused (`Invalid`, naming `profile_id`).
    /// Nothing is written when either refuses. Openings racing for one id: one wins, and each
    /// other is decided again on the store's state, so it gets the refusal above (or, after
    /// repeated races, [`LedgerError::Conflict`]).
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
        self.open_together(ctx, &opening).await?;
        Ok(OpenedAccount {
            account_id: opening.account_id,
            profile_id: opening.profile_id,
        })
    }

    /// Decides `opening` for the account and the profile on the store's states and appends both
    /// streams' events in one statement, deciding again when the append finds either stale.
    async fn open_together(
        &self,
        ctx: &CommandContext,
        opening: &AccountOpening,
    ) -> Result<(), LedgerError> {
        let account_id = opening.account_id.to_string();
        let profile_id = opening.profile_id.to_string();
        let conflict = || LedgerError::Conflict {
            aggregate_type: event_names::ACCOUNT,
            aggregate_id: account_id.clone(),
        };
        let mut conflicts_left = self.conflict_retries;
        let mut redecides_left = REDECIDE_LIMIT;
        loop {
            // Both from the store: openings are rare, and cached states would only be checked.
            let account = aggregates::load_known(&self.accounts.loader, &account_id)
                .await
                .map_err(|e| {
                    from_aggregate(e, event_names::ACCOUNT, &account_id, LedgerError::Account)
                })?;
            let profile = aggregates::load_known(&self.profiles.loader, &profile_id)
                .await
                .map_err(|e| {
                    from_aggregate(e, event_names::PROFILE, &profile_id, LedgerError::Profile)
                })?;
            let open = AccountCommand::Open(opening.clone());
            let mut account = self.decide(account, open, ClaimMode::AtAppend).await;
            match std::mem::replace(&mut account.outcome, Ok(())) {
                Ok(()) => {}
                // This very opening, stored before: a retry.
                Err(AccountError::AlreadyOpened) if account.state.opening() == Some(opening) => {}
                // The owner or a member read from a cache may have been approved since.
                Err(_) if account.rests_on_cache() && redecides_left > 0 => {
                    self.forget_reads(&account.consulted.reads);
                    redecides_left -= 1;
                    continue;
                }
                Err(e) => return Err(LedgerError::Account(e)),
            }
            let open = ProfileCommand::Open {
                profile_id: opening.profile_id,
                account_id: opening.account_id,
                owner: opening.owner,
            };
            let mut profile = self.decide(profile, open, ClaimMode::AtAppend).await;
            match std::mem::replace(&mut profile.outcome, Ok(())) {
                Ok(()) => {}
                Err(ProfileError::AlreadyOpened) => {
                    let mut v = onboarding_domain::Violations::new();
                    v.push("profile_id", onboarding_domain::Problem::InUse);
                    return Err(LedgerError::Invalid(v));
                }
                Err(e) => return Err(LedgerError::Profile(e)),
            }
            let command_id = Uuid::now_v7();
            let (account, account_after) = (account).into_batch(
                &self.accounts,
                ctx,
                command_id,
                &account_id,
                LedgerError::Account,
            )?;
            let (profile, profile_after) = (profile).into_batch(
                &self.profiles,
                ctx,
                command_id,
                &profile_id,
                LedgerError::Profile,
            )?;
            let stored = match (account.events.is_empty(), profile.events.is_empty()) {
                (true, true) => return Ok(()),
                (false, false) => {
                    (self.repo)
                        .append_together::<Account, Profile>(&account, &profile)
                        .await
                }
                (false, true) => self.repo.append::<Account>(&account).await,
                (true, false) => self.repo.append::<Profile>(&profile).await,
            };
            match stored {
                Ok(()) => {
                    self.accounts.remember(&account_id, account_after);
                    self.profiles.remember(&profile_id, profile_after);
                    return Ok(());
                }
                // Another opening took one of the ids meanwhile: deciding again on the store's
                // state says which (`profile_id` in use, the account opened otherwise) or finds
                // this very opening done.
                Err(StoreError::Conflict) if redecides_left > 0 => redecides_left -= 1,
                Err(StoreError::Conflict) if conflicts_left > 0 => conflicts_left -= 1,
                Err(StoreError::StaleRead) if redecides_left > 0 => {
                    self.forget_reads(&account.consulted.reads);
                    self.forget_reads(&profile.consulted.reads);
                    redecides_left -= 1;
                }
                Err(StoreError::Conflict | StoreError::StaleRead) => return Err(conflict()),
                Err(e) => return Err(e.into()),
            }
            self.accounts.forget(&account_id);
            self.profiles.forget(&profile_id);
        }
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

    /// Credits a profile. A `funding_id` seen before with the same asset, amount and method is
    /// ignored, so retries are safe; with other contents it is refused (`funding_id` in use).
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
        let identity: Identity = aggregates::load(&self.identities.loader, &key)
            .await
            .map_err(|e| from_aggregate(e, event_names::IDENTITY, &key, LedgerError::Identity))?;
        Ok(identity.status().is_some().then_some(identity))
    }

    /// The account's current state (default state when never opened).
    pub async fn account(&self, id: AccountId) -> Result<Account, LedgerError> {
        let key = id.to_string();
        aggregates::load(&self.accounts.loader, &key)
            .await
            .map_err(|e| from_aggregate(e, event_names::ACCOUNT, &key, LedgerError::Account))
    }

    /// The profile's current state, or `None` when never opened.
    pub async fn profile(&self, id: ProfileId) -> Result<Option<Profile>, LedgerError> {
        let key = id.to_string();
        let profile: Profile = aggregates::load(&self.profiles.loader, &key)
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
