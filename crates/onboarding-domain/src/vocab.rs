//! Closed vocabularies: the enumerations an onboarding record uses, spelled as Paxos spells them.
//!
//! Each is a Rust enum with its stored spelling fixed here (these spellings are part of the event
//! schema: never rename one). Parsing an unknown spelling fails with [`UnknownValue`], which names
//! the vocabulary but not the rejected text, since that text may be personal data typed into the
//! wrong field.

use std::fmt;
use std::str::FromStr;

/// A spelling that is not part of a closed vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not one of the allowed {vocabulary} values ({allowed})")]
pub struct UnknownValue {
    /// The vocabulary's name, e.g. `institution type`.
    pub vocabulary: &'static str,
    /// The allowed spellings, comma separated.
    pub allowed: &'static str,
}

macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident, $what:literal { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every member of the vocabulary, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored spelling.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownValue {
                        vocabulary: $what,
                        allowed: concat!($($text, " "),+).trim_ascii_end(),
                    }),
                }
            }
        }
    };
}

vocabulary!(
    /// Whether an identity is a natural person or a legal entity.
    IdentityKind, "identity kind" {
        /// A natural person.
        Person = "PERSON",
        /// A company, trust or other legal entity.
        Institution = "INSTITUTION",
    }
);

vocabulary!(
    /// The compliance status of an identity.
    IdentityStatus, "identity status" {
        /// Submitted, awaiting (or stuck in) review.
        Pending = "PENDING",
        /// May transact.
        Approved = "APPROVED",
        /// May not use Paxos-powered services.
        Denied = "DENIED",
        /// Off-boarded: may hold and sell, may not buy.
        Disabled = "DISABLED",
        /// Frozen for compliance.
        Error = "ERROR",
    }
);

impl IdentityStatus {
    /// Whether this status ends the relationship, so that the retention period before erasure
    /// counts from entering it (denied, off-boarded, frozen); open accounts still hold it open.
    pub fn ends_relationship(self) -> bool {
        matches!(self, Self::Denied | Self::Disabled | Self::Error)
    }
}

vocabulary!(
    /// The kind of document behind a `cip_id`.
    CipIdType, "cip id type" {
        /// US Social Security Number, `xxx-xx-xxxx`.
        Ssn = "SSN",
        /// US Individual Taxpayer Identification Number, `xxx-xx-xxxx`.
        Itin = "ITIN",
        /// US Employer Identification Number, `xx-xxxxxxx` (institutions only).
        Ein = "EIN",
        /// A national identity card (persons only).
        IdCard = "ID_CARD",
        /// A passport (persons only).
        Passport = "PASSPORT",
        /// A driving licence (persons only).
        DrivingLicense = "DRIVING_LICENSE",
        /// A visa (persons only).
        Visa = "VISA",
        /// A company registration number (institutions only).
        RegistrationNumber = "REGISTRATION_NUMBER",
    }
);

impl CipIdType {
    /// Whether a person may be identified by this kind of document.
    pub const fn allowed_for_person(self) -> bool {
        !matches!(self, Self::Ein | Self::RegistrationNumber)
    }

    /// Whether an institution may be identified by this kind of document.
    pub const fn allowed_for_institution(self) -> bool {
        matches!(
            self,
            Self::Ein | Self::Ssn | Self::Itin | Self::RegistrationNumber
        )
    }
}

vocabulary!(
    /// The identity verification provider an integrator used before submitting a person.
    VerifierType, "passthrough verifier type" {
        /// Jumio.
        Jumio = "JUMIO",
        /// Alloy.
        Alloy = "ALLOY",
        /// LexisNexis.
        LexisNexis = "LEXISNEXIS",
        /// Mitek.
        Mitek = "MITEK",
        /// Sumsub.
        Sumsub = "SUMSUB",
        /// MicroBilt.
        MicroBilt = "MICROBILT",
        /// Onfido.
        Onfido = "ONFIDO",
        /// The integrator itself.
        Customer = "CUSTOMER",
        /// Equifax.
        Equifax = "EQUIFAX",
        /// ID3 Authenticate.
        Id3Authenticate = "ID3_AUTHENTICATE",
        /// FIS.
        Fis = "FIS",
        /// Prove.
        Prove = "PROVE",
        /// Persona.
        Persona = "PERSONA",
        /// Plaid.
        Plaid = "PLAID",
        /// Dotfile.
        Dotfile = "DOTFILE",
    }
);

vocabulary!(
    /// The outcome the IDV provider reached.
    VerificationStatus, "passthrough verification status" {
        /// The provider verified the person.
        Approved = "APPROVED",
        /// The provider could not verify the person.
        Denied = "DENIED",
    }
);

