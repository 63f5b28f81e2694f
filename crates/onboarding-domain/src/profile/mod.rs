//! The Profile aggregate: the holdings of one account, per asset `available` and `held`.
//!
//! Funding credits `available`; placing an order moves its hold from `available` to `held`;
//! fills settle the hold (a buy spends held quote and receives base, a sell spends held base and
//! receives quote); a final state releases whatever is still held. All amounts are exact decimals
//! and no balance ever goes below zero.

pub mod order;

use std::collections::{BTreeMap, BTreeSet};

use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::event_names;

/// How far ahead a good-till-time order must expire, at least (Paxos's `TimeInForce` rules).
const GTT_MIN_SECONDS: i64 = 10;
use crate::ids::{AccountId, IdentityId, OrderId, ProfileId};
use crate::mirror::{MirrorRejection, PaxosMirrored};
use crate::money::{Amount, Asset};
use crate::services::{LookupError, Services};
use crate::violation::{Problem, Violations};
use crate::vocab::{IdentityStatus, OrderSide};
pub use order::{Hold, OrderOutcome, OrderRequest, ReportedOrderState};

/// One asset's balance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// Free to trade or withdraw.
    pub available: Amount,
    /// Set aside for open orders.
    pub held: Amount,
}

/// How money arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FundingMethod {
    /// A real deposit.
    Deposit,
    /// Sandbox test funds (mirrored as a sandbox deposit).
    SandboxTestFunds,
}

/// The commands a profile accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum ProfileCommand {
    /// Open the profile of a newly opened account.
    Open {
        /// The profile's id.
        profile_id: ProfileId,
        /// Its account.
        account_id: AccountId,
        /// The account's owner.
        owner: IdentityId,
    },
    /// Credit `available`. A funding id seen before is ignored, so retries are safe.
    Fund {
        /// The caller's id of this funding (a deposit reference).
        funding_id: String,
        /// The asset.
        asset: Asset,
        /// How much (positive).
        amount: Amount,
        /// How it arrived.
        method: FundingMethod,
    },
    /// Place an order and take its hold.
    PlaceOrder(OrderRequest),
    /// Record an order's progress as reported by the venue. `amount_filled` is cumulative, so
    /// reporting the same state twice changes nothing.
    RecordOrderUpdate {
        /// The order.
        order_id: OrderId,
        /// Its state.
        state: ReportedOrderState,
        /// Base amount filled so far (cumulative).
        amount_filled: Amount,
        /// Volume-weighted average fill price so far (required once anything filled).
        average_price: Option<Amount>,
        /// Why, for rejections and cancellations.
        reason: Option<String>,
    },
    /// Record that a mirrored call took effect at Paxos (a sandbox deposit, an order's
    /// creation). The same operation and reference recorded again changes nothing.
    RecordPaxosMirrored(PaxosMirrored),
    /// Record that Paxos permanently refused a mirrored call (a deposit, an order). The same
    /// operation and reference recorded again changes nothing.
    RecordMirrorRejection(MirrorRejection),
}

/// What happened to a profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ProfileEvent {
    /// The profile was opened.
    ProfileOpened {
        /// The profile's id.
        profile_id: ProfileId,
        /// Its account.
        account_id: AccountId,
        /// The account's owner.
        owner: IdentityId,
    },
    /// `available` was credited.
    ProfileFunded {
        /// The caller's id of the funding.
        funding_id: String,
        /// The asset.
        asset: Asset,
        /// How much.
        amount: Amount,
        /// How it arrived.
        method: FundingMethod,
    },
    /// An order was placed; `hold` moved from `available` to `held`.
    OrderPlaced {
        /// The order.
        order: OrderRequest,
        /// What it holds.
        hold: Hold,
    },
    /// Part (or the rest) of an order executed.
    OrderFilled {
        /// The order.
        order_id: OrderId,
        /// Base asset bought or sold by this fill.
        base_amount: Amount,
        /// Quote asset paid or received by this fill.
        quote_amount: Amount,
        /// Base filled so far, including this fill.
        cumulative_base: Amount,
        /// Quote exchanged so far, including this fill.
        cumulative_quote: Amount,
    },
    /// The order reached a final state; `released` went back from `held` to `available`.
    OrderClosed {
        /// The order.
        order_id: OrderId,
        /// How it ended.
        outcome: OrderOutcome,
        /// What was still held and is now free.
        released: Amount,
        /// Why, for rejections and cancellations.
        reason: Option<String>,
    },
    /// A mirrored call took effect at Paxos; balances do not change.
    PaxosMirrored(PaxosMirrored),
    /// Paxos permanently refused a mirrored call; balances do not change.
    MirrorRejected(MirrorRejection),
}

