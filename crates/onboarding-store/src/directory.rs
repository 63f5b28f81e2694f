//! The domain's [`Directory`] port over the event store: other aggregates' state as the store
//! says it is (never a read model, which may lag).
//!
//! With caches, answers come from the ledger's cached states when it has them; every answer is
//! noted in the decision's [`scope`] with the version it came from, and the append
//! stores the decision only if those aggregates are still at that version.

use std::sync::Arc;

use async_trait::async_trait;
use onboarding_domain::{
    event_names, Account, AccountFacts, AccountId, Directory, Identity, IdentityFacts, IdentityId,
    LookupError,
};

use crate::aggregates::{self, Loader};
use crate::cache::{Known, StateCache};
use crate::repository::EventRepository;
use crate::scope;

/// Answers identity and account questions from cached states or the event store.
pub struct StoreDirectory {
    identities: Loader<Identity>,
    accounts: Loader<Account>,
    identity_cache: Option<Arc<StateCache<Identity>>>,
    account_cache: Option<Arc<StateCache<Account>>>,
}

impl StoreDirectory {
    /// A directory over `repo` that loads every answer from the store.
    pub fn new(repo: EventRepository) -> Self {
        Self {
            identities: aggregates::identity_store(repo.clone()),
            accounts: aggregates::account_store(repo),
            identity_cache: None,
            account_cache: None,
        }
    }

    /// A directory answering from (and filling) the given caches.
    pub fn cached(
        repo: EventRepository,
        identities: Arc<StateCache<Identity>>,
        accounts: Arc<StateCache<Account>>,
    ) -> Self {
        Self {
            identity_cache: Some(identities),
            account_cache: Some(accounts),
            ..Self::new(repo)
        }
    }
}

/// The state of `id`, from `cache` when it has it, noted as read at its version.
async fn known<A>(
    loader: &Loader<A>,
    cache: Option<&StateCache<A>>,
    aggregate_type: &'static str,
    id: &str,
) -> Result<Known<A>, LookupError>
where
    A: cqrs_es::Aggregate + Clone,
{
    let cached = cache.and_then(|c| c.get(id));
    let from_cache = cached.is_some();
    let known = match cached {
        Some(known) => known,
        None => {
            let known = aggregates::load_known(loader, id)
                .await
                .map_err(|e| LookupError(format!("loading {aggregate_type} {id}: {e}")))?;
            if let Some(cache) = cache {
                cache.put(id, known.clone());
            }
            known
        }
    };
    scope::note_read(aggregate_type, id, known.sequence, from_cache);
    Ok(known)
}

#[async_trait]
impl Directory for StoreDirectory {
    async fn identity(&self, id: IdentityId) -> Result<Option<IdentityFacts>, LookupError> {
        let identity = known(
            &self.identities,
            self.identity_cache.as_deref(),
            event_names::IDENTITY,
            &id.to_string(),
        )
        .await?
        .state;
        Ok(identity
            .kind()
            .zip(identity.status())
            .map(|(kind, status)| IdentityFacts { kind, status }))
    }

    async fn account(&self, id: AccountId) -> Result<Option<AccountFacts>, LookupError> {
        let account = known(
            &self.accounts,
            self.account_cache.as_deref(),
            event_names::ACCOUNT,
            &id.to_string(),
        )
        .await?
        .state;
        Ok(account.opening().map(|o| AccountFacts {
            owner: o.owner,
            open: account.is_open(),
        }))
    }
}