vocabulary!(
    /// A fact the IDV provider verified.
    VerifiedField, "passthrough verification field" {
        /// The full legal name.
        FullLegalName = "FULL_LEGAL_NAME",
        /// The address.
        Address = "ADDRESS",
        /// The date of birth.
        DateOfBirth = "DATE_OF_BIRTH",
        /// The CIP document number.
        CipId = "CIP_ID",
    }
);

vocabulary!(
    /// A person's employment status (customer due diligence).
    EmploymentStatus, "employment status" {
        /// On a contract.
        Contractual = "CONTRACTUAL",
        /// Employed full time.
        FullTime = "FULL_TIME",
        /// Employed part time.
        PartTime = "PART_TIME",
        /// Retired.
        Retired = "RETIRED",
        /// Self-employed.
        SelfEmployed = "SELF_EMPLOYED",
        /// A student.
        Student = "STUDENT",
        /// Unemployed.
        Unemployed = "UNEMPLOYED",
    }
);

vocabulary!(
    /// Estimated yearly income band (customer due diligence).
    YearlyIncome, "estimated yearly income" {
        /// Up to 50k.
        Income0To50K = "INCOME_0_TO_50K",
        /// 50k to 100k.
        Income50KTo100K = "INCOME_50K_TO_100K",
        /// 100k to 250k.
        Income100KTo250K = "INCOME_100K_TO_250K",
        /// 250k to 500k.
        Income250KTo500K = "INCOME_250K_TO_500K",
        /// 500k to 750k.
        Income500KTo750K = "INCOME_500K_TO_750K",
        /// 750k to 1M.
        Income750KTo1M = "INCOME_750K_TO_1M",
        /// Above 1M.
        IncomeAbove1M = "INCOME_ABOVE_1M",
    }
);

vocabulary!(
    /// Expected yearly transfer value band (customer due diligence).
    TransferValue, "expected transfer value" {
        /// Up to 25k.
        Value0To25K = "TRANSFER_VALUE_0_TO_25K",
        /// 25k to 50k.
        Value25KTo50K = "TRANSFER_VALUE_25K_TO_50K",
        /// 50k to 100k.
        Value50KTo100K = "TRANSFER_VALUE_50K_TO_100K",
        /// 100k to 250k.
        Value100KTo250K = "TRANSFER_VALUE_100K_TO_250K",
        /// 250k to 500k.
        Value250KTo500K = "TRANSFER_VALUE_250K_TO_500K",
        /// 500k to 750k.
        Value500KTo750K = "TRANSFER_VALUE_500K_TO_750K",
        /// 750k to 1M.
        Value750KTo1M = "TRANSFER_VALUE_750K_TO_1M",
        /// 1M to 2.5M.
        Value1MTo2_5M = "TRANSFER_VALUE_1M_TO_2_5M",
        /// 2.5M to 5M.
        Value2_5MTo5M = "TRANSFER_VALUE_2_5M_TO_5M",
        /// Above 5M.
        ValueAbove5M = "TRANSFER_VALUE_ABOVE_5M",
    }
);

vocabulary!(
    /// Where a customer's wealth comes from (customer due diligence).
    WealthSource, "source of wealth" {
        /// Inherited.
        Inheritance = "INHERITANCE",
        /// Investment gains.
        InvestmentGains = "INVESTMENT_GAINS",
        /// Business ownership or dividends.
        BusinessOwnershipDividends = "BUSINESS_OWNERSHIP_DIVIDENDS",
        /// Employment income.
        EmploymentIncome = "EMPLOYMENT_INCOME",
        /// Real estate.
        RealEstate = "REAL_ESTATE",
        /// Anything else.
        Other = "OTHER_SOURCE_OF_WEALTH",
    }
);

vocabulary!(
    /// Where the funds for this relationship come from (customer due diligence).
    FundsSource, "source of funds" {
        /// Salary.
        Salary = "SALARY_DISBURSEMENT",
        /// An inheritance distribution.
        Inheritance = "INHERITANCE_DISTRIBUTION",
        /// Investment returns.
        InvestmentReturns = "INVESTMENT_RETURNS",
        /// Business dividends or profits.
        BusinessProfits = "BUSINESS_DIVIDENDS_PROFITS",
        /// The sale of property.
        PropertySale = "PROPERTY_SALE",
        /// A loan disbursement.
        Loan = "LOAN_DISBURSEMENT",
        /// A savings withdrawal.
        Savings = "SAVINGS_ACCOUNT_WITHDRAWAL",
        /// Government benefits.
        GovernmentBenefits = "GOVERNMENT_BENEFITS",
    }
);

vocabulary!(
    /// The kind of legal entity an institution is.
    InstitutionType, "institution type" {
        /// A trust.
        Trust = "TRUST",
        /// A corporation.
        Corporation = "CORPORATION",
        /// A limited liability company.
        Llc = "LLC",
        /// A partnership.
        Partnership = "PARTNERSHIP",
    }
);