impl DomainEvent for ProfileEvent {
    fn event_type(&self) -> String {
        match self {
            Self::ProfileOpened { .. } => event_names::PROFILE_OPENED,
            Self::ProfileFunded { .. } => event_names::PROFILE_FUNDED,
            Self::OrderPlaced { .. } => event_names::ORDER_PLACED,
            Self::OrderFilled { .. } => event_names::ORDER_FILLED,
            Self::OrderClosed { .. } => event_names::ORDER_CLOSED,
            Self::PaxosMirrored(_) => event_names::PROFILE_PAXOS_MIRRORED,
            Self::MirrorRejected(_) => event_names::PROFILE_MIRROR_REJECTED,
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        event_names::PROFILE_EVENT_VERSION.to_owned()
    }
}

/// Why a profile command was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProfileError {
    /// Fields are wrong; fix each named field.
    #[error("invalid request: {0}")]
    Invalid(Violations),
    /// The profile does not exist; open its account first.
    #[error("profile has not been opened")]
    NotOpened,
    /// The profile was already opened (for another account).
    #[error("profile was already opened")]
    AlreadyOpened,
    /// The owner may not place this order: not approved, or disabled and buying.
    #[error("owner identity is {status}: {side} orders are not allowed")]
    OwnerNotAllowed {
        /// The owner's status.
        status: IdentityStatus,
        /// The refused side.
        side: OrderSide,
    },
    /// The account is closed or missing; no orders.
    #[error("account {0} is not open")]
    AccountNotOpen(AccountId),
    /// `available` does not cover the hold; fund the profile or order less.
    #[error("insufficient funds: {needed} {asset} needed, {available} available")]
    InsufficientFunds {
        /// The asset.
        asset: Asset,
        /// Available now.
        available: Amount,
        /// Needed for the hold.
        needed: Amount,
    },
    /// The order id is already in use; use a new id.
    #[error("order {0} already exists")]
    DuplicateOrder(OrderId),
    /// No such order on this profile.
    #[error("order {0} does not exist on this profile")]
    UnknownOrder(OrderId),
    /// The update contradicts what was recorded (less filled than before, more than ordered or
    /// held, a closed order reopened); investigate the venue's report, do not retry.
    #[error("order {order_id}: {problem}")]
    InconsistentUpdate {
        /// The order.
        order_id: OrderId,
        /// What contradicts.
        problem: &'static str,
    },
    /// A lookup failed; retry when the store is reachable.
    #[error(transparent)]
    Lookup(#[from] LookupError),
}

/// An order still holding funds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenOrder {
    /// The order as placed.
    pub request: OrderRequest,
    /// The hold taken.
    pub hold: Hold,
    /// What is still held.
    pub held: Amount,
    /// Base filled so far.
    pub filled_base: Amount,
    /// Quote exchanged so far.
    pub filled_quote: Amount,
}

/// An order that reached a final state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedOrder {
    /// How it ended.
    pub outcome: OrderOutcome,
    /// Base filled in total.
    pub filled_base: Amount,
}

/// The state of one profile.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    profile_id: Option<ProfileId>,
    account_id: Option<AccountId>,
    owner: Option<IdentityId>,
    balances: BTreeMap<Asset, Balance>,
    open_orders: BTreeMap<OrderId, OpenOrder>,
    closed_orders: BTreeMap<OrderId, ClosedOrder>,
    fundings: BTreeSet<String>,
    /// What each funding credited, by funding id. (A state read from a snapshot or view row
    /// written before this was kept lacks the fundings before it, which a retry then cannot
    /// compare: those stay no-ops whatever their contents.)
    #[serde(default)]
    funded: BTreeMap<String, (Asset, Amount, FundingMethod)>,
    /// `operation/reference` of mirrored calls that took effect, with the Paxos id answered.
    #[serde(default)]
    mirrored: BTreeMap<String, Option<String>>,
    #[serde(default)]
    mirror_rejections: BTreeSet<String>,
}

