//! The exported JavaScript API: `customerWidget`, `voucherify`, `sendEvent` and the
//! `Tracker` handle. Only the two factories throw; every other failure reaches the caller as a callback
//! error or a rejected Promise, and nothing here may panic.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;

use super::convert::{
    read_config, read_customer, read_event, read_voucherify_config, read_voucherify_event,
    CustomerUpdate, ShellConfig, WidgetChoice,
};
use super::js::{
    browser_present, error_value, fail_later, log, now, parses_as_url, random_seed, reject_handled,
    stats_parts, type_name, wait, Function, Promise, StatsView,
};
use super::tracker::Instance;
use super::widget::{self, WidgetInit};
use crate::core::config::Config;
use crate::core::destination::{Destination, RawInput};
use crate::core::engine::Engine;
use crate::core::error::{ErrorCode, TrackerError};
use crate::core::event::CustomerDefaults;
use crate::core::json::Json;
use crate::core::voucherify::{self, Voucherify};

static VOUCHERIFY: Voucherify = Voucherify;

thread_local! {
    /// Every tracker this page made, one per destination and key, and which one the
    /// module-level `sendEvent` uses (Gameball's).
    static PAGE: RefCell<Page> = RefCell::new(Page::default());
}

#[derive(Default)]
struct Page {
    trackers: Vec<Rc<Instance>>,
    current: Option<Rc<Instance>>,
    /// The widget of the page: one per page, driven by the tracker of the latest
    /// `customerWidget` call (and by every handle sharing that tracker), by no other.
    widget: Option<PageWidget>,
}

struct PageWidget {
    live: Rc<Instance>,
    script_url: Option<String>,
    attributes: Option<Json>,
}

/// The handle `customerWidget` returns.
#[wasm_bindgen]
pub struct Tracker {
    live: Rc<Instance>,
}

fn unsupported() -> TrackerError {
    TrackerError::new(
        ErrorCode::UnsupportedEnvironment,
        "gameball-tracker needs a browser page (window and localStorage); this looks like server-side rendering or a worker",
    )
}

/// `customerWidget(config)`: creates or replaces the page's tracker and loads the widget.
///
/// # Errors
/// Throws a `GameballError` with code `invalid_config` (or `unsupported_environment`).
#[wasm_bindgen(js_name = customerWidget)]
pub fn customer_widget(
    #[wasm_bindgen(unchecked_param_type = "GameballConfig")] config: JsValue,
) -> Result<Tracker, JsValue> {
    open(&config, false)
}

/// What a factory read from its config: the checked config, `onDelivery`, and for Gameball
/// the widget and its attributes (`None` for Voucherify, which loads no widget).
type Opened = (
    Config,
    Option<Function>,
    Option<(WidgetChoice, Option<Json>)>,
);

/// `customerWidget` (`voucherify` false) or `voucherify`: reads and checks the config, then
/// makes or updates the page's tracker of that destination. Only `customerWidget` becomes
/// the module-level `sendEvent`'s tracker and drives the widget.
fn open(config: &JsValue, voucherify: bool) -> Result<Tracker, JsValue> {
    if !browser_present() {
        return Err(error_value(&unsupported()));
    }
    let opened: Result<Opened, TrackerError> = if voucherify {
        read_voucherify_config(config)
            .and_then(|(raw, on_delivery)| Ok((voucherify::config(raw)?, on_delivery, None)))
    } else {
        read_config(config).and_then(|c: ShellConfig| {
            let widget = Some((c.widget, c.customer_attributes));
            Ok((Config::from_raw(c.raw)?, c.on_delivery, widget))
        })
    };
    let (config, on_delivery, widget) = opened.map_err(|e| error_value(&e))?;
    if !parses_as_url(&config.api_base) {
        let field = if voucherify { "apiUrl" } else { "apiBase" };
        let message = [
            field,
            " is not a URL this browser can parse (every request would fail before it left), got ",
            &config.api_base,
        ]
        .concat();
        return Err(error_value(&TrackerError::config(message)));
    }
    let destination: Option<&'static dyn Destination> =
        if voucherify { Some(&VOUCHERIFY) } else { None };
    let live = make(config, on_delivery, destination);
    PAGE.with(|page| {
        let mut page = page.borrow_mut();
        if let Some((widget, attributes)) = widget {
            page.current = Some(live.clone());
            // A later call replaces the widget's owner; `widget: false` stops driving a
            // widget an earlier call loaded (Gameball's script cannot be unloaded).
            page.widget = match widget {
                WidgetChoice::Load { script_url } => Some(PageWidget {
                    live: live.clone(),
                    script_url,
                    attributes,
                }),
                WidgetChoice::Off => None,
            };
        }
    });
    live.run();
    live.schedule_soon();
    let tracker = Tracker { live };
    tracker.refresh_widget();
    Ok(tracker)
}

