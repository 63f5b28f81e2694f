//! `accounts`: one row per account — owner, type, members, profile, Paxos link, state.

use chrono::{DateTime, Utc};
use onboarding_domain::vocab::AccountType;
use onboarding_domain::{AccountEvent, AccountId, AccountMember, IdentityId, ProfileId};
use serde::{Deserialize, Serialize};

use crate::event::{DomainEvent, ProjectedEvent};
use crate::view::View;

/// Whether an account is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccountState {
    /// Open.
    Open,
    /// Closed.
    Closed,
}

/// One account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRow {
    /// The account.
    pub account_id: AccountId,
    /// Its owner.
    pub owner: IdentityId,
    /// The product.
    pub account_type: AccountType,
    /// Other members.
    pub members: Vec<AccountMember>,
    /// Its profile.
    pub profile_id: ProfileId,
    /// Open or closed.
    pub status: AccountState,
    /// Paxos account id, once mirrored.
    pub paxos_account_id: Option<String>,
    /// Paxos profile id, once mirrored.
    pub paxos_profile_id: Option<String>,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
    /// When it was closed.
    pub closed_at: Option<DateTime<Utc>>,
}

/// The `accounts` view.
#[derive(Debug, Clone, Copy, Default)]
pub struct Accounts;

impl View for Accounts {
    type Row = AccountRow;

    fn name(&self) -> &'static str {
        "accounts"
    }

    fn keys(&self, event: &ProjectedEvent) -> Vec<String> {
        match event.event {
            DomainEvent::Account(_) => vec![event.aggregate_id().to_owned()],
            _ => Vec::new(),
        }
    }

    fn apply(
        &self,
        _key: &str,
        row: &mut Option<AccountRow>,
        event: &ProjectedEvent,
    ) -> Result<(), String> {
        let DomainEvent::Account(e) = &event.event else {
            return Ok(());
        };
        let at = event.record.recorded_at;
        if let AccountEvent::AccountOpened(o) = e {
            *row = Some(AccountRow {
                account_id: o.account_id,
                owner: o.owner,
                account_type: o.account_type,
                members: o.members.clone(),
                profile_id: o.profile_id,
                status: AccountState::Open,
                paxos_account_id: None,
                paxos_profile_id: None,
                opened_at: at,
                closed_at: None,
            });
            return Ok(());
        }
        let r = row
            .as_mut()
            .ok_or_else(|| format!("{} before AccountOpened", event.record.event_type))?;
        match e {
            AccountEvent::AccountOpened(_) | AccountEvent::MirrorRejected(_) => {}
            AccountEvent::PaxosAccountLinked {
                paxos_account_id,
                paxos_profile_id,
            } => {
                r.paxos_account_id = Some(paxos_account_id.clone());
                r.paxos_profile_id = Some(paxos_profile_id.clone());
            }
            AccountEvent::AccountClosed { .. } => {
                r.status = AccountState::Closed;
                r.closed_at = Some(at);
            }
        }
        Ok(())
    }
}
