//! The HTTP server: the token endpoint, the `/v2` operations, the middleware that authenticates,
//! injects faults and records requests, and the handle tests drive the sandbox through.

use std::net::SocketAddr;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, Notify};

use crate::config::{DecisionConfig, SandboxConfig, WebhookConfig};
use crate::faults::{lock, Fault, Faults};
use crate::problem::ApiProblem;
use crate::rules;
use crate::spec::{Operation, RequestSchemas};
use crate::state::{EventFilter, EventRecord, RecordedRequest, SandboxDecision, Stats, Store};
use crate::webhooks;

/// The scopes a token is granted when the request names none.
const ALL_SCOPES: &str = "identity:read_identity identity:write_identity identity:read_account \
identity:write_account funding:read_profile funding:write_profile exchange:read_order \
exchange:write_order events:read_event";

/// State shared by every request handler and the handle.
#[derive(Clone)]
struct App {
    store: Arc<Mutex<Store>>,
    faults: Faults,
    credentials: Arc<(String, String)>,
    token_ttl: Duration,
    decisions: Arc<Mutex<DecisionConfig>>,
    webhook_target: Arc<Mutex<Option<WebhookConfig>>>,
    webhooks: mpsc::UnboundedSender<EventRecord>,
    changed: Arc<Notify>,
    schemas: &'static RequestSchemas,
}

impl App {
    /// Runs `f` on the store under its lock, then hands new events to the webhook deliverer and
    /// wakes whoever waits for a change.
    fn with_store<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        let (result, events) = {
            let mut store = lock(&self.store);
            let result = f(&mut store);
            (result, std::mem::take(&mut store.outbox))
        };
        for event in events {
            // The deliverer lives as long as the runtime; a send can only fail at shutdown.
            let _ = self.webhooks.send(event);
        }
        self.changed.notify_waiters();
        result
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(token) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
        else {
            return false;
        };
        lock(&self.store).token_valid(token.trim(), self.faults.token_epoch())
    }

    /// Decides identity `id` by the configured rules after the configured delay.
    fn schedule_decision(&self, id: String) {
        let Some(delay) = lock(&self.decisions).delay else {
            return;
        };
        let app = self.clone();
        tokio::spawn(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let rules = lock(&app.decisions).clone();
            app.with_store(|s| {
                if let Some(decision) = s.automatic_decision(&id, &rules) {
                    let _ = s.decide(&id, &decision);
                }
            });
        });
    }
}

/// Parses and validates a JSON request body for `op`: the OpenAPI schema first, then the
/// documented rules the schema does not express.
fn validated_body(
    app: &App,
    op: Operation,
    body: &Bytes,
    rules: fn(&Value) -> Vec<crate::spec::Violation>,
) -> Result<Value, ApiProblem> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| ApiProblem::bad_request("request body is not valid JSON"))?;
    app.schemas.validate(op, &value).map_err(|v| {
        ApiProblem::violations(&format!("request body does not match the {op} schema"), &v)
    })?;
    let broken = rules(&value);
    if !broken.is_empty() {
        return Err(ApiProblem::violations(
            &format!("request body breaks the {op} rules"),
            &broken,
        ));
    }
    Ok(value)
}

type ApiResult = Result<Json<Value>, ApiProblem>;

fn no_rules(_: &Value) -> Vec<crate::spec::Violation> {
    Vec::new()
}

// ---- token endpoint ----

#[derive(Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}

