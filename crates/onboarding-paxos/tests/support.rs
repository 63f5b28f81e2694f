//! Fixtures: a sandbox and a client wired to it, and domain values to mirror.

use std::collections::HashMap;
use std::time::Duration;

use onboarding_domain::identity::submission::IdentitySubmission;
use onboarding_domain::{IdentityDraft, IdentityId};
use onboarding_paxos::model::CreateIdentityRequest;
use onboarding_paxos::{mapping, Pacing, PaxosClient, PaxosConfig, RetryPolicy};
use paxos_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use serde_json::{json, Value};

/// How long any wait on a condition may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// A sandbox with default behaviour (identities approved at once).
pub async fn sandbox() -> SandboxHandle {
    sandbox_with(SandboxConfig::default()).await
}

/// A sandbox with `config`.
pub async fn sandbox_with(config: SandboxConfig) -> SandboxHandle {
    Sandbox::start(config).await.expect("the sandbox starts")
}

/// A client configuration for `sandbox`: fast retries, pacing that does not slow tests.
pub fn config(sandbox: &SandboxHandle) -> PaxosConfig {
    let mut config = PaxosConfig::new(
        &sandbox.base_url,
        &sandbox.oauth_url,
        &sandbox.client_id,
        &sandbox.client_secret,
    );
    config.timeout = Duration::from_secs(5);
    config.retry = RetryPolicy {
        max_attempts: 4,
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        jitter: true,
        max_retry_after: Duration::from_secs(2),
    };
    config.pacing = Pacing {
        identity_per_second: 1000,
        other_per_second: 1000,
        token_interval: Duration::from_millis(1),
    };
    config
}

/// A client for `sandbox` with [`config`].
pub fn client(sandbox: &SandboxHandle) -> PaxosClient {
    PaxosClient::new(config(sandbox)).expect("a valid configuration")
}

/// A valid person draft (the shape of Paxos's CreateIdentity) with the given SSN and last name.
pub fn person_draft(ssn: &str, last_name: &str) -> Value {
    json!({
        "person_details": {
            "first_name": "Philippa",
            "last_name": last_name,
            "date_of_birth": "1985-04-12",
            "address": {
                "country": "USA",
                "address1": "12 Elm Street",
                "city": "Springfield",
                "province": "IL",
                "zip_code": "62565"
            },
            "nationality": "USA",
            "cip_id": ssn,
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
        "tax_details": [{"tax_payer_id": ssn, "tax_payer_country": "USA"}],
        "metadata": {"channel": "web"}
    })
}

/// A valid private corporation draft whose members are the two given ledger identities.
pub fn corporation_draft(owner: IdentityId, controller: IdentityId) -> Value {
    let address = json!({"country": "USA", "address1": "1 Industrial Way", "city": "Wilmington", "province": "DE"});
    json!({
        "institution_details": {
            "name": "Northwind Traders Inc",
            "business_address": address,
            "incorporation_address": address,
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
            {"identity_id": owner.to_string(), "roles": ["BENEFICIAL_OWNER"], "ownership": "60", "position": "CEO"},
            {"identity_id": controller.to_string(), "roles": ["MANAGEMENT_CONTROL_PERSON"]}
        ],
        "customer_due_diligence": {
            "source_of_wealth": "BUSINESS_OWNERSHIP_DIVIDENDS",
            "source_of_funds": "BUSINESS_DIVIDENDS_PROFITS",
            "industry_sector": "MANUFACTURING",
            "has_underlying_trust_structure": false,
            "has_nominee_shareholders": false
        },
        "tax_details": [{"tax_payer_id": "12-3456789", "tax_payer_country": "USA"}]
    })
}

/// Parses a draft into the domain's typed submission, as the ledger does.
pub fn submission(draft: &Value) -> IdentitySubmission {
    IdentityDraft::from_json(&draft.to_string())
        .and_then(IdentityDraft::parse)
        .unwrap_or_else(|v| panic!("the fixture should parse: {v}"))
}

/// A person's Create Identity request for a new ledger id.
pub fn person_request(ssn: &str, last_name: &str) -> (IdentityId, CreateIdentityRequest) {
    let id = IdentityId::new();
    let request = mapping::create_identity(
        id,
        &submission(&person_draft(ssn, last_name)),
        &HashMap::<IdentityId, String>::new(),
    )
    .expect("a person has no members to map");
    (id, request)
}
