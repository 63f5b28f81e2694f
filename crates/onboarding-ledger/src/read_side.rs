//! The ledger's read side: built-in read models, audit trails, and state as of a past time.
//!
//! On PostgreSQL the read models are maintained by the projector (`onboarding projector run`, or
//! [`Ledger::catch_up`]), so they can trail the log by the projector's lag; on the embedded
//! store they are caught up in-process before every read.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use onboarding_domain::{event_names, Identity, IdentityId, Profile, ProfileId};
use onboarding_projections::audit::{self, AuditEntry};
use onboarding_projections::views::{IdentityStatus, IdentityStatusRow};
use onboarding_projections::{view, CatchUp, MemoryProjector, ProjectionError, Projector};
use onboarding_store::aggregates::all_upcasters;
use onboarding_store::EventRepository;
use tokio::sync::Mutex;

use crate::error::LedgerError;
use crate::Ledger;

/// How long [`Ledger::catch_up`] waits for a running projector to apply what is committed.
const CATCH_UP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// How long [`Ledger::catch_up`] waits on a projection held elsewhere before trying to take
/// it over.
const RETAKE_AFTER: std::time::Duration = std::time::Duration::from_millis(250);

/// Where the read models live.
pub(crate) enum ReadSide {
    /// In this process, next to the embedded store.
    Memory(Mutex<MemoryProjector>),
    /// In PostgreSQL tables, written by the projector.
    Postgres(sqlx::PgPool),
}

impl ReadSide {
    pub(crate) fn for_repository(repo: &EventRepository) -> Self {
        match repo.pool() {
            Some(pool) => Self::Postgres(pool.clone()),
            None => Self::Memory(Mutex::new(MemoryProjector::new())),
        }
    }
}

impl Ledger {
    /// A projector over this ledger's database with the built-in read models (`None` on the
    /// embedded store, whose read models need no projector process).
    pub fn projector(&self) -> Option<Projector> {
        match &self.read_side {
            ReadSide::Memory(_) => None,
            ReadSide::Postgres(pool) => Some(Projector::new(pool.clone())),
        }
    }

    /// Brings the built-in read models up to the head of the log. On PostgreSQL it applies the
    /// projections no running projector holds and waits (up to 30 s) for the others.
    pub async fn catch_up(&self) -> Result<(), LedgerError> {
        match &self.read_side {
            ReadSide::Memory(m) => {
                m.lock().await.catch_up(self.repository()).await?;
            }
            ReadSide::Postgres(pool) => {
                let projector = Projector::new(pool.clone());
                let head = onboarding_store::postgres::PostgresLog::new(pool.clone())
                    .sequence_visible(CATCH_UP_TIMEOUT)
                    .await?;
                let deadline = tokio::time::Instant::now() + CATCH_UP_TIMEOUT;
                let mut done = projector.catch_up().await?;
                while done.iter().any(|(_, c)| *c == CatchUp::HeldElsewhere) {
                    // Another process owns those: a projector following the log gets past our
                    // head, but another short catch-up (a concurrent `catch_up`) may stop before
                    // it and let go. Wait a little, then take over what was let go.
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    match projector.wait_until(head, left.min(RETAKE_AFTER)).await {
                        Ok(()) => break,
                        Err(ProjectionError::Lagging { .. }) if !left.is_zero() => {}
                        Err(e) => return Err(e.into()),
                    }
                    done = projector.catch_up().await?;
                }
            }
        }
        Ok(())
    }

    /// Recomputes every stream's hash chain and the log digest (up to `digest_at`, else the head).
    /// Only the PostgreSQL store keeps hash chains.
    pub async fn verify(
        &self,
        digest_at: Option<i64>,
    ) -> Result<Option<onboarding_store::integrity::Verification>, LedgerError> {
        match &self.read_side {
            ReadSide::Memory(_) => Ok(None),
            ReadSide::Postgres(pool) => Ok(Some(
                onboarding_store::integrity::verify(pool, digest_at).await?,
            )),
        }
    }

    /// An identity's row in the `identity_status` read model.
    pub async fn identity_status(
        &self,
        id: IdentityId,
    ) -> Result<Option<IdentityStatusRow>, LedgerError> {
        let key = id.to_string();
        match &self.read_side {
            ReadSide::Memory(m) => {
                let mut m = m.lock().await;
                m.catch_up(self.repository()).await?;
                Ok(m.view(&IdentityStatus).and_then(|v| v.get(&key)).cloned())
            }
            ReadSide::Postgres(pool) => Ok(view::load_row(pool, "identity_status", &key).await?),
        }
    }

    /// The audit trail of one identity (or every identity), in log order, as recorded up to
    /// `as_of` (everything when `None`).
    pub async fn audit_trail(
        &self,
        identity: Option<IdentityId>,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<Vec<AuditEntry>, LedgerError> {
        match &self.read_side {
            ReadSide::Memory(m) => {
                let mut m = m.lock().await;
                m.catch_up(self.repository()).await?;
                Ok(m.audit()
                    .iter()
                    .filter(|e| identity.is_none_or(|id| e.identity_id == id))
                    .filter(|e| as_of.is_none_or(|t| e.recorded_at <= t))
                    .cloned()
                    .collect())
            }
            ReadSide::Postgres(pool) => Ok(audit::load_trail(pool, identity, as_of).await?),
        }
    }

    /// The identity as it was at `as_of`, replayed from its events recorded until then (`None`
    /// when it had not been submitted yet).
    pub async fn identity_as_of(
        &self,
        id: IdentityId,
        as_of: DateTime<Utc>,
    ) -> Result<Option<Identity>, LedgerError> {
        let identity: Identity = self
            .replay_until(event_names::IDENTITY, &id.to_string(), as_of)
            .await?;
        Ok(identity.status().is_some().then_some(identity))
    }

    /// The profile as it was at `as_of` (`None` when not yet opened).
    pub async fn profile_as_of(
        &self,
        id: ProfileId,
        as_of: DateTime<Utc>,
    ) -> Result<Option<Profile>, LedgerError> {
        let profile: Profile = self
            .replay_until(event_names::PROFILE, &id.to_string(), as_of)
            .await?;
        Ok(profile.account_id().is_some().then_some(profile))
    }

    async fn replay_until<A: Aggregate>(
        &self,
        aggregate_type: &str,
        id: &str,
        as_of: DateTime<Utc>,
    ) -> Result<A, LedgerError> {
        let upcasters = all_upcasters();
        let mut state = A::default();
        for record in self.repository().stream_of(aggregate_type, id).await? {
            if record.recorded_at > as_of {
                break;
            }
            state.apply(record.decode::<A>(&upcasters)?);
        }
        Ok(state)
    }
}
