//! Imports from `glue.js` and the small conversions between Rust values and JS ones.

use wasm_bindgen::prelude::*;

use crate::core::clock::Now;
use crate::core::error::TrackerError;
use crate::core::io::{Report, Stats};
use crate::core::json::write_string;

// The few browser built-ins the shell calls, declared here rather than taken from js-sys and
// web-sys: linking js-sys at all keeps a closure shim for each of its closure-taking imports
// in the module (its descriptors take their addresses), used or not.
#[wasm_bindgen]
extern "C" {
    /// A JS function (what `typeof` calls one).
    #[wasm_bindgen(is_type_of = JsValue::is_function)]
    #[derive(Debug, Clone)]
    pub type Function;

    /// A JS Promise.
    pub type Promise;

    /// `localStorage`: the `Storage` methods the record store uses (each may throw).
    #[derive(Debug)]
    pub type Storage;

    #[wasm_bindgen(method, catch, js_name = getItem)]
    pub fn get_item(this: &Storage, key: &str) -> Result<Option<String>, JsValue>;

    #[wasm_bindgen(method, catch, js_name = setItem)]
    pub fn set_item(this: &Storage, key: &str, value: &str) -> Result<(), JsValue>;

    #[wasm_bindgen(method, catch, js_name = removeItem)]
    pub fn remove_item(this: &Storage, key: &str) -> Result<(), JsValue>;

    #[wasm_bindgen(method, catch)]
    pub fn key(this: &Storage, index: u32) -> Result<Option<String>, JsValue>;

    #[wasm_bindgen(method, catch, getter)]
    pub fn length(this: &Storage) -> Result<u32, JsValue>;

    /// `Reflect.get(target, key)`: a getter or proxy that throws is an `Err`.
    #[wasm_bindgen(catch, js_namespace = Reflect, js_name = get)]
    pub fn reflect_get(target: &JsValue, key: &JsValue) -> Result<JsValue, JsValue>;
}

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
        voucherify_key: Option<String>,
    ) -> JsValue;

    #[wasm_bindgen(js_name = monoNow)]
    fn mono_now() -> f64;

    /// `Date.now()`, or the browser's own when the page's throws or is not a number.
    #[wasm_bindgen(js_name = wallNow)]
    fn wall_now() -> f64;

    /// 32 random bits (`crypto.getRandomValues`).
    fn random32() -> u32;

    /// Whether the browser's `URL` parser takes `url`.
    #[wasm_bindgen(js_name = parsesAsUrl)]
    pub fn parses_as_url(url: &str) -> bool;

    /// Whether this is a browser page (a `Window` with a document): not server-side
    /// rendering, not a worker.
    #[wasm_bindgen(js_name = browserPresent)]
    pub fn browser_present() -> bool;

    /// `window.localStorage`, or `None` where the page may not have it (`SecurityError`).
    #[wasm_bindgen(js_name = localStore)]
    pub fn local_store() -> Option<Storage>;

    /// `navigator.onLine`.
    #[wasm_bindgen(js_name = onLine)]
    pub fn on_line() -> bool;

    #[wasm_bindgen(js_name = makeStats)]
    fn make_stats(
        counts: &[f64],
        dropped: &str,
        storage: &str,
        paused: bool,
        sender: bool,
        circuit_open: bool,
    ) -> JsValue;

    /// Registers who waits for event `id`: `callback`, or (when it is not a function) a new
    /// Promise, returned, that the outcome settles.
    pub fn wait(id: &str, callback: &JsValue) -> JsValue;

    /// Event `id`'s one outcome (`error` a `GameballError`, or undefined when delivered with
    /// `status` after `attempts`): settles its waiter, then tells `on_delivery` if a function.
    fn outcome(
        id: &str,
        on_delivery: &JsValue,
        error: JsValue,
        status: Option<u16>,
        attempts: Option<u32>,
        event_names: &str,
        customer_id: &str,
    );

    /// `error` to `callback` a microtask later, or (not a function) a rejected Promise.
    #[wasm_bindgen(js_name = failLater)]
    pub fn fail_later(callback: &JsValue, error: &JsValue) -> JsValue;

    /// `flush()`'s Promise for tracker `id`, which counted `sent` and `failed` so far.
    #[wasm_bindgen(js_name = flushWait)]
    pub fn flush_wait(id: u32, sent: f64, failed: f64) -> Promise;

    /// Resolves tracker `id`'s waiting `flush()` calls with what changed since each.
    #[wasm_bindgen(js_name = settleFlushes)]
    pub fn settle_flushes(id: u32, sent: f64, failed: f64, pending: f64);

    /// `console[level]("gameball-tracker: " + message, value?)`.
    pub fn log(level: &str, message: &str, value: &JsValue);

    /// Every string key of `value` and its prototypes (enumerable or not) as JSON text, or
    /// `!` when reading them throws.
    #[wasm_bindgen(js_name = ownKeys)]
    pub fn own_keys(value: &JsValue) -> String;

    /// A Promise rejected with `error`, marked handled, the error logged: the outcome of a
    /// call whose callback is not a function.
    #[wasm_bindgen(js_name = rejectHandled)]
    pub fn reject_handled(error: &JsValue) -> JsValue;

    /// `null`, `array`, or the `typeof` of `value`, for messages.
    #[wasm_bindgen(js_name = typeName)]
    pub fn type_name(value: &JsValue) -> String;

    /// Whether the JS string `value` is well-formed UTF-16 (no lone surrogate): asked before
    /// converting it to a Rust `String`, which would replace one with U+FFFD.
    #[wasm_bindgen(js_name = wellFormed)]
    pub fn well_formed(value: &JsValue) -> bool;

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
        error.voucherify_key.clone(),
    )
}

