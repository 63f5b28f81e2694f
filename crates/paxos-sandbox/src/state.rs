//! The sandbox's in-memory Paxos: identities, accounts, profiles with balances, orders, events,
//! tokens, and the log of requests received. Every operation runs under one lock and is applied
//! whole or not at all.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use axum::http::StatusCode;
use chrono::{DateTime, Duration as ChronoDuration, SecondsFormat, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::config::{glob_match, DecisionConfig};
use crate::problem::ApiProblem;
use crate::rules;

/// The markets of Paxos's `Market` enumeration and the length of their base asset code.
const MARKETS: &[(&str, usize)] = &[
    ("ETHEUR", 3),
    ("ETHSGD", 3),
    ("ETHUSD", 3),
    ("BTCEUR", 3),
    ("BTCSGD", 3),
    ("BTCUSD", 3),
    ("PAXGUSD", 4),
    ("BCHUSD", 3),
    ("LTCUSD", 3),
    ("USDPUSD", 4),
    ("LINKUSD", 4),
    ("MATICUSD", 5),
    ("AAVEUSD", 4),
    ("UNIUSD", 3),
];

/// Base amounts are kept to this many decimal places.
const BASE_SCALE: u32 = 8;

/// A Paxos event as the sandbox recorded it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRecord {
    /// The event id.
    pub id: String,
    /// E.g. `identity.approved`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// E.g. `identity_summary_status_change`.
    pub object_type: String,
    /// The event's object.
    pub object: Value,
    /// When it was created (strictly increasing across events).
    pub created_at: DateTime<Utc>,
}

impl EventRecord {
    /// The event as `GET /events/{id}` answers it.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "type": self.event_type,
            "object_type": self.object_type,
            "object": self.object,
            "created_at": timestamp(self.created_at),
            "undelivered_webhooks": 0,
            "is_test": false,
        })
    }
}

/// A request the sandbox received, as tests inspect it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, e.g. `/v2/identity/identities`.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// The JSON body, if one was sent and parsed.
    pub body: Option<Value>,
    /// The status answered.
    pub status: u16,
}

/// A decision a test (or the automatic decider) makes about an identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxDecision {
    /// `identity.approved`.
    Approve,
    /// `identity.denied`.
    Deny,
    /// `identity.disabled`.
    Disable,
    /// `identity.documents_required` with these document kinds; the identity stays `PENDING`.
    RequireDocuments(Vec<String>),
}

#[derive(Debug, Clone)]
struct IdentityRecord {
    id: String,
    ref_id: String,
    kind: &'static str,
    status: &'static str,
    user_disabled: bool,
    request: Value,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl IdentityRecord {
    fn to_json(&self, details: bool, members: bool) -> Value {
        let mut out = json!({
            "id": self.id,
            "ref_id": self.ref_id,
            "type": self.kind,
            "summary_status": self.status,
            "user_disabled": self.user_disabled,
            "admin_disabled": false,
            "created_at": timestamp(self.created_at),
            "updated_at": timestamp(self.updated_at),
            "metadata": self.request.get("metadata").cloned().unwrap_or_else(|| json!({})),
            "tax_details_not_required": self.request.get("tax_details_not_required").cloned().unwrap_or(json!(false)),
            "is_merchant": self.request.get("is_merchant").cloned().unwrap_or(json!(false)),
        });
        if details {
            if let Some(mut person) = self.request.get("person_details").cloned() {
                // Paxos answers the date of birth as a timestamp although it takes a date.
                if let Some(Value::String(dob)) = person.get("date_of_birth") {
                    person["date_of_birth"] = json!(format!("{dob}T00:00:00Z"));
                }
                person["id_verification_status"] = json!(self.status);
                person["sanctions_verification_status"] = json!(self.status);
                out["person_details"] = person;
            }
            if let Some(inst) = self.request.get("institution_details").cloned() {
                out["institution_details"] = inst;
            }
            for key in ["tax_details", "customer_due_diligence"] {
                if let Some(v) = self.request.get(key) {
                    out[key] = v.clone();
                }
            }
        }
        if members {
            if let Some(m) = self.request.get("institution_members") {
                out["institution_members"] = m.clone();
            }
        }
        out
    }

    fn name_for_rules(&self) -> Option<&str> {
        self.request
            .pointer("/person_details/last_name")
            .or_else(|| self.request.pointer("/institution_details/name"))
            .and_then(Value::as_str)
    }

    fn cip_id(&self) -> Option<&str> {
        self.request
            .pointer("/person_details/cip_id")
            .or_else(|| self.request.pointer("/institution_details/cip_id"))
            .and_then(Value::as_str)
    }
}

#[derive(Debug, Clone)]
struct AccountRecord {
    json: Value,
    profile_id: Option<String>,
}

#[derive(Debug, Clone, Default)]
struct Holding {
    available: Decimal,
    trading: Decimal,
}

#[derive(Debug, Clone, Default)]
struct ProfileRecord {
    balances: BTreeMap<String, Holding>,
}

#[derive(Debug, Clone)]
struct OrderRecord {
    id: String,
    profile_id: String,
    ref_id: Option<String>,
    status: &'static str,
    side: String,
    market: String,
    order_type: String,
    base_amount: Option<Decimal>,
    quote_amount: Option<Decimal>,
    price: Option<Decimal>,
    /// A stop order's trigger: it rests until the market price falls to it (sells only).
    stop_price: Option<Decimal>,
    /// Whether a stop order has been triggered (it then works as a market or limit order).
    triggered: bool,
    amount_filled: Decimal,
    vwap: Decimal,
    time_in_force: String,
    metadata: Value,
    identity_id: Option<String>,
    identity_account_id: Option<String>,
    created_at: DateTime<Utc>,
    modified_at: DateTime<Utc>,
    /// What an open order holds in `trading`: (asset, amount).
    hold: Option<(String, Decimal)>,
}

impl OrderRecord {
    /// The price `self` fills at with the market at `market`, or `None` while it must rest: a
    /// market order (or a triggered stop market) at the market price, a limit (or a triggered
    /// stop limit) at its limit once the market crosses it.
    fn fill_price(&self, market: Decimal) -> Option<Decimal> {
        if !self.triggered {
            return None;
        }
        if self.order_type == "MARKET" || self.order_type == "STOP_MARKET" {
            return Some(market);
        }
        let limit = self.price?;
        let crosses = if self.side == "BUY" {
            market <= limit
        } else {
            market >= limit
        };
        crosses.then_some(limit)
    }

