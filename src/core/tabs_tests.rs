//! Several tabs of one origin, simulated: a shared storage map whose changes reach the other
//! tabs as storage events, a message bus for the sender's outcome messages, a network whose
//! requests may be answered, lost, or cut off after the server took them, tabs that open,
//! hide, leave or crash, a foreign script clearing storage, and a clock that jumps. Seeded,
//! so a failure names the seed that reproduces it.

use super::*;
use crate::core::config::RawConfig;
use crate::core::json::{parse, Json};
use crate::core::relay::Message;
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

struct World {
    rng: Rng,
    now: u64,
    tabs: Vec<Tab>,
    sender: Option<usize>,
    storage: BTreeMap<String, String>,
    network: Vec<Flight>,
    /// Arrivals at the server, by event number.
    received: HashMap<String, u32>,
    enqueued: u64,
    marker: String,
    /// Requests out as their page left whose answer never reached it once it came back
    /// (decided at their deadline).
    detached: u64,
}

impl World {
    fn new(seed: u64) -> World {
        let engine = Engine::new(config(), seed);
        let marker = engine.marker_key();
        let mut world = World {
            rng: Rng::new(seed),
            now: START,
            tabs: Vec::new(),
            sender: None,
            storage: BTreeMap::new(),
            network: Vec::new(),
            received: HashMap::new(),
            enqueued: 0,
            marker,
            detached: 0,
        };
        world.open_tab();
        world
    }

    fn open_tab(&mut self) {
        let seed = self.rng.next_u64();
        let mut engine = Engine::new(config(), seed);
        engine.become_follower();
        engine.observe(self.storage.clone());
        self.tabs.push(Tab {
            engine,
            alive: true,
            inbox: VecDeque::new(),
            settled: HashMap::new(),
            own: Vec::new(),
        });
        if self.sender.is_none() {
            self.elect();
        }
    }

    /// The lock goes to the oldest live tab once the holder is gone. Notes already on their
    /// way reach it first (the shell waits a moment before taking over for that reason).
    fn elect(&mut self) {
        let Some(t) = self.tabs.iter().position(|t| t.alive) else {
            self.sender = None;
            return;
        };
        self.sender = Some(t);
        if std::env::var_os("TABS_TRACE").is_some() {
            eprintln!("  tab {t} elected");
        }
        self.drain_inbox(t);
        let stored: Vec<(String, String)> = self.storage.clone().into_iter().collect();
        self.tabs[t].engine.promote(self.now, stored);
        self.apply(t);
    }

    fn apply(&mut self, t: usize) {
        loop {
            let actions = self.tabs[t].engine.take_actions();
            if actions.is_empty() {
                return;
            }
            for action in actions {
                match action {
                    Action::Store { key, value } => {
                        if std::env::var_os("TABS_TRACE").is_some() {
                            let watch = std::env::var("TABS_WATCH").unwrap_or_default();
                            if !watch.is_empty()
                                && (key.ends_with(&watch) || value.contains(&watch))
                            {
                                eprintln!("  tab {t} stores {key} = {value}");
                            }
                        }
                        self.storage.insert(key.clone(), value.clone());
                        self.notify(t, Note::Storage(Some(key), Some(value)));
                    }
                    Action::Remove { key } => {
                        if std::env::var_os("TABS_TRACE").is_some() {
                            let watch = std::env::var("TABS_WATCH").unwrap_or_default();
                            if !watch.is_empty() && key.ends_with(&watch) {
                                eprintln!("  tab {t} removes {key}");
                            }
                        }
                        if self.storage.remove(&key).is_some() {
                            self.notify(t, Note::Storage(Some(key), None));
                        }
                    }
                    Action::Send { request, keepalive } => self.network.push(Flight {
                        tab: t,
                        request,
                        keepalive,
                        started: self.now,
                    }),
                    Action::Report(report) => {
                        if report.result.is_ok()
                            || report
                                .result
                                .as_ref()
                                .is_err_and(|e| e.code != ErrorCode::Unauthorized)
                        {
                            *self.tabs[t].settled.entry(report.id.clone()).or_default() += 1;
                        }
                        if self.sender == Some(t) {
                            let text = Message::Outcome(report).encode();
                            self.notify(t, Note::Message(text));
                        }
                    }
                    Action::Debug(_) => {}
                }
            }
        }
    }

