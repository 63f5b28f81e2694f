//! Test doubles for the domain's ports and builders of valid inputs, so that each rule test
//! changes exactly one thing.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::test::TestFramework;
use cqrs_es::Aggregate;
use onboarding_domain::identity::submission::IdentitySubmission;
use onboarding_domain::profile::Hold;
use onboarding_domain::values::CipKey;
use onboarding_domain::vocab::{IdentityKind, IdentityStatus, OrderSide, OrderType};
use onboarding_domain::{
    AccountFacts, AccountId, Amount, Asset, Balance, CipClaim, CipRegistry, Directory, FixedClock,
    FundingMethod, IdentityDraft, IdentityFacts, IdentityId, LookupError, OrderId, OrderRequest,
    Problem, Profile, ProfileCommand, ProfileEvent, ProfileId, ReportedOrderState, Services,
    Violation, Violations,
};
use serde_json::{json, Value};

/// The instant every test runs at: 2025-06-01T12:00:00Z.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap()
}

/// Other aggregates' state, as a map.
#[derive(Debug, Clone, Default)]
pub struct FakeDirectory {
    identities: HashMap<IdentityId, IdentityFacts>,
    accounts: HashMap<AccountId, AccountFacts>,
}

impl FakeDirectory {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an identity of `kind` in `status`.
    pub fn identity(mut self, id: IdentityId, kind: IdentityKind, status: IdentityStatus) -> Self {
        self.identities.insert(id, IdentityFacts { kind, status });
        self
    }

    /// Adds a person identity in `status`.
    pub fn person(self, id: IdentityId, status: IdentityStatus) -> Self {
        self.identity(id, IdentityKind::Person, status)
    }

    /// Adds an account owned by `owner`, open or closed.
    pub fn account(mut self, id: AccountId, owner: IdentityId, open: bool) -> Self {
        self.accounts.insert(id, AccountFacts { owner, open });
        self
    }
}

#[async_trait]
impl Directory for FakeDirectory {
    async fn identity(&self, id: IdentityId) -> Result<Option<IdentityFacts>, LookupError> {
        Ok(self.identities.get(&id).copied())
    }

    async fn account(&self, id: AccountId) -> Result<Option<AccountFacts>, LookupError> {
        Ok(self.accounts.get(&id).copied())
    }
}

/// A directory whose store is unreachable.
#[derive(Debug, Clone, Copy)]
pub struct UnreachableDirectory;

#[async_trait]
impl Directory for UnreachableDirectory {
    async fn identity(&self, _: IdentityId) -> Result<Option<IdentityFacts>, LookupError> {
        Err(LookupError("store unreachable".to_owned()))
    }

    async fn account(&self, _: AccountId) -> Result<Option<AccountFacts>, LookupError> {
        Err(LookupError("store unreachable".to_owned()))
    }
}

/// The `cip_id` uniqueness table, in memory. Claims are atomic under the mutex.
#[derive(Debug, Default)]
pub struct MemoryCips(Mutex<HashMap<CipKey, IdentityId>>);

impl MemoryCips {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Who holds `key`, if anyone.
    pub fn holder(&self, key: &CipKey) -> Option<IdentityId> {
        self.0.lock().unwrap().get(key).copied()
    }

    /// How many keys are claimed.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

#[async_trait]
impl CipRegistry for MemoryCips {
    async fn claim(&self, key: &CipKey, identity: IdentityId) -> Result<CipClaim, LookupError> {
        let mut claims = self.0.lock().unwrap();
        let holder = *claims.entry(key.clone()).or_insert(identity);
        Ok(if holder == identity {
            CipClaim::Claimed
        } else {
            CipClaim::HeldBy(holder)
        })
    }

    async fn release(&self, identity: IdentityId) -> Result<(), LookupError> {
        self.0
            .lock()
            .unwrap()
            .retain(|_, holder| *holder != identity);
        Ok(())
    }
}

/// Services over `directory`, a fresh cip registry and the fixed clock.
pub fn services(directory: FakeDirectory) -> Services {
    services_with(directory, MemoryCips::new())
}

/// Services over `directory` and a shared cip registry.
pub fn services_with(directory: FakeDirectory, cips: Arc<MemoryCips>) -> Services {
    Services::new(Arc::new(directory), cips, Arc::new(FixedClock(now())))
}

/// Reads and parses a draft the way a caller's JSON would be.
pub fn parse(draft: &Value) -> Result<IdentitySubmission, Violations> {
    IdentityDraft::from_json(&draft.to_string())?.parse()
}

/// Parses a draft that must be valid.
pub fn submission(draft: &Value) -> Box<IdentitySubmission> {
    match parse(draft) {
        Ok(s) => Box::new(s),
        Err(v) => panic!("the draft should parse, but: {v}"),
    }
}

/// Sets the field at a JSON pointer (`/person_details/date_of_birth`), creating nothing.
pub fn set(draft: &mut Value, pointer: &str, value: Value) {
    *draft
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("no field at {pointer}")) = value;
}

