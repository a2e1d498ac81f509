//! `gameball-tracker`: a client-side event tracker for web storefronts that delivers
//! events to Gameball's events API durably: nothing lost, and a second delivery only where
//! a request's fate was unknown, counted.
//!
//! [`core`] is pure Rust and decides everything; `web` (wasm32 only) is the thin browser
//! shell that performs the core's decisions with real browser APIs.
#![deny(missing_docs)]
// A panic in the shipped module kills the tracker for the whole page: no unwrap, expect or
// panic outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
// And no `format!` (clippy.toml says why): tests may.
#![cfg_attr(not(test), deny(clippy::disallowed_macros))]
#![cfg_attr(test, allow(clippy::disallowed_macros))]

pub mod core;

#[cfg(target_arch = "wasm32")]
pub mod web;
