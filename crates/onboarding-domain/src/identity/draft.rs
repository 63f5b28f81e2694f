//! The submission as a caller writes it: JSON in the shape of Paxos's `CreateIdentity` body
//! (`person_details` or `institution_details`, `institution_members` naming ledger identity ids,
//! `tax_details`, `customer_due_diligence`, `metadata`), parsed into a typed
//! [`IdentitySubmission`].
//!
//! Every field is optional text here so that a missing or malformed field becomes a
//! [`Violation`](crate::Violation) naming the field, never a panic and never a message that
//! echoes the value.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::submission::*;
use crate::ids::IdentityId;
use crate::money::Percentage;
use crate::pii::{Address, InstitutionPii, PersonPii, Personal, TaxDetail};
use crate::values::{
    parse_date, parse_date_or_timestamp, CipNumber, CountryCode, Text, ValueError,
};
use crate::violation::{Problem, Violations};
use crate::vocab::{CipIdType, UnknownValue};

/// A submission as written by a caller, before any checks.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct IdentityDraft {
    /// For a person.
    pub person_details: Option<PersonDraft>,
    /// For an institution.
    pub institution_details: Option<InstitutionDraft>,
    /// For an institution: its members.
    pub institution_members: Option<Vec<MemberDraft>>,
    /// Tax registrations.
    pub tax_details: Option<Vec<TaxDraft>>,
    /// The caller states that no tax details are needed.
    pub tax_details_not_required: Option<bool>,
    /// Due diligence answers.
    pub customer_due_diligence: Option<DueDiligenceDraft>,
    /// Caller labels.
    pub metadata: Option<BTreeMap<String, String>>,
    /// Whether the identity is a merchant.
    pub is_merchant: Option<bool>,
    /// Ignored: the ledger's identity id is the `ref_id`.
    pub ref_id: Option<String>,
}

/// `person_details` as written.
#[derive(Default, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct PersonDraft {
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    pub last_name: Option<String>,
    pub date_of_birth: Option<String>,
    pub address: Option<AddressDraft>,
    pub nationality: Option<String>,
    pub cip_id: Option<String>,
    pub cip_id_type: Option<String>,
    pub cip_id_country: Option<String>,
    pub phone_number: Option<String>,
    pub email: Option<String>,
    pub profession: Option<String>,
    pub country_of_birth: Option<String>,
    pub verifier_type: Option<String>,
    pub passthrough_verifier_type: Option<String>,
    pub passthrough_verified_at: Option<String>,
    pub passthrough_verification_id: Option<String>,
    pub passthrough_verification_status: Option<String>,
    pub passthrough_verification_fields: Option<Vec<String>>,
}

/// `institution_details` as written.
#[derive(Default, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct InstitutionDraft {
    pub name: Option<String>,
    pub business_address: Option<AddressDraft>,
    pub incorporation_address: Option<AddressDraft>,
    pub phone_number: Option<String>,
    pub email: Option<String>,
    pub institution_type: Option<String>,
    pub institution_sub_type: Option<String>,
    pub cip_id: Option<String>,
    pub cip_id_type: Option<String>,
    pub cip_id_country: Option<String>,
    pub govt_registration_date: Option<String>,
    pub regulation_status: Option<String>,
    pub trading_type: Option<String>,
    pub business_description: Option<String>,
    pub regulator_name: Option<String>,
    pub regulator_jurisdiction: Option<String>,
    pub regulator_register_number: Option<String>,
    pub listed_exchange: Option<String>,
    pub ticker_symbol: Option<String>,
    pub parent_institution_name: Option<String>,
}

/// An address as written.
#[derive(Default, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct AddressDraft {
    pub country: Option<String>,
    pub address1: Option<String>,
    pub address2: Option<String>,
    pub city: Option<String>,
    pub province: Option<String>,
    pub zip_code: Option<String>,
}

