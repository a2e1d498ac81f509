//! Several tabs of one origin, simulated as a pure driver of the real protocol: a shared
//! storage map whose changes reach the other tabs as storage events, a channel that carries
//! every message the engines post (outcomes, record hand-offs, flush/flushed,
//! hello/bye/census), an election that gives the role to the oldest live tab and sometimes
//! takes it away with requests in flight (a lease taken over), a network whose requests may
//! be answered, lost, or cut off after the server took them, storage that refuses a tab's
//! writes, tabs that open, hide, leave or crash, a foreign script clearing storage, and a
//! clock that jumps. The world decides nothing the engines decide: it performs their
//! actions and delivers what they post. Seeded, so a failure names the seed that
//! reproduces it (`TABS_SEED=n`, with `TABS_TRACE=1` for a trace).

use super::*;
use crate::core::config::RawConfig;
use crate::core::io::{Answer, HttpRequest};
use crate::core::json::{parse, Json};
use crate::core::storage_key::KeyKind;
use std::collections::{BTreeMap, HashMap, VecDeque};

const START: u64 = 1_700_000_000_000;

fn config() -> Config {
    Config::from_raw(RawConfig {
        api_key: Some("pk_test".into()),
        customer_id: Some("cust_42".into()),
        api_base: Some("http://gb.test".into()),
        max_attempts: Some(1000.0),
        max_queue_events: Some(100_000.0),
        max_queue_bytes: Some(50_000_000.0),
        ..RawConfig::default()
    })
    .expect("valid config")
}

/// Tab clocks at monotonic `now` with the wall clock `wall_step` ms off.
fn now_of(now: u64, wall_step: i64) -> Now {
    Now {
        mono_ms: now,
        wall_ms: now.saturating_add_signed(wall_step),
    }
}

fn trace(line: impl FnOnce() -> String) {
    if std::env::var_os("TABS_TRACE").is_some() {
        eprintln!("  {}", line());
    }
}

/// What reaches a tab from outside, in order.
enum Note {
    Storage(Option<String>, Option<String>),
    Message(String),
}

struct Tab {
    engine: Engine,
    alive: bool,
    inbox: VecDeque<Note>,
    /// Final outcomes its page saw, by event id (unauthorized is never injected here).
    settled: HashMap<String, u32>,
    own: Vec<String>,
    /// Its storage refuses record writes while it follows (a write that lost the race for
    /// the last bytes of the quota; the tracker hands such a record to the sender, which
    /// stores it). A sender whose storage refuses keeps events in memory only, which the
    /// README documents as not surviving the tab, so the model does not refuse the sender;
    /// nor flight notes, whose loss (documented) costs the count of a resend, not an event.
    full: bool,
    /// A `flush()` of its page waits.
    flushing: bool,
    /// When its timer fires, as armed after its last poll.
    wake_at: Option<u64>,
    /// The events it knows of: its own, and those whose record or outcome reached it.
    heard: std::collections::HashSet<String>,
}

struct Flight {
    tab: usize,
    request: HttpRequest,
    keepalive: bool,
    started: u64,
}

/// The shell aborts a request after this long, so every request the browser reports on
/// settles within it (`transport::REQUEST_TIMEOUT_MS`).
const REQUEST_TIMEOUT_MS: u64 = 10_000;

/// Messages posted, by kind, over all worlds.
#[derive(Default, Debug)]
struct Posted {
    outcome: u64,
    record: u64,
    flush: u64,
    flushed: u64,
    hello: u64,
    bye: u64,
    census: u64,
}

impl Posted {
    fn count(&mut self, message: &Message) {
        match message {
            Message::Outcome(_) => self.outcome += 1,
            Message::Record { .. } => self.record += 1,
            Message::Flush(_) => self.flush += 1,
            Message::Flushed => self.flushed += 1,
            Message::Hello(_) => self.hello += 1,
            Message::Bye(_) => self.bye += 1,
            Message::Census => self.census += 1,
        }
    }

    fn all_seen(&self) -> bool {
        [
            self.outcome,
            self.record,
            self.flush,
            self.flushed,
            self.hello,
            self.bye,
            self.census,
        ]
        .iter()
        .all(|&n| n > 0)
    }
}

