//! The read side of the embedded store: the same views and audit logic as on PostgreSQL, held in
//! memory and caught up from the in-memory log on demand.

use std::any::Any;
use std::collections::HashMap;

use onboarding_store::EventRepository;

use crate::audit::{AuditEntry, MemoryAudit};
use crate::error::ProjectionError;
use crate::event::ProjectedEvent;
use crate::view::{apply_batch, View};
use crate::views::{Accounts, IdentityStatus, Orders, Profiles};

/// A view's rows in memory.
pub struct MemoryView<V: View> {
    view: V,
    rows: HashMap<String, V::Row>,
}

impl<V: View> MemoryView<V> {
    /// An empty view.
    pub fn new(view: V) -> Self {
        Self {
            view,
            rows: HashMap::new(),
        }
    }

    /// The row at `key`.
    pub fn get(&self, key: &str) -> Option<&V::Row> {
        self.rows.get(key)
    }

    /// Every row.
    pub fn rows(&self) -> impl Iterator<Item = (&String, &V::Row)> {
        self.rows.iter()
    }
}

/// A read model the in-memory projector maintains.
pub trait MemoryProjection: Send + Sync + Any {
    /// Its name.
    fn name(&self) -> &str;
    /// Applies consecutive events.
    fn apply(&mut self, batch: &[ProjectedEvent]) -> Result<(), ProjectionError>;
    /// For downcasting to the concrete read model.
    fn as_any(&self) -> &dyn Any;
}

impl<V: View> MemoryProjection for MemoryView<V> {
    fn name(&self) -> &str {
        self.view.name()
    }

    fn apply(&mut self, batch: &[ProjectedEvent]) -> Result<(), ProjectionError> {
        let mut rows: HashMap<String, Option<V::Row>> = batch
            .iter()
            .flat_map(|e| self.view.keys(e))
            .map(|k| {
                let row = self.rows.get(&k).cloned();
                (k, row)
            })
            .collect();
        for (key, _) in apply_batch(&self.view, &mut rows, batch)? {
            match rows.remove(&key).flatten() {
                Some(row) => self.rows.insert(key, row),
                None => self.rows.remove(&key),
            };
        }
        Ok(())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl MemoryProjection for MemoryAudit {
    fn name(&self) -> &str {
        crate::audit::AUDIT
    }

    fn apply(&mut self, batch: &[ProjectedEvent]) -> Result<(), ProjectionError> {
        MemoryAudit::apply(self, batch)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// In-memory projections, each with its own checkpoint, caught up from a repository's log.
///
/// Checkpoints are per projection, as on PostgreSQL: when one fails, the others keep what they
/// applied, and the next catch-up hands each only the events after its own checkpoint.
pub struct MemoryProjector {
    projections: Vec<(Box<dyn MemoryProjection>, i64)>,
    batch_size: usize,
}

impl Default for MemoryProjector {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryProjector {
    /// The built-in read models, empty.
    pub fn new() -> Self {
        let projections: Vec<Box<dyn MemoryProjection>> = vec![
            Box::new(MemoryView::new(IdentityStatus)),
            Box::new(MemoryView::new(Accounts)),
            Box::new(MemoryView::new(Profiles)),
            Box::new(MemoryView::new(Orders)),
            Box::new(MemoryAudit::default()),
        ];
        Self {
            projections: projections.into_iter().map(|p| (p, 0)).collect(),
            batch_size: 500,
        }
    }

    /// Adds a custom view. A view added after a catch-up starts empty at position zero and
    /// receives the whole log at the next one.
    pub fn register<V: View>(&mut self, view: V) {
        self.projections.push((Box::new(MemoryView::new(view)), 0));
    }

    /// The position every projection has applied.
    pub fn position(&self) -> i64 {
        self.projections
            .iter()
            .map(|(_, position)| *position)
            .min()
            .unwrap_or_default()
    }

    /// Applies everything committed after each projection's checkpoint.
    pub async fn catch_up(&mut self, repo: &EventRepository) -> Result<i64, ProjectionError> {
        loop {
            let from = self.position();
            let records = repo.read_after(from, self.batch_size).await?;
            let Some(last) = records.last().map(|r| r.position) else {
                return Ok(from);
            };
            let batch = records
                .into_iter()
                .map(ProjectedEvent::decode)
                .collect::<Result<Vec<_>, _>>()?;
            for (p, position) in &mut self.projections {
                let unseen = batch.partition_point(|e| e.position() <= *position);
                if unseen < batch.len() {
                    p.apply(&batch[unseen..])?;
                    *position = last;
                }
            }
        }
    }

    /// The view named `V::name()`, if registered.
    pub fn view<V: View>(&self, view: &V) -> Option<&MemoryView<V>> {
        self.projections
            .iter()
            .find(|(p, _)| p.name() == view.name())
            .and_then(|(p, _)| p.as_any().downcast_ref::<MemoryView<V>>())
    }

    /// The audit trail.
    pub fn audit(&self) -> &[AuditEntry] {
        self.projections
            .iter()
            .find_map(|(p, _)| p.as_any().downcast_ref::<MemoryAudit>())
            .map(MemoryAudit::entries)
            .unwrap_or_default()
    }
}