    fn to_json(&self) -> Value {
        let amount = |d: Option<Decimal>| d.map(|d| d.normalize().to_string()).unwrap_or_default();
        let mut out = json!({
            "id": self.id,
            "profile_id": self.profile_id,
            "status": self.status,
            "side": self.side,
            "market": self.market,
            "type": self.order_type,
            "base_amount": amount(self.base_amount),
            "quote_amount": amount(self.quote_amount),
            "price": amount(self.price),
            "amount_filled": format!("{:.8}", self.amount_filled),
            "volume_weighted_average_price": format!("{:.8}", self.vwap),
            "time_in_force": self.time_in_force,
            "metadata": self.metadata,
            "created_at": timestamp(self.created_at),
            "modified_at": timestamp(self.modified_at),
        });
        if let Some(r) = &self.ref_id {
            out["ref_id"] = json!(r);
        }
        if let Some(stop) = self.stop_price {
            out["stop_price"] = json!(stop.normalize().to_string());
        }
        if let (Some(i), Some(a)) = (&self.identity_id, &self.identity_account_id) {
            out["identity_id"] = json!(i);
            out["identity_account_id"] = json!(a);
        }
        out
    }
}

#[derive(Debug, Clone)]
struct TokenRecord {
    expires_at: Instant,
    epoch: u64,
}

/// Counters tests assert on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Tokens issued by the token endpoint.
    pub tokens_issued: u64,
    /// Token requests refused (bad credentials or form).
    pub token_requests_refused: u64,
    /// Identities created.
    pub identities: u64,
    /// Accounts created.
    pub accounts: u64,
    /// Orders created.
    pub orders: u64,
    /// Sandbox deposits made.
    pub deposits: u64,
    /// Webhook deliveries answered 2xx by the receiver.
    pub webhooks_delivered: u64,
    /// Webhook deliveries dropped by a fault.
    pub webhooks_dropped: u64,
    /// Webhook deliveries given up after every try failed.
    pub webhooks_failed: u64,
}

