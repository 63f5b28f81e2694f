//! The Account aggregate: an identity's relationship to a product (a brokerage account, an IRA).
//!
//! One identity may hold several accounts, e.g. an individual and a joint one. Opening an account
//! requires its owner to be `APPROVED` at that moment, as the event store (not a read model) says.
//! Every account has exactly one profile, named when the account is opened.

use std::collections::HashSet;

use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::event_names;
use crate::ids::{AccountId, IdentityId, ProfileId};
use crate::mirror::MirrorRejection;
use crate::services::{LookupError, Services};
use crate::values::Text;
use crate::violation::{Problem, Violations};
use crate::vocab::{AccountMemberRole, AccountType, IdentityKind, IdentityStatus};

/// Another identity with a role on the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountMember {
    /// The member identity.
    pub identity_id: IdentityId,
    /// Its role: a `BENEFICIAL_OWNER` makes the account joint.
    pub role: AccountMemberRole,
}

/// What it takes to open an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountOpening {
    /// The new account's id.
    pub account_id: AccountId,
    /// The profile the account will hold its assets in.
    pub profile_id: ProfileId,
    /// The owning identity; must be approved.
    pub owner: IdentityId,
    /// The product.
    pub account_type: AccountType,
    /// Joint owners and other members; each must be an approved person.
    pub members: Vec<AccountMember>,
    /// A description, e.g. `Joint brokerage`.
    pub description: Option<Text>,
}

/// The commands an account accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum AccountCommand {
    /// Open the account.
    Open(AccountOpening),
    /// Record the Paxos ids of the account and its profile once mirrored.
    LinkPaxosAccount {
        /// The Paxos account id.
        paxos_account_id: String,
        /// The Paxos profile id.
        paxos_profile_id: String,
    },
    /// Close the account.
    Close {
        /// Why.
        reason: String,
    },
    /// Record that Paxos permanently refused mirroring this account. The same operation and
    /// reference recorded again changes nothing.
    RecordMirrorRejection(MirrorRejection),
}

/// What happened to an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AccountEvent {
    /// The account was opened.
    AccountOpened(AccountOpening),
    /// The account was linked to Paxos.
    PaxosAccountLinked {
        /// The Paxos account id.
        paxos_account_id: String,
        /// The Paxos profile id.
        paxos_profile_id: String,
    },
    /// The account was closed.
    AccountClosed {
        /// Why.
        reason: String,
    },
    /// Paxos permanently refused mirroring the account.
    MirrorRejected(MirrorRejection),
}

impl DomainEvent for AccountEvent {
    fn event_type(&self) -> String {
        match self {
            Self::AccountOpened(_) => event_names::ACCOUNT_OPENED,
            Self::PaxosAccountLinked { .. } => event_names::PAXOS_ACCOUNT_LINKED,
            Self::AccountClosed { .. } => event_names::ACCOUNT_CLOSED,
            Self::MirrorRejected(_) => event_names::ACCOUNT_MIRROR_REJECTED,
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        event_names::ACCOUNT_EVENT_VERSION.to_owned()
    }
}

/// Why an account command was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AccountError {
    /// Members or fields are wrong; fix each named field.
    #[error("invalid account: {0}")]
    Invalid(Violations),
    /// The owner identity does not exist; submit it first.
    #[error("owner identity {0} does not exist")]
    UnknownOwner(IdentityId),
    /// The owner is not approved; wait for the onboarding decision.
    #[error("owner identity {owner} is {status}, not APPROVED")]
    OwnerNotApproved {
        /// The owner.
        owner: IdentityId,
        /// Its status.
        status: IdentityStatus,
    },
    /// Retirement accounts belong to one person; open it for a person, without joint owners.
    #[error("a {0} account must be owned by one person")]
    RetirementAccountNeedsOnePerson(AccountType),
    /// This account id is already open; use a new id.
    #[error("account was already opened")]
    AlreadyOpened,
    /// The account does not exist; open it first.
    #[error("account has not been opened")]
    NotOpened,
    /// The account is closed; nothing more can happen to it.
    #[error("account is closed")]
    Closed,
    /// The account is already linked to other Paxos ids; investigate, do not retry.
    #[error("account is already linked to another Paxos account")]
    PaxosLinkConflict,
    /// A lookup failed; retry when the store is reachable.
    #[error(transparent)]
    Lookup(#[from] LookupError),
}

/// The state of one account.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Account {
    opening: Option<AccountOpening>,
    closed: bool,
    paxos: Option<(String, String)>,
    #[serde(default)]
    mirror_rejections: std::collections::BTreeSet<String>,
}

impl Account {
    /// The facts the account was opened with.
    pub fn opening(&self) -> Option<&AccountOpening> {
        self.opening.as_ref()
    }

