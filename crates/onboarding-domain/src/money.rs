//! Exact money: amounts are `rust_decimal::Decimal` (never floating point), stored as decimal
//! strings; assets and markets are closed, checked values.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::values::ValueError;

/// A non-negative exact decimal quantity of some asset.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "Decimal", into = "Decimal")]
pub struct Amount(Decimal);

/// Why an amount was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// The text is not a decimal number.
    #[error("must be a decimal number such as 10000 or 0.015")]
    NotADecimal,
    /// The amount is below zero.
    #[error("must not be negative")]
    Negative,
    /// The amount is zero where a positive one is required.
    #[error("must be greater than zero")]
    Zero,
    /// The result does not fit the decimal range.
    #[error("is too large")]
    Overflow,
}

impl Amount {
    /// Nothing.
    pub const ZERO: Amount = Amount(Decimal::ZERO);

    /// One unit of the 8th decimal place (0.00000001), the precision of Paxos's prices.
    pub const EIGHTH_DECIMAL: Amount = Amount(Decimal::from_parts(1, 0, 0, false, 8));

    /// A non-negative amount.
    pub fn new(value: Decimal) -> Result<Self, AmountError> {
        if value.is_sign_negative() && !value.is_zero() {
            return Err(AmountError::Negative);
        }
        Ok(Self(value.normalize()))
    }

    /// A strictly positive amount.
    pub fn positive(value: Decimal) -> Result<Self, AmountError> {
        let amount = Self::new(value)?;
        if amount.is_zero() {
            return Err(AmountError::Zero);
        }
        Ok(amount)
    }

    /// Parses a decimal string that must be strictly positive, as order and funding amounts are.
    pub fn parse_positive(text: &str) -> Result<Self, AmountError> {
        Self::positive(parse_plain_decimal(text)?)
    }

    /// The decimal value.
    pub const fn value(self) -> Decimal {
        self.0
    }

    /// Whether this is zero.
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(|v| Amount(v.normalize()))
    }

    /// `self - other`, or `None` if that would go below zero.
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        (self.0 >= other.0).then(|| Amount((self.0 - other.0).normalize()))
    }

    /// `self × other` (e.g. base amount × price), or `None` on overflow.
    pub fn checked_mul(self, other: Amount) -> Option<Amount> {
        self.0.checked_mul(other.0).map(|v| Amount(v.normalize()))
    }

    /// The smaller of the two.
    pub fn min(self, other: Amount) -> Amount {
        if self <= other {
            self
        } else {
            other
        }
    }
}

impl TryFrom<Decimal> for Amount {
    type Error = AmountError;

    fn try_from(value: Decimal) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Amount> for Decimal {
    fn from(value: Amount) -> Self {
        value.0
    }
}

impl FromStr for Amount {
    type Err = AmountError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(parse_plain_decimal(s)?)
    }
}

/// Parses `[-]digits[.digits]`: no exponent, no thousands separators, no signs but a leading
/// minus, so that what a person reads is exactly what is stored.
fn parse_plain_decimal(text: &str) -> Result<Decimal, AmountError> {
    let text = text.trim();
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "0"));
    let plain = !int.is_empty()
        && !frac.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit());
    if !plain {
        return Err(AmountError::NotADecimal);
    }
    Decimal::from_str(text).map_err(|_| AmountError::NotADecimal)
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amount({})", self.0)
    }
}

/// An asset code such as `USD` or `BTC`: 2 to 10 upper-case letters or digits.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Asset(String);

impl Asset {
    /// The asset's code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An asset code that is not 2 to 10 upper-case letters or digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be an asset code of 2 to 10 upper-case letters or digits, e.g. USD or BTC")]
pub struct InvalidAsset;

impl FromStr for Asset {
    type Err = InvalidAsset;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let ok = (2..=10).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidAsset)
        }
    }
}

impl TryFrom<String> for Asset {
    type Error = InvalidAsset;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Asset> for String {
    fn from(value: Asset) -> Self {
        value.0
    }
}

impl fmt::Display for Asset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Asset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Asset({})", self.0)
    }
}

