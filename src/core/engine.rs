//! The delivery state machine. Inputs in (an event, a timer, an answer, the network coming
//! back), actions out (store or remove a record, send a request, report an outcome). It never
//! touches a browser API or a clock: the shell passes `now` in and performs the actions, so
//! every rule here is tested natively with a fake clock.

use std::collections::{BTreeMap, VecDeque};

use super::config::Config;
use super::error::{ErrorCode, TrackerError};
use super::event::{validate, CustomerDefaults, RawEvent};
use super::gameball::{build_request, read_error_body, HttpRequest};
use super::policy::{
    backoff_ms, classify, parse_retry_after, RateLimiter, Verdict, CONCURRENT_RETRY_MS,
    SLOW_RETRY_MS,
};
use super::record::{make_id, Record};
use super::rng::Rng;

/// Requests in flight at once (each for a different customer). Enough that a backlog of
/// many customers drains at Gameball's rate limit rather than at the round trip's pace
/// (100 requests in the first 1.1 s window need about 10 in flight at 100 ms each).
pub const MAX_IN_FLIGHT: usize = 10;
/// Records coalesced into one request at most.
pub const MAX_BATCH_RECORDS: usize = 20;
/// Body bytes of one request at most; below `fetch` keepalive's 64 KiB budget.
pub const MAX_BATCH_BYTES: usize = 60 * 1024;
/// Body bytes the page may have in keepalive requests at once (Chromium's budget is 64 KiB
/// per page, counted on bodies; a little is left for the browser's own rounding).
pub const KEEPALIVE_BUDGET: usize = 63 * 1024;
/// Requests in a row that got no answer while the browser said it was online before the
/// circuit breaker opens: something between us and Gameball (an ad blocker, CSP, DNS) eats
/// them, so only one probe goes out at a time and failed probes use up no attempts.
pub const BREAKER_THRESHOLD: u32 = 4;
/// Ids of settled events remembered, so that a record another tab (or an eventually
/// consistent storage read) brings back after it was delivered is not sent again.
const FINISHED_MEMORY: usize = 4096;
/// How long a page that came back (from the back/forward cache) waits for the answer to a
/// request that was out as it left, before it decides without one (as long as a request may
/// take: the shell aborts one after 10 s). WebKit and Firefox never settle such a request's
/// promise after a restore, not even when the page aborts it; Chromium delivers its answer
/// as the page resumes.
pub const HANDED_OVER_WAIT_MS: u64 = 10_000;
/// Control keys share the queue's prefix; `~` cannot start an event id (ids are base 36).
const CONTROL: char = '~';

/// The storage key of the record of event `id`.
fn record_key(prefix: &str, id: &str) -> String {
    format!("{prefix}{id}")
}

/// Something for the shell to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write `value` under `key` in durable storage.
    Store {
        /// Storage key.
        key: String,
        /// Record text.
        value: String,
    },
    /// Delete `key` from durable storage.
    Remove {
        /// Storage key.
        key: String,
    },
    /// Send this request and hand its answer to [`Engine::on_answer`].
    Send {
        /// The request.
        request: HttpRequest,
        /// Send with `fetch` `keepalive`, so it completes even if the page goes away; its
        /// body fits in the page's keepalive budget.
        keepalive: bool,
    },
    /// Tell the page about an outcome.
    Report(Report),
    /// A line for the console when `debug` is on.
    Debug(String),
}

/// The outcome of one `sendEvent` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Event id.
    pub id: String,
    /// Customer of the event.
    pub customer_id: String,
    /// Names in the event.
    pub event_names: Vec<String>,
    /// Delivered, or why not.
    pub result: Result<Delivered, TrackerError>,
}

/// A successful delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// HTTP status of the answer.
    pub status: u16,
    /// Attempts it took, this one included.
    pub attempts: u32,
}

/// How a request ended, as the shell saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The server answered.
    Http {
        /// Status code.
        status: u16,
        /// `Retry-After` header, if any.
        retry_after: Option<String>,
        /// `X-Request-Id` header, if any.
        request_id: Option<String>,
        /// Body text (empty when unreadable).
        body: String,
    },
    /// No answer: offline, DNS, CORS, an ad blocker, or the request timed out.
    NoAnswer {
        /// What the browser said, for debug logs.
        reason: String,
    },
}

/// Counters for `stats()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events delivered by this tracker.
    pub sent: u64,
    /// Failed attempts that will be tried again.
    pub retried: u64,
    /// Events given up, by error code; `corrupt` counts unreadable stored records.
    pub dropped: BTreeMap<&'static str, u64>,
    /// Events this page sent again after a request whose fate is unknown (no answer, a
    /// timeout, a tab that died with it in flight): each may reach Gameball twice.
    pub resent_unknown: u64,
    /// The same count over every page and tab of this origin and API key (kept in storage).
    pub resent_unknown_total: u64,
    /// Records written again after another script removed, changed or cleared them.
    pub restored: u64,
    /// Events handed to keepalive requests when the page was hidden, whose answer this page
    /// may never see; a later page does not send them again.
    pub sent_on_exit: u64,
}

#[derive(Debug)]
struct Entry {
    record: Record,
    bytes: usize,
    /// Not sent before this time (after a 2001 answer).
    not_before: u64,
    in_flight: Option<u64>,
    /// The page was already told of a failure (unauthorized) for it.
    reported: bool,
    /// Its record is meant to be in storage (not while a keepalive request carries it out
    /// of a hidden page).
    stored: bool,
    /// An earlier request with it got no answer: the server may have it already.
    unknown_fate: bool,
}