/// Removes the field at a JSON pointer.
pub fn remove(draft: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
    let parent = if parent.is_empty() {
        &mut *draft
    } else {
        draft.pointer_mut(parent).expect("a parent object")
    };
    parent
        .as_object_mut()
        .expect("an object")
        .remove(key)
        .unwrap_or_else(|| panic!("no field at {pointer}"));
}

/// Returns `draft` with the field at `pointer` set to `value`.
pub fn with(mut draft: Value, pointer: &str, value: Value) -> Value {
    set(&mut draft, pointer, value);
    draft
}

/// Returns `draft` without the field at `pointer`.
pub fn without(mut draft: Value, pointer: &str) -> Value {
    remove(&mut draft, pointer);
    draft
}

/// Exactly these violations.
pub fn violations<const N: usize>(list: [(&str, Problem); N]) -> Violations {
    let mut v = Violations::new();
    for (field, problem) in list {
        v.push(field, problem);
    }
    v
}

/// The problems recorded for `field`.
pub fn problems_at<'a>(v: &'a Violations, field: &str) -> Vec<&'a Problem> {
    v.iter()
        .filter(|x| x.field == field)
        .map(|x: &Violation| &x.problem)
        .collect()
}

/// An amount written as text.
pub fn amt(text: &str) -> Amount {
    Amount::from_str(text).unwrap()
}

/// The state after `events`.
pub fn state_after<A: Aggregate>(events: impl IntoIterator<Item = A::Event>) -> A {
    let mut aggregate = A::default();
    for e in events {
        aggregate.apply(e);
    }
    aggregate
}

/// Handles `command` on `aggregate` as the framework would: on success the events are applied
/// and returned; on refusal the aggregate is left as it was.
pub async fn execute<A: Aggregate + Clone>(
    aggregate: &mut A,
    command: A::Command,
    services: &A::Services,
) -> Result<Vec<A::Event>, A::Error> {
    let mut working = aggregate.clone();
    let sink = EventSink::<A>::default();
    working.handle(command, services, &sink).await?;
    *aggregate = working;
    Ok(sink.collect().await)
}

// The person of every person test. Distinctive values, so a leak is easy to spot.
pub const FIRST_NAME: &str = "Philippa";
pub const LAST_NAME: &str = "Quarrington";
pub const DATE_OF_BIRTH: &str = "1987-03-14";
pub const SSN: &str = "531-27-9046";
pub const STREET: &str = "742 Evergreen Terrace";
pub const CITY: &str = "Shelbyville";

/// A complete, valid person draft: a US resident identified by SSN, verified by Jumio two days
/// before [`now`].
pub fn person_draft() -> Value {
    json!({
        "ref_id": "ignored",
        "person_details": {
            "first_name": FIRST_NAME,
            "last_name": LAST_NAME,
            "date_of_birth": DATE_OF_BIRTH,
            "address": {
                "country": "USA",
                "address1": STREET,
                "city": CITY,
                "province": "IL",
                "zip_code": "62565"
            },
            "nationality": "USA",
            "cip_id": SSN,
            "cip_id_type": "SSN",
            "cip_id_country": "USA",
            "email": "philippa@example.com",
            "verifier_type": "PASSTHROUGH",
            "passthrough_verifier_type": "JUMIO",
            "passthrough_verified_at": "2025-05-30T10:00:00Z",
            "passthrough_verification_id": "jumio-7781",
            "passthrough_verification_status": "APPROVED",
            "passthrough_verification_fields": ["FULL_LEGAL_NAME", "ADDRESS", "DATE_OF_BIRTH", "CIP_ID"]
        },
        "customer_due_diligence": {
            "estimated_yearly_income": "INCOME_50K_TO_100K",
            "expected_transfer_value": "TRANSFER_VALUE_0_TO_25K",
            "source_of_wealth": "EMPLOYMENT_INCOME",
            "employment_status": "FULL_TIME",
            "employment_industry_sector": "INFORMATION"
        },
        "tax_details": [{"tax_payer_id": SSN, "tax_payer_country": "USA"}],
        "metadata": {"channel": "web"}
    })
}

