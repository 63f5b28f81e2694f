//! Typed request and response bodies of the Paxos operations the mirror uses.
//!
//! Strict in what is sent: requests use closed vocabularies, exact decimals (sent as strings),
//! dates and timestamps in the forms the OpenAPI document asks for, and leave out empty optional
//! fields. Liberal in what is read: responses keep unknown statuses, accept `status` or
//! `summary_status`, a date or a timestamp for `date_of_birth`, decimals as strings (`".25"`,
//! `""`) or numbers, and the nested `{account, profile}` answer as well as the flat `Account`.
//!
//! Requests that carry personal data have a redacted `Debug`; their values leave the process
//! only as the serialized body.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use onboarding_domain::money::Market;
use onboarding_domain::values::CountryCode;
use onboarding_domain::vocab::{
    AccountMemberRole, AccountType, CipIdType, EmploymentStatus, FundsSource, IdentityStatus,
    IndustrySector, InstitutionType, MemberRole, OrderSide, OrderType, RegulationStatus,
    TimeInForce, TradingType, TransferValue, VerificationStatus, VerifiedField, VerifierType,
    WealthSource, YearlyIncome,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

macro_rules! redacted_debug {
    ($($ty:ident),+) => {$(
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($ty), "([redacted])"))
            }
        }
    )+};
}

// ---------------------------------------------------------------------------------------------
// Identities

/// `POST /identity/identities` (CreateIdentity). Paxos infers person or institution from which
/// details are present.
#[derive(Clone, PartialEq, Serialize)]
pub struct CreateIdentityRequest {
    /// For a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person_details: Option<PersonDetails>,
    /// For an institution.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub institution_details: Option<InstitutionDetails>,
    /// For an institution: its members, by Paxos identity id.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub institution_members: Vec<InstitutionMember>,
    /// The ledger's identity id: makes the create idempotent.
    pub ref_id: String,
    /// Caller labels.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Tax registrations.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tax_details: Vec<TaxDetail>,
    /// No tax details are needed for this customer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_details_not_required: Option<bool>,
    /// Due diligence answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_due_diligence: Option<CustomerDueDiligence>,
    /// Whether the identity is a merchant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_merchant: Option<bool>,
}

/// How a person's identity was verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verifier {
    /// By the integrator's own IDV provider, before creation (the `passthrough_*` fields).
    Passthrough,
    /// By Paxos.
    Paxos,
    /// Manually.
    Manual,
}

/// `person_details` of a create request.
#[derive(Clone, PartialEq, Serialize)]
pub struct PersonDetails {
    /// Given name.
    pub first_name: String,
    /// Middle name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    /// Family name.
    pub last_name: String,
    /// Date of birth, sent as `YYYY-MM-DD`.
    pub date_of_birth: NaiveDate,
    /// Residential address.
    pub address: Address,
    /// Nationality, ISO 3166-1 alpha-3.
    pub nationality: CountryCode,
    /// Document number.
    pub cip_id: String,
    /// Document type.
    pub cip_id_type: CipIdType,
    /// Issuing country.
    pub cip_id_country: CountryCode,
    /// Phone number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// Email address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Profession.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profession: Option<String>,
    /// Country of birth.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country_of_birth: Option<CountryCode>,
    /// How the identity was verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verifier_type: Option<Verifier>,
    /// The IDV provider (passthrough).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passthrough_verifier_type: Option<VerifierType>,
    /// When the provider verified (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passthrough_verified_at: Option<DateTime<Utc>>,
    /// The provider's verification id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passthrough_verification_id: Option<String>,
    /// The provider's conclusion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passthrough_verification_status: Option<VerificationStatus>,
    /// The facts the provider verified.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub passthrough_verification_fields: Vec<VerifiedField>,
}

/// A postal address.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Address {
    /// Country, ISO 3166-1 alpha-3.
    pub country: CountryCode,
    /// First line.
    pub address1: String,
    /// Second line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address2: Option<String>,
    /// City.
    pub city: String,
    /// Province or state.
    pub province: String,
    /// Postal code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zip_code: Option<String>,
}

