//! End-to-end tests of the `onboarding` binary.

mod bench;
mod demo;
mod mirror;
