//! Integration tests of the projector against a real PostgreSQL, one fresh database per test
//! (`#[sqlx::test]`), plus the in-memory projector's parity with it.

mod crash_resume;
mod custom_view;
mod example;
mod failures;
mod late_commit;
mod leases;
mod live;
mod memory;
mod point_in_time;
mod rebuild;
mod support;
mod writers;
