//! Integration tests of the Paxos client against the sandbox on loopback (real HTTP), and of the
//! request bodies it builds from domain values against Paxos's OpenAPI request schemas.

mod auth;
mod errors;
mod flow;
mod hostile_bodies;
mod retries;
mod schema;
mod support;
