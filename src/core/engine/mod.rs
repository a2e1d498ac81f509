//! The delivery state machine of one destination and key, for one tab. Inputs in (an event,
//! a timer, an answer, the network coming back, a message from another tab, the page being
//! hidden), actions out (store or remove a record, send a request, report an outcome, post
//! a message). It never touches a browser API or a clock: the shell passes [`Now`] in and
//! performs the actions, so every rule here — the tab protocol included — is tested
//! natively with a fake clock.
//!
//! # Driver contract
//!
//! The shell (`src/web/`) drives an [`Engine`] as follows; the native simulations in
//! `tests/` drive it the same way.
//!
//! 1. **Start.** [`Engine::new`]. If storage is shared with other tabs (localStorage), call
//!    [`Engine::handle_join`] with every stored entry under [`Engine::keys`]' prefix, then
//!    open the sender election and the channel. Without an election the tab is alone: call
//!    [`Engine::handle_role`] with `Role::Sender { waited: false }`.
//! 2. **Inputs**, each as it happens: [`Engine::handle_send_event`] (`sendEvent`),
//!    [`Engine::handle_answer`] (a request settled), [`Engine::handle_role`] (the election),
//!    [`Engine::handle_message`] (a message from another tab), [`Engine::handle_storage_event`]
//!    (another tab changed storage), [`Engine::handle_online`], [`Engine::handle_page_hidden`],
//!    [`Engine::handle_page_shown`], [`Engine::handle_flush`], [`Engine::handle_config`],
//!    [`Engine::handle_customer`], [`Engine::handle_logout`], [`Engine::handle_detach`].
//! 3. **After every input**, and whenever the timer fires: [`Engine::handle_timeout`] with
//!    `now` and whether the marker key ([`crate::core::storage_key::StorageKeys::marker`])
//!    is in storage (the tab that clears storage hears no storage event: the missing marker
//!    tells it). `sendEvent` may defer this to the end of the current task, so that the
//!    events a page sends in one go share their requests.
//! 4. **Then drain** [`Engine::poll_actions`] until it returns nothing, performing each
//!    action in order. Performing an action may call back into the engine
//!    ([`Engine::handle_store_refused`] when storage refuses a `Store`,
//!    [`Engine::handle_storage_read`] for `ReadStorage`, [`Engine::handle_storage_check`]
//!    for `CheckStorage`); a settled `flush()` is reported
//!    (`FlushSettled`) when the queue of actions runs dry.
//! 5. **Arm one timer** for [`Engine::poll_timeout`]; on expiry go to 3.
//!
//! `now` is a [`Now`]: both clocks, read once per input. `mono_ms` is the page's monotonic
//! clock (`performance.now()` plus a fixed origin), `wall_ms` is `Date.now()`. Every deadline
//! in memory (back-off, busy-customer waits, the rate window, the take-over, peer-flush and
//! came-back waits, the flush interval, an event's age once loaded) runs on `mono_ms`, and
//! [`Engine::poll_timeout`] answers in it; `wall_ms` is read only for what outlives the page
//! or crosses tabs (a record's creation time, the stored rate budget, an HTTP-date
//! `Retry-After`), each bounded so that a step of the wall clock, either way, neither stalls
//! sending nor lets it run unchecked (src/core/clock.rs says how).
//!
//! # Order
//!
//! A customer's events reach the destination in id order, and ids follow `sendEvent` order
//! in a page and across tabs that heard of each other's events (`Queue::id_time`): no
//! request carries an event while an earlier event of its customer is queued in the sender
//! and not settled (`Queue::next_batch`), whatever holds the earlier one back (a
//! busy-customer wait, a retry, a record handed over, restored or re-read). An event that
//! settles with an error (expired, rejected, evicted from a full queue, out of attempts) no
//! longer holds the later ones back. Events in a request out in another tab (one that lost
//! the sender role, or died) are known here by that request's flight note: the sender does
//! not wait for an answer that may never come, but sends them again (counted) before the
//! customer's later events. An event the sender has not heard of yet (a follower's record
//! still on its way: a storage event, or a hand-off message when storage refused it) cannot
//! hold anything back. The limit: a request whose fate is unknown is sent again in
//! order, but the original may still reach the server after later events, as a duplicate
//! counted in `resent_unknown`.

