//! Placing orders (amount rules, holds, who may trade) and recording their progress (fills,
//! final states, inconsistent reports).

use chrono::Duration;
use onboarding_domain::money::AmountError;
use onboarding_domain::vocab::{IdentityStatus, OrderSide, OrderType, TimeInForce};
use onboarding_domain::{
    OrderId, OrderOutcome, OrderRequest, Problem, Profile, ProfileCommand, ProfileError,
    ProfileEvent, ReportedOrderState,
};

use crate::support::*;

use OrderSide::{Buy, Sell};
use ReportedOrderState::{Cancelled, Filled, Open, Rejected};

/// 100,000 USD and 2 BTC.
const FUNDS: &[(&str, &str)] = &[("USD", "100000"), ("BTC", "2")];

fn place(order: &OrderRequest) -> ProfileCommand {
    ProfileCommand::PlaceOrder(order.clone())
}

async fn assert_places(order: OrderRequest, hold_asset: &str, hold_amount: &str) {
    let h = Holder::approved();
    h.framework()
        .given(h.funded(FUNDS))
        .when_async(place(&order))
        .await
        .then_expect_events(vec![placed(&order, hold_asset, hold_amount)]);
}

async fn assert_invalid<const N: usize>(order: OrderRequest, expected: [(&str, Problem); N]) {
    let h = Holder::approved();
    h.framework()
        .given(h.funded(FUNDS))
        .when_async(place(&order))
        .await
        .then_expect_error(ProfileError::Invalid(violations(expected)));
}

/// The events `command` records on `history`, which must accept it.
async fn recorded(
    h: &Holder,
    history: Vec<ProfileEvent>,
    command: ProfileCommand,
) -> Vec<ProfileEvent> {
    h.framework()
        .given(history)
        .when_async(command)
        .await
        .inspect_result()
        .expect("recorded")
}

fn after(history: Vec<ProfileEvent>, events: &[ProfileEvent]) -> Profile {
    state_after(history.into_iter().chain(events.iter().cloned()))
}

fn inconsistent(order_id: OrderId, problem: &'static str) -> ProfileError {
    ProfileError::InconsistentUpdate { order_id, problem }
}

// Placing.

#[tokio::test]
async fn a_limit_buy_holds_base_times_price_in_the_quote_asset() {
    let h = Holder::approved();
    let o = limit(Buy, "0.5", "30000.10");
    let events = h
        .framework()
        .given(h.funded(FUNDS))
        .when_async(place(&o))
        .await
        .inspect_result()
        .expect("placed");
    assert_eq!(events, vec![placed(&o, "USD", "15000.05")]);
    let state = after(h.funded(FUNDS), &events);
    assert_eq!(
        state.balance(&asset("USD")),
        balance("84999.95", "15000.05")
    );
    assert_eq!(state.balance(&asset("BTC")), balance("2", "0"));
    assert!(state.open_orders().contains_key(&o.order_id));
}

#[tokio::test]
async fn a_limit_sell_holds_its_base_amount() {
    let h = Holder::approved();
    let o = limit(Sell, "0.75", "31000");
    let events = h
        .framework()
        .given(h.funded(FUNDS))
        .when_async(place(&o))
        .await
        .inspect_result()
        .expect("placed");
    assert_eq!(events, vec![placed(&o, "BTC", "0.75")]);
    let state = after(h.funded(FUNDS), &events);
    assert_eq!(state.balance(&asset("BTC")), balance("1.25", "0.75"));
    assert_eq!(state.balance(&asset("USD")), balance("100000", "0"));
}

#[tokio::test]
async fn a_limit_order_needs_a_base_amount_and_a_price() {
    for order_type in [OrderType::Limit, OrderType::PostOnlyLimit] {
        let o = OrderRequest {
            quote_amount: Some(amt("100")),
            ..order(Buy, order_type, "BTCUSD")
        };
        assert_invalid(
            o,
            [
                ("base_amount", Problem::Missing),
                ("price", Problem::Missing),
                ("quote_amount", Problem::NotAllowed),
            ],
        )
        .await;
    }
}

