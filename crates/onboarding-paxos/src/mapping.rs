//! From the ledger's domain to Paxos's wire, and back.
//!
//! Outbound: a submitted identity, an account opening, a funding and an order become the request
//! bodies of Create Identity, Create Account, the sandbox deposit and Create Order. Each create
//! carries the ledger's own id as `ref_id`. Ledger identity ids (institution members, account
//! owners and members) are translated to Paxos identity ids through a map the caller supplies;
//! an id missing from it means that identity is not mirrored yet, and the request is not built.
//! Personal data leaves the domain's `pii` structures only here, into the request body.
//!
//! Inbound: a Paxos event becomes the domain's onboarding [`Decision`], and a Paxos order the
//! domain's [`ReportedOrderState`] with its cumulative fill.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use onboarding_domain::identity::submission::{
    InstitutionSubmission, PersonSubmission, SubmissionCommon,
};
use onboarding_domain::money::{Amount, Asset};
use onboarding_domain::pii::{self, Personal, TaxDetail as DomainTaxDetail};
use onboarding_domain::{
    AccountOpening, Decision, IdentityId, IdentitySubmission, OrderRequest, ReportedOrderState,
};

use crate::model::{
    Address, CreateAccountRequest, CreateIdentityRequest, CreateOrderRequest, CustomerDueDiligence,
    Event, EventType, InstitutionDetails, InstitutionMember, NewAccount, NewAccountMember,
    OnBehalfOf, Order, OrderStatus, PersonDetails, SandboxDepositRequest, TaxDetail,
    UpdateIdentityRequest, Verifier,
};

/// Translates ledger identity ids to Paxos identity ids (`None`: not mirrored yet).
pub trait PaxosIdentityIds {
    /// The Paxos id of ledger identity `id`.
    fn paxos_identity_id(&self, id: IdentityId) -> Option<String>;
}

impl<S: BuildHasher> PaxosIdentityIds for HashMap<IdentityId, String, S> {
    fn paxos_identity_id(&self, id: IdentityId) -> Option<String> {
        self.get(&id).cloned()
    }
}

impl PaxosIdentityIds for BTreeMap<IdentityId, String> {
    fn paxos_identity_id(&self, id: IdentityId) -> Option<String> {
        self.get(&id).cloned()
    }
}

/// Why a request could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// These identities have no Paxos id yet: mirror them first, then build the request again.
    #[error("identities not yet mirrored to Paxos: {0:?}")]
    NotMirrored(Vec<IdentityId>),
    /// The personal data is sealed: open it with the identity's data key, then map the clear
    /// submission.
    #[error("the personal data is sealed; open it before mapping")]
    PersonalDataSealed,
    /// The personal data was erased: this identity can no longer be mirrored.
    #[error("the personal data was erased; the identity cannot be mirrored")]
    PersonalDataErased,
    /// Paxos requires request field `field`, and this client knows no value of it for `value`
    /// (e.g. the `crypto_network` of an asset it has no network for). Paxos would refuse the
    /// request, so it is not built: record it as rejected, or teach the mapping the value.
    #[error("no `{field}` is known for {value}")]
    Unmappable {
        /// The request field, as Paxos names it (e.g. `crypto_network`).
        field: &'static str,
        /// What it was to be derived from (e.g. the asset code); never personal data.
        value: String,
    },
}

/// The clear value inside `personal`, or why there is none.
fn clear<T>(personal: &Personal<T>) -> Result<&T, MappingError> {
    match personal {
        Personal::Clear(t) => Ok(t),
        Personal::Sealed { .. } => Err(MappingError::PersonalDataSealed),
        Personal::Erased { .. } => Err(MappingError::PersonalDataErased),
    }
}

