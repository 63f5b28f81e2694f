//! RFC 7807 problems as Paxos answers them, and the typed [`Error`] every call returns.
//!
//! No error's `Display` or `Debug` includes a request body, and none prints a problem's `detail`
//! or `meta`: Paxos may echo submitted values there (a name that broke a pattern), so they are
//! kept as fields for code to inspect, never formatted into messages or logs.

use std::fmt;
use std::time::Duration;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;

/// The `type` URI prefix of Paxos's named problems.
pub const PROBLEM_TYPE_BASE: &str = "https://developer.paxos.com/docs/v2/problems/";

/// An RFC 7807 problem document (`application/problem+json` or `application/json`).
#[derive(Clone, Default, PartialEq, Deserialize)]
pub struct Problem {
    /// The problem type URI, `about:blank` for generic ones.
    #[serde(rename = "type", default)]
    pub problem_type: Option<String>,
    /// A short title.
    #[serde(default)]
    pub title: Option<String>,
    /// The HTTP status Paxos meant.
    #[serde(default)]
    pub status: Option<u16>,
    /// What went wrong in this case. May echo submitted values: never log it.
    #[serde(default)]
    pub detail: Option<String>,
    /// Structured details, e.g. `existing` for `already-exists`. May hold submitted values.
    #[serde(default)]
    pub meta: Option<Value>,
}

impl Problem {
    /// The last segment of a named problem's type, e.g. `insufficient-funds`; `None` for
    /// `about:blank` or a missing type.
    pub fn slug(&self) -> Option<&str> {
        let t = self.problem_type.as_deref()?;
        if t == "about:blank" {
            return None;
        }
        t.trim_end_matches('/').rsplit('/').next()
    }
}

impl fmt::Debug for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Problem")
            .field("type", &self.problem_type)
            .field("title", &self.title)
            .field("status", &self.status)
            .field("detail", &self.detail.as_ref().map(|_| "[redacted]"))
            .field("meta", &self.meta.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// A problem's `detail` text, kept for code to inspect and redacted in `Debug` (Paxos may echo
/// submitted values in it).
#[derive(Clone, PartialEq, Eq)]
pub struct Detail(pub String);

impl Detail {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Detail([redacted])")
    }
}

/// Which uniqueness rule a `409 already-exists` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duplicate {
    /// Our own `ref_id` again: the earlier attempt succeeded; fetch the existing resource.
    RefId,
    /// Someone's identity already holds this `(cip_id, cip_id_type, cip_id_country)`: a business
    /// rejection.
    CipId,
    /// Another uniqueness rule (Paxos's `detail` names neither of the above).
    Other,
}

impl Duplicate {
    /// Classifies a problem's `detail`, which is the only field that tells the cases apart.
    pub fn from_detail(detail: Option<&str>) -> Self {
        let detail = detail.unwrap_or_default().to_ascii_lowercase();
        if detail.contains("cip_id") {
            Self::CipId
        } else if detail.contains("ref_id") {
            Self::RefId
        } else {
            Self::Other
        }
    }
}

/// `meta` of an `insufficient-funds` problem.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct InsufficientFunds {
    /// The profile short of funds.
    #[serde(default)]
    pub profile_id: Option<String>,
    /// The asset short.
    #[serde(default)]
    pub asset: Option<String>,
    /// Available now.
    #[serde(default, with = "crate::model::lenient_decimal")]
    pub available: Option<Decimal>,
    /// Needed by the request.
    #[serde(default, with = "crate::model::lenient_decimal")]
    pub needed: Option<Decimal>,
}