/// All state of one sandbox.
#[derive(Debug)]
pub(crate) struct Store {
    identities: BTreeMap<String, IdentityRecord>,
    identity_by_ref: HashMap<String, String>,
    identity_by_cip: HashMap<(String, String, String), String>,
    accounts: BTreeMap<String, AccountRecord>,
    account_by_ref: HashMap<String, String>,
    profiles: BTreeMap<String, ProfileRecord>,
    orders: BTreeMap<String, OrderRecord>,
    order_by_ref: HashMap<String, String>,
    events: Vec<EventRecord>,
    tokens: HashMap<String, TokenRecord>,
    pub(crate) requests: Vec<RecordedRequest>,
    pub(crate) stats: Stats,
    pub(crate) prices: BTreeMap<String, Decimal>,
    pub(crate) default_price: Option<Decimal>,
    /// Events recorded but not yet handed to the webhook deliverer.
    pub(crate) outbox: Vec<EventRecord>,
    /// When set, every event recorded carries this instant (see
    /// [`SandboxHandle::freeze_event_clock`](crate::SandboxHandle::freeze_event_clock)).
    pub(crate) frozen_event_time: Option<DateTime<Utc>>,
}

/// RFC 3339 with as many fractional digits as needed, `Z` for UTC.
pub(crate) fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn parse_decimal(v: Option<&Value>) -> Option<Decimal> {
    let s = v?.as_str()?.trim();
    if s.is_empty() {
        return None;
    }
    let s = if s.starts_with('.') {
        format!("0{s}")
    } else {
        s.to_owned()
    };
    s.parse().ok()
}

fn market_assets(market: &str) -> Option<(String, String)> {
    MARKETS
        .iter()
        .find(|(m, _)| *m == market)
        .map(|(m, n)| (m[..*n].to_owned(), m[*n..].to_owned()))
}

impl Store {
    pub(crate) fn new(prices: BTreeMap<String, Decimal>, default_price: Option<Decimal>) -> Self {
        Self {
            identities: BTreeMap::new(),
            identity_by_ref: HashMap::new(),
            identity_by_cip: HashMap::new(),
            accounts: BTreeMap::new(),
            account_by_ref: HashMap::new(),
            profiles: BTreeMap::new(),
            orders: BTreeMap::new(),
            order_by_ref: HashMap::new(),
            events: Vec::new(),
            tokens: HashMap::new(),
            requests: Vec::new(),
            stats: Stats::default(),
            prices,
            default_price,
            outbox: Vec::new(),
            frozen_event_time: None,
        }
    }

    // ---- tokens ----

    pub(crate) fn issue_token(&mut self, ttl: std::time::Duration, epoch: u64) -> String {
        let token = format!("sbx_{}", Uuid::new_v4().simple());
        self.tokens.insert(
            token.clone(),
            TokenRecord {
                expires_at: Instant::now() + ttl,
                epoch,
            },
        );
        self.stats.tokens_issued += 1;
        token
    }

    pub(crate) fn token_valid(&self, token: &str, epoch: u64) -> bool {
        self.tokens
            .get(token)
            .is_some_and(|t| t.epoch == epoch && t.expires_at > Instant::now())
    }

    // ---- events ----

    fn record_event(&mut self, event_type: &str, object_type: &str, object: Value) -> EventRecord {
        let last = self.events.last().map(|e| e.created_at);
        let created_at = match self.frozen_event_time {
            // Events sharing an instant, as Paxos's timestamps allow (never before the last
            // event: the list stays ascending).
            Some(frozen) => last.map_or(frozen, |l| l.max(frozen)),
            // Otherwise strictly increasing.
            None => {
                let now = Utc::now();
                match last {
                    Some(l) if now <= l => l + ChronoDuration::microseconds(1),
                    _ => now,
                }
            }
        };
        let event = EventRecord {
            id: Uuid::new_v4().to_string(),
            event_type: event_type.to_owned(),
            object_type: object_type.to_owned(),
            object,
            created_at,
        };
        self.events.push(event.clone());
        self.outbox.push(event.clone());
        event
    }

    pub(crate) fn event(&self, id: &str) -> Option<&EventRecord> {
        self.events.iter().find(|e| e.id == id)
    }

    pub(crate) fn events(&self) -> &[EventRecord] {
        &self.events
    }

    /// Events matching the `created_at.*` bounds and type, ascending, at most `limit`.
    pub(crate) fn list_events(&self, filter: &EventFilter) -> Vec<&EventRecord> {
        self.events
            .iter()
            .filter(|e| filter.gt.is_none_or(|t| e.created_at > t))
            .filter(|e| filter.gte.is_none_or(|t| e.created_at >= t))
            .filter(|e| filter.lt.is_none_or(|t| e.created_at < t))
            .filter(|e| filter.lte.is_none_or(|t| e.created_at <= t))
            .filter(|e| {
                filter
                    .event_type
                    .as_deref()
                    .is_none_or(|t| e.event_type == t)
            })
            .take(filter.limit)
            .collect()
    }