struct World {
    rng: Rng,
    clock_rng: Rng,
    /// The monotonic clock (one origin for all tabs: only differences within a tab count).
    now: u64,
    /// Each tab's wall clock, as a step from `now`: a tab whose clock (or `Date.now`) was
    /// set back or forward.
    wall: Vec<i64>,
    tabs: Vec<Tab>,
    /// The tab holding the sender role (the lock or lease), as the election sees it.
    holder: Option<usize>,
    storage: BTreeMap<String, String>,
    keys: StorageKeys,
    network: Vec<Flight>,
    /// Arrivals at the server, by event number.
    received: HashMap<String, u32>,
    /// The id of each event number.
    ids: HashMap<String, String>,
    /// Each event's customer, by id.
    customer_of: HashMap<String, String>,
    /// Each event's number, by id.
    number_of: HashMap<String, String>,
    /// By event id, the events of the same customer its tab knew of when it was sent (its
    /// own, and those whose record or outcome reached it): they happened before it.
    before: HashMap<String, Vec<String>>,
    /// Events that reached the server for the first time before an event of their customer
    /// that happened before them (the order invariant broken), as `(earlier, later)` ids.
    out_of_order: Vec<(String, String)>,
    /// The step of the system's wall clock (every tab's, and a new tab's, moved by it).
    system_step: i64,
    /// Wall-clock steps made, in ms: small and an hour, back and forward.
    clock_steps: Vec<i64>,
    enqueued: u64,
    posted: Posted,
    roles_lost: u64,
    flushes_settled: u64,
    /// Requests out as their page left whose answer never reached it once it came back
    /// (decided at their deadline).
    detached: u64,
}

impl World {
    fn new(seed: u64) -> World {
        let mut world = World {
            rng: Rng::new(seed),
            clock_rng: Rng::new(seed ^ 0x5eed_c10c),
            now: START,
            wall: Vec::new(),
            tabs: Vec::new(),
            holder: None,
            storage: BTreeMap::new(),
            keys: StorageKeys::for_api_key("pk_test"),
            network: Vec::new(),
            received: HashMap::new(),
            ids: HashMap::new(),
            customer_of: HashMap::new(),
            number_of: HashMap::new(),
            before: HashMap::new(),
            out_of_order: Vec::new(),
            system_step: 0,
            clock_steps: Vec::new(),
            enqueued: 0,
            posted: Posted::default(),
            roles_lost: 0,
            flushes_settled: 0,
            detached: 0,
        };
        world.open_tab();
        world
    }

    /// A tab starts as the shell starts one over localStorage: it joins with the stored
    /// queue, then asks for the role.
    fn open_tab(&mut self) {
        let seed = self.rng.next_u64();
        let mut engine = Engine::new(config(), seed);
        engine.handle_join(self.storage.clone().into_iter().collect());
        self.wall.push(self.system_step);
        let heard = self.stored_ids();
        self.tabs.push(Tab {
            heard,
            engine,
            alive: true,
            inbox: VecDeque::new(),
            settled: HashMap::new(),
            own: Vec::new(),
            full: false,
            flushing: false,
            wake_at: None,
        });
        let t = self.tabs.len() - 1;
        trace(|| format!("tab {t} opens"));
        self.apply(t);
        if self.holder.is_none() {
            self.elect(false);
        }
    }

    /// The lock goes to the oldest live tab once the holder is gone.
    fn elect(&mut self, waited: bool) {
        let Some(t) = self.tabs.iter().position(|t| t.alive) else {
            self.holder = None;
            return;
        };
        self.give_role(t, waited);
    }

    fn give_role(&mut self, t: usize, waited: bool) {
        self.holder = Some(t);
        trace(|| format!("tab {t} is elected (waited: {waited})"));
        // The lock changes hands after the old holder is gone or frozen: what it wrote and
        // posted before has reached the others (storage events and the channel deliver in
        // milliseconds; the lock's hand-over takes longer).
        self.hear_all(t);
        self.tabs[t]
            .engine
            .handle_role(now_of(self.now, self.wall[t]), Role::Sender { waited });
        self.poll(t);
    }

