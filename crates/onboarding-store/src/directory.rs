//! The domain's [`Directory`] port over the event store: other aggregates' state as the store
//! says it is now (never a read model, which may lag).

use async_trait::async_trait;
use onboarding_domain::{
    Account, AccountFacts, AccountId, Directory, Identity, IdentityFacts, IdentityId, LookupError,
};

use crate::aggregates::{self, AccountStore, IdentityStore};
use crate::repository::EventRepository;

/// Answers identity and account questions by loading them from the event store.
pub struct StoreDirectory {
    identities: IdentityStore,
    accounts: AccountStore,
}

impl StoreDirectory {
    /// A directory over `repo`.
    pub fn new(repo: EventRepository) -> Self {
        Self {
            identities: aggregates::identity_store(repo.clone()),
            accounts: aggregates::account_store(repo),
        }
    }
}

#[async_trait]
impl Directory for StoreDirectory {
    async fn identity(&self, id: IdentityId) -> Result<Option<IdentityFacts>, LookupError> {
        let identity: Identity = aggregates::load(&self.identities, &id.to_string())
            .await
            .map_err(|e| LookupError(format!("loading identity {id}: {e}")))?;
        Ok(identity
            .kind()
            .zip(identity.status())
            .map(|(kind, status)| IdentityFacts { kind, status }))
    }

    async fn account(&self, id: AccountId) -> Result<Option<AccountFacts>, LookupError> {
        let account: Account = aggregates::load(&self.accounts, &id.to_string())
            .await
            .map_err(|e| LookupError(format!("loading account {id}: {e}")))?;
        Ok(account.opening().map(|o| AccountFacts {
            owner: o.owner,
            open: account.is_open(),
        }))
    }
}
