//! Field-level validation failures, collected so one rejection names every problem at once.

use std::fmt;

use rust_decimal::Decimal;

use crate::ids::IdentityId;
use crate::money::AmountError;
use crate::values::ValueError;
use crate::vocab::{IdentityKind, IdentityStatus, MemberRole, UnknownValue};

/// What is wrong with one field. Never carries the rejected value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// A required field is absent.
    #[error("is required")]
    Missing,
    /// A field that must be absent in this context was given.
    #[error("must not be given here")]
    NotAllowed,
    /// The value has the wrong shape.
    #[error("{0}")]
    Value(#[from] ValueError),
    /// The amount is malformed or out of range.
    #[error("{0}")]
    Amount(#[from] AmountError),
    /// The value is not part of its vocabulary.
    #[error("is {0}")]
    Vocabulary(#[from] UnknownValue),
    /// A free-form message for a shape error from a parser (never includes input text).
    #[error("{0}")]
    Shape(String),
    /// A date that must lie in the past does not.
    #[error("must be in the past")]
    NotInThePast,
    /// A timestamp lies in the future.
    #[error("must not be in the future")]
    InTheFuture,
    /// The document type cannot identify this kind of identity.
    #[error("{cip_id_type} cannot identify a {kind}")]
    CipTypeNotAllowed {
        /// The rejected document type.
        cip_id_type: String,
        /// The identity kind.
        kind: IdentityKind,
    },
    /// US residents must be identified by SSN or ITIN.
    #[error("must be SSN or ITIN for a US resident")]
    UsResidentNeedsSsnOrItin,
    /// A trust's sub type must be INVESTMENT.
    #[error("must be INVESTMENT for a trust")]
    TrustSubTypeMustBeInvestment,
    /// Personal data arrived sealed or erased where it must be given in clear.
    #[error("must be given in clear")]
    NotInClear,
    /// A list that needs at least one entry is empty.
    #[error("must not be empty")]
    Empty,
    /// The same entry appears twice.
    #[error("appears more than once")]
    Duplicate,
    /// The id is already another record's (a profile id of another account, say).
    #[error("is already used by another record")]
    InUse,
    /// A member identity is not in the ledger.
    #[error("identity {0} does not exist in this ledger")]
    UnknownIdentity(IdentityId),
    /// A member identity is an institution, not a person.
    #[error("identity {0} is not a person")]
    NotAPerson(IdentityId),
    /// A member identity's status does not allow this.
    #[error("identity {id} is {status}")]
    IneligibleStatus {
        /// The member identity.
        id: IdentityId,
        /// Its current status.
        status: IdentityStatus,
    },
    /// An institution lacks a member with a required role.
    #[error("needs a member with role {}", .0.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(" or "))]
    MissingRole(Vec<MemberRole>),
    /// No beneficial owner holds 25% or more.
    #[error("needs a BENEFICIAL_OWNER holding 25% or more")]
    NoQualifyingOwner,
    /// Ownership shares add up to more than 100%.
    #[error("ownership adds up to {0}%, more than 100%")]
    OwnershipOver100(Decimal),
    /// A beneficial owner was given without an ownership share.
    #[error("is required for a BENEFICIAL_OWNER")]
    OwnershipRequired,
    /// An identity cannot be a member of itself or hold an account with itself.
    #[error("must differ from the identity itself")]
    SelfReference,
}

/// One problem with one field, named by its path in the submission (`person_details.address.city`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The field's path, e.g. `institution_members[0].ownership`.
    pub field: String,
    /// What is wrong with it.
    pub problem: Problem,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.problem)
    }
}

/// Every problem found in one input; never empty when returned as an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations(Vec<Violation>);

impl Violations {
    /// No problems yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a problem with `field`.
    pub fn push(&mut self, field: impl Into<String>, problem: impl Into<Problem>) {
        self.0.push(Violation {
            field: field.into(),
            problem: problem.into(),
        });
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The problems found.
    pub fn iter(&self) -> impl Iterator<Item = &Violation> {
        self.0.iter()
    }

    /// Whether a problem was recorded for exactly `field`.
    pub fn mentions(&self, field: &str) -> bool {
        self.0.iter().any(|v| v.field == field)
    }

    /// Adds every problem of `other`.
    pub fn extend(&mut self, other: Violations) {
        self.0.extend(other.0);
    }

    /// `Ok(value)` when nothing was found, otherwise these violations.
    pub fn into_result<T>(self, value: T) -> Result<T, Violations> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{v}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Violations {}