impl Profile {
    /// The profile's id, once opened.
    pub fn profile_id(&self) -> Option<ProfileId> {
        self.profile_id
    }

    /// The account, once opened.
    pub fn account_id(&self) -> Option<AccountId> {
        self.account_id
    }

    /// The owner identity, once opened.
    pub fn owner(&self) -> Option<IdentityId> {
        self.owner
    }

    /// Every asset's balance.
    pub fn balances(&self) -> &BTreeMap<Asset, Balance> {
        &self.balances
    }

    /// One asset's balance (zero when never touched).
    pub fn balance(&self, asset: &Asset) -> Balance {
        self.balances.get(asset).copied().unwrap_or_default()
    }

    /// Orders still holding funds.
    pub fn open_orders(&self) -> &BTreeMap<OrderId, OpenOrder> {
        &self.open_orders
    }

    /// Orders in a final state.
    pub fn closed_orders(&self) -> &BTreeMap<OrderId, ClosedOrder> {
        &self.closed_orders
    }

    /// Whether the mirrored call `operation` about `reference` took effect at Paxos, and the
    /// Paxos id it answered with.
    pub fn paxos_mirrored(&self, operation: &str, reference: &str) -> Option<Option<&str>> {
        self.mirrored
            .get(&format!("{operation}/{reference}"))
            .map(Option::as_deref)
    }

    /// Whether Paxos permanently refused the mirrored call `operation` about `reference`.
    pub fn mirror_rejected(&self, operation: &str, reference: &str) -> bool {
        self.mirror_rejections
            .contains(&format!("{operation}/{reference}"))
    }

    fn opened(&self) -> Result<(AccountId, IdentityId), ProfileError> {
        self.account_id
            .zip(self.owner)
            .ok_or(ProfileError::NotOpened)
    }

    async fn place(
        &self,
        order: OrderRequest,
        services: &Services,
    ) -> Result<ProfileEvent, ProfileError> {
        let (account_id, owner) = self.opened()?;
        if self.open_orders.contains_key(&order.order_id)
            || self.closed_orders.contains_key(&order.order_id)
        {
            return Err(ProfileError::DuplicateOrder(order.order_id));
        }
        let hold = order.hold().map_err(ProfileError::Invalid)?;
        // Paxos rejects a good-till-time order expiring within 10 seconds of its placement.
        if let Some(expires_at) = order.expires_at {
            if expires_at < services.clock.now() + chrono::TimeDelta::seconds(GTT_MIN_SECONDS) {
                let mut v = Violations::new();
                v.push(
                    "expires_at",
                    Problem::Shape(format!(
                        "must be at least {GTT_MIN_SECONDS} seconds after the order is placed"
                    )),
                );
                return Err(ProfileError::Invalid(v));
            }
        }
        let status = services
            .directory
            .identity(owner)
            .await?
            .map(|f| f.status)
            .ok_or_else(|| LookupError(format!("owner identity {owner} is missing")))?;
        let allowed = match status {
            IdentityStatus::Approved => true,
            IdentityStatus::Disabled => order.side == OrderSide::Sell,
            _ => false,
        };
        if !allowed {
            return Err(ProfileError::OwnerNotAllowed {
                status,
                side: order.side,
            });
        }
        let account_open = services
            .directory
            .account(account_id)
            .await?
            .is_some_and(|a| a.open);
        if !account_open {
            return Err(ProfileError::AccountNotOpen(account_id));
        }
        let available = self.balance(&hold.asset).available;
        if available < hold.amount {
            return Err(ProfileError::InsufficientFunds {
                asset: hold.asset,
                available,
                needed: hold.amount,
            });
        }
        Ok(ProfileEvent::OrderPlaced { order, hold })
    }