async fn token(State(app): State<App>, Form(form): Form<TokenForm>) -> Response {
    if form.grant_type.as_deref() != Some("client_credentials") {
        lock(&app.store).stats.token_requests_refused += 1;
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let (id, secret) = &*app.credentials;
    if form.client_id.as_deref() != Some(id.as_str())
        || form.client_secret.as_deref() != Some(secret.as_str())
    {
        lock(&app.store).stats.token_requests_refused += 1;
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let epoch = app.faults.token_epoch();
    let access_token = app.with_store(|s| s.issue_token(app.token_ttl, epoch));
    let scope = form
        .scope
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| ALL_SCOPES.to_owned());
    Json(json!({
        "access_token": access_token,
        "expires_in": app.token_ttl.as_secs(),
        "scope": scope,
        "token_type": "bearer",
    }))
    .into_response()
}

// ---- identities ----

async fn create_identity(State(app): State<App>, body: Bytes) -> ApiResult {
    let body = validated_body(
        &app,
        Operation::CreateIdentity,
        &body,
        rules::create_identity,
    )?;
    let identity = app.with_store(|s| s.create_identity(body))?;
    if let Some(id) = identity["id"].as_str() {
        app.schedule_decision(id.to_owned());
    }
    Ok(Json(identity))
}

fn flag(query: &[(String, String)], name: &str) -> bool {
    query.iter().any(|(k, v)| k == name && v == "true")
}

async fn get_identity(
    State(app): State<App>,
    Path(id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> ApiResult {
    let details = flag(&query, "include_details");
    let members = flag(&query, "include_institution_members");
    Ok(Json(lock(&app.store).get_identity(&id, details, members)?))
}

async fn update_identity(State(app): State<App>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let body = validated_body(&app, Operation::UpdateIdentity, &body, no_rules)?;
    Ok(Json(app.with_store(|s| s.update_identity(&id, &body))?))
}

// ---- accounts, profiles, deposits ----

async fn create_account(State(app): State<App>, body: Bytes) -> ApiResult {
    let body = validated_body(&app, Operation::CreateAccount, &body, rules::create_account)?;
    Ok(Json(app.with_store(|s| s.create_account(&body))?))
}

async fn get_account(State(app): State<App>, Path(id): Path<String>) -> ApiResult {
    Ok(Json(lock(&app.store).get_account(&id)?))
}

async fn deposit(State(app): State<App>, Path(profile_id): Path<String>, body: Bytes) -> ApiResult {
    let body = validated_body(&app, Operation::CreateSandboxDeposit, &body, no_rules)?;
    Ok(Json(app.with_store(|s| s.deposit(&profile_id, &body))?))
}

async fn balances(
    State(app): State<App>,
    Path(profile_id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> ApiResult {
    let assets: Vec<String> = query
        .iter()
        .filter(|(k, _)| k == "assets")
        .flat_map(|(_, v)| v.split(',').map(|a| a.trim().to_owned()))
        .filter(|a| !a.is_empty())
        .collect();
    Ok(Json(lock(&app.store).balances(&profile_id, &assets)?))
}

// ---- orders ----

async fn create_order(
    State(app): State<App>,
    Path(profile_id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = validated_body(&app, Operation::CreateOrder, &body, rules::create_order)?;
    Ok(Json(
        app.with_store(|s| s.create_order(&profile_id, &body))?,
    ))
}

async fn get_order(
    State(app): State<App>,
    Path((profile_id, id)): Path<(String, String)>,
) -> ApiResult {
    Ok(Json(lock(&app.store).get_order(&profile_id, &id)?))
}

async fn cancel_order(
    State(app): State<App>,
    Path((profile_id, id)): Path<(String, String)>,
) -> ApiResult {
    Ok(Json(app.with_store(|s| s.cancel_order(&profile_id, &id))?))
}

// ---- events ----

fn parse_time(name: &str, value: &str) -> Result<DateTime<Utc>, ApiProblem> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ApiProblem::bad_request(format!("{name} must be an RFC 3339 timestamp")))
}

async fn list_events(
    State(app): State<App>,
    Query(query): Query<Vec<(String, String)>>,
) -> ApiResult {
    let mut filter = EventFilter {
        limit: 100,
        ..EventFilter::default()
    };
    for (k, v) in &query {
        match k.as_str() {
            "created_at.gt" => filter.gt = Some(parse_time(k, v)?),
            "created_at.gte" => filter.gte = Some(parse_time(k, v)?),
            "created_at.lt" => filter.lt = Some(parse_time(k, v)?),
            "created_at.lte" => filter.lte = Some(parse_time(k, v)?),
            "created_at.eq" => {
                let t = parse_time(k, v)?;
                filter.gte = Some(t);
                filter.lte = Some(t);
            }
            "type" => filter.event_type = Some(v.clone()),
            "limit" => {
                filter.limit = v
                    .parse()
                    .ok()
                    .filter(|l| (1..=100).contains(l))
                    .ok_or_else(|| ApiProblem::bad_request("limit must be between 1 and 100"))?;
            }
            _ => {}
        }
    }
    let store = lock(&app.store);
    let events: Vec<Value> = store
        .list_events(&filter)
        .into_iter()
        .map(EventRecord::to_json)
        .collect();
    Ok(Json(json!({ "events": events })))
}

async fn get_event(State(app): State<App>, Path(id): Path<String>) -> ApiResult {
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(ApiProblem::bad_request("error parsing event id"));
    }
    lock(&app.store)
        .event(&id)
        .map(|e| Json(e.to_json()))
        .ok_or_else(|| ApiProblem::blank(StatusCode::NOT_FOUND, None))
}

async fn api_not_found() -> ApiProblem {
    ApiProblem::blank(StatusCode::NOT_FOUND, Some("no such operation".to_owned()))
}

// ---- middleware ----

/// Records the request, then applies latency, queued faults and authentication around the
/// handler. A fault "after handling" replaces or delays the handler's answer.
async fn api_layer(State(app): State<App>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 16 * 1024 * 1024).await else {
        return ApiProblem::bad_request("request body could not be read").into_response();
    };
    let recorded_body = serde_json::from_slice::<Value>(&bytes).ok();
    let method = parts.method.to_string();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().map(str::to_owned);
    let request = Request::from_parts(parts, Body::from(bytes));

    let latency = app.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let fault = app.faults.next();
    let mut delay = None;
    let response = match fault {
        Some(Fault::Fail(status)) => {
            ApiProblem::blank(status, Some("injected fault".to_owned())).into_response()
        }
        Some(Fault::RateLimit(retry_after)) => {
            ApiProblem::rate_limited(retry_after.as_secs()).into_response()
        }
        Some(Fault::MissingScope) => ApiProblem::blank(
            StatusCode::FORBIDDEN,
            Some(
                "insufficient scopes: found '', required one of '[the operation's scope]'"
                    .to_owned(),
            ),
        )
        .into_response(),
        _ if !app.authorized(request.headers()) => ApiProblem::unauthorized().into_response(),
        _ => {
            let response = next.run(request).await;
            match fault {
                Some(Fault::FailAfterHandling(status)) => {
                    ApiProblem::blank(status, Some("injected fault".to_owned())).into_response()
                }
                Some(Fault::DelayAfterHandling(d)) => {
                    delay = Some(d);
                    response
                }
                _ => response,
            }
        }
    };
    app.with_store(|s| {
        s.requests.push(RecordedRequest {
            method,
            path,
            query,
            body: recorded_body,
            status: response.status().as_u16(),
        })
    });
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    response
}

fn router(app: App) -> Router {
    let api = Router::new()
        .route("/identity/identities", post(create_identity))
        .route(
            "/identity/identities/{id}",
            get(get_identity).put(update_identity),
        )
        .route("/identity/accounts", post(create_account))
        .route("/identity/accounts/{id}", get(get_account))
        .route("/sandbox/profiles/{profile_id}/deposit", post(deposit))
        .route("/profiles/{profile_id}/balances", get(balances))
        .route("/profiles/{profile_id}/orders", post(create_order))
        .route(
            "/profiles/{profile_id}/orders/{id}",
            get(get_order).delete(cancel_order),
        )
        .route("/events", get(list_events))
        .route("/events/{id}", get(get_event))
        .fallback(api_not_found)
        .layer(middleware::from_fn_with_state(app.clone(), api_layer));
    Router::new()
        .route("/oauth2/token", post(token))
        .nest("/v2", api)
        .with_state(app)
}

// ---- starting and driving ----

/// Starts sandboxes.
#[derive(Debug, Clone, Copy)]
pub struct Sandbox;

impl Sandbox {
    /// Binds `config.bind` and serves until the handle is shut down or dropped.
    pub async fn start(config: SandboxConfig) -> std::io::Result<SandboxHandle> {
        let listener = tokio::net::TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let store = Arc::new(Mutex::new(Store::new(
            config.prices.clone(),
            config.default_price,
        )));
        let faults = Faults::default();
        let changed = Arc::new(Notify::new());
        let webhook_target = Arc::new(Mutex::new(config.webhook.clone()));
        let webhooks = webhooks::spawn_deliverer(
            store.clone(),
            webhook_target.clone(),
            faults.clone(),
            changed.clone(),
        );
        let app = App {
            store,
            faults,
            credentials: Arc::new((config.client_id.clone(), config.client_secret.clone())),
            token_ttl: config.token_ttl,
            decisions: Arc::new(Mutex::new(config.decisions.clone())),
            webhook_target,
            webhooks,
            changed,
            schemas: RequestSchemas::embedded(),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let service = router(app.clone());
        tokio::spawn(async move {
            let serve = axum::serve(listener, service).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "sandbox server stopped");
            }
        });
        let root = format!("http://{addr}");
        tracing::info!(%addr, "paxos sandbox listening");
        Ok(SandboxHandle {
            base_url: format!("{root}/v2"),
            oauth_url: root,
            addr,
            client_id: config.client_id,
            client_secret: config.client_secret,
            app,
            stop: Some(stop),
        })
    }
}

/// A running sandbox. Dropping it stops the server.
pub struct SandboxHandle {
    /// The REST base, e.g. `http://127.0.0.1:4010/v2` (Paxos: `https://api.paxos.com/v2`).
    pub base_url: String,
    /// The OAuth host, e.g. `http://127.0.0.1:4010`; tokens come from `{oauth_url}/oauth2/token`.
    pub oauth_url: String,
    /// The bound address.
    pub addr: SocketAddr,
    /// The client id the token endpoint accepts.
    pub client_id: String,
    /// The client secret the token endpoint accepts.
    pub client_secret: String,
    app: App,
    stop: Option<oneshot::Sender<()>>,
}

impl std::fmt::Debug for SandboxHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxHandle")
            .field("base_url", &self.base_url)
            .field("oauth_url", &self.oauth_url)
            .finish_non_exhaustive()
    }
}