fn resolve(
    ids: &impl PaxosIdentityIds,
    wanted: impl IntoIterator<Item = IdentityId>,
) -> Result<Vec<String>, MappingError> {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for id in wanted {
        match ids.paxos_identity_id(id) {
            Some(p) => found.push(p),
            None => missing.push(id),
        }
    }
    if missing.is_empty() {
        Ok(found)
    } else {
        Err(MappingError::NotMirrored(missing))
    }
}

fn address(a: &pii::Address) -> Address {
    Address {
        country: a.country,
        address1: a.address1.as_str().to_owned(),
        address2: a.address2.as_ref().map(|t| t.as_str().to_owned()),
        city: a.city.as_str().to_owned(),
        province: a.province.as_str().to_owned(),
        zip_code: a.zip_code.as_ref().map(|t| t.as_str().to_owned()),
    }
}

fn tax_details(list: &[DomainTaxDetail]) -> Vec<TaxDetail> {
    list.iter()
        .map(|t| TaxDetail {
            tax_payer_id: t.tax_payer_id.as_str().to_owned(),
            tax_payer_country: t.tax_payer_country,
        })
        .collect()
}

/// Midnight UTC of `date`: the document types `govt_registration_date` as a timestamp.
fn midnight(date: NaiveDate) -> DateTime<Utc> {
    date.and_time(NaiveTime::MIN).and_utc()
}

fn base_request(
    id: IdentityId,
    common: &SubmissionCommon,
    tax: &[DomainTaxDetail],
) -> CreateIdentityRequest {
    CreateIdentityRequest {
        person_details: None,
        institution_details: None,
        institution_members: Vec::new(),
        ref_id: id.to_string(),
        metadata: common.metadata.clone(),
        tax_details: tax_details(tax),
        tax_details_not_required: common.tax_details_not_required.then_some(true),
        customer_due_diligence: None,
        is_merchant: common.is_merchant.then_some(true),
    }
}

fn person(id: IdentityId, p: &PersonSubmission) -> Result<CreateIdentityRequest, MappingError> {
    let (pii, details) = (clear(&p.pii)?, &p.details);
    let tax = clear(&p.tax_details)?;
    let v = &details.verification;
    let dd = &details.due_diligence;
    Ok(CreateIdentityRequest {
        person_details: Some(PersonDetails {
            first_name: pii.first_name.as_str().to_owned(),
            middle_name: pii.middle_name.as_ref().map(|t| t.as_str().to_owned()),
            last_name: pii.last_name.as_str().to_owned(),
            date_of_birth: pii.date_of_birth,
            address: address(&pii.address),
            nationality: details.nationality,
            cip_id: pii.cip_id.expose().to_owned(),
            cip_id_type: details.cip_id_type,
            cip_id_country: details.cip_id_country,
            phone_number: pii.phone_number.as_ref().map(|t| t.as_str().to_owned()),
            email: pii.email.clone(),
            profession: details.profession.as_ref().map(|t| t.as_str().to_owned()),
            country_of_birth: details.country_of_birth,
            verifier_type: Some(Verifier::Passthrough),
            passthrough_verifier_type: Some(v.verifier),
            passthrough_verified_at: Some(v.verified_at),
            passthrough_verification_id: Some(v.verification_id.as_str().to_owned()),
            passthrough_verification_status: Some(v.status),
            passthrough_verification_fields: v.fields.iter().copied().collect(),
        }),
        customer_due_diligence: Some(CustomerDueDiligence {
            estimated_yearly_income: Some(dd.estimated_yearly_income),
            expected_transfer_value: Some(dd.expected_transfer_value),
            source_of_wealth: Some(dd.source_of_wealth),
            employment_status: Some(dd.employment_status),
            employment_industry_sector: Some(dd.employment_industry_sector),
            ..CustomerDueDiligence::default()
        }),
        ..base_request(id, &p.common, tax)
    })
}