    // ---- identities ----

    pub(crate) fn create_identity(&mut self, body: Value) -> Result<Value, ApiProblem> {
        let ref_id = body["ref_id"].as_str().unwrap_or_default().to_owned();
        if let Some(existing) = self.identity_by_ref.get(&ref_id) {
            return Err(ApiProblem::already_exists(
                "duplicate ref_id provided".to_owned(),
                json!({ "id": existing }),
            ));
        }
        let details = if body.get("person_details").is_some() {
            "person_details"
        } else {
            "institution_details"
        };
        let cip = |k: &str| body[details][k].as_str().unwrap_or_default().to_owned();
        let cip_key = (cip("cip_id"), cip("cip_id_type"), cip("cip_id_country"));
        if let Some(existing) = self.identity_by_cip.get(&cip_key) {
            return Err(ApiProblem::already_exists(
                "duplicate (cip_id, cip_id_type, cip_id_country) provided".to_owned(),
                json!({ "id": existing }),
            ));
        }
        if let Some(members) = body.get("institution_members").and_then(Value::as_array) {
            for (i, m) in members.iter().enumerate() {
                let id = m["identity_id"].as_str().unwrap_or_default();
                match self.identities.get(id) {
                    Some(r) if r.kind == "PERSON" => {}
                    Some(_) => {
                        return Err(ApiProblem::bad_request(format!(
                            "institution_members[{i}].identity_id is not a PERSON identity"
                        )))
                    }
                    None => {
                        return Err(ApiProblem::bad_request(format!(
                            "institution_members[{i}].identity_id: identity {id} not found"
                        )))
                    }
                }
            }
        }
        let now = Utc::now();
        let record = IdentityRecord {
            id: Uuid::new_v4().to_string(),
            ref_id: ref_id.clone(),
            kind: if details == "person_details" {
                "PERSON"
            } else {
                "INSTITUTION"
            },
            status: "PENDING",
            user_disabled: false,
            request: body,
            created_at: now,
            updated_at: now,
        };
        let answer = record.to_json(true, true);
        self.identity_by_ref.insert(ref_id, record.id.clone());
        self.identity_by_cip.insert(cip_key, record.id.clone());
        self.identities.insert(record.id.clone(), record);
        self.stats.identities += 1;
        Ok(answer)
    }

    pub(crate) fn get_identity(
        &self,
        id: &str,
        details: bool,
        members: bool,
    ) -> Result<Value, ApiProblem> {
        self.identities
            .get(id)
            .map(|r| r.to_json(details, members))
            .ok_or_else(|| ApiProblem::not_found("identity"))
    }

    pub(crate) fn update_identity(&mut self, id: &str, body: &Value) -> Result<Value, ApiProblem> {
        if !self.identities.contains_key(id) {
            return Err(ApiProblem::not_found("identity"));
        }
        match body.get("set_user_disabled").and_then(Value::as_bool) {
            Some(true) => {
                self.decide(id, &SandboxDecision::Disable)?;
            }
            Some(false) => {
                if let Some(r) = self.identities.get_mut(id) {
                    if r.user_disabled {
                        r.user_disabled = false;
                        r.status = "APPROVED";
                        r.updated_at = Utc::now();
                    }
                }
            }
            None => {}
        }
        if let (Some(r), Some(meta)) = (self.identities.get_mut(id), body.get("metadata")) {
            r.request["metadata"] = meta.clone();
        }
        self.get_identity(id, false, false)
    }

    /// The decision the configured rules make for identity `id`.
    pub(crate) fn automatic_decision(
        &self,
        id: &str,
        rules: &DecisionConfig,
    ) -> Option<SandboxDecision> {
        let r = self.identities.get(id)?;
        if r.status != "PENDING" {
            return None;
        }
        let name = r.name_for_rules().unwrap_or_default();
        let named = |list: &[String]| list.iter().any(|n| n.eq_ignore_ascii_case(name));
        let cip = r.cip_id().unwrap_or_default();
        if named(&rules.deny_names) || rules.deny_cip_ids.iter().any(|p| glob_match(p, cip)) {
            Some(SandboxDecision::Deny)
        } else if r.kind == "PERSON" && named(&rules.documents_required_names) {
            // Kinds of the webhooks spec's `required_documents`.
            Some(SandboxDecision::RequireDocuments(vec![
                "PROOF_OF_ADDRESS".to_owned(),
                "BANK_STATEMENT".to_owned(),
            ]))
        } else {
            Some(SandboxDecision::Approve)
        }
    }

