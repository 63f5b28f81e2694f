//! RFC 7807 problems as Paxos answers them (`application/problem+json`).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::spec::Violation;

/// The `type` URI prefix of Paxos's named problems.
pub const PROBLEM_TYPE_BASE: &str = "https://developer.paxos.com/docs/v2/problems/";

/// An error answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiProblem {
    /// HTTP status.
    pub status: StatusCode,
    /// Problem type: a slug under [`PROBLEM_TYPE_BASE`], or `about:blank`.
    pub problem_type: String,
    /// Short title.
    pub title: &'static str,
    /// Human readable detail.
    pub detail: Option<String>,
    /// Structured metadata.
    pub meta: Option<Box<Value>>,
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u64>,
}

impl ApiProblem {
    /// A generic (`about:blank`) problem titled after the status.
    pub fn blank(status: StatusCode, detail: impl Into<Option<String>>) -> Self {
        Self {
            status,
            problem_type: "about:blank".to_owned(),
            title: status.canonical_reason().unwrap_or("Error"),
            detail: detail.into(),
            meta: None,
            retry_after: None,
        }
    }

    /// A named problem, e.g. `already-exists`.
    pub fn named(
        status: StatusCode,
        slug: &str,
        title: &'static str,
        detail: String,
        meta: Value,
    ) -> Self {
        Self {
            status,
            problem_type: format!("{PROBLEM_TYPE_BASE}{slug}"),
            title,
            detail: Some(detail),
            meta: Some(Box::new(meta)),
            retry_after: None,
        }
    }

    /// 400 with a detail.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::blank(StatusCode::BAD_REQUEST, Some(detail.into()))
    }

    /// 400 listing schema or rule violations in `meta.violations`.
    pub fn violations(what: &str, violations: &[Violation]) -> Self {
        let list: Vec<String> = violations.iter().map(ToString::to_string).collect();
        let mut p = Self::bad_request(format!("{what}: {}", list.join("; ")));
        p.meta = Some(Box::new(json!({ "violations": violations })));
        p
    }

    /// 404.
    pub fn not_found(what: &str) -> Self {
        Self::blank(StatusCode::NOT_FOUND, Some(format!("{what} not found")))
    }

    /// 401.
    pub fn unauthorized() -> Self {
        Self::blank(StatusCode::UNAUTHORIZED, None)
    }

    /// 409 `already-exists` with the existing resource in `meta.existing`.
    pub fn already_exists(detail: String, existing: Value) -> Self {
        Self::named(
            StatusCode::CONFLICT,
            "already-exists",
            "Already Exists",
            detail,
            json!({ "existing": existing }),
        )
    }

    /// 429 with `Retry-After`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut p = Self::blank(
            StatusCode::TOO_MANY_REQUESTS,
            Some("rate limit exceeded".to_owned()),
        );
        p.retry_after = Some(retry_after_secs);
        p
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "type": self.problem_type,
            "title": self.title,
            "status": self.status.as_u16(),
        });
        if let Some(detail) = &self.detail {
            body["detail"] = json!(detail);
        }
        if let Some(meta) = &self.meta {
            body["meta"] = (**meta).clone();
        }
        body
    }
}

impl IntoResponse for ApiProblem {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