/// An institution member as written.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct MemberDraft {
    pub identity_id: Option<String>,
    pub roles: Option<Vec<String>>,
    pub ownership: Option<String>,
    pub position: Option<String>,
}

/// A tax registration as written.
#[derive(Default, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct TaxDraft {
    pub tax_payer_id: Option<String>,
    pub tax_payer_country: Option<String>,
}

/// `customer_due_diligence` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct DueDiligenceDraft {
    pub estimated_yearly_income: Option<String>,
    pub expected_transfer_value: Option<String>,
    pub source_of_wealth: Option<String>,
    pub source_of_funds: Option<String>,
    pub employment_status: Option<String>,
    pub employment_industry_sector: Option<String>,
    pub industry_sector: Option<String>,
    pub has_underlying_trust_structure: Option<bool>,
    pub has_nominee_shareholders: Option<bool>,
}

// Drafts hold raw personal data: their Debug output is redacted like the typed values'.
macro_rules! redacted_draft_debug {
    ($($ty:ident),+) => {$(
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($ty), "(redacted)"))
            }
        }
    )+};
}
redacted_draft_debug!(PersonDraft, InstitutionDraft, AddressDraft, TaxDraft);

impl IdentityDraft {
    /// Reads a draft from JSON text. A syntax error or a value of the wrong JSON type is reported
    /// with its position or field path, never with the offending value.
    pub fn from_json(text: &str) -> Result<Self, Violations> {
        let shape = |problem: String| {
            let mut v = Violations::new();
            v.push("$", Problem::Shape(problem));
            v
        };
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            shape(format!(
                "is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        if !value.is_object() {
            return Err(shape("must be a JSON object".to_owned()));
        }
        serde_path_to_error::deserialize(value).map_err(|err| {
            let path = err.path().to_string();
            let mut v = Violations::new();
            v.push(
                if path == "." { "$".to_owned() } else { path },
                Problem::Shape("has the wrong JSON type".to_owned()),
            );
            v
        })
    }

    /// Checks every field and builds the typed submission, or lists every problem found.
    pub fn parse(self) -> Result<IdentitySubmission, Violations> {
        let mut p = FieldParser::default();
        let common = SubmissionCommon {
            metadata: self.metadata.unwrap_or_default(),
            tax_details_not_required: self.tax_details_not_required.unwrap_or(false),
            is_merchant: self.is_merchant.unwrap_or(false),
        };
        let tax_details = parse_tax_details(&mut p, self.tax_details.unwrap_or_default());
        let dd = self.customer_due_diligence;
        let submission = match (self.person_details, self.institution_details) {
            (Some(person), None) => {
                if self
                    .institution_members
                    .as_ref()
                    .is_some_and(|m| !m.is_empty())
                {
                    p.v.push("institution_members", Problem::NotAllowed);
                }
                parse_person(&mut p, person, dd, tax_details, common)
                    .map(IdentitySubmission::Person)
            }
            (None, Some(institution)) => parse_institution(
                &mut p,
                institution,
                self.institution_members.unwrap_or_default(),
                dd,
                tax_details,
                common,
            )
            .map(IdentitySubmission::Institution),
            (Some(_), Some(_)) => {
                p.v.push("institution_details", Problem::NotAllowed);
                None
            }
            (None, None) => {
                p.v.push("person_details", Problem::Missing);
                None
            }
        };
        match submission {
            Some(s) if p.v.is_empty() => Ok(s),
            _ => Err(p.v),
        }
    }
}

/// Accumulates violations while converting optional text into typed values.
#[derive(Default)]
struct FieldParser {
    v: Violations,
}

impl FieldParser {
    fn required<T, E: Into<Problem>>(
        &mut self,
        field: &str,
        value: Option<&str>,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        match value.map(str::trim).filter(|s| !s.is_empty()) {
            None => {
                self.v.push(field, Problem::Missing);
                None
            }
            Some(s) => self.optional(field, Some(s), parse),
        }
    }

