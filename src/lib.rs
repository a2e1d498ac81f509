//! `gameball-tracker`: a client-side event tracker for web storefronts that delivers
//! events to Gameball's events API durably and at most once where the browser allows.
//!
//! [`core`] is pure Rust and decides everything; `web` (wasm32 only) is the thin browser
//! shell that performs the core's decisions with real browser APIs.
#![deny(missing_docs)]

pub mod core;

#[cfg(target_arch = "wasm32")]
pub mod web;
