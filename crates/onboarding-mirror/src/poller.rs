//! The events poller: applies Paxos events in Paxos's order, those whose webhooks were lost
//! (downtime, dropped deliveries) and those a webhook delivered out of order and left to it
//! ([`Handled::Superseded`]), with `GET /events`, ascending, 100 at a
//! time. The cursor (the last handled event's `created_at`, in microseconds) is saved after
//! every event, so a restart resumes where it stopped.
//!
//! Paxos pages events by time alone, and events can share an instant (nothing makes their
//! timestamps unique). So each page is read from the cursor's instant on
//! (`created_at.gte`), and the events this process already handled at that instant are passed
//! over: a page that ends inside an instant loses none of its other events (`created_at.gt`
//! would skip them for good). Events seen again after a restart are ignored by the same
//! idempotent path as webhooks. A whole page of one instant, all handled, cannot be paged past
//! any other way: the rest of that instant is then skipped (`created_at.gte` the next
//! microsecond), with a warning.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use onboarding_paxos::model::EventsQuery;
use onboarding_paxos::PaxosClient;

use crate::checkpoint::{Checkpoints, EVENTS_CURSOR};
use crate::decisions::{DecisionRecorder, Handled};
use crate::error::MirrorError;
use crate::lock;

/// Page size of `GET /events` (Paxos's maximum).
const PAGE: u32 = 100;

/// What one catch-up did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Events read.
    pub read: usize,
    /// Decisions recorded.
    pub recorded: usize,
}

/// Polls `GET /events` from a persisted cursor.
#[derive(Debug, Clone)]
pub struct EventsPoller {
    paxos: PaxosClient,
    recorder: DecisionRecorder,
    checkpoints: Checkpoints,
    /// The events handled at the cursor's instant, kept between catch-ups of this process.
    at_cursor: Arc<Mutex<AtInstant>>,
}

/// Event ids handled at one instant (microseconds).
#[derive(Debug, Default)]
struct AtInstant {
    instant: i64,
    ids: HashSet<String>,
}

impl EventsPoller {
    /// A poller reading from `paxos`, recording through `recorder`, keeping its cursor in
    /// `checkpoints`.
    pub fn new(paxos: PaxosClient, recorder: DecisionRecorder, checkpoints: Checkpoints) -> Self {
        Self {
            paxos,
            recorder,
            checkpoints,
            at_cursor: Arc::default(),
        }
    }

    /// Reads every event from the cursor on, handles each, and moves the cursor past them. An
    /// event that fails stops the catch-up before it (the cursor stays), to be tried again.
    pub async fn catch_up(&self) -> Result<PollReport, MirrorError> {
        let mut cursor = self.checkpoints.load(EVENTS_CURSOR).await?;
        // The events handled at the cursor's instant: by an earlier catch-up of this process
        // when the cursor has not moved since (after a restart, they are read again).
        let mut at_cursor = {
            let mut kept = lock(&self.at_cursor);
            if kept.instant == cursor {
                std::mem::take(&mut kept.ids)
            } else {
                HashSet::new()
            }
        };
        let caught_up = self.pages(&mut cursor, &mut at_cursor).await;
        *lock(&self.at_cursor) = AtInstant {
            instant: cursor,
            ids: at_cursor,
        };
        caught_up
    }

    /// Reads and handles pages from `cursor` on, passing over the events of `at_cursor`, and
    /// moves both along.
    async fn pages(
        &self,
        cursor: &mut i64,
        at_cursor: &mut HashSet<String>,
    ) -> Result<PollReport, MirrorError> {
        let mut report = PollReport::default();
        let mut past_instant = false;
        loop {
            let from = (*cursor > 0)
                .then(|| DateTime::<Utc>::from_timestamp_micros(*cursor))
                .flatten();
            // Past an instant means from the cursor's next microsecond on (finer timestamps
            // within the cursor's would otherwise be read again and again).
            let next_micro = from.map(|t| t + chrono::TimeDelta::microseconds(1));
            let query = EventsQuery {
                created_from: if past_instant { next_micro } else { from },
                created_after: None,
                limit: Some(PAGE),
                event_type: None,
            };
            let events = self.paxos.list_events(&query).await?;
            let mut handled = 0;
            for event in &events {
                // Micro precision: an event within the cursor's microsecond counts as at it.
                let at = event.created_at.timestamp_micros().max(*cursor);
                if at == *cursor && at_cursor.contains(&event.id) {
                    continue;
                }
                report.read += 1;
                handled += 1;
                if let Handled::Recorded(_) = self.recorder.handle_event(event).await? {
                    report.recorded += 1;
                }
                if at > *cursor {
                    at_cursor.clear();
                    *cursor = at;
                }
                at_cursor.insert(event.id.clone());
                self.checkpoints.save(EVENTS_CURSOR, *cursor).await?;
            }
            if events.len() < PAGE as usize {
                return Ok(report);
            }
            past_instant = handled == 0;
            if past_instant {
                tracing::warn!(
                    cursor = *cursor,
                    "a whole page of Paxos events shares one instant: skipping the rest of it"
                );
            }
        }
    }
}
