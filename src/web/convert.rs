//! Turns what the page passed in (config, events) into the core's plain types, refusing
//! anything that is not JSON with a message that names the offending field. The walk over
//! event metadata is `glue.js`'s (`readEvent`, `toJson`): it catches what only JavaScript
//! can see (functions, symbols, BigInt, NaN, `undefined` in arrays, class instances, cycles,
//! throwing getters) and hands over JSON text in one boundary crossing, which the core's
//! reader parses; the core only ever sees JSON. The limits (names, depth, size) and the
//! secret-key refusal are the core's (`core::event`, `core::config`).

use wasm_bindgen::{JsCast, JsValue};

use super::js::{
    own_keys, read_event_json, reflect_get, to_json, type_name, well_formed, Function,
};
use crate::core::config::RawConfig;
use crate::core::error::{Result, TrackerError};
use crate::core::event::{check_attributes, guard, limits, too_deep, too_large, RawEvent, Subject};
use crate::core::json::{parse, Json};
use crate::core::text::lone_surrogate;
use crate::core::voucherify::{RawVoucherifyConfig, RawVoucherifyEvent};

/// The refusal of a field whose getter (or proxy) threw.
fn threw(path: &str) -> String {
    ["reading ", path, " threw an exception"].concat()
}

/// `{path} must be {what}, got {the type of value}`.
fn wrong_type(path: &str, what: &str, value: &JsValue) -> TrackerError {
    TrackerError::config([path, " must be ", what, ", got ", &type_name(value)].concat())
}

/// Reads `obj[key]` (shown as `path`); a throwing getter or proxy becomes an error.
fn get(obj: &JsValue, key: &str, path: &str) -> Result<JsValue> {
    reflect_get(obj, &JsValue::from_str(key)).map_err(|_| TrackerError::config(threw(path)))
}

/// An optional string field (shown as `path`): `undefined`/`null` → `None`. Every string
/// field of a config or `setCustomer` crosses here, under the one rule for text that is not
/// Unicode (`core::text`): a lone surrogate is refused, never replaced.
fn opt_string(obj: &JsValue, key: &str, path: &str) -> Result<Option<String>> {
    let value = get(obj, key, path)?;
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    if value.is_string() && !well_formed(&value) {
        return Err(TrackerError::config(lone_surrogate(path)));
    }
    value
        .as_string()
        .map(Some)
        .ok_or_else(|| wrong_type(path, "a string", &value))
}

fn opt_number(obj: &JsValue, key: &str) -> Result<Option<f64>> {
    let value = get(obj, key, key)?;
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    value
        .as_f64()
        .map(Some)
        .ok_or_else(|| wrong_type(key, "a number", &value))
}

/// What `widget` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WidgetChoice {
    /// `widget: false`: tracking only.
    Off,
    /// Load the loader from this URL (Gameball's by default).
    Load {
        /// Loader script URL.
        script_url: Option<String>,
    },
}

/// The parts of a config the shell keeps for itself.
#[derive(Debug)]
pub struct ShellConfig {
    /// For the core.
    pub raw: RawConfig,
    /// `onDelivery`.
    pub on_delivery: Option<Function>,
    /// `widget`.
    pub widget: WidgetChoice,
    /// `customerAttributes`, for the widget.
    pub customer_attributes: Option<Json>,
}

/// Reads a `customerWidget` config.
///
/// # Errors
/// `invalid_config` naming the field.
pub fn read_config(config: &JsValue) -> Result<ShellConfig> {
    let (options, on_delivery) = read_options(
        config,
        "customerWidget needs a config object such as { apiKey: '...' }",
    )?;
    let raw = RawConfig {
        api_key: opt_string(config, "apiKey", "apiKey")?,
        customer_id: opt_string(config, "customerId", "customerId")?,
        email: opt_string(config, "email", "email")?,
        mobile: opt_string(config, "mobile", "mobile")?,
        lang: opt_string(config, "lang", "lang")?,
        session_token: opt_string(config, "sessionToken", "sessionToken")?,
        api_base: opt_string(config, "apiBase", "apiBase")?,
        ..options
    };
    Ok(ShellConfig {
        raw,
        on_delivery,
        widget: read_widget(config)?,
        customer_attributes: read_attributes(config, "customerAttributes")?,
    })
}

