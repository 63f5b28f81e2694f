//! Integration tests of the ledger against a real PostgreSQL, one fresh database per test.

mod append_reload;
mod cached_state;
mod cip_race;
mod concurrency;
mod erasure;
mod errors;
mod fixtures;
mod group_commit;
mod hostile_input;
mod integrity;
mod log_reader;
mod metadata;
mod postgres_store;
mod snapshots;
mod upcasting;
