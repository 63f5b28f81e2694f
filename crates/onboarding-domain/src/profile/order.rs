//! Orders: the request as placed, the amount rules Paxos applies, and the hold each order takes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::OrderId;
use crate::money::{Amount, Asset, Market};
use crate::violation::{Problem, Violations};
use crate::vocab::{OrderSide, OrderType, TimeInForce};

/// An order as placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRequest {
    /// The ledger's order id (the `ref_id` at Paxos).
    pub order_id: OrderId,
    /// Buy or sell.
    pub side: OrderSide,
    /// The market, e.g. BTCUSD.
    pub market: Market,
    /// How it executes.
    pub order_type: OrderType,
    /// Quantity of the base asset (limit orders, market sells, stops).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_amount: Option<Amount>,
    /// Quantity of the quote asset to spend (market buys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote_amount: Option<Amount>,
    /// Limit price in the quote asset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Amount>,
    /// Trigger price of stop orders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_price: Option<Amount>,
    /// How long it stays open.
    pub time_in_force: TimeInForce,
    /// When a good-till-time order expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// Funds set aside for an open order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// The asset held: the quote asset for buys, the base asset for sells.
    pub asset: Asset,
    /// How much.
    pub amount: Amount,
}

impl OrderRequest {
    /// Checks the amount rules and computes the hold:
    ///
    /// - `LIMIT` and `POST_ONLY_LIMIT`: `base_amount` and `price`; a buy holds `base × price`
    ///   of the quote asset.
    /// - `MARKET` buy: `quote_amount`, held in full. `MARKET` sell: `base_amount`.
    /// - `STOP_LIMIT`: sells only, `base_amount`, `price` and `stop_price`.
    /// - `STOP_MARKET`: sells only, `base_amount` and `stop_price`.
    /// - A sell holds `base_amount` of the base asset. `GTT` needs `expires_at`.
    /// - In USD markets, Paxos's maximum notional values: 500,000 for a market buy's
    ///   `quote_amount`, 1,500,000 (BTCUSD, ETHUSD) or 1,000,000 (others) for a limit order's
    ///   `base_amount × price`. (A market sell's value is not known before it executes.)
    pub fn hold(&self) -> Result<Hold, Violations> {
        let mut v = Violations::new();
        let needs = |v: &mut Violations, field: &str, value: &Option<Amount>| {
            if value.is_none() {
                v.push(field, Problem::Missing);
            }
        };
        let forbids = |v: &mut Violations, field: &str, value: &Option<Amount>| {
            if value.is_some() {
                v.push(field, Problem::NotAllowed);
            }
        };
        use OrderSide::{Buy, Sell};
        use OrderType::*;
        match (self.order_type, self.side) {
            (Limit | PostOnlyLimit, _) => {
                needs(&mut v, "base_amount", &self.base_amount);
                needs(&mut v, "price", &self.price);
                forbids(&mut v, "quote_amount", &self.quote_amount);
                forbids(&mut v, "stop_price", &self.stop_price);
            }
            (Market, Buy) => {
                needs(&mut v, "quote_amount", &self.quote_amount);
                forbids(&mut v, "base_amount", &self.base_amount);
                forbids(&mut v, "price", &self.price);
                forbids(&mut v, "stop_price", &self.stop_price);
            }
            (Market, Sell) => {
                needs(&mut v, "base_amount", &self.base_amount);
                forbids(&mut v, "quote_amount", &self.quote_amount);
                forbids(&mut v, "price", &self.price);
                forbids(&mut v, "stop_price", &self.stop_price);
            }
            (StopLimit, Sell) => {
                needs(&mut v, "base_amount", &self.base_amount);
                needs(&mut v, "price", &self.price);
                needs(&mut v, "stop_price", &self.stop_price);
                forbids(&mut v, "quote_amount", &self.quote_amount);
            }
            // Paxos: "Currently only sell stop loss orders are supported."
            (StopLimit, Buy) => v.push(
                "side",
                Problem::Shape("STOP_LIMIT orders can only sell".to_owned()),
            ),
            (StopMarket, Sell) => {
                needs(&mut v, "base_amount", &self.base_amount);
                needs(&mut v, "stop_price", &self.stop_price);
                forbids(&mut v, "quote_amount", &self.quote_amount);
                forbids(&mut v, "price", &self.price);
            }
            (StopMarket, Buy) => v.push(
                "side",
                Problem::Shape("STOP_MARKET orders can only sell".to_owned()),
            ),
        }
        for (field, value) in [
            ("base_amount", self.base_amount),
            ("quote_amount", self.quote_amount),
            ("price", self.price),
            ("stop_price", self.stop_price),
        ] {
            if value.is_some_and(Amount::is_zero) {
                v.push(field, crate::money::AmountError::Zero);
            }
        }
        let allowed = self.order_type.times_in_force();
        if !allowed.contains(&self.time_in_force) {
            let names: Vec<&str> = allowed.iter().map(|t| t.as_str()).collect();
            v.push(
                "time_in_force",
                Problem::Shape(format!(
                    "{} orders take {}",
                    self.order_type.as_str(),
                    names.join(" or ")
                )),
            );
        }
        if let Some((field, cap)) = self.notional_over_cap() {
            v.push(
                field,
                Problem::Shape(format!(
                    "exceeds Paxos's maximum notional value of {cap} USD"
                )),
            );
        }
        match (self.time_in_force, self.expires_at) {
            (TimeInForce::Gtt, None) => v.push("expires_at", Problem::Missing),
            (TimeInForce::Gtt, Some(_)) | (_, None) => {}
            (_, Some(_)) => v.push("expires_at", Problem::NotAllowed),
        }
        if !v.is_empty() {
            return Err(v);
        }
        let hold = match self.side {
            Sell => Hold {
                asset: self.market.base(),
                amount: self.base_amount.unwrap_or_default(),
            },
            Buy => {
                let amount = match self.quote_amount {
                    Some(q) => Some(q),
                    None => self
                        .base_amount
                        .unwrap_or_default()
                        .checked_mul(self.price.unwrap_or_default()),
                };
                let Some(amount) = amount else {
                    v.push("base_amount", crate::money::AmountError::Overflow);
                    return Err(v);
                };
                Hold {
                    asset: self.market.quote(),
                    amount,
                }
            }
        };
        Ok(hold)
    }

