//! Properties of money: `Amount` arithmetic is exact for amounts as money is written, and no sequence of fundings, orders and
//! order reports run through the Profile aggregate creates or loses money or drives a balance
//! below zero. Balances are checked against a model kept here, from the commands alone.

use std::collections::{BTreeMap, BTreeSet};

use onboarding_domain::vocab::{OrderSide, OrderType};
use onboarding_domain::{
    Amount, Asset, FundingMethod, Market, OrderId, OrderRequest, Profile, ProfileCommand,
    ProfileError, ReportedOrderState,
};
use proptest::prelude::*;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::support::*;

// Amount arithmetic.

/// Any amount a `Decimal` can hold: up to 96 bits of digits, up to 28 decimals.
fn any_amount() -> impl Strategy<Value = Amount> {
    (0u128..(1u128 << 96), 0u32..=28)
        .prop_map(|(m, s)| Amount::new(Decimal::from_i128_with_scale(m as i128, s)).unwrap())
}

/// Amounts as money is written: up to 10^12, up to 8 decimals.
fn money() -> impl Strategy<Value = Amount> {
    (0i128..=100_000_000_000_000_000_000, 0u32..=8).prop_map(|(m, s)| {
        let d =
            Decimal::from_i128_with_scale(m, 8).round_dp_with_strategy(s, RoundingStrategy::ToZero);
        Amount::new(d).unwrap()
    })
}

proptest! {
    #[test]
    fn adding_then_subtracting_gives_back_exactly(a in money(), b in money()) {
        let sum = a.checked_add(b).expect("money always adds");
        prop_assert_eq!(sum.value(), a.value() + b.value());
        prop_assert_eq!(sum.checked_sub(b), Some(a));
        prop_assert_eq!(sum.checked_sub(a), Some(b));
    }

    #[test]
    fn subtracting_then_adding_gives_back_exactly(a in money(), b in money()) {
        match a.checked_sub(b) {
            Some(difference) => {
                prop_assert!(a >= b);
                prop_assert_eq!(difference.value(), a.value() - b.value());
                prop_assert_eq!(difference.checked_add(b), Some(a));
            }
            None => prop_assert!(a < b),
        }
    }

    #[test]
    fn no_amount_goes_below_zero(a in any_amount(), b in any_amount()) {
        prop_assert_eq!(a.checked_sub(b).is_some(), a >= b);
        for result in [a.checked_add(b), a.checked_sub(b), a.checked_mul(b)].into_iter().flatten() {
            prop_assert!(result.value() >= Decimal::ZERO);
        }
    }

    #[test]
    fn prices_times_quantities_multiply_exactly(
        base in 1i128..=1_000_000_000_000, price in 1i128..=100_000_000_000,
    ) {
        // Up to 10,000 with 8 decimals, times up to 1,000,000,000 with 2 decimals.
        let a = Amount::new(Decimal::from_i128_with_scale(base, 8)).unwrap();
        let b = Amount::new(Decimal::from_i128_with_scale(price, 2)).unwrap();
        let product = a.checked_mul(b).expect("fits");
        prop_assert_eq!(product.value(), Decimal::from_i128_with_scale(base * price, 10));
    }
}

// Balances through the aggregate.

const ASSETS: [&str; 4] = ["USD", "EUR", "BTC", "ETH"];
const MARKETS: [&str; 3] = ["BTCUSD", "ETHUSD", "BTCEUR"];

#[derive(Debug, Clone)]
enum Step {
    /// Deposit `amount` of `ASSETS[asset]`; `again` retries the previous funding instead (its
    /// id, asset and amount).
    Fund {
        asset: usize,
        amount: Decimal,
        again: bool,
    },
    /// Place an order on `MARKETS[market]`: a limit order of `base` at `price`, or a market
    /// order (buying for `quote`, selling `base`) with `price` as the reference price.
    Place {
        side: OrderSide,
        market: usize,
        is_limit: bool,
        base: Decimal,
        price: Decimal,
        quote: Decimal,
    },
    /// Report on the `order`-th order placed so far (modulo): its fill moves by `step` percent
    /// of its size (or is set to `step` percent when `absolute`), at `price_pct` percent of its
    /// reference price.
    Report {
        order: usize,
        state: ReportedOrderState,
        step: u32,
        absolute: bool,
        price_pct: u32,
    },
}

