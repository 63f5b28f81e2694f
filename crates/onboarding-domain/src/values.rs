//! Value types that cannot hold an invalid value: each constructor checks, and so does
//! deserialization. A `Text` or a `CipNumber` read from JSON is checked against the widest rule
//! any field allows (trimmed printable ASCII of at most [`Text::NAME_MAX`] characters), since the
//! field's own rule is not known there; deciding a submission checks each document number
//! against its type again. Field-specific rules (a name's character set, an address line's 35
//! characters) are enforced where values are parsed from input (`IdentityDraft`): a submission a
//! caller deserializes itself skips those, and Paxos's own validation refuses what they would
//! have (recorded as a mirror rejection).
//!
//! Errors never echo the rejected input: it may be personal data typed into the wrong field.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::vocab::CipIdType;

/// Why a value was rejected. Never contains the rejected text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// The value was empty or only white space.
    #[error("must not be empty")]
    Empty,
    /// The value was longer than allowed.
    #[error("must be at most {max} characters")]
    TooLong {
        /// The maximum length in characters.
        max: usize,
    },
    /// The value has leading or trailing white space (only text read back from JSON can).
    #[error("must not begin or end with white space")]
    Untrimmed,
    /// The value used a character outside the allowed set.
    #[error("may only contain letters, digits, spaces and / ? : ( ) . , & ' + -")]
    BadCharacters,
    /// The value holds characters other than printable ASCII.
    #[error("may only contain printable ASCII characters")]
    NotPrintable,
    /// Not an ISO 3166-1 alpha-3 country code.
    #[error("must be an ISO 3166-1 alpha-3 country code, e.g. USA")]
    NotACountry,
    /// The document number does not have the format its type requires.
    #[error("must have the {kind} format {format}")]
    BadCipFormat {
        /// The document type.
        kind: CipIdType,
        /// The required format.
        format: &'static str,
    },
    /// Not a calendar date in `YYYY-MM-DD` form.
    #[error("must be a date in YYYY-MM-DD form")]
    NotADate,
    /// Not an RFC 3339 timestamp.
    #[error("must be an RFC 3339 timestamp, e.g. 2024-05-01T12:00:00Z")]
    NotATimestamp,
    /// Not a decimal number.
    #[error("must be a decimal number, e.g. 25 or 12.5")]
    NotADecimal,
    /// A percentage outside 0 to 100.
    #[error("must be between 0 and 100")]
    NotAPercentage,
}

/// Free text as Paxos accepts it: non-empty, bounded, from a restricted character set.
///
/// Deserialized text must be trimmed, non-empty, printable ASCII and at most
/// [`Text::NAME_MAX`] characters: the widest rule of any field.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct Text(String);

impl TryFrom<String> for Text {
    type Error = ValueError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let text = Self::parse_printable(&value, Self::NAME_MAX)?;
        if text.0 != value {
            return Err(ValueError::Untrimmed);
        }
        Ok(text)
    }
}

impl Text {
    /// Length limit of names and descriptions.
    pub const NAME_MAX: usize = 200;
    /// Length limit of each address line.
    pub const ADDRESS_MAX: usize = 35;

    /// Checks `value` (trimmed) against the allowed characters and `max` length (at most
    /// [`Text::NAME_MAX`], whatever `max` says: longer text would not deserialize again).
    pub fn parse(value: &str, max: usize) -> Result<Self, ValueError> {
        let max = max.min(Self::NAME_MAX);
        let value = value.trim();
        if value.is_empty() {
            return Err(ValueError::Empty);
        }
        if value.chars().count() > max {
            return Err(ValueError::TooLong { max });
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || " /?:().,&'+-".contains(c);
        if !value.chars().all(allowed) {
            return Err(ValueError::BadCharacters);
        }
        Ok(Self(value.to_owned()))
    }

    /// Checks `value` (trimmed): non-empty, at most `max` characters (and at most
    /// [`Text::NAME_MAX`]), printable ASCII only. For references and contact fields where Paxos
    /// sets no character pattern (verification ids, phone numbers, professions).
    pub fn parse_printable(value: &str, max: usize) -> Result<Self, ValueError> {
        let max = max.min(Self::NAME_MAX);
        let value = value.trim();
        if value.is_empty() {
            return Err(ValueError::Empty);
        }
        if value.chars().count() > max {
            return Err(ValueError::TooLong { max });
        }
        if !value.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
            return Err(ValueError::NotPrintable);
        }
        Ok(Self(value.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Text may be a name or an address; Debug output ends up in logs.
        f.write_str("Text(..)")
    }
}

/// An ISO 3166-1 alpha-3 country code such as `USA`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CountryCode([u8; 3]);

impl CountryCode {
    /// The United States, whose residents must use an SSN or ITIN.
    pub const USA: CountryCode = CountryCode(*b"USA");

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl FromStr for CountryCode {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let country =
            isocountry::CountryCode::for_alpha3(s).map_err(|_| ValueError::NotACountry)?;
        let bytes: [u8; 3] = country
            .alpha3()
            .as_bytes()
            .try_into()
            .map_err(|_| ValueError::NotACountry)?;
        Ok(Self(bytes))
    }
}

impl TryFrom<String> for CountryCode {
    type Error = ValueError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<CountryCode> for String {
    fn from(value: CountryCode) -> Self {
        value.as_str().to_owned()
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CountryCode({})", self.as_str())
    }
}

/// A document number whose format matches its [`CipIdType`] (SSN and ITIN `xxx-xx-xxxx`, EIN
/// `xx-xxxxxxx`; other documents: bounded free text). Personal data: never printed.
///
/// A deserialized number must be valid [`Text`] of at most [`Text::NAME_MAX`] characters, the
/// rule of the freest document type; its format for its type is checked with the document type
/// beside it ([`CipNumber::check_for`]).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct CipNumber(String);

impl TryFrom<String> for CipNumber {
    type Error = ValueError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let text = Text::parse(&value, Text::NAME_MAX)?;
        if text.0 != value {
            return Err(ValueError::Untrimmed);
        }
        Ok(Self(value))
    }
}

impl CipNumber {
    /// Checks `value` against the format `kind` requires.
    pub fn parse(kind: CipIdType, value: &str) -> Result<Self, ValueError> {
        let value = value.trim();
        let digits_in = |groups: &[usize]| {
            let parts: Vec<&str> = value.split('-').collect();
            parts.len() == groups.len()
                && parts
                    .iter()
                    .zip(groups)
                    .all(|(p, n)| p.len() == *n && p.bytes().all(|b| b.is_ascii_digit()))
        };
        match kind {
            CipIdType::Ssn | CipIdType::Itin if !digits_in(&[3, 2, 4]) => {
                Err(ValueError::BadCipFormat {
                    kind,
                    format: "xxx-xx-xxxx",
                })
            }
            CipIdType::Ein if !digits_in(&[2, 7]) => Err(ValueError::BadCipFormat {
                kind,
                format: "xx-xxxxxxx",
            }),
            _ => Text::parse(value, Text::NAME_MAX).map(|t| Self(t.0)),
        }
    }

    /// Checks that this number has the format `kind` requires, exactly as [`CipNumber::parse`]
    /// would have made it.
    pub fn check_for(&self, kind: CipIdType) -> Result<(), ValueError> {
        let parsed = Self::parse(kind, &self.0)?;
        if parsed != *self {
            return Err(ValueError::Untrimmed);
        }
        Ok(())
    }

    /// The document number.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CipNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CipNumber(..)")
    }
}

/// The three facts that identify a customer document, unique across the ledger's identities.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CipKey {
    /// The document number (personal data).
    pub cip_id: CipNumber,
    /// The document type.
    pub cip_id_type: CipIdType,
    /// The issuing country.
    pub cip_id_country: CountryCode,
}

