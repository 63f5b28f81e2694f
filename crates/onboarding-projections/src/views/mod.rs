//! The built-in views: identity status, accounts, profile balances, orders.

pub mod accounts;
pub mod identity_status;
pub mod orders;
pub mod profiles;

pub use accounts::{AccountRow, Accounts};
pub use identity_status::{IdentityStatus, IdentityStatusRow, MirrorState};
pub use orders::{OrderRow, Orders};
pub use profiles::Profiles;