#[tokio::test]
async fn a_post_only_limit_buy_holds_like_a_limit_buy() {
    let o = OrderRequest {
        base_amount: Some(amt("2")),
        price: Some(amt("1500")),
        ..order(Buy, OrderType::PostOnlyLimit, "ETHUSD")
    };
    assert_places(o, "USD", "3000").await;
}

#[tokio::test]
async fn a_market_buy_holds_its_quote_amount() {
    assert_places(market_buy("2500"), "USD", "2500").await;
}

#[tokio::test]
async fn a_market_buy_is_stated_in_the_quote_asset() {
    let o = OrderRequest {
        base_amount: Some(amt("0.1")),
        price: Some(amt("30000")),
        ..order(Buy, OrderType::Market, "BTCUSD")
    };
    assert_invalid(
        o,
        [
            ("quote_amount", Problem::Missing),
            ("base_amount", Problem::NotAllowed),
            ("price", Problem::NotAllowed),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_market_sell_holds_its_base_amount() {
    assert_places(market_sell("1.5"), "BTC", "1.5").await;
}

#[tokio::test]
async fn a_market_sell_is_stated_in_the_base_asset() {
    let o = OrderRequest {
        quote_amount: Some(amt("1000")),
        ..order(Sell, OrderType::Market, "BTCUSD")
    };
    assert_invalid(
        o,
        [
            ("base_amount", Problem::Missing),
            ("quote_amount", Problem::NotAllowed),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_stop_market_order_can_only_sell() {
    let o = OrderRequest {
        base_amount: Some(amt("0.5")),
        stop_price: Some(amt("25000")),
        ..order(Buy, OrderType::StopMarket, "BTCUSD")
    };
    let h = Holder::approved();
    let result = h
        .framework()
        .given(h.funded(FUNDS))
        .when_async(place(&o))
        .await
        .inspect_result();
    match result {
        Err(ProfileError::Invalid(v)) => {
            assert!(matches!(
                problems_at(&v, "side").as_slice(),
                [Problem::Shape(_)]
            ));
            assert_eq!(v.iter().count(), 1);
        }
        other => panic!("expected a refusal of the side, got {other:?}"),
    }
}

#[tokio::test]
async fn a_stop_market_sell_holds_its_base_amount() {
    let o = OrderRequest {
        base_amount: Some(amt("0.5")),
        stop_price: Some(amt("25000")),
        ..order(Sell, OrderType::StopMarket, "BTCUSD")
    };
    assert_places(o, "BTC", "0.5").await;
}

#[tokio::test]
async fn a_stop_market_sell_needs_a_stop_price() {
    let o = OrderRequest {
        base_amount: Some(amt("0.5")),
        price: Some(amt("25000")),
        ..order(Sell, OrderType::StopMarket, "BTCUSD")
    };
    assert_invalid(
        o,
        [
            ("stop_price", Problem::Missing),
            ("price", Problem::NotAllowed),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_stop_limit_order_sells_and_needs_base_price_and_stop_price() {
    let o = OrderRequest {
        base_amount: Some(amt("0.5")),
        price: Some(amt("25000")),
        ..order(Sell, OrderType::StopLimit, "BTCUSD")
    };
    assert_invalid(o.clone(), [("stop_price", Problem::Missing)]).await;
    let o = OrderRequest {
        stop_price: Some(amt("24000")),
        ..o
    };
    assert_places(o.clone(), "BTC", "0.5").await;
    // Paxos supports only sell stop orders.
    let buy = OrderRequest { side: Buy, ..o };
    assert_invalid(
        buy,
        [(
            "side",
            Problem::Shape("STOP_LIMIT orders can only sell".to_owned()),
        )],
    )
    .await;
}

#[tokio::test]
async fn orders_above_paxos_maximum_notional_value_are_refused_naming_the_field() {
    let too_large = |field: &'static str, cap: &str| {
        (
            field,
            Problem::Shape(format!(
                "exceeds Paxos's maximum notional value of {cap} USD"
            )),
        )
    };
    let market = OrderRequest {
        quote_amount: Some(amt("500000.01")),
        ..order(Buy, OrderType::Market, "BTCUSD")
    };
    assert_invalid(market, [too_large("quote_amount", "500000")]).await;
    assert_invalid(limit(Buy, "30.1", "50000"), [too_large("price", "1500000")]).await;
    let other = OrderRequest {
        market: "LTCUSD".parse().unwrap(),
        ..limit(Sell, "10000.5", "100")
    };
    assert_invalid(other, [too_large("price", "1000000")]).await;
    // At the cap exactly, and outside USD markets, nothing is refused for its size.
    assert!(limit(Sell, "30", "50000").hold().is_ok());
    let euro = OrderRequest {
        market: "BTCEUR".parse().unwrap(),
        ..limit(Sell, "40", "50000")
    };
    assert!(euro.hold().is_ok());
}

#[tokio::test]
async fn a_good_till_time_order_needs_its_expiry() {
    let o = OrderRequest {
        time_in_force: TimeInForce::Gtt,
        ..limit(Buy, "0.1", "30000")
    };
    assert_invalid(o.clone(), [("expires_at", Problem::Missing)]).await;
    let o = OrderRequest {
        expires_at: Some(now() + Duration::hours(4)),
        ..o
    };
    assert_places(o, "USD", "3000").await;
}

#[tokio::test]
async fn a_good_till_time_order_expires_at_least_ten_seconds_ahead() {
    let o = OrderRequest {
        time_in_force: TimeInForce::Gtt,
        expires_at: Some(now() + Duration::seconds(9)),
        ..limit(Buy, "0.1", "30000")
    };
    assert_invalid(
        o.clone(),
        [(
            "expires_at",
            Problem::Shape("must be at least 10 seconds after the order is placed".to_owned()),
        )],
    )
    .await;
    let o = OrderRequest {
        expires_at: Some(now() + Duration::seconds(10)),
        ..o
    };
    assert_places(o, "USD", "3000").await;
}

#[tokio::test]
async fn only_a_good_till_time_order_has_an_expiry() {
    for tif in [TimeInForce::Gtc, TimeInForce::Fok, TimeInForce::Ioc] {
        let o = OrderRequest {
            time_in_force: tif,
            expires_at: Some(now() + Duration::hours(4)),
            ..limit(Buy, "0.1", "30000")
        };
        assert_invalid(o, [("expires_at", Problem::NotAllowed)]).await;
    }
}

#[tokio::test]
async fn order_amounts_are_positive() {
    assert_invalid(
        limit(Buy, "0", "0"),
        [
            ("base_amount", Problem::Amount(AmountError::Zero)),
            ("price", Problem::Amount(AmountError::Zero)),
        ],
    )
    .await;
    assert_invalid(
        market_buy("0"),
        [("quote_amount", Problem::Amount(AmountError::Zero))],
    )
    .await;
}

#[tokio::test]
async fn an_order_needs_available_funds_for_its_hold() {
    let h = Holder::approved();
    h.framework()
        .given(h.funded(FUNDS))
        .when_async(place(&limit(Buy, "4", "30000")))
        .await
        .then_expect_error(ProfileError::InsufficientFunds {
            asset: asset("USD"),
            available: amt("100000"),
            needed: amt("120000"),
        });
    h.framework()
        .given(h.funded(FUNDS))
        .when_async(place(&market_sell("2.00000001")))
        .await
        .then_expect_error(ProfileError::InsufficientFunds {
            asset: asset("BTC"),
            available: amt("2"),
            needed: amt("2.00000001"),
        });
}

#[tokio::test]
async fn an_order_may_hold_everything_available() {
    assert_places(limit(Buy, "4", "25000"), "USD", "100000").await;
    assert_places(market_sell("2"), "BTC", "2").await;
}

#[tokio::test]
async fn funds_held_by_an_open_order_are_not_available_to_another() {
    let h = Holder::approved();
    let first = limit(Buy, "3", "30000");
    let mut history = h.funded(FUNDS);
    history.push(placed(&first, "USD", "90000"));
    h.framework()
        .given(history)
        .when_async(place(&market_buy("10000.01")))
        .await
        .then_expect_error(ProfileError::InsufficientFunds {
            asset: asset("USD"),
            available: amt("10000"),
            needed: amt("10000.01"),
        });
}

#[tokio::test]
async fn a_disabled_owner_may_sell() {
    let h = Holder::in_status(IdentityStatus::Disabled);
    let o = market_sell("1");
    h.framework()
        .given(h.funded(FUNDS))
        .when_async(place(&o))
        .await
        .then_expect_events(vec![placed(&o, "BTC", "1")]);
}

#[tokio::test]
async fn a_disabled_owner_may_not_buy() {
    let h = Holder::in_status(IdentityStatus::Disabled);
    h.framework()
        .given(h.funded(FUNDS))
        .when_async(place(&market_buy("10")))
        .await
        .then_expect_error(ProfileError::OwnerNotAllowed {
            status: IdentityStatus::Disabled,
            side: Buy,
        });
}

#[tokio::test]
async fn an_owner_not_approved_may_not_trade() {
    for status in [
        IdentityStatus::Pending,
        IdentityStatus::Denied,
        IdentityStatus::Error,
    ] {
        for o in [market_buy("10"), market_sell("0.1")] {
            let h = Holder::in_status(status);
            h.framework()
                .given(h.funded(FUNDS))
                .when_async(place(&o))
                .await
                .then_expect_error(ProfileError::OwnerNotAllowed {
                    status,
                    side: o.side,
                });
        }
    }
}

#[tokio::test]
async fn a_closed_account_takes_no_orders() {
    let h = Holder::approved().with_closed_account();
    h.framework()
        .given(h.funded(FUNDS))
        .when_async(place(&market_sell("0.1")))
        .await
        .then_expect_error(ProfileError::AccountNotOpen(h.account_id));
}

#[tokio::test]
async fn an_order_id_is_used_once() {
    let h = Holder::approved();
    let o = market_sell("0.1");
    let mut history = h.funded(FUNDS);
    history.push(placed(&o, "BTC", "0.1"));
    h.framework()
        .given(history.clone())
        .when_async(place(&o))
        .await
        .then_expect_error(ProfileError::DuplicateOrder(o.order_id));

    // Also once the order is closed.
    history.push(ProfileEvent::OrderClosed {
        order_id: o.order_id,
        outcome: OrderOutcome::Rejected,
        released: amt("0.1"),
        reason: None,
    });
    h.framework()
        .given(history)
        .when_async(place(&o))
        .await
        .then_expect_error(ProfileError::DuplicateOrder(o.order_id));
}

#[tokio::test]
async fn an_unopened_profile_takes_no_orders() {
    let h = Holder::approved();
    h.framework()
        .given_no_previous_events()
        .when_async(place(&market_sell("0.1")))
        .await
        .then_expect_error(ProfileError::NotOpened);
}

// Recording progress.

/// Funded, with a LIMIT buy of 1 BTC at 30,000 USD open (30,000 USD held).
fn with_open_buy(h: &Holder) -> (OrderRequest, Vec<ProfileEvent>) {
    let o = limit(Buy, "1", "30000");
    let mut history = h.funded(FUNDS);
    history.push(placed(&o, "USD", "30000"));
    (o, history)
}

/// Funded, with a LIMIT sell of 0.75 BTC at 31,000 USD open (0.75 BTC held).
fn with_open_sell(h: &Holder) -> (OrderRequest, Vec<ProfileEvent>) {
    let o = limit(Sell, "0.75", "31000");
    let mut history = h.funded(FUNDS);
    history.push(placed(&o, "BTC", "0.75"));
    (o, history)
}

fn filled(
    order_id: OrderId,
    base: &str,
    quote: &str,
    cum_base: &str,
    cum_quote: &str,
) -> ProfileEvent {
    ProfileEvent::OrderFilled {
        order_id,
        base_amount: amt(base),
        quote_amount: amt(quote),
        cumulative_base: amt(cum_base),
        cumulative_quote: amt(cum_quote),
    }
}

fn closed(order_id: OrderId, outcome: OrderOutcome, released: &str) -> ProfileEvent {
    ProfileEvent::OrderClosed {
        order_id,
        outcome,
        released: amt(released),
        reason: None,
    }
}

#[tokio::test]
async fn a_partial_buy_fill_spends_held_quote_and_credits_base() {
    let h = Holder::approved();
    let (o, history) = with_open_buy(&h);
    let events = recorded(
        &h,
        history.clone(),
        update(o.order_id, Open, "0.4", Some("29500")),
    )
    .await;
    assert_eq!(
        events,
        vec![filled(o.order_id, "0.4", "11800", "0.4", "11800")]
    );
    let state = after(history, &events);
    assert_eq!(state.balance(&asset("USD")), balance("70000", "18200"));
    assert_eq!(state.balance(&asset("BTC")), balance("2.4", "0"));
    assert_eq!(state.open_orders()[&o.order_id].held, amt("18200"));
}

#[tokio::test]
async fn a_further_partial_fill_records_only_what_is_new() {
    let h = Holder::approved();
    let (o, mut history) = with_open_buy(&h);
    history.push(filled(o.order_id, "0.4", "11800", "0.4", "11800"));
    h.framework()
        .given(history)
        .when_async(update(o.order_id, Open, "0.7", Some("29600")))
        .await
        .then_expect_events(vec![filled(o.order_id, "0.3", "8920", "0.7", "20720")]);
}

#[tokio::test]
async fn the_same_progress_reported_again_changes_nothing() {
    let h = Holder::approved();
    let (o, mut history) = with_open_buy(&h);
    history.push(filled(o.order_id, "0.4", "11800", "0.4", "11800"));
    h.framework()
        .given(history)
        .when_async(update(o.order_id, Open, "0.4", Some("29500")))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn a_partial_sell_fill_spends_held_base_and_credits_quote() {
    let h = Holder::approved();
    let (o, history) = with_open_sell(&h);
    let events = recorded(
        &h,
        history.clone(),
        update(o.order_id, Open, "0.25", Some("31000")),
    )
    .await;
    assert_eq!(
        events,
        vec![filled(o.order_id, "0.25", "7750", "0.25", "7750")]
    );
    let state = after(history, &events);
    assert_eq!(state.balance(&asset("BTC")), balance("1.25", "0.5"));
    assert_eq!(state.balance(&asset("USD")), balance("107750", "0"));
}

#[tokio::test]
async fn a_fill_settles_the_order_and_releases_the_price_improvement() {
    let h = Holder::approved();
    let (o, mut history) = with_open_buy(&h);
    history.push(filled(o.order_id, "0.4", "11800", "0.4", "11800"));
    let events = recorded(
        &h,
        history.clone(),
        update(o.order_id, Filled, "1", Some("29700")),
    )
    .await;
    assert_eq!(
        events,
        vec![
            filled(o.order_id, "0.6", "17900", "1", "29700"),
            closed(o.order_id, OrderOutcome::Filled, "300"),
        ]
    );
    let state = after(history, &events);
    assert_eq!(state.balance(&asset("USD")), balance("70300", "0"));
    assert_eq!(state.balance(&asset("BTC")), balance("3", "0"));
    assert!(state.open_orders().is_empty());
    assert_eq!(
        state.closed_orders()[&o.order_id].outcome,
        OrderOutcome::Filled
    );
}

#[tokio::test]
async fn a_filled_sell_credits_its_proceeds_and_holds_nothing() {
    let h = Holder::approved();
    let (o, history) = with_open_sell(&h);
    let events = recorded(
        &h,
        history.clone(),
        update(o.order_id, Filled, "0.75", Some("31002")),
    )
    .await;
    assert_eq!(
        events,
        vec![
            filled(o.order_id, "0.75", "23251.5", "0.75", "23251.5"),
            closed(o.order_id, OrderOutcome::Filled, "0"),
        ]
    );
    let state = after(history, &events);
    assert_eq!(state.balance(&asset("BTC")), balance("1.25", "0"));
    assert_eq!(state.balance(&asset("USD")), balance("123251.5", "0"));
}

#[tokio::test]
async fn a_cancel_releases_exactly_what_is_still_held() {
    let h = Holder::approved();
    let (o, mut history) = with_open_buy(&h);
    history.push(filled(o.order_id, "0.4", "11800", "0.4", "11800"));
    let events = recorded(
        &h,
        history.clone(),
        update(o.order_id, Cancelled, "0.4", Some("29500")),
    )
    .await;
    assert_eq!(
        events,
        vec![closed(o.order_id, OrderOutcome::Cancelled, "18200")]
    );
    let state = after(history, &events);
    assert_eq!(state.balance(&asset("USD")), balance("88200", "0"));
    assert_eq!(state.balance(&asset("BTC")), balance("2.4", "0"));
}

#[tokio::test]
async fn a_cancel_reporting_a_last_fill_settles_it_before_releasing() {
    let h = Holder::approved();
    let (o, history) = with_open_sell(&h);
    let events = recorded(
        &h,
        history.clone(),
        update(o.order_id, Cancelled, "0.5", Some("31000")),
    )
    .await;
    assert_eq!(
        events,
        vec![
            filled(o.order_id, "0.5", "15500", "0.5", "15500"),
            closed(o.order_id, OrderOutcome::Cancelled, "0.25"),
        ]
    );
    let state = after(history, &events);
    assert_eq!(state.balance(&asset("BTC")), balance("1.5", "0"));
    assert_eq!(state.balance(&asset("USD")), balance("115500", "0"));
}

#[tokio::test]
async fn a_rejection_releases_the_whole_hold() {
    let h = Holder::approved();
    let (o, history) = with_open_buy(&h);
    let command = ProfileCommand::RecordOrderUpdate {
        order_id: o.order_id,
        state: Rejected,
        amount_filled: amt("0"),
        average_price: None,
        reason: Some("unavailable-market".to_owned()),
    };
    let events = recorded(&h, history.clone(), command).await;
    assert_eq!(
        events,
        vec![ProfileEvent::OrderClosed {
            order_id: o.order_id,
            outcome: OrderOutcome::Rejected,
            released: amt("30000"),
            reason: Some("unavailable-market".to_owned()),
        }]
    );
    let state = after(history, &events);
    assert_eq!(state.balance(&asset("USD")), balance("100000", "0"));
}

#[tokio::test]
async fn a_final_state_reported_again_is_a_no_op() {
    let h = Holder::approved();
    let (o, mut history) = with_open_buy(&h);
    history.push(filled(o.order_id, "1", "29700", "1", "29700"));
    history.push(closed(o.order_id, OrderOutcome::Filled, "300"));
    h.framework()
        .given(history)
        .when_async(update(o.order_id, Filled, "1", Some("29700")))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn a_closed_order_does_not_change_its_outcome() {
    let h = Holder::approved();
    let (o, mut history) = with_open_buy(&h);
    history.push(closed(o.order_id, OrderOutcome::Cancelled, "30000"));
    for (state, amount, price) in [
        (Filled, "1", Some("29700")),
        (Open, "0", None),
        (Cancelled, "0.5", Some("29700")),
    ] {
        h.framework()
            .given(history.clone())
            .when_async(update(o.order_id, state, amount, price))
            .await
            .then_expect_error(inconsistent(
                o.order_id,
                "the order is already closed with another outcome",
            ));
    }
}

#[tokio::test]
async fn the_filled_amount_never_goes_down() {
    let h = Holder::approved();
    let (o, mut history) = with_open_buy(&h);
    history.push(filled(o.order_id, "0.4", "11800", "0.4", "11800"));
    h.framework()
        .given(history)
        .when_async(update(o.order_id, Filled, "0.3", Some("29500")))
        .await
        .then_expect_error(inconsistent(o.order_id, "amount_filled went down"));
}

#[tokio::test]
async fn no_more_can_be_filled_than_was_ordered() {
    let h = Holder::approved();
    let (o, history) = with_open_sell(&h);
    h.framework()
        .given(history)
        .when_async(update(o.order_id, Filled, "0.75000001", Some("31000")))
        .await
        .then_expect_error(inconsistent(o.order_id, "more filled than ordered"));
}

#[tokio::test]
async fn fills_may_not_cost_more_than_the_hold() {
    let h = Holder::approved();
    let (o, history) = with_open_buy(&h);
    h.framework()
        .given(history)
        .when_async(update(o.order_id, Filled, "1", Some("30000.01")))
        .await
        .then_expect_error(inconsistent(o.order_id, "fills exceed the hold"));

    let o = market_buy("1000");
    let mut history = h.funded(FUNDS);
    history.push(placed(&o, "USD", "1000"));
    h.framework()
        .given(history)
        .when_async(update(o.order_id, Filled, "0.05", Some("20001")))
        .await
        .then_expect_error(inconsistent(o.order_id, "fills exceed the hold"));
}

#[tokio::test]
async fn a_market_buy_filled_for_less_than_its_quote_releases_the_rest() {
    let h = Holder::approved();
    let o = market_buy("1000");
    let mut history = h.funded(FUNDS);
    history.push(placed(&o, "USD", "1000"));
    h.framework()
        .given(history)
        .when_async(update(o.order_id, Filled, "0.0333", Some("30000")))
        .await
        .then_expect_events(vec![
            filled(o.order_id, "0.0333", "999", "0.0333", "999"),
            closed(o.order_id, OrderOutcome::Filled, "1"),
        ]);
}

#[tokio::test]
async fn a_fill_states_its_average_price() {
    let h = Holder::approved();
    let (o, history) = with_open_buy(&h);
    h.framework()
        .given(history)
        .when_async(update(o.order_id, Open, "0.1", None))
        .await
        .then_expect_error(ProfileError::Invalid(violations([(
            "average_price",
            Problem::Missing,
        )])));
}

#[tokio::test]
async fn an_update_names_an_order_of_this_profile() {
    let h = Holder::approved();
    let stranger = OrderId::new();
    h.framework()
        .given(h.funded(FUNDS))
        .when_async(update(stranger, Filled, "1", Some("30000")))
        .await
        .then_expect_error(ProfileError::UnknownOrder(stranger));
}

#[tokio::test]
async fn the_value_of_a_sell_never_goes_down() {
    // 0.25 BTC sold for 7,750 USD; a later report of 0.5 BTC for 7,500 USD in total is
    // impossible and must not credit anything.
    let h = Holder::approved();
    let (o, mut history) = with_open_sell(&h);
    history.push(filled(o.order_id, "0.25", "7750", "0.25", "7750"));
    h.framework()
        .given(history)
        .when_async(update(o.order_id, Open, "0.5", Some("15000")))
        .await
        .then_expect_error(inconsistent(o.order_id, "fill value went down"));
}

#[tokio::test]
async fn a_new_average_price_without_a_new_fill_leaves_no_funds_held() {
    // 0.5 BTC bought for 14,500 USD; the cancellation reports the same 0.5 BTC with another
    // average price. Whatever the order still holds must all be released.
    let h = Holder::approved();
    let (o, mut history) = with_open_buy(&h);
    history.push(filled(o.order_id, "0.5", "14500", "0.5", "14500"));
    let events = recorded(
        &h,
        history.clone(),
        update(o.order_id, Cancelled, "0.5", Some("29500")),
    )
    .await;
    assert_eq!(
        events,
        vec![closed(o.order_id, OrderOutcome::Cancelled, "15500")]
    );
    let state = after(history, &events);
    assert_eq!(state.balance(&asset("USD")), balance("85500", "0"));
}

#[tokio::test]
async fn a_buy_filled_at_an_average_price_rounded_up_spends_its_hold_not_more() {
    let h = Holder::approved();
    let (o, history) = with_open_buy(&h);
    // 1 BTC at an average price rounded up in its 8th decimal: 0.00000001 USD over the hold.
    let events = recorded(
        &h,
        history.clone(),
        update(o.order_id, Filled, "1", Some("30000.00000001")),
    )
    .await;
    assert_eq!(
        events,
        vec![
            filled(o.order_id, "1", "30000", "1", "30000"),
            closed(o.order_id, OrderOutcome::Filled, "0"),
        ]
    );
    let state = after(history.clone(), &events);
    assert_eq!(state.balance(&asset("USD")), balance("70000", "0"));

    // More than rounding can explain is still refused.
    h.framework()
        .given(history)
        .when_async(update(o.order_id, Filled, "1", Some("30000.0001")))
        .await
        .then_expect_error(inconsistent(o.order_id, "fills exceed the hold"));
}

#[tokio::test]
async fn each_order_type_takes_only_the_times_in_force_paxos_allows() {
    let market = OrderRequest {
        time_in_force: TimeInForce::Gtc,
        ..order(Buy, OrderType::Market, "BTCUSD")
    };
    let market = OrderRequest {
        quote_amount: Some(amt("100")),
        ..market
    };
    assert_invalid(
        market,
        [(
            "time_in_force",
            Problem::Shape("MARKET orders take IOC".to_owned()),
        )],
    )
    .await;
    let stop = OrderRequest {
        base_amount: Some(amt("0.1")),
        stop_price: Some(amt("25000")),
        time_in_force: TimeInForce::Ioc,
        ..order(Sell, OrderType::StopMarket, "BTCUSD")
    };
    assert_invalid(
        stop,
        [(
            "time_in_force",
            Problem::Shape("STOP_MARKET orders take GTC or GTT".to_owned()),
        )],
    )
    .await;
    for tif in [TimeInForce::Gtc, TimeInForce::Ioc, TimeInForce::Fok] {
        let o = OrderRequest {
            time_in_force: tif,
            ..limit(Buy, "0.1", "30000")
        };
        assert_places(o, "USD", "3000").await;
    }
}

#[tokio::test]
async fn a_market_buy_filled_at_a_rounded_up_average_price_spends_exactly_its_quote() {
    let h = Holder::approved();
    let o = OrderRequest {
        quote_amount: Some(amt("100")),
        ..order(Buy, OrderType::Market, "BTCUSD")
    };
    let mut history = h.funded(FUNDS);
    history.push(placed(&o, "USD", "100"));
    // 0.003 BTC at 33333.33333334 (33333.333... rounded up): 100.00000000002 USD.
    let events = recorded(
        &h,
        history.clone(),
        update(o.order_id, Filled, "0.003", Some("33333.33333334")),
    )
    .await;
    assert_eq!(
        events,
        vec![
            filled(o.order_id, "0.003", "100", "0.003", "100"),
            closed(o.order_id, OrderOutcome::Filled, "0"),
        ]
    );
    let state = after(history, &events);
    assert_eq!(state.balance(&asset("USD")), balance("99900", "0"));
}
