//! One live tracker per API key on the page: the engine and the browser handles it needs
//! (storage, timers, listeners, the links to the other tabs, the page's callbacks and
//! promises). It decides nothing: it feeds the engine what happens, in the order the
//! engine's driver contract gives (`crate::core::engine`), and performs what comes back.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use wasm_bindgen::prelude::*;

use super::js::{flush_wait, log, now, on_line, report_outcome, settle_flushes, Function, Promise};
use super::storage::{RecordStore, StorageKind};
use super::tabs::{
    arm, broadcast_channel_supported, keepalive_supported, send, set_dispatch, PageEvent, TabLinks,
};
use crate::core::engine::{Browser, Engine, Role};
use crate::core::io::{Action, Report};
use crate::core::storage_key::StorageKeys;

thread_local! {
    /// Every tracker this page made, by number: what `glue.js`' callbacks name. A tracker is
    /// never removed (a replaced one may still hear the answers to its requests).
    static TRACKERS: RefCell<Vec<Weak<Instance>>> = const { RefCell::new(Vec::new()) };
}

/// Timer slots of a tracker ([`arm`]).
const SOON: u32 = 0;
const WAKE: u32 = 1;

/// The one function every browser callback calls (`glue.js` `setDispatch`): `kind` and the tracker's
/// number, then what it says ([`PageEvent::decode`]).
fn dispatch(kind: u32, id: u32, a: JsValue, b: JsValue, c: JsValue, d: JsValue, e: JsValue) {
    let Some(event) = PageEvent::decode(kind, &[a, b, c, d, e]) else {
        return;
    };
    let instance = TRACKERS.with(|t| t.borrow().get(id as usize).and_then(Weak::upgrade));
    if let Some(instance) = instance {
        instance.handle(event);
    }
}

/// A tracker for one API key.
///
/// No `RefCell` of it (nor the page's registries) is borrowed while JavaScript runs: the
/// page's own code may run inside any call out (a replaced `Storage.prototype.getItem`,
/// `Date.now` or `console.debug`, a callback) and call the tracker again, and a borrow held
/// across it would make that nested call panic, which kills the module for the page. So
/// every value read from the page (the clock, storage, the browser's state) is read first,
/// then the engine is borrowed to take it.
pub struct Instance {
    pub(super) engine: RefCell<Engine>,
    /// The engine's storage keys (fixed for its API key), kept here so that storage is
    /// read without borrowing the engine and without copying a key each poll.
    keys: StorageKeys,
    pub(super) store: RecordStore,
    pub(super) on_delivery: RefCell<Option<Function>>,
    pub(super) destroyed: Cell<bool>,
    /// Its number in [`TRACKERS`].
    id: u32,
    /// The `SOON` timer is armed.
    soon: Cell<bool>,
    links: RefCell<Option<TabLinks>>,
}

impl Instance {
    /// A tracker around `engine`; the caller then calls [`Instance::run`] once it holds no
    /// borrow the page's code could run into (reports may call `onDelivery`).
    pub fn start(engine: Engine, on_delivery: Option<Function>) -> Rc<Instance> {
        // Opened before the registry is borrowed: it calls the page's localStorage, which a
        // script may have replaced with code that calls the tracker.
        let store = RecordStore::open();
        let instance = TRACKERS.with(|trackers| {
            let mut trackers = trackers.borrow_mut();
            if trackers.is_empty() {
                let f =
                    Closure::<dyn Fn(u32, u32, JsValue, JsValue, JsValue, JsValue, JsValue)>::new(
                        dispatch,
                    );
                set_dispatch(f.as_ref().unchecked_ref());
                f.forget();
            }
            let instance = Rc::new(Instance {
                keys: engine.keys().clone(),
                engine: RefCell::new(engine),
                store,
                on_delivery: RefCell::new(on_delivery),
                destroyed: Cell::new(false),
                id: trackers.len() as u32,
                soon: Cell::new(false),
                links: RefCell::new(None),
            });
            trackers.push(Rc::downgrade(&instance));
            instance
        });
        instance.attach();
        instance
    }