impl InstitutionType {
    /// Corporations, LLCs and partnerships need a 25% owner, a control person and extended
    /// due diligence; trusts follow their own member rules.
    pub const fn is_business(self) -> bool {
        !matches!(self, Self::Trust)
    }
}

vocabulary!(
    /// An institution's line of business (Paxos `InstitutionSubType`); also used as a person's
    /// employment industry sector.
    IndustrySector, "institution sub type" {
        /// Investment (the sub type of every trust).
        Investment = "INVESTMENT",
        /// Hedge fund.
        HedgeFund = "HEDGE_FUND",
        /// Money service business.
        MoneyServiceBusiness = "MONEY_SERVICE_BUSINESS",
        /// Security token issuer.
        StoIssuer = "STO_ISSUER",
        /// Precious metals.
        PreciousMetals = "PRECIOUS_METALS",
        /// Non-profit.
        NonProfit = "NON_PROFIT",
        /// Registered investment advisor.
        RegisteredInvestmentAdvisor = "REGISTERED_INVESTMENT_ADVISOR",
        /// Agriculture, forestry, fishing and hunting.
        Agriculture = "AGRICULTURE_FORESTRY_FISHING_HUNTING",
        /// Mining.
        Mining = "MINING",
        /// Utilities.
        Utilities = "UTILITIES",
        /// Construction.
        Construction = "CONSTRUCTION",
        /// Manufacturing.
        Manufacturing = "MANUFACTURING",
        /// Wholesale trade.
        WholesaleTrade = "WHOLESALE_TRADE",
        /// Retail trade.
        RetailTrade = "RETAIL_TRADE",
        /// Transportation and warehousing.
        Transportation = "TRANSPORTATION_WAREHOUSING",
        /// Information.
        Information = "INFORMATION",
        /// Finance and insurance.
        FinanceInsurance = "FINANCE_INSURANCE",
        /// Real estate, rental and leasing.
        RealEstate = "REAL_ESTATE_RENTAL_LEASING",
        /// Professional, scientific and technical services.
        ProfessionalServices = "PROFESSIONAL_SCIENTIFIC_TECHNICAL_SERVICES",
        /// Management of companies and enterprises.
        Management = "MANAGEMENT_OF_COMPANIES_ENTERPRISES",
        /// Administrative support, waste management and remediation.
        Administrative = "ADMINISTRATIVE_SUPPORT_WASTE_MANAGEMENT_REMEDIATION_SERVICES",
        /// Educational services.
        Education = "EDUCATIONAL_SERVICES",
        /// Health care and social assistance.
        HealthCare = "HEALTH_CARE_SOCIAL_ASSISTANCE",
        /// Arts, entertainment and recreation.
        Arts = "ARTS_ENTERTAINMENT_RECREATION",
        /// Accommodation and food services.
        Accommodation = "ACCOMMODATION_FOOD_SERVICES",
        /// Other services.
        OtherServices = "OTHER_SERVICES",
        /// Public administration.
        PublicAdministration = "PUBLIC_ADMINISTRATION",
        /// Not classified.
        NotClassified = "NOT_CLASSIFIED",
        /// Adult entertainment.
        AdultEntertainment = "ADULT_ENTERTAINMENT",
        /// Auctions.
        Auctions = "AUCTIONS",
        /// Automobiles.
        Automobiles = "AUTOMOBILES",
        /// Blockchain.
        Blockchain = "BLOCKCHAIN",
        /// Crypto.
        Crypto = "CRYPTO",
        /// Drugs.
        Drugs = "DRUGS",
        /// Export and import.
        ExportImport = "EXPORT_IMPORT",
        /// E-commerce.
        ECommerce = "E_COMMERCE",
        /// Financial institution.
        FinancialInstitution = "FINANCIAL_INSTITUTION",
        /// Gambling.
        Gambling = "GAMBLING",
        /// Insurance.
        Insurance = "INSURANCE",
        /// Market maker.
        MarketMaker = "MARKET_MAKER",
        /// Shell bank.
        ShellBank = "SHELL_BANK",
        /// Travel and transport.
        TravelTransport = "TRAVEL_TRANSPORT",
        /// Weapons.
        Weapons = "WEAPONS",
    }
);

vocabulary!(
    /// Whether and where an institution is regulated.
    RegulationStatus, "regulation status" {
        /// Regulated in the United States.
        UsRegulated = "US_REGULATED",
        /// Regulated outside the United States.
        IntlRegulated = "INTL_REGULATED",
        /// Not regulated.
        NonRegulated = "NON_REGULATED",
    }
);

impl RegulationStatus {
    /// Whether a regulator must be named.
    pub const fn is_regulated(self) -> bool {
        !matches!(self, Self::NonRegulated)
    }
}

