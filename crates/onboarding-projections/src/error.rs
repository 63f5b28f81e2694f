//! Errors of the read side.

use onboarding_store::StoreError;

/// Why a projection could not go on.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// The event at `position` could not be decoded; add an upcaster, then restart the
    /// projection (`onboarding projector run --rebuild NAME` if rows are affected).
    #[error("event at position {position} cannot be decoded: {message}")]
    Decode {
        /// The log position.
        position: i64,
        /// Why.
        message: String,
    },
    /// The projection refused the event at `position`; fix the projection, then clear the
    /// failure by rebuilding it.
    #[error("projection failed at position {position}: {message}")]
    Apply {
        /// The log position.
        position: i64,
        /// Why.
        message: String,
    },
    /// Another projector advanced this projection's checkpoint: this one lost its lease and
    /// stopped without writing.
    #[error("projection {0} is being applied by another projector")]
    LeaseLost(String),
    /// The projection stopped earlier at a failing event; see `onboarding projector status`.
    #[error("projection {name} is stopped at position {position}: {failure}")]
    Stopped {
        /// The projection.
        name: String,
        /// Where it stopped.
        position: i64,
        /// Why.
        failure: String,
    },
    /// The read models did not reach a position in time: a projector holding their leases is
    /// slow or stuck; check `onboarding projector status`.
    #[error("read models did not reach position {target} within {waited:?}")]
    Lagging {
        /// The position waited for.
        target: i64,
        /// How long.
        waited: std::time::Duration,
    },
    /// No projection has this name.
    #[error("no projection named {0}")]
    Unknown(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ProjectionError {
    fn from(err: sqlx::Error) -> Self {
        Self::Store(StoreError::from(err))
    }
}
