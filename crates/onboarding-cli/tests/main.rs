//! End-to-end tests of the `onboarding` binary.

mod bench;
mod closed_output;
mod commands;
mod demo;
mod mirror;