    /// Listens to the page and the network and, where storage is shared, joins the other
    /// tabs: the engine learns the stored queue first, then the election and the channel
    /// open. Called again when a destroyed tracker is brought back by `customerWidget`.
    pub fn attach(&self) {
        let online = on_line();
        let browser = Browser {
            keepalive: keepalive_supported(),
            broadcast_channel: broadcast_channel_supported(),
        };
        let at = now();
        {
            let mut engine = self.engine.borrow_mut();
            engine.handle_browser(browser);
            engine.handle_online(at, online);
        }
        if self.links.borrow().is_some() {
            return;
        }
        // Not `kind()`, where the last write went: a tracker brought back while the quota
        // was full joined no election and never sent again (found by the browser fuzz).
        let shared = self.store.shared();
        let keys = &self.keys;
        let tab_id = self.engine.borrow().tab_id().to_owned();
        if shared {
            let stored = self.store.load(keys.prefix());
            self.engine.borrow_mut().handle_join(stored);
        }
        let links = TabLinks::open(self.id, keys, &tab_id, shared);
        if shared && !links.electing() {
            let now = now();
            self.engine
                .borrow_mut()
                .handle_role(now, Role::Sender { waited: false });
        }
        *self.links.borrow_mut() = Some(links);
    }

    /// Hands what the page, another tab, a timer or the network said to the engine, then
    /// polls.
    fn handle(&self, event: PageEvent) {
        if event == PageEvent::Timer(SOON) {
            self.soon.set(false);
        }
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
                PageEvent::Timer(_) => {}
                PageEvent::Answer(request, answer) => engine.handle_answer(now, request, answer),
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
        arm(self.id, WAKE, -1.0);
        arm(self.id, SOON, -1.0);
        self.soon.set(false);
        let links = self.links.borrow_mut().take();
        if let Some(links) = links {
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
            Action::Send { request, keepalive } => send(self.id, &request, keepalive),
            Action::Report(report) => self.report(&report),
            Action::Post(message) => {
                let links = *self.links.borrow();
                if let Some(links) = links {
                    links.post(&message.encode());
                }
            }
            Action::ReadStorage => {
                let (stored, now) = (self.load(), now());
                self.engine.borrow_mut().handle_storage_read(now, stored);
            }
            Action::CheckStorage => {
                // Memory only (no localStorage, or a refused write): storage holds nothing
                // to compare, and a comparison would take every record for removed.
                if self.store.kind() == StorageKind::Local {
                    let (stored, now) = (self.load(), now());
                    self.engine.borrow_mut().handle_storage_check(now, stored);
                }
            }
            Action::FlushSettled => {
                let (sent, failed, pending) = {
                    let engine = self.engine.borrow();
                    let stats = engine.stats();
                    (stats.sent, stats.failed, engine.pending())
                };
                settle_flushes(self.id, sent as f64, failed as f64, pending as f64);
            }
            Action::Debug(line) => log("debug", &line, &JsValue::UNDEFINED),
        }
    }

    /// This tracker's records in storage.
    fn load(&self) -> Vec<(String, String)> {
        self.store.load(self.keys.prefix())
    }

    fn report(&self, report: &Report) {
        let on_delivery: JsValue = self.on_delivery.borrow().clone().into();
        report_outcome(report, &on_delivery);
    }

    /// Hands the engine its timeout (with whether storage still holds the marker), performs
    /// what follows, and arms the timer for the next one. A destroyed tracker only settles
    /// what is already out.
    pub fn poll(&self) {
        if !self.destroyed.get() {
            // Not whether the last write went through: with the quota full, "memory" read as
            // a missing marker made every timeout a clear, each rewriting every record (refused
            // again) at once: thousands of writes a second (a new user's finding).
            let marker_present = self.store.has_or_pending(self.keys.marker());
            let now = now();
            self.engine.borrow_mut().handle_timeout(now, marker_present);
        }
        self.run();
        self.arm_wake_timer();
    }

    /// Polls once the current task is over, so the events a page sends in one go share
    /// their requests instead of leaving one by one.
    pub fn schedule_soon(&self) {
        // Not marked armed when the timer could not be (a replaced setTimeout that threw), so
        // the next call tries again.
        if !self.soon.replace(true) && !arm(self.id, SOON, 0.0) {
            self.soon.set(false);
        }
    }

    fn arm_wake_timer(&self) {
        let now = now();
        let at = self.engine.borrow().poll_timeout(now);
        // The timer it replaces is cancelled; none (-1) only cancels.
        let delay = at.map_or(-1.0, |at| {
            at.saturating_sub(now.mono_ms).min(i32::MAX as u64) as f64
        });
        arm(self.id, WAKE, delay);
    }

    /// `flush()`: sends what waits now (a follower asks the sender); the Promise settles
    /// once nothing is in flight.
    pub fn flush(&self) -> Promise {
        let (sent, failed) = {
            let engine = self.engine.borrow();
            let stats = engine.stats();
            (stats.sent, stats.failed)
        };
        let promise = flush_wait(self.id, sent as f64, failed as f64);
        let now = now();
        self.engine.borrow_mut().handle_flush(now);
        self.run();
        self.arm_wake_timer();
        promise
    }
}