    /// Performs tab `t`'s actions until there are none.
    fn apply(&mut self, t: usize) {
        loop {
            let actions = self.tabs[t].engine.poll_actions();
            if actions.is_empty() {
                return;
            }
            for action in actions {
                self.perform(t, action);
            }
        }
    }

    fn perform(&mut self, t: usize, action: Action) {
        if let Ok(watch) = std::env::var("TABS_WATCH") {
            match &action {
                Action::Store { key, .. } | Action::Remove { key } if key.contains(&watch) => {
                    trace(|| format!("tab {t}: {action:?}"));
                }
                _ => {}
            }
        }
        match action {
            Action::Store { key, value } => {
                let refused = self.tabs[t].full
                    && self.holder != Some(t)
                    && matches!(self.keys.kind(&key), KeyKind::Record(_));
                if refused {
                    trace(|| format!("tab {t} storage refuses {key}"));
                    self.tabs[t].engine.handle_store_refused(key, value);
                    return;
                }
                self.storage.insert(key.clone(), value.clone());
                self.notify(t, Note::Storage(Some(key), Some(value)));
            }
            Action::Remove { key } => {
                if self.storage.remove(&key).is_some() {
                    self.notify(t, Note::Storage(Some(key), None));
                }
            }
            Action::Send { request, keepalive } => {
                let total = self.tabs[t].engine.stats().resent_unknown_total;
                trace(|| {
                    format!(
                        "tab {t} sends request {} (resent so far {}, total {total}, stored {:?}): {}",
                        request.id,
                        self.tabs[t].engine.stats().resent_unknown,
                        self.storage.get(&self.keys.resent_total()),
                        request.body
                    )
                });
                self.network.push(Flight {
                    tab: t,
                    request,
                    keepalive,
                    started: self.now,
                })
            }
            Action::Report(report) => {
                let settles = report
                    .result
                    .as_ref()
                    .map_or_else(|e| e.code != ErrorCode::Unauthorized, |_| true);
                if settles {
                    *self.tabs[t].settled.entry(report.id.clone()).or_default() += 1;
                }
            }
            Action::Post(message) => {
                self.posted.count(&message);
                trace(|| format!("tab {t} posts {}", message.encode()));
                let handed = matches!(message, Message::Record { .. });
                self.notify(t, Note::Message(message.encode()));
                // A record storage refused lives only in page memory until the sender has
                // it; the channel delivers in milliseconds. Its loss when both tabs die
                // before that is outside what this model (and the tracker) covers.
                if let Some(h) = self.holder.filter(|&h| handed && h != t) {
                    self.drain_inbox(h);
                }
            }
            Action::ReadStorage => {
                let stored: Vec<(String, String)> = self.storage.clone().into_iter().collect();
                trace(|| format!("tab {t} takes over the queue"));
                let stored_ids = self.stored_ids();
                self.tabs[t].heard.extend(stored_ids);
                self.tabs[t]
                    .engine
                    .handle_storage_read(now_of(self.now, self.wall[t]), stored);
            }
            Action::CheckStorage => {
                let stored: Vec<(String, String)> = self.storage.clone().into_iter().collect();
                self.tabs[t]
                    .engine
                    .handle_storage_check(now_of(self.now, self.wall[t]), stored);
            }
            Action::FlushSettled => {
                assert!(self.tabs[t].flushing, "tab {t}: a flush settled unasked");
                self.tabs[t].flushing = false;
                self.flushes_settled += 1;
            }
            Action::Debug(_) => {}
        }
    }

    fn notify(&mut self, from: usize, note: Note) {
        for (i, tab) in self.tabs.iter_mut().enumerate() {
            if i != from && tab.alive {
                tab.inbox.push_back(match &note {
                    Note::Storage(k, v) => Note::Storage(k.clone(), v.clone()),
                    Note::Message(m) => Note::Message(m.clone()),
                });
            }
        }
    }