    /// Applies `decision` to identity `id` and records its event.
    pub(crate) fn decide(
        &mut self,
        id: &str,
        decision: &SandboxDecision,
    ) -> Result<EventRecord, ApiProblem> {
        let record = self
            .identities
            .get_mut(id)
            .ok_or_else(|| ApiProblem::not_found("identity"))?;
        let old = record.status;
        let (event_type, new) = match decision {
            SandboxDecision::Approve => ("identity.approved", "APPROVED"),
            SandboxDecision::Deny => ("identity.denied", "DENIED"),
            SandboxDecision::Disable => ("identity.disabled", "DISABLED"),
            SandboxDecision::RequireDocuments(docs) => {
                let object = json!({
                    "id": Uuid::new_v4().to_string(),
                    "identity_id": id,
                    "required_documents": docs,
                });
                return Ok(self.record_event(
                    "identity.documents_required",
                    "identity_required_documents",
                    object,
                ));
            }
        };
        record.status = new;
        record.updated_at = Utc::now();
        if matches!(decision, SandboxDecision::Disable) {
            record.user_disabled = true;
        }
        let object = json!({
            "id": Uuid::new_v4().to_string(),
            "identity_id": id,
            "old_summary_status": old,
            "new_summary_status": new,
        });
        Ok(self.record_event(event_type, "identity_summary_status_change", object))
    }

    // ---- accounts and profiles ----

    pub(crate) fn create_account(&mut self, body: &Value) -> Result<Value, ApiProblem> {
        let account = &body["account"];
        let ref_id = account["ref_id"].as_str().unwrap_or_default().to_owned();
        if let Some(existing) = self.account_by_ref.get(&ref_id) {
            return Err(ApiProblem::already_exists(
                format!("account already exists with ref_id '{ref_id}'"),
                self.accounts[existing].json.clone(),
            ));
        }
        let owner = account["identity_id"].as_str().unwrap_or_default();
        let status = self
            .identities
            .get(owner)
            .map(|r| r.status)
            .ok_or_else(|| ApiProblem::bad_request("account.identity_id: identity not found"))?;
        if status != "APPROVED" {
            return Err(ApiProblem::blank(
                StatusCode::FORBIDDEN,
                Some(format!(
                    "identity {owner} is {status}: accounts need an APPROVED identity"
                )),
            ));
        }
        if let Some(members) = account.get("members").and_then(Value::as_array) {
            for (i, m) in members.iter().enumerate() {
                let id = m["identity_id"].as_str().unwrap_or_default();
                if !self.identities.contains_key(id) {
                    return Err(ApiProblem::bad_request(format!(
                        "account.members[{i}].identity_id: identity not found"
                    )));
                }
            }
        }
        let now = timestamp(Utc::now());
        let id = Uuid::new_v4().to_string();
        let mut json = account.clone();
        let fields = json.as_object_mut().map(std::mem::take).unwrap_or_default();
        let mut out: Map<String, Value> = fields;
        out.insert("id".into(), json!(id));
        out.insert("summary_status".into(), json!("APPROVED"));
        out.insert("admin_disabled".into(), json!(false));
        out.insert("user_disabled".into(), json!(false));
        out.insert("created_at".into(), json!(now));
        out.insert("updated_at".into(), json!(now));
        out.entry("type").or_insert(json!("BROKERAGE"));
        out.entry("metadata").or_insert(json!({}));
        let profile_id = if body["create_profile"].as_bool() == Some(true) {
            let pid = Uuid::new_v4().to_string();
            self.profiles.insert(pid.clone(), ProfileRecord::default());
            out.insert("profile_id".into(), json!(pid));
            Some(pid)
        } else {
            None
        };
        json = Value::Object(out);
        self.account_by_ref.insert(ref_id, id.clone());
        self.accounts.insert(
            id,
            AccountRecord {
                json: json.clone(),
                profile_id,
            },
        );
        self.stats.accounts += 1;
        Ok(json)
    }

    pub(crate) fn get_account(&self, id: &str) -> Result<Value, ApiProblem> {
        self.accounts
            .get(id)
            .map(|a| a.json.clone())
            .ok_or_else(|| ApiProblem::not_found("account"))
    }

