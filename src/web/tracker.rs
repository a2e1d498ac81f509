//! One live tracker per API key on the page: the engine, its storage, its timer and its
//! listeners, its links to the other tabs, and the loop that performs the engine's actions.

use std::cell::{Cell, RefCell};

use std::rc::{Rc, Weak};

use js_sys::Function;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::js::{now_ms, outcome_values, random_seed, report_value};
use super::storage::{RecordStore, StorageKind};
use super::tabs::{keepalive_supported, TabHandlers, TabLinks};
use super::transport;
use crate::core::engine::{Action, Engine, Report};
use crate::core::relay::Message;

/// How long a tab that waited for the sender role lets the old sender's last messages
/// arrive before it reads the queue: a record the old sender just delivered may still be in
/// this tab's view of storage (Chromium's storage is only eventually consistent across tabs).
const TAKEOVER_DELAY_MS: i32 = 250;
/// How long a follower's `flush()` waits for the sender's answer.
const PEER_FLUSH_TIMEOUT_MS: i32 = 12_000;

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

/// Who waits for a flush to settle.
enum FlushWaiter {
    /// This page's `flush()`.
    Page {
        resolve: Function,
        sent_before: u64,
        failed_before: u64,
    },
    /// A follower tab's `flush()`, answered by message.
    Peer,
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
    flush_waits: RefCell<Vec<FlushWaiter>>,
    /// A follower asked the sender to flush and waits for its answer.
    peer_flush: Cell<bool>,
    listeners: RefCell<Vec<(&'static str, Function)>>,
    tab_id: String,
    /// The key whose absence means storage was cleared (see `Engine::marker_key`).
    marker: String,
    links: RefCell<Option<TabLinks>>,
    /// Other open tabs, as far as the sender heard: with none, leaving the page sends what
    /// waits with keepalive.
    peers: RefCell<Vec<String>>,
    /// Reports being relayed from another tab are not relayed again.
    relaying: Cell<bool>,
    this: Weak<Live>,
}

impl Live {
    /// A tracker around `engine`, with the records of earlier page loads adopted; the
    /// caller then calls [`Live::run`].
    pub fn start(mut engine: Engine, on_delivery: Option<Function>) -> Rc<Live> {
        let store = RecordStore::open();
        let prefix = engine.prefix().to_owned();
        let engine_marker = engine.marker_key();
        if store.kind() == StorageKind::Local {
            // Another tab may be the sender: follow until elected, knowing the queue.
            engine.become_follower();
            engine.observe(store.load(&prefix));
        }
        let live = Rc::new_cyclic(|this| Live {
            engine: RefCell::new(engine),
            store,
            on_delivery: RefCell::new(on_delivery),
            destroyed: Cell::new(false),
            failed: Cell::new(0),
            soon_scheduled: Cell::new(false),
            wake_timer: Cell::new(None),
            flush_waits: RefCell::new(Vec::new()),
            peer_flush: Cell::new(false),
            listeners: RefCell::new(Vec::new()),
            tab_id: format!("{:x}", random_seed()),
            marker: engine_marker,
            links: RefCell::new(None),
            peers: RefCell::new(Vec::new()),
            relaying: Cell::new(false),
            this: this.clone(),
        });
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
        drop(listeners);
        self.join_tabs();
    }

    /// A JS function calling `f` on this tracker while it lives.
    fn callback<A: wasm_bindgen::convert::FromWasmAbi + 'static>(
        &self,
        f: impl Fn(&Live, A) + 'static,
    ) -> Function {
        let weak = self.this.clone();
        Closure::<dyn Fn(A)>::new(move |a: A| {
            if let Some(live) = weak.upgrade() {
                f(&live, a);
            }
        })
        .into_js_value()
        .unchecked_into()
    }

    /// Joins the other tabs of this API key: the sender election, the channel, and the
    /// page's storage and lifecycle events. Without localStorage there is nothing to share:
    /// the tab stays its own sender.
    fn join_tabs(&self) {
        if self.links.borrow().is_some() || self.store.kind() != StorageKind::Local {
            return;
        }
        let prefix = self.engine.borrow().prefix().to_owned();
        let on_storage = {
            let weak = self.this.clone();
            Closure::<dyn Fn(Option<String>, Option<String>)>::new(
                move |key: Option<String>, value: Option<String>| {
                    if let Some(live) = weak.upgrade() {
                        live.engine
                            .borrow_mut()
                            .storage_changed(key.as_deref(), value.as_deref());
                        live.poll();
                    }
                },
            )
            .into_js_value()
            .unchecked_into()
        };
        let on_role = {
            let weak = self.this.clone();
            Closure::<dyn Fn(bool, bool)>::new(move |sender: bool, waited: bool| {
                if let Some(live) = weak.upgrade() {
                    live.on_role(sender, waited);
                }
            })
            .into_js_value()
            .unchecked_into()
        };
        let handlers = TabHandlers {
            on_role,
            on_message: self.callback(|live, text: String| live.on_message(&text)),
            on_storage,
            on_hidden: self.callback(|live, leaving: bool| live.on_hidden(leaving)),
            on_shown: self.callback(|live, restored: bool| live.on_shown(restored)),
        };
        let links = TabLinks::open(&prefix, &self.tab_id, &handlers);
        if links.electing() {
            self.engine.borrow_mut().become_follower();
        }
        links.post(&Message::Hello(self.tab_id.clone()).encode());
        *self.links.borrow_mut() = Some(links);
    }

    fn post(&self, message: &Message) {
        if let Some(links) = self.links.borrow().as_ref() {
            links.post(&message.encode());
        }
    }

