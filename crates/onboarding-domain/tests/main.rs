//! The rules of the onboarding domain, one test per rule, given/when/then on the aggregates.

#![allow(missing_docs)]

mod support;

mod account;
mod balances_prop;
mod decision;
mod draft;
mod hostile;
mod identity;
mod institution;
mod mirror;
mod orders;
mod pii;
mod profile;