fn institution(
    id: IdentityId,
    i: &InstitutionSubmission,
    ids: &impl PaxosIdentityIds,
) -> Result<CreateIdentityRequest, MappingError> {
    let (pii, d) = (clear(&i.pii)?, &i.details);
    let tax = clear(&i.tax_details)?;
    let paxos_ids = resolve(ids, d.members.iter().map(|m| m.identity_id))?;
    let members = d
        .members
        .iter()
        .zip(paxos_ids)
        .map(|(m, paxos_id)| InstitutionMember {
            identity_id: paxos_id,
            roles: m.roles.iter().copied().collect(),
            ownership: m.ownership.map(|o| o.value()),
            position: m.position.as_ref().map(|t| t.as_str().to_owned()),
        })
        .collect();
    let text = |t: &onboarding_domain::values::Text| t.as_str().to_owned();
    Ok(CreateIdentityRequest {
        institution_details: Some(InstitutionDetails {
            name: text(&pii.name),
            business_address: address(&pii.business_address),
            incorporation_address: address(&pii.incorporation_address),
            phone_number: pii.phone_number.as_ref().map(text),
            email: pii.email.clone(),
            institution_type: d.institution_type,
            institution_sub_type: d.institution_sub_type,
            cip_id: pii.cip_id.expose().to_owned(),
            cip_id_type: d.cip_id_type,
            cip_id_country: d.cip_id_country,
            govt_registration_date: midnight(d.govt_registration_date),
            regulation_status: d.regulation_status,
            trading_type: d.trading_type,
            business_description: Some(text(&d.business_description)),
            regulator_name: d.regulator.as_ref().map(|r| text(&r.name)),
            regulator_jurisdiction: d.regulator.as_ref().map(|r| text(&r.jurisdiction)),
            regulator_register_number: d.regulator.as_ref().map(|r| text(&r.register_number)),
            listed_exchange: d.listing.as_ref().map(|l| text(&l.exchange)),
            ticker_symbol: d.listing.as_ref().map(|l| text(&l.ticker_symbol)),
            parent_institution_name: d.parent_institution_name.as_ref().map(text),
        }),
        institution_members: members,
        customer_due_diligence: d.due_diligence.map(|dd| CustomerDueDiligence {
            source_of_wealth: Some(dd.source_of_wealth),
            source_of_funds: Some(dd.source_of_funds),
            industry_sector: Some(dd.industry_sector),
            has_underlying_trust_structure: Some(dd.has_underlying_trust_structure),
            has_nominee_shareholders: Some(dd.has_nominee_shareholders),
            ..CustomerDueDiligence::default()
        }),
        ..base_request(id, &i.common, tax)
    })
}

/// Create Identity for ledger identity `id`; institution members are translated through `ids`.
pub fn create_identity(
    id: IdentityId,
    submission: &IdentitySubmission,
    ids: &impl PaxosIdentityIds,
) -> Result<CreateIdentityRequest, MappingError> {
    match submission {
        IdentitySubmission::Person(p) => person(id, p),
        IdentitySubmission::Institution(i) => institution(id, i, ids),
    }
}

/// Create Account (with its profile) for an account opening; owner and members are translated
/// through `ids`.
pub fn create_account(
    opening: &AccountOpening,
    ids: &impl PaxosIdentityIds,
) -> Result<CreateAccountRequest, MappingError> {
    let wanted =
        std::iter::once(opening.owner).chain(opening.members.iter().map(|m| m.identity_id));
    let mut paxos_ids = resolve(ids, wanted)?.into_iter();
    let owner = paxos_ids.next().unwrap_or_default();
    let members = opening
        .members
        .iter()
        .zip(paxos_ids)
        .map(|(m, identity_id)| NewAccountMember {
            identity_id,
            roles: vec![m.role],
        })
        .collect();
    Ok(CreateAccountRequest {
        account: NewAccount {
            identity_id: owner,
            ref_id: opening.account_id.to_string(),
            account_type: Some(opening.account_type),
            description: opening.description.as_ref().map(|t| t.as_str().to_owned()),
            metadata: BTreeMap::new(),
            members,
        },
        create_profile: true,
    })
}

