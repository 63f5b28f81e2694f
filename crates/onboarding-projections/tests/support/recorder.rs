//! A low-level [`Projection`] that records which projector instance applied which event, one row
//! per event under a primary key on the position (a second application fails loudly), with
//! faults the tests inject: an error, a panic, or a batch held open mid-transaction.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use onboarding_projections::{ProjectedEvent, Projection, ProjectionError};
use sqlx::{PgConnection, PgPool};
use tokio::sync::{mpsc, Notify};

/// What goes wrong, once, in the batch holding a position.
pub enum Fault {
    /// `apply` writes the batch's rows, then returns an error for this position.
    Fail(i64),
    /// `apply` writes the batch's rows, then panics.
    Panic(i64),
    /// `apply` writes the batch's rows, reports the position on `entered` and waits for `release`
    /// (forever, if never released), with the batch's transaction open.
    Hold {
        /// The position.
        at: i64,
        /// Told when the batch is held.
        entered: mpsc::UnboundedSender<i64>,
        /// Lets the batch go on.
        release: Arc<Notify>,
    },
}

impl Fault {
    fn position(&self) -> i64 {
        match self {
            Fault::Fail(p) | Fault::Panic(p) => *p,
            Fault::Hold { at, .. } => *at,
        }
    }
}

/// Shared by every [`Recorder`] of one test (several projector "processes"): the fault to
/// inject and how many `apply` calls ran at once.
#[derive(Default)]
pub struct Control {
    fault: Mutex<Option<Fault>>,
    active: AtomicUsize,
    overlaps: AtomicUsize,
}

impl Control {
    /// No fault.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// Injects `fault` (once).
    pub fn with_fault(fault: Fault) -> Arc<Self> {
        let control = Self::default();
        *control.fault.lock().expect("unpoisoned") = Some(fault);
        Arc::new(control)
    }

    /// How often an `apply` started while another was still running.
    pub fn overlaps(&self) -> usize {
        self.overlaps.load(Ordering::SeqCst)
    }

    /// Whether the fault has not fired yet.
    pub fn armed(&self) -> bool {
        self.fault.lock().expect("unpoisoned").is_some()
    }

    fn take_fault_in(&self, batch: &[ProjectedEvent]) -> Option<Fault> {
        let mut fault = self.fault.lock().expect("unpoisoned");
        let hit = fault
            .as_ref()
            .is_some_and(|f| batch.iter().any(|e| e.position() == f.position()));
        if hit {
            fault.take()
        } else {
            None
        }
    }
}

/// Counts an `apply` as running until dropped (also when its future is dropped mid-way).
struct Running<'a>(&'a Control);

impl<'a> Running<'a> {
    fn start(control: &'a Control) -> Self {
        if control.active.fetch_add(1, Ordering::SeqCst) > 0 {
            control.overlaps.fetch_add(1, Ordering::SeqCst);
        }
        Self(control)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The recording projection; its table is named like the projection.
pub struct Recorder {
    name: String,
    instance: String,
    control: Arc<Control>,
}

impl Recorder {
    /// The projection `name`, as applied by projector `instance`.
    pub fn new(name: &str, instance: &str, control: Arc<Control>) -> Self {
        Self {
            name: name.to_owned(),
            instance: instance.to_owned(),
            control,
        }
    }
}

#[async_trait]
impl Projection for Recorder {
    fn name(&self) -> &str {
        &self.name
    }

    async fn setup(&self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        sqlx::query(&format!(
            "CREATE TABLE IF NOT EXISTS {} (
                 position       bigint PRIMARY KEY,
                 instance       text   NOT NULL,
                 aggregate_type text   NOT NULL,
                 aggregate_id   text   NOT NULL,
                 sequence       bigint NOT NULL)",
            self.name
        ))
        .execute(conn)
        .await?;
        Ok(())
    }

    async fn apply(
        &self,
        batch: &[ProjectedEvent],
        tx: &mut PgConnection,
    ) -> Result<(), ProjectionError> {
        let _running = Running::start(&self.control);
        let column = |f: fn(&ProjectedEvent) -> String| batch.iter().map(f).collect::<Vec<_>>();
        sqlx::query(&format!(
            "INSERT INTO {} (position, instance, aggregate_type, aggregate_id, sequence)
             SELECT p, $2, t, i, s FROM UNNEST($1::bigint[], $3::text[], $4::text[], $5::bigint[])
                 AS b(p, t, i, s)",
            self.name
        ))
        .bind(
            batch
                .iter()
                .map(ProjectedEvent::position)
                .collect::<Vec<_>>(),
        )
        .bind(&self.instance)
        .bind(column(|e| e.record.aggregate_type.clone()))
        .bind(column(|e| e.record.aggregate_id.clone()))
        .bind(batch.iter().map(|e| e.record.sequence).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
        match self.control.take_fault_in(batch) {
            None => Ok(()),
            Some(Fault::Fail(position)) => Err(ProjectionError::Apply {
                position,
                message: format!("injected failure at {position}"),
            }),
            Some(Fault::Panic(position)) => panic!("injected panic at {position}"),
            Some(Fault::Hold {
                at,
                entered,
                release,
            }) => {
                entered.send(at).expect("the test waits for the held batch");
                release.notified().await;
                Ok(())
            }
        }
    }

    async fn reset(&self, tx: &mut PgConnection) -> Result<(), ProjectionError> {
        sqlx::query(&format!("DELETE FROM {}", self.name))
            .execute(tx)
            .await?;
        Ok(())
    }
}

/// The `(position, instance)` rows of recorder `name`, by position.
pub async fn recorded(pool: &PgPool, name: &str) -> Vec<(i64, String)> {
    sqlx::query_as(&format!(
        "SELECT position, instance FROM {name} ORDER BY position"
    ))
    .fetch_all(pool)
    .await
    .expect("the recorder's table is readable")
}

/// The positions of `rows`.
pub fn positions(rows: &[(i64, String)]) -> Vec<i64> {
    rows.iter().map(|(p, _)| *p).collect()
}
