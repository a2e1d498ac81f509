//! Imports from `glue.js` and the small conversions between Rust values and JS ones.

use wasm_bindgen::prelude::*;

use crate::core::engine::Report;
use crate::core::error::TrackerError;

#[wasm_bindgen(module = "/src/web/glue.js")]
extern "C" {
    #[wasm_bindgen(js_name = makeError)]
    fn make_error(
        code: &str,
        message: &str,
        status: Option<u16>,
        gameball_code: Option<f64>,
        request_id: Option<String>,
        id: Option<String>,
    ) -> JsValue;

    #[wasm_bindgen(js_name = makeResponse)]
    fn make_response(status: u16, attempts: u32, id: &str) -> JsValue;

    #[wasm_bindgen(js_name = makeReport)]
    fn make_report(
        id: &str,
        ok: bool,
        event_names: Vec<String>,
        customer_id: &str,
        status: Option<u16>,
        attempts: Option<u32>,
        error: JsValue,
    ) -> JsValue;

    /// `null`, `array`, or the `typeof` of `value`, for messages.
    #[wasm_bindgen(js_name = typeName)]
    pub fn type_name(value: &JsValue) -> String;

    /// `value` as JSON text, or a code for why not (`convert.rs` `from_glue`); the walk
    /// stops past `bytes` or `depth`.
    #[wasm_bindgen(js_name = toJson)]
    pub fn to_json(value: &JsValue, path: &str, bytes: usize, depth: usize) -> String;

    /// The argument of `sendEvent` as JSON text, or a code for why not (`convert.rs`
    /// `from_glue`); the walk stops past `bytes` or `depth`.
    #[wasm_bindgen(js_name = readEvent)]
    pub fn read_event_json(event: &JsValue, bytes: usize, depth: usize) -> String;
}

/// The `GameballError` for `error`.
pub fn error_value(error: &TrackerError) -> JsValue {
    make_error(
        error.code.as_str(),
        &error.message,
        error.status,
        error.gameball_code.map(|c| c as f64),
        error.request_id.clone(),
        error.id.clone(),
    )
}

/// The `(response, error)` pair a callback gets for `report`.
pub fn outcome_values(report: &Report) -> (JsValue, JsValue) {
    match &report.result {
        Ok(delivered) => (
            make_response(delivered.status, delivered.attempts, &report.id),
            JsValue::NULL,
        ),
        Err(error) => (JsValue::NULL, error_value(error)),
    }
}

/// The `onDelivery` report object.
pub fn report_value(report: &Report) -> JsValue {
    let (status, attempts, error) = match &report.result {
        Ok(d) => (Some(d.status), Some(d.attempts), JsValue::UNDEFINED),
        Err(e) => (e.status, None, error_value(e)),
    };
    make_report(
        &report.id,
        report.result.is_ok(),
        report.event_names.clone(),
        &report.customer_id,
        status,
        attempts,
        error,
    )
}

/// Milliseconds since the epoch, as the core counts time.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// 64 random bits for ids and jitter.
pub fn random_seed() -> u64 {
    let high = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    let low = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    (high << 32) ^ low ^ now_ms()
}

// talc instead of std's dlmalloc: about 2 KB less gzip of module for the same job.
// SAFETY: wasm32 without the atomics feature is single-threaded, which is what
// `TalckWasm` assumes, and nothing else in the module manages linear memory.
#[global_allocator]
static ALLOCATOR: talc::TalckWasm = unsafe { talc::TalckWasm::new_global() };
