//! Personal data, kept apart.
//!
//! Everything that identifies a natural person (names, date of birth, addresses, document and tax
//! numbers, emails, phones) lives in the structures of this module and nowhere else in an event.
//! Their `Debug` output is redacted, they have no `Display`, and nothing in the domain formats them
//! into an error. Keeping them in one sub-structure per event is what lets a later layer encrypt
//! them per identity and erase them (crypto-shredding) without touching the rest of the record.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::values::{CipNumber, CountryCode, Text};

/// A postal address.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// Country, ISO 3166-1 alpha-3.
    pub country: CountryCode,
    /// First line.
    pub address1: Text,
    /// Second line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address2: Option<Text>,
    /// City.
    pub city: Text,
    /// Province or state.
    pub province: Text,
    /// Postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip_code: Option<Text>,
}

/// The personal data of a person identity.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonPii {
    /// Given name.
    pub first_name: Text,
    /// Middle name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<Text>,
    /// Family name.
    pub last_name: Text,
    /// Date of birth.
    pub date_of_birth: NaiveDate,
    /// Residential address.
    pub address: Address,
    /// Identity document number.
    pub cip_id: CipNumber,
    /// Phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<Text>,
    /// Email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// The identifying data of an institution: its name, addresses, registration number and contacts.
/// Treated as personal data because small businesses are often named after, and reachable at,
/// their owners.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstitutionPii {
    /// Legal name.
    pub name: Text,
    /// Business address.
    pub business_address: Address,
    /// Address of incorporation.
    pub incorporation_address: Address,
    /// Registration or tax document number.
    pub cip_id: CipNumber,
    /// Phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<Text>,
    /// Email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// A tax registration: the number is personal data.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxDetail {
    /// The tax payer number (SSN, TIN, EIN, CPF, ...).
    pub tax_payer_id: Text,
    /// The country that issued it.
    pub tax_payer_country: CountryCode,
}

macro_rules! redacted_debug {
    ($($ty:ident),+) => {$(
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($ty), "(redacted)"))
            }
        }
    )+};
}

redacted_debug!(Address, PersonPii, InstitutionPii, TaxDetail);

/// Personal data as an event holds it.
///
/// A command carries it [`Clear`](Personal::Clear); the store seals it (encrypts it under the
/// identity's own data key) before it is written, so the log holds it
/// [`Sealed`](Personal::Sealed); once the identity is forgotten and its key destroyed, what
/// remains can never be read again and loads as [`Erased`](Personal::Erased). Everything else in
/// the event stays readable, and its hash stays valid, whatever happens to the personal data.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Personal<T> {
    /// Encrypted; readable only with the identity's data key.
    Sealed {
        /// The ciphertext and how to open it.
        sealed: SealedData,
    },
    /// Destroyed: the key is gone.
    Erased {
        /// When it was erased.
        erased: ErasedData,
    },
    /// In clear (as submitted, or opened with the key).
    Clear(T),
}

/// An AEAD ciphertext of personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedData {
    /// The algorithm, e.g. `AES-256-GCM`.
    pub alg: String,
    /// The nonce, base64.
    pub nonce: String,
    /// The ciphertext with its tag, base64.
    pub ciphertext: String,
}

/// The marker left where personal data was erased.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasedData {
    /// When.
    pub at: chrono::DateTime<chrono::Utc>,
}

impl<T> Personal<T> {
    /// The data, when in clear.
    pub fn clear(&self) -> Option<&T> {
        match self {
            Self::Clear(t) => Some(t),
            _ => None,
        }
    }

    /// Whether it is sealed.
    pub fn is_sealed(&self) -> bool {
        matches!(self, Self::Sealed { .. })
    }
}

impl<T> From<T> for Personal<T> {
    fn from(value: T) -> Self {
        Self::Clear(value)
    }
}

impl<T> fmt::Debug for Personal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sealed { .. } => "Personal(sealed)",
            Self::Erased { .. } => "Personal(erased)",
            Self::Clear(_) => "Personal(redacted)",
        })
    }
}