    /// Hands tab `t` its oldest note, if any, and performs what follows (no timeout).
    fn hear_one(&mut self, t: usize) -> bool {
        let Some(note) = self.tabs[t].inbox.pop_front() else {
            return false;
        };
        let heard: Vec<String> = match &note {
            Note::Storage(Some(key), _) => self.record_id(key).into_iter().collect(),
            Note::Storage(None, _) => Vec::new(),
            Note::Message(text) => match Message::decode(text) {
                Some(Message::Record { key, .. }) => self.record_id(&key).into_iter().collect(),
                Some(Message::Flush(records)) => records
                    .iter()
                    .filter_map(|(key, _)| self.record_id(key))
                    .collect(),
                Some(Message::Outcome(report)) => vec![report.id],
                _ => Vec::new(),
            },
        };
        self.tabs[t].heard.extend(heard);
        match note {
            Note::Storage(key, value) => self.tabs[t].engine.handle_storage_event(
                now_of(self.now, self.wall[t]),
                key.as_deref(),
                value.as_deref(),
            ),
            Note::Message(text) => self.tabs[t]
                .engine
                .handle_message(now_of(self.now, self.wall[t]), &text),
        }
        self.apply(t);
        true
    }

    fn deliver_one(&mut self, t: usize) {
        if self.hear_one(t) {
            self.poll(t);
        }
    }

    /// Delivers every note waiting for tab `t` without letting its timer run in between.
    fn hear_all(&mut self, t: usize) {
        while self.hear_one(t) {}
    }

    fn drain_inbox(&mut self, t: usize) {
        while !self.tabs[t].inbox.is_empty() {
            self.deliver_one(t);
        }
    }

    /// The shell's poll after an input or a timer: the timeout with the marker's presence,
    /// then every action.
    fn poll(&mut self, t: usize) {
        self.apply(t);
        if self.tabs[t].engine.peers.promoting() {
            // The take-over wait exists so that the old sender's last messages and storage
            // changes arrive first: in this model they do.
            self.hear_all(t);
        }
        let marker = self.storage.contains_key(self.keys.marker());
        self.tabs[t]
            .engine
            .handle_timeout(now_of(self.now, self.wall[t]), marker);
        self.apply(t);
        self.tabs[t].wake_at = self.tabs[t]
            .engine
            .poll_timeout(now_of(self.now, self.wall[t]));
    }

    /// Time passes: requests older than the shell's timeout are aborted (the page hears no
    /// answer, the server may or may not have taken them), and each live tab's timer fires
    /// if it is due.
    fn tick(&mut self, ms: u64) {
        self.now += ms;
        let now = self.now;
        let late: Vec<Flight> = self
            .network
            .extract_if(.., |f| now - f.started >= REQUEST_TIMEOUT_MS)
            .collect();
        // A request handed over as its page left (keepalive, its records out of storage)
        // completes like an exit request: the README's documented limit covers the other
        // case (the network failing at that very moment). Decided for all before any answer:
        // one answer may make a page settle its other handed-over requests.
        let handed: Vec<bool> = late
            .iter()
            .map(|flight| {
                self.tabs[flight.tab].engine.flights.iter().any(|f| {
                    f.request == flight.request.id
                        && f.keepalive
                        && (!f.note_stored || matches!(f.came_back, Some((_, true))))
                })
            })
            .collect();
        for (flight, handed_over) in late.into_iter().zip(handed) {
            let t = flight.tab;
            if handed_over || self.rng.next_u64() % 2 == 0 {
                self.arrive(&flight.request);
            }
            let answer = Answer::NoAnswer {
                reason: "timed out".into(),
            };
            self.tabs[t].engine.handle_answer(
                now_of(self.now, self.wall[t]),
                flight.request.id,
                answer,
            );
            self.poll(t);
        }
        for t in self.live_tabs() {
            let due = self.tabs[t].wake_at.is_some_and(|at| at <= self.now);
            if due {
                self.poll(t);
            }
        }
    }