    fn record_update(
        &self,
        order_id: OrderId,
        state: ReportedOrderState,
        amount_filled: Amount,
        average_price: Option<Amount>,
        reason: Option<String>,
    ) -> Result<Vec<ProfileEvent>, ProfileError> {
        self.opened()?;
        let inconsistent = |problem| ProfileError::InconsistentUpdate { order_id, problem };
        if let Some(closed) = self.closed_orders.get(&order_id) {
            return if Some(closed.outcome) == state.outcome() && closed.filled_base == amount_filled
            {
                Ok(Vec::new()) // the final state reported again
            } else {
                Err(inconsistent(
                    "the order is already closed with another outcome",
                ))
            };
        }
        let open = self
            .open_orders
            .get(&order_id)
            .ok_or(ProfileError::UnknownOrder(order_id))?;
        if amount_filled < open.filled_base {
            return Err(inconsistent("amount_filled went down"));
        }
        let cumulative_quote = if amount_filled.is_zero() {
            Amount::ZERO
        } else {
            let price = average_price.ok_or_else(|| {
                let mut v = Violations::new();
                v.push("average_price", Problem::Missing);
                ProfileError::Invalid(v)
            })?;
            if amount_filled == open.filled_base {
                // Nothing more executed: what was settled stands, whatever average price is
                // reported again. Re-pricing settled fills would leave part of the hold
                // stranded in `held` once the order closes.
                open.filled_quote
            } else {
                amount_filled
                    .checked_mul(price)
                    .ok_or(inconsistent("fill value overflows"))?
            }
        };
        if open.request.base_amount.is_some_and(|b| amount_filled > b) {
            return Err(inconsistent("more filled than ordered"));
        }
        // Quote exchanged only grows, on both sides: a sell whose proceeds went down would
        // otherwise be credited as if nothing had been received before.
        if cumulative_quote < open.filled_quote {
            return Err(inconsistent("fill value went down"));
        }
        // The average price Paxos reports is rounded (to 8 decimals, the precision of its
        // quote executions, as far as its API says; the sandbox reports 8), so a buy's fills
        // valued at it can come out above the hold by that rounding alone (a market buy holds
        // exactly its quote amount): up to one unit of the 8th decimal per base unit filled,
        // the hold is what was spent.
        let cumulative_quote = match open.request.side {
            OrderSide::Buy if cumulative_quote > open.hold.amount => {
                let excess = cumulative_quote
                    .checked_sub(open.hold.amount)
                    .unwrap_or_default();
                let rounding = amount_filled
                    .checked_mul(Amount::EIGHTH_DECIMAL)
                    .ok_or(inconsistent("fill value overflows"))?;
                if excess > rounding {
                    return Err(inconsistent("fills exceed the hold"));
                }
                open.hold.amount
            }
            _ => cumulative_quote,
        };
        let spent_now = match open.request.side {
            OrderSide::Buy => cumulative_quote,
            OrderSide::Sell => amount_filled,
        };
        if spent_now > open.hold.amount {
            return Err(inconsistent("fills exceed the hold"));
        }
        let mut events = Vec::new();
        if amount_filled > open.filled_base {
            events.push(ProfileEvent::OrderFilled {
                order_id,
                base_amount: amount_filled
                    .checked_sub(open.filled_base)
                    .unwrap_or_default(),
                quote_amount: cumulative_quote
                    .checked_sub(open.filled_quote)
                    .unwrap_or_default(),
                cumulative_base: amount_filled,
                cumulative_quote,
            });
        }
        if let Some(outcome) = state.outcome() {
            let still_held = open.hold.amount.checked_sub(spent_now).unwrap_or_default();
            events.push(ProfileEvent::OrderClosed {
                order_id,
                outcome,
                released: still_held,
                reason,
            });
        }
        Ok(events)
    }

    /// The balance changes `event` makes, in order.
    fn movements(&self, event: &ProfileEvent) -> Vec<Movement> {
        let movement = |asset: Asset, slot, credit, amount| Movement {
            asset,
            slot,
            credit,
            amount,
        };
        match event {
            ProfileEvent::ProfileOpened { .. }
            | ProfileEvent::PaxosMirrored(_)
            | ProfileEvent::MirrorRejected(_) => Vec::new(),
            ProfileEvent::ProfileFunded { asset, amount, .. } => {
                vec![movement(asset.clone(), Slot::Available, true, *amount)]
            }
            ProfileEvent::OrderPlaced { hold, .. } => vec![
                movement(hold.asset.clone(), Slot::Available, false, hold.amount),
                movement(hold.asset.clone(), Slot::Held, true, hold.amount),
            ],
            ProfileEvent::OrderFilled {
                order_id,
                base_amount,
                quote_amount,
                ..
            } => {
                let Some(open) = self.open_orders.get(order_id) else {
                    return Vec::new();
                };
                let market = open.request.market;
                let (spent_asset, spent, received_asset, received) = match open.request.side {
                    OrderSide::Buy => (market.quote(), quote_amount, market.base(), base_amount),
                    OrderSide::Sell => (market.base(), base_amount, market.quote(), quote_amount),
                };
                vec![
                    movement(spent_asset, Slot::Held, false, *spent),
                    movement(received_asset, Slot::Available, true, *received),
                ]
            }
            ProfileEvent::OrderClosed {
                order_id, released, ..
            } => {
                let Some(open) = self.open_orders.get(order_id) else {
                    return Vec::new();
                };
                vec![
                    movement(open.hold.asset.clone(), Slot::Held, false, *released),
                    movement(open.hold.asset.clone(), Slot::Available, true, *released),
                ]
            }
        }
    }

