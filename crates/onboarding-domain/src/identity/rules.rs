//! The rules a typed submission must still satisfy: those that relate fields to each other, to
//! the clock, or to other identities. Each returns every violation it finds.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::submission::{InstitutionSubmission, PersonSubmission};
use crate::ids::IdentityId;
use crate::services::IdentityFacts;
use crate::values::CountryCode;
use crate::violation::{Problem, Violations};
use crate::vocab::{IdentityKind, IdentityStatus, InstitutionType, MemberRole, TradingType};

/// The share a beneficial owner needs to count as the owner a business must name.
pub const QUALIFYING_OWNERSHIP: Decimal = Decimal::from_parts(25, 0, 0, false, 0);

/// Checks a person against the clock and the document rules.
pub fn check_person(person: &PersonSubmission, now: DateTime<Utc>) -> Violations {
    let mut v = Violations::new();
    let (Some(pii), Some(tax_details)) = (person.pii.clear(), person.tax_details.clear()) else {
        v.push("person_details", Problem::NotInClear);
        return v;
    };
    if pii.date_of_birth >= now.date_naive() {
        v.push("person_details.date_of_birth", Problem::NotInThePast);
    }
    if person.details.verification.verified_at > now {
        v.push(
            "person_details.passthrough_verified_at",
            Problem::InTheFuture,
        );
    }
    let cip_type = person.details.cip_id_type;
    if !cip_type.allowed_for_person() {
        v.push(
            "person_details.cip_id_type",
            Problem::CipTypeNotAllowed {
                cip_id_type: cip_type.to_string(),
                kind: IdentityKind::Person,
            },
        );
    } else if pii.address.country == CountryCode::USA
        && !matches!(
            cip_type,
            crate::vocab::CipIdType::Ssn | crate::vocab::CipIdType::Itin
        )
    {
        v.push(
            "person_details.cip_id_type",
            Problem::UsResidentNeedsSsnOrItin,
        );
    }
    // Submissions built by `IdentityDraft` are checked already; one deserialized by a caller
    // only as text.
    if let Err(e) = pii.cip_id.check_for(cip_type) {
        v.push("person_details.cip_id", Problem::Value(e));
    }
    if tax_details.is_empty() && !person.common.tax_details_not_required {
        v.push("tax_details", Problem::Missing);
    }
    v
}

/// Checks an institution's type-specific fields and its member roles and shares (not yet whether
/// the members exist: see [`check_members`]).
pub fn check_institution(inst: &InstitutionSubmission, now: DateTime<Utc>) -> Violations {
    let mut v = Violations::new();
    let (Some(pii), Some(tax_details)) = (inst.pii.clear(), inst.tax_details.clear()) else {
        v.push("institution_details", Problem::NotInClear);
        return v;
    };
    let d = &inst.details;
    let f = |name: &str| format!("institution_details.{name}");
    if !d.cip_id_type.allowed_for_institution() {
        v.push(
            f("cip_id_type"),
            Problem::CipTypeNotAllowed {
                cip_id_type: d.cip_id_type.to_string(),
                kind: IdentityKind::Institution,
            },
        );
    }
    if let Err(e) = pii.cip_id.check_for(d.cip_id_type) {
        v.push(f("cip_id"), Problem::Value(e));
    }
    if d.govt_registration_date > now.date_naive() {
        v.push(f("govt_registration_date"), Problem::InTheFuture);
    }
    if d.institution_type == InstitutionType::Trust
        && d.institution_sub_type != crate::vocab::IndustrySector::Investment
    {
        v.push(
            f("institution_sub_type"),
            Problem::TrustSubTypeMustBeInvestment,
        );
    }
    if d.regulation_status.is_regulated()
        && d.trading_type == TradingType::Private
        && d.regulator.is_none()
    {
        v.push(f("regulator_name"), Problem::Missing);
    }
    if d.trading_type == TradingType::Public && d.listing.is_none() {
        v.push(f("listed_exchange"), Problem::Missing);
    }
    if d.trading_type == TradingType::PubliclyTradedSubsidiary
        && d.parent_institution_name.is_none()
    {
        v.push(f("parent_institution_name"), Problem::Missing);
    }
    if d.institution_type.is_business() && d.due_diligence.is_none() {
        v.push("customer_due_diligence", Problem::Missing);
    }
    if tax_details.is_empty() && !inst.common.tax_details_not_required {
        v.push("tax_details", Problem::Missing);
    }
    v.extend(check_roles(inst));
    v
}

fn check_roles(inst: &InstitutionSubmission) -> Violations {
    let mut v = Violations::new();
    let members = &inst.details.members;
    let mut seen = HashSet::new();
    let mut total = Decimal::ZERO;
    for (i, m) in members.iter().enumerate() {
        if !seen.insert(m.identity_id) {
            v.push(
                format!("institution_members[{i}].identity_id"),
                Problem::Duplicate,
            );
        }
        if m.roles.contains(&MemberRole::BeneficialOwner) && m.ownership.is_none() {
            v.push(
                format!("institution_members[{i}].ownership"),
                Problem::OwnershipRequired,
            );
        }
        total += m.ownership.map(|o| o.value()).unwrap_or_default();
    }
    if total > Decimal::ONE_HUNDRED {
        v.push("institution_members", Problem::OwnershipOver100(total));
    }
    let has = |role: MemberRole| members.iter().any(|m| m.roles.contains(&role));
    match inst.details.institution_type {
        InstitutionType::Trust => {
            let trust_roles = [
                MemberRole::Trustee,
                MemberRole::Grantor,
                MemberRole::Beneficiary,
            ];
            if !trust_roles.iter().any(|r| has(*r)) {
                v.push(
                    "institution_members",
                    Problem::MissingRole(trust_roles.to_vec()),
                );
            }
        }
        InstitutionType::Corporation | InstitutionType::Llc | InstitutionType::Partnership => {
            let qualifying_owner = members.iter().any(|m| {
                m.roles.contains(&MemberRole::BeneficialOwner)
                    && m.ownership
                        .is_some_and(|o| o.value() >= QUALIFYING_OWNERSHIP)
            });
            if !qualifying_owner {
                v.push("institution_members", Problem::NoQualifyingOwner);
            }
            if !has(MemberRole::ManagementControlPerson) {
                v.push(
                    "institution_members",
                    Problem::MissingRole(vec![MemberRole::ManagementControlPerson]),
                );
            }
        }
    }
    v
}

/// Checks that each member is a person identity of this ledger that is pending or approved.
/// `facts` holds, per member in order, what the directory knows of it.
pub fn check_members(
    this: IdentityId,
    members: &[(IdentityId, Option<IdentityFacts>)],
) -> Violations {
    let mut v = Violations::new();
    for (i, (id, facts)) in members.iter().enumerate() {
        let field = format!("institution_members[{i}].identity_id");
        if *id == this {
            v.push(field, Problem::SelfReference);
            continue;
        }
        match facts {
            None => v.push(field, Problem::UnknownIdentity(*id)),
            Some(f) if f.kind != IdentityKind::Person => v.push(field, Problem::NotAPerson(*id)),
            Some(f) if !matches!(f.status, IdentityStatus::Pending | IdentityStatus::Approved) => v
                .push(
                    field,
                    Problem::IneligibleStatus {
                        id: *id,
                        status: f.status,
                    },
                ),
            Some(_) => {}
        }
    }
    v
}
