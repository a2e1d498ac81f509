//! One live tracker per API key on the page: the engine and the browser handles it needs
//! (storage, timers, listeners, the links to the other tabs, the page's callbacks and
//! promises). It decides nothing: it feeds the engine what happens, in the order the
//! engine's driver contract gives (`crate::core::engine`), and performs what comes back.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use gloo_timers::callback::Timeout;
use js_sys::Function;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::js::{flush_result, now, outcome_values, report_value};
use super::storage::{RecordStore, StorageKind};
use super::tabs::{keepalive_supported, PageEvent, TabLinks};
use super::transport;
use crate::core::engine::{Browser, Engine, Role};
use crate::core::io::{Action, Report};

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
    // A plain list: a page waits on few events at once, and a hash table costs 2.7 KB.
    static WAITERS: RefCell<Vec<(String, Waiter)>> = const { RefCell::new(Vec::new()) };
}

/// Registers who waits for event `id`.
pub fn wait_for(id: String, waiter: Waiter) {
    WAITERS.with(|w| w.borrow_mut().push((id, waiter)));
}

fn take_waiter(id: &str) -> Option<Waiter> {
    WAITERS.with(|w| {
        let mut waiters = w.borrow_mut();
        let at = waiters.iter().position(|(waiting, _)| waiting == id)?;
        Some(waiters.swap_remove(at).1)
    })
}

/// This page's `flush()` waiting to settle, with the counters it started from.
struct FlushWaiter {
    resolve: Function,
    sent_before: u64,
    failed_before: u64,
}

/// A tracker for one API key.
pub struct Instance {
    pub(super) engine: RefCell<Engine>,
    pub(super) store: RecordStore,
    pub(super) on_delivery: RefCell<Option<Function>>,
    pub(super) destroyed: Cell<bool>,
    soon: RefCell<Option<Timeout>>,
    wake: RefCell<Option<Timeout>>,
    flush_waits: RefCell<Vec<FlushWaiter>>,
    links: RefCell<Option<TabLinks>>,
    this: Weak<Instance>,
}

impl Instance {
    /// A tracker around `engine`; the caller then calls [`Instance::run`] once it holds no
    /// borrow the page's code could run into (reports may call `onDelivery`).
    pub fn start(engine: Engine, on_delivery: Option<Function>) -> Rc<Instance> {
        let instance = Rc::new_cyclic(|this| Instance {
            engine: RefCell::new(engine),
            store: RecordStore::open(),
            on_delivery: RefCell::new(on_delivery),
            destroyed: Cell::new(false),
            soon: RefCell::new(None),
            wake: RefCell::new(None),
            flush_waits: RefCell::new(Vec::new()),
            links: RefCell::new(None),
            this: this.clone(),
        });
        instance.attach();
        instance
    }

    /// Listens to the page and the network and, where storage is shared, joins the other
    /// tabs: the engine learns the stored queue first, then the election and the channel
    /// open. Called again when a destroyed tracker is brought back by `customerWidget`.
    pub fn attach(&self) {
        let Some(window) = web_sys::window() else {
            return;
        };
        let online = window.navigator().on_line();
        {
            let mut engine = self.engine.borrow_mut();
            engine.handle_browser(Browser {
                keepalive: keepalive_supported(),
            });
            engine.handle_online(now(), online);
        }
        if self.links.borrow().is_some() {
            return;
        }
        // Not `kind()`, where the last write went: a tracker brought back while the quota
        // was full joined no election and never sent again (found by the browser fuzz).
        let shared = self.store.shared();
        let (keys, tab_id) = {
            let engine = self.engine.borrow();
            (engine.keys().clone(), engine.tab_id().to_owned())
        };
        if shared {
            let stored = self.store.load(keys.prefix());
            self.engine.borrow_mut().handle_join(stored);
        }
        let weak = self.this.clone();
        let dispatch: Function =
            Closure::<dyn Fn(u32, JsValue, JsValue)>::new(move |kind, a: JsValue, b: JsValue| {
                let Some(event) = PageEvent::decode(kind, &a, &b) else {
                    return;
                };
                if let Some(instance) = weak.upgrade() {
                    instance.handle(event);
                }
            })
            .into_js_value()
            .unchecked_into();
        let links = TabLinks::open(&keys, &tab_id, shared, &dispatch);
        if shared && !links.electing() {
            self.engine
                .borrow_mut()
                .handle_role(now(), Role::Sender { waited: false });
        }
        *self.links.borrow_mut() = Some(links);
    }

    /// Hands what the page or another tab said to the engine, then polls.
    fn handle(&self, event: PageEvent) {
        {
            let now = now();
            let mut engine = self.engine.borrow_mut();
            match event {
                PageEvent::Role(role) => engine.handle_role(now, role),
                PageEvent::Message(text) => engine.handle_message(now, &text),
                PageEvent::Storage(key, value) => {
                    engine.handle_storage_event(now, key.as_deref(), value.as_deref())
                }
                PageEvent::Hidden(leaving) => engine.handle_page_hidden(now, leaving),
                PageEvent::Shown(restored) => engine.handle_page_shown(now, restored),
                PageEvent::Online(online) => engine.handle_online(now, online),
            }
        }
        self.poll();
    }