/// The fiat currencies of Paxos's market enumerations (the quote currencies of `Market` and of
/// the order book's `market`): deposited without a network.
const FIAT: &[&str] = &["USD", "EUR", "SGD", "GBP", "BRL", "MXN"];

/// The `CryptoNetwork` (a value of the spec's enumeration) a sandbox deposit names, for the crypto
/// assets of Paxos's market enumerations and the stablecoins USDG and USDC. Coins name their own
/// chain; tokens name Ethereum, where each is an ERC-20 (stablecoins that also live on other
/// chains included).
const CRYPTO_NETWORKS: &[(&str, &str)] = &[
    ("BTC", "BITCOIN"),
    ("ETH", "ETHEREUM"),
    ("BCH", "BITCOIN_CASH"),
    ("LTC", "LITECOIN"),
    ("SOL", "SOLANA"),
    ("PAXG", "ETHEREUM"),
    ("USDP", "ETHEREUM"),
    ("PYUSD", "ETHEREUM"),
    ("USDG", "ETHEREUM"),
    ("USDC", "ETHEREUM"),
    ("LINK", "ETHEREUM"),
    ("MATIC", "ETHEREUM"),
    ("AAVE", "ETHEREUM"),
    ("UNI", "ETHEREUM"),
];

/// The `crypto_network` a sandbox deposit of `asset` names: `None` for fiat, which Paxos wants
/// without one. An asset that is neither known fiat nor a crypto asset with a known network is
/// [`MappingError::Unmappable`]: Paxos refuses a crypto deposit without a network.
pub fn crypto_network(asset: &Asset) -> Result<Option<&'static str>, MappingError> {
    let code = asset.as_str();
    if FIAT.contains(&code) {
        return Ok(None);
    }
    CRYPTO_NETWORKS
        .iter()
        .find(|(crypto, _)| *crypto == code)
        .map(|(_, network)| Some(*network))
        .ok_or_else(|| MappingError::Unmappable {
            field: "crypto_network",
            value: code.to_owned(),
        })
}

/// The sandbox deposit mirroring sandbox test funds: fiat without a network, crypto on the
/// network [`crypto_network`] names (an asset without one is not built).
pub fn sandbox_deposit(
    asset: &Asset,
    amount: Amount,
) -> Result<SandboxDepositRequest, MappingError> {
    Ok(SandboxDepositRequest {
        asset: asset.as_str().to_owned(),
        amount: amount.value(),
        crypto_network: crypto_network(asset)?.map(str::to_owned),
    })
}

/// Create Order for `order`, placed for the Paxos identity and account given.
pub fn create_order(
    order: &OrderRequest,
    paxos_identity_id: &str,
    paxos_account_id: &str,
) -> CreateOrderRequest {
    CreateOrderRequest {
        ref_id: order.order_id.to_string(),
        side: order.side,
        market: order.market,
        order_type: order.order_type,
        base_amount: order.base_amount.map(Amount::value),
        quote_amount: order.quote_amount.map(Amount::value),
        price: order.price.map(Amount::value),
        stop_price: order.stop_price.map(Amount::value),
        time_in_force: Some(order.time_in_force),
        expiration_date: order.expires_at.map(|t| t.timestamp_millis().to_string()),
        on_behalf_of: Some(OnBehalfOf {
            identity_id: paxos_identity_id.to_owned(),
            identity_account_id: paxos_account_id.to_owned(),
        }),
        metadata: BTreeMap::new(),
    }
}

/// Update Identity for off-boarding.
pub fn disable_identity() -> UpdateIdentityRequest {
    UpdateIdentityRequest::disable()
}

/// The onboarding decision an event records, for the identity events that carry one.
pub fn decision(event: &Event) -> Option<Decision> {
    match event.kind() {
        EventType::IdentityApproved => Some(Decision::Approved),
        EventType::IdentityDenied => Some(Decision::Denied),
        EventType::IdentityDisabled => Some(Decision::Disabled),
        EventType::IdentityDocumentsRequired => Some(Decision::DocumentsRequired {
            documents: event.required_documents(),
        }),
        _ => None,
    }
}