/// `institution_details` of a create request.
#[derive(Clone, PartialEq, Serialize)]
pub struct InstitutionDetails {
    /// Legal name.
    pub name: String,
    /// Business address.
    pub business_address: Address,
    /// Address of incorporation.
    pub incorporation_address: Address,
    /// Phone number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// Email address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Trust, corporation, LLC or partnership.
    pub institution_type: InstitutionType,
    /// Line of business.
    pub institution_sub_type: IndustrySector,
    /// Registration document number.
    pub cip_id: String,
    /// Registration document type.
    pub cip_id_type: CipIdType,
    /// Issuing country.
    pub cip_id_country: CountryCode,
    /// Registration date, sent as a timestamp (the document types it `date-time`).
    pub govt_registration_date: DateTime<Utc>,
    /// Regulated, and where.
    pub regulation_status: RegulationStatus,
    /// Private, public or a public company's subsidiary.
    pub trading_type: TradingType,
    /// What the business does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business_description: Option<String>,
    /// Regulator (regulated institutions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regulator_name: Option<String>,
    /// Regulator's jurisdiction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regulator_jurisdiction: Option<String>,
    /// Number in the regulator's register.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regulator_register_number: Option<String>,
    /// Exchange (public institutions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listed_exchange: Option<String>,
    /// Ticker (public institutions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticker_symbol: Option<String>,
    /// Listed parent (publicly traded subsidiaries).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_institution_name: Option<String>,
}

/// A member of an institution, by Paxos identity id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstitutionMember {
    /// The member's Paxos identity id (an existing PERSON identity).
    pub identity_id: String,
    /// Its roles.
    pub roles: Vec<MemberRole>,
    /// Ownership in percent as a decimal string (`"25"` = 25%).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ownership: Option<Decimal>,
    /// Position, e.g. `CEO`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
}

/// A tax registration.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct TaxDetail {
    /// Tax payer number.
    pub tax_payer_id: String,
    /// Issuing country.
    pub tax_payer_country: CountryCode,
}

/// `customer_due_diligence`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CustomerDueDiligence {
    /// Income band (persons).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_yearly_income: Option<YearlyIncome>,
    /// Expected transfers band (persons).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_transfer_value: Option<TransferValue>,
    /// Source of wealth.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_of_wealth: Option<WealthSource>,
    /// Source of funds (institutions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_of_funds: Option<FundsSource>,
    /// Employment status (persons).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub employment_status: Option<EmploymentStatus>,
    /// Industry of employment (persons).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub employment_industry_sector: Option<IndustrySector>,
    /// Industry (institutions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub industry_sector: Option<IndustrySector>,
    /// Whether a trust sits underneath (institutions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_underlying_trust_structure: Option<bool>,
    /// Whether nominee shareholders exist (institutions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_nominee_shareholders: Option<bool>,
}

redacted_debug!(
    CreateIdentityRequest,
    PersonDetails,
    Address,
    InstitutionDetails,
    TaxDetail
);

/// `PUT /identity/identities/{id}` (UpdateIdentity): the fields the mirror changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UpdateIdentityRequest {
    /// `true` off-boards the identity (may hold and sell, may not buy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_user_disabled: Option<bool>,
    /// Replaces the caller labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
}

impl UpdateIdentityRequest {
    /// `{"set_user_disabled": true}`.
    pub fn disable() -> Self {
        Self {
            set_user_disabled: Some(true),
            metadata: None,
        }
    }
}

/// An identity as Paxos answers it. Personal details are read only when asked for
/// (`include_details`) and only the few fields below.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Identity {
    /// Paxos's identity id.
    pub id: String,
    /// Our `ref_id`.
    #[serde(default)]
    pub ref_id: Option<String>,
    /// `PERSON` or `INSTITUTION`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The status (older field name).
    #[serde(default)]
    pub summary_status: Option<String>,
    /// The status (newer field name).
    #[serde(default)]
    pub status: Option<String>,
    /// Off-boarded at the integrator's request.
    #[serde(default)]
    pub user_disabled: Option<bool>,
    /// Disabled by Paxos.
    #[serde(default)]
    pub admin_disabled: Option<bool>,
    /// Caller labels.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: BTreeMap<String, String>,
    /// When it was created.
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// When it last changed.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    /// Some person details, when included.
    #[serde(default)]
    pub person_details: Option<PersonView>,
    /// Institution members, when included.
    #[serde(default, deserialize_with = "null_as_default")]
    pub institution_members: Vec<MemberView>,
}