    fn optional<T, E: Into<Problem>>(
        &mut self,
        field: &str,
        value: Option<&str>,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        let s = value.map(str::trim).filter(|s| !s.is_empty())?;
        match parse(s) {
            Ok(t) => Some(t),
            Err(e) => {
                self.v.push(field, e.into());
                None
            }
        }
    }

    fn text(&mut self, field: &str, value: Option<&str>, max: usize) -> Option<Text> {
        self.required(field, value, |s| Text::parse(s, max))
    }

    fn opt_text(&mut self, field: &str, value: Option<&str>, max: usize) -> Option<Text> {
        self.optional(field, value, |s| Text::parse(s, max))
    }

    fn vocab<T: FromStr<Err = UnknownValue>>(
        &mut self,
        field: &str,
        value: Option<&str>,
    ) -> Option<T> {
        self.required(field, value, T::from_str)
    }

    fn country(&mut self, field: &str, value: Option<&str>) -> Option<CountryCode> {
        self.required(field, value, CountryCode::from_str)
    }

    fn email(&mut self, field: &str, value: Option<&str>) -> Option<String> {
        self.optional(field, value, |s| {
            let ok = s.len() <= 254
                && s.split_once('@')
                    .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !s.contains(' '));
            if ok {
                Ok(s.to_owned())
            } else {
                Err(Problem::Shape("must be an email address".to_owned()))
            }
        })
    }

    fn address(&mut self, field: &str, draft: Option<AddressDraft>) -> Option<Address> {
        let Some(a) = draft else {
            self.v.push(field, Problem::Missing);
            return None;
        };
        let max = Text::ADDRESS_MAX;
        let country = self.country(&format!("{field}.country"), a.country.as_deref());
        let address1 = self.text(&format!("{field}.address1"), a.address1.as_deref(), max);
        let address2 = self.opt_text(&format!("{field}.address2"), a.address2.as_deref(), max);
        let city = self.text(&format!("{field}.city"), a.city.as_deref(), max);
        let province = self.text(&format!("{field}.province"), a.province.as_deref(), max);
        let zip_code = self.opt_text(&format!("{field}.zip_code"), a.zip_code.as_deref(), max);
        Some(Address {
            country: country?,
            address1: address1?,
            address2,
            city: city?,
            province: province?,
            zip_code,
        })
    }

    fn cip(
        &mut self,
        prefix: &str,
        id: Option<&str>,
        kind: Option<&str>,
        country: Option<&str>,
    ) -> Option<(CipNumber, CipIdType, CountryCode)> {
        let kind: Option<CipIdType> = self.vocab(&format!("{prefix}.cip_id_type"), kind);
        let country = self.country(&format!("{prefix}.cip_id_country"), country);
        let field = format!("{prefix}.cip_id");
        let number = match kind {
            Some(k) => self.required(&field, id, |s| CipNumber::parse(k, s)),
            None => self.text(&field, id, Text::NAME_MAX).and(None),
        };
        Some((number?, kind?, country?))
    }
}

fn parse_tax_details(p: &mut FieldParser, drafts: Vec<TaxDraft>) -> Vec<TaxDetail> {
    drafts
        .into_iter()
        .enumerate()
        .filter_map(|(i, t)| {
            let id = p.text(
                &format!("tax_details[{i}].tax_payer_id"),
                t.tax_payer_id.as_deref(),
                35,
            );
            let country = p.country(
                &format!("tax_details[{i}].tax_payer_country"),
                t.tax_payer_country.as_deref(),
            );
            Some(TaxDetail {
                tax_payer_id: id?,
                tax_payer_country: country?,
            })
        })
        .collect()
}

