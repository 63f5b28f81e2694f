//! Paxos's published OpenAPI document, embedded, and validators for the request bodies of the
//! operations the sandbox serves.
//!
//! The document is OpenAPI 3.0, whose schemas are JSON Schema draft 4 with a few extra keywords.
//! For each operation the validator is built from the operation's request schema plus every
//! component schema it reaches through `$ref`, so `#/components/schemas/...` references resolve
//! exactly as in the document. Violation messages never echo the rejected value: a request body
//! may hold personal data.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::OnceLock;

use serde::Serialize;
use serde_json::{json, Map, Value};

/// The Paxos v2 OpenAPI document the sandbox serves a subset of.
pub const PAXOS_V2_OPENAPI: &str = include_str!("../openapi/paxos-v2.openapi.json");

/// The operations whose request bodies the sandbox validates, by OpenAPI `operationId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    /// `POST /identity/identities`.
    CreateIdentity,
    /// `PUT /identity/identities/{id}`.
    UpdateIdentity,
    /// `POST /identity/accounts`.
    CreateAccount,
    /// `POST /sandbox/profiles/{profile_id}/deposit`.
    CreateSandboxDeposit,
    /// `POST /profiles/{profile_id}/orders`.
    CreateOrder,
}

impl Operation {
    /// Every operation with a validated request body.
    pub const ALL: [Operation; 5] = [
        Operation::CreateIdentity,
        Operation::UpdateIdentity,
        Operation::CreateAccount,
        Operation::CreateSandboxDeposit,
        Operation::CreateOrder,
    ];

    /// The OpenAPI `operationId`.
    pub const fn operation_id(self) -> &'static str {
        match self {
            Self::CreateIdentity => "CreateIdentity",
            Self::UpdateIdentity => "UpdateIdentity",
            Self::CreateAccount => "CreateAccount",
            Self::CreateSandboxDeposit => "CreateSandboxDeposit",
            Self::CreateOrder => "CreateOrder",
        }
    }

    /// The path template and method as the document lists them.
    const fn route(self) -> (&'static str, &'static str) {
        match self {
            Self::CreateIdentity => ("/identity/identities", "post"),
            Self::UpdateIdentity => ("/identity/identities/{id}", "put"),
            Self::CreateAccount => ("/identity/accounts", "post"),
            Self::CreateSandboxDeposit => ("/sandbox/profiles/{profile_id}/deposit", "post"),
            Self::CreateOrder => ("/profiles/{profile_id}/orders", "post"),
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.operation_id())
    }
}

/// One way a request body breaks its schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// JSON pointer to the offending part of the body (`""` is the whole body).
    pub path: String,
    /// What is wrong, without the offending value.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "(body)"
        } else {
            &self.path
        };
        write!(f, "{path}: {}", self.message)
    }
}

/// The OpenAPI document could not be turned into validators (a broken embedded document).
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot build the request schema of {operation}: {reason}")]
pub struct SpecError {
    /// The operation.
    pub operation: &'static str,
    /// Why.
    pub reason: String,
}

/// Validators for the request bodies of every [`Operation`].
pub struct RequestSchemas {
    validators: BTreeMap<Operation, jsonschema::Validator>,
}

impl fmt::Debug for RequestSchemas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestSchemas")
            .field("operations", &self.validators.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl RequestSchemas {
    /// The validators built from the embedded document, built once per process.
    pub fn embedded() -> &'static RequestSchemas {
        static SCHEMAS: OnceLock<RequestSchemas> = OnceLock::new();
        SCHEMAS.get_or_init(|| {
            Self::from_document(PAXOS_V2_OPENAPI)
                .unwrap_or_else(|e| panic!("the embedded Paxos OpenAPI document is broken: {e}"))
        })
    }

    /// Builds validators from an OpenAPI document's text.
    pub fn from_document(text: &str) -> Result<Self, SpecError> {
        let doc: Value = serde_json::from_str(text).map_err(|e| SpecError {
            operation: "(document)",
            reason: e.to_string(),
        })?;
        let mut validators = BTreeMap::new();
        for op in Operation::ALL {
            let schema = request_schema(&doc, op)?;
            let validator = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft4)
                .should_validate_formats(true)
                .should_ignore_unknown_formats(true)
                .build(&schema)
                .map_err(|e| SpecError {
                    operation: op.operation_id(),
                    reason: e.masked().to_string(),
                })?;
            validators.insert(op, validator);
        }
        Ok(Self { validators })
    }

    /// Checks `body` against the request schema of `op`; lists every violation.
    pub fn validate(&self, op: Operation, body: &Value) -> Result<(), Vec<Violation>> {
        let Some(validator) = self.validators.get(&op) else {
            return Ok(());
        };
        let violations: Vec<Violation> = validator
            .iter_errors(body)
            .map(|e| Violation {
                path: e.instance_path().to_string(),
                message: e.masked_with("the value").to_string(),
            })
            .collect();
        if violations.is_empty() {
            Ok(())
        } else {
            Err(violations)
        }
    }
}