    /// Whether the account is open.
    pub fn is_open(&self) -> bool {
        self.opening.is_some() && !self.closed
    }

    /// The Paxos account and profile ids, once mirrored.
    pub fn paxos_ids(&self) -> Option<(&str, &str)> {
        self.paxos.as_ref().map(|(a, p)| (a.as_str(), p.as_str()))
    }

    /// Whether Paxos permanently refused mirroring this account.
    pub fn mirror_rejected(&self) -> bool {
        !self.mirror_rejections.is_empty()
    }

    fn require_open(&self) -> Result<(), AccountError> {
        match (&self.opening, self.closed) {
            (None, _) => Err(AccountError::NotOpened),
            (Some(_), true) => Err(AccountError::Closed),
            (Some(_), false) => Ok(()),
        }
    }

    async fn open(
        &self,
        opening: AccountOpening,
        services: &Services,
    ) -> Result<AccountEvent, AccountError> {
        if self.opening.is_some() {
            return Err(AccountError::AlreadyOpened);
        }
        let owner = services
            .directory
            .identity(opening.owner)
            .await?
            .ok_or(AccountError::UnknownOwner(opening.owner))?;
        if owner.status != IdentityStatus::Approved {
            return Err(AccountError::OwnerNotApproved {
                owner: opening.owner,
                status: owner.status,
            });
        }
        let retirement = opening.account_type.is_individual_retirement();
        let joint = opening
            .members
            .iter()
            .any(|m| m.role == AccountMemberRole::BeneficialOwner);
        if retirement && (owner.kind != IdentityKind::Person || joint) {
            return Err(AccountError::RetirementAccountNeedsOnePerson(
                opening.account_type,
            ));
        }
        let mut v = Violations::new();
        let mut seen = HashSet::new();
        for (i, m) in opening.members.iter().enumerate() {
            let field = format!("members[{i}].identity_id");
            if m.identity_id == opening.owner {
                v.push(field, Problem::SelfReference);
                continue;
            }
            if !seen.insert(m.identity_id) {
                v.push(field, Problem::Duplicate);
                continue;
            }
            match services.directory.identity(m.identity_id).await? {
                None => v.push(field, Problem::UnknownIdentity(m.identity_id)),
                Some(f) if f.kind != IdentityKind::Person => {
                    v.push(field, Problem::NotAPerson(m.identity_id))
                }
                Some(f) if f.status != IdentityStatus::Approved => v.push(
                    field,
                    Problem::IneligibleStatus {
                        id: m.identity_id,
                        status: f.status,
                    },
                ),
                Some(_) => {}
            }
        }
        v.into_result(AccountEvent::AccountOpened(opening))
            .map_err(AccountError::Invalid)
    }
}

impl Aggregate for Account {
    const TYPE: &'static str = event_names::ACCOUNT;
    type Command = AccountCommand;
    type Event = AccountEvent;
    type Error = AccountError;
    type Services = Services;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &cqrs_es::event_sink::EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let event = match command {
            AccountCommand::Open(opening) => Some(self.open(opening, services).await?),
            AccountCommand::LinkPaxosAccount {
                paxos_account_id,
                paxos_profile_id,
            } => {
                self.require_open()?;
                let mut v = Violations::new();
                if paxos_account_id.trim().is_empty() {
                    v.push("paxos_account_id", Problem::Missing);
                }
                if paxos_profile_id.trim().is_empty() {
                    v.push("paxos_profile_id", Problem::Missing);
                }
                if !v.is_empty() {
                    return Err(AccountError::Invalid(v));
                }
                match &self.paxos {
                    Some((a, p)) if *a == paxos_account_id && *p == paxos_profile_id => None,
                    Some(_) => return Err(AccountError::PaxosLinkConflict),
                    None => Some(AccountEvent::PaxosAccountLinked {
                        paxos_account_id,
                        paxos_profile_id,
                    }),
                }
            }
            AccountCommand::Close { reason } => {
                self.require_open()?;
                Some(AccountEvent::AccountClosed { reason })
            }
            AccountCommand::RecordMirrorRejection(rejection) => {
                if self.opening.is_none() {
                    return Err(AccountError::NotOpened);
                }
                rejection.check().map_err(AccountError::Invalid)?;
                (!self.mirror_rejections.contains(&rejection.key()))
                    .then_some(AccountEvent::MirrorRejected(rejection))
            }
        };
        if let Some(event) = event {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            AccountEvent::AccountOpened(opening) => self.opening = Some(opening),
            AccountEvent::PaxosAccountLinked {
                paxos_account_id,
                paxos_profile_id,
            } => self.paxos = Some((paxos_account_id, paxos_profile_id)),
            AccountEvent::AccountClosed { .. } => self.closed = true,
            AccountEvent::MirrorRejected(rejection) => {
                self.mirror_rejections.insert(rejection.key());
            }
        }
    }
}