/// Reads a `voucherify` config: its own fields, then the queue options as `customerWidget`
/// reads them.
///
/// # Errors
/// `invalid_config` naming the field.
pub fn read_voucherify_config(config: &JsValue) -> Result<(RawVoucherifyConfig, Option<Function>)> {
    let (options, on_delivery) = read_options(
        config,
        "voucherify needs a config object such as { clientApplicationId: '...', clientSecretKey: '...' }",
    )?;
    let raw = RawVoucherifyConfig {
        client_application_id: opt_string(config, "clientApplicationId", "clientApplicationId")?,
        client_secret_key: opt_string(config, "clientSecretKey", "clientSecretKey")?,
        api_url: opt_string(config, "apiUrl", "apiUrl")?,
        tracking_id: opt_string(config, "trackingId", "trackingId")?,
        options,
    };
    Ok((raw, on_delivery))
}

/// The part both factories share: the config's keys (for the credential refusals), the
/// queue options, `debug` and `onDelivery`. `not_object` is the refusal of a non-object.
fn read_options(config: &JsValue, not_object: &str) -> Result<(RawConfig, Option<Function>)> {
    if !config.is_object() || config.is_function() || type_name(config) == "array" {
        return Err(TrackerError::config(not_object));
    }
    let keys = own_keys(config);
    if let Some(key) = keys.strip_prefix("#u") {
        return Err(TrackerError::config(lone_surrogate(key)));
    }
    if keys == "#p" {
        // Its keys could not all be read, so a secret key among them could not be refused.
        return Err(TrackerError::config(
            "the config's prototype chain is longer than 64 objects: pass a plain object",
        ));
    }
    let keys = match parse(&keys) {
        Ok(Json::Array(keys)) => keys
            .into_iter()
            .filter_map(|k| match k {
                Json::String(k) => Some(k),
                _ => None,
            })
            .collect(),
        _ => {
            return Err(TrackerError::config(
                "reading the config's keys threw an exception",
            ))
        }
    };
    let debug = get(config, "debug", "debug")?;
    if !(debug.is_undefined() || debug.is_null() || debug.as_bool().is_some()) {
        return Err(TrackerError::config("debug must be a boolean"));
    }
    let raw = RawConfig {
        flush_interval_ms: opt_number(config, "flushIntervalMs")?,
        max_queue_events: opt_number(config, "maxQueueEvents")?,
        max_queue_bytes: opt_number(config, "maxQueueBytes")?,
        max_attempts: opt_number(config, "maxAttempts")?,
        event_ttl_ms: opt_number(config, "eventTtlMs")?,
        debug: debug.as_bool().unwrap_or(false),
        keys,
        ..RawConfig::default()
    };
    let on_delivery = get(config, "onDelivery", "onDelivery")?;
    let on_delivery = if on_delivery.is_undefined() || on_delivery.is_null() {
        None
    } else {
        Some(
            on_delivery
                .dyn_into::<Function>()
                .map_err(|v| wrong_type("onDelivery", "a function", &v))?,
        )
    };
    Ok((raw, on_delivery))
}

fn read_widget(config: &JsValue) -> Result<WidgetChoice> {
    let widget = get(config, "widget", "widget")?;
    if widget.is_undefined() || widget.is_null() || widget.as_bool() == Some(true) {
        return Ok(WidgetChoice::Load { script_url: None });
    }
    if widget.as_bool() == Some(false) {
        return Ok(WidgetChoice::Off);
    }
    if !widget.is_object() || widget.is_function() {
        return Err(TrackerError::config(
            "widget must be false or an object such as { scriptUrl: '...' }",
        ));
    }
    let script_url = opt_string(&widget, "scriptUrl", "widget.scriptUrl")?;
    if let Some(url) = &script_url {
        crate::core::config::check_url("widget.scriptUrl", url)?;
    }
    Ok(WidgetChoice::Load { script_url })
}

/// Reads an optional JSON object field (`customerAttributes`).
///
/// # Errors
/// `invalid_config` when it is not a JSON object within the metadata limits.
pub fn read_attributes(obj: &JsValue, key: &str) -> Result<Option<Json>> {
    let value = get(obj, key, key)?;
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    let json = from_glue(
        to_json(&value, key, guard::BYTES, guard::DEPTH),
        Subject::Attributes,
    )?;
    check_attributes(key, &json)?;
    Ok(Some(json))
}

/// Customer fields of `setCustomer(...)`.
#[derive(Debug)]
pub struct CustomerUpdate {
    /// `customerId` (required).
    pub customer_id: String,
    /// `email`.
    pub email: Option<String>,
    /// `mobile`.
    pub mobile: Option<String>,
    /// `sessionToken`.
    pub session_token: Option<String>,
    /// `customerAttributes`.
    pub customer_attributes: Option<Json>,
}

