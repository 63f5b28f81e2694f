//! [`PaxosClient`]: one method per Paxos operation the mirror uses, each paced, authenticated,
//! timed out, retried when that is safe, traced, and mapped to a typed answer or [`Error`].
//!
//! Retries: transient failures (timeouts, transport errors, 5xx, 429) are retried with
//! exponential backoff and jitter up to [`RetryPolicy::max_attempts`](crate::RetryPolicy).
//! Creates are retried like reads because each carries a deterministic `ref_id`: a retry of a
//! create that did take effect answers 409 `already-exists`, which the `ensure_*` methods turn
//! into the existing resource. The sandbox deposit has no `ref_id`, so it is retried only when
//! it cannot have taken effect. A 401 renews the token once and repeats the request.
//!
//! Each attempt runs in a `paxos.call` span with `op`, `method`, `path`, `attempt` and
//! `status`; bodies are never logged.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::Instrument;

use crate::auth::{AccessToken, TokenSource};
use crate::config::{PaxosConfig, RetryPolicy};
use crate::model::{
    Account, AccountAnswer, Balance, BalancesAnswer, CreateAccountRequest, CreateIdentityRequest,
    CreateOrderRequest, Event, EventsAnswer, EventsQuery, Identity, Order, SandboxDeposit,
    SandboxDepositRequest, UpdateIdentityRequest,
};
use crate::pacing::{Pacer, RateClass};
use crate::problem::{Duplicate, Error};

/// The outcome of an idempotent create.
#[derive(Debug, Clone, PartialEq)]
pub enum Created<T> {
    /// This call created it.
    New(T),
    /// An earlier attempt with the same `ref_id` had created it (Paxos answered 409 for our own
    /// `ref_id`); this is the existing resource.
    Existing(T),
}

impl<T> Created<T> {
    /// The resource, either way.
    pub fn into_inner(self) -> T {
        match self {
            Self::New(t) | Self::Existing(t) => t,
        }
    }

    /// The resource, either way.
    pub fn get(&self) -> &T {
        match self {
            Self::New(t) | Self::Existing(t) => t,
        }
    }

    /// Whether this call created it.
    pub fn is_new(&self) -> bool {
        matches!(self, Self::New(_))
    }
}

/// Whether repeating a request after an ambiguous failure is safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Safety {
    /// Reads, updates to a fixed state, and creates with a `ref_id`.
    Idempotent,
    /// May double its effect if repeated after it reached Paxos.
    NotIdempotent,
}

struct Call<'a> {
    op: &'static str,
    method: Method,
    segments: Vec<&'a str>,
    query: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    safety: Safety,
}

/// Why one attempt failed.
enum Failure {
    /// Paxos answered 401 to this token.
    StaleToken(AccessToken),
    /// Anything else; `reached` says whether the request may have reached Paxos and taken effect.
    Error { error: Error, reached: bool },
}

/// A client of the Paxos v2 API. Cheap to clone; clones share the token, pacing and connections.
#[derive(Debug, Clone)]
pub struct PaxosClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    api: Url,
    tokens: TokenSource,
    pacer: Arc<Pacer>,
    retry: RetryPolicy,
}