impl Entry {
    fn new(record: Record, bytes: usize) -> Entry {
        Entry {
            record,
            bytes,
            not_before: 0,
            in_flight: None,
            reported: false,
            stored: true,
            unknown_fate: false,
        }
    }
}

#[derive(Debug)]
struct Flight {
    request: u64,
    customer: String,
    ids: Vec<String>,
    /// Storage key of the note that these records are in flight, read by the next sender if
    /// this one dies before the answer.
    marker: String,
    marker_stored: bool,
    keepalive: bool,
    body_bytes: usize,
    /// Out as the page left, and the page came back: its answer is awaited until `.0`.
    /// Without one, a request handed over (`.1`: its records had left storage) counts as
    /// delivered, as if the page had not come back; another gets no answer (sent again).
    came_back: Option<(u64, bool)>,
}

/// Why sending is on hold for the whole tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hold {
    None,
    /// No answer came: the network may be down; it ends early when the network returns.
    Network,
    /// The server asked for patience (5xx, 429, Retry-After): it runs its course.
    Server,
}

/// The delivery state machine of one API key's queue.
#[derive(Debug)]
pub struct Engine {
    config: Config,
    prefix: String,
    entries: Vec<Entry>,
    bytes: usize,
    in_flight: Vec<Flight>,
    next_request: u64,
    seq: u32,
    rng: Rng,
    online: bool,
    paused: bool,
    active: bool,
    failures: u32,
    hold: Hold,
    hold_until: u64,
    limiter: RateLimiter,
    limit_until: u64,
    /// Only the elected tab sends; the others queue and hear outcomes.
    sender: bool,
    /// The page is hidden (maybe leaving): requests go out with keepalive and their records
    /// leave storage, so that the next page does not send them again.
    hidden: bool,
    /// The last tab is unloading (`pagehide`): the browser may reject its keepalive
    /// requests' promises as the document goes, though the requests themselves go on, so
    /// their answers here mean nothing.
    leaving: bool,
    /// A `pagehide` came (last tab or not): the requests out may never settle in this page
    /// if it comes back.
    left: bool,
    keepalive_bytes: usize,
    no_answer_streak: u32,
    finished: VecDeque<String>,
    finished_set: std::collections::BTreeSet<String>,
    /// A follower's copy of the other tabs' records, from storage events: if storage is
    /// cleared, or the sender dies before it heard of them, this tab still has them.
    shadow: BTreeMap<String, String>,
    /// Flight notes of requests whose fate is unknown, kept in storage (key, ids) until
    /// their events went out again, so that the count survives this tab dying too.
    orphans: Vec<(String, Vec<String>)>,
    stats: Stats,
    actions: Vec<Action>,
}

impl Engine {
    /// A tracker for `config` with an empty queue; `seed` feeds ids and jitter.
    pub fn new(config: Config, seed: u64) -> Engine {
        Engine {
            prefix: config.storage_prefix(),
            config,
            entries: Vec::new(),
            bytes: 0,
            in_flight: Vec::new(),
            next_request: 1,
            seq: 0,
            rng: Rng::new(seed),
            online: true,
            paused: false,
            active: true,
            failures: 0,
            hold: Hold::None,
            hold_until: 0,
            limiter: RateLimiter::default(),
            limit_until: 0,
            sender: true,
            hidden: false,
            leaving: false,
            left: false,
            keepalive_bytes: 0,
            no_answer_streak: 0,
            finished: VecDeque::new(),
            finished_set: std::collections::BTreeSet::new(),
            shadow: BTreeMap::new(),
            orphans: Vec::new(),
            stats: Stats::default(),
            actions: Vec::new(),
        }
    }

    /// The storage key prefix of this queue.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The current configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Takes the actions decided since the last call, in order.
    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    /// Events waiting (in flight included).
    pub fn pending(&self) -> usize {
        self.entries.len()
    }

