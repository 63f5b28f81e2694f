//! A raw HTTP client for the sandbox and valid request bodies.

use std::time::Duration;

use paxos_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// How long any wait on a condition may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// A started sandbox and a token for it.
pub struct Api {
    pub sandbox: SandboxHandle,
    pub http: reqwest::Client,
    pub token: String,
}

impl Api {
    pub async fn start(config: SandboxConfig) -> Self {
        let sandbox = Sandbox::start(config).await.unwrap();
        let http = reqwest::Client::new();
        let answer: Value = http
            .post(sandbox.token_url())
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", sandbox.client_id.as_str()),
                ("client_secret", sandbox.client_secret.as_str()),
                ("scope", "identity:read_identity"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = answer["access_token"].as_str().unwrap().to_owned();
        Self {
            sandbox,
            http,
            token,
        }
    }

    pub async fn default() -> Self {
        Self::start(SandboxConfig::default()).await
    }

    /// Sends `method path` with `body`; the status and JSON answer (`Null` when empty).
    pub async fn send(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let url = format!("{}{path}", self.sandbox.base_url);
        let mut request = self
            .http
            .request(method.parse().unwrap(), url)
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let bytes = response.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send("POST", path, Some(body)).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send("GET", path, None).await
    }

    /// Creates a person and waits for its approval; its Paxos id.
    pub async fn approved_person(&self, ref_id: &str, ssn: &str) -> String {
        let (status, identity) = self.post("/identity/identities", person(ref_id, ssn)).await;
        assert_eq!(status, StatusCode::OK, "{identity}");
        let id = identity["id"].as_str().unwrap().to_owned();
        self.sandbox
            .wait_for_event(WAIT, |e| e.object["identity_id"] == json!(id))
            .await
            .expect("decided");
        id
    }

    /// An approved person's account with a profile; (account id, profile id).
    pub async fn account(&self, identity: &str, ref_id: &str) -> (String, String) {
        let (status, account) = self
            .post(
                "/identity/accounts",
                json!({"account": {"identity_id": identity, "ref_id": ref_id}, "create_profile": true}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{account}");
        (
            account["id"].as_str().unwrap().to_owned(),
            account["profile_id"].as_str().unwrap().to_owned(),
        )
    }
}

/// A valid CreateIdentity body for a person.
pub fn person(ref_id: &str, ssn: &str) -> Value {
    json!({
        "ref_id": ref_id,
        "person_details": {
            "first_name": "Jane",
            "last_name": "Doe",
            "date_of_birth": "1980-01-01",
            "address": {"country": "USA", "address1": "1 Example St", "city": "New York", "province": "NY"},
            "nationality": "USA",
            "cip_id": ssn,
            "cip_id_type": "SSN",
            "cip_id_country": "USA",
            "verifier_type": "PASSTHROUGH",
            "passthrough_verifier_type": "JUMIO",
            "passthrough_verified_at": "2021-06-16T09:28:14Z",
            "passthrough_verification_id": "v-1",
            "passthrough_verification_status": "APPROVED",
            "passthrough_verification_fields": ["FULL_LEGAL_NAME", "CIP_ID"]
        },
        "customer_due_diligence": {
            "estimated_yearly_income": "INCOME_50K_TO_100K",
            "expected_transfer_value": "TRANSFER_VALUE_0_TO_25K",
            "source_of_wealth": "EMPLOYMENT_INCOME",
            "employment_status": "FULL_TIME",
            "employment_industry_sector": "INFORMATION"
        }
    })
}
