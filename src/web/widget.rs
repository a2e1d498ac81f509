//! Gameball's customer widget, loaded as Gameball documents it: define `window.GbLoadInit`,
//! inject the loader script once with `defer`, and let it call `GbSdk.init` with the
//! widget's names (`playerUniqueId`, `playerAttributes`). Values are set as properties,
//! never written as HTML.

use js_sys::{Function, Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::core::json::Json;

/// Gameball's hosted loader.
pub const DEFAULT_LOADER: &str = "https://assets.gameball.co/widget/js/gameball-init.min.js";
const LOADER_ELEMENT_ID: &str = "gameball-widget-loader";

/// What the widget is initialised with.
#[derive(Debug, Clone)]
pub struct WidgetInit {
    /// `APIKey`.
    pub api_key: String,
    /// `lang`.
    pub lang: String,
    /// `playerUniqueId`; empty for the guest view.
    pub customer_id: Option<String>,
    /// `playerAttributes`.
    pub attributes: Option<Json>,
    /// `sessionToken`.
    pub session_token: Option<String>,
}

fn to_js(value: &Json) -> JsValue {
    match value {
        Json::Null => JsValue::NULL,
        Json::Bool(b) => JsValue::from_bool(*b),
        Json::Number(text) => JsValue::from_f64(js_sys::Number::parse_float(text)),
        Json::String(s) => JsValue::from_str(s),
        Json::Array(items) => items.iter().map(to_js).collect::<js_sys::Array>().into(),
        Json::Object(members) => {
            let obj = Object::new();
            for (k, v) in members {
                let _ = Reflect::set(&obj, &JsValue::from_str(k), &to_js(v));
            }
            obj.into()
        }
    }
}

fn init_object(init: &WidgetInit) -> Result<Object, JsValue> {
    let obj = Object::new();
    Reflect::set(&obj, &"APIKey".into(), &init.api_key.as_str().into())?;
    Reflect::set(&obj, &"lang".into(), &init.lang.as_str().into())?;
    let id = init.customer_id.as_deref().unwrap_or("");
    Reflect::set(&obj, &"playerUniqueId".into(), &id.into())?;
    if let Some(attributes) = &init.attributes {
        Reflect::set(&obj, &"playerAttributes".into(), &to_js(attributes))?;
    }
    if let Some(token) = &init.session_token {
        Reflect::set(&obj, &"sessionToken".into(), &token.as_str().into())?;
    }
    Ok(obj)
}

/// Defines `GbLoadInit` for `init`, then either loads the loader (first time) or calls it
/// again (the loader is already on the page: a second `customerWidget` or a login).
///
/// # Errors
/// Whatever the page's DOM threw; the caller logs it, tracking goes on.
pub fn show(init: &WidgetInit, script_url: Option<&str>) -> Result<(), JsValue> {
    let window = web_sys::window().ok_or_else(|| JsValue::from_str("no window"))?;
    let options = init_object(init)?;
    let load_init = Closure::<dyn Fn()>::new(move || {
        let Some(window) = web_sys::window() else {
            return;
        };
        let sdk = Reflect::get(&window, &"GbSdk".into()).unwrap_or(JsValue::UNDEFINED);
        let init_fn = Reflect::get(&sdk, &"init".into()).unwrap_or(JsValue::UNDEFINED);
        if let Some(f) = init_fn.dyn_ref::<Function>() {
            let _ = f.call1(&sdk, &options);
        }
    })
    .into_js_value();
    Reflect::set(&window, &"GbLoadInit".into(), &load_init)?;
    let document = window
        .document()
        .ok_or_else(|| JsValue::from_str("no document"))?;
    if document.get_element_by_id(LOADER_ELEMENT_ID).is_some() {
        let sdk_ready = Reflect::get(&window, &"GbSdk".into())
            .map(|v| !v.is_undefined())
            .unwrap_or(false);
        if sdk_ready {
            if let Some(f) = load_init.dyn_ref::<Function>() {
                f.call0(&JsValue::UNDEFINED)?;
            }
        }
        return Ok(());
    }
    let script: web_sys::HtmlScriptElement = document.create_element("script")?.dyn_into()?;
    script.set_id(LOADER_ELEMENT_ID);
    script.set_defer(true);
    script.set_src(script_url.unwrap_or(DEFAULT_LOADER));
    let parent = document
        .head()
        .map(web_sys::Node::from)
        .or_else(|| document.body().map(web_sys::Node::from))
        .ok_or_else(|| JsValue::from_str("no head or body"))?;
    parent.append_child(&script)?;
    Ok(())
}