/// The tracker for `config` (`None`: Gameball, else that destination): the page's tracker
/// of that destination and key, told the new config (which ends an `unauthorized` pause), or
/// a new one. A tracker of the same destination for another key is replaced; other
/// destinations' trackers are left alone. The registry is borrowed only to look and to add,
/// never while a tracker starts or stops: that calls the page's storage and channels (see
/// [`Instance`]).
fn make(
    config: Config,
    on_delivery: Option<Function>,
    destination: Option<&'static dyn Destination>,
) -> Rc<Instance> {
    let seed = random_seed();
    let engine = match destination {
        Some(d) => Engine::with_destination(config, d, seed),
        None => Engine::new(config, seed),
    };
    let keys = engine.keys().clone();
    let name = engine.destination().name();
    let mut replaced = Vec::new();
    let mut existing = None;
    PAGE.with(|page| {
        for other in &page.borrow().trackers {
            let other_engine = other.engine.borrow();
            if *other_engine.keys() == keys {
                existing = Some(other.clone());
            } else if other_engine.destination().name() == name && !other.destroyed.replace(true) {
                replaced.push(other.clone());
            }
        }
    });
    for other in replaced {
        // Replaced: its handles answer like a destroyed tracker's, and its queue stays in
        // storage for the next tracker of that key.
        other.detach();
    }
    match existing {
        Some(live) => {
            let config = engine.config().clone();
            live.engine.borrow_mut().handle_config(config);
            *live.on_delivery.borrow_mut() = on_delivery;
            live.destroyed.set(false);
            live.attach();
            live
        }
        None => {
            let live = Instance::start(engine, on_delivery);
            PAGE.with(|page| page.borrow_mut().trackers.push(live.clone()));
            live
        }
    }
}

/// `voucherify(config)`: creates (or updates) the page's tracker for Voucherify's
/// client-side custom events. It loads no widget and leaves the module-level `sendEvent`
/// to Gameball's tracker; a later call for the same `clientApplicationId` ends an
/// `unauthorized` pause.
///
/// # Errors
/// Throws a `GameballError` with code `invalid_config` (or `unsupported_environment`).
#[wasm_bindgen]
pub fn voucherify(
    #[wasm_bindgen(unchecked_param_type = "VoucherifyConfig")] config: JsValue,
) -> Result<Tracker, JsValue> {
    open(&config, true)
}

/// `sendEvent(event, callback?)` on the page's current tracker.
#[wasm_bindgen(
    js_name = sendEvent,
    unchecked_return_type = "Promise<GameballResponse> | undefined"
)]
pub fn send_event(
    #[wasm_bindgen(unchecked_param_type = "GameballEvent")] event: JsValue,
    #[wasm_bindgen(unchecked_param_type = "SendEventCallback | undefined")] callback: JsValue,
) -> JsValue {
    let live = PAGE.with(|page| page.borrow().current.clone());
    match live {
        Some(live) => enqueue(&live, &event, callback),
        None => {
            let error = if browser_present() {
                TrackerError::new(
                    ErrorCode::NotInitialized,
                    "call customerWidget({ apiKey, ... }) before sendEvent",
                )
            } else {
                unsupported()
            };
            fail(error, callback)
        }
    }
}

/// Reports `error` through the callback (asynchronously, like every other outcome) or a
/// rejected Promise.
fn fail(error: TrackerError, callback: JsValue) -> JsValue {
    fail_later(&callback, &error_value(&error))
}

fn enqueue(live: &Rc<Instance>, event: &JsValue, callback: JsValue) -> JsValue {
    if !(callback.is_undefined() || callback.is_null() || callback.is_function()) {
        // The caller meant a callback and will not handle a Promise: one that is marked
        // handled, and the error in the console.
        let error = TrackerError::event(
            [
                "the second argument of sendEvent must be a callback function, got ",
                &type_name(&callback),
            ]
            .concat(),
        );
        return reject_handled(&error_value(&error));
    }
    let destination = live.engine.borrow().destination();
    if live.destroyed.get() {
        let message = if destination.name() == voucherify::NAME {
            "this tracker was destroyed, or replaced by a voucherify call for another clientApplicationId; call voucherify again with its clientApplicationId"
        } else {
            "this tracker was destroyed, or replaced by a customerWidget call for another apiKey; call customerWidget again with its apiKey"
        };
        return fail(
            TrackerError::new(ErrorCode::NotInitialized, message),
            callback,
        );
    }
    let read = if destination.name() == voucherify::NAME {
        read_voucherify_event(event).map(RawInput::Voucherify)
    } else {
        read_event(event).map(RawInput::Gameball)
    };
    let raw = match read {
        Ok(raw) => raw,
        Err(error) => return fail(error, callback),
    };
    let now = now();
    let queued = live.engine.borrow_mut().handle_send_event(now, raw);
    let id = match queued {
        Ok(id) => id,
        Err(error) => return fail(error, callback),
    };
    // Registered before the actions run: a report due at once (queue_full, unauthorized)
    // must find its waiter.
    let result = wait(&id, &callback);
    live.run();
    live.schedule_soon();
    result
}