mod answer;
mod audit;
mod flights;
mod health;
mod lifecycle;
mod peers;
mod queue;
mod tabs;

pub use flights::{HANDED_OVER_WAIT_MS, KEEPALIVE_BUDGET};
pub use health::BREAKER_THRESHOLD;
pub use peers::{Role, PEER_FLUSH_TIMEOUT_MS, TAKEOVER_DELAY_MS};

pub use crate::core::clock::Now;
use crate::core::config::Config;
use crate::core::destination::{Destination, RawInput};
use crate::core::error::{ErrorCode, TrackerError};
use crate::core::event::CustomerDefaults;
#[cfg(test)]
use crate::core::event::RawEvent;
use crate::core::gameball::Gameball;
use crate::core::io::{Action, Report, Stats};
use crate::core::record::{id_random, make_id, make_tab_id, marked, Record};
use crate::core::relay::Message;
use crate::core::rng::Rng;
use crate::core::storage_key::{KeyKind, StorageKeys};
use crate::core::text::decimal;

use flights::Flights;
use health::Health;
use peers::Peers;
use queue::{Admission, Queue};

/// Requests in flight at once (each for a different customer). Enough that a backlog of
/// many customers drains at the rate limit rather than at the round trip's pace (100
/// requests in the first 1.1 s window need about 10 in flight at 100 ms each).
pub const MAX_IN_FLIGHT: usize = 10;

/// The words of an `unauthorized` outcome, whichever path reports it (around the name of
/// the destination's factory).
const UNAUTHORIZED: [&str; 2] = [
    "refused the API key: sending is paused until ",
    " is called again with a valid key; the event is kept",
];

static GAMEBALL: Gameball = Gameball;

/// What the browser offers, as the shell found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Browser {
    /// `fetch` keepalive: a request outlives its page (Chromium 66, Safari 13, Firefox 133).
    /// Without it nothing is handed to the network as the last tab leaves: the records stay
    /// for the next page (a counted resend at worst, never a loss).
    pub keepalive: bool,
    /// `BroadcastChannel`: messages between tabs stay in memory. Without it they go through
    /// `localStorage` (storage events), where a session token must never be written, so the
    /// tabs keep their tokens to themselves.
    pub broadcast_channel: bool,
}

impl Default for Browser {
    fn default() -> Browser {
        Browser {
            keepalive: true,
            broadcast_channel: true,
        }
    }
}

/// The delivery state machine of one API key's queue in one tab; see the module docs for
/// the order in which the shell calls it.
#[derive(Debug)]
pub struct Engine {
    config: Config,
    destination: &'static dyn Destination,
    keys: StorageKeys,
    queue: Queue,
    flights: Flights,
    health: Health,
    peers: Peers,
    /// When the sender next compares storage with its queue (see `audit.rs`).
    audit: audit::Audit,
    /// The page is hidden (maybe leaving): requests go out with keepalive and their records
    /// leave storage, so that the next page does not send them again.
    hidden: bool,
    /// The last tab is unloading (`pagehide`): the browser may reject its keepalive
    /// requests' promises as the document goes, though the requests themselves go on, so
    /// their failures here mean nothing.
    leaving: bool,
    /// A `pagehide` came (last tab or not): the requests out may never settle in this page
    /// if it comes back.
    left: bool,
    /// What the browser offers (see [`Browser`]).
    browser: Browser,
    /// Not destroyed or replaced: may start requests.
    active: bool,
    /// Whether this tab has known the marker in storage (seen it, or written it): only then
    /// does its absence mean a clear. On a store's first visit no sender has written it yet.
    marker_known: bool,
    seq: u32,
    rng: Rng,
    stats: Stats,
    actions: Vec<Action>,
}

