//! Errors of the store layer.

/// Why the store could not do what was asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached; check `DATABASE_URL` and that the server is up, then retry.
    #[error("cannot reach the database: {0}")]
    Unreachable(String),
    /// The configuration is wrong (a malformed database URL, say): retrying cannot help.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The database is reachable but its schema is missing or old; run `onboarding migrate`.
    #[error("the database schema is not set up ({0}); run `onboarding migrate`")]
    SchemaMissing(String),
    /// Applying migrations failed; the message says which.
    #[error("migration failed: {0}")]
    Migration(String),
    /// The identity was forgotten: its personal data can no longer be read or written.
    #[error("personal data of identity {0} has been erased")]
    PersonalDataErased(onboarding_domain::IdentityId),
    /// Another writer appended to the aggregate first; nothing was written.
    #[error("the aggregate was changed concurrently; nothing was written")]
    Conflict,
    /// Another aggregate the decision relied on changed before the append; nothing was written.
    #[error("a fact the decision relied on changed before it was stored; nothing was written")]
    StaleRead,
    /// The `cip_id` claim the decision relied on is held by another identity; nothing was
    /// written.
    #[error("the cip_id was claimed by another identity first; nothing was written")]
    CipClaimLost,
    /// Any other database error; retrying may help if it was transient.
    #[error("database error: {0}")]
    Database(String),
    /// A stored event or snapshot cannot be read; the log needs an upcaster or repair.
    #[error("stored data cannot be read: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => Self::Unreachable(err.to_string()),
            sqlx::Error::Database(db) if is_undefined_object(db.code().as_deref()) => {
                Self::SchemaMissing(db.message().to_owned())
            }
            _ => Self::Database(err.to_string()),
        }
    }
}

/// Undefined table / function / column: the schema is missing.
fn is_undefined_object(code: Option<&str>) -> bool {
    // sqlx offers `is_unique_violation()` and friends but no helper for these classes.
    matches!(code, Some("42P01" | "42883" | "42703"))
}

impl From<cqrs_es::persist::PersistenceError> for StoreError {
    fn from(err: cqrs_es::persist::PersistenceError) -> Self {
        use cqrs_es::persist::PersistenceError as P;
        match err {
            P::OptimisticLockError => Self::Conflict,
            P::ConnectionError(e) => Self::Unreachable(e.to_string()),
            // serde's message can quote stored text: keep only what kind of failure it was.
            P::DeserializationError(_) => {
                Self::Corrupt("a stored event or snapshot does not match its schema".to_owned())
            }
            P::UnknownError(e) => Self::Database(e.to_string()),
        }
    }
}
