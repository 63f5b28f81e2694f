//! OAuth2 client credentials: one cached bearer token, renewed shortly before it expires, one
//! renewal at a time.
//!
//! Every caller goes through one async mutex: while a token is fresh the lock is held only to
//! clone it; when it must be renewed, the first caller fetches it and the others wait for that
//! token instead of each asking for one (the token endpoint allows 1 request per second).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::Instrument;

use crate::config::PaxosConfig;
use crate::pacing::{Pacer, RateClass};
use crate::problem::Error;

/// A bearer token. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct AccessToken(Arc<str>);

impl AccessToken {
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken([redacted])")
    }
}

#[derive(Debug)]
struct Cached {
    token: AccessToken,
    renew_at: Instant,
}

/// The token endpoint's answer. Only `access_token` is required.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

/// Fetches and caches tokens.
pub(crate) struct TokenSource {
    http: reqwest::Client,
    url: Url,
    client_id: String,
    client_secret: SecretString,
    scope: String,
    renew_before: Duration,
    cache: Mutex<Option<Cached>>,
    pacer: Arc<Pacer>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("url", &self.url.as_str())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Tokens without `expires_in` are assumed to last this long.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// The longest a token is trusted for, whatever `expires_in` says. `expires_in` is any number
/// the OAuth server sends, and an `Instant` that far ahead overflows (a panic); Paxos issues
/// tokens for about an hour, so a day is generous and renewing once a day costs nothing.
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

impl TokenSource {
    pub(crate) fn new(
        http: reqwest::Client,
        config: &PaxosConfig,
        pacer: Arc<Pacer>,
    ) -> Result<Self, Error> {
        let base = config.oauth_url.trim_end_matches('/');
        let url = Url::parse(&format!("{base}/oauth2/token"))
            .map_err(|e| Error::Config(format!("oauth_url: {e}")))?;
        Ok(Self {
            http,
            url,
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            scope: config.scopes.join(" "),
            renew_before: config.renew_before,
            cache: Mutex::new(None),
            pacer,
        })
    }

    /// A token that is not about to expire: the cached one, or a new one.
    pub(crate) async fn bearer(&self) -> Result<AccessToken, Error> {
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.as_ref() {
            if Instant::now() < cached.renew_at {
                return Ok(cached.token.clone());
            }
        }
        let (token, lifetime) = self.fetch().await?;
        let renew_at = Instant::now() + lifetime.saturating_sub(self.renew_before);
        *cache = Some(Cached {
            token: token.clone(),
            renew_at,
        });
        Ok(token)
    }

    /// Forgets `stale` (Paxos answered 401 to it), unless another caller already replaced it.
    pub(crate) async fn invalidate(&self, stale: &AccessToken) {
        let mut cache = self.cache.lock().await;
        if cache.as_ref().is_some_and(|c| &c.token == stale) {
            *cache = None;
        }
    }

    async fn fetch(&self) -> Result<(AccessToken, Duration), Error> {
        let span = tracing::info_span!(
            "paxos.token",
            method = "POST",
            path = self.url.path(),
            status = tracing::field::Empty
        );
        async {
            self.pacer.ready(RateClass::Token).await;
            let form = [
                ("grant_type", "client_credentials"),
                ("client_id", self.client_id.as_str()),
                ("client_secret", self.client_secret.expose_secret()),
                ("scope", self.scope.as_str()),
            ];
            let response = self
                .http
                .post(self.url.clone())
                .form(&form)
                .send()
                .await
                .map_err(crate::client::transport_error)?;
            let status = response.status();
            tracing::Span::current().record("status", status.as_u16());
            let retry_after = crate::client::retry_after(response.headers());
            let body = response
                .bytes()
                .await
                .map_err(crate::client::transport_error)?;
            if !status.is_success() {
                return Err(match status.as_u16() {
                    // The OAuth server refuses bad credentials, grants or scopes with 400 or 401.
                    400 | 401 | 403 => Error::Unauthorized,
                    code => Error::from_status(code, &body, retry_after),
                });
            }
            let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| Error::Decode {
                operation: "token",
                reason: format!(
                    "{:?} at line {} column {}",
                    e.classify(),
                    e.line(),
                    e.column()
                ),
            })?;
            let lifetime = answer
                .expires_in
                .and_then(|v| {
                    v.as_u64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                })
                .map(Duration::from_secs)
                .unwrap_or(DEFAULT_LIFETIME)
                .min(MAX_LIFETIME);
            tracing::debug!(lifetime_secs = lifetime.as_secs(), "new Paxos token");
            Ok((AccessToken(answer.access_token.into()), lifetime))
        }
        .instrument(span)
        .await
    }
}