/// Maps a reqwest failure: a timeout, or a transport error.
pub(crate) fn transport_error(e: reqwest::Error) -> Error {
    if e.is_timeout() {
        Error::Timeout
    } else {
        Error::Transport(e)
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not used by Paxos and is ignored).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

impl PaxosClient {
    /// A client for `config`. Makes no request until the first call.
    pub fn new(config: PaxosConfig) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("onboarding-paxos/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        let api = Url::parse(config.api_url.trim_end_matches('/'))
            .map_err(|e| Error::Config(format!("api_url: {e}")))?;
        if api.cannot_be_a_base() {
            return Err(Error::Config("api_url must be an http(s) URL".to_owned()));
        }
        let pacer = Arc::new(Pacer::new(&config.pacing));
        let tokens = TokenSource::new(http.clone(), &config, pacer.clone())?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                api,
                tokens,
                pacer,
                retry: config.retry,
            }),
        })
    }

    // ---- identities ----

    /// `POST /identity/identities`. A 409 comes back as [`Error::AlreadyExists`]; see
    /// [`ensure_identity`](Self::ensure_identity) for the retry-safe form.
    pub async fn create_identity(
        &self,
        request: &CreateIdentityRequest,
    ) -> Result<Identity, Error> {
        self.json(Call {
            op: "CreateIdentity",
            method: Method::POST,
            segments: vec!["identity", "identities"],
            query: Vec::new(),
            body: Some(encode(request)?),
            safety: Safety::Idempotent,
        })
        .await
    }

    /// Creates the identity, or returns the one an earlier attempt with the same `ref_id`
    /// created. A duplicate `cip_id` stays an error ([`Duplicate::CipId`]).
    pub async fn ensure_identity(
        &self,
        request: &CreateIdentityRequest,
    ) -> Result<Created<Identity>, Error> {
        match self.create_identity(request).await {
            Ok(identity) => Ok(Created::New(identity)),
            Err(Error::AlreadyExists {
                existing_id,
                duplicate_of: Duplicate::RefId,
                ..
            }) => Ok(Created::Existing(self.get_identity(&existing_id).await?)),
            Err(e) => Err(e),
        }
    }

    /// `GET /identity/identities/{id}` without personal details.
    pub async fn get_identity(&self, id: &str) -> Result<Identity, Error> {
        self.json(Call {
            op: "GetIdentity",
            method: Method::GET,
            segments: vec!["identity", "identities", id],
            query: Vec::new(),
            body: None,
            safety: Safety::Idempotent,
        })
        .await
    }

    /// `GET /identity/identities/{id}?include_details=true&include_institution_members=true`.
    pub async fn get_identity_with_details(&self, id: &str) -> Result<Identity, Error> {
        self.json(Call {
            op: "GetIdentity",
            method: Method::GET,
            segments: vec!["identity", "identities", id],
            query: vec![
                ("include_details", "true".to_owned()),
                ("include_institution_members", "true".to_owned()),
            ],
            body: None,
            safety: Safety::Idempotent,
        })
        .await
    }

    /// `PUT /identity/identities/{id}`.
    pub async fn update_identity(
        &self,
        id: &str,
        request: &UpdateIdentityRequest,
    ) -> Result<Identity, Error> {
        self.json(Call {
            op: "UpdateIdentity",
            method: Method::PUT,
            segments: vec!["identity", "identities", id],
            query: Vec::new(),
            body: Some(encode(request)?),
            safety: Safety::Idempotent,
        })
        .await
    }

    /// Off-boards an identity: `PUT /identity/identities/{id}` `{"set_user_disabled": true}`.
    pub async fn disable_identity(&self, id: &str) -> Result<Identity, Error> {
        self.update_identity(id, &UpdateIdentityRequest::disable())
            .await
    }

    // ---- accounts, profiles, deposits ----

    /// `POST /identity/accounts`.
    pub async fn create_account(&self, request: &CreateAccountRequest) -> Result<Account, Error> {
        let answer: AccountAnswer = self
            .json(Call {
                op: "CreateAccount",
                method: Method::POST,
                segments: vec!["identity", "accounts"],
                query: Vec::new(),
                body: Some(encode(request)?),
                safety: Safety::Idempotent,
            })
            .await?;
        Ok(answer.into())
    }

    /// Creates the account, or returns the one an earlier attempt with the same `ref_id`
    /// created.
    pub async fn ensure_account(
        &self,
        request: &CreateAccountRequest,
    ) -> Result<Created<Account>, Error> {
        match self.create_account(request).await {
            Ok(account) => Ok(Created::New(account)),
            // Accounts are unique by ref_id alone, whatever the detail says.
            Err(Error::AlreadyExists {
                existing_id,
                duplicate_of: Duplicate::RefId | Duplicate::Other,
                ..
            }) => Ok(Created::Existing(self.get_account(&existing_id).await?)),
            Err(e) => Err(e),
        }
    }

    /// `GET /identity/accounts/{id}`.
    pub async fn get_account(&self, id: &str) -> Result<Account, Error> {
        let answer: AccountAnswer = self
            .json(Call {
                op: "GetAccount",
                method: Method::GET,
                segments: vec!["identity", "accounts", id],
                query: Vec::new(),
                body: None,
                safety: Safety::Idempotent,
            })
            .await?;
        Ok(answer.into())
    }

    /// `POST /sandbox/profiles/{profile_id}/deposit` (Paxos sandbox only). It carries no
    /// `ref_id`, so it is retried only when it cannot have taken effect (connection refused,
    /// 429); after a timeout or 5xx the caller must check the balance before repeating it.
    pub async fn sandbox_deposit(
        &self,
        profile_id: &str,
        request: &SandboxDepositRequest,
    ) -> Result<SandboxDeposit, Error> {
        self.json(Call {
            op: "CreateSandboxDeposit",
            method: Method::POST,
            segments: vec!["sandbox", "profiles", profile_id, "deposit"],
            query: Vec::new(),
            body: Some(encode(request)?),
            safety: Safety::NotIdempotent,
        })
        .await
    }

    /// `GET /profiles/{profile_id}/balances`.
    pub async fn list_balances(&self, profile_id: &str) -> Result<Vec<Balance>, Error> {
        let answer: BalancesAnswer = self
            .json(Call {
                op: "ListProfileBalances",
                method: Method::GET,
                segments: vec!["profiles", profile_id, "balances"],
                query: Vec::new(),
                body: None,
                safety: Safety::Idempotent,
            })
            .await?;
        Ok(answer.items)
    }

    // ---- orders ----

    /// `POST /profiles/{profile_id}/orders`.
    pub async fn create_order(
        &self,
        profile_id: &str,
        request: &CreateOrderRequest,
    ) -> Result<Order, Error> {
        self.json(Call {
            op: "CreateOrder",
            method: Method::POST,
            segments: vec!["profiles", profile_id, "orders"],
            query: Vec::new(),
            body: Some(encode(request)?),
            safety: Safety::Idempotent,
        })
        .await
    }

    /// Creates the order, or returns the one an earlier attempt with the same `ref_id` created.
    pub async fn ensure_order(
        &self,
        profile_id: &str,
        request: &CreateOrderRequest,
    ) -> Result<Created<Order>, Error> {
        match self.create_order(profile_id, request).await {
            Ok(order) => Ok(Created::New(order)),
            Err(Error::AlreadyExists {
                existing_id,
                duplicate_of: Duplicate::RefId | Duplicate::Other,
                ..
            }) => Ok(Created::Existing(
                self.get_order(profile_id, &existing_id).await?,
            )),
            Err(e) => Err(e),
        }
    }

    /// `GET /profiles/{profile_id}/orders/{id}`.
    pub async fn get_order(&self, profile_id: &str, id: &str) -> Result<Order, Error> {
        self.json(Call {
            op: "GetOrder",
            method: Method::GET,
            segments: vec!["profiles", profile_id, "orders", id],
            query: Vec::new(),
            body: None,
            safety: Safety::Idempotent,
        })
        .await
    }

    /// `DELETE /profiles/{profile_id}/orders/{id}`: asks for cancellation (no guarantee; poll
    /// the order). A 403 means it is no longer cancellable.
    pub async fn cancel_order(&self, profile_id: &str, id: &str) -> Result<(), Error> {
        self.execute(Call {
            op: "CancelOrder",
            method: Method::DELETE,
            segments: vec!["profiles", profile_id, "orders", id],
            query: Vec::new(),
            body: None,
            safety: Safety::Idempotent,
        })
        .await
        .map(drop)
    }

    // ---- events ----

    /// `GET /events/{id}`: the event a webhook names, as Paxos recorded it.
    pub async fn get_event(&self, id: &str) -> Result<Event, Error> {
        self.json(Call {
            op: "GetEvent",
            method: Method::GET,
            segments: vec!["events", id],
            query: Vec::new(),
            body: None,
            safety: Safety::Idempotent,
        })
        .await
    }

    /// `GET /events`: one page, ascending by `created_at`. Page on from the last event's
    /// `created_at` (see [`EventsQuery`]: events can share an instant); a page shorter than
    /// `limit` is the end.
    pub async fn list_events(&self, query: &EventsQuery) -> Result<Vec<Event>, Error> {
        let answer: EventsAnswer = self
            .json(Call {
                op: "ListEvents",
                method: Method::GET,
                segments: vec!["events"],
                query: query.to_pairs(),
                body: None,
                safety: Safety::Idempotent,
            })
            .await?;
        Ok(answer.events)
    }

    // ---- machinery ----

    async fn json<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, Error> {
        let op = call.op;
        let body = self.execute(call).await?;
        let de = &mut serde_json::Deserializer::from_slice(&body);
        serde_path_to_error::deserialize(de).map_err(|e| Error::Decode {
            operation: op,
            // The path names fields; the category says what kind of mismatch. No values.
            reason: format!("{:?} error at {}", e.inner().classify(), e.path()),
        })
    }

    fn url(&self, call: &Call<'_>) -> Result<Url, Error> {
        let mut url = self.inner.api.clone();
        url.path_segments_mut()
            .map_err(|()| Error::Config("api_url must be an http(s) URL".to_owned()))?
            .pop_if_empty()
            .extend(&call.segments);
        if !call.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&call.query);
        }
        Ok(url)
    }

    /// Runs `call` with pacing, authentication, retries and tracing; the 2xx body.
    async fn execute(&self, call: Call<'_>) -> Result<Vec<u8>, Error> {
        let url = self.url(&call)?;
        let class = RateClass::of_path(&call.segments);
        let policy = &self.inner.retry;
        let mut backoff = {
            let builder = ExponentialBuilder::default()
                .with_min_delay(policy.min_delay)
                .with_max_delay(policy.max_delay)
                .with_max_times(usize::MAX);
            if policy.jitter {
                builder.with_jitter().build()
            } else {
                builder.build()
            }
        };
        let mut attempt: u32 = 0;
        let mut failures: u32 = 0;
        let mut renewed = false;
        loop {
            attempt += 1;
            let span = tracing::info_span!(
                "paxos.call",
                op = call.op,
                method = %call.method,
                path = url.path(),
                attempt,
                status = tracing::field::Empty,
            );
            let error = match self.attempt(&call, &url, class).instrument(span).await {
                Ok(body) => return Ok(body),
                Err(Failure::StaleToken(token)) if !renewed => {
                    // The token expired or was revoked early: renew once and repeat.
                    renewed = true;
                    self.inner.tokens.invalidate(&token).await;
                    continue;
                }
                Err(Failure::StaleToken(_)) => return Err(Error::Unauthorized),
                Err(Failure::Error { error, reached }) => {
                    let safe = match call.safety {
                        Safety::Idempotent => true,
                        Safety::NotIdempotent => {
                            !reached || matches!(error, Error::RateLimited { .. })
                        }
                    };
                    if !(error.is_transient() && safe) {
                        return Err(error);
                    }
                    error
                }
            };
            failures += 1;
            if failures >= policy.max_attempts {
                return Err(error);
            }
            let mut delay = backoff.next().unwrap_or(policy.max_delay);
            if let Error::RateLimited {
                retry_after: Some(wait),
            } = error
            {
                if wait > policy.max_retry_after {
                    return Err(error);
                }
                delay = delay.max(wait);
            }
            tracing::warn!(
                op = call.op,
                attempt,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                error = %error,
                "Paxos call failed; retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(
        &self,
        call: &Call<'_>,
        url: &Url,
        class: RateClass,
    ) -> Result<Vec<u8>, Failure> {
        self.inner.pacer.ready(class).await;
        let token = self
            .inner
            .tokens
            .bearer()
            .await
            .map_err(|error| Failure::Error {
                error,
                reached: false,
            })?;
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), url.clone())
            .bearer_auth(token.expose());
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let response = request.send().await.map_err(|e| Failure::Error {
            reached: !e.is_connect(),
            error: transport_error(e),
        })?;
        let status = response.status();
        tracing::Span::current().record("status", status.as_u16());
        let wait = retry_after(response.headers());
        let body = response.bytes().await.map_err(|e| Failure::Error {
            error: transport_error(e),
            reached: true,
        })?;
        if status.is_success() {
            return Ok(body.to_vec());
        }
        if status.as_u16() == 401 {
            return Err(Failure::StaleToken(token));
        }
        Err(Failure::Error {
            error: Error::from_status(status.as_u16(), &body, wait),
            // A 429 is refused before it is processed.
            reached: status.as_u16() != 429,
        })
    }
}

fn encode<T: Serialize>(body: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(body).map_err(|e| Error::Config(format!("cannot encode a request: {e}")))
}
