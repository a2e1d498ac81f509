//! The browser shell: the only code that touches JavaScript. It converts what the page
//! passes in, performs the core's actions with browser APIs, and reports back.

mod api;
mod convert;
mod js;
mod storage;
mod tabs;
mod tracker;
mod types;
mod widget;

pub use api::{customer_widget, send_event, voucherify, Tracker};
