//! The low-level projection contract on PostgreSQL, for read models that want full control of
//! their SQL. (Most read models are simpler as a [`View`](crate::View).)

use async_trait::async_trait;
use sqlx::PgConnection;

use crate::error::ProjectionError;
use crate::event::ProjectedEvent;

/// A read model the projector maintains in PostgreSQL.
///
/// The projector calls [`apply`](Projection::apply) with consecutive batches of the log, each
/// inside a transaction that also advances the projection's checkpoint: the changes and the
/// checkpoint commit together or not at all, so every event is applied exactly once, in log
/// order, and per-aggregate sequence order. Only one projector process applies a projection at a
/// time. Write only through `tx`; anything else escapes these guarantees.
#[async_trait]
pub trait Projection: Send + Sync {
    /// The projection's name: its checkpoint key. A stored name: never rename casually.
    fn name(&self) -> &str;

    /// Creates what the projection needs (idempotent: runs at every projector start).
    async fn setup(&self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        let _ = conn;
        Ok(())
    }

    /// Applies consecutive events, in order, within the checkpoint's transaction. An error rolls
    /// the batch back and stops this projection at the failing event's position.
    async fn apply(
        &self,
        batch: &[ProjectedEvent],
        tx: &mut PgConnection,
    ) -> Result<(), ProjectionError>;

    /// Removes everything the projection wrote, before a rebuild from position zero (within the
    /// transaction that resets the checkpoint).
    async fn reset(&self, tx: &mut PgConnection) -> Result<(), ProjectionError>;
}