vocabulary!(
    /// How an institution's shares trade.
    TradingType, "trading type" {
        /// Privately held.
        Private = "PRIVATE",
        /// Listed on an exchange.
        Public = "PUBLIC",
        /// A subsidiary of a listed company.
        PubliclyTradedSubsidiary = "PUBLICLY_TRADED_SUBSIDIARY",
    }
);

vocabulary!(
    /// A member's role in an institution.
    MemberRole, "institution member role" {
        /// Owns part of the institution.
        BeneficialOwner = "BENEFICIAL_OWNER",
        /// Opened the account.
        AccountOpener = "ACCOUNT_OPENER",
        /// A trustee of a trust.
        Trustee = "TRUSTEE",
        /// May act on the account.
        AuthorizedUser = "AUTHORIZED_USER",
        /// The grantor of a trust.
        Grantor = "GRANTOR",
        /// Controls the management of the institution.
        ManagementControlPerson = "MANAGEMENT_CONTROL_PERSON",
        /// A beneficiary of a trust.
        Beneficiary = "BENEFICIARY",
    }
);

vocabulary!(
    /// The product an account is for.
    AccountType, "account type" {
        /// A brokerage account.
        Brokerage = "BROKERAGE",
        /// A traditional IRA.
        TraditionalIra = "TRADITIONAL_IRA",
        /// A Roth IRA.
        RothIra = "ROTH_IRA",
        /// A SEP IRA.
        SepIra = "SEP_IRA",
        /// A financial advisor account.
        FinancialAdvisor = "FINANCIAL_ADVISOR",
    }
);

impl AccountType {
    /// Retirement accounts belong to one natural person: no institutions, no joint members.
    pub const fn is_individual_retirement(self) -> bool {
        matches!(self, Self::TraditionalIra | Self::RothIra | Self::SepIra)
    }
}

vocabulary!(
    /// A member's role on an account.
    AccountMemberRole, "account member role" {
        /// A joint owner of the account.
        BeneficialOwner = "BENEFICIAL_OWNER",
        /// May act on the account without owning it.
        AuthorizedUser = "AUTHORIZED_USER",
        /// Advises the owner.
        FinancialAdvisor = "FINANCIAL_ADVISOR",
    }
);

vocabulary!(
    /// Buy or sell.
    OrderSide, "order side" {
        /// Buy the base asset with the quote asset.
        Buy = "BUY",
        /// Sell the base asset for the quote asset.
        Sell = "SELL",
    }
);

vocabulary!(
    /// How an order executes.
    OrderType, "order type" {
        /// At a limit price or better.
        Limit = "LIMIT",
        /// At the market price.
        Market = "MARKET",
        /// A limit order that only adds liquidity.
        PostOnlyLimit = "POST_ONLY_LIMIT",
        /// A market order triggered at a stop price.
        StopMarket = "STOP_MARKET",
        /// A limit order triggered at a stop price.
        StopLimit = "STOP_LIMIT",
    }
);

vocabulary!(
    /// How long an order stays open.
    TimeInForce, "time in force" {
        /// Good till cancelled.
        Gtc = "GTC",
        /// Fill or kill.
        Fok = "FOK",
        /// Immediate or cancel.
        Ioc = "IOC",
        /// Good till time.
        Gtt = "GTT",
    }
);

impl OrderType {
    /// The times in force Paxos accepts for this order type, the default first (the
    /// `TimeInForce` validity table of Paxos's API): market orders are immediate-or-cancel
    /// only, stop orders good-till-cancelled or good-till-time, limit orders any.
    pub fn times_in_force(self) -> &'static [TimeInForce] {
        use TimeInForce::{Fok, Gtc, Gtt, Ioc};
        match self {
            Self::Market => &[Ioc],
            Self::Limit | Self::PostOnlyLimit => &[Gtc, Ioc, Gtt, Fok],
            Self::StopMarket | Self::StopLimit => &[Gtc, Gtt],
        }
    }

    /// The time in force an order of this type gets when none is asked for.
    pub fn default_time_in_force(self) -> TimeInForce {
        self.times_in_force()[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip() {
        for sector in IndustrySector::ALL {
            assert_eq!(sector.as_str().parse::<IndustrySector>(), Ok(*sector));
        }
        assert_eq!(IndustrySector::ALL.len(), 43);
    }

    #[test]
    fn an_unknown_spelling_lists_the_allowed_ones_without_echoing_the_input() {
        let err = "Alice".parse::<IdentityKind>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "not one of the allowed identity kind values (PERSON INSTITUTION)"
        );
        assert!(!err.to_string().contains("Alice"));
    }

    #[test]
    fn serde_uses_the_stored_spelling() {
        let json = serde_json::to_string(&CipIdType::DrivingLicense).unwrap();
        assert_eq!(json, "\"DRIVING_LICENSE\"");
    }
}
