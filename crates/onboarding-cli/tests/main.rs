//! End-to-end tests of the `onboarding` binary.

mod bench;
mod commands;
mod demo;
mod mirror;