fn parse_person(
    p: &mut FieldParser,
    d: PersonDraft,
    dd: Option<DueDiligenceDraft>,
    tax_details: Vec<TaxDetail>,
    common: SubmissionCommon,
) -> Option<PersonSubmission> {
    let f = |name: &str| format!("person_details.{name}");
    let max = Text::NAME_MAX;
    let first_name = p.text(&f("first_name"), d.first_name.as_deref(), max);
    let middle_name = p.opt_text(&f("middle_name"), d.middle_name.as_deref(), max);
    let last_name = p.text(&f("last_name"), d.last_name.as_deref(), max);
    let date_of_birth = p.required(&f("date_of_birth"), d.date_of_birth.as_deref(), parse_date);
    let address = p.address(&f("address"), d.address);
    let nationality = p.country(&f("nationality"), d.nationality.as_deref());
    let cip = p.cip(
        "person_details",
        d.cip_id.as_deref(),
        d.cip_id_type.as_deref(),
        d.cip_id_country.as_deref(),
    );
    let phone_number = p.optional(&f("phone_number"), d.phone_number.as_deref(), |s| {
        Text::parse_printable(s, 50)
    });
    let email = p.email(&f("email"), d.email.as_deref());
    let profession = p.optional(&f("profession"), d.profession.as_deref(), |s| {
        Text::parse_printable(s, max)
    });
    let country_of_birth = p.optional(
        &f("country_of_birth"),
        d.country_of_birth.as_deref(),
        CountryCode::from_str,
    );
    match d.verifier_type.as_deref().map(str::trim) {
        Some("PASSTHROUGH") => {}
        None | Some("") => p.v.push(f("verifier_type"), Problem::Missing),
        Some(_) => p.v.push(
            f("verifier_type"),
            Problem::Shape(
                "must be PASSTHROUGH: identity verification is done before submission".to_owned(),
            ),
        ),
    }
    let verifier = p.vocab(
        &f("passthrough_verifier_type"),
        d.passthrough_verifier_type.as_deref(),
    );
    let verified_at = p.required(
        &f("passthrough_verified_at"),
        d.passthrough_verified_at.as_deref(),
        |s| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| ValueError::NotATimestamp)
        },
    );
    let verification_id = p.required(
        &f("passthrough_verification_id"),
        d.passthrough_verification_id.as_deref(),
        |s| Text::parse_printable(s, max),
    );
    let status = p.vocab(
        &f("passthrough_verification_status"),
        d.passthrough_verification_status.as_deref(),
    );
    let fields_path = f("passthrough_verification_fields");
    let mut fields = BTreeSet::new();
    match d.passthrough_verification_fields {
        None => p.v.push(&fields_path, Problem::Missing),
        Some(list) if list.is_empty() => p.v.push(&fields_path, Problem::Empty),
        Some(list) => {
            for (i, s) in list.iter().enumerate() {
                if let Some(field) = p.vocab(&format!("{fields_path}[{i}]"), Some(s)) {
                    fields.insert(field);
                }
            }
        }
    }
    let due_diligence = parse_person_due_diligence(p, dd);

    let (cip_id, cip_id_type, cip_id_country) = cip?;
    Some(PersonSubmission {
        pii: Personal::Clear(PersonPii {
            first_name: first_name?,
            middle_name,
            last_name: last_name?,
            date_of_birth: date_of_birth?,
            address: address?,
            cip_id,
            phone_number,
            email,
        }),
        tax_details: Personal::Clear(tax_details),
        details: PersonDetails {
            nationality: nationality?,
            cip_id_type,
            cip_id_country,
            country_of_birth,
            profession,
            verification: PassthroughVerification {
                verifier: verifier?,
                verification_id: verification_id?,
                verified_at: verified_at?,
                status: status?,
                fields,
            },
            due_diligence: due_diligence?,
        },
        common,
    })
}