    /// Runs `f` once the current task is over (never inside the caller's borrows).
    fn later(&self, delay: i32, f: impl FnOnce(&Live) + 'static) {
        let weak = self.this.clone();
        let callback = Closure::once_into_js(move || {
            if let Some(live) = weak.upgrade() {
                f(&live);
            }
        });
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(
                callback.unchecked_ref(),
                delay,
            );
        }
    }

    fn on_role(&self, sender: bool, waited: bool) {
        if !sender {
            self.engine.borrow_mut().become_follower();
            return;
        }
        let delay = if waited { TAKEOVER_DELAY_MS } else { 0 };
        self.later(delay, |live: &Live| {
            if live.destroyed.get() || live.links.borrow().is_none() {
                return;
            }
            let prefix = live.engine.borrow().prefix().to_owned();
            let stored = live.store.load(&prefix);
            live.engine.borrow_mut().promote(now_ms(), stored);
            live.post(&Message::Census);
            live.poll();
        });
    }

    fn on_message(&self, text: &str) {
        let Some(message) = Message::decode(text) else {
            return;
        };
        let sender = self.engine.borrow().is_sender();
        match message {
            Message::Outcome(report) => {
                self.engine.borrow_mut().remote_outcome(report);
                self.relaying.set(true);
                self.run();
                self.relaying.set(false);
            }
            Message::Record { key, value } => {
                if sender {
                    self.engine.borrow_mut().adopt(&key, &value);
                    self.poll();
                }
            }
            Message::Flush(records) => {
                if sender {
                    // The asking tab's newest records may not be visible here yet.
                    for (key, value) in records {
                        self.engine.borrow_mut().adopt(&key, &value);
                    }
                    self.flush_waits.borrow_mut().push(FlushWaiter::Peer);
                    self.engine.borrow_mut().flush(now_ms());
                    self.run();
                    self.arm_wake_timer();
                }
            }
            Message::Flushed => {
                if !sender && self.peer_flush.replace(false) {
                    self.settle_flushes();
                }
            }
            Message::Hello(tab) => {
                let mut peers = self.peers.borrow_mut();
                if !peers.contains(&tab) {
                    peers.push(tab);
                }
            }
            Message::Bye(tab) => self.peers.borrow_mut().retain(|t| *t != tab),
            Message::Census => self.post(&Message::Hello(self.tab_id.clone())),
        }
    }

    fn on_hidden(&self, leaving: bool) {
        if leaving {
            self.post(&Message::Bye(self.tab_id.clone()));
        }
        if self.destroyed.get() {
            return;
        }
        // Without keepalive the page's requests die with it: nothing is handed over, the
        // records stay for the next page (a counted resend at worst, never a loss).
        let last_tab = self.peers.borrow().is_empty() && keepalive_supported();
        self.engine
            .borrow_mut()
            .page_hidden(now_ms(), last_tab, leaving);
        self.run();
    }

    fn on_shown(&self, restored: bool) {
        if restored {
            self.post(&Message::Hello(self.tab_id.clone()));
        }
        if self.destroyed.get() {
            return;
        }
        self.engine.borrow_mut().page_shown(now_ms());
        self.run();
        self.arm_wake_timer();
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
        let links = self.links.borrow_mut().take();
        if let Some(links) = links {
            links.post(&Message::Bye(self.tab_id.clone()).encode());
            links.close();
        }
        self.peers.borrow_mut().clear();
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
            Action::Store { key, value } => {
                let stored = self.store.set(&key, &value);
                if !stored && !self.engine.borrow().is_sender() {
                    // The sender cannot hear of it through storage: hand it over.
                    self.post(&Message::Record { key, value });
                }
            }
            Action::Remove { key } => self.store.remove(&key),
            Action::Send { request, keepalive } => {
                let weak = self.this.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    let answer = transport::send(&request, keepalive).await;
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
        if !self.relaying.get() && self.engine.borrow().is_sender() {
            self.post(&Message::Outcome(report.clone()));
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
        // The tab that clears storage hears no storage event: a missing marker tells it.
        if self.store.kind() == StorageKind::Local && !self.store.has(&self.marker) {
            self.engine.borrow_mut().storage_cleared();
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
            self.flush_waits.borrow_mut().push(FlushWaiter::Page {
                resolve,
                sent_before,
                failed_before,
            });
        });
        let follower = !self.engine.borrow().is_sender();
        if follower && !self.destroyed.get() && self.links.borrow().is_some() {
            // The sender does the sending: ask it, and settle on its answer (or give up
            // waiting if no sender answers, e.g. while the role changes hands).
            if !self.peer_flush.replace(true) {
                let records = self.engine.borrow().records();
                self.post(&Message::Flush(records));
                self.later(PEER_FLUSH_TIMEOUT_MS, |live: &Live| {
                    if live.peer_flush.replace(false) {
                        live.settle_flushes();
                    }
                });
            }
        } else if !self.destroyed.get() {
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
        if in_flight > 0 || self.peer_flush.get() || self.flush_waits.borrow().is_empty() {
            return;
        }
        let waits: Vec<FlushWaiter> = self.flush_waits.borrow_mut().drain(..).collect();
        for wait in waits {
            let FlushWaiter::Page {
                resolve,
                sent_before,
                failed_before,
            } = wait
            else {
                self.post(&Message::Flushed);
                continue;
            };
            let result = js_sys::Object::new();
            let set = |k: &str, v: f64| {
                let _ = js_sys::Reflect::set(&result, &k.into(), &v.into());
            };
            set("sent", (sent - sent_before) as f64);
            set("failed", (self.failed.get() - failed_before) as f64);
            set("pending", pending as f64);
            let _ = resolve.call1(&JsValue::UNDEFINED, &result);
        }
    }
}