    pub(crate) fn deposit(&mut self, profile_id: &str, body: &Value) -> Result<Value, ApiProblem> {
        // The route checks the body against the schema only; a crypto deposit without a network
        // fits the schema, yet Paxos refuses it.
        let broken = rules::create_sandbox_deposit(body);
        if !broken.is_empty() {
            return Err(ApiProblem::violations(
                "request body breaks the CreateSandboxDeposit rules",
                &broken,
            ));
        }
        let profile = self
            .profiles
            .get_mut(profile_id)
            .ok_or_else(|| ApiProblem::not_found("profile"))?;
        let asset = body["asset"].as_str().unwrap_or_default().trim().to_owned();
        if asset.is_empty() {
            return Err(ApiProblem::bad_request("asset is required"));
        }
        let amount = parse_decimal(body.get("amount"))
            .filter(|a| *a > Decimal::ZERO)
            .ok_or_else(|| ApiProblem::bad_request("amount must be a positive decimal"))?;
        let available = profile
            .balances
            .get(&asset)
            .map(|h| h.available)
            .unwrap_or_default()
            .checked_add(amount)
            .ok_or_else(|| too_large("amount"))?;
        profile.balances.entry(asset).or_default().available = available;
        self.stats.deposits += 1;
        Ok(json!({ "activity_id": Uuid::new_v4().to_string() }))
    }

    pub(crate) fn balances(
        &self,
        profile_id: &str,
        assets: &[String],
    ) -> Result<Value, ApiProblem> {
        let profile = self
            .profiles
            .get(profile_id)
            .ok_or_else(|| ApiProblem::not_found("profile"))?;
        let items: Vec<Value> = profile
            .balances
            .iter()
            .filter(|(a, _)| assets.is_empty() || assets.contains(a))
            .map(|(asset, h)| {
                json!({
                    "asset": asset,
                    "available": h.available.normalize().to_string(),
                    "trading": h.trading.normalize().to_string(),
                })
            })
            .collect();
        Ok(json!({ "items": items }))
    }

    // ---- orders ----

    fn price_of(&self, market: &str) -> Option<Decimal> {
        self.prices.get(market).copied().or(self.default_price)
    }

