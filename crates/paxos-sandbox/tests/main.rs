//! Integration tests of the sandbox over real HTTP on loopback, with a plain HTTP client: the
//! token endpoint, request validation, uniqueness, decisions and webhooks, orders, events, and
//! fault injection.

mod api;
mod support;
mod webhooks;