fn parse_person_due_diligence(
    p: &mut FieldParser,
    dd: Option<DueDiligenceDraft>,
) -> Option<PersonDueDiligence> {
    let Some(dd) = dd else {
        p.v.push("customer_due_diligence", Problem::Missing);
        return None;
    };
    let f = |name: &str| format!("customer_due_diligence.{name}");
    let income = p.vocab(
        &f("estimated_yearly_income"),
        dd.estimated_yearly_income.as_deref(),
    );
    let transfer = p.vocab(
        &f("expected_transfer_value"),
        dd.expected_transfer_value.as_deref(),
    );
    let wealth = p.vocab(&f("source_of_wealth"), dd.source_of_wealth.as_deref());
    let employment = p.vocab(&f("employment_status"), dd.employment_status.as_deref());
    let sector = p.vocab(
        &f("employment_industry_sector"),
        dd.employment_industry_sector.as_deref(),
    );
    Some(PersonDueDiligence {
        estimated_yearly_income: income?,
        expected_transfer_value: transfer?,
        source_of_wealth: wealth?,
        employment_status: employment?,
        employment_industry_sector: sector?,
    })
}

fn parse_institution(
    p: &mut FieldParser,
    d: InstitutionDraft,
    members: Vec<MemberDraft>,
    dd: Option<DueDiligenceDraft>,
    tax_details: Vec<TaxDetail>,
    common: SubmissionCommon,
) -> Option<InstitutionSubmission> {
    let f = |name: &str| format!("institution_details.{name}");
    let max = Text::NAME_MAX;
    let name = p.text(&f("name"), d.name.as_deref(), max);
    let business_address = p.address(&f("business_address"), d.business_address);
    let incorporation_address = p.address(&f("incorporation_address"), d.incorporation_address);
    let phone_number = p.optional(&f("phone_number"), d.phone_number.as_deref(), |s| {
        Text::parse_printable(s, 50)
    });
    let email = p.email(&f("email"), d.email.as_deref());
    let institution_type = p.vocab(&f("institution_type"), d.institution_type.as_deref());
    let institution_sub_type = p.vocab(
        &f("institution_sub_type"),
        d.institution_sub_type.as_deref(),
    );
    let cip = p.cip(
        "institution_details",
        d.cip_id.as_deref(),
        d.cip_id_type.as_deref(),
        d.cip_id_country.as_deref(),
    );
    let govt_registration_date = p.required(
        &f("govt_registration_date"),
        d.govt_registration_date.as_deref(),
        parse_date_or_timestamp,
    );
    let regulation_status = p.vocab(&f("regulation_status"), d.regulation_status.as_deref());
    let trading_type = p.vocab(&f("trading_type"), d.trading_type.as_deref());
    let business_description = p.text(
        &f("business_description"),
        d.business_description.as_deref(),
        1000,
    );

    // Conditional fields are parsed when present; whether they are required is a rule
    // (see `rules`), checked once the types are known.
    let regulator_name = p.opt_text(&f("regulator_name"), d.regulator_name.as_deref(), max);
    let regulator_jurisdiction = p.opt_text(
        &f("regulator_jurisdiction"),
        d.regulator_jurisdiction.as_deref(),
        max,
    );
    let regulator_register_number = p.opt_text(
        &f("regulator_register_number"),
        d.regulator_register_number.as_deref(),
        max,
    );
    let regulator = match (
        regulator_name,
        regulator_jurisdiction,
        regulator_register_number,
    ) {
        (None, None, None) => None,
        (Some(name), Some(jurisdiction), Some(register_number)) => Some(Regulator {
            name,
            jurisdiction,
            register_number,
        }),
        (name, jurisdiction, number) => {
            for (field, value) in [
                ("regulator_name", name.is_some()),
                ("regulator_jurisdiction", jurisdiction.is_some()),
                ("regulator_register_number", number.is_some()),
            ] {
                if !value {
                    p.v.push(f(field), Problem::Missing);
                }
            }
            None
        }
    };
    let exchange = p.opt_text(&f("listed_exchange"), d.listed_exchange.as_deref(), max);
    let ticker = p.opt_text(&f("ticker_symbol"), d.ticker_symbol.as_deref(), 20);
    let listing = match (exchange, ticker) {
        (None, None) => None,
        (Some(exchange), Some(ticker_symbol)) => Some(Listing {
            exchange,
            ticker_symbol,
        }),
        (exchange, _) => {
            let missing = if exchange.is_none() {
                "listed_exchange"
            } else {
                "ticker_symbol"
            };
            p.v.push(f(missing), Problem::Missing);
            None
        }
    };
    let parent_institution_name = p.opt_text(
        &f("parent_institution_name"),
        d.parent_institution_name.as_deref(),
        max,
    );
    let due_diligence = dd.and_then(|dd| parse_institution_due_diligence(p, dd));
    let members = parse_members(p, members);

    let (cip_id, cip_id_type, cip_id_country) = cip?;
    Some(InstitutionSubmission {
        pii: Personal::Clear(InstitutionPii {
            name: name?,
            business_address: business_address?,
            incorporation_address: incorporation_address?,
            cip_id,
            phone_number,
            email,
        }),
        tax_details: Personal::Clear(tax_details),
        details: InstitutionDetails {
            institution_type: institution_type?,
            institution_sub_type: institution_sub_type?,
            cip_id_type,
            cip_id_country,
            govt_registration_date: govt_registration_date?,
            regulation_status: regulation_status?,
            trading_type: trading_type?,
            business_description: business_description?,
            regulator,
            listing,
            parent_institution_name,
            due_diligence,
            members: members?,
        },
        common,
    })
}

