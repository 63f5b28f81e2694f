//! Personal data: reading it back (for the Paxos mirror, for authorised staff) and erasing it
//! under the retention policy (crypto-shredding).

use onboarding_domain::{
    event_names, Account, AccountEvent, IdentityCommand, IdentityEvent, IdentityId,
    IdentitySubmission, RetentionFacts,
};
use onboarding_store::aggregates::all_upcasters;
use onboarding_store::{CommandContext, StoreError};

use crate::error::LedgerError;
use crate::Ledger;

impl Ledger {
    /// The identity's submission with its personal data opened. Fails with
    /// `Store(PersonalDataErased)` once the identity was forgotten (its stream records
    /// `IdentityForgotten`, whether or not its key is gone yet). Only call this where the data
    /// is needed (mirroring to Paxos, an authorised review); never log what it returns.
    pub async fn personal_data(&self, id: IdentityId) -> Result<IdentitySubmission, LedgerError> {
        let key = id.to_string();
        let stream = self
            .repository()
            .stream_of(event_names::IDENTITY, &key)
            .await?;
        if (stream.iter()).any(|e| e.event_type == event_names::IDENTITY_FORGOTTEN) {
            return Err(StoreError::PersonalDataErased(id).into());
        }
        let submitted = stream
            .into_iter()
            .find(|e| e.event_type == event_names::IDENTITY_SUBMITTED)
            .ok_or(LedgerError::NotFound {
                aggregate_type: event_names::IDENTITY,
                aggregate_id: key,
            })?;
        let mut record = submitted;
        self.repository()
            .vault()
            .open_submission(id, &mut record.payload)
            .await?;
        match record.decode::<onboarding_domain::Identity>(&all_upcasters())? {
            IdentityEvent::IdentitySubmitted { submission, .. } => Ok(*submission),
            _ => Err(
                StoreError::Corrupt("first identity event is not a submission".to_owned()).into(),
            ),
        }
    }

    /// Erases the identity's personal data: records `IdentityForgotten` (refused inside the
    /// retention period, or while the relationship is active) and destroys the identity's data
    /// key and releases its `cip_id` claim. On Postgres the one statement that stores the event
    /// does all three; the calls after it are idempotent and finish erasures recorded before
    /// that was so, and the embedded store's. The log, its hashes, statuses and the audit trail
    /// stay; the sealed personal data in the log can never be opened again. Safe to retry.
    pub async fn forget_identity(
        &self,
        ctx: &CommandContext,
        id: IdentityId,
        reason: String,
    ) -> Result<(), LedgerError> {
        let facts = self.retention_facts(id).await?;
        self.identity_command(ctx, id, IdentityCommand::Forget { reason, facts })
            .await?;
        self.repository().vault().destroy(id).await?;
        self.cips
            .release(id)
            .await
            .map_err(|e| LedgerError::Store(StoreError::Database(e.0)))?;
        Ok(())
    }

    /// What the retention rule needs, from the event store.
    async fn retention_facts(&self, id: IdentityId) -> Result<RetentionFacts, LedgerError> {
        let upcasters = all_upcasters();
        let mut ended_at = None;
        for record in self
            .repository()
            .stream_of(event_names::IDENTITY, &id.to_string())
            .await?
        {
            // When the identity entered the status it is in, if that status ends the
            // relationship: a later decision that reopens it (an approval after a disable or an
            // error) starts the count afresh at the next ending.
            match record.decode::<onboarding_domain::Identity>(&upcasters)? {
                IdentityEvent::DecisionRecorded { to, .. } => {
                    ended_at = to.ends_relationship().then_some(record.recorded_at);
                }
                IdentityEvent::IdentityDisabled { .. } => ended_at = Some(record.recorded_at),
                _ => {}
            }
        }
        let mut open_accounts = 0;
        let mut last_account_closed_at = None;
        for account in self.repository().accounts_of(id).await? {
            for record in self
                .repository()
                .stream_of(event_names::ACCOUNT, &account)
                .await?
            {
                if let AccountEvent::AccountClosed { .. } = record.decode::<Account>(&upcasters)? {
                    last_account_closed_at = last_account_closed_at.max(Some(record.recorded_at));
                }
            }
            let account_id = account.parse().map_err(|_| {
                LedgerError::Store(StoreError::Corrupt("account id is not a UUID".to_owned()))
            })?;
            if self.account(account_id).await?.is_open() {
                open_accounts += 1;
            }
        }
        Ok(RetentionFacts {
            now: self.clock.now(),
            ended_at,
            open_accounts,
            last_account_closed_at,
            retention: self.retention,
        })
    }
}