#[wasm_bindgen]
impl Tracker {
    /// `tracker.sendEvent(event, callback?)`.
    #[wasm_bindgen(
        js_name = sendEvent,
        unchecked_return_type = "Promise<GameballResponse> | undefined"
    )]
    pub fn send_event(
        &self,
        #[wasm_bindgen(unchecked_param_type = "TrackerEvent")] event: JsValue,
        #[wasm_bindgen(unchecked_param_type = "SendEventCallback | undefined")] callback: JsValue,
    ) -> JsValue {
        enqueue(&self.live, &event, callback)
    }

    /// `tracker.flush()`: resolves `{ sent, failed, pending }` once nothing is in flight.
    #[wasm_bindgen(unchecked_return_type = "Promise<FlushResult>")]
    pub fn flush(&self) -> Promise {
        self.live.flush()
    }

    /// `tracker.pending()`: events not yet delivered, rejected or given up.
    pub fn pending(&self) -> u32 {
        self.live.engine.borrow().pending() as u32
    }

    /// `tracker.stats()`.
    #[wasm_bindgen(unchecked_return_type = "TrackerStats")]
    pub fn stats(&self) -> JsValue {
        let now = now();
        let parts = {
            let engine = self.live.engine.borrow();
            let view = StatsView {
                queued: engine.pending(),
                bytes: engine.bytes(),
                storage: self.live.store.kind().as_str(),
                paused: engine.is_paused(),
                sender: engine.holds_sender_role(),
                circuit_open: engine.breaker_open(),
                held_ms: engine.held_ms(now),
            };
            stats_parts(engine.stats(), view)
        };
        parts.to_js()
    }

    /// `tracker.setCustomer({ customerId, email?, mobile?, customerAttributes?, sessionToken? })`:
    /// logs a customer in or refreshes their token. Returns `undefined`, or a
    /// `GameballError` (`invalid_config`) when the argument is unusable (it does not throw).
    #[wasm_bindgen(js_name = setCustomer, unchecked_return_type = "GameballError | undefined")]
    pub fn set_customer(
        &self,
        #[wasm_bindgen(unchecked_param_type = "CustomerUpdate")] customer: JsValue,
    ) -> JsValue {
        match read_customer(&customer) {
            Ok(update) => {
                self.update_widget_attributes(&update);
                self.live.engine.borrow_mut().handle_customer(
                    CustomerDefaults {
                        customer_id: Some(update.customer_id),
                        email: update.email,
                        mobile: update.mobile,
                    },
                    update.session_token,
                );
                self.refresh_widget();
                self.live.schedule_soon();
                JsValue::UNDEFINED
            }
            Err(error) => {
                let value = error_value(&error);
                log("warn", "setCustomer", &value);
                value
            }
        }
    }

    /// `tracker.logout()`: back to guest; queued events still go out for their customer.
    pub fn logout(&self) {
        self.live.engine.borrow_mut().handle_logout();
        self.with_widget(|w| w.attributes = None);
        self.refresh_widget();
    }

    /// `tracker.destroy()`: listeners and timers removed, nothing more is sent by this page
    /// until `customerWidget` is called again; the queue stays in storage.
    pub fn destroy(&self) {
        self.live.destroyed.set(true);
        self.live.detach();
        PAGE.with(|page| {
            let mut page = page.borrow_mut();
            if page
                .current
                .as_ref()
                .is_some_and(|c| Rc::ptr_eq(c, &self.live))
            {
                page.current = None;
            }
        });
    }

    /// Runs `f` on the page's widget when this handle's tracker drives it.
    fn with_widget<R>(&self, f: impl FnOnce(&mut PageWidget) -> R) -> Option<R> {
        PAGE.with(|page| {
            page.borrow_mut()
                .widget
                .as_mut()
                .filter(|w| Rc::ptr_eq(&w.live, &self.live))
                .map(f)
        })
    }

    /// New attributes replace the old; without any, a token refresh for the same customer
    /// keeps them and a different customer starts with none.
    fn update_widget_attributes(&self, update: &CustomerUpdate) {
        let same_customer = self
            .live
            .engine
            .borrow()
            .config()
            .customer
            .customer_id
            .as_deref()
            == Some(update.customer_id.as_str());
        let fresh = update.customer_attributes.clone();
        self.with_widget(|w| {
            if fresh.is_some() || !same_customer {
                w.attributes = fresh;
            }
        });
    }

    /// (Re-)initialises the widget for the tracker's customer, or the guest view. The page
    /// registry is not borrowed while the widget runs: `GbSdk.init` is someone else's code.
    fn refresh_widget(&self) {
        let Some((script_url, attributes)) =
            self.with_widget(|w| (w.script_url.clone(), w.attributes.clone()))
        else {
            return;
        };
        let init = {
            let engine = self.live.engine.borrow();
            let config = engine.config();
            let customer_id = config.customer.customer_id.clone();
            let guest = customer_id.is_none();
            WidgetInit {
                api_key: config.api_key.clone(),
                lang: config.lang.clone(),
                customer_id,
                // The guest view carries no one's attributes or token.
                attributes: attributes.filter(|_| !guest),
                session_token: config.session_token.clone().filter(|_| !guest),
            }
        };
        if let Err(thrown) = widget::show(&init, script_url.as_deref()) {
            log("warn", "the widget could not load", &thrown);
        }
    }
}
