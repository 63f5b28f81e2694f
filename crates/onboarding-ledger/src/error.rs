//! The one error type of the front door.

use cqrs_es::AggregateError;
use onboarding_domain::{AccountError, IdentityError, ProfileError, Violations};
use onboarding_store::StoreError;

/// Why a ledger operation failed. Messages never contain personal data.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The input could not be parsed; each violation names a field.
    #[error("invalid input: {0}")]
    Invalid(Violations),
    /// An identity rule refused the command.
    #[error(transparent)]
    Identity(IdentityError),
    /// An account rule refused the command.
    #[error(transparent)]
    Account(AccountError),
    /// A profile rule refused the command.
    #[error(transparent)]
    Profile(ProfileError),
    /// Another command changed the same aggregate first; nothing was written. Retry (the
    /// ledger's `retry_conflicts` does so automatically).
    #[error(
        "{aggregate_type} {aggregate_id} was changed concurrently; nothing was written, retry"
    )]
    Conflict {
        /// The aggregate type.
        aggregate_type: &'static str,
        /// The aggregate id.
        aggregate_id: String,
    },
    /// No such aggregate.
    #[error("{aggregate_type} {aggregate_id} does not exist")]
    NotFound {
        /// The aggregate type.
        aggregate_type: &'static str,
        /// The aggregate id.
        aggregate_id: String,
    },
    /// A read model could not be brought up to date or read.
    #[error(transparent)]
    Projection(#[from] onboarding_projections::ProjectionError),
    /// The store failed (unreachable, schema missing, unreadable data).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl LedgerError {
    /// Whether retrying the same operation may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Conflict { .. } | Self::Store(StoreError::Unreachable(_))
        )
    }
}

/// Converts a `cqrs-es` failure into a [`LedgerError`].
pub(crate) fn from_aggregate<E>(
    err: AggregateError<E>,
    aggregate_type: &'static str,
    aggregate_id: &str,
    user: impl FnOnce(E) -> LedgerError,
) -> LedgerError
where
    E: std::error::Error,
{
    match err {
        AggregateError::UserError(e) => user(e),
        AggregateError::AggregateConflict => LedgerError::Conflict {
            aggregate_type,
            aggregate_id: aggregate_id.to_owned(),
        },
        AggregateError::DatabaseConnectionError(e) => {
            LedgerError::Store(StoreError::Unreachable(e.to_string()))
        }
        // serde's message can quote stored text (an opened personal field among it): only say
        // whose stored data does not read.
        AggregateError::DeserializationError(_) => LedgerError::Store(StoreError::Corrupt(
            format!("{aggregate_type} {aggregate_id}: stored data does not match its schema"),
        )),
        AggregateError::UnexpectedError(e) => {
            LedgerError::Store(StoreError::Database(e.to_string()))
        }
    }
}