impl Engine {
    /// A tracker for `config` sending to Gameball, with an empty queue, alone and sending
    /// until [`Engine::handle_join`]; `seed` feeds ids and jitter.
    pub fn new(config: Config, seed: u64) -> Engine {
        Engine::with_destination(config, &GAMEBALL, seed)
    }

    /// As [`Engine::new`], sending to `destination`.
    pub fn with_destination(
        config: Config,
        destination: &'static dyn Destination,
        seed: u64,
    ) -> Engine {
        let mut rng = Rng::new(seed);
        let tab_id = make_tab_id(rng.next_u64());
        Engine {
            keys: StorageKeys::for_destination(destination.storage_tag(), &config.api_key),
            config,
            destination,
            queue: Queue::default(),
            flights: Flights::default(),
            health: Health::default(),
            peers: Peers::new(tab_id),
            audit: audit::Audit::default(),
            hidden: false,
            leaving: false,
            left: false,
            browser: Browser::default(),
            active: true,
            marker_known: false,
            seq: 0,
            rng,
            stats: Stats::default(),
            actions: Vec::new(),
        }
    }

    /// The storage keys of this queue.
    pub fn keys(&self) -> &StorageKeys {
        &self.keys
    }

    /// The text stored under `key` if it is the record of an event this queue holds: a
    /// shell that must write it again (storage refused it) asks here instead of keeping a
    /// second copy of every refused record.
    pub fn record_text(&self, key: &str) -> Option<&str> {
        match self.keys.kind(key) {
            KeyKind::Record(id) => self.queue.get(id).map(|e| e.text()),
            _ => None,
        }
    }

