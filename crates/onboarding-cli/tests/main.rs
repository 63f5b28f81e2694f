//! End-to-end tests of the `onboarding` binary.

mod demo;
mod mirror;