    /// Whether every balance change of `events` is exact: nothing goes below zero and no sum
    /// needs more digits than a decimal holds. Events that do not settle are never emitted, so
    /// `apply` never has to drop or invent money.
    fn settles(&self, events: &[ProfileEvent]) -> bool {
        let mut balances = self.balances.clone();
        events.iter().all(|event| {
            self.movements(event).iter().all(|m| {
                let b = balances.entry(m.asset.clone()).or_default();
                let slot = m.slot.of(b);
                let moved = if m.credit {
                    slot.checked_add(m.amount)
                } else {
                    slot.checked_sub(m.amount)
                };
                moved.map(|x| *slot = x).is_some()
            })
        })
    }

    fn balance_mut(&mut self, asset: &Asset) -> &mut Balance {
        self.balances.entry(asset.clone()).or_default()
    }
}

/// One change to one balance.
struct Movement {
    asset: Asset,
    slot: Slot,
    credit: bool,
    amount: Amount,
}

/// The part of a balance a movement changes.
#[derive(Clone, Copy)]
enum Slot {
    Available,
    Held,
}

impl Slot {
    fn of(self, balance: &mut Balance) -> &mut Amount {
        match self {
            Self::Available => &mut balance.available,
            Self::Held => &mut balance.held,
        }
    }
}