    /// The destination it sends to.
    pub fn destination(&self) -> &'static dyn Destination {
        self.destination
    }

    /// The current configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Events waiting (in flight included).
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// Bytes of the stored records.
    pub fn bytes(&self) -> usize {
        self.queue.bytes()
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> usize {
        self.flights.len()
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Whether a 401/403 stopped sending.
    pub fn is_paused(&self) -> bool {
        self.health.paused()
    }

    /// Whether this tab holds the sender role now (`stats().sender`; the shell decides
    /// nothing from it).
    pub fn holds_sender_role(&self) -> bool {
        self.peers.sender()
    }

    /// Whether the circuit breaker is open (requests die before reaching the server).
    pub fn breaker_open(&self) -> bool {
        self.health.breaker_open()
    }

    /// Milliseconds until the hold on every request of this sender ends (a server's
    /// `Retry-After` or back-off after a 429 or 5xx, or the back-off after requests that got
    /// no answer), 0 when none runs at `now` (`stats().heldMs`).
    pub fn held_ms(&self, now: Now) -> u64 {
        self.health
            .held_until(now.mono_ms)
            .map_or(0, |until| until - now.mono_ms)
    }

    /// This tab's name in the census of tabs.
    pub fn tab_id(&self) -> &str {
        self.peers.tab_id()
    }

    /// Takes the actions decided since the last call, in order. When none are left, a
    /// settled `flush()` adds its `FlushSettled` (and the answer to other tabs' flushes).
    pub fn poll_actions(&mut self) -> Vec<Action> {
        if self.actions.is_empty() {
            self.settle_flushes();
        }
        std::mem::take(&mut self.actions)
    }

    /// When the shell should call [`Engine::handle_timeout`] next, if anything waits, in
    /// monotonic ms (`Now::mono_ms`).
    pub fn poll_timeout(&self, now: Now) -> Option<u64> {
        let now = now.mono_ms;
        let mut tabs = self.peers.next_wakeup();
        if let Some(at) = self.flights.came_back_deadline().filter(|_| self.active) {
            let at = at.max(now);
            tabs = Some(tabs.map_or(at, |t| t.min(at)));
        }
        if self.has_unsaved() {
            let retry = now + self.config.flush_interval_ms;
            tabs = Some(tabs.map_or(retry, |t| t.min(retry)));
        }
        if self.queue.is_empty() || !self.active || !self.peers.sender() {
            return tabs;
        }
        let mut wake = now + self.config.flush_interval_ms;
        if let Some(at) = self.audit.next_at() {
            wake = wake.min(at.max(now));
        }
        if let Some(until) = self.health.held_until(now) {
            wake = wake.min(until);
        } else if self.health.online() && !self.health.paused() {
            let soonest_retry = self
                .queue
                .iter()
                .filter(|e| e.in_flight.is_none() && e.not_before > now)
                .map(|e| e.not_before)
                .min();
            for at in [soonest_retry, self.health.rate_wait(now)]
                .into_iter()
                .flatten()
            {
                wake = wake.min(at);
            }
        }
        Some(tabs.map_or(wake, |t| t.min(wake)))
    }

    fn debug(&mut self, line: impl FnOnce() -> String) {
        if self.config.debug {
            self.actions.push(Action::Debug(line()));
        }
    }

    /// Validates and queues one event; the record is in the actions as `Store` before this
    /// returns, so the shell persists it before `sendEvent` returns.
    ///
    /// # Errors
    /// `invalid_event` when the event fails validation; nothing is queued then.
    pub fn handle_send_event(
        &mut self,
        now: Now,
        raw: impl Into<RawInput>,
    ) -> Result<String, TrackerError> {
        let event = self
            .destination
            .validate(raw.into(), &self.config.customer)?;
        self.seq = self.seq.wrapping_add(1);
        let bound = self
            .own_token()
            .is_some_and(|(customer, _)| customer == event.customer_id);
        let id = make_id(
            self.queue.id_time(now.wall_ms),
            self.seq,
            id_random(self.rng.next_u64(), bound),
        );
        let record = Record {
            id: id.clone(),
            created_ms: now.wall_ms,
            attempts: 0,
            event,
        };
        let value = record.encode();
        self.queue.insert(&record, value.clone(), now.mono_ms);
        self.actions.push(Action::Store {
            key: self.keys.record(&id),
            value,
        });
        if self.health.paused() {
            self.report_unauthorized(&id, None);
        }
        self.enforce_bounds(Some(&id));
        Ok(id)
    }

    /// The timer fired (or an input was handled): takes over the sender role when its wait
    /// ended, ends a peer-flush wait that ran out, writes storage again if it was cleared
    /// (`marker_present` is false) and a follower's records storage refused, gives up events
    /// past their age, and starts the requests that may go now. While events wait, the
    /// sender asks at each flush interval to compare storage with its queue
    /// (`CheckStorage`, see [`Engine::handle_storage_check`]).
    pub fn handle_timeout(&mut self, now: Now, marker_present: bool) {
        self.audit_if_due(now, marker_present);
        if marker_present {
            self.marker_known = true;
        } else if self.peers.joined() && self.marker_known {
            self.storage_cleared();
        }
        if self.peers.due_promotion(now.mono_ms) {
            self.actions.push(Action::ReadStorage);
        }
        self.peers.expire_peer_flush(now.mono_ms);
        self.settle_came_back(now);
        self.store_unsaved();
        self.start_requests(now);
    }

    /// `flush()`: sends what waits now, ending a back-off caused by missing answers and the
    /// short waits after busy-customer answers (a server's `Retry-After` or 5xx back-off is
    /// kept: hammering a struggling server helps nobody). A follower asks the sender, with
    /// its waiting records. `FlushSettled` follows once nothing is in flight.
    pub fn handle_flush(&mut self, now: Now) {
        self.peers.page_flushes += 1;
        if self.peers.joined() && !self.peers.sender() {
            if self.peers.await_peer_flush(now.mono_ms) {
                // First, as their own messages: the events a sender took out of storage,
                // with their unknown fate (the flush's copies carry none, and the sender
                // sends them at once).
                self.hand_over_own(false);
                let records = self.records();
                self.post(Message::Flush(records));
            }
            return;
        }
        self.flush_now(now);
    }

    fn flush_now(&mut self, now: Now) {
        self.health.end_network_hold(now.mono_ms);
        for entry in self.queue.iter_mut() {
            entry.not_before = entry.not_before.min(now.mono_ms);
        }
        self.start_requests(now);
    }

    fn settle_flushes(&mut self) {
        if !self.flights.is_empty() || self.peers.awaits_peer_flush() {
            return;
        }
        if std::mem::take(&mut self.peers.page_flushes) > 0 {
            self.actions.push(Action::FlushSettled);
        }
        if std::mem::take(&mut self.peers.peer_flushes) > 0 {
            self.post(Message::Flushed);
        }
    }

    /// What the browser offers (the shell tells once, before anything else).
    pub fn handle_browser(&mut self, browser: Browser) {
        self.browser = browser;
    }

    /// Takes a new configuration for the same API key (a second `customerWidget` call). An
    /// `unauthorized` pause ends: the merchant has had the chance to fix the key.
    pub fn handle_config(&mut self, config: Config) {
        let had_token = self.own_token().is_some();
        self.config = config;
        self.health.resume();
        self.active = true;
        self.announce_token(had_token);
    }

    /// Logs a customer in (or refreshes their token); events already queued keep the
    /// customer they were sent for, and get the token when they are that customer's.
    pub fn handle_customer(&mut self, customer: CustomerDefaults, session_token: Option<String>) {
        let had_token = self.own_token().is_some();
        self.config.customer = customer;
        self.config.session_token = session_token;
        self.announce_token(had_token);
    }

    /// Back to guest: the customer and the token are forgotten (here and by the sender).
    pub fn handle_logout(&mut self) {
        let had_token = self.own_token().is_some();
        self.config.customer = CustomerDefaults::default();
        self.config.session_token = None;
        self.announce_token(had_token);
    }

    /// The tracker was destroyed, or replaced by one for another key: it starts no request
    /// and tells the other tabs it left (perform the `Post` before closing the channel).
    /// Answers to requests already out are still taken; the queue stays in storage.
    pub fn handle_detach(&mut self) {
        if self.peers.joined() {
            self.post(Message::Bye(self.peers.tab_id().to_owned()));
        }
        self.peers.leave();
        self.active = false;
    }

    fn start_requests(&mut self, now: Now) {
        if !self.peers.sender() {
            return;
        }
        self.expire_old(now);
        if !self.active || !self.health.may_send(now.mono_ms) {
            return;
        }
        let most = self.health.most_in_flight(MAX_IN_FLIGHT);
        let limits = self.destination.rate_limits();
        while self.flights.len() < most {
            if !self.health.rate_allows(now.mono_ms, limits) {
                break;
            }
            let flights = &self.flights;
            let busy = |customer: &str| flights.busy(customer);
            let Some(batch) = self.queue.next_batch(now.mono_ms, &busy, self.destination) else {
                break;
            };
            self.start(now, batch);
        }
        if self.hidden {
            self.unstore_keepalive_flights();
        }
    }

    fn start(&mut self, now: Now, records: Vec<Record>) {
        let request = self.flights.next_request();
        self.health
            .record_start(now.mono_ms, self.destination.rate_limits());
        self.actions.push(Action::Store {
            key: self.keys.rate_budget(),
            value: self.health.rate_budget(now),
        });
        let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
        let customer = records
            .first()
            .map(|r| r.event.customer_id.clone())
            .unwrap_or_default();
        let http = self.destination.build_request(
            request,
            &self.config,
            self.token_for(&customer, &records),
            &records.iter().collect::<Vec<_>>(),
        );
        let mut resent = 0;
        for id in &ids {
            if let Some(entry) = self.queue.get_mut(id) {
                entry.in_flight = Some(request);
                if std::mem::take(&mut entry.unknown_fate) {
                    resent += 1;
                }
            }
        }
        if resent > 0 {
            self.settle_orphans();
            self.stats.resent_unknown += resent;
            self.stats.resent_unknown_total += resent;
            self.actions.push(Action::Store {
                key: self.keys.resent_total(),
                value: decimal(self.stats.resent_unknown_total),
            });
        }
        let tag = self.rng.next_u64() % 1_000_000_007;
        let note = self
            .keys
            .flight_note(ids.first().map_or("", String::as_str), tag);
        self.actions.push(Action::Store {
            key: note.clone(),
            value: ids.join(","),
        });
        let count = ids.len();
        self.debug(|| {
            let (request, count) = (decimal(request), decimal(count as u64));
            [
                "request ",
                &request,
                ": ",
                &count,
                " events for customer ",
                &customer,
            ]
            .concat()
        });
        let (_, keepalive) = self
            .flights
            .open(customer, ids, note, http.body.len(), self.hidden);
        self.actions.push(Action::Send {
            request: http,
            keepalive,
        });
    }

    fn expire_old(&mut self, now: Now) {
        let ttl = self.config.event_ttl_ms;
        while let Some(id) = self.queue.oldest_expired(now.mono_ms, ttl) {
            let message = [
                "the event was not delivered within eventTtlMs (",
                &decimal(ttl),
                " ms)",
            ]
            .concat();
            self.drop_entry(&id, TrackerError::new(ErrorCode::Expired, message));
        }
    }

    /// Evicts the oldest idle events until the queue fits its bounds. `keep` is the event
    /// just queued: it is the one the caller is waiting on, so it goes last.
    fn enforce_bounds(&mut self, keep: Option<&str>) {
        loop {
            // A follower holds only its own events; the sender, which holds all, keeps the
            // event bound. The byte bound holds in every tab.
            let too_many = self.peers.sender() && self.queue.len() > self.config.max_queue_events;
            let too_big = self.queue.bytes() > self.config.max_queue_bytes;
            if !(too_many || too_big) {
                return;
            }
            let Some(victim) = self.queue.oldest_idle(keep) else {
                return;
            };
            let message = [
                "the queue is full (",
                &decimal(self.config.max_queue_events as u64),
                " events, ",
                &decimal(self.config.max_queue_bytes as u64),
                " bytes): the oldest event was dropped",
            ]
            .concat();
            self.drop_entry(&victim, TrackerError::new(ErrorCode::QueueFull, message));
        }
    }

    fn drop_entry(&mut self, id: &str, error: TrackerError) {
        let result = Err(error);
        let Some(entry) = self.queue.settle(id, &result) else {
            return;
        };
        self.actions.push(Action::Remove {
            key: self.keys.record(id),
        });
        if let Err(error) = &result {
            let message = error.message.clone();
            self.debug(|| ["dropped ", id, ": ", &message].concat());
        }
        self.count_outcome(&result);
        if let Some(record) = entry.record() {
            self.announce(&record, result);
        }
        self.settle_orphans();
    }

    /// Removes the events `ids` from the queue and reports `result(attempts_before)`.
    fn finish(
        &mut self,
        ids: &[String],
        result: impl Fn(u32) -> Result<crate::core::io::Delivered, TrackerError>,
    ) {
        for id in ids {
            let Some(record) = self.queue.get(id).and_then(|e| e.record()) else {
                continue;
            };
            let outcome = result(record.attempts);
            if self.queue.settle(id, &outcome).is_none() {
                continue;
            }
            self.actions.push(Action::Remove {
                key: self.keys.record(id),
            });
            self.count_outcome(&outcome);
            self.announce(&record, outcome);
        }
        self.settle_orphans();
    }

    /// Counts an event's settling in `stats()`: `sent`, or `dropped` by error code.
    fn count_outcome(&mut self, result: &Result<crate::core::io::Delivered, TrackerError>) {
        match result {
            Ok(_) => self.stats.sent += 1,
            Err(e) => self.stats.dropped.add(e.code.as_str()),
        }
    }

    /// Writes back the records of `ids` that a hidden page took out of storage (their
    /// keepalive request came back, or the page stayed).
    fn store_again(&mut self, ids: &[String]) {
        for id in ids {
            let Some(entry) = self.queue.get_mut(id).filter(|e| !e.stored) else {
                continue;
            };
            entry.stored = true;
            let value = stored_text(entry);
            self.actions.push(Action::Store {
                key: self.keys.record(id),
                value,
            });
        }
    }

    fn retry_or_expire(&mut self, ids: &[String], expired: &TrackerError) {
        let max = self.config.max_attempts;
        for id in ids {
            let Some(record) = self.queue.get(id).and_then(|e| e.record()) else {
                continue;
            };
            let attempts = record.attempts + 1;
            if attempts >= max {
                let mut e = expired.clone();
                let (attempts, max) = (decimal(attempts.into()), decimal(max.into()));
                e.message = [&e.message, " (", &attempts, " of maxAttempts ", &max, ")"].concat();
                self.drop_entry(id, e);
                continue;
            }
            self.stats.retried += 1;
            if self.queue.count_attempt(id).is_some() {
                if let Some(entry) = self.queue.get_mut(id) {
                    entry.stored = true;
                    self.actions.push(Action::Store {
                        key: self.keys.record(id),
                        value: stored_text(entry),
                    });
                }
            }
        }
    }

    /// Reports an outcome this tab decided: to its page, and to the other tabs (the tab
    /// that queued the event may be another, and whoever holds the sender role, every
    /// answer this tab receives is announced).
    fn announce(
        &mut self,
        record: &Record,
        result: Result<crate::core::io::Delivered, TrackerError>,
    ) {
        let report = report_of(record, result);
        if self.peers.joined() {
            self.post(Message::Outcome(report.clone()));
        }
        self.report(report);
    }

    /// Tells this page of an outcome (its own, or one heard from another tab).
    fn report(&mut self, report: Report) {
        if report.result.is_err() {
            self.stats.failed += 1;
        }
        self.actions.push(Action::Report(report));
    }

    fn report_unauthorized(&mut self, id: &str, from: Option<&TrackerError>) {
        let error = from.cloned().unwrap_or_else(|| self.unauthorized_error());
        let Some(entry) = self.queue.get_mut(id) else {
            return;
        };
        entry.reported = true;
        if let Some(record) = entry.record() {
            self.announce(&record, Err(error));
        }
    }

    fn unauthorized_error(&self) -> TrackerError {
        let mut message = String::from(self.destination.name());
        message.push(' ');
        message.push_str(UNAUTHORIZED[0]);
        message.push_str(self.destination.factory());
        message.push_str(UNAUTHORIZED[1]);
        TrackerError::new(ErrorCode::Unauthorized, message)
    }

    /// Drops the notes of unknown-fate flights whose events have all settled. A note lives
    /// on while its events are sent again: the request it speaks of may still be out in a
    /// tab that lost the role, and the next sender must count what it sends after it. Run
    /// wherever events settle (answers, expiry, hand-overs never answered): the engine's fuzz
    /// target found notes outliving events that expired or were handed over on exit.
    fn settle_orphans(&mut self) {
        let queue = &self.queue;
        let waiting = |id: &str| queue.get(id).is_some();
        for key in self.flights.settle_orphans(waiting) {
            self.actions.push(Action::Remove { key });
        }
    }

    fn post(&mut self, message: Message) {
        self.actions.push(Action::Post(message));
    }
}

/// The text this tab stores (or hands over) for `entry`'s record: marked while its fate is
/// unknown here, so that the tab that takes it in next counts sending it again, whichever
/// way it gets there (a write-back after a clear, a hand-over, a storage read).
fn stored_text(entry: &queue::Entry) -> String {
    if entry.unknown_fate || entry.taken_out {
        marked(entry.text())
    } else {
        entry.text().to_owned()
    }
}

/// The outcome `result` of `record`'s event, as pages and tabs hear it.
fn report_of(record: &Record, result: Result<crate::core::io::Delivered, TrackerError>) -> Report {
    Report {
        id: record.id.clone(),
        customer_id: record.event.customer_id.clone(),
        event_names: record.event.names().map(str::to_owned).collect(),
        result: result.map_err(|e| e.with_id(&record.id)),
    }
}

#[cfg(test)]
mod tests;

// The tab worlds (tests) and the fuzz target of the engine (fuzz/) share one driver.
#[cfg(any(test, feature = "testkit"))]
#[doc(hidden)]
pub mod testkit;