    fn send_event(&mut self, t: usize) {
        let n = self.enqueued;
        self.enqueued += 1;
        let customer = ["a", "b", "c"][(self.rng.next_u64() % 3) as usize];
        let name = ["add_to_cart", "login", "write_review"][(self.rng.next_u64() % 3) as usize];
        let raw = RawEvent {
            customer_id: Some(customer.into()),
            events: vec![(
                name.to_owned(),
                Json::Object(vec![("n".into(), Json::Number(n.to_string()))]),
            )],
            ..RawEvent::default()
        };
        let id = self.tabs[t]
            .engine
            .handle_send_event(now_of(self.now, self.wall[t]), raw)
            .expect("valid event");
        trace(|| format!("tab {t} enqueues event {n} as {id}"));
        // sendEvent order is id order in a page, whatever its wall clock did.
        if let Some(last) = self.tabs[t].own.last() {
            assert!(
                *last < id,
                "tab {t}: event {id} sorts before the earlier {last}"
            );
        }
        self.ids.insert(n.to_string(), id.clone());
        let earlier: Vec<String> = self.tabs[t]
            .heard
            .iter()
            .filter(|e| self.customer_of.get(*e).map(String::as_str) == Some(customer))
            .cloned()
            .collect();
        self.before.insert(id.clone(), earlier);
        self.customer_of.insert(id.clone(), customer.to_owned());
        self.number_of.insert(id.clone(), n.to_string());
        self.tabs[t].heard.insert(id.clone());
        self.tabs[t].own.push(id);
        self.poll(t);
    }

    fn arrive(&mut self, request: &HttpRequest) {
        trace(|| format!("arrives {}", request.body));
        let body = parse(&request.body).expect("json body");
        let customer = body
            .get("customerId")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_owned();
        if let Some(Json::Object(events)) = body.get("events") {
            for (_, meta) in events {
                let n = meta.get("n").map(Json::to_text).unwrap_or_default();
                let count = self.received.entry(n.clone()).or_default();
                *count += 1;
                if *count > 1 {
                    // A counted resend: its first arrival was checked.
                    continue;
                }
                let id = self.ids.get(&n).cloned().unwrap_or_default();
                for earlier in self.before.get(&id).into_iter().flatten() {
                    let number = self.number_of.get(earlier).cloned().unwrap_or_default();
                    if !self.received.contains_key(&number) {
                        self.out_of_order.push((earlier.clone(), id.clone()));
                    }
                }
                debug_assert_eq!(self.customer_of.get(&id), Some(&customer));
            }
        }
    }

    /// The event id a record key names.
    fn record_id(&self, key: &str) -> Option<String> {
        match self.keys.kind(key) {
            KeyKind::Record(id) => Some(id.to_owned()),
            _ => None,
        }
    }

    /// The ids of the records in storage.
    fn stored_ids(&self) -> std::collections::HashSet<String> {
        self.storage
            .keys()
            .filter_map(|key| self.record_id(key))
            .collect()
    }

    /// A wall clock steps: the system's (every tab's) or one tab's (a script replaced its
    /// `Date.now`); by a few seconds or by an hour, back or forward.
    fn step_clock(&mut self) {
        let step = super::wall_step(&mut self.clock_rng);
        self.clock_steps.push(step);
        if self.clock_rng.next_u64() % 2 == 0 {
            trace(|| format!("the system clock steps {step} ms"));
            self.system_step += step;
            for wall in &mut self.wall {
                *wall += step;
            }
        } else {
            let live = self.live_tabs();
            let t = live[(self.clock_rng.next_u64() as usize) % live.len()];
            trace(|| format!("tab {t}'s clock steps {step} ms"));
            self.wall[t] += step;
        }
    }

    /// A tab goes away. `left`: it was hidden first (`pagehide`), so its keepalive
    /// requests complete; otherwise it crashed and each request may or may not have
    /// reached the server.
    fn kill(&mut self, t: usize, left: bool) {
        // A tab whose own event storage refused and no sender has stored holds it in page
        // memory only: the README says such an event does not outlive the tab, so the
        // model keeps the tab alive until storage or a sender has it.
        let keys = &self.keys;
        let storage = &self.storage;
        let unsaved = self.tabs[t]
            .engine
            .queue
            .iter()
            .any(|e| e.unsaved && !storage.contains_key(&keys.record(e.id())));
        if unsaved {
            return;
        }
        trace(|| format!("tab {t} dies (left: {left})"));
        if left {
            self.tabs[t]
                .engine
                .handle_page_hidden(now_of(self.now, self.wall[t]), true);
            self.apply(t);
        }
        self.tabs[t].alive = false;
        self.tabs[t].inbox.clear();
        let flights: Vec<Flight> = self.network.extract_if(.., |f| f.tab == t).collect();
        for flight in flights {
            if (left && flight.keepalive) || self.rng.next_u64() % 2 == 0 {
                self.arrive(&flight.request);
            }
        }
        if self.holder == Some(t) {
            self.holder = None;
            self.elect(true);
        }
    }