    pub(crate) fn create_order(
        &mut self,
        profile_id: &str,
        body: &Value,
    ) -> Result<Value, ApiProblem> {
        if !self.profiles.contains_key(profile_id) {
            return Err(ApiProblem::not_found("profile"));
        }
        let ref_id = body["ref_id"].as_str().map(str::to_owned);
        if let Some(existing) = ref_id.as_ref().and_then(|r| self.order_by_ref.get(r)) {
            let order = &self.orders[existing];
            return Err(ApiProblem::already_exists(
                format!(
                    "order already exists with ref_id '{}'",
                    ref_id.as_deref().unwrap_or_default()
                ),
                order.to_json(),
            ));
        }
        let text = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
        let (market, side, order_type) = (text("market"), text("side"), text("type"));
        let (base_asset, quote_asset) = market_assets(&market)
            .ok_or_else(|| ApiProblem::bad_request("market: unknown market"))?;
        let Some(market_price) = self.price_of(&market) else {
            return Err(ApiProblem::named(
                StatusCode::FORBIDDEN,
                "unavailable-market",
                "Unavailable Market",
                format!("market {market} is not available"),
                json!({ "market": market }),
            ));
        };
        let identity_id = body["identity_id"].as_str().map(str::to_owned);
        let identity_account_id = body["identity_account_id"].as_str().map(str::to_owned);
        if let (Some(identity), Some(account)) = (&identity_id, &identity_account_id) {
            let status = self
                .identities
                .get(identity)
                .map(|r| r.status)
                .ok_or_else(|| ApiProblem::bad_request("identity_id: identity not found"))?;
            match self.accounts.get(account) {
                Some(a) if a.profile_id.as_deref() == Some(profile_id) => {}
                Some(_) => {
                    return Err(ApiProblem::bad_request(
                        "identity_account_id: the account does not hold this profile",
                    ))
                }
                None => {
                    return Err(ApiProblem::bad_request(
                        "identity_account_id: account not found",
                    ))
                }
            }
            let may_trade = matches!(
                (status, side.as_str()),
                ("APPROVED", _) | ("DISABLED", "SELL")
            );
            if !may_trade {
                return Err(ApiProblem::blank(
                    StatusCode::FORBIDDEN,
                    Some(format!(
                        "identity is {status}: {side} orders are not allowed"
                    )),
                ));
            }
        }
        let base_amount = parse_decimal(body.get("base_amount"));
        let quote_amount = parse_decimal(body.get("quote_amount"));
        let limit_price = parse_decimal(body.get("price"));
        let stop_price = parse_decimal(body.get("stop_price"));
        for (field, v) in [
            ("base_amount", base_amount),
            ("quote_amount", quote_amount),
            ("price", limit_price),
            ("stop_price", stop_price),
        ] {
            if body.get(field).is_some() && v.is_none_or(|v| v <= Decimal::ZERO) {
                return Err(ApiProblem::bad_request(format!(
                    "{field} invalid: must be positive decimal"
                )));
            }
        }
        let is_market = order_type == "MARKET";
        let buy = side == "BUY";
        // What the order needs available now.
        let (need_asset, needed) = match (is_market, buy) {
            (true, true) => (quote_asset.clone(), quote_amount.unwrap_or_default()),
            (false, true) => (
                quote_asset.clone(),
                base_amount
                    .unwrap_or_default()
                    .checked_mul(limit_price.unwrap_or_default())
                    .ok_or_else(|| too_large("base_amount times price"))?,
            ),
            (_, false) => (base_asset.clone(), base_amount.unwrap_or_default()),
        };
        let profile = self.profiles.get_mut(profile_id).expect("checked above");
        let available = profile
            .balances
            .get(&need_asset)
            .map(|h| h.available)
            .unwrap_or_default();
        if available < needed {
            return Err(ApiProblem::named(
                StatusCode::FORBIDDEN,
                "insufficient-funds",
                "Insufficient Funds",
                format!(
                    "insufficient {need_asset} funds in profile {profile_id}: {} needed, {} available",
                    needed.normalize(),
                    available.normalize()
                ),
                json!({
                    "profile_id": profile_id,
                    "asset": need_asset,
                    "available": available.normalize().to_string(),
                    "needed": needed.normalize().to_string(),
                }),
            ));
        }
        let now = Utc::now();
        let mut order = OrderRecord {
            id: Uuid::new_v4().to_string(),
            profile_id: profile_id.to_owned(),
            ref_id: ref_id.clone(),
            status: "SUBMITTED",
            side,
            market,
            order_type,
            base_amount,
            quote_amount,
            price: limit_price,
            stop_price,
            triggered: false,
            amount_filled: Decimal::ZERO,
            vwap: Decimal::ZERO,
            time_in_force: body["time_in_force"].as_str().unwrap_or("GTC").to_owned(),
            metadata: body.get("metadata").cloned().unwrap_or_else(|| json!({})),
            identity_id,
            identity_account_id,
            created_at: now,
            modified_at: now,
            hold: None,
        };
        // Take the hold, then match, on a copy kept only if every amount fits a `Decimal`: an
        // order too large is refused whole, never half applied.
        let mut draft = profile.clone();
        let holding = draft.balances.entry(need_asset.clone()).or_default();
        // `available` is at least `needed` (checked above), so this cannot overflow.
        holding.available -= needed;
        holding.trading = holding
            .trading
            .checked_add(needed)
            .ok_or_else(|| too_large("the amount to hold"))?;
        order.hold = Some((need_asset, needed));
        // A stop (loss) order, a sell, works only once the price has fallen to its stop.
        order.triggered = stop_price.is_none_or(|stop| market_price <= stop);
        if let Some(fill_price) = order.fill_price(market_price) {
            fill(
                &mut draft,
                &mut order,
                fill_price,
                &base_asset,
                &quote_asset,
            )
            .ok_or_else(|| too_large("the filled amount"))?;
        } else if matches!(order.time_in_force.as_str(), "IOC" | "FOK") {
            release(&mut draft, &mut order, "CANCELLED")
                .ok_or_else(|| too_large("the released amount"))?;
        } else {
            order.status = "OPEN";
        }
        *profile = draft;
        let answer = order.to_json();
        if let Some(r) = ref_id {
            self.order_by_ref.insert(r, order.id.clone());
        }
        self.orders.insert(order.id.clone(), order);
        self.stats.orders += 1;
        Ok(answer)
    }

    pub(crate) fn get_order(&self, profile_id: &str, id: &str) -> Result<Value, ApiProblem> {
        self.orders
            .get(id)
            .filter(|o| o.profile_id == profile_id)
            .map(OrderRecord::to_json)
            .ok_or_else(|| ApiProblem::not_found("order"))
    }