impl Identity {
    /// The status, from `status` or else `summary_status`; `None` if absent or unknown.
    pub fn status(&self) -> Option<IdentityStatus> {
        self.status
            .as_deref()
            .or(self.summary_status.as_deref())
            .and_then(|s| s.parse().ok())
    }
}

/// The person details this client reads back (redacted in `Debug`).
#[derive(Clone, PartialEq, Deserialize)]
pub struct PersonView {
    /// Date of birth; Paxos sends a date or a midnight timestamp.
    #[serde(default, with = "lenient_date")]
    pub date_of_birth: Option<NaiveDate>,
    /// How the identity was verified.
    #[serde(default)]
    pub verifier_type: Option<String>,
    /// Identity verification status.
    #[serde(default)]
    pub id_verification_status: Option<String>,
    /// Sanctions screening status.
    #[serde(default)]
    pub sanctions_verification_status: Option<String>,
}

redacted_debug!(PersonView);

/// An institution member as Paxos answers it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MemberView {
    /// The member's Paxos identity id.
    #[serde(default)]
    pub identity_id: Option<String>,
    /// Its roles, as spelled by Paxos.
    #[serde(default)]
    pub roles: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// Accounts, profiles, deposits

/// `POST /identity/accounts` (CreateAccount).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateAccountRequest {
    /// The account.
    pub account: NewAccount,
    /// Create its profile too (only possible at creation).
    pub create_profile: bool,
}

/// The `account` of a create request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewAccount {
    /// The owner's Paxos identity id.
    pub identity_id: String,
    /// The ledger's account id: makes the create idempotent.
    pub ref_id: String,
    /// The product.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub account_type: Option<AccountType>,
    /// A description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Caller labels.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Joint owners and other members.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<NewAccountMember>,
}

/// A member of a new account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewAccountMember {
    /// The member's Paxos identity id.
    pub identity_id: String,
    /// Its roles.
    pub roles: Vec<AccountMemberRole>,
}

/// An account as Paxos answers it (flat `Account`; the nested `{account, profile}` answer of
/// one cookbook is read into the same shape).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Account {
    /// Paxos's account id.
    pub id: String,
    /// The owner's Paxos identity id.
    #[serde(default)]
    pub identity_id: Option<String>,
    /// Our `ref_id`.
    #[serde(default)]
    pub ref_id: Option<String>,
    /// The profile holding the account's assets.
    #[serde(default)]
    pub profile_id: Option<String>,
    /// The product, as spelled by Paxos.
    #[serde(rename = "type", default)]
    pub account_type: Option<String>,
    /// The status.
    #[serde(default)]
    pub summary_status: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Caller labels.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: BTreeMap<String, String>,
    /// Off-boarded at the integrator's request.
    #[serde(default)]
    pub user_disabled: Option<bool>,
    /// Disabled by Paxos.
    #[serde(default)]
    pub admin_disabled: Option<bool>,
    /// When it was created.
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
}

/// The answer to an account create or get, in either shape.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum AccountAnswer {
    Nested {
        account: Account,
        #[serde(default)]
        profile: Option<ProfileRef>,
    },
    Flat(Account),
}

#[derive(Deserialize)]
pub(crate) struct ProfileRef {
    id: String,
}

impl From<AccountAnswer> for Account {
    fn from(answer: AccountAnswer) -> Self {
        match answer {
            AccountAnswer::Flat(account) => account,
            AccountAnswer::Nested {
                mut account,
                profile,
            } => {
                if account.profile_id.is_none() {
                    account.profile_id = profile.map(|p| p.id);
                }
                account
            }
        }
    }
}

/// `POST /sandbox/profiles/{profile_id}/deposit` (sandbox environments only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SandboxDepositRequest {
    /// The asset, e.g. `USD` or `BTC`.
    pub asset: String,
    /// How much, as a decimal string.
    pub amount: Decimal,
    /// The network, for crypto; omitted for fiat.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crypto_network: Option<String>,
}

/// The answer to a sandbox deposit.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SandboxDeposit {
    /// The activity created.
    #[serde(default)]
    pub activity_id: Option<String>,
}

