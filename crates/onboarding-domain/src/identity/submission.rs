//! A submitted identity, fully typed: what `SubmitIdentity` carries and `IdentitySubmitted` stores.
//!
//! Personal data sits in [`PersonPii`] / [`InstitutionPii`]; everything else is plain facts that
//! may appear in audit summaries.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::IdentityId;
use crate::money::Percentage;
use crate::pii::{InstitutionPii, PersonPii, Personal, TaxDetail};
use crate::values::{CipKey, CountryCode, Text};
use crate::vocab::{
    CipIdType, EmploymentStatus, FundsSource, IdentityKind, IndustrySector, InstitutionType,
    MemberRole, RegulationStatus, TradingType, TransferValue, VerificationStatus, VerifiedField,
    VerifierType, WealthSource, YearlyIncome,
};

/// A person or an institution, as submitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IdentitySubmission {
    /// A natural person.
    Person(PersonSubmission),
    /// A legal entity.
    Institution(InstitutionSubmission),
}

impl IdentitySubmission {
    /// Person or institution.
    pub fn kind(&self) -> IdentityKind {
        match self {
            Self::Person(_) => IdentityKind::Person,
            Self::Institution(_) => IdentityKind::Institution,
        }
    }

    /// The document facts that must be unique across identities (`None` unless the personal
    /// data is in clear).
    pub fn cip_key(&self) -> Option<CipKey> {
        match self {
            Self::Person(p) => p.pii.clear().map(|pii| CipKey {
                cip_id: pii.cip_id.clone(),
                cip_id_type: p.details.cip_id_type,
                cip_id_country: p.details.cip_id_country,
            }),
            Self::Institution(i) => i.pii.clear().map(|pii| CipKey {
                cip_id: pii.cip_id.clone(),
                cip_id_type: i.details.cip_id_type,
                cip_id_country: i.details.cip_id_country,
            }),
        }
    }

    /// Facts common to both kinds.
    pub fn common(&self) -> &SubmissionCommon {
        match self {
            Self::Person(p) => &p.common,
            Self::Institution(i) => &i.common,
        }
    }

    /// The institution's members (none for a person).
    pub fn members(&self) -> &[InstitutionMember] {
        match self {
            Self::Person(_) => &[],
            Self::Institution(i) => &i.details.members,
        }
    }
}

/// Facts every submission carries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmissionCommon {
    /// Caller-defined labels (must not hold personal data; they are not encrypted).
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// The caller states that no tax details are needed for this customer.
    #[serde(default)]
    pub tax_details_not_required: bool,
    /// Whether the identity is a merchant.
    #[serde(default)]
    pub is_merchant: bool,
}

/// A person: personal data apart, facts beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonSubmission {
    /// Names, birth date, address, document number, contacts.
    pub pii: Personal<PersonPii>,
    /// Tax registrations (personal data, sealed apart).
    pub tax_details: Personal<Vec<TaxDetail>>,
    /// Everything else.
    pub details: PersonDetails,
    /// Facts common to both kinds.
    #[serde(default)]
    pub common: SubmissionCommon,
}

/// The non-personal facts about a person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonDetails {
    /// Nationality.
    pub nationality: CountryCode,
    /// The kind of identity document.
    pub cip_id_type: CipIdType,
    /// The country that issued it.
    pub cip_id_country: CountryCode,
    /// Country of birth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_of_birth: Option<CountryCode>,
    /// Profession.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profession: Option<Text>,
    /// The identity verification done before submission.
    pub verification: PassthroughVerification,
    /// Customer due diligence answers.
    pub due_diligence: PersonDueDiligence,
}

/// The record of identity verification done by the integrator's provider (`PASSTHROUGH`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassthroughVerification {
    /// The provider.
    pub verifier: VerifierType,
    /// The provider's id of the verification.
    pub verification_id: Text,
    /// When it was done.
    pub verified_at: DateTime<Utc>,
    /// What the provider concluded.
    pub status: VerificationStatus,
    /// The facts it verified.
    pub fields: BTreeSet<VerifiedField>,
}

/// A person's due diligence answers; all are required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonDueDiligence {
    /// Income band.
    pub estimated_yearly_income: YearlyIncome,
    /// Expected transfers band.
    pub expected_transfer_value: TransferValue,
    /// Source of wealth.
    pub source_of_wealth: WealthSource,
    /// Employment status.
    pub employment_status: EmploymentStatus,
    /// Industry of employment.
    pub employment_industry_sector: IndustrySector,
}

/// An institution: identifying data apart, facts and members beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstitutionSubmission {
    /// Name, addresses, registration number, contacts.
    pub pii: Personal<InstitutionPii>,
    /// Tax registrations (sealed apart).
    pub tax_details: Personal<Vec<TaxDetail>>,
    /// Everything else.
    pub details: InstitutionDetails,
    /// Facts common to both kinds.
    #[serde(default)]
    pub common: SubmissionCommon,
}

/// The non-identifying facts about an institution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstitutionDetails {
    /// Trust, corporation, LLC or partnership.
    pub institution_type: InstitutionType,
    /// Line of business.
    pub institution_sub_type: IndustrySector,
    /// The kind of registration document.
    pub cip_id_type: CipIdType,
    /// The country that issued it.
    pub cip_id_country: CountryCode,
    /// When it was registered with its government.
    pub govt_registration_date: NaiveDate,
    /// Regulated, and where.
    pub regulation_status: RegulationStatus,
    /// Private, public, or a public company's subsidiary.
    pub trading_type: TradingType,
    /// What the business does.
    pub business_description: Text,
    /// The regulator, for a regulated private institution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regulator: Option<Regulator>,
    /// The listing, for a public institution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listing: Option<Listing>,
    /// The listed parent, for a publicly traded subsidiary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_institution_name: Option<Text>,
    /// Due diligence (required for corporations, LLCs and partnerships).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_diligence: Option<InstitutionDueDiligence>,
    /// The persons with roles in the institution.
    pub members: Vec<InstitutionMember>,
}

/// The regulator of a regulated institution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Regulator {
    /// The regulator's name.
    pub name: Text,
    /// Its jurisdiction.
    pub jurisdiction: Text,
    /// The institution's number in the regulator's register.
    pub register_number: Text,
}

/// Where a public institution is listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    /// The exchange.
    pub exchange: Text,
    /// The ticker symbol.
    pub ticker_symbol: Text,
}

/// An institution's due diligence answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstitutionDueDiligence {
    /// Source of wealth.
    pub source_of_wealth: WealthSource,
    /// Source of funds.
    pub source_of_funds: FundsSource,
    /// Industry.
    pub industry_sector: IndustrySector,
    /// Whether a trust sits underneath.
    pub has_underlying_trust_structure: bool,
    /// Whether nominee shareholders exist.
    pub has_nominee_shareholders: bool,
}

/// A person identity with roles in an institution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstitutionMember {
    /// The member: a person identity in this ledger.
    pub identity_id: IdentityId,
    /// Its roles (at least one).
    pub roles: BTreeSet<MemberRole>,
    /// Its ownership share, for beneficial owners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ownership: Option<Percentage>,
    /// Its position, e.g. `CEO`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Text>,
}