/// A person draft with another SSN, for a second distinct person.
pub fn other_person_draft(ssn: &str) -> Value {
    let mut d = person_draft();
    set(&mut d, "/person_details/cip_id", json!(ssn));
    set(&mut d, "/tax_details/0/tax_payer_id", json!(ssn));
    d
}

/// An address object as drafts write it.
pub fn address(country: &str) -> Value {
    json!({"country": country, "address1": "1 Industrial Way", "city": "Wilmington", "province": "DE"})
}

/// A member entry of `institution_members`.
pub fn member(id: IdentityId, roles: &[&str], ownership: Option<&str>) -> Value {
    let mut m = json!({"identity_id": id.to_string(), "roles": roles});
    if let Some(o) = ownership {
        m["ownership"] = json!(o);
    }
    m
}

/// A valid private, non-regulated corporation with its two members, both approved persons in
/// [`Institution::directory`].
pub struct Institution {
    /// The beneficial owner (60%).
    pub owner: IdentityId,
    /// The management control person.
    pub controller: IdentityId,
    /// The draft.
    pub draft: Value,
}

impl Institution {
    /// A corporation: a 60% beneficial owner and a management control person.
    pub fn corporation() -> Self {
        let owner = IdentityId::new();
        let controller = IdentityId::new();
        let draft = json!({
            "institution_details": {
                "name": "Northwind Traders Inc",
                "business_address": address("USA"),
                "incorporation_address": address("USA"),
                "institution_type": "CORPORATION",
                "institution_sub_type": "MANUFACTURING",
                "cip_id": "12-3456789",
                "cip_id_type": "EIN",
                "cip_id_country": "USA",
                "govt_registration_date": "2015-02-01",
                "regulation_status": "NON_REGULATED",
                "trading_type": "PRIVATE",
                "business_description": "Makes widgets"
            },
            "institution_members": [
                member(owner, &["BENEFICIAL_OWNER"], Some("60")),
                member(controller, &["MANAGEMENT_CONTROL_PERSON"], None)
            ],
            "customer_due_diligence": {
                "source_of_wealth": "BUSINESS_OWNERSHIP_DIVIDENDS",
                "source_of_funds": "BUSINESS_DIVIDENDS_PROFITS",
                "industry_sector": "MANUFACTURING",
                "has_underlying_trust_structure": false,
                "has_nominee_shareholders": false
            },
            "tax_details": [{"tax_payer_id": "12-3456789", "tax_payer_country": "USA"}]
        });
        Self {
            owner,
            controller,
            draft,
        }
    }

    /// A trust: sub type INVESTMENT, a trustee (the `owner`) and a beneficiary (the
    /// `controller`), no due diligence.
    pub fn trust() -> Self {
        let mut i = Self::corporation();
        set(
            &mut i.draft,
            "/institution_details/institution_type",
            json!("TRUST"),
        );
        set(
            &mut i.draft,
            "/institution_details/institution_sub_type",
            json!("INVESTMENT"),
        );
        set(
            &mut i.draft,
            "/institution_members",
            json!([
                member(i.owner, &["TRUSTEE"], None),
                member(i.controller, &["BENEFICIARY"], None)
            ]),
        );
        remove(&mut i.draft, "/customer_due_diligence");
        i
    }

    /// Replaces the members by those `build` makes of the owner and the controller.
    pub fn members(mut self, build: impl FnOnce(IdentityId, IdentityId) -> Vec<Value>) -> Self {
        let members = build(self.owner, self.controller);
        set(
            &mut self.draft,
            "/institution_members",
            Value::Array(members),
        );
        self
    }

    /// Sets an `institution_details` field.
    pub fn detail(mut self, name: &str, value: Value) -> Self {
        set_or_insert(&mut self.draft["institution_details"], name, value);
        self
    }

    /// Both members as approved persons.
    pub fn directory(&self) -> FakeDirectory {
        FakeDirectory::new()
            .person(self.owner, IdentityStatus::Approved)
            .person(self.controller, IdentityStatus::Approved)
    }
}

/// Sets or inserts `key` in a JSON object.
pub fn set_or_insert(object: &mut Value, key: &str, value: Value) {
    object
        .as_object_mut()
        .expect("an object")
        .insert(key.to_owned(), value);
}