    /// Leaves the other tabs and stops listening; timers are cancelled; the queue stays in
    /// storage.
    pub fn detach(&self) {
        self.engine.borrow_mut().handle_detach();
        // The goodbye goes out before the channel closes.
        self.run();
        self.wake.borrow_mut().take();
        self.soon.borrow_mut().take();
        if let Some(links) = self.links.borrow_mut().take() {
            links.close();
        }
    }

    /// Performs the engine's actions until there are none left.
    pub fn run(&self) {
        loop {
            let actions = self.engine.borrow_mut().poll_actions();
            if actions.is_empty() {
                break;
            }
            for action in actions {
                self.perform(action);
            }
        }
    }

    fn perform(&self, action: Action) {
        match action {
            Action::Store { key, value } => {
                let queued = |k: &str| {
                    let engine = self.engine.try_borrow().ok()?;
                    engine.record_text(k).map(str::to_owned)
                };
                if !self.store.set(&key, &value, queued) {
                    self.engine.borrow_mut().handle_store_refused(key, value);
                }
            }
            Action::Remove { key } => self.store.remove(&key),
            Action::Send { request, keepalive } => {
                let weak = self.this.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    let answer = transport::send(&request, keepalive).await;
                    if let Some(instance) = weak.upgrade() {
                        instance
                            .engine
                            .borrow_mut()
                            .handle_answer(now(), request.id, answer);
                        instance.poll();
                    }
                });
            }
            Action::Report(report) => self.report(&report),
            Action::Post(message) => {
                if let Some(links) = self.links.borrow().as_ref() {
                    links.post(&message.encode());
                }
            }
            Action::ReadStorage => {
                let stored = self.store.load(self.engine.borrow().keys().prefix());
                self.engine.borrow_mut().handle_storage_read(now(), stored);
            }
            Action::CheckStorage => {
                // Memory only (no localStorage, or a refused write): storage holds nothing
                // to compare, and a comparison would take every record for removed.
                if self.store.kind() == StorageKind::Local {
                    let stored = self.store.load(self.engine.borrow().keys().prefix());
                    self.engine.borrow_mut().handle_storage_check(now(), stored);
                }
            }
            Action::FlushSettled => self.settle_flushes(),
            Action::Debug(line) => {
                web_sys::console::debug_1(&format!("gameball-tracker: {line}").into())
            }
        }
    }

    fn report(&self, report: &Report) {
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

    /// Hands the engine its timeout (with whether storage still holds the marker), performs
    /// what follows, and arms the timer for the next one. A destroyed tracker only settles
    /// what is already out.
    pub fn poll(&self) {
        if !self.destroyed.get() {
            let marker_present = self.store.kind() == StorageKind::Local
                && self.store.has(self.engine.borrow().keys().marker());
            self.engine
                .borrow_mut()
                .handle_timeout(now(), marker_present);
        }
        self.run();
        self.arm_wake_timer();
    }

    /// Polls once the current task is over, so the events a page sends in one go share
    /// their requests instead of leaving one by one.
    pub fn schedule_soon(&self) {
        if self.soon.borrow().is_some() {
            return;
        }
        let weak = self.this.clone();
        let timeout = Timeout::new(0, move || {
            if let Some(instance) = weak.upgrade() {
                instance.soon.borrow_mut().take();
                instance.poll();
            }
        });
        *self.soon.borrow_mut() = Some(timeout);
    }

    fn arm_wake_timer(&self) {
        let now = now();
        let at = self.engine.borrow().poll_timeout(now);
        // The timer it replaces is cancelled as it drops.
        *self.wake.borrow_mut() = at.map(|at| {
            let delay = at.saturating_sub(now.mono_ms).min(i32::MAX as u64) as u32;
            let weak = self.this.clone();
            Timeout::new(delay, move || {
                if let Some(instance) = weak.upgrade() {
                    instance.poll();
                }
            })
        });
    }

    /// `flush()`: sends what waits now (a follower asks the sender); the Promise settles
    /// once nothing is in flight.
    pub fn flush(&self) -> js_sys::Promise {
        let (sent_before, failed_before) = {
            let engine = self.engine.borrow();
            (engine.stats().sent, engine.stats().failed)
        };
        let promise = js_sys::Promise::new(&mut |resolve, _reject| {
            self.flush_waits.borrow_mut().push(FlushWaiter {
                resolve,
                sent_before,
                failed_before,
            });
        });
        self.engine.borrow_mut().handle_flush(now());
        self.run();
        self.arm_wake_timer();
        promise
    }

    fn settle_flushes(&self) {
        let (sent, failed, pending) = {
            let engine = self.engine.borrow();
            (engine.stats().sent, engine.stats().failed, engine.pending())
        };
        let waits: Vec<FlushWaiter> = self.flush_waits.borrow_mut().drain(..).collect();
        for wait in waits {
            let result = flush_result(
                sent - wait.sent_before,
                failed - wait.failed_before,
                pending,
            );
            let _ = wait.resolve.call1(&JsValue::UNDEFINED, &result);
        }
    }
}