/// Reads the argument of `setCustomer`.
///
/// # Errors
/// `invalid_config` naming the field.
pub fn read_customer(value: &JsValue) -> Result<CustomerUpdate> {
    if !value.is_object() || value.is_function() {
        return Err(TrackerError::config(
            "setCustomer needs an object such as { customerId: 'cust_42' }",
        ));
    }
    let customer_id = opt_string(value, "customerId", "customerId")?
        .ok_or_else(|| TrackerError::config("setCustomer needs a customerId"))?;
    let email = opt_string(value, "email", "email")?;
    let mobile = opt_string(value, "mobile", "mobile")?;
    let raw = RawConfig {
        api_key: Some("check".into()),
        customer_id: Some(customer_id.clone()),
        email: email.clone(),
        mobile: mobile.clone(),
        session_token: opt_string(value, "sessionToken", "sessionToken")?,
        ..RawConfig::default()
    };
    let session_token = raw.session_token.clone();
    crate::core::config::Config::from_raw(raw)?;
    Ok(CustomerUpdate {
        customer_id,
        email,
        mobile,
        session_token,
        customer_attributes: read_attributes(value, "customerAttributes")?,
    })
}

/// Parses what a `glue.js` walk returned, which JSON text never starts with `!` or `#`:
/// - JSON text;
/// - `!` and a refusal of what only JavaScript sees, worded there;
/// - `#b` and the path at which the walk passed [`guard::BYTES`];
/// - `#d` and the paths (a JSON array, outermost first) of the objects and arrays down to
///   one nested deeper than [`guard::DEPTH`]: the error names the one at the core's limit;
/// - `#u` and the path of a string or key holding a lone surrogate.
///
/// The last three get the core's words (the limit the value is past, `core::text`).
fn from_glue(text: String, subject: Subject) -> Result<Json> {
    if let Some(message) = text.strip_prefix('!') {
        return Err(subject.error(message.to_owned()));
    }
    if let Some(path) = text.strip_prefix("#b") {
        return Err(too_large(subject, path));
    }
    if let Some(paths) = text.strip_prefix("#d") {
        let path = match parse(paths) {
            Ok(Json::Array(paths)) => paths
                .get(limits::METADATA_DEPTH)
                .or(paths.last())
                .and_then(Json::as_str)
                .map(str::to_owned),
            _ => None,
        };
        return Err(too_deep(subject, path.as_deref().unwrap_or("the value")));
    }
    if let Some(path) = text.strip_prefix("#u") {
        return Err(subject.error(lone_surrogate(path)));
    }
    parse(&text).map_err(|_| subject.error("the event could not be read as JSON".to_owned()))
}

/// Reads the argument of `sendEvent`.
///
/// # Errors
/// `invalid_event` naming the offending field.
pub fn read_event(event: &JsValue) -> Result<RawEvent> {
    let json = from_glue(
        read_event_json(event, guard::BYTES, guard::DEPTH),
        Subject::Event,
    )?;
    let Json::Object(members) = json else {
        return Err(TrackerError::event("the event could not be read as JSON"));
    };
    let mut raw = RawEvent::default();
    for (key, value) in members {
        match (key.as_str(), value) {
            ("ev", Json::Object(events)) => raw.events = events,
            ("c", Json::String(s)) => raw.customer_id = Some(s),
            ("e", Json::String(s)) => raw.email = Some(s),
            ("m", Json::String(s)) => raw.mobile = Some(s),
            _ => {}
        }
    }
    Ok(raw)
}

/// Reads the argument of a `voucherify` tracker's `sendEvent`: each field walked to JSON as
/// event metadata is (`glue.js`), the checks left to the core.
///
/// # Errors
/// `invalid_event` naming the offending field.
pub fn read_voucherify_event(event: &JsValue) -> Result<RawVoucherifyEvent> {
    if !event.is_object() || event.is_function() || type_name(event) == "array" {
        return Err(TrackerError::event(
            "sendEvent needs an object such as { event: 'user_subscribed', customer: { source_id: 'cust_42' } }",
        ));
    }
    let field = |key: &str| -> Result<Option<Json>> {
        let value = reflect_get(event, &JsValue::from_str(key))
            .map_err(|_| TrackerError::event(threw(key)))?;
        if value.is_undefined() {
            return Ok(None);
        }
        from_glue(
            to_json(&value, key, guard::BYTES, guard::DEPTH),
            Subject::Event,
        )
        .map(Some)
    };
    Ok(RawVoucherifyEvent {
        event: field("event")?,
        customer: field("customer")?,
        metadata: field("metadata")?,
        referral: field("referral")?,
        loyalty: field("loyalty")?,
    })
}