fn parse_institution_due_diligence(
    p: &mut FieldParser,
    dd: DueDiligenceDraft,
) -> Option<InstitutionDueDiligence> {
    let f = |name: &str| format!("customer_due_diligence.{name}");
    let wealth = p.vocab(&f("source_of_wealth"), dd.source_of_wealth.as_deref());
    let funds = p.vocab(&f("source_of_funds"), dd.source_of_funds.as_deref());
    let sector = p.vocab(&f("industry_sector"), dd.industry_sector.as_deref());
    let trust = dd.has_underlying_trust_structure;
    let nominee = dd.has_nominee_shareholders;
    if trust.is_none() {
        p.v.push(f("has_underlying_trust_structure"), Problem::Missing);
    }
    if nominee.is_none() {
        p.v.push(f("has_nominee_shareholders"), Problem::Missing);
    }
    Some(InstitutionDueDiligence {
        source_of_wealth: wealth?,
        source_of_funds: funds?,
        industry_sector: sector?,
        has_underlying_trust_structure: trust?,
        has_nominee_shareholders: nominee?,
    })
}

fn parse_members(p: &mut FieldParser, drafts: Vec<MemberDraft>) -> Option<Vec<InstitutionMember>> {
    if drafts.is_empty() {
        p.v.push("institution_members", Problem::Empty);
        return None;
    }
    let before = p.v.clone();
    let members: Vec<InstitutionMember> = drafts
        .into_iter()
        .enumerate()
        .filter_map(|(i, m)| {
            let f = |name: &str| format!("institution_members[{i}].{name}");
            let id = p.required(
                &f("identity_id"),
                m.identity_id.as_deref(),
                IdentityId::from_str,
            );
            let mut roles = BTreeSet::new();
            match m.roles {
                None => p.v.push(f("roles"), Problem::Missing),
                Some(list) if list.is_empty() => p.v.push(f("roles"), Problem::Empty),
                Some(list) => {
                    for (j, r) in list.iter().enumerate() {
                        if let Some(role) = p.vocab(&format!("{}[{j}]", f("roles")), Some(r)) {
                            roles.insert(role);
                        }
                    }
                }
            }
            let ownership = p.optional(
                &f("ownership"),
                m.ownership.as_deref(),
                Percentage::from_str,
            );
            let position = p.opt_text(&f("position"), m.position.as_deref(), Text::NAME_MAX);
            Some(InstitutionMember {
                identity_id: id?,
                roles,
                ownership,
                position,
            })
        })
        .collect();
    (p.v == before).then_some(members)
}

impl From<crate::ids::InvalidId> for Problem {
    fn from(e: crate::ids::InvalidId) -> Self {
        Problem::Shape(e.to_string())
    }
}
