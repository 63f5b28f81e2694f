//! Custom views the tests register: they see every event, including events of aggregate types
//! the ledger does not define, and keep what they saw.

use onboarding_projections::{ProjectedEvent, View};
use serde::{Deserialize, Serialize};

/// What a view saw of one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// The log position.
    pub position: i64,
    /// The aggregate type.
    pub aggregate_type: String,
    /// The aggregate id.
    pub aggregate_id: String,
    /// The place in the aggregate's stream.
    pub sequence: i64,
    /// How many times the view was handed this event.
    pub applied: u32,
}

impl Seen {
    fn of(event: &ProjectedEvent) -> Self {
        Self {
            position: event.position(),
            aggregate_type: event.record.aggregate_type.clone(),
            aggregate_id: event.record.aggregate_id.clone(),
            sequence: event.record.sequence,
            applied: 1,
        }
    }
}

/// `every_event`: one row per event, keyed by position, counting how often it was applied.
#[derive(Debug, Clone, Copy, Default)]
pub struct EveryEvent;

impl View for EveryEvent {
    type Row = Seen;

    fn name(&self) -> &'static str {
        "every_event"
    }

    fn keys(&self, event: &ProjectedEvent) -> Vec<String> {
        vec![event.position().to_string()]
    }

    fn apply(
        &self,
        _key: &str,
        row: &mut Option<Seen>,
        event: &ProjectedEvent,
    ) -> Result<(), String> {
        match row {
            Some(seen) => seen.applied += 1,
            None => *row = Some(Seen::of(event)),
        }
        Ok(())
    }
}

/// `arrival_order`: a single row listing every event in the order the view received them.
#[derive(Debug, Clone, Copy, Default)]
pub struct ArrivalOrder;

/// The key of [`ArrivalOrder`]'s only row.
pub const ARRIVALS: &str = "arrivals";

impl View for ArrivalOrder {
    type Row = Vec<Seen>;

    fn name(&self) -> &'static str {
        "arrival_order"
    }

    fn keys(&self, _event: &ProjectedEvent) -> Vec<String> {
        vec![ARRIVALS.to_owned()]
    }

    fn apply(
        &self,
        _key: &str,
        row: &mut Option<Vec<Seen>>,
        event: &ProjectedEvent,
    ) -> Result<(), String> {
        row.get_or_insert_with(Vec::new).push(Seen::of(event));
        Ok(())
    }
}

/// Checks that `arrivals` are the log's positions 1..=`head`, each once and in order, and that
/// every aggregate's events came in its sequence order 1, 2, 3...
pub fn assert_in_log_order(arrivals: &[Seen], head: i64) {
    let positions: Vec<i64> = arrivals.iter().map(|s| s.position).collect();
    assert_eq!(
        positions,
        (1..=head).collect::<Vec<_>>(),
        "every position once, in order"
    );
    let mut next = std::collections::HashMap::new();
    for seen in arrivals {
        let expected = next
            .entry((seen.aggregate_type.clone(), seen.aggregate_id.clone()))
            .or_insert(1);
        assert_eq!(
            seen.sequence, *expected,
            "{} {} arrived out of sequence at position {}",
            seen.aggregate_type, seen.aggregate_id, seen.position
        );
        *expected += 1;
    }
}