    /// The field whose notional value exceeds Paxos's cap for this order type, with the cap (in
    /// USD markets only; see [`OrderRequest::hold`]).
    fn notional_over_cap(&self) -> Option<(&'static str, u32)> {
        if self.market.quote().as_str() != "USD" {
            return None;
        }
        let (field, notional, cap) = match self.order_type {
            OrderType::Market => ("quote_amount", self.quote_amount?, 500_000),
            OrderType::Limit | OrderType::PostOnlyLimit => {
                let cap = match self.market.code() {
                    "BTCUSD" | "ETHUSD" => 1_500_000,
                    _ => 1_000_000,
                };
                let notional = self.base_amount?.checked_mul(self.price?)?;
                ("price", notional, cap)
            }
            OrderType::StopMarket | OrderType::StopLimit => return None,
        };
        (notional.value() > rust_decimal::Decimal::from(cap)).then_some((field, cap))
    }
}

/// The state of an order as Paxos (or the sandbox) reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReportedOrderState {
    /// Still working (possibly partly filled).
    Open,
    /// Completely filled.
    Filled,
    /// Cancelled (possibly after partial fills).
    Cancelled,
    /// Rejected by the venue.
    Rejected,
}

impl ReportedOrderState {
    /// The final outcome this state represents, if it is final.
    pub fn outcome(self) -> Option<OrderOutcome> {
        match self {
            Self::Open => None,
            Self::Filled => Some(OrderOutcome::Filled),
            Self::Cancelled => Some(OrderOutcome::Cancelled),
            Self::Rejected => Some(OrderOutcome::Rejected),
        }
    }
}

/// How an order ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderOutcome {
    /// Filled.
    Filled,
    /// Cancelled.
    Cancelled,
    /// Rejected.
    Rejected,
}

impl OrderOutcome {
    /// The outcome as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Filled => "FILLED",
            Self::Cancelled => "CANCELLED",
            Self::Rejected => "REJECTED",
        }
    }
}