/// A standalone schema for `op`'s request body: the body schema plus the component schemas it
/// reaches, at the same `#/components/schemas/...` locations as in the document.
fn request_schema(doc: &Value, op: Operation) -> Result<Value, SpecError> {
    let (path, method) = op.route();
    let fail = |reason: &str| SpecError {
        operation: op.operation_id(),
        reason: reason.to_owned(),
    };
    let body = doc
        .pointer(&format!(
            "/paths/{}/{method}/requestBody/content/application~1json/schema",
            path.replace('~', "~0").replace('/', "~1")
        ))
        .ok_or_else(|| fail("no application/json request body in the document"))?;
    let components = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .ok_or_else(|| fail("no components/schemas in the document"))?;
    let mut reached = BTreeSet::new();
    let mut pending = refs_in(body);
    while let Some(name) = pending.pop() {
        if !reached.insert(name.clone()) {
            continue;
        }
        let schema = components
            .get(&name)
            .ok_or_else(|| fail(&format!("unresolved reference to {name}")))?;
        pending.extend(refs_in(schema));
    }
    let mut schemas = Map::new();
    for name in reached {
        schemas.insert(name.clone(), components[&name].clone());
    }
    Ok(json!({
        "components": { "schemas": schemas },
        "allOf": [body],
    }))
}

/// The component schema names `value` references.
fn refs_in(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    if let Some(name) = r.strip_prefix("#/components/schemas/") {
                        out.push(name.to_owned());
                    }
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_a_validator() {
        let schemas = RequestSchemas::embedded();
        assert_eq!(schemas.validators.len(), Operation::ALL.len());
    }

    #[test]
    fn references_resolve_and_enums_are_checked() {
        let schemas = RequestSchemas::embedded();
        let body = json!({"person_details": {"cip_id_type": "TAX_NUMBER", "first_name": "Jane"}});
        let err = schemas
            .validate(Operation::CreateIdentity, &body)
            .unwrap_err();
        assert_eq!(err.len(), 1, "{err:?}");
        assert_eq!(err[0].path, "/person_details/cip_id_type");
        assert!(!err[0].message.contains("TAX_NUMBER"), "{}", err[0].message);
    }

    #[test]
    fn formats_and_patterns_are_checked_without_echoing_values() {
        let schemas = RequestSchemas::embedded();
        let body = json!({"asset": "USD", "amount": "-12"});
        let err = schemas
            .validate(Operation::CreateSandboxDeposit, &body)
            .unwrap_err();
        assert_eq!(err[0].path, "/amount");
        assert!(!err[0].message.contains("-12"));
        let body = json!({"person_details": {"passthrough_verified_at": "yesterday"}});
        let err = schemas
            .validate(Operation::CreateIdentity, &body)
            .unwrap_err();
        assert_eq!(err[0].path, "/person_details/passthrough_verified_at");
    }

    #[test]
    fn required_properties_are_checked() {
        let schemas = RequestSchemas::embedded();
        let err = schemas
            .validate(Operation::CreateOrder, &json!({"side": "BUY"}))
            .unwrap_err();
        let paths: Vec<_> = err.iter().map(|v| v.message.as_str()).collect();
        assert!(paths.iter().any(|m| m.contains("market")), "{paths:?}");
        assert!(paths.iter().any(|m| m.contains("type")), "{paths:?}");
    }
}