    fn notify(&mut self, from: usize, make: Note) {
        let (key, value, text) = match &make {
            Note::Storage(k, v) => (k.clone(), v.clone(), None),
            Note::Message(m) => (None, None, Some(m.clone())),
        };
        for (i, tab) in self.tabs.iter_mut().enumerate() {
            if i != from && tab.alive {
                tab.inbox.push_back(match &text {
                    Some(m) => Note::Message(m.clone()),
                    None => Note::Storage(key.clone(), value.clone()),
                });
            }
        }
    }

    fn deliver_one(&mut self, t: usize) {
        let Some(note) = self.tabs[t].inbox.pop_front() else {
            return;
        };
        if std::env::var_os("TABS_TRACE").is_some() {
            let watch = std::env::var("TABS_WATCH").unwrap_or_default();
            match &note {
                Note::Storage(Some(k), v) if k.ends_with(&watch) => {
                    eprintln!("  tab {t} hears {k} = {v:?}")
                }
                Note::Storage(None, _) => eprintln!("  tab {t} hears clear"),
                Note::Message(m) if m.contains(&watch) => eprintln!("  tab {t} hears {m}"),
                _ => {}
            }
        }
        match note {
            Note::Storage(key, value) => self.tabs[t]
                .engine
                .storage_changed(key.as_deref(), value.as_deref()),
            Note::Message(text) => match Message::decode(&text).expect("a message we wrote") {
                Message::Outcome(report) => self.tabs[t].engine.remote_outcome(report),
                Message::Record { key, value } => self.tabs[t].engine.adopt(&key, &value),
                _ => {}
            },
        }
        self.apply(t);
        self.poll(t);
    }

    fn drain_inbox(&mut self, t: usize) {
        while !self.tabs[t].inbox.is_empty() {
            self.deliver_one(t);
        }
    }

    /// The shell's poll: it first checks that storage was not cleared under it (the tab
    /// that clears gets no storage event).
    fn poll(&mut self, t: usize) {
        if self.sender.is_some() && !self.storage.contains_key(&self.marker) {
            self.tabs[t].engine.storage_cleared();
        }
        self.tabs[t].engine.poll(self.now);
        self.apply(t);
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
            .enqueue(self.now, raw)
            .expect("valid event");
        if std::env::var_os("TABS_TRACE").is_some() {
            eprintln!("  tab {t} enqueues event {n} as {id}");
        }
        self.tabs[t].own.push(id);
        self.apply(t);
        self.poll(t);
    }

    fn arrive(&mut self, request: &HttpRequest) {
        if std::env::var_os("TABS_TRACE").is_some() {
            eprintln!("  arrives {}", request.body);
        }
        let body = parse(&request.body).expect("json body");
        if let Some(Json::Object(events)) = body.get("events") {
            for (_, meta) in events {
                let n = meta.get("n").map(Json::to_text).unwrap_or_default();
                *self.received.entry(n).or_default() += 1;
            }
        }
    }