/// One asset's balance in a profile.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Balance {
    /// The asset.
    pub asset: String,
    /// Free for new debits.
    #[serde(default, with = "lenient_decimal")]
    pub available: Option<Decimal>,
    /// Held by open orders.
    #[serde(default, with = "lenient_decimal")]
    pub trading: Option<Decimal>,
}

#[derive(Deserialize)]
pub(crate) struct BalancesAnswer {
    /// `items` in Paxos's answers and the schema's properties; `balances` in the schema's
    /// `required` list. Neither is an answer this client cannot read (not "no balances": a
    /// deposit's ambiguity check would misjudge it).
    #[serde(alias = "balances")]
    pub(crate) items: Vec<Balance>,
}

// ---------------------------------------------------------------------------------------------
// Orders

/// `POST /profiles/{profile_id}/orders` (CreateOrder).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateOrderRequest {
    /// The ledger's order id: makes the create idempotent.
    pub ref_id: String,
    /// Buy or sell.
    pub side: OrderSide,
    /// The market, e.g. `BTCUSD`.
    pub market: Market,
    /// How it executes.
    #[serde(rename = "type")]
    pub order_type: OrderType,
    /// Base amount (limit orders, market sells).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_amount: Option<Decimal>,
    /// Quote amount (market buys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quote_amount: Option<Decimal>,
    /// Limit price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<Decimal>,
    /// Stop price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_price: Option<Decimal>,
    /// How long it stays open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_in_force: Option<TimeInForce>,
    /// Expiry of a `GTT` order: Unix milliseconds as a string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_date: Option<String>,
    /// The end user and account the order is for (both or neither).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<OnBehalfOf>,
    /// Caller labels.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// The end user an order is placed for: `identity_id` and `identity_account_id` go together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OnBehalfOf {
    /// The Paxos identity id.
    pub identity_id: String,
    /// The Paxos account id the identity trades under.
    pub identity_account_id: String,
}

/// An order's status as Paxos reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Accepted, not yet on the book.
    PendingSubmission,
    /// Submitted to the book.
    Submitted,
    /// Working.
    Open,
    /// Completely filled.
    Filled,
    /// Cancelled (possibly partly filled).
    Cancelled,
    /// Rejected.
    Rejected,
    /// A status this client does not know yet.
    #[serde(other)]
    Unknown,
}

impl OrderStatus {
    /// Whether the order can change no more.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Filled | Self::Cancelled | Self::Rejected)
    }
}

/// An order as Paxos answers it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Order {
    /// Paxos's order id.
    pub id: String,
    /// The profile.
    #[serde(default)]
    pub profile_id: Option<String>,
    /// Our `ref_id`.
    #[serde(default)]
    pub ref_id: Option<String>,
    /// The status.
    #[serde(default)]
    pub status: Option<OrderStatus>,
    /// `BUY` or `SELL`.
    #[serde(default)]
    pub side: Option<String>,
    /// The market.
    #[serde(default)]
    pub market: Option<String>,
    /// The order type.
    #[serde(rename = "type", default)]
    pub order_type: Option<String>,
    /// Base amount.
    #[serde(default, with = "lenient_decimal")]
    pub base_amount: Option<Decimal>,
    /// Quote amount.
    #[serde(default, with = "lenient_decimal")]
    pub quote_amount: Option<Decimal>,
    /// Limit price.
    #[serde(default, with = "lenient_decimal")]
    pub price: Option<Decimal>,
    /// Base amount filled so far.
    #[serde(default, with = "lenient_decimal")]
    pub amount_filled: Option<Decimal>,
    /// Volume-weighted average fill price.
    #[serde(default, with = "lenient_decimal")]
    pub volume_weighted_average_price: Option<Decimal>,
    /// Time in force.
    #[serde(default)]
    pub time_in_force: Option<String>,
    /// The end user.
    #[serde(default)]
    pub identity_id: Option<String>,
    /// The end user's account.
    #[serde(default)]
    pub identity_account_id: Option<String>,
    /// When it was created.
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// When it last changed.
    #[serde(default)]
    pub modified_at: Option<DateTime<Utc>>,
}

// ---------------------------------------------------------------------------------------------
// Events and webhooks