/// A profile of an open account whose owner is in a given status.
pub struct Holder {
    pub profile_id: ProfileId,
    pub account_id: AccountId,
    pub owner: IdentityId,
    pub directory: FakeDirectory,
}

impl Holder {
    /// The owner is approved and the account open.
    pub fn approved() -> Self {
        Self::in_status(IdentityStatus::Approved)
    }

    /// The owner is in `status` and the account open.
    pub fn in_status(status: IdentityStatus) -> Self {
        let owner = IdentityId::new();
        let account_id = AccountId::new();
        Self {
            profile_id: ProfileId::new(),
            account_id,
            owner,
            directory: FakeDirectory::new()
                .person(owner, status)
                .account(account_id, owner, true),
        }
    }

    /// The account is closed.
    pub fn with_closed_account(mut self) -> Self {
        self.directory = self.directory.account(self.account_id, self.owner, false);
        self
    }

    /// The services this holder's commands run with.
    pub fn services(&self) -> Services {
        services(self.directory.clone())
    }

    /// The framework for this holder's profile.
    pub fn framework(&self) -> TestFramework<Profile> {
        TestFramework::with(self.services())
    }

    /// The profile's first event.
    pub fn opened(&self) -> ProfileEvent {
        ProfileEvent::ProfileOpened {
            profile_id: self.profile_id,
            account_id: self.account_id,
            owner: self.owner,
        }
    }

    /// The profile opened and funded with each `(asset, amount)`.
    pub fn funded(&self, funds: &[(&str, &str)]) -> Vec<ProfileEvent> {
        let mut events = vec![self.opened()];
        for (i, (a, x)) in funds.iter().enumerate() {
            events.push(funding(&format!("dep-{i}"), a, x));
        }
        events
    }
}

/// A deposit event.
pub fn funding(funding_id: &str, asset_code: &str, amount: &str) -> ProfileEvent {
    ProfileEvent::ProfileFunded {
        funding_id: funding_id.to_owned(),
        asset: asset(asset_code),
        amount: amt(amount),
        method: FundingMethod::Deposit,
    }
}

/// An asset by code.
pub fn asset(code: &str) -> Asset {
    code.parse().unwrap()
}

/// An order with nothing but its side, type and market; amounts are set by the caller.
pub fn order(side: OrderSide, order_type: OrderType, market: &str) -> OrderRequest {
    OrderRequest {
        order_id: OrderId::new(),
        side,
        market: market.parse().unwrap(),
        order_type,
        base_amount: None,
        quote_amount: None,
        price: None,
        stop_price: None,
        time_in_force: order_type.default_time_in_force(),
        expires_at: None,
    }
}

/// A LIMIT order on BTCUSD.
pub fn limit(side: OrderSide, base: &str, price: &str) -> OrderRequest {
    OrderRequest {
        base_amount: Some(amt(base)),
        price: Some(amt(price)),
        ..order(side, OrderType::Limit, "BTCUSD")
    }
}

/// A MARKET buy on BTCUSD spending `quote` USD.
pub fn market_buy(quote: &str) -> OrderRequest {
    OrderRequest {
        quote_amount: Some(amt(quote)),
        ..order(OrderSide::Buy, OrderType::Market, "BTCUSD")
    }
}

/// A MARKET sell on BTCUSD of `base` BTC.
pub fn market_sell(base: &str) -> OrderRequest {
    OrderRequest {
        base_amount: Some(amt(base)),
        ..order(OrderSide::Sell, OrderType::Market, "BTCUSD")
    }
}

/// The event of placing `order`, with the hold stated by the test.
pub fn placed(order: &OrderRequest, hold_asset: &str, hold_amount: &str) -> ProfileEvent {
    ProfileEvent::OrderPlaced {
        order: order.clone(),
        hold: Hold {
            asset: asset(hold_asset),
            amount: amt(hold_amount),
        },
    }
}

/// An order progress report.
pub fn update(
    order_id: OrderId,
    state: ReportedOrderState,
    filled: &str,
    average_price: Option<&str>,
) -> ProfileCommand {
    ProfileCommand::RecordOrderUpdate {
        order_id,
        state,
        amount_filled: amt(filled),
        average_price: average_price.map(amt),
        reason: None,
    }
}

/// A balance written as text.
pub fn balance(available: &str, held: &str) -> Balance {
    Balance {
        available: amt(available),
        held: amt(held),
    }
}
