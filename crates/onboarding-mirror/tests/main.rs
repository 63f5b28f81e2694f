//! Integration tests of the mirror: a real PostgreSQL ledger per test, and a `paxos-sandbox`
//! over real HTTP on loopback.

#[allow(missing_docs)] // test fixtures, named for what they build
mod support;

mod dependencies;
mod flow;
mod leases;
mod orders;
mod rejections;
mod retries;
mod webhooks;
