//! Turns what the page passed in (config, events) into the core's plain types, refusing
//! anything that is not JSON with a message that names the offending field. This walk is
//! where functions, symbols, BigInt, NaN, `undefined` in arrays and cycles are caught: the
//! core only ever sees JSON.

use js_sys::{Array, Object, Reflect};
use std::fmt::Write;
use wasm_bindgen::{JsCast, JsValue};

use super::js::{constructor_name, is_plain_object};
use crate::core::config::RawConfig;
use crate::core::error::{Result, TrackerError};
use crate::core::event::{limits, RawEvent};
use crate::core::json::Json;

/// Reads `obj[key]`; a throwing getter or proxy becomes an error for `path`.
fn get(obj: &JsValue, key: &str, path: &str, fail: fn(String) -> TrackerError) -> Result<JsValue> {
    Reflect::get(obj, &JsValue::from_str(key))
        .map_err(|_| fail(format!("reading {path} threw an exception")))
}

fn type_name(value: &JsValue) -> String {
    if value.is_null() {
        "null".into()
    } else if value.is_undefined() {
        "undefined".into()
    } else if Array::is_array(value) {
        "array".into()
    } else {
        value
            .js_typeof()
            .as_string()
            .unwrap_or_else(|| "value".into())
    }
}

/// An optional string field: `undefined`/`null` → `None`.
fn opt_string(
    obj: &JsValue,
    key: &str,
    fail: fn(String) -> TrackerError,
) -> Result<Option<String>> {
    let value = get(obj, key, key, fail)?;
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    value
        .as_string()
        .map(Some)
        .ok_or_else(|| fail(format!("{key} must be a string, got {}", type_name(&value))))
}

fn opt_number(obj: &JsValue, key: &str) -> Result<Option<f64>> {
    let value = get(obj, key, key, TrackerError::config)?;
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    value.as_f64().map(Some).ok_or_else(|| {
        TrackerError::config(format!("{key} must be a number, got {}", type_name(&value)))
    })
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
    pub on_delivery: Option<js_sys::Function>,
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
    if !config.is_object() || config.is_function() || Array::is_array(config) {
        return Err(TrackerError::config(
            "customerWidget needs a config object such as { apiKey: '...' }",
        ));
    }
    let keys = Object::keys(config.unchecked_ref::<Object>());
    for key in keys.iter().filter_map(|k| k.as_string()) {
        let folded: String = key
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if folded == "secretkey" || folded == "transactionkey" {
            return Err(TrackerError::config(format!(
                "{key} must never be in a browser: it lets anyone award points. Use only the public apiKey here and keep the secret key on your server"
            )));
        }
    }
    let debug = get(config, "debug", "debug", TrackerError::config)?;
    if !(debug.is_undefined() || debug.is_null() || debug.as_bool().is_some()) {
        return Err(TrackerError::config("debug must be a boolean"));
    }
    let raw = RawConfig {
        api_key: opt_string(config, "apiKey", TrackerError::config)?,
        customer_id: opt_string(config, "customerId", TrackerError::config)?,
        email: opt_string(config, "email", TrackerError::config)?,
        mobile: opt_string(config, "mobile", TrackerError::config)?,
        lang: opt_string(config, "lang", TrackerError::config)?,
        session_token: opt_string(config, "sessionToken", TrackerError::config)?,
        api_base: opt_string(config, "apiBase", TrackerError::config)?,
        flush_interval_ms: opt_number(config, "flushIntervalMs")?,
        max_queue_events: opt_number(config, "maxQueueEvents")?,
        max_queue_bytes: opt_number(config, "maxQueueBytes")?,
        max_attempts: opt_number(config, "maxAttempts")?,
        event_ttl_ms: opt_number(config, "eventTtlMs")?,
        debug: debug.as_bool().unwrap_or(false),
    };
    let on_delivery = get(config, "onDelivery", "onDelivery", TrackerError::config)?;
    let on_delivery = if on_delivery.is_undefined() || on_delivery.is_null() {
        None
    } else {
        Some(on_delivery.dyn_into::<js_sys::Function>().map_err(|v| {
            TrackerError::config(format!(
                "onDelivery must be a function, got {}",
                type_name(&v)
            ))
        })?)
    };
    Ok(ShellConfig {
        raw,
        on_delivery,
        widget: read_widget(config)?,
        customer_attributes: read_attributes(config, "customerAttributes")?,
    })
}