/// A market Paxos trades, e.g. `BTCUSD`: base `BTC`, quote `USD`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Market(u8);

impl fmt::Debug for Market {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Market({})", self.code())
    }
}

/// The markets of Paxos's `Market` enumeration, each split into base and quote.
const MARKETS: &[(&str, usize)] = &[
    ("ETHEUR", 3),
    ("ETHSGD", 3),
    ("ETHUSD", 3),
    ("BTCEUR", 3),
    ("BTCSGD", 3),
    ("BTCUSD", 3),
    ("PAXGUSD", 4),
    ("BCHUSD", 3),
    ("LTCUSD", 3),
    ("USDPUSD", 4),
    ("LINKUSD", 4),
    ("MATICUSD", 5),
    ("AAVEUSD", 4),
    ("UNIUSD", 3),
];

/// A market code that Paxos does not trade.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a Paxos market such as BTCUSD or ETHUSD")]
pub struct UnknownMarket;

impl Market {
    /// The market's code, e.g. `BTCUSD`.
    pub const fn code(&self) -> &'static str {
        MARKETS[self.0 as usize].0
    }

    /// The asset bought or sold.
    pub fn base(&self) -> Asset {
        let (code, base_len) = MARKETS[self.0 as usize];
        Asset(code[..base_len].to_owned())
    }

    /// The asset prices are in.
    pub fn quote(&self) -> Asset {
        let (code, base_len) = MARKETS[self.0 as usize];
        Asset(code[base_len..].to_owned())
    }
}

impl FromStr for Market {
    type Err = UnknownMarket;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MARKETS
            .iter()
            .position(|(code, _)| *code == s.trim())
            .and_then(|i| u8::try_from(i).ok())
            .map(Market)
            .ok_or(UnknownMarket)
    }
}

impl TryFrom<String> for Market {
    type Error = UnknownMarket;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Market> for String {
    fn from(value: Market) -> Self {
        value.code().to_owned()
    }
}

impl fmt::Display for Market {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An ownership share in percent, `0` to `100` inclusive, exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "Decimal", into = "Decimal")]
pub struct Percentage(Decimal);

impl Percentage {
    /// Checks that `value` lies in `0..=100`.
    pub fn new(value: Decimal) -> Result<Self, ValueError> {
        if value < Decimal::ZERO || value > Decimal::ONE_HUNDRED {
            return Err(ValueError::NotAPercentage);
        }
        Ok(Self(value.normalize()))
    }

    /// The percentage as a decimal (`25` for 25%).
    pub const fn value(self) -> Decimal {
        self.0
    }
}

impl FromStr for Percentage {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(Decimal::from_str(s.trim()).map_err(|_| ValueError::NotADecimal)?)
    }
}

impl TryFrom<Decimal> for Percentage {
    type Error = ValueError;

    fn try_from(value: Decimal) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Percentage> for Decimal {
    fn from(value: Percentage) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markets_split_into_base_and_quote() {
        let m: Market = "PAXGUSD".parse().unwrap();
        assert_eq!(m.base().as_str(), "PAXG");
        assert_eq!(m.quote().as_str(), "USD");
        assert_eq!("DOGEUSD".parse::<Market>(), Err(UnknownMarket));
    }

    #[test]
    fn amounts_are_exact_and_never_negative() {
        let a: Amount = "0.1".parse().unwrap();
        let b: Amount = "0.2".parse().unwrap();
        assert_eq!(a.checked_add(b).unwrap().to_string(), "0.3");
        assert_eq!(a.checked_sub(b), None);
        assert_eq!("-1".parse::<Amount>(), Err(AmountError::Negative));
        assert_eq!(Amount::parse_positive("0"), Err(AmountError::Zero));
        assert_eq!(Amount::parse_positive("1e3"), Err(AmountError::NotADecimal));
    }

    #[test]
    fn amounts_serialize_as_decimal_strings() {
        let a: Amount = "10000.50".parse().unwrap();
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"10000.5\"");
        let back: Amount = serde_json::from_str("\"10000.5\"").unwrap();
        assert_eq!(back, a);
        assert!(serde_json::from_str::<Amount>("\"-3\"").is_err());
    }
}