fn decimal(max: i64, scale: u32) -> impl Strategy<Value = Decimal> {
    (1..=max).prop_map(move |m| Decimal::new(m, scale))
}

fn step() -> impl Strategy<Value = Step> {
    let fund = (0..ASSETS.len(), prop::bool::weighted(0.2)).prop_flat_map(|(asset, again)| {
        // Fiat in cents up to 1,000,000; crypto with 6 decimals up to 100.
        let amount = if asset < 2 {
            decimal(100_000_000, 2).boxed()
        } else {
            decimal(100_000_000, 6).boxed()
        };
        amount.prop_map(move |amount| Step::Fund {
            asset,
            amount,
            again,
        })
    });
    let place = (
        prop_oneof![Just(OrderSide::Buy), Just(OrderSide::Sell)],
        0..MARKETS.len(),
        any::<bool>(),
        decimal(50_000, 4),
        decimal(6_000_000, 2),
        decimal(5_000_000, 2),
    )
        .prop_map(|(side, market, is_limit, base, price, quote)| Step::Place {
            side,
            market,
            is_limit,
            base,
            price,
            quote,
        });
    let report = (
        any::<usize>(),
        prop_oneof![
            4 => Just(ReportedOrderState::Open),
            2 => Just(ReportedOrderState::Filled),
            2 => Just(ReportedOrderState::Cancelled),
            1 => Just(ReportedOrderState::Rejected),
        ],
        // Often nothing new (a report repeated, perhaps with another average price).
        prop_oneof![1 => Just(0u32), 4 => 0u32..=110],
        prop::bool::weighted(0.15),
        prop_oneof![8 => 85u32..=100, 1 => 100u32..=110],
    )
        .prop_map(|(order, state, step, absolute, price_pct)| Step::Report {
            order,
            state,
            step,
            absolute,
            price_pct,
        });
    prop_oneof![2 => fund, 3 => place, 4 => report]
}

/// What the model knows of one order.
#[derive(Debug, Clone)]
struct ModelOrder {
    id: OrderId,
    side: OrderSide,
    market: Market,
    /// The most base it can fill.
    size: Decimal,
    reference_price: Decimal,
    hold_asset: Asset,
    hold: Decimal,
    filled_base: Decimal,
    filled_quote: Decimal,
    closed: bool,
}

impl ModelOrder {
    /// What the order still holds.
    fn remaining(&self) -> Decimal {
        let spent = match self.side {
            OrderSide::Buy => self.filled_quote,
            OrderSide::Sell => self.filled_base,
        };
        self.hold - spent
    }
}

/// Money per asset as the commands say it moved.
#[derive(Debug, Default)]
struct Model {
    funded: BTreeMap<Asset, Decimal>,
    spent: BTreeMap<Asset, Decimal>,
    received: BTreeMap<Asset, Decimal>,
    fundings: BTreeSet<String>,
    /// The last funding: its id, asset index and amount (a retry repeats all three).
    last_funding: Option<(String, usize, Decimal)>,
    orders: Vec<ModelOrder>,
}

impl Model {
    fn get(map: &BTreeMap<Asset, Decimal>, a: &Asset) -> Decimal {
        map.get(a).copied().unwrap_or_default()
    }

    fn add(map: &mut BTreeMap<Asset, Decimal>, a: &Asset, x: Decimal) {
        *map.entry(a.clone()).or_default() += x;
    }