/// What `stats()` shows besides the counters.
#[derive(Debug, Clone, Copy)]
pub struct StatsView<'a> {
    /// Events queued.
    pub queued: usize,
    /// Bytes of their records.
    pub bytes: usize,
    /// `localStorage` or `memory`.
    pub storage: &'a str,
    /// A 401/403 paused sending.
    pub paused: bool,
    /// This tab sends for the origin.
    pub sender: bool,
    /// The circuit breaker is open.
    pub circuit_open: bool,
    /// Milliseconds until the hold on every request ends (0: none).
    pub held_ms: u64,
}

/// The numbers and words of a `stats()` object, read while the engine is borrowed;
/// [`StatsParts::to_js`] makes the object once it no longer is (JS runs there).
pub struct StatsParts<'a> {
    counts: Vec<f64>,
    dropped: String,
    view: StatsView<'a>,
}

/// `stats()`'s parts from the engine's counters and `view`.
pub fn stats_parts<'a>(stats: &Stats, view: StatsView<'a>) -> StatsParts<'a> {
    let counts = [
        view.queued as f64,
        stats.sent as f64,
        stats.retried as f64,
        view.bytes as f64,
        stats.resent_unknown as f64,
        stats.resent_unknown_total as f64,
        stats.restored as f64,
        stats.sent_on_exit as f64,
        view.held_ms as f64,
    ];
    // The count of each dropped code follows the fixed counts, as f64s (no number
    // formatting in the module).
    let mut counts = counts.to_vec();
    counts.extend(stats.dropped.iter().map(|(_, n)| *n as f64));
    let dropped = json_strings(stats.dropped.iter().map(|(code, _)| *code));
    StatsParts {
        counts,
        dropped,
        view,
    }
}

impl StatsParts<'_> {
    /// The `stats()` object.
    pub fn to_js(&self) -> JsValue {
        make_stats(
            &self.counts,
            &self.dropped,
            self.view.storage,
            self.view.paused,
            self.view.sender,
            self.view.circuit_open,
        )
    }
}

/// Settles `report`'s waiter and tells `on_delivery` (`undefined` for none).
pub fn report_outcome(report: &Report, on_delivery: &JsValue) {
    let (error, status, attempts) = match &report.result {
        Ok(d) => (JsValue::UNDEFINED, Some(d.status), Some(d.attempts)),
        Err(e) => (error_value(e), e.status, None),
    };
    outcome(
        &report.id,
        on_delivery,
        error,
        status,
        attempts,
        &json_strings(report.event_names.iter().map(String::as_str)),
        &report.customer_id,
    );
}

/// `items` as the text of a JSON array of strings: one string crosses to JS (`JSON.parse`
/// there) instead of an array of JS strings, which costs the module wasm-bindgen's array
/// conversion.
pub fn json_strings<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut text = String::from("[");
    for (i, item) in items.enumerate() {
        if i > 0 {
            text.push(',');
        }
        write_string(item, &mut text);
    }
    text.push(']');
    text
}

/// Both clocks as the engine takes them: `performance.now()` from `glue.js`'s fixed origin
/// (monotonic), and `Date.now()` (wall).
pub fn now() -> Now {
    Now {
        mono_ms: mono_now() as u64,
        wall_ms: wall_now() as u64,
    }
}

/// 64 random bits for ids and jitter.
pub fn random_seed() -> u64 {
    let high = u64::from(random32());
    let low = u64::from(random32());
    (high << 32) ^ low ^ (wall_now() as u64)
}

// talc instead of std's dlmalloc: about 2 KB less gzip of module for the same job.
// SAFETY: wasm32 without the atomics feature is single-threaded, which is what
// `TalckWasm` assumes, and nothing else in the module manages linear memory.
#[global_allocator]
static ALLOCATOR: talc::TalckWasm = unsafe { talc::TalckWasm::new_global() };
