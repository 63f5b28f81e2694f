//! Identifiers of aggregates and of the things they own.
//!
//! Every id is a UUID newtype, so an `AccountId` can never be passed where an `IdentityId` is
//! expected. New ids are UUID v7: time ordered, which keeps B-tree indexes compact.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered (UUID v7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an existing UUID.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID inside.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim())
                    .map(Self)
                    .map_err(|_| InvalidId { kind: $what })
            }
        }
    };
}

uuid_id!(
    /// The ledger's id of a person or institution identity (also its `ref_id` at Paxos).
    IdentityId,
    "identity id"
);
uuid_id!(
    /// The ledger's id of an account (also its `ref_id` at Paxos).
    AccountId,
    "account id"
);
uuid_id!(
    /// The ledger's id of a profile, the holdings of one account.
    ProfileId,
    "profile id"
);
uuid_id!(
    /// The ledger's id of an order (also its `ref_id` at Paxos).
    OrderId,
    "order id"
);

/// A string that is not a UUID was given where an id was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {kind} (expected a UUID)")]
pub struct InvalidId {
    /// Which kind of id was expected.
    pub kind: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_their_text_form() {
        let id = IdentityId::new();
        assert_eq!(id.to_string().parse::<IdentityId>(), Ok(id));
    }

    #[test]
    fn a_malformed_id_names_its_kind() {
        let err = "nope".parse::<AccountId>().unwrap_err();
        assert_eq!(err.to_string(), "not a valid account id (expected a UUID)");
    }
}