    /// What open orders hold of `a`.
    fn held(&self, a: &Asset) -> Decimal {
        self.orders
            .iter()
            .filter(|o| !o.closed && o.hold_asset == *a)
            .map(ModelOrder::remaining)
            .sum()
    }

    /// Everything of `a` the profile should own.
    fn total(&self, a: &Asset) -> Decimal {
        Self::get(&self.funded, a) - Self::get(&self.spent, a) + Self::get(&self.received, a)
    }

    fn available(&self, a: &Asset) -> Decimal {
        self.total(a) - self.held(a)
    }
}

fn check(profile: &Profile, model: &Model, after: &str) {
    for code in ASSETS {
        let a = asset(code);
        let b = profile.balance(&a);
        let (available, held) = (model.available(&a), model.held(&a));
        assert!(
            available >= Decimal::ZERO && held >= Decimal::ZERO,
            "{code} would be negative after {after}: available {available}, held {held}"
        );
        assert_eq!(
            b.available.value() + b.held.value(),
            model.total(&a),
            "{code}: funded - spent + received != available + held after {after}"
        );
        assert_eq!(b.held.value(), held, "{code} held after {after}");
        assert_eq!(
            b.available.value(),
            available,
            "{code} available after {after}"
        );
    }
}

async fn run(steps: Vec<Step>) {
    let h = Holder::approved();
    let services = h.services();
    let mut profile: Profile = state_after([h.opened()]);
    let mut model = Model::default();
    for (n, step) in steps.into_iter().enumerate() {
        let label = format!("step {n}: {step:?}");
        match step {
            Step::Fund {
                asset: i,
                amount,
                again,
            } => {
                let (funding_id, i, amount) = match (&model.last_funding, again) {
                    (Some(last), true) => last.clone(),
                    _ => (format!("dep-{n}"), i, amount),
                };
                let a = asset(ASSETS[i]);
                let command = ProfileCommand::Fund {
                    funding_id: funding_id.clone(),
                    asset: a.clone(),
                    amount: Amount::positive(amount).unwrap(),
                    method: FundingMethod::Deposit,
                };
                let events = execute(&mut profile, command, &services)
                    .await
                    .unwrap_or_else(|e| panic!("{label} refused: {e}"));
                if model.fundings.insert(funding_id.clone()) {
                    assert_eq!(events.len(), 1, "{label}");
                    Model::add(&mut model.funded, &a, amount);
                } else {
                    assert!(events.is_empty(), "{label}: a repeated funding credited");
                }
                model.last_funding = Some((funding_id, i, amount));
            }
            Step::Place {
                side,
                market,
                is_limit,
                base,
                price,
                quote,
            } => {
                let market: Market = MARKETS[market].parse().unwrap();
                let (order_type, base_amount, quote_amount, limit_price) = match (is_limit, side) {
                    (true, _) => (OrderType::Limit, Some(base), None, Some(price)),
                    (false, OrderSide::Buy) => (OrderType::Market, None, Some(quote), None),
                    (false, OrderSide::Sell) => (OrderType::Market, Some(base), None, None),
                };
                let request = OrderRequest {
                    base_amount: base_amount.map(|x| Amount::positive(x).unwrap()),
                    quote_amount: quote_amount.map(|x| Amount::positive(x).unwrap()),
                    price: limit_price.map(|x| Amount::positive(x).unwrap()),
                    ..order(side, order_type, market.code())
                };
                let (hold_asset, hold) = match side {
                    OrderSide::Buy => (market.quote(), quote_amount.unwrap_or(base * price)),
                    OrderSide::Sell => (market.base(), base),
                };
                let result = execute(
                    &mut profile,
                    ProfileCommand::PlaceOrder(request.clone()),
                    &services,
                )
                .await;
                let available = model.available(&hold_asset);
                if available >= hold {
                    assert!(
                        result.is_ok(),
                        "{label}: refused with {hold} of {available}: {result:?}"
                    );
                    model.orders.push(ModelOrder {
                        id: request.order_id,
                        side,
                        market,
                        size: base_amount.unwrap_or_else(|| {
                            (quote / price).round_dp_with_strategy(8, RoundingStrategy::ToZero)
                        }),
                        reference_price: price,
                        hold_asset,
                        hold,
                        filled_base: Decimal::ZERO,
                        filled_quote: Decimal::ZERO,
                        closed: false,
                    });
                } else {
                    assert!(
                        matches!(result, Err(ProfileError::InsufficientFunds { .. })),
                        "{label}: {hold} placed with {available}: {result:?}"
                    );
                }
            }
            Step::Report {
                order,
                state,
                step,
                absolute,
                price_pct,
            } => {
                if model.orders.is_empty() {
                    continue;
                }
                let i = order % model.orders.len();
                let o = model.orders[i].clone();
                let part = (o.size * Decimal::from(step) / Decimal::ONE_HUNDRED)
                    .round_dp_with_strategy(8, RoundingStrategy::ToZero);
                let amount_filled = if absolute { part } else { o.filled_base + part };
                let price = (o.reference_price * Decimal::from(price_pct) / Decimal::ONE_HUNDRED)
                    .round_dp(2);
                let command = ProfileCommand::RecordOrderUpdate {
                    order_id: o.id,
                    state,
                    amount_filled: Amount::new(amount_filled).unwrap(),
                    average_price: (!amount_filled.is_zero())
                        .then(|| Amount::positive(price).unwrap()),
                    reason: None,
                };
                let accepted = execute(&mut profile, command, &services).await.is_ok();
                if accepted && !o.closed {
                    apply_report(&mut model, i, amount_filled, price, state);
                }
            }
        }
        check(&profile, &model, &label);
    }

    // Cancel whatever is still open: nothing may stay held.
    for i in 0..model.orders.len() {
        let o = model.orders[i].clone();
        if o.closed {
            continue;
        }
        let command = ProfileCommand::RecordOrderUpdate {
            order_id: o.id,
            state: ReportedOrderState::Cancelled,
            amount_filled: Amount::new(o.filled_base).unwrap(),
            average_price: (!o.filled_base.is_zero())
                .then(|| Amount::positive(o.reference_price).unwrap()),
            reason: None,
        };
        execute(&mut profile, command, &services)
            .await
            .unwrap_or_else(|e| panic!("cancelling {o:?}: {e}"));
        apply_report(
            &mut model,
            i,
            o.filled_base,
            o.reference_price,
            ReportedOrderState::Cancelled,
        );
        check(&profile, &model, "the final cancellations");
    }
    assert!(profile.open_orders().is_empty());
    for code in ASSETS {
        assert_eq!(
            profile.balance(&asset(code)).held,
            Amount::ZERO,
            "{code} still held"
        );
    }
}

/// Moves the model's money as an accepted report says.
fn apply_report(
    model: &mut Model,
    i: usize,
    amount_filled: Decimal,
    price: Decimal,
    state: ReportedOrderState,
) {
    let o = &mut model.orders[i];
    let mut moves = Vec::new();
    if amount_filled > o.filled_base {
        let quote = amount_filled * price;
        let (base_delta, quote_delta) = (amount_filled - o.filled_base, quote - o.filled_quote);
        let (base, quote_asset) = (o.market.base(), o.market.quote());
        moves = match o.side {
            OrderSide::Buy => vec![(quote_asset, base, quote_delta, base_delta)],
            OrderSide::Sell => vec![(base, quote_asset, base_delta, quote_delta)],
        };
        o.filled_base = amount_filled;
        o.filled_quote = quote;
    }
    if state != ReportedOrderState::Open {
        o.closed = true;
    }
    for (spent_asset, received_asset, spent, received) in moves {
        Model::add(&mut model.spent, &spent_asset, spent);
        Model::add(&mut model.received, &received_asset, received);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn trading_never_creates_or_loses_money(steps in prop::collection::vec(step(), 1..60)) {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(run(steps));
    }
}