/// Why a Paxos call failed. Each variant says what a caller should do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// 409 `already-exists`. For [`Duplicate::RefId`] the earlier attempt took effect: treat it
    /// as success and fetch `existing_id`. For [`Duplicate::CipId`] the customer is already
    /// onboarded under another identity: a business rejection, do not retry.
    #[error("Paxos already has this resource ({duplicate_of:?} duplicate of {existing_id})")]
    AlreadyExists {
        /// The id of the resource that already exists (`meta.existing.id`).
        existing_id: String,
        /// Which uniqueness rule was hit.
        duplicate_of: Duplicate,
        /// The whole problem, with `meta.existing`.
        problem: Box<Problem>,
    },
    /// 403 `insufficient-funds`: fund the profile or order less; do not retry as is.
    #[error("insufficient funds at Paxos")]
    InsufficientFunds {
        /// Profile, asset, available and needed amounts.
        meta: InsufficientFunds,
    },
    /// 429 and still throttled after the retries allowed, or asked to wait longer than the
    /// retry policy allows: try again after `retry_after`.
    #[error("rate limited by Paxos (retry after {retry_after:?})")]
    RateLimited {
        /// What `Retry-After` asked for, if anything.
        retry_after: Option<Duration>,
    },
    /// 400 or 422: the request is malformed or breaks a rule. Fix the input; do not retry.
    /// `detail` may echo submitted values: inspect it, never log it.
    #[error("Paxos rejected the request as invalid ({status})")]
    Validation {
        /// The HTTP status.
        status: u16,
        /// Paxos's explanation (redacted in `Debug`).
        detail: Option<Detail>,
        /// The whole problem.
        problem: Box<Problem>,
    },
    /// 401 even after renewing the token, the token endpoint refused the credentials, or a 403
    /// `insufficient scopes` (the token lacks the operation's scope): check the client id,
    /// secret and scopes.
    #[error("not authorized by Paxos (check the client credentials and scopes)")]
    Unauthorized,
    /// 403 for a business reason, named (`problem_type`, e.g. `notional-value-too-large`,
    /// `unavailable-market`) or not (`about:blank`, e.g. an order not in a cancellable state):
    /// a permanent refusal of this request. (A missing scope is [`Error::Unauthorized`].)
    #[error("Paxos refused the request ({})", problem_type.as_deref().unwrap_or("forbidden"))]
    Forbidden {
        /// The problem type's slug, if it is a named problem.
        problem_type: Option<String>,
        /// The whole problem.
        problem: Box<Problem>,
    },
    /// 404: the resource does not exist at Paxos (wrong id, or not created yet).
    #[error("not found at Paxos")]
    NotFound,
    /// Another 4xx Paxos answered (e.g. a 409 without `meta.existing`): permanent.
    #[error("Paxos answered {status}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The problem, if the body was one.
        problem: Box<Problem>,
    },
    /// 5xx, still failing after the retries allowed (or not retried because the request is not
    /// idempotent): try again later.
    #[error("Paxos server error {status}")]
    Server {
        /// The HTTP status.
        status: u16,
    },
    /// No answer within the timeout, after the retries allowed: try again later. The request may
    /// have taken effect.
    #[error("Paxos did not answer in time")]
    Timeout,
    /// The connection failed (DNS, TCP, TLS, a broken body): try again later.
    #[error("cannot reach Paxos: {0}")]
    Transport(#[source] reqwest::Error),
    /// Paxos answered 2xx with a body this client cannot read: a contract change; report it.
    #[error("unexpected answer from Paxos to {operation}: {reason}")]
    Decode {
        /// The operation.
        operation: &'static str,
        /// What did not fit (a serde message about types and fields, no values).
        reason: String,
    },
    /// The client is misconfigured (a URL that does not parse): fix the configuration.
    #[error("invalid Paxos client configuration: {0}")]
    Config(String),
}

