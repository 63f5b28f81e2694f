//! The events poller: applies Paxos events in Paxos's order, those whose webhooks were lost
//! (downtime, dropped deliveries) and those a webhook delivered out of order and left to it
//! ([`Handled::Superseded`](crate::Handled::Superseded)), with
//! `GET /events?created_at.gt=<cursor>`, ascending, 100 at a time. The cursor
//! (the last handled event's `created_at`) is saved after every page, so a restart resumes
//! where it stopped; events seen again are ignored by the same idempotent path as webhooks.

use chrono::{DateTime, Utc};
use onboarding_paxos::model::EventsQuery;
use onboarding_paxos::PaxosClient;

use crate::checkpoint::{Checkpoints, EVENTS_CURSOR};
use crate::decisions::{DecisionRecorder, Handled};
use crate::error::MirrorError;

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
}

impl EventsPoller {
    /// A poller reading from `paxos`, recording through `recorder`, keeping its cursor in
    /// `checkpoints`.
    pub fn new(paxos: PaxosClient, recorder: DecisionRecorder, checkpoints: Checkpoints) -> Self {
        Self {
            paxos,
            recorder,
            checkpoints,
        }
    }

    /// Reads every event after the cursor, handles each, and moves the cursor past them. An
    /// event that fails stops the catch-up before it (the cursor stays), to be tried again.
    pub async fn catch_up(&self) -> Result<PollReport, MirrorError> {
        let mut report = PollReport::default();
        loop {
            let micros = self.checkpoints.load(EVENTS_CURSOR).await?;
            let created_after = (micros > 0)
                .then(|| DateTime::<Utc>::from_timestamp_micros(micros))
                .flatten();
            let events = self
                .paxos
                .list_events(&EventsQuery {
                    created_after,
                    limit: Some(PAGE),
                    event_type: None,
                })
                .await?;
            let page_len = events.len();
            for event in &events {
                report.read += 1;
                if let Handled::Recorded(_) = self.recorder.handle_event(event).await? {
                    report.recorded += 1;
                }
                // Micro precision: an event sharing the cursor's microsecond may be read again
                // and is then ignored as already applied.
                let at = event.created_at.timestamp_micros().max(micros);
                self.checkpoints.save(EVENTS_CURSOR, at).await?;
            }
            if page_len < PAGE as usize {
                return Ok(report);
            }
        }
    }
}
