//! One live tracker per API key on the page: the engine, its storage, its timer and its
//! listeners, and the loop that performs the engine's actions.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use js_sys::Function;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::js::{now_ms, outcome_values, report_value};
use super::storage::RecordStore;
use super::transport;
use crate::core::engine::{Action, Engine, Report};

/// Who waits for an event's outcome on this page.
pub enum Waiter {
    /// `sendEvent(event, callback)`.
    Callback(Function),
    /// `sendEvent(event)`: the Promise's settle functions.
    Promise {
        /// Resolves with the response.
        resolve: Function,
        /// Rejects with the `GameballError`.
        reject: Function,
    },
}

impl Waiter {
    /// Settles the wait with `report`'s outcome. A callback that throws is logged, never
    /// allowed to break the tracker.
    pub fn settle(&self, report: &Report) {
        let (response, error) = outcome_values(report);
        let result = match self {
            Waiter::Callback(f) => f.call2(&JsValue::UNDEFINED, &response, &error),
            Waiter::Promise { resolve, reject } => match report.result {
                Ok(_) => resolve.call1(&JsValue::UNDEFINED, &response),
                Err(_) => reject.call1(&JsValue::UNDEFINED, &error),
            },
        };
        if let Err(thrown) = result {
            web_sys::console::error_2(
                &"gameball-tracker: a sendEvent callback threw".into(),
                &thrown,
            );
        }
    }
}

thread_local! {
    /// Waiters by event id, page-wide: a tracker replaced by a new `customerWidget` call for
    /// the same API key hands its queue over, and the callbacks must follow.
    static WAITERS: RefCell<HashMap<String, Waiter>> = RefCell::new(HashMap::new());
}

/// Registers who waits for event `id`.
pub fn wait_for(id: String, waiter: Waiter) {
    WAITERS.with(|w| w.borrow_mut().insert(id, waiter));
}

fn take_waiter(id: &str) -> Option<Waiter> {
    WAITERS.with(|w| w.borrow_mut().remove(id))
}

struct FlushWait {
    resolve: Function,
    sent_before: u64,
    failed_before: u64,
}

/// A tracker for one API key.
pub struct Live {
    pub(super) engine: RefCell<Engine>,
    pub(super) store: RecordStore,
    pub(super) on_delivery: RefCell<Option<Function>>,
    pub(super) destroyed: Cell<bool>,
    failed: Cell<u64>,
    soon_scheduled: Cell<bool>,
    wake_timer: Cell<Option<i32>>,
    flush_waits: RefCell<Vec<FlushWait>>,
    listeners: RefCell<Vec<(&'static str, Function)>>,
    this: Weak<Live>,
}

impl Live {
    /// A tracker around `engine`, with the records of earlier page loads adopted; the
    /// caller then calls [`Live::run`].
    pub fn start(engine: Engine, on_delivery: Option<Function>) -> Rc<Live> {
        let store = RecordStore::open();
        let live = Rc::new_cyclic(|this| Live {
            engine: RefCell::new(engine),
            store,
            on_delivery: RefCell::new(on_delivery),
            destroyed: Cell::new(false),
            failed: Cell::new(0),
            soon_scheduled: Cell::new(false),
            wake_timer: Cell::new(None),
            flush_waits: RefCell::new(Vec::new()),
            listeners: RefCell::new(Vec::new()),
            this: this.clone(),
        });
        let prefix = live.engine.borrow().prefix().to_owned();
        let stored = live.store.load(&prefix);
        live.engine.borrow_mut().load(stored);
        live.attach();
        // The caller runs the actions (reports of expired or evicted records call the
        // page's onDelivery) once it holds no borrow the page's code could run into.
        live
    }

    /// Listens to the network coming and going; called again after `reattach` when a
    /// destroyed tracker is brought back.
    pub fn attach(&self) {
        let Some(window) = web_sys::window() else {
            return;
        };
        let online = window.navigator().on_line();
        self.engine.borrow_mut().set_online(now_ms(), online);
        let mut listeners = self.listeners.borrow_mut();
        if !listeners.is_empty() {
            return;
        }
        for (name, is_online) in [("online", true), ("offline", false)] {
            let weak = self.this.clone();
            let f: Function = Closure::<dyn Fn()>::new(move || {
                if let Some(live) = weak.upgrade() {
                    live.engine.borrow_mut().set_online(now_ms(), is_online);
                    live.poll();
                }
            })
            .into_js_value()
            .unchecked_into();
            let _ = window.add_event_listener_with_callback(name, &f);
            listeners.push((name, f));
        }
    }

    /// Removes listeners and timers; the queue stays in storage.
    pub fn detach(&self) {
        let Some(window) = web_sys::window() else {
            return;
        };
        for (name, f) in self.listeners.borrow_mut().drain(..) {
            let _ = window.remove_event_listener_with_callback(name, &f);
        }
        if let Some(t) = self.wake_timer.take() {
            window.clear_timeout_with_handle(t);
        }
    }