impl Aggregate for Profile {
    const TYPE: &'static str = event_names::PROFILE;
    type Command = ProfileCommand;
    type Event = ProfileEvent;
    type Error = ProfileError;
    type Services = Services;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &cqrs_es::event_sink::EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let unsettled = match &command {
            ProfileCommand::RecordOrderUpdate { order_id, .. } => {
                ProfileError::InconsistentUpdate {
                    order_id: *order_id,
                    problem: "fill value overflows",
                }
            }
            _ => {
                let mut v = Violations::new();
                v.push("amount", crate::money::AmountError::Overflow);
                ProfileError::Invalid(v)
            }
        };
        let events = match command {
            ProfileCommand::Open {
                profile_id,
                account_id,
                owner,
            } => match self.account_id {
                Some(existing) if existing == account_id => Vec::new(),
                Some(_) => return Err(ProfileError::AlreadyOpened),
                None => vec![ProfileEvent::ProfileOpened {
                    profile_id,
                    account_id,
                    owner,
                }],
            },
            ProfileCommand::Fund {
                funding_id,
                asset,
                amount,
                method,
            } => {
                self.opened()?;
                let mut v = Violations::new();
                if funding_id.trim().is_empty() {
                    v.push("funding_id", Problem::Missing);
                }
                if amount.is_zero() {
                    v.push("amount", crate::money::AmountError::Zero);
                }
                if !v.is_empty() {
                    return Err(ProfileError::Invalid(v));
                }
                if self.fundings.contains(&funding_id) {
                    // A retry changes nothing; the same id with other contents is another
                    // funding under a taken id, refused rather than dropped.
                    if (self.funded.get(&funding_id))
                        .is_some_and(|(a, n, m)| *a != asset || *n != amount || *m != method)
                    {
                        let mut v = Violations::new();
                        v.push("funding_id", Problem::InUse);
                        return Err(ProfileError::Invalid(v));
                    }
                    Vec::new()
                } else {
                    vec![ProfileEvent::ProfileFunded {
                        funding_id,
                        asset,
                        amount,
                        method,
                    }]
                }
            }
            ProfileCommand::PlaceOrder(order) => vec![self.place(order, services).await?],
            ProfileCommand::RecordOrderUpdate {
                order_id,
                state,
                amount_filled,
                average_price,
                reason,
            } => self.record_update(order_id, state, amount_filled, average_price, reason)?,
            ProfileCommand::RecordPaxosMirrored(mirrored) => {
                self.opened()?;
                let mut v = Violations::new();
                if mirrored.operation.trim().is_empty() {
                    v.push("operation", Problem::Missing);
                }
                if mirrored.reference.trim().is_empty() {
                    v.push("reference", Problem::Missing);
                }
                if !v.is_empty() {
                    return Err(ProfileError::Invalid(v));
                }
                if self.mirrored.contains_key(&mirrored.key()) {
                    Vec::new()
                } else {
                    vec![ProfileEvent::PaxosMirrored(mirrored)]
                }
            }
            ProfileCommand::RecordMirrorRejection(rejection) => {
                self.opened()?;
                rejection.check().map_err(ProfileError::Invalid)?;
                if self.mirror_rejections.contains(&rejection.key()) {
                    Vec::new()
                } else {
                    vec![ProfileEvent::MirrorRejected(rejection)]
                }
            }
        };
        if !self.settles(&events) {
            return Err(unsettled);
        }
        for event in events {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        // Every amount below was checked by `handle` before the event existed; saturating
        // arithmetic only guards replays of foreign logs from panicking.
        match event {
            ProfileEvent::ProfileOpened {
                profile_id,
                account_id,
                owner,
            } => {
                self.profile_id = Some(profile_id);
                self.account_id = Some(account_id);
                self.owner = Some(owner);
            }
            ProfileEvent::ProfileFunded {
                funding_id,
                asset,
                amount,
                method,
            } => {
                self.fundings.insert(funding_id.clone());
                self.funded
                    .insert(funding_id, (asset.clone(), amount, method));
                let b = self.balance_mut(&asset);
                b.available = b.available.checked_add(amount).unwrap_or(b.available);
            }
            ProfileEvent::OrderPlaced { order, hold } => {
                let b = self.balance_mut(&hold.asset);
                b.available = b.available.checked_sub(hold.amount).unwrap_or_default();
                b.held = b.held.checked_add(hold.amount).unwrap_or(b.held);
                self.open_orders.insert(
                    order.order_id,
                    OpenOrder {
                        held: hold.amount,
                        hold,
                        request: order,
                        filled_base: Amount::ZERO,
                        filled_quote: Amount::ZERO,
                    },
                );
            }
            ProfileEvent::OrderFilled {
                order_id,
                base_amount,
                quote_amount,
                cumulative_base,
                cumulative_quote,
            } => {
                let Some(open) = self.open_orders.get_mut(&order_id) else {
                    return;
                };
                open.filled_base = cumulative_base;
                open.filled_quote = cumulative_quote;
                let market = open.request.market;
                let (spent_asset, spent, received_asset, received) = match open.request.side {
                    OrderSide::Buy => (market.quote(), quote_amount, market.base(), base_amount),
                    OrderSide::Sell => (market.base(), base_amount, market.quote(), quote_amount),
                };
                open.held = open.held.checked_sub(spent).unwrap_or_default();
                let b = self.balance_mut(&spent_asset);
                b.held = b.held.checked_sub(spent).unwrap_or_default();
                let b = self.balance_mut(&received_asset);
                b.available = b.available.checked_add(received).unwrap_or(b.available);
            }
            ProfileEvent::OrderClosed {
                order_id,
                outcome,
                released,
                ..
            } => {
                let Some(open) = self.open_orders.remove(&order_id) else {
                    return;
                };
                let b = self.balance_mut(&open.hold.asset);
                b.held = b.held.checked_sub(released).unwrap_or_default();
                b.available = b.available.checked_add(released).unwrap_or(b.available);
                self.closed_orders.insert(
                    order_id,
                    ClosedOrder {
                        outcome,
                        filled_base: open.filled_base,
                    },
                );
            }
            ProfileEvent::PaxosMirrored(mirrored) => {
                self.mirrored.insert(mirrored.key(), mirrored.paxos_id);
            }
            ProfileEvent::MirrorRejected(rejection) => {
                self.mirror_rejections.insert(rejection.key());
            }
        }
    }
}