impl Error {
    /// Whether retrying later may succeed (timeouts, transport failures, 5xx, 429).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Server { .. } | Self::Timeout | Self::Transport(_)
        )
    }

    /// The problem document Paxos answered, if any.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            Self::AlreadyExists { problem, .. }
            | Self::Validation { problem, .. }
            | Self::Forbidden { problem, .. }
            | Self::Rejected { problem, .. } => Some(problem),
            _ => None,
        }
    }

    /// Maps an error status and its (possibly empty or non-problem) body to an error.
    pub fn from_status(status: u16, body: &[u8], retry_after: Option<Duration>) -> Self {
        let problem: Problem = serde_json::from_slice(body).unwrap_or_default();
        match status {
            400 | 422 => Self::Validation {
                status,
                detail: problem.detail.clone().map(Detail),
                problem: Box::new(problem),
            },
            401 => Self::Unauthorized,
            // The spec spells it `insufficient-funds` in its problem URLs and
            // `insufficient_funds` in an example: both are the same problem.
            403 if problem
                .slug()
                .is_some_and(|s| s.replace('_', "-") == "insufficient-funds") =>
            {
                let meta = problem
                    .meta
                    .clone()
                    .and_then(|m| serde_json::from_value(m).ok())
                    .unwrap_or(InsufficientFunds {
                        profile_id: None,
                        asset: None,
                        available: None,
                        needed: None,
                    });
                Self::InsufficientFunds { meta }
            }
            // Paxos answers a token without the operation's scope with a bare 403 whose detail
            // says so: the client's configuration, not the request, is at fault.
            403 if problem.slug().is_none()
                && (problem.detail.as_deref())
                    .is_some_and(|d| d.to_ascii_lowercase().starts_with("insufficient scope")) =>
            {
                Self::Unauthorized
            }
            403 => Self::Forbidden {
                problem_type: problem.slug().map(str::to_owned),
                problem: Box::new(problem),
            },
            404 => Self::NotFound,
            409 => {
                let existing = problem
                    .meta
                    .as_ref()
                    .and_then(|m| m.pointer("/existing/id"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                match existing {
                    Some(existing_id) => Self::AlreadyExists {
                        existing_id,
                        duplicate_of: Duplicate::from_detail(problem.detail.as_deref()),
                        problem: Box::new(problem),
                    },
                    None => Self::Rejected {
                        status,
                        problem: Box::new(problem),
                    },
                }
            }
            429 => Self::RateLimited { retry_after },
            500..=599 => Self::Server { status },
            _ => Self::Rejected {
                status,
                problem: Box::new(problem),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn already_exists_names_the_rule_from_the_detail() {
        let body = br#"{"type":"https://developer.paxos.com/docs/v2/problems/already-exists",
            "status":409,"detail":"duplicate (cip_id, cip_id_type, cip_id_country) provided",
            "meta":{"existing":{"id":"abc"}}}"#;
        match Error::from_status(409, body, None) {
            Error::AlreadyExists {
                existing_id,
                duplicate_of,
                ..
            } => {
                assert_eq!(existing_id, "abc");
                assert_eq!(duplicate_of, Duplicate::CipId);
            }
            other => panic!("unexpected {other:?}"),
        }
        let body = br#"{"status":409,"detail":"duplicate ref_id provided","meta":{"existing":{"id":"x"}}}"#;
        assert!(matches!(
            Error::from_status(409, body, None),
            Error::AlreadyExists {
                duplicate_of: Duplicate::RefId,
                ..
            }
        ));
    }

    #[test]
    fn insufficient_funds_carries_its_meta() {
        let body = br#"{"type":"https://developer.paxos.com/docs/v2/problems/insufficient-funds",
            "status":403,"meta":{"profile_id":"p","asset":"USD","available":"50","needed":"100"}}"#;
        match Error::from_status(403, body, None) {
            Error::InsufficientFunds { meta } => {
                assert_eq!(meta.asset.as_deref(), Some("USD"));
                assert_eq!(meta.available, Some(Decimal::from(50)));
                assert_eq!(meta.needed, Some(Decimal::from(100)));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_403_for_missing_scopes_is_a_configuration_problem_not_a_refusal() {
        let scopes = br#"{"type":"about:blank","title":"Forbidden","status":403,
            "detail":"insufficient scopes: found 'a', required one of '[b]'"}"#;
        assert!(matches!(
            Error::from_status(403, scopes, None),
            Error::Unauthorized
        ));
        let business = br#"{"type":"about:blank","title":"Forbidden","status":403,
            "detail":"order is not in cancellable state"}"#;
        assert!(matches!(
            Error::from_status(403, business, None),
            Error::Forbidden {
                problem_type: None,
                ..
            }
        ));
    }

    #[test]
    fn insufficient_funds_is_known_by_either_spelling_of_the_spec() {
        let body = br#"{"type":"https://developer.paxos.com/docs/v2/problems/insufficient_funds",
            "status":403,"meta":{"asset":"USD","needed":"100"}}"#;
        let err = Error::from_status(403, body, None);
        assert!(matches!(err, Error::InsufficientFunds { .. }), "{err:?}");
    }

    #[test]
    fn messages_never_print_detail_or_meta() {
        let body = br#"{"type":"about:blank","status":400,"detail":"first_name 'Jane<' invalid"}"#;
        let err = Error::from_status(400, body, None);
        assert!(!err.to_string().contains("Jane"));
        assert!(!format!("{err:?}").contains("Jane"));
    }

    #[test]
    fn a_non_problem_body_still_maps_by_status() {
        assert!(matches!(
            Error::from_status(502, b"<html>bad gateway</html>", None),
            Error::Server { status: 502 }
        ));
        assert!(matches!(
            Error::from_status(403, b"", None),
            Error::Forbidden {
                problem_type: None,
                ..
            }
        ));
    }
}
