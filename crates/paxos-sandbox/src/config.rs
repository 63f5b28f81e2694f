//! How a sandbox behaves: credentials, token lifetime, identity decisions, webhooks, prices.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use rust_decimal::Decimal;

/// Everything a sandbox is started with. [`SandboxConfig::default`] suits tests: an ephemeral
/// port on 127.0.0.1, identities approved at once, no webhooks.
#[derive(Clone)]
pub struct SandboxConfig {
    /// Where to listen; port 0 picks a free one.
    pub bind: SocketAddr,
    /// The OAuth client id the token endpoint accepts.
    pub client_id: String,
    /// The OAuth client secret the token endpoint accepts.
    pub client_secret: String,
    /// The `expires_in` of issued tokens.
    pub token_ttl: Duration,
    /// How identities are decided.
    pub decisions: DecisionConfig,
    /// Where events are delivered, if anywhere.
    pub webhook: Option<WebhookConfig>,
    /// Market prices by market code (e.g. `BTCUSD`), in the quote asset.
    pub prices: BTreeMap<String, Decimal>,
    /// The price of a market missing from `prices`; `None` makes such markets unavailable.
    pub default_price: Option<Decimal>,
}

impl fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("bind", &self.bind)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("token_ttl", &self.token_ttl)
            .field("decisions", &self.decisions)
            .field("webhook", &self.webhook)
            .field("prices", &self.prices)
            .field("default_price", &self.default_price)
            .finish()
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        let prices = [("BTCUSD", 60_000), ("ETHUSD", 3_000), ("PAXGUSD", 2_000)]
            .into_iter()
            .map(|(m, p)| (m.to_owned(), Decimal::from(p)))
            .collect();
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            client_id: "sandbox-client".to_owned(),
            client_secret: "sandbox-secret".to_owned(),
            token_ttl: Duration::from_secs(3599),
            decisions: DecisionConfig::default(),
            webhook: None,
            prices,
            default_price: Some(Decimal::ONE_HUNDRED),
        }
    }
}

/// How and when identities are decided.
#[derive(Debug, Clone)]
pub struct DecisionConfig {
    /// Decide automatically this long after creation; `None` leaves identities `PENDING` until a
    /// test decides them through [`SandboxHandle::decide`](crate::SandboxHandle::decide).
    pub delay: Option<Duration>,
    /// Deny persons with one of these last names and institutions with one of these names
    /// (case-insensitive).
    pub deny_names: Vec<String>,
    /// Deny identities whose `cip_id` matches one of these patterns (`*` matches any run of
    /// characters, e.g. `999-*`).
    pub deny_cip_ids: Vec<String>,
    /// Ask for documents (an `identity.documents_required` event, the identity stays `PENDING`)
    /// from persons with one of these last names (case-insensitive).
    pub documents_required_names: Vec<String>,
}

impl Default for DecisionConfig {
    fn default() -> Self {
        Self {
            delay: Some(Duration::ZERO),
            deny_names: Vec::new(),
            deny_cip_ids: Vec::new(),
            documents_required_names: Vec::new(),
        }
    }
}

/// Where and how webhooks are delivered.
#[derive(Clone)]
pub struct WebhookConfig {
    /// The receiver's URL.
    pub url: String,
    /// The authentication header's name, e.g. `X-Paxos-Webhook-Key`.
    pub header_name: String,
    /// The authentication header's value.
    pub header_value: String,
    /// How often a delivery is tried before it is given up.
    pub max_attempts: u32,
    /// The pause between tries.
    pub retry_delay: Duration,
}

impl WebhookConfig {
    /// Deliveries to `url` with `header_name: header_value`, tried 3 times 200 ms apart.
    pub fn new(
        url: impl Into<String>,
        header_name: impl Into<String>,
        header_value: impl Into<String>,
    ) -> Self {
        Self {
            url: url.into(),
            header_name: header_name.into(),
            header_value: header_value.into(),
            max_attempts: 3,
            retry_delay: Duration::from_millis(200),
        }
    }
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.url)
            .field("header_name", &self.header_name)
            .field("header_value", &"[redacted]")
            .field("max_attempts", &self.max_attempts)
            .field("retry_delay", &self.retry_delay)
            .finish()
    }
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    // Strip rather than slice by lengths: a cut by byte count can fall inside a multi-byte
    // character of `text` (a panic), and stripping the suffix from what follows the prefix
    // keeps the two from overlapping.
    let Some(mut rest) = text
        .strip_prefix(first)
        .and_then(|after| after.strip_suffix(last))
    else {
        return false;
    };
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs_match_with_stars() {
        assert!(glob_match("999-*", "999-12-3456"));
        assert!(glob_match("*-0000", "123-45-0000"));
        assert!(glob_match("1*4*6", "123456"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("999-*", "123-99-9999"));
        assert!(!glob_match("ab*ba", "aba"));
    }

    #[test]
    fn globs_match_text_with_multi_byte_characters() {
        assert!(!glob_match("*-0000", "é0000"));
        assert!(!glob_match("é*", "e"));
        assert!(!glob_match("*x*", "日本"));
        assert!(glob_match("*-0000", "日本-0000"));
        assert!(glob_match("é*ü", "éaü"));
        assert!(glob_match("日*語", "日本語"));
    }
}
