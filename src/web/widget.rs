//! Gameball's customer widget, loaded as Gameball documents it: define `window.GbLoadInit`,
//! inject the loader script once with `defer`, and let it call `GbSdk.init` with the
//! widget's names (`playerUniqueId`, `playerAttributes`). The DOM work is `glue.js`'s
//! `showWidget` (a handful of calls, smaller in JS than as web-sys bindings); values are set as
//! properties, never written as HTML.

use wasm_bindgen::prelude::*;

use crate::core::json::Json;

/// Gameball's hosted loader.
pub const DEFAULT_LOADER: &str = "https://assets.gameball.co/widget/js/gameball-init.min.js";
const LOADER_ELEMENT_ID: &str = "gameball-widget-loader";

#[wasm_bindgen(module = "/src/web/glue.js")]
extern "C" {
    #[wasm_bindgen(catch, js_name = showWidget)]
    fn show_widget(
        api_key: &str,
        lang: &str,
        player_unique_id: &str,
        attributes_json: Option<String>,
        session_token: Option<String>,
        script_url: &str,
        element_id: &str,
    ) -> Result<(), JsValue>;
}

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

/// Defines `GbLoadInit` for `init`, then either loads the loader (first time) or calls it
/// again (the loader is already on the page: a second `customerWidget` or a login).
///
/// # Errors
/// Whatever the page's DOM threw; the caller logs it, tracking goes on.
pub fn show(init: &WidgetInit, script_url: Option<&str>) -> Result<(), JsValue> {
    show_widget(
        &init.api_key,
        &init.lang,
        init.customer_id.as_deref().unwrap_or(""),
        init.attributes.as_ref().map(Json::to_text),
        init.session_token.clone(),
        script_url.unwrap_or(DEFAULT_LOADER),
        LOADER_ELEMENT_ID,
    )
}
