//! The pure core: every rule of validation, queueing, batching, retry and back-off, with no
//! browser API and no clock, so that all of it is tested natively.

pub mod config;
pub mod engine;
pub mod error;
pub mod event;
pub mod gameball;
pub mod json;
pub mod policy;
pub mod record;
pub mod relay;
pub mod rng;
