//! Commands through the ledger: valid submissions with unique SSNs and EINs, and the onboarding
//! steps (approve, open, fund, order) the scenarios are made of.

use std::sync::atomic::{AtomicU32, Ordering};

use onboarding_domain::vocab::{AccountMemberRole, AccountType, OrderSide, OrderType, TimeInForce};
use onboarding_domain::{
    AccountMember, Amount, Asset, Decision, DecisionSource, FundingMethod, IdentityDraft,
    IdentityId, IdentitySubmission, OrderId, OrderRequest, ProfileId, ReportedOrderState,
};
use onboarding_ledger::{AccountRequest, CommandContext, Ledger, LedgerOptions, OpenedAccount};
use sqlx::PgPool;

/// The context of an ordinary test command.
pub fn ctx() -> CommandContext {
    CommandContext::new("projection-test", "test")
}

/// A ledger on `pool` with default options.
pub fn ledger(pool: &PgPool) -> Ledger {
    Ledger::on_pool(pool.clone(), &LedgerOptions::default())
}

fn next_number() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A syntactically valid SSN no other test person of this process has.
pub fn unique_ssn() -> String {
    let n = next_number();
    format!(
        "{:03}-{:02}-{:04}",
        200 + (n / 1_000_000) % 600,
        10 + (n / 10_000) % 89,
        n % 10_000
    )
}

/// A syntactically valid EIN no other test institution of this process has.
pub fn unique_ein() -> String {
    let n = next_number();
    format!("{:02}-{:07}", 10 + (n / 10_000_000) % 89, n % 10_000_000)
}

/// A person submission (the demo's `person.json`) with `ssn` as cip_id and tax payer id.
pub fn person_json(ssn: &str) -> String {
    serde_json::json!({
        "person_details": {
            "first_name": "Ada",
            "last_name": "Quint",
            "date_of_birth": "1988-04-12",
            "address": {
                "country": "USA",
                "address1": "1 Main Street",
                "city": "New York",
                "province": "NY",
                "zip_code": "10001"
            },
            "nationality": "USA",
            "cip_id": ssn,
            "cip_id_type": "SSN",
            "cip_id_country": "USA",
            "email": "ada.quint@example.com",
            "verifier_type": "PASSTHROUGH",
            "passthrough_verifier_type": "PERSONA",
            "passthrough_verified_at": "2026-01-15T10:00:00Z",
            "passthrough_verification_id": "inq_test_0001",
            "passthrough_verification_status": "APPROVED",
            "passthrough_verification_fields": [
                "FULL_LEGAL_NAME", "ADDRESS", "DATE_OF_BIRTH", "CIP_ID"
            ]
        },
        "customer_due_diligence": {
            "estimated_yearly_income": "INCOME_100K_TO_250K",
            "expected_transfer_value": "TRANSFER_VALUE_25K_TO_50K",
            "source_of_wealth": "EMPLOYMENT_INCOME",
            "employment_status": "FULL_TIME",
            "employment_industry_sector": "FINANCE_INSURANCE"
        },
        "tax_details": [{ "tax_payer_id": ssn, "tax_payer_country": "USA" }],
        "metadata": { "channel": "test" }
    })
    .to_string()
}

/// A corporation submission (the demo's `institution.json`) naming `owner` as beneficial owner
/// and `control` as control person.
pub fn institution_json(ein: &str, owner: IdentityId, control: IdentityId) -> String {
    serde_json::json!({
        "institution_details": {
            "name": "Quint Robotics Inc",
            "business_address": {
                "country": "USA",
                "address1": "200 Market Street",
                "city": "San Francisco",
                "province": "CA",
                "zip_code": "94105"
            },
            "incorporation_address": {
                "country": "USA",
                "address1": "251 Little Falls Drive",
                "city": "Wilmington",
                "province": "DE",
                "zip_code": "19808"
            },
            "institution_type": "CORPORATION",
            "institution_sub_type": "MANUFACTURING",
            "cip_id": ein,
            "cip_id_type": "EIN",
            "cip_id_country": "USA",
            "govt_registration_date": "2019-03-01",
            "regulation_status": "NON_REGULATED",
            "trading_type": "PRIVATE",
            "business_description": "Industrial robotics design and manufacturing"
        },
        "institution_members": [
            { "identity_id": owner.to_string(), "roles": ["BENEFICIAL_OWNER"], "ownership": "60" },
            {
                "identity_id": control.to_string(),
                "roles": ["MANAGEMENT_CONTROL_PERSON", "ACCOUNT_OPENER"],
                "position": "CEO"
            }
        ],
        "customer_due_diligence": {
            "source_of_wealth": "BUSINESS_OWNERSHIP_DIVIDENDS",
            "source_of_funds": "BUSINESS_DIVIDENDS_PROFITS",
            "industry_sector": "MANUFACTURING",
            "has_underlying_trust_structure": false,
            "has_nominee_shareholders": false
        },
        "tax_details": [{ "tax_payer_id": ein, "tax_payer_country": "USA" }],
        "metadata": { "channel": "test" }
    })
    .to_string()
}

/// Parses a submission the way the ledger does.
pub fn submission(json: &str) -> IdentitySubmission {
    IdentityDraft::from_json(json)
        .and_then(IdentityDraft::parse)
        .expect("a valid submission")
}