    /// The holder loses the role with whatever it has in flight (its lease expired while it
    /// was frozen and another tab took it); the next live tab takes over.
    fn take_role_away(&mut self) {
        let Some(old) = self.holder else {
            return;
        };
        let Some(next) = self.live_tabs().into_iter().find(|&t| t != old) else {
            return;
        };
        self.roles_lost += 1;
        trace(|| format!("tab {old} loses the role to tab {next}"));
        self.tabs[old]
            .engine
            .handle_role(now_of(self.now, self.wall[old]), Role::Follower);
        self.poll(old);
        self.give_role(next, true);
    }

    fn answer_one(&mut self) {
        if self.network.is_empty() {
            return;
        }
        let i = (self.rng.next_u64() as usize) % self.network.len();
        let flight = self.network.remove(i);
        let answer = match self.rng.next_u64() % 9 {
            0 => http(500),
            1 => Answer::Http {
                status: 429,
                retry_after: Some("2".into()),
                request_id: None,
                body: String::new(),
            },
            2 => Answer::Http {
                status: 422,
                retry_after: None,
                request_id: None,
                body: r#"{"code":2001}"#.into(),
            },
            3 => Answer::NoAnswer {
                reason: "lost before the server".into(),
            },
            4 => {
                self.arrive(&flight.request);
                Answer::NoAnswer {
                    reason: "timeout after the server took it".into(),
                }
            }
            _ => {
                self.arrive(&flight.request);
                http(200)
            }
        };
        let t = flight.tab;
        trace(|| format!("tab {t} request {}: {answer:?}", flight.request.id));
        self.tabs[t].engine.handle_answer(
            now_of(self.now, self.wall[t]),
            flight.request.id,
            answer,
        );
        self.poll(t);
    }

    /// WebKit and Firefox after a back/forward restore: the requests out as the page left
    /// complete (keepalive), but their promises never settle in the page.
    fn detach_came_back(&mut self, t: usize) {
        let came_back: Vec<u64> = self.tabs[t]
            .engine
            .flights
            .iter()
            .filter(|f| f.came_back.is_some())
            .map(|f| f.request)
            .collect();
        trace(|| {
            let out: Vec<u64> = self
                .network
                .iter()
                .filter(|f| f.tab == t)
                .map(|f| f.request.id)
                .collect();
            format!("tab {t} came back with {came_back:?}; network has {out:?}")
        });
        let detached: Vec<Flight> = self
            .network
            .extract_if(.., |f| f.tab == t && came_back.contains(&f.request.id))
            .collect();
        for flight in detached {
            self.detached += 1;
            self.arrive(&flight.request);
        }
    }

    fn live_tabs(&self) -> Vec<usize> {
        (0..self.tabs.len())
            .filter(|&t| self.tabs[t].alive)
            .collect()
    }

    fn random_live_tab(&mut self) -> usize {
        let live = self.live_tabs();
        live[(self.rng.next_u64() as usize) % live.len()]
    }