    pub(crate) fn cancel_order(&mut self, profile_id: &str, id: &str) -> Result<Value, ApiProblem> {
        let order = self
            .orders
            .get_mut(id)
            .filter(|o| o.profile_id == profile_id)
            .ok_or_else(|| ApiProblem::not_found("order"))?;
        if order.status != "OPEN" && order.status != "SUBMITTED" {
            return Err(ApiProblem::named(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Forbidden",
                "order is not cancellable".to_owned(),
                json!({ "status": order.status }),
            ));
        }
        let profile = self
            .profiles
            .get_mut(profile_id)
            .ok_or_else(|| ApiProblem::not_found("profile"))?;
        release(profile, order, "CANCELLED").ok_or_else(|| too_large("the released amount"))?;
        Ok(json!({}))
    }

    /// Sets a market's price: triggers the open stop orders it reaches and fills the open
    /// orders it crosses.
    pub(crate) fn set_price(&mut self, market: &str, price: Decimal) {
        self.prices.insert(market.to_owned(), price);
        let Some((base, quote)) = market_assets(market) else {
            return;
        };
        for order in self.orders.values_mut() {
            if order.status != "OPEN" || order.market != market {
                continue;
            }
            if order.stop_price.is_some_and(|stop| price <= stop) {
                order.triggered = true;
            }
            let Some(fill_price) = order.fill_price(price) else {
                continue;
            };
            if let Some(profile) = self.profiles.get_mut(&order.profile_id) {
                if fill(profile, order, fill_price, &base, &quote).is_none() {
                    // Nothing was changed: the order stays open, as at a price that missed it.
                    tracing::warn!(order = %order.id, "fill amounts overflow; order left open");
                }
            }
        }
    }
}

/// The 400 for a request whose amounts, or the balances they would make, do not fit a
/// `Decimal` (arithmetic on them would panic).
fn too_large(what: &str) -> ApiProblem {
    ApiProblem::bad_request(format!("{what} invalid: too large"))
}

/// Fills `order` completely at `price`: spends its hold and credits the other asset. A buy
/// spends `base × price` of its held quote and returns the rest to `available`. `None`, with
/// nothing changed, when an amount or a resulting balance does not fit a `Decimal`.
fn fill(
    profile: &mut ProfileRecord,
    order: &mut OrderRecord,
    price: Decimal,
    base: &str,
    quote: &str,
) -> Option<()> {
    let buy = order.side == "BUY";
    let base_filled = match (order.base_amount, order.quote_amount) {
        (Some(b), _) => b,
        (None, Some(q)) => q
            .checked_div(price)?
            .round_dp_with_strategy(BASE_SCALE, RoundingStrategy::ToZero),
        (None, None) => Decimal::ZERO,
    };
    let quote_value = base_filled.checked_mul(price)?;
    let (held_asset, held) = order.hold.clone().unwrap_or_default();
    let spent = if buy { quote_value } else { base_filled };
    let (credit_asset, credit) = if buy {
        (base, base_filled)
    } else {
        (quote, quote_value)
    };
    let mut balances = profile.balances.clone();
    let holding = balances.entry(held_asset).or_default();
    holding.trading = holding.trading.checked_sub(held)?;
    holding.available = holding.available.checked_add(held.checked_sub(spent)?)?;
    let credited = balances.entry(credit_asset.to_owned()).or_default();
    credited.available = credited.available.checked_add(credit)?;
    profile.balances = balances;
    order.hold = None;
    order.amount_filled = base_filled;
    order.vwap = price;
    order.status = "FILLED";
    order.modified_at = Utc::now();
    Some(())
}

/// Closes `order` with `status`, returning its hold to `available`. `None`, with nothing
/// changed, when the resulting balance does not fit a `Decimal`.
fn release(
    profile: &mut ProfileRecord,
    order: &mut OrderRecord,
    status: &'static str,
) -> Option<()> {
    if let Some((asset, held)) = &order.hold {
        let holding = profile.balances.entry(asset.clone()).or_default();
        let trading = holding.trading.checked_sub(*held)?;
        let available = holding.available.checked_add(*held)?;
        (holding.trading, holding.available) = (trading, available);
    }
    order.hold = None;
    order.status = status;
    order.modified_at = Utc::now();
    Some(())
}

/// The filters of `GET /events`.
#[derive(Debug, Clone, Default)]
pub(crate) struct EventFilter {
    pub gt: Option<DateTime<Utc>>,
    pub gte: Option<DateTime<Utc>>,
    pub lt: Option<DateTime<Utc>>,
    pub lte: Option<DateTime<Utc>>,
    pub event_type: Option<String>,
    pub limit: usize,
}
