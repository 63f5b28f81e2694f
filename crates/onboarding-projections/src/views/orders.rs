//! `orders`: one row per order — what was asked, what filled, how it ended.
//!
//! An order id is unique within its profile (the domain refuses a second order under one id
//! there), not across profiles: a caller choosing its own ids may use one on two profiles. So a
//! row's key is the profile and the order together, [`OrderRow::key`].

use chrono::{DateTime, Utc};
use onboarding_domain::profile::Hold;
use onboarding_domain::{Amount, OrderId, OrderOutcome, OrderRequest, ProfileEvent, ProfileId};
use serde::{Deserialize, Serialize};

use crate::event::{DomainEvent, ProjectedEvent};
use crate::view::View;

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderState {
    /// Placed, nothing filled yet.
    Open,
    /// Partly filled, still working.
    PartiallyFilled,
    /// Completely filled.
    Filled,
    /// Cancelled.
    Cancelled,
    /// Rejected.
    Rejected,
}

/// One order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRow {
    /// The order.
    pub order_id: OrderId,
    /// Its profile.
    pub profile_id: ProfileId,
    /// The request as placed.
    pub request: OrderRequest,
    /// The hold taken.
    pub hold: Hold,
    /// Where it stands.
    pub status: OrderState,
    /// Base filled so far.
    pub filled_base: Amount,
    /// Quote exchanged so far.
    pub filled_quote: Amount,
    /// Released back to `available` when it closed.
    pub released: Option<Amount>,
    /// When it was placed.
    pub placed_at: DateTime<Utc>,
    /// When it closed.
    pub closed_at: Option<DateTime<Utc>>,
}

impl OrderRow {
    /// The row's key in the view: `<profile id>/<order id>`.
    pub fn key(profile_id: ProfileId, order_id: OrderId) -> String {
        format!("{profile_id}/{order_id}")
    }
}

/// The `orders` view.
#[derive(Debug, Clone, Copy, Default)]
pub struct Orders;

impl View for Orders {
    type Row = OrderRow;

    fn name(&self) -> &'static str {
        "orders"
    }

    fn keys(&self, event: &ProjectedEvent) -> Vec<String> {
        let order_id = match &event.event {
            DomainEvent::Profile(ProfileEvent::OrderPlaced { order, .. }) => order.order_id,
            DomainEvent::Profile(
                ProfileEvent::OrderFilled { order_id, .. }
                | ProfileEvent::OrderClosed { order_id, .. },
            ) => *order_id,
            _ => return Vec::new(),
        };
        // A profile's events are stored under the profile id as text, which is `OrderRow::key`'s
        // first half.
        vec![format!("{}/{order_id}", event.aggregate_id())]
    }

    fn apply(
        &self,
        _key: &str,
        row: &mut Option<OrderRow>,
        event: &ProjectedEvent,
    ) -> Result<(), String> {
        let DomainEvent::Profile(e) = &event.event else {
            return Ok(());
        };
        let at = event.record.recorded_at;
        match e {
            ProfileEvent::OrderPlaced { order, hold } => {
                let profile_id = event
                    .aggregate_id()
                    .parse::<ProfileId>()
                    .map_err(|e| e.to_string())?;
                *row = Some(OrderRow {
                    order_id: order.order_id,
                    profile_id,
                    request: order.clone(),
                    hold: hold.clone(),
                    status: OrderState::Open,
                    filled_base: Amount::ZERO,
                    filled_quote: Amount::ZERO,
                    released: None,
                    placed_at: at,
                    closed_at: None,
                });
            }
            ProfileEvent::OrderFilled {
                cumulative_base,
                cumulative_quote,
                ..
            } => {
                let r = row.as_mut().ok_or("OrderFilled before OrderPlaced")?;
                r.filled_base = *cumulative_base;
                r.filled_quote = *cumulative_quote;
                r.status = OrderState::PartiallyFilled;
            }
            ProfileEvent::OrderClosed {
                outcome, released, ..
            } => {
                let r = row.as_mut().ok_or("OrderClosed before OrderPlaced")?;
                r.status = match outcome {
                    OrderOutcome::Filled => OrderState::Filled,
                    OrderOutcome::Cancelled => OrderState::Cancelled,
                    OrderOutcome::Rejected => OrderState::Rejected,
                };
                r.released = Some(*released);
                r.closed_at = Some(at);
            }
            _ => {}
        }
        Ok(())
    }
}
