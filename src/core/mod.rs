//! The pure core: every rule of validation, queueing, batching, retry and back-off, with no
//! browser API and no clock, so that all of it is tested natively.

pub mod clock;
pub mod config;
pub mod destination;
pub mod engine;
pub mod error;
pub mod event;
pub mod gameball;
pub mod io;
pub mod json;
pub mod outcome;
pub mod policy;
pub mod record;
pub mod relay;
pub mod rng;
pub mod sorted;
pub mod storage_key;
pub mod text;
pub mod voucherify;