/// The event types the onboarding flow knows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventType {
    /// `identity.approved`.
    IdentityApproved,
    /// `identity.denied`.
    IdentityDenied,
    /// `identity.disabled`.
    IdentityDisabled,
    /// `identity.documents_required`.
    IdentityDocumentsRequired,
    /// `identity.kyc_refresh.started`.
    KycRefreshStarted,
    /// `identity.kyc_refresh.completed`.
    KycRefreshCompleted,
    /// `identity.kyc_refresh.expired`.
    KycRefreshExpired,
    /// Any other type, as spelled.
    Other(String),
}

impl EventType {
    /// Reads a type string.
    pub fn parse(text: &str) -> Self {
        match text {
            "identity.approved" => Self::IdentityApproved,
            "identity.denied" => Self::IdentityDenied,
            "identity.disabled" => Self::IdentityDisabled,
            "identity.documents_required" => Self::IdentityDocumentsRequired,
            "identity.kyc_refresh.started" => Self::KycRefreshStarted,
            "identity.kyc_refresh.completed" => Self::KycRefreshCompleted,
            "identity.kyc_refresh.expired" => Self::KycRefreshExpired,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The type string.
    pub fn as_str(&self) -> &str {
        match self {
            Self::IdentityApproved => "identity.approved",
            Self::IdentityDenied => "identity.denied",
            Self::IdentityDisabled => "identity.disabled",
            Self::IdentityDocumentsRequired => "identity.documents_required",
            Self::KycRefreshStarted => "identity.kyc_refresh.started",
            Self::KycRefreshCompleted => "identity.kyc_refresh.completed",
            Self::KycRefreshExpired => "identity.kyc_refresh.expired",
            Self::Other(s) => s,
        }
    }
}

/// An event as `GET /events/{id}` answers it: the source of truth for a webhook.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Event {
    /// The event id (also the webhook's `id`).
    pub id: String,
    /// The type, e.g. `identity.approved` (empty when Paxos sends none: the spec marks no
    /// field of an event required, and an event of no type is one the ledger ignores, where a
    /// page failing to decode would stop the poller for every event after it).
    #[serde(rename = "type", default)]
    pub event_type: String,
    /// The object's type, e.g. `identity_summary_status_change`.
    #[serde(default)]
    pub object_type: Option<String>,
    /// The object: for identity events `identity_id`, `old_summary_status`,
    /// `new_summary_status` or `required_documents`.
    #[serde(default)]
    pub object: Value,
    /// When the event was created (the paging key of `GET /events`; events can share one).
    /// Required here, though the spec marks no field required: without it an event cannot be
    /// paged past, so a page holding one fails to decode (`Error::Decode`), to be reported.
    pub created_at: DateTime<Utc>,
    /// Whether it is a test event.
    #[serde(default)]
    pub is_test: Option<bool>,
}

impl Event {
    /// The type, parsed.
    pub fn kind(&self) -> EventType {
        EventType::parse(&self.event_type)
    }

    /// The Paxos identity the event is about, if any.
    pub fn identity_id(&self) -> Option<&str> {
        self.object.get("identity_id").and_then(Value::as_str)
    }

    /// The status the identity moved from, for status change events.
    pub fn old_summary_status(&self) -> Option<IdentityStatus> {
        self.object
            .get("old_summary_status")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
    }

    /// The status the identity moved to, for status change events.
    pub fn new_summary_status(&self) -> Option<IdentityStatus> {
        self.object
            .get("new_summary_status")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
    }