    fn step(&mut self) {
        // Things happen some milliseconds apart: timers (the take-over wait among them) run.
        let gap = self.rng.next_u64() % 50;
        self.tick(gap);
        // Clock steps draw from their own generator, so the worlds are otherwise those of
        // the seeds before steps were added.
        if self.clock_rng.next_u64() % 24 == 0 {
            self.step_clock();
        }
        let choice = self.rng.next_u64() % 24;
        match choice {
            0..=5 => {
                let t = self.random_live_tab();
                self.send_event(t);
            }
            6..=10 => self.answer_one(),
            11..=13 => {
                let t = self.random_live_tab();
                self.deliver_one(t);
            }
            14 => {
                // Mostly the take-over wait and short retries; sometimes a long stretch.
                let ms = if self.rng.next_u64() % 4 == 0 {
                    self.rng.next_u64() % 120_000
                } else {
                    self.rng.next_u64() % 600
                };
                self.tick(ms);
            }
            15 => {
                let t = self.random_live_tab();
                let left = self.rng.next_u64() % 2 == 0;
                self.kill(t, left);
                if self.live_tabs().is_empty() || self.rng.next_u64() % 2 == 0 {
                    self.open_tab();
                }
            }
            16 => {
                if self.tabs.len() < 12 {
                    self.open_tab();
                }
            }
            17 => {
                // A tab is hidden for a while and comes back: hidden, or left for the
                // back/forward cache and restored.
                let t = self.random_live_tab();
                let leaving = self.rng.next_u64() % 2 == 0;
                self.tabs[t]
                    .engine
                    .handle_page_hidden(now_of(self.now, self.wall[t]), leaving);
                self.apply(t);
                self.tabs[t]
                    .engine
                    .handle_page_shown(now_of(self.now, self.wall[t]), leaving);
                self.poll(t);
                if self.rng.next_u64() % 2 == 0 {
                    self.detach_came_back(t);
                }
            }
            18 => {
                let t = self.random_live_tab();
                let online = self.rng.next_u64() % 3 != 0;
                self.tabs[t]
                    .engine
                    .handle_online(now_of(self.now, self.wall[t]), online);
                self.poll(t);
            }
            19 => {
                let t = self.random_live_tab();
                trace(|| format!("tab {t} flushes"));
                self.tabs[t].flushing = true;
                self.tabs[t]
                    .engine
                    .handle_flush(now_of(self.now, self.wall[t]));
                self.poll(t);
            }
            20 => {
                // A tab's storage fills up, or gets room again.
                let t = self.random_live_tab();
                self.tabs[t].full = !self.tabs[t].full;
                trace(|| format!("tab {t} storage full: {}", self.tabs[t].full));
            }
            21 => {
                if self.rng.next_u64() % 3 == 0 {
                    self.take_role_away();
                }
            }
            _ => {
                if self.rng.next_u64() % 4 == 0 {
                    // Another library calls localStorage.clear() in some tab.
                    let t = self.random_live_tab();
                    trace(|| format!("tab {t} clears storage"));
                    self.storage.clear();
                    self.notify(t, Note::Storage(None, None));
                    self.poll(t);
                    // Storage events reach the other tabs within milliseconds: a clear and
                    // the death of both the sender and the event's own tab before any of
                    // them hears of it is outside what this model (and the tracker) covers.
                    for other in self.live_tabs() {
                        self.drain_inbox(other);
                    }
                }
            }
        }
    }

    /// The world heals: every tab online with room in storage, every request answered 200,
    /// every note delivered, time passing for every timer.
    fn heal(&mut self) {
        for t in self.live_tabs() {
            self.tabs[t].full = false;
            self.tabs[t]
                .engine
                .handle_online(now_of(self.now, self.wall[t]), true);
        }
        for _ in 0..10_000 {
            for t in self.live_tabs() {
                self.drain_inbox(t);
            }
            let flights = std::mem::take(&mut self.network);
            for flight in flights {
                self.arrive(&flight.request);
                let t = flight.tab;
                self.tabs[t].engine.handle_answer(
                    now_of(self.now, self.wall[t]),
                    flight.request.id,
                    http(200),
                );
                self.poll(t);
            }
            let settled_role = self
                .holder
                .is_some_and(|h| self.tabs[h].engine.holds_sender_role());
            let idle = self.network.is_empty()
                && settled_role
                && self.live_tabs().iter().all(|&t| {
                    let tab = &self.tabs[t];
                    tab.inbox.is_empty() && tab.engine.pending() == 0 && !tab.flushing
                });
            if idle {
                return;
            }
            self.tick(60_000);
        }
    }
}

fn http(status: u16) -> Answer {
    Answer::Http {
        status,
        retry_after: None,
        request_id: None,
        body: String::new(),
    }
}