    /// Bytes of the stored records.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Whether a 401/403 stopped sending.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    fn debug(&mut self, line: impl FnOnce() -> String) {
        if self.config.debug {
            self.actions.push(Action::Debug(line()));
        }
    }

    /// Whether this tab is the one that sends.
    pub fn is_sender(&self) -> bool {
        self.sender
    }

    /// Whether the circuit breaker is open (requests die before reaching the server).
    pub fn breaker_open(&self) -> bool {
        self.no_answer_streak >= BREAKER_THRESHOLD
    }

    /// The key whose absence tells the sender that storage was cleared under it.
    pub fn marker_key(&self) -> String {
        self.control_key("m")
    }

    fn control_key(&self, name: &str) -> String {
        format!("{}{CONTROL}{name}", self.prefix)
    }

    fn is_finished(&self, id: &str) -> bool {
        self.finished_set.contains(id)
    }

    fn remember_finished(&mut self, id: &str) {
        if !self.finished_set.insert(id.to_owned()) {
            return;
        }
        if self.finished.len() >= FINISHED_MEMORY {
            if let Some(old) = self.finished.pop_front() {
                self.finished_set.remove(&old);
            }
        }
        self.finished.push_back(id.to_owned());
    }

    /// This tab does not send (another holds the role): it queues, stores, and hears
    /// outcomes. Answers to requests already out are still taken.
    pub fn become_follower(&mut self) {
        self.sender = false;
    }

    /// This tab's waiting records as stored (a follower hands them over with its flush).
    pub fn records(&self) -> Vec<(String, String)> {
        self.entries
            .iter()
            .map(|e| (self.key(&e.record.id), e.record.encode()))
            .collect()
    }

    /// A follower starting up notes the queue as it is in storage (see `shadow`).
    pub fn observe<I, K, V>(&mut self, stored: I)
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        for (key, value) in stored {
            let key = key.as_ref();
            if let Some(id) = key.strip_prefix(self.prefix.as_str()) {
                if id.starts_with(CONTROL) {
                    if id == "~w" {
                        self.note_resent_total(value.as_ref());
                    }
                } else {
                    self.shadow
                        .insert(key.to_owned(), value.as_ref().to_owned());
                }
            }
        }
    }

    /// This tab was elected sender: it adopts the whole stored queue (`stored`, read just
    /// now) and starts sending. Records a dead sender had in flight are sent again and
    /// counted in `resent_unknown`.
    pub fn promote<I, K, V>(&mut self, now: u64, stored: I)
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        self.sender = true;
        // Its own events go back into storage first: a clear or a late read may have taken
        // them out while another tab was sending. Unchanged values are no-ops.
        let own: Vec<(String, String)> = self
            .entries
            .iter()
            .filter(|e| e.stored)
            .map(|e| (self.key(&e.record.id), e.record.encode()))
            .collect();
        for (key, value) in own {
            self.actions.push(Action::Store { key, value });
        }
        let stored: Vec<(String, String)> = stored
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned()))
            .collect();
        let in_storage: std::collections::BTreeSet<&str> =
            stored.iter().map(|(k, _)| k.as_str()).collect();
        // Its own events that left storage were taken by the old sender, which may have
        // delivered them and died before this tab heard the outcome: sending them again is
        // right (nothing is lost), and it is counted like any resend of unknown fate.
        for entry in &mut self.entries {
            let key = record_key(&self.prefix, &entry.record.id);
            if entry.stored && entry.in_flight.is_none() && !in_storage.contains(key.as_str()) {
                entry.unknown_fate = true;
            }
        }
        // Records this tab heard of that are no longer in storage (cleared, or not yet
        // visible here): the dead sender may never have sent them.
        let missing: Vec<(String, String)> = std::mem::take(&mut self.shadow)
            .into_iter()
            .filter(|(k, _)| !in_storage.contains(k.as_str()))
            .collect();
        for (key, value) in &missing {
            if let Some(id) = key.strip_prefix(self.prefix.as_str()) {
                let id = id.to_owned();
                self.adopt_one(key, &id, value);
                if let Some(entry) = self.entries.iter_mut().find(|e| e.record.id == id) {
                    entry.unknown_fate = true;
                }
            }
        }
        self.load(stored);
        self.actions.push(Action::Store {
            key: self.marker_key(),
            value: "1".to_owned(),
        });
        self.poll(now);
    }

    /// Adopts records found in storage (an earlier page load, a dead sender's queue).
    /// Unreadable ones are removed and counted as `corrupt`; records of settled events are
    /// removed; the queue bounds are applied afterwards.
    pub fn load<I, K, V>(&mut self, stored: I)
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut orphaned: Vec<String> = Vec::new();
        for (key, value) in stored {
            let (key, value) = (key.as_ref(), value.as_ref());
            let Some(rest) = key.strip_prefix(self.prefix.as_str()) else {
                continue;
            };
            if let Some(control) = rest.strip_prefix(CONTROL) {
                if control == "w" {
                    self.note_resent_total(value);
                } else if control == "r" && self.sender {
                    self.limiter.merge(value);
                } else if control.starts_with('f') && self.sender {
                    // A flight whose answer nobody saw: its sender died with it out.
                    let ids: Vec<String> = value.split(',').map(str::to_owned).collect();
                    orphaned.extend(ids.iter().cloned());
                    if !self.orphans.iter().any(|(k, _)| k == key) {
                        self.orphans.push((key.to_owned(), ids));
                    }
                }
                continue;
            }
            self.take_stored(key, rest, value);
        }
        for entry in &mut self.entries {
            if entry.in_flight.is_none() && orphaned.contains(&entry.record.id) {
                entry.unknown_fate = true;
            }
        }
        // Ids are unique: an unstable sort gives the same order, with less code.
        self.entries
            .sort_unstable_by(|a, b| a.record.id.cmp(&b.record.id));
        self.enforce_bounds(None);
        self.settle_orphans();
        let pending = self.entries.len();
        self.debug(|| format!("loaded {pending} stored events"));
    }

    /// Takes one stored record unless it is known, settled, or unreadable.
    fn take_stored(&mut self, key: &str, id: &str, value: &str) -> bool {
        if self.entries.iter().any(|e| e.record.id == id) {
            return false;
        }
        if self.is_finished(id) {
            self.actions.push(Action::Remove {
                key: key.to_owned(),
            });
            return false;
        }
        match Record::decode(value).filter(|r| r.id == id) {
            Some(record) => {
                self.bytes += value.len();
                self.entries.push(Entry::new(record, value.len()));
                true
            }
            None => {
                *self.stats.dropped.entry("corrupt").or_default() += 1;
                self.actions.push(Action::Remove {
                    key: key.to_owned(),
                });
                false
            }
        }
    }

    /// Another tab changed our part of storage (a `storage` event; `key` is `None` when it
    /// was cleared). The sender adopts new records, removes records of settled events that
    /// came back, and writes again what another script removed or damaged. Followers ignore
    /// it: the sender's outcome messages tell them what they need.
    pub fn storage_changed(&mut self, key: Option<&str>, value: Option<&str>) {
        let Some(key) = key else {
            self.storage_cleared();
            return;
        };
        let Some(id) = key.strip_prefix(self.prefix.as_str()) else {
            return;
        };
        if let Some(control) = id.strip_prefix(CONTROL) {
            if let (Some(value), "w") = (value, control) {
                self.note_resent_total(value);
            }
            return;
        }
        if !self.sender {
            let own = self.entries.iter().any(|e| e.record.id == id);
            match value {
                Some(v) if !own && !self.is_finished(id) => {
                    self.shadow.insert(key.to_owned(), v.to_owned());
                }
                _ => {
                    self.shadow.remove(key);
                }
            }
            return;
        }
        match self.entries.iter().position(|e| e.record.id == id) {
            Some(index) => {
                let entry = &self.entries[index];
                let intact = value.and_then(Record::decode).as_ref() == Some(&entry.record);
                if entry.stored && !intact {
                    let value = entry.record.encode();
                    self.stats.restored += 1;
                    self.actions.push(Action::Store {
                        key: key.to_owned(),
                        value,
                    });
                }
            }
            None => {
                // Written again even though the event says it is there: storage events
                // arrive late, and the record may have been cleared since by this very tab,
                // which hears no event of its own clear (the randomized tab test loses
                // events without this write). An unchanged value is a no-op for the others.
                if let Some(value) = value {
                    self.adopt_one(key, id, value);
                }
            }
        }
    }

    /// A follower's record that its storage refused, handed over by message: the sender
    /// queues it and tries to store it.
    pub fn adopt(&mut self, key: &str, value: &str) {
        if let Some(id) = key.strip_prefix(self.prefix.as_str()) {
            if !id.starts_with(CONTROL) {
                self.adopt_one(key, id, value);
            }
        }
    }

    fn adopt_one(&mut self, key: &str, id: &str, value: &str) {
        if !self.take_stored(key, id, value) {
            return;
        }
        self.actions.push(Action::Store {
            key: key.to_owned(),
            value: value.to_owned(),
        });
        // Keep the queue in id order (per-customer order follows it): the record just taken
        // is the last entry; move it to its place.
        if let Some(entry) = self.entries.pop() {
            let at = self
                .entries
                .partition_point(|e| e.record.id.as_str() < entry.record.id.as_str());
            self.entries.insert(at, entry);
        }
        if self.paused {
            if let Some(index) = self.entries.iter().position(|e| e.record.id == id) {
                self.report_unauthorized(index, None);
            }
        }
        self.enforce_bounds(None);
    }

    /// Storage was emptied under the sender (`localStorage.clear()` by another script):
    /// every record, flight note and counter is written again from memory.
    ///
    /// A follower writes its own events again too: the sender may not have heard of them
    /// yet, and may die before it does. The sender's memory of settled events makes such a
    /// write harmless if it comes after the delivery. (Its copies of other tabs' records
    /// are not written: they may be stale, and a tab opened later has no memory of them.)
    pub fn storage_cleared(&mut self) {
        let mut writes = Vec::new();
        for entry in self.entries.iter().filter(|e| e.stored) {
            writes.push((self.key(&entry.record.id), entry.record.encode()));
        }
        let restored = writes.len() as u64;
        for flight in self.in_flight.iter().filter(|f| f.marker_stored) {
            writes.push((flight.marker.clone(), flight.ids.join(",")));
        }
        for (key, ids) in &self.orphans {
            writes.push((key.clone(), ids.join(",")));
        }
        if self.stats.resent_unknown_total > 0 {
            writes.push((
                self.control_key("w"),
                self.stats.resent_unknown_total.to_string(),
            ));
        }
        writes.push((self.marker_key(), "1".to_owned()));
        self.stats.restored += restored;
        self.debug(|| format!("storage was cleared: {restored} records written again"));
        for (key, value) in writes {
            self.actions.push(Action::Store { key, value });
        }
    }

    /// The sender settled an event (heard from another tab). A follower holding it reports
    /// the outcome to its page; every tab remembers it as settled.
    pub fn remote_outcome(&mut self, report: Report) {
        let keeps = matches!(&report.result, Err(e) if e.code == ErrorCode::Unauthorized);
        if !keeps {
            self.remember_finished(&report.id);
            let key = self.key(&report.id);
            self.shadow.remove(&key);
        }
        let Some(index) = self.entries.iter().position(|e| e.record.id == report.id) else {
            return;
        };
        if keeps {
            self.entries[index].reported = true;
        } else if self.entries[index].in_flight.is_none() {
            let entry = self.entries.remove(index);
            self.bytes -= entry.bytes;
            match &report.result {
                Ok(_) => self.stats.sent += 1,
                Err(e) => *self.stats.dropped.entry(e.code.as_str()).or_default() += 1,
            }
        }
        self.actions.push(Action::Report(report));
    }

    /// The page is hidden and may be leaving (`pagehide`, `visibilitychange: hidden`): what
    /// may go now goes with keepalive, and records carried by keepalive requests leave
    /// storage, so a later page does not send them again. If the page stays, their answers
    /// arrive here as usual and a record that must be retried is stored again.
    ///
    /// Only the last tab does this (`last_tab`): while other tabs of the origin live, one of
    /// them takes over the queue as it is, and what this tab has in flight is the counted
    /// window (a follower still waiting for an outcome must not lose its event to an answer
    /// nobody will see).
    ///
    /// `leaving` (`pagehide`): the page is unloading, not just hidden.
    ///
    /// Records leave storage only while delivery looks healthy (online, no back-off, no
    /// open breaker, no failure since the last success): a keepalive request the page never
    /// hears back from must not be the only copy of an event when the network is failing.
    pub fn page_hidden(&mut self, now: u64, last_tab: bool, leaving: bool) {
        let healthy = self.online
            && self.failures == 0
            && !self.breaker_open()
            && now >= self.hold_until
            && !self.paused;
        let last_tab = last_tab && healthy;
        self.hidden = last_tab;
        // `visibilitychange: hidden` follows `pagehide` as a page unloads: it must not
        // undo it. Only showing the page again does.
        self.leaving |= last_tab && leaving;
        self.left |= leaving;
        if self.sender {
            self.poll(now);
        }
    }

    /// The page is visible again (or restored from the back/forward cache, or resumed).
    ///
    /// A page that comes back after it left (`pagehide`) does not treat the requests it
    /// handed over as lost: the browser took them, and may well have delivered them (the
    /// next page did not send them again). Each request that was out waits for its answer
    /// until [`HANDED_OVER_WAIT_MS`] from now: an answer is handled as usual; with none by
    /// then, a request handed over is settled as delivered (status 0), as if the page had not
    /// come back, and is not sent again, while one whose records stayed in storage gets no
    /// answer (sent again, counted). Meanwhile every record and note is back in storage, so a
    /// crash now leaves them to the next sender (a counted resend), not lost.
    pub fn page_shown(&mut self, now: u64) {
        self.hidden = false;
        self.leaving = false;
        if std::mem::take(&mut self.left) {
            for flight in &mut self.in_flight {
                if flight.keepalive && flight.came_back.is_none() {
                    let handed_over = !flight.marker_stored;
                    flight.came_back = Some((now + HANDED_OVER_WAIT_MS, handed_over));
                }
            }
        }
        // The page stayed: what its keepalive requests carry goes back into storage with
        // its flight notes, as if it had never left (a crash now must not lose it).
        let mut writes = Vec::new();
        for entry in &mut self.entries {
            if !entry.stored {
                entry.stored = true;
                writes.push((
                    record_key(&self.prefix, &entry.record.id),
                    entry.record.encode(),
                ));
            }
        }
        for flight in &mut self.in_flight {
            if !flight.marker_stored {
                flight.marker_stored = true;
                writes.push((flight.marker.clone(), flight.ids.join(",")));
            }
        }
        for (key, value) in writes {
            self.actions.push(Action::Store { key, value });
        }
        self.poll(now);
    }

    /// Decides the requests out as the page left whose answer did not come by their
    /// deadline after it came back.
    fn settle_came_back(&mut self, now: u64) {
        while let Some(pos) = self
            .in_flight
            .iter()
            .position(|f| f.came_back.is_some_and(|(until, _)| until <= now))
        {
            // Taken first: should the page be leaving again, on_answer keeps the flight.
            if let Some((_, false)) = self.in_flight[pos].came_back.take() {
                let request = self.in_flight[pos].request;
                let reason = "no answer after the page came back".to_owned();
                self.on_answer(now, request, Answer::NoAnswer { reason });
                continue;
            }
            let flight = self.in_flight.remove(pos);
            self.keepalive_bytes -= flight.body_bytes;
            if flight.marker_stored {
                self.actions.push(Action::Remove { key: flight.marker });
            }
            let request = flight.request;
            self.debug(|| format!("request {request}: handed over, no answer after coming back"));
            self.finish(&flight.ids, |attempts| {
                Ok(Delivered {
                    status: 0,
                    attempts: attempts + 1,
                })
            });
        }
    }

    /// Drops the notes of unknown-fate flights whose events all went out again or are gone.
    fn settle_orphans(&mut self) {
        let entries = &self.entries;
        let waiting = |id: &String| entries.iter().any(|e| &e.record.id == id && e.unknown_fate);
        let mut removes = Vec::new();
        self.orphans.retain(|(key, ids)| {
            let keep = ids.iter().any(waiting);
            if !keep {
                removes.push(key.clone());
            }
            keep
        });
        for key in removes {
            self.actions.push(Action::Remove { key });
        }
    }

    fn unstore_keepalive_flights(&mut self) {
        let mut removes = Vec::new();
        let mut handed = 0;
        for flight in self.in_flight.iter_mut().filter(|f| f.keepalive) {
            if flight.marker_stored {
                flight.marker_stored = false;
                removes.push(flight.marker.clone());
            }
            for entry in self.entries.iter_mut() {
                if entry.in_flight == Some(flight.request) && entry.stored {
                    entry.stored = false;
                    handed += 1;
                    removes.push(record_key(&self.prefix, &entry.record.id));
                }
            }
        }
        self.stats.sent_on_exit += handed;
        for key in removes {
            self.actions.push(Action::Remove { key });
        }
    }

    /// Validates and queues one event; the record is in the actions as `Store` before this
    /// returns, so the shell persists it before `sendEvent` returns.
    ///
    /// # Errors
    /// `invalid_event` when the event fails validation; nothing is queued then.
    pub fn enqueue(&mut self, now: u64, raw: RawEvent) -> Result<String, TrackerError> {
        let event = validate(raw, &self.config.customer)?;
        self.seq = self.seq.wrapping_add(1);
        let id = make_id(now, self.seq, self.rng.next_u64());
        let record = Record {
            id: id.clone(),
            created_ms: now,
            attempts: 0,
            event,
        };
        let value = record.encode();
        let bytes = value.len();
        self.actions.push(Action::Store {
            key: self.key(&id),
            value,
        });
        self.bytes += bytes;
        let reported = self.paused;
        let mut entry = Entry::new(record, bytes);
        entry.reported = reported;
        self.entries.push(entry);
        if reported {
            let index = self.entries.len() - 1;
            self.report_unauthorized(index, None);
        }
        self.enforce_bounds(Some(&id));
        Ok(id)
    }

    fn key(&self, id: &str) -> String {
        record_key(&self.prefix, id)
    }

    /// Takes the origin-wide resend count another tab stored (`~w`): every tab keeps the
    /// highest it saw, so the count survives the sender dying right after a clear.
    fn note_resent_total(&mut self, value: &str) {
        let total = value.parse().unwrap_or(0);
        self.stats.resent_unknown_total = self.stats.resent_unknown_total.max(total);
    }

    /// Evicts the oldest idle events until the queue fits its bounds. `keep` is the event
    /// just queued: it is the one the caller is waiting on, so it goes last.
    fn enforce_bounds(&mut self, keep: Option<&str>) {
        // A follower holds only its own events; the sender, which holds all, keeps the bound.
        while self.sender && self.entries.len() > self.config.max_queue_events
            || self.bytes > self.config.max_queue_bytes
        {
            let victim = self
                .entries
                .iter()
                .position(|e| e.in_flight.is_none() && Some(e.record.id.as_str()) != keep);
            let Some(index) = victim else { break };
            let message = format!(
                "the queue is full ({} events, {} bytes): the oldest event was dropped",
                self.config.max_queue_events, self.config.max_queue_bytes
            );
            self.drop_entry(index, TrackerError::new(ErrorCode::QueueFull, message));
        }
    }

    fn drop_entry(&mut self, index: usize, error: TrackerError) {
        let entry = self.entries.remove(index);
        self.bytes -= entry.bytes;
        self.remember_finished(&entry.record.id);
        *self.stats.dropped.entry(error.code.as_str()).or_default() += 1;
        self.actions.push(Action::Remove {
            key: self.key(&entry.record.id),
        });
        let id = entry.record.id.clone();
        self.debug(|| format!("dropped {id}: {}", error.message));
        self.push_report(&entry.record, Err(error));
    }

    fn push_report(&mut self, record: &Record, result: Result<Delivered, TrackerError>) {
        let result = result.map_err(|e| e.with_id(&record.id));
        self.actions.push(Action::Report(Report {
            id: record.id.clone(),
            customer_id: record.event.customer_id.clone(),
            event_names: record.event.names().map(str::to_owned).collect(),
            result,
        }));
    }

    fn report_unauthorized(&mut self, index: usize, from: Option<&TrackerError>) {
        let error = from.cloned().unwrap_or_else(|| {
            TrackerError::new(
                ErrorCode::Unauthorized,
                "Gameball refused the API key: sending is paused until customerWidget is called with a valid key; the event is kept",
            )
        });
        self.entries[index].reported = true;
        let record = self.entries[index].record.clone();
        self.push_report(&record, Err(error));
    }

    /// The browser says whether it is online. Coming back cuts short a back-off that was
    /// caused by missing answers.
    pub fn set_online(&mut self, now: u64, online: bool) {
        self.online = online;
        if online {
            self.end_network_hold(now);
        }
    }

    fn end_network_hold(&mut self, now: u64) {
        if self.hold == Hold::Network {
            self.hold = Hold::None;
            self.hold_until = now;
            self.failures = 0;
        }
    }

    /// Sends what waits now: as [`Engine::poll`], but first ends a back-off caused by
    /// missing answers and the short waits after 2001 answers. A server's `Retry-After`
    /// or 5xx back-off is kept: hammering a struggling server helps nobody.
    pub fn flush(&mut self, now: u64) {
        self.end_network_hold(now);
        for entry in &mut self.entries {
            entry.not_before = entry.not_before.min(now);
        }
        self.poll(now);
    }

    /// Stops starting requests (the page replaced this tracker with one for another API
    /// key); answers to requests already out are still taken.
    pub fn deactivate(&mut self) {
        self.active = false;
    }

    /// Takes a new configuration for the same API key (a second `customerWidget` call). An
    /// `unauthorized` pause ends: the merchant has had the chance to fix the key.
    pub fn reconfigure(&mut self, config: Config) {
        self.config = config;
        self.paused = false;
        self.active = true;
    }

    /// Logs a customer in (or refreshes their token); events already queued keep the
    /// customer they were sent for.
    pub fn set_customer(&mut self, customer: CustomerDefaults, session_token: Option<String>) {
        self.config.customer = customer;
        self.config.session_token = session_token;
    }

    /// Back to guest: the customer and the token are forgotten.
    pub fn logout(&mut self) {
        self.config.customer = CustomerDefaults::default();
        self.config.session_token = None;
    }

    /// When the shell should call [`Engine::poll`] next, if anything waits.
    pub fn next_wakeup(&self, now: u64) -> Option<u64> {
        let handed_over = self
            .in_flight
            .iter()
            .filter_map(|f| f.came_back.map(|(until, _)| until))
            .min();
        if self.entries.is_empty() || !self.active || !self.sender {
            return handed_over.filter(|_| self.active);
        }
        let mut wake = now + self.config.flush_interval_ms;
        if self.hold_until > now {
            wake = wake.min(self.hold_until);
        } else if self.online && !self.paused {
            let soonest_retry = self
                .entries
                .iter()
                .filter(|e| e.in_flight.is_none() && e.not_before > now)
                .map(|e| e.not_before)
                .min();
            if let Some(t) = soonest_retry {
                wake = wake.min(t);
            }
            // Also when it has just passed: the shell reads the clock again before arming
            // its timer, and a wait that ended a millisecond ago must not become the flush
            // interval.
            if self.limit_until != 0 {
                wake = wake.min(self.limit_until.max(now));
            }
        }
        Some(handed_over.map_or(wake, |h| wake.min(h.max(now))))
    }

    /// Gives up events past their age, then starts the requests that may go now.
    pub fn poll(&mut self, now: u64) {
        self.settle_came_back(now);
        if !self.sender {
            return;
        }
        self.expire_old(now);
        if !self.active || self.paused || !self.online || now < self.hold_until {
            return;
        }
        // An open breaker lets one probe out at a time.
        let most = if self.breaker_open() {
            1
        } else {
            MAX_IN_FLIGHT
        };
        while self.in_flight.len() < most {
            let allowed = self.limiter.next_allowed(now);
            if allowed > now {
                self.limit_until = allowed;
                break;
            }
            self.limit_until = 0;
            let Some(batch) = self.next_batch(now) else {
                break;
            };
            self.start(now, batch);
        }
        if self.hidden {
            self.unstore_keepalive_flights();
        }
    }

    fn expire_old(&mut self, now: u64) {
        let ttl = self.config.event_ttl_ms;
        while let Some(index) = self
            .entries
            .iter()
            .position(|e| e.in_flight.is_none() && now.saturating_sub(e.record.created_ms) > ttl)
        {
            let message = format!("the event was not delivered within eventTtlMs ({ttl} ms)");
            self.drop_entry(index, TrackerError::new(ErrorCode::Expired, message));
        }
    }

    /// The oldest due event of a customer with nothing in flight, plus the events of that
    /// customer right after it that can share its request: same contact details, names not
    /// yet in the request. It stops at the first that cannot, so a customer's events reach
    /// Gameball in the order they were sent.
    fn next_batch(&self, now: u64) -> Option<Vec<usize>> {
        let busy = |customer: &str| self.in_flight.iter().any(|f| f.customer == customer);
        let head = self.entries.iter().position(|e| {
            e.in_flight.is_none() && e.not_before <= now && !busy(&e.record.event.customer_id)
        })?;
        let first = &self.entries[head].record.event;
        let mut batch = vec![head];
        let mut bytes = self.entries[head].record.encode_len_hint();
        let mut names: Vec<&str> = first.names().collect();
        for (index, entry) in self.entries.iter().enumerate().skip(head + 1) {
            let event = &entry.record.event;
            if event.customer_id != first.customer_id {
                continue;
            }
            let fits = entry.in_flight.is_none()
                && entry.not_before <= now
                && event.email == first.email
                && event.mobile == first.mobile
                && batch.len() < MAX_BATCH_RECORDS
                && bytes + entry.record.encode_len_hint() <= MAX_BATCH_BYTES
                && event.names().all(|n| !names.contains(&n));
            if !fits {
                break;
            }
            bytes += entry.record.encode_len_hint();
            names.extend(event.names());
            batch.push(index);
        }
        Some(batch)
    }

    fn start(&mut self, now: u64, batch: Vec<usize>) {
        let request = self.next_request;
        self.next_request += 1;
        self.limiter.record(now);
        self.actions.push(Action::Store {
            key: self.control_key("r"),
            value: self.limiter.encode(),
        });
        let records: Vec<&Record> = batch.iter().map(|&i| &self.entries[i].record).collect();
        let http = build_request(request, &self.config, &records);
        let customer = records[0].event.customer_id.clone();
        let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
        let mut resent = 0;
        for &i in &batch {
            let entry = &mut self.entries[i];
            entry.in_flight = Some(request);
            if std::mem::take(&mut entry.unknown_fate) {
                resent += 1;
            }
        }
        if resent > 0 {
            self.settle_orphans();
            self.stats.resent_unknown += resent;
            self.stats.resent_unknown_total += resent;
            self.actions.push(Action::Store {
                key: self.control_key("w"),
                value: self.stats.resent_unknown_total.to_string(),
            });
        }
        let body_bytes = http.body.len();
        let keepalive = self.keepalive_bytes + body_bytes <= KEEPALIVE_BUDGET;
        if keepalive {
            self.keepalive_bytes += body_bytes;
        }
        let tag = self.rng.next_u64() % 1_000_000_007;
        let marker = self.control_key(&format!("f{}-{tag}", ids[0]));
        self.actions.push(Action::Store {
            key: marker.clone(),
            value: ids.join(","),
        });
        let count = ids.len();
        self.debug(|| format!("request {request}: {count} events for customer {customer}"));
        self.in_flight.push(Flight {
            request,
            customer,
            ids,
            marker,
            marker_stored: true,
            keepalive,
            body_bytes,
            came_back: None,
        });
        self.actions.push(Action::Send {
            request: http,
            keepalive,
        });
    }

    /// Takes the answer to request `request` and decides each of its events' fate.
    pub fn on_answer(&mut self, now: u64, request: u64, answer: Answer) {
        let Some(pos) = self.in_flight.iter().position(|f| f.request == request) else {
            return;
        };
        // As the page unloads the browser may reject a handed-over request's promise though
        // the request goes on: that says nothing. An HTTP answer is news at any time.
        let no_answer = matches!(answer, Answer::NoAnswer { .. });
        if no_answer
            && self.leaving
            && self.in_flight[pos].keepalive
            && !self.in_flight[pos].marker_stored
        {
            return;
        }
        let flight = self.in_flight.remove(pos);
        if flight.keepalive {
            self.keepalive_bytes -= flight.body_bytes;
        }
        if flight.marker_stored {
            if no_answer {
                // Its events' fate is unknown until they go out again: the note stays.
                self.orphans
                    .push((flight.marker.clone(), flight.ids.clone()));
            } else {
                self.actions.push(Action::Remove {
                    key: flight.marker.clone(),
                });
            }
        }
        let indices: Vec<usize> = flight
            .ids
            .iter()
            .filter_map(|id| self.entries.iter().position(|e| &e.record.id == id))
            .collect();
        for &i in &indices {
            self.entries[i].in_flight = None;
            self.entries[i].unknown_fate |= no_answer;
        }
        let probe = self.breaker_open();
        if !no_answer {
            self.no_answer_streak = 0;
        } else if self.online {
            self.no_answer_streak = self.no_answer_streak.saturating_add(1);
        }
        let (status, retry_after, header_request_id, body) = match answer {
            Answer::Http {
                status,
                retry_after,
                request_id,
                body,
            } => (status, retry_after, request_id, body),
            Answer::NoAnswer { reason } => {
                self.debug(|| format!("request {request}: no answer ({reason})"));
                (0, None, None, String::new())
            }
        };
        let error_body = if (200..300).contains(&status) {
            Default::default()
        } else {
            read_error_body(&body)
        };
        let verdict = classify(status, error_body.code);
        self.debug(|| format!("request {request}: status {status} → {}", verdict.as_str()));
        let error = |code: ErrorCode, text: &str| TrackerError {
            code,
            message: match &error_body.message {
                Some(m) => format!("{text} (status {status}: {m})"),
                None => format!("{text} (status {status})"),
            },
            status: Some(status).filter(|s| *s != 0),
            gameball_code: error_body.code,
            request_id: error_body.request_id.clone().or(header_request_id.clone()),
            id: None,
        };
        match verdict {
            Verdict::Delivered => {
                self.failures = 0;
                self.hold = Hold::None;
                self.finish(&flight.ids, |attempts| {
                    Ok(Delivered {
                        status,
                        attempts: attempts + 1,
                    })
                });
            }
            Verdict::Rejected => {
                let e = error(ErrorCode::Rejected, "Gameball rejected the event");
                self.finish(&flight.ids, |_| Err(e.clone()));
            }
            Verdict::Unauthorized => {
                self.paused = true;
                let e = error(
                    ErrorCode::Unauthorized,
                    "Gameball refused the API key; sending is paused until customerWidget is called again, and the event is kept",
                );
                for i in 0..self.entries.len() {
                    if !self.entries[i].reported {
                        self.report_unauthorized(i, Some(&e));
                    }
                }
            }
            Verdict::Concurrent => {
                for &i in &indices {
                    let jitter = (self.rng.next_unit() * CONCURRENT_RETRY_MS as f64) as u64;
                    self.entries[i].not_before = now + CONCURRENT_RETRY_MS + jitter;
                }
            }
            Verdict::Retry { slow, .. } => {
                self.failures = self.failures.saturating_add(1);
                let server_wait = retry_after
                    .as_deref()
                    .and_then(|v| parse_retry_after(v, now));
                let mut wait =
                    server_wait.unwrap_or_else(|| backoff_ms(self.failures, self.rng.next_unit()));
                if slow {
                    wait = wait.max(SLOW_RETRY_MS);
                }
                self.hold = if status == 0 {
                    Hold::Network
                } else {
                    Hold::Server
                };
                self.hold_until = self.hold_until.max(now + wait);
                self.debug(|| format!("holding all sends for {wait} ms"));
                // A probe that dies like the requests before it says nothing about the
                // events: it uses up none of their attempts.
                if !(probe && no_answer) {
                    let e = error(ErrorCode::Expired, "the event ran out of attempts");
                    self.retry_or_expire(&flight.ids, &e);
                }
            }
        }
        self.settle_orphans();
        // Records a hidden page took out of storage and that stay queued go back in.
        let mut writes = Vec::new();
        for entry in &mut self.entries {
            if !entry.stored && flight.ids.contains(&entry.record.id) {
                entry.stored = true;
                writes.push((entry.record.id.clone(), entry.record.encode()));
            }
        }
        for (id, value) in writes {
            let key = self.key(&id);
            self.actions.push(Action::Store { key, value });
        }
    }

    /// Removes the events `ids` from the queue and reports `result(attempts_before)`.
    fn finish(&mut self, ids: &[String], result: impl Fn(u32) -> Result<Delivered, TrackerError>) {
        for id in ids {
            let Some(index) = self.entries.iter().position(|e| &e.record.id == id) else {
                continue;
            };
            let entry = self.entries.remove(index);
            self.bytes -= entry.bytes;
            self.remember_finished(id);
            self.actions.push(Action::Remove { key: self.key(id) });
            let outcome = result(entry.record.attempts);
            match &outcome {
                Ok(_) => self.stats.sent += 1,
                Err(e) => *self.stats.dropped.entry(e.code.as_str()).or_default() += 1,
            }
            self.push_report(&entry.record, outcome);
        }
    }

    fn retry_or_expire(&mut self, ids: &[String], expired: &TrackerError) {
        let max = self.config.max_attempts;
        for id in ids {
            let Some(index) = self.entries.iter().position(|e| &e.record.id == id) else {
                continue;
            };
            let attempts = self.entries[index].record.attempts + 1;
            if attempts >= max {
                let mut e = expired.clone();
                e.message = format!("{} ({attempts} of maxAttempts {max})", e.message);
                self.drop_entry(index, e);
                continue;
            }
            self.stats.retried += 1;
            let entry = &mut self.entries[index];
            entry.record.attempts = attempts;
            entry.stored = true;
            let value = entry.record.encode();
            let new_bytes = value.len();
            self.bytes = self.bytes - entry.bytes + new_bytes;
            entry.bytes = new_bytes;
            self.actions.push(Action::Store {
                key: self.key(id),
                value,
            });
        }
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "tabs_tests.rs"]
mod tabs_tests;