    /// A tab goes away. `left`: it was hidden first (`pagehide`), so its keepalive
    /// requests complete; otherwise it crashed and each request may or may not have
    /// reached the server.
    fn kill(&mut self, t: usize, left: bool) {
        if std::env::var_os("TABS_TRACE").is_some() {
            eprintln!("  tab {t} dies (left: {left})");
        }
        if left {
            let last = self.live_tabs().len() == 1;
            self.tabs[t].engine.page_hidden(self.now, last, true);
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
        if self.sender == Some(t) {
            self.sender = None;
            self.elect();
        }
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
        if std::env::var_os("TABS_TRACE").is_some() {
            eprintln!(
                "  tab {t} request {} events {:?}: {answer:?}",
                flight.request.id, flight.request.body
            );
        }
        self.tabs[t]
            .engine
            .on_answer(self.now, flight.request.id, answer);
        self.apply(t);
        self.poll(t);
    }

    /// Requests older than the shell's timeout are aborted: the page hears no answer, and
    /// the server may or may not have taken them.
    fn time_out_flights(&mut self) {
        let now = self.now;
        let late: Vec<Flight> = self
            .network
            .extract_if(.., |f| now - f.started >= REQUEST_TIMEOUT_MS)
            .collect();
        for flight in late {
            if self.rng.next_u64() % 2 == 0 {
                self.arrive(&flight.request);
            }
            let t = flight.tab;
            let answer = Answer::NoAnswer {
                reason: "timed out".into(),
            };
            self.tabs[t]
                .engine
                .on_answer(self.now, flight.request.id, answer);
            self.apply(t);
        }
    }

    /// WebKit and Firefox after a back/forward restore: the requests out as the page left
    /// complete (keepalive), but their promises never settle in the page.
    fn detach_came_back(&mut self, t: usize) {
        let came_back: Vec<u64> = self.tabs[t]
            .engine
            .in_flight
            .iter()
            .filter(|f| f.came_back.is_some())
            .map(|f| f.request)
            .collect();
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
        let choice = self.rng.next_u64() % 20;
        if std::env::var_os("TABS_TRACE").is_some() {
            let roles: Vec<String> = self
                .tabs
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    format!(
                        "{i}:{}{}",
                        if t.alive { "" } else { "x" },
                        t.engine.pending()
                    )
                })
                .collect();
            let watch = std::env::var("TABS_WATCH").unwrap_or_default();
            let holders: Vec<usize> = (0..self.tabs.len())
                .filter(|&t| {
                    self.tabs[t].alive
                        && self.tabs[t]
                            .engine
                            .entries
                            .iter()
                            .any(|e| e.record.id == watch)
                })
                .collect();
            let stored = self.storage.keys().any(|k| k.ends_with(&watch));
            eprintln!("step {choice} sender {:?} tabs {roles:?} net {} storage {} watch held by {holders:?} stored {stored}", self.sender, self.network.len(), self.storage.len());
        }
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
                self.now += self.rng.next_u64() % 120_000;
                self.time_out_flights();
                for t in self.live_tabs() {
                    self.poll(t);
                }
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
                // A tab is hidden for a while and comes back.
                let t = self.random_live_tab();
                let last = self.live_tabs().len() == 1;
                // Hidden, or left for the back/forward cache and restored.
                let leaving = self.rng.next_u64() % 2 == 0;
                self.tabs[t].engine.page_hidden(self.now, last, leaving);
                self.apply(t);
                self.tabs[t].engine.page_shown(self.now);
                self.apply(t);
                if self.rng.next_u64() % 2 == 0 {
                    self.detach_came_back(t);
                }
            }
            18 => {
                let t = self.random_live_tab();
                let online = self.rng.next_u64() % 3 != 0;
                self.tabs[t].engine.set_online(self.now, online);
                self.poll(t);
            }
            _ => {
                if self.rng.next_u64() % 4 == 0 {
                    // Another library calls localStorage.clear() in some tab.
                    let t = self.random_live_tab();
                    if std::env::var_os("TABS_TRACE").is_some() {
                        eprintln!("  tab {t} clears storage");
                    }
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

    /// The world heals: every tab online, every request answered 200, every note delivered.
    fn heal(&mut self) {
        for t in self.live_tabs() {
            self.tabs[t].engine.set_online(self.now, true);
        }
        for _ in 0..10_000 {
            for t in self.live_tabs() {
                self.drain_inbox(t);
            }
            let flights = std::mem::take(&mut self.network);
            for flight in flights {
                self.arrive(&flight.request);
                let t = flight.tab;
                self.tabs[t]
                    .engine
                    .on_answer(self.now, flight.request.id, http(200));
                self.apply(t);
            }
            let sender = self.sender.expect("a live tab holds the lock");
            let idle = self.network.is_empty()
                && self.tabs[sender].engine.pending() == 0
                && self
                    .live_tabs()
                    .iter()
                    .all(|&t| self.tabs[t].inbox.is_empty());
            if idle {
                return;
            }
            self.now += 60_000;
            for t in self.live_tabs() {
                self.poll(t);
            }
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
    let mut detached = 0;
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
        let sender = world.sender.expect("a sender");
        for t in world.live_tabs() {
            let tab = &world.tabs[t];
            assert_eq!(tab.engine.pending(), 0, "seed {seed}: tab {t} still waits");
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
            .filter(|k| !k.contains('~') || k.contains("~f"))
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
        let duplicates: u64 = world.received.values().map(|&c| u64::from(c) - 1).sum();
        if std::env::var_os("TABS_TRACE").is_some() {
            let mut twice: Vec<_> = world.received.iter().filter(|(_, &c)| c > 1).collect();
            twice.sort();
            eprintln!("received more than once: {twice:?}");
        }
        let counted = world.tabs[sender].engine.stats().resent_unknown_total;
        assert!(
            duplicates <= counted,
            "seed {seed}: {duplicates} duplicates but only {counted} counted resends"
        );
        duplicates_seen += duplicates;
        counted_total += counted;
        detached += world.detached;
    }
    // The run must exercise the window it bounds, or it proves nothing.
    assert!(duplicates_seen > 0 && counted_total >= duplicates_seen);
    // Pages restored with requests out whose answers never came: each was decided at its
    // deadline (nothing waits at the end), none lost, duplicates only counted ones.
    assert!(
        detached > 0,
        "no request out as its page left went unanswered"
    );
}