/// Submits a new person with a fresh SSN; it is `PENDING`.
pub async fn submit_person(ledger: &Ledger, ctx: &CommandContext) -> IdentityId {
    ledger
        .submit_identity_json(ctx, &person_json(&unique_ssn()))
        .await
        .expect("a valid person is accepted")
}

/// The decision source of the tests.
pub fn officer() -> DecisionSource {
    DecisionSource::ComplianceOfficer {
        officer: "officer-7".to_owned(),
    }
}

/// A compliance officer's approval.
pub async fn approve(ledger: &Ledger, ctx: &CommandContext, id: IdentityId) {
    ledger
        .record_decision(ctx, id, Decision::Approved, officer(), None)
        .await
        .expect("a pending identity can be approved");
}

/// A submitted and approved person (two events).
pub async fn approved_person(ledger: &Ledger) -> IdentityId {
    let ctx = ctx();
    let id = submit_person(ledger, &ctx).await;
    approve(ledger, &ctx, id).await;
    id
}

/// US dollars.
pub fn usd() -> Asset {
    "USD".parse().expect("USD is an asset code")
}

/// An exact amount from its decimal text.
pub fn amount(text: &str) -> Amount {
    text.parse().expect("a decimal amount")
}

/// Credits `amount` USD to `profile`.
pub async fn fund(ledger: &Ledger, ctx: &CommandContext, profile: ProfileId, amount_usd: &str) {
    ledger
        .fund_profile(
            ctx,
            profile,
            format!("deposit-{}", next_number()),
            usd(),
            amount(amount_usd),
            FundingMethod::Deposit,
        )
        .await
        .expect("an open profile can be funded");
}

/// A limit buy of 0.1 BTC at 50000 USD (holds 5000 USD).
pub fn limit_buy(order_id: OrderId) -> OrderRequest {
    OrderRequest {
        order_id,
        side: OrderSide::Buy,
        market: "BTCUSD".parse().expect("a market"),
        order_type: OrderType::Limit,
        base_amount: Some(amount("0.1")),
        quote_amount: None,
        price: Some(amount("50000")),
        stop_price: None,
        time_in_force: TimeInForce::Gtc,
        expires_at: None,
    }
}

/// Places [`limit_buy`] on `profile`, fills 0.04 BTC, then the rest (four events).
pub async fn trade(ledger: &Ledger, ctx: &CommandContext, profile: ProfileId, order_id: OrderId) {
    ledger
        .place_order(ctx, profile, limit_buy(order_id))
        .await
        .expect("a funded profile can place the order");
    for (state, filled, price) in [
        (ReportedOrderState::Open, "0.04", "49900"),
        (ReportedOrderState::Filled, "0.1", "49950"),
    ] {
        ledger
            .record_order_update(
                ctx,
                profile,
                order_id,
                state,
                amount(filled),
                Some(amount(price)),
                None,
            )
            .await
            .expect("the venue's update is recorded");
    }
}

/// What one customer flow created.
#[derive(Debug, Clone, Copy)]
pub struct Flow {
    /// A person owning a joint account.
    pub owner: IdentityId,
    /// A person who is the joint account's second owner and the corporation's control person.
    pub member: IdentityId,
    /// A corporation with both persons as members.
    pub institution: IdentityId,
    /// The joint account.
    pub joint: OpenedAccount,
    /// The corporation's account.
    pub corporate: OpenedAccount,
    /// The order traded on the joint account.
    pub order: OrderId,
}

/// How many events [`customer_flow`] appends.
pub const EVENTS_PER_FLOW: i64 = 17;

/// Onboards two persons and a corporation naming both, opens a joint account and a corporate
/// one, funds both and trades on the joint one: 17 events, touching every read model.
pub async fn customer_flow(ledger: &Ledger, ctx: &CommandContext) -> Flow {
    let owner = submit_person(ledger, ctx).await;
    approve(ledger, ctx, owner).await;
    let member = submit_person(ledger, ctx).await;
    approve(ledger, ctx, member).await;
    let institution = ledger
        .submit_identity_json(ctx, &institution_json(&unique_ein(), owner, member))
        .await
        .expect("a valid corporation is accepted");
    let documents = Decision::DocumentsRequired {
        documents: vec!["ARTICLES_OF_INCORPORATION".to_owned()],
    };
    ledger
        .record_decision(ctx, institution, documents, officer(), None)
        .await
        .expect("documents can be asked for");
    approve(ledger, ctx, institution).await;

    let mut joint = AccountRequest::new(owner, AccountType::Brokerage);
    joint.members.push(AccountMember {
        identity_id: member,
        role: AccountMemberRole::BeneficialOwner,
    });
    let joint = ledger
        .open_account(ctx, joint)
        .await
        .expect("approved persons open a joint account");
    fund(ledger, ctx, joint.profile_id, "10000").await;
    let order = OrderId::new();
    trade(ledger, ctx, joint.profile_id, order).await;

    let corporate = ledger
        .open_account(
            ctx,
            AccountRequest::new(institution, AccountType::Brokerage),
        )
        .await
        .expect("an approved corporation opens an account");
    fund(ledger, ctx, corporate.profile_id, "250").await;
    Flow {
        owner,
        member,
        institution,
        joint,
        corporate,
        order,
    }
}