    /// The documents asked for, for `identity.documents_required`.
    pub fn required_documents(&self) -> Vec<String> {
        self.object
            .get("required_documents")
            .and_then(Value::as_array)
            .map(|docs| {
                docs.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[derive(Deserialize)]
pub(crate) struct EventsAnswer {
    #[serde(default)]
    pub(crate) events: Vec<Event>,
}

/// The filters of `GET /events` (ListEvents). Results are ascending by `created_at`, with no
/// cursor: page by the last event's `created_at`, as `created_from` (and skip the events already
/// seen at that instant, since several events can share one) rather than `created_after` (which
/// would skip the unseen rest of an instant a page ended in).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventsQuery {
    /// Only events created strictly after this instant (`created_at.gt`).
    pub created_after: Option<DateTime<Utc>>,
    /// Only events created at or after this instant (`created_at.gte`).
    pub created_from: Option<DateTime<Utc>>,
    /// At most this many (1 to 100; Paxos's default is 100).
    pub limit: Option<u32>,
    /// Only events of this type.
    pub event_type: Option<String>,
}

impl EventsQuery {
    /// The query parameters. Timestamps keep every fractional digit.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(t) = self.created_after {
            pairs.push((
                "created_at.gt",
                t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            ));
        }
        if let Some(t) = self.created_from {
            pairs.push((
                "created_at.gte",
                t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            ));
        }
        if let Some(l) = self.limit {
            pairs.push(("limit", l.to_string()));
        }
        if let Some(t) = &self.event_type {
            pairs.push(("type", t.clone()));
        }
        pairs
    }
}

/// A webhook delivery: metadata only. Never trust it; fetch the event by `id`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct WebhookDelivery {
    /// The event id.
    pub id: String,
    /// The event type, as the delivery claims it.
    #[serde(rename = "type")]
    pub event_type: String,
    /// `com.paxos`.
    #[serde(default)]
    pub source: Option<String>,
    /// When the event happened, as the delivery claims it.
    #[serde(default)]
    pub time: Option<String>,
    /// `event`.
    #[serde(default)]
    pub object: Option<String>,
    /// Whether it is a test delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_test: Option<bool>,
}

// ---------------------------------------------------------------------------------------------
// Lenient readers

/// `T::default()` for a JSON `null` as for a missing field: a null list or map of labels means
/// none (the spec marks no response field non-nullable).
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Reads an optional decimal written as a string (`"1.5"`, `".25"`, `""` = none) or a number.
pub mod lenient_decimal {
    use std::str::FromStr;

    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};
    use serde_json::Value;

    /// Parses the text forms Paxos uses.
    pub fn parse(text: &str) -> Option<Decimal> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        let padded;
        let text = if let Some(rest) = text.strip_prefix('.') {
            padded = format!("0.{rest}");
            &padded
        } else {
            text
        };
        Decimal::from_str(text)
            .or_else(|_| Decimal::from_scientific(text))
            .ok()
    }

    /// Deserializes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        match Option::<Value>::deserialize(d)? {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => parse(&s)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom("not a decimal number")),
            Some(Value::Number(n)) => parse(&n.to_string())
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom("not a decimal number")),
            Some(_) => Err(serde::de::Error::custom(
                "expected a decimal string or number",
            )),
        }
    }

    /// Serializes as a decimal string.
    pub fn serialize<S: Serializer>(value: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_str(&d.to_string()),
            None => s.serialize_none(),
        }
    }
}