    /// Performs the engine's actions until there are none left.
    pub fn run(&self) {
        loop {
            let actions = self.engine.borrow_mut().take_actions();
            if actions.is_empty() {
                break;
            }
            for action in actions {
                self.perform(action);
            }
        }
        self.settle_flushes();
    }

    fn perform(&self, action: Action) {
        match action {
            Action::Store { key, value } => self.store.set(&key, &value),
            Action::Remove { key } => self.store.remove(&key),
            Action::Send(request) => {
                let weak = self.this.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    let answer = transport::send(&request).await;
                    if let Some(live) = weak.upgrade() {
                        live.engine
                            .borrow_mut()
                            .on_answer(now_ms(), request.id, answer);
                        live.poll();
                    }
                });
            }
            Action::Report(report) => self.report(&report),
            Action::Debug(line) => {
                web_sys::console::debug_1(&format!("gameball-tracker: {line}").into())
            }
        }
    }

    fn report(&self, report: &Report) {
        if report.result.is_err() {
            self.failed.set(self.failed.get() + 1);
        }
        if let Some(waiter) = take_waiter(&report.id) {
            waiter.settle(report);
        }
        let on_delivery = self.on_delivery.borrow().clone();
        if let Some(f) = on_delivery {
            if let Err(thrown) = f.call1(&JsValue::UNDEFINED, &report_value(report)) {
                web_sys::console::error_2(&"gameball-tracker: onDelivery threw".into(), &thrown);
            }
        }
    }

    /// Starts what may go now, performs it, and arms the timer for the next look.
    pub fn poll(&self) {
        if self.destroyed.get() {
            self.run();
            return;
        }
        self.engine.borrow_mut().poll(now_ms());
        self.run();
        self.arm_wake_timer();
    }

    /// Polls once the current task is over, so the events a page sends in one go share
    /// their requests instead of leaving one by one.
    pub fn schedule_soon(&self) {
        if self.soon_scheduled.replace(true) {
            return;
        }
        let weak = self.this.clone();
        let f = Closure::once_into_js(move || {
            if let Some(live) = weak.upgrade() {
                live.soon_scheduled.set(false);
                live.poll();
            }
        });
        if let Some(window) = web_sys::window() {
            if window
                .set_timeout_with_callback_and_timeout_and_arguments_0(f.unchecked_ref(), 0)
                .is_err()
            {
                self.soon_scheduled.set(false);
            }
        }
    }

    fn arm_wake_timer(&self) {
        let Some(window) = web_sys::window() else {
            return;
        };
        if let Some(t) = self.wake_timer.take() {
            window.clear_timeout_with_handle(t);
        }
        let now = now_ms();
        let Some(at) = self.engine.borrow().next_wakeup(now) else {
            return;
        };
        let delay = at.saturating_sub(now).min(i32::MAX as u64) as i32;
        let weak = self.this.clone();
        let f = Closure::once_into_js(move || {
            if let Some(live) = weak.upgrade() {
                live.wake_timer.set(None);
                live.poll();
            }
        });
        if let Ok(t) =
            window.set_timeout_with_callback_and_timeout_and_arguments_0(f.unchecked_ref(), delay)
        {
            self.wake_timer.set(Some(t));
        }
    }

    /// `flush()`: sends what waits now; the Promise settles once nothing is in flight.
    pub fn flush(&self) -> js_sys::Promise {
        let (sent_before, failed_before) = (self.engine.borrow().stats().sent, self.failed.get());
        let promise = js_sys::Promise::new(&mut |resolve, _reject| {
            self.flush_waits.borrow_mut().push(FlushWait {
                resolve,
                sent_before,
                failed_before,
            });
        });
        if !self.destroyed.get() {
            self.engine.borrow_mut().flush(now_ms());
        }
        self.run();
        self.arm_wake_timer();
        promise
    }

    fn settle_flushes(&self) {
        let (in_flight, sent, pending) = {
            let engine = self.engine.borrow();
            (engine.in_flight(), engine.stats().sent, engine.pending())
        };
        if in_flight > 0 || self.flush_waits.borrow().is_empty() {
            return;
        }
        let waits: Vec<FlushWait> = self.flush_waits.borrow_mut().drain(..).collect();
        for wait in waits {
            let result = js_sys::Object::new();
            let set = |k: &str, v: f64| {
                let _ = js_sys::Reflect::set(&result, &k.into(), &v.into());
            };
            set("sent", (sent - wait.sent_before) as f64);
            set("failed", (self.failed.get() - wait.failed_before) as f64);
            set("pending", pending as f64);
            let _ = wait.resolve.call1(&JsValue::UNDEFINED, &result);
        }
    }
}