impl SandboxHandle {
    /// The token endpoint's URL.
    pub fn token_url(&self) -> String {
        format!("{}/oauth2/token", self.oauth_url)
    }

    /// The fault injector.
    pub fn faults(&self) -> &Faults {
        &self.app.faults
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        lock(&self.app.store).stats
    }

    /// Every `/v2` request received so far, oldest first, with its JSON body.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.app.store).requests.clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.app.store).requests.clear();
    }

    /// Every event recorded so far, oldest first.
    pub fn events(&self) -> Vec<EventRecord> {
        lock(&self.app.store).events().to_vec()
    }

    /// An identity as `GET /identity/identities/{id}?include_details=true` answers it.
    pub fn identity(&self, id: &str) -> Option<Value> {
        lock(&self.app.store).get_identity(id, true, true).ok()
    }

    /// Decides an identity now, recording (and delivering) its event.
    pub fn decide(&self, identity_id: &str, decision: SandboxDecision) -> Option<EventRecord> {
        self.app
            .with_store(|s| s.decide(identity_id, &decision))
            .ok()
    }

    /// Makes every event recorded from now on carry the instant `at` (never earlier than the
    /// last event), or with `None` lets the clock run again. Nothing makes Paxos's `created_at`
    /// unique, so events can share one; the sandbox's own are otherwise strictly increasing, and
    /// this is how a test makes them share one.
    pub fn freeze_event_clock(&self, at: Option<chrono::DateTime<chrono::Utc>>) {
        self.app.with_store(|s| s.frozen_event_time = at);
    }

    /// Replaces the decision rules for identities created from now on.
    pub fn set_decisions(&self, decisions: DecisionConfig) {
        *lock(&self.app.decisions) = decisions;
    }

    /// Sets a market's price; open limit orders it crosses fill at their limit price.
    pub fn set_price(&self, market: &str, price: Decimal) {
        self.app.with_store(|s| s.set_price(market, price));
    }

    /// Sets (or with `None` removes) the webhook receiver for deliveries from now on.
    pub fn set_webhook(&self, webhook: Option<WebhookConfig>) {
        *lock(&self.app.webhook_target) = webhook;
    }

    /// Delivers a webhook for an existing event again, as Paxos does when it retries.
    pub fn redeliver(&self, event_id: &str) -> bool {
        let event = lock(&self.app.store).event(event_id).cloned();
        match event {
            Some(e) => self.app.webhooks.send(e).is_ok(),
            None => false,
        }
    }

    /// Waits until an event satisfying `matches` is recorded, up to `timeout`.
    pub async fn wait_for_event(
        &self,
        timeout: Duration,
        matches: impl Fn(&EventRecord) -> bool,
    ) -> Option<EventRecord> {
        self.wait_until(timeout, |s| s.events().iter().find(|e| matches(e)).cloned())
            .await
    }

    /// Waits until the counters satisfy `ready`, up to `timeout`.
    pub async fn wait_for_stats(
        &self,
        timeout: Duration,
        ready: impl Fn(&Stats) -> bool,
    ) -> Option<Stats> {
        self.wait_until(timeout, |s| ready(&s.stats).then_some(s.stats))
            .await
    }

    async fn wait_until<T>(
        &self,
        timeout: Duration,
        check: impl Fn(&Store) -> Option<T>,
    ) -> Option<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut notified = pin!(self.app.changed.notified());
            notified.as_mut().enable();
            if let Some(found) = check(&lock(&self.app.store)) {
                return Some(found);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return check(&lock(&self.app.store));
            }
        }
    }

    /// Stops the server (also done on drop).
    pub fn shutdown(mut self) {
        self.stop_server();
    }

    fn stop_server(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        self.stop_server();
    }
}