impl fmt::Debug for CipKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CipKey")
            .field("cip_id", &self.cip_id)
            .field("cip_id_type", &self.cip_id_type)
            .field("cip_id_country", &self.cip_id_country)
            .finish()
    }
}

/// Parses a `YYYY-MM-DD` date.
pub fn parse_date(value: &str) -> Result<NaiveDate, ValueError> {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(|_| ValueError::NotADate)
}

/// Parses a date that may also be given as an RFC 3339 timestamp (Paxos sends both forms).
pub fn parse_date_or_timestamp(value: &str) -> Result<NaiveDate, ValueError> {
    parse_date(value).or_else(|_| {
        chrono::DateTime::parse_from_rfc3339(value.trim())
            .map(|t| t.date_naive())
            .map_err(|_| ValueError::NotADate)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_a_constructor_makes_deserializes_again() {
        let long = "a".repeat(Text::NAME_MAX + 50);
        assert_eq!(
            Text::parse(&long, 1_000),
            Err(ValueError::TooLong {
                max: Text::NAME_MAX
            })
        );
        assert!(Text::parse_printable(&long, 1_000).is_err());
        let made = Text::parse(&long[..Text::NAME_MAX], 1_000).unwrap();
        let json = serde_json::to_string(&made).unwrap();
        assert_eq!(serde_json::from_str::<Text>(&json).unwrap(), made);
        assert!(serde_json::from_str::<Text>(&serde_json::to_string(&long).unwrap()).is_err());
    }

    #[test]
    fn country_codes_must_be_iso_alpha_3() {
        assert_eq!("USA".parse::<CountryCode>(), Ok(CountryCode::USA));
        assert_eq!("US".parse::<CountryCode>(), Err(ValueError::NotACountry));
        assert_eq!("XXX".parse::<CountryCode>(), Err(ValueError::NotACountry));
        assert_eq!("usa".parse::<CountryCode>(), Err(ValueError::NotACountry));
    }

    #[test]
    fn ssn_itin_and_ein_have_fixed_formats() {
        assert!(CipNumber::parse(CipIdType::Ssn, "123-45-6789").is_ok());
        assert!(CipNumber::parse(CipIdType::Itin, "912-70-1234").is_ok());
        assert!(CipNumber::parse(CipIdType::Ein, "12-3456789").is_ok());
        assert!(CipNumber::parse(CipIdType::Ssn, "123456789").is_err());
        assert!(CipNumber::parse(CipIdType::Ssn, "12-345-6789").is_err());
        assert!(CipNumber::parse(CipIdType::Ein, "123-45-6789").is_err());
        assert!(CipNumber::parse(CipIdType::Passport, "X1234567").is_ok());
    }

    #[test]
    fn cip_numbers_never_print() {
        let n = CipNumber::parse(CipIdType::Ssn, "123-45-6789").unwrap();
        assert!(!format!("{n:?}").contains("6789"));
    }

    #[test]
    fn text_rejects_characters_outside_the_paxos_set() {
        assert!(Text::parse("O'Brien & Sons, Ltd.", 200).is_ok());
        assert_eq!(Text::parse("a<b>", 200), Err(ValueError::BadCharacters));
        assert_eq!(Text::parse("   ", 200), Err(ValueError::Empty));
        assert_eq!(
            Text::parse(&"a".repeat(36), Text::ADDRESS_MAX),
            Err(ValueError::TooLong { max: 35 })
        );
    }
}