/// An order's progress as the domain records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderProgress {
    /// Working or final.
    pub state: ReportedOrderState,
    /// Base amount filled so far (cumulative).
    pub amount_filled: Amount,
    /// Volume-weighted average price, once anything filled.
    pub average_price: Option<Amount>,
}

/// The order's progress, or `None` when Paxos reports no status or one this client does not
/// know (poll again later).
pub fn order_progress(order: &Order) -> Option<OrderProgress> {
    let state = match order.status? {
        OrderStatus::PendingSubmission | OrderStatus::Submitted | OrderStatus::Open => {
            ReportedOrderState::Open
        }
        OrderStatus::Filled => ReportedOrderState::Filled,
        OrderStatus::Cancelled => ReportedOrderState::Cancelled,
        OrderStatus::Rejected => ReportedOrderState::Rejected,
        OrderStatus::Unknown => return None,
    };
    let amount_filled = order
        .amount_filled
        .and_then(|a| Amount::new(a).ok())
        .unwrap_or(Amount::ZERO);
    let average_price = if amount_filled.is_zero() {
        None
    } else {
        order
            .volume_weighted_average_price
            .and_then(|p| Amount::new(p).ok())
            .filter(|p| !p.is_zero())
    };
    Some(OrderProgress {
        state,
        amount_filled,
        average_price,
    })
}

#[cfg(test)]
mod tests {
    use paxos_sandbox::spec::PAXOS_V2_OPENAPI;
    use paxos_sandbox::{rules, Operation, RequestSchemas};
    use serde_json::Value;

    use super::*;

    fn deposit(asset: &str) -> Result<SandboxDepositRequest, MappingError> {
        sandbox_deposit(&asset.parse().unwrap(), "1.5".parse().unwrap())
    }

    #[test]
    fn a_bitcoin_deposit_names_the_bitcoin_network() {
        let request = deposit("BTC").unwrap();
        assert_eq!(request.crypto_network.as_deref(), Some("BITCOIN"));
    }

    #[test]
    fn a_fiat_deposit_names_no_network() {
        for fiat in FIAT {
            assert_eq!(deposit(fiat).unwrap().crypto_network, None, "{fiat}");
        }
    }

    #[test]
    fn an_asset_without_a_known_network_is_refused_naming_the_field() {
        let err = deposit("DOGE").unwrap_err();
        assert_eq!(
            err,
            MappingError::Unmappable {
                field: "crypto_network",
                value: "DOGE".to_owned()
            }
        );
        assert_eq!(err.to_string(), "no `crypto_network` is known for DOGE");
    }

    #[test]
    fn every_mapped_network_is_one_the_spec_enumerates() {
        let doc: Value = serde_json::from_str(PAXOS_V2_OPENAPI).unwrap();
        let networks = doc["components"]["schemas"]["CryptoNetwork"]["enum"]
            .as_array()
            .unwrap();
        for (asset, network) in CRYPTO_NETWORKS {
            assert!(
                networks.contains(&Value::from(*network)),
                "{asset}: {network}"
            );
        }
    }

    #[test]
    fn every_mapped_deposit_passes_the_schema_and_the_sandbox_rules() {
        let assets = FIAT
            .iter()
            .copied()
            .chain(CRYPTO_NETWORKS.iter().map(|(asset, _)| *asset));
        for asset in assets {
            let body = serde_json::to_value(deposit(asset).unwrap()).unwrap();
            let schema =
                RequestSchemas::embedded().validate(Operation::CreateSandboxDeposit, &body);
            assert_eq!(schema, Ok(()), "{asset}");
            assert_eq!(rules::create_sandbox_deposit(&body), Vec::new(), "{asset}");
        }
    }
}