/// Reads an optional date written as `YYYY-MM-DD` or as an RFC 3339 timestamp.
pub mod lenient_date {
    use chrono::NaiveDate;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Deserializes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) if s.trim().is_empty() => Ok(None),
            Some(s) => onboarding_domain::values::parse_date_or_timestamp(&s)
                .map(Some)
                .map_err(|_| serde::de::Error::custom("not a date or timestamp")),
        }
    }

    /// Serializes as `YYYY-MM-DD`.
    pub fn serialize<S: Serializer>(value: &Option<NaiveDate>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_str(&d.format("%Y-%m-%d").to_string()),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn null_labels_and_members_read_as_none() {
        let i: Identity = serde_json::from_value(
            json!({"id": "1", "metadata": null, "institution_members": null}),
        )
        .unwrap();
        assert!(i.metadata.is_empty() && i.institution_members.is_empty());
    }

    #[test]
    fn balances_read_under_either_name_and_not_at_all_without_one() {
        let items: BalancesAnswer =
            serde_json::from_value(json!({"items": [{"asset": "USD", "available": "5"}]})).unwrap();
        let balances: BalancesAnswer =
            serde_json::from_value(json!({"balances": [{"asset": "USD", "available": "5"}]}))
                .unwrap();
        assert_eq!(items.items, balances.items);
        assert_eq!(items.items.len(), 1);
        assert!(serde_json::from_value::<BalancesAnswer>(json!({})).is_err());
    }

    #[test]
    fn an_event_without_a_type_reads_as_one_of_no_known_kind() {
        let e: Event = serde_json::from_value(
            json!({"id": "e1", "created_at": "2026-11-29T10:00:00.123Z", "object": {}}),
        )
        .unwrap();
        assert_eq!(e.event_type, "");
        assert_eq!(e.kind(), EventType::parse(""));
        assert!(e.identity_id().is_none());
    }

    #[test]
    fn identities_read_either_status_field() {
        let a: Identity =
            serde_json::from_value(json!({"id": "1", "summary_status": "APPROVED"})).unwrap();
        assert_eq!(a.status(), Some(IdentityStatus::Approved));
        let b: Identity = serde_json::from_value(
            json!({"id": "1", "status": "DISABLED", "summary_status": "APPROVED"}),
        )
        .unwrap();
        assert_eq!(b.status(), Some(IdentityStatus::Disabled));
        let c: Identity = serde_json::from_value(json!({"id": "1", "status": "NEW_ONE"})).unwrap();
        assert_eq!(c.status(), None);
    }

    #[test]
    fn date_of_birth_is_read_as_date_or_timestamp() {
        for dob in ["1980-01-01", "1980-01-01T00:00:00Z"] {
            let i: Identity = serde_json::from_value(
                json!({"id": "1", "person_details": {"date_of_birth": dob}}),
            )
            .unwrap();
            assert_eq!(
                i.person_details.unwrap().date_of_birth,
                NaiveDate::from_ymd_opt(1980, 1, 1)
            );
        }
    }

    #[test]
    fn accounts_are_read_flat_or_nested() {
        let flat: AccountAnswer =
            serde_json::from_value(json!({"id": "a", "profile_id": "p"})).unwrap();
        let nested: AccountAnswer =
            serde_json::from_value(json!({"account": {"id": "a"}, "profile": {"id": "p"}}))
                .unwrap();
        for answer in [flat, nested] {
            let account = Account::from(answer);
            assert_eq!(account.id, "a");
            assert_eq!(account.profile_id.as_deref(), Some("p"));
        }
    }

    #[test]
    fn order_amounts_are_read_leniently() {
        let o: Order = serde_json::from_value(json!({
            "id": "o", "status": "SOMETHING_NEW", "quote_amount": "", "base_amount": ".25",
            "price": 190.23, "amount_filled": "0.00000000"
        }))
        .unwrap();
        assert_eq!(o.status, Some(OrderStatus::Unknown));
        assert_eq!(o.quote_amount, None);
        assert_eq!(o.base_amount, Some(Decimal::new(25, 2)));
        assert_eq!(o.price, Some(Decimal::new(19023, 2)));
        assert_eq!(o.amount_filled, Some(Decimal::ZERO));
    }

    #[test]
    fn order_requests_send_both_or_neither_end_user_field() {
        let mut req = CreateOrderRequest {
            ref_id: "r".into(),
            side: OrderSide::Buy,
            market: "BTCUSD".parse().unwrap(),
            order_type: OrderType::Market,
            base_amount: None,
            quote_amount: Some(Decimal::new(10050, 2)),
            price: None,
            stop_price: None,
            time_in_force: None,
            expiration_date: None,
            on_behalf_of: None,
            metadata: BTreeMap::new(),
        };
        let body = serde_json::to_value(&req).unwrap();
        assert_eq!(
            body,
            json!({"ref_id": "r", "side": "BUY", "market": "BTCUSD", "type": "MARKET",
                   "quote_amount": "100.50"})
        );
        req.on_behalf_of = Some(OnBehalfOf {
            identity_id: "i".into(),
            identity_account_id: "a".into(),
        });
        let body = serde_json::to_value(&req).unwrap();
        assert_eq!(body["identity_id"], "i");
        assert_eq!(body["identity_account_id"], "a");
    }

    #[test]
    fn events_query_keeps_sub_second_precision() {
        let t = DateTime::parse_from_rfc3339("2023-08-25T14:25:41.648489333Z")
            .unwrap()
            .with_timezone(&Utc);
        let q = EventsQuery {
            created_after: Some(t),
            limit: Some(10),
            ..EventsQuery::default()
        };
        assert_eq!(
            q.to_pairs(),
            vec![
                ("created_at.gt", "2023-08-25T14:25:41.648489333Z".to_owned()),
                ("limit", "10".to_owned())
            ]
        );
    }
}