#[test]
fn tabs_lose_nothing_and_duplicate_only_what_they_count() {
    let mut duplicates_seen = 0;
    let mut counted_total = 0;
    let mut posted = Posted::default();
    let (mut roles_lost, mut flushes, mut worlds, mut events) = (0, 0, 0, 0);
    let mut detached = 0;
    let mut steps: Vec<i64> = Vec::new();
    for seed in std::env::var("TABS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(0..1_000u64, |s: u64| s..s + 1)
    {
        let mut world = World::new(seed);
        for _ in 0..300 {
            world.step();
        }
        world.heal();
        for t in world.live_tabs() {
            let tab = &world.tabs[t];
            let waiting: Vec<&str> = tab.engine.queue.iter().map(|e| e.id()).collect();
            assert_eq!(
                tab.engine.pending(),
                0,
                "seed {seed}: tab {t} still waits for {waiting:?}"
            );
            assert!(!tab.flushing, "seed {seed}: tab {t}'s flush never settled");
            for id in &tab.own {
                assert_eq!(
                    tab.settled.get(id).copied().unwrap_or(0),
                    1,
                    "seed {seed}: tab {t} saw event {id} settle once"
                );
            }
        }
        let leftovers: Vec<&String> = world
            .storage
            .keys()
            .filter(|k| world.keys.is_queue_state(k))
            .collect();
        assert!(
            leftovers.is_empty(),
            "seed {seed}: storage left {leftovers:?}"
        );
        for n in 0..world.enqueued {
            assert!(
                world.received.contains_key(&n.to_string()),
                "seed {seed}: event {n} lost"
            );
        }
        assert!(
            world.out_of_order.is_empty(),
            "seed {seed}: events reached the server before an event of their customer sent before them (earlier, later): {:?}",
            world.out_of_order
        );
        steps.extend(world.clock_steps.iter().copied());
        let duplicates: u64 = world.received.values().map(|&c| u64::from(c) - 1).sum();
        let counted = world
            .tabs
            .iter()
            .map(|t| t.engine.stats().resent_unknown_total)
            .max()
            .unwrap_or(0);
        if duplicates > counted {
            let mut twice: Vec<_> = world.received.iter().filter(|(_, &c)| c > 1).collect();
            twice.sort();
            trace(|| format!("received more than once: {twice:?}"));
        }
        assert!(
            duplicates <= counted,
            "seed {seed}: {duplicates} duplicates but only {counted} counted resends"
        );
        duplicates_seen += duplicates;
        counted_total += counted;
        roles_lost += world.roles_lost;
        detached += world.detached;
        flushes += world.flushes_settled;
        worlds += 1;
        events += world.enqueued;
        let p = &world.posted;
        posted.outcome += p.outcome;
        posted.record += p.record;
        posted.flush += p.flush;
        posted.flushed += p.flushed;
        posted.hello += p.hello;
        posted.bye += p.bye;
        posted.census += p.census;
    }
    eprintln!(
        "tab worlds: {worlds} worlds, {events} events, {duplicates_seen} duplicates within {counted_total} counted resends, {roles_lost} roles lost with requests out, {detached} requests of restored pages never answered, {flushes} flushes settled, {} wall-clock steps, every customer's events first arriving in order; messages posted: {posted:?}",
        steps.len()
    );
    // The run must exercise the window it bounds and every message kind, or it proves
    // nothing.
    if worlds > 1 {
        assert!(duplicates_seen > 0 && counted_total >= duplicates_seen);
        assert!(posted.all_seen(), "a message kind never posted: {posted:?}");
        assert!(roles_lost > 0 && flushes > 0 && detached > 0);
        for (what, seen) in [
            ("an hour back", steps.contains(&-3_600_000)),
            ("an hour forward", steps.contains(&3_600_000)),
            (
                "a few seconds back",
                steps.iter().any(|&s| (-10_000..0).contains(&s)),
            ),
            (
                "a few seconds forward",
                steps.iter().any(|&s| (1..=10_000).contains(&s)),
            ),
        ] {
            assert!(seen, "no wall-clock step {what}");
        }
    }
}