fn read_widget(config: &JsValue) -> Result<WidgetChoice> {
    let widget = get(config, "widget", "widget", TrackerError::config)?;
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
    let script_url = opt_string(&widget, "scriptUrl", |m| {
        TrackerError::config(format!("widget.{m}"))
    })?;
    if let Some(url) = &script_url {
        crate::core::config::check_url("widget.scriptUrl", url)?;
    }
    Ok(WidgetChoice::Load { script_url })
}

/// Reads an optional JSON object field (`customerAttributes`).
///
/// # Errors
/// `invalid_config` when it is not a JSON object.
pub fn read_attributes(obj: &JsValue, key: &str) -> Result<Option<Json>> {
    let value = get(obj, key, key, TrackerError::config)?;
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    let mut walk = Walk::new();
    let json = walk
        .value(&value, &mut key.to_owned(), 0)
        .map_err(|e| TrackerError::config(e.message))?;
    match json {
        Json::Object(_) => Ok(Some(json)),
        _ => Err(TrackerError::config(format!("{key} must be an object"))),
    }
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
    let customer_id = opt_string(value, "customerId", TrackerError::config)?
        .ok_or_else(|| TrackerError::config("setCustomer needs a customerId"))?;
    let email = opt_string(value, "email", TrackerError::config)?;
    let mobile = opt_string(value, "mobile", TrackerError::config)?;
    let raw = RawConfig {
        api_key: Some("check".into()),
        customer_id: Some(customer_id.clone()),
        email: email.clone(),
        mobile: mobile.clone(),
        session_token: opt_string(value, "sessionToken", TrackerError::config)?,
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

/// Reads the argument of `sendEvent`.
///
/// # Errors
/// `invalid_event` naming the offending field.
pub fn read_event(event: &JsValue) -> Result<RawEvent> {
    if !event.is_object() || event.is_function() || Array::is_array(event) {
        return Err(TrackerError::event(
            "sendEvent needs an object such as { events: { add_to_cart: { product_id: '1' } } }",
        ));
    }
    let events = get(event, "events", "events", TrackerError::event)?;
    if !events.is_object() || events.is_function() || Array::is_array(&events) {
        return Err(TrackerError::event(format!(
            "events must be an object of event name → metadata, got {}",
            type_name(&events)
        )));
    }
    let names = Object::keys(events.unchecked_ref::<Object>());
    if names.length() as usize > limits::EVENTS_PER_CALL {
        return Err(TrackerError::event(format!(
            "events has {} names; one call takes at most {}",
            names.length(),
            limits::EVENTS_PER_CALL
        )));
    }
    let mut walk = Walk::new();
    let mut list = Vec::with_capacity(names.length() as usize);
    for name in names.iter().filter_map(|n| n.as_string()) {
        let mut path = format!("events.{name}");
        let metadata = get(&events, &name, &path, TrackerError::event)?;
        if metadata.is_undefined() {
            return Err(TrackerError::event(format!(
                "{path} is undefined; use {{}} for an event without metadata"
            )));
        }
        list.push((name, walk.value(&metadata, &mut path, 1)?));
    }
    Ok(RawEvent {
        customer_id: opt_string(event, "customerId", TrackerError::event)?,
        email: opt_string(event, "email", TrackerError::event)?,
        mobile: opt_string(event, "mobile", TrackerError::event)?,
        events: list,
    })
}

/// One walk over a JS value tree, with what it needs to stop early: the objects above the
/// current one (to spot cycles) and a byte budget (so a 10 MB array is refused without
/// being copied first).
struct Walk {
    ancestors: Vec<JsValue>,
    budget: usize,
}

impl Walk {
    fn new() -> Walk {
        Walk {
            ancestors: Vec::new(),
            budget: limits::EVENT_BYTES,
        }
    }

    fn spend(&mut self, bytes: usize, path: &str) -> Result<()> {
        self.budget = self.budget.checked_sub(bytes).ok_or_else(|| {
            TrackerError::event(format!(
                "{path} makes the event larger than {} bytes",
                limits::EVENT_BYTES
            ))
        })?;
        Ok(())
    }

    fn value(&mut self, value: &JsValue, path: &mut String, depth: usize) -> Result<Json> {
        if value.is_null() {
            self.spend(4, path)?;
            return Ok(Json::Null);
        }
        if let Some(b) = value.as_bool() {
            self.spend(5, path)?;
            return Ok(Json::Bool(b));
        }
        if let Some(n) = value.as_f64() {
            if !n.is_finite() {
                return Err(TrackerError::event(format!(
                    "{path} is {}, which is not a JSON number",
                    if n.is_nan() { "NaN" } else { "±Infinity" }
                )));
            }
            let text = js_sys::Number::from(n)
                .to_string_with_radix(10)
                .ok()
                .and_then(|s| s.as_string())
                .unwrap_or_else(|| "0".into());
            self.spend(text.len(), path)?;
            return Ok(Json::Number(text));
        }
        if let Some(s) = value.as_string() {
            self.spend(s.len() + 2, path)?;
            return Ok(Json::String(s));
        }
        if value.is_undefined() {
            return Err(TrackerError::event(format!(
                "{path} is undefined, which JSON cannot carry"
            )));
        }
        if value.is_bigint() {
            return Err(TrackerError::event(format!(
                "{path} is a BigInt, which JSON cannot carry; send it as a string"
            )));
        }
        if value.is_symbol() || value.is_function() {
            return Err(TrackerError::event(format!(
                "{path} is a {}, which JSON cannot carry",
                type_name(value)
            )));
        }
        if depth > limits::METADATA_DEPTH {
            return Err(TrackerError::event(format!(
                "{path} is nested deeper than {} levels",
                limits::METADATA_DEPTH
            )));
        }
        if self.ancestors.iter().any(|a| Object::is(a, value)) {
            return Err(TrackerError::event(format!(
                "{path} refers back to an object that contains it (a cycle)"
            )));
        }
        self.ancestors.push(value.clone());
        let result = if Array::is_array(value) {
            self.array(value.unchecked_ref(), path, depth)
        } else if is_plain_object(value) {
            self.object(value, path, depth)
        } else {
            let kind = constructor_name(value);
            let hint = if kind == "Date" {
                "; send date.toISOString()"
            } else {
                ""
            };
            Err(TrackerError::event(format!(
                "{path} is a {kind}; metadata takes only strings, finite numbers, booleans, null, arrays and plain objects{hint}"
            )))
        };
        self.ancestors.pop();
        result
    }

    fn array(&mut self, array: &Array, path: &mut String, depth: usize) -> Result<Json> {
        let len = array.length();
        self.spend(2 + len as usize, path)?;
        let mut items = Vec::with_capacity(len as usize);
        for i in 0..len {
            let at = path.len();
            // Straight into the path: no temporary String per array item on the hot path.
            let _ = write!(path, "[{i}]");
            let item = Reflect::get_u32(array, i)
                .map_err(|_| TrackerError::event(format!("reading {path} threw an exception")))?;
            if item.is_undefined() {
                return Err(TrackerError::event(format!(
                    "{path} is undefined (or a hole), which JSON cannot carry inside an array"
                )));
            }
            items.push(self.value(&item, path, depth + 1)?);
            path.truncate(at);
        }
        Ok(Json::Array(items))
    }

    /// Members whose value is `undefined` are left out, as `JSON.stringify` leaves them out.
    fn object(&mut self, obj: &JsValue, path: &mut String, depth: usize) -> Result<Json> {
        let keys = Object::keys(obj.unchecked_ref::<Object>());
        self.spend(2, path)?;
        let mut members = Vec::with_capacity(keys.length() as usize);
        for key in keys.iter().filter_map(|k| k.as_string()) {
            let at = path.len();
            path.push('.');
            path.push_str(&key);
            let item = get(obj, &key, path, TrackerError::event)?;
            if !item.is_undefined() {
                self.spend(key.len() + 4, path)?;
                members.push((key, self.value(&item, path, depth + 1)?));
            }
            path.truncate(at);
        }
        Ok(Json::Object(members))
    }
}
