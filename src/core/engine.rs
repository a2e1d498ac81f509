//! The delivery state machine. Inputs in (an event, a timer, an answer, the network coming
//! back), actions out (store or remove a record, send a request, report an outcome). It never
//! touches a browser API or a clock: the shell passes `now` in and performs the actions, so
//! every rule here is tested natively with a fake clock.

use std::collections::BTreeMap;

use super::config::Config;
use super::error::{ErrorCode, TrackerError};
use super::event::{validate, CustomerDefaults, RawEvent};
use super::gameball::{build_request, read_error_body, HttpRequest};
use super::policy::{
    backoff_ms, classify, parse_retry_after, Verdict, CONCURRENT_RETRY_MS, SLOW_RETRY_MS,
};
use super::record::{make_id, Record};
use super::rng::Rng;

/// Requests in flight at once (each for a different customer).
pub const MAX_IN_FLIGHT: usize = 4;
/// Records coalesced into one request at most.
pub const MAX_BATCH_RECORDS: usize = 20;
/// Body bytes of one request at most; below `fetch` keepalive's 64 KiB budget.
pub const MAX_BATCH_BYTES: usize = 60 * 1024;

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
    Send(HttpRequest),
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
}

#[derive(Debug)]
struct Flight {
    request: u64,
    customer: String,
    ids: Vec<String>,
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

    /// Adopts records found in storage (from an earlier page load). Unreadable ones are
    /// removed and counted as `corrupt`; the queue bounds are applied afterwards.
    pub fn load<I, K, V>(&mut self, stored: I)
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        for (key, value) in stored {
            let key = key.as_ref();
            let Some(id) = key.strip_prefix(self.prefix.as_str()) else {
                continue;
            };
            let record = Record::decode(value.as_ref()).filter(|r| r.id == id);
            match record {
                Some(record) if !self.entries.iter().any(|e| e.record.id == id) => {
                    let bytes = value.as_ref().len();
                    self.bytes += bytes;
                    self.entries.push(Entry {
                        record,
                        bytes,
                        not_before: 0,
                        in_flight: None,
                        reported: false,
                    });
                }
                Some(_) => {}
                None => {
                    *self.stats.dropped.entry("corrupt").or_default() += 1;
                    self.actions.push(Action::Remove {
                        key: key.to_owned(),
                    });
                }
            }
        }
        self.entries.sort_by(|a, b| a.record.id.cmp(&b.record.id));
        self.enforce_bounds(None);
        let pending = self.entries.len();
        self.debug(|| format!("loaded {pending} stored events"));
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
        self.entries.push(Entry {
            record,
            bytes,
            not_before: 0,
            in_flight: None,
            reported,
        });
        if reported {
            let index = self.entries.len() - 1;
            self.report_unauthorized(index, None);
        }
        self.enforce_bounds(Some(&id));
        Ok(id)
    }

    fn key(&self, id: &str) -> String {
        format!("{}{id}", self.prefix)
    }

    /// Evicts the oldest idle events until the queue fits its bounds. `keep` is the event
    /// just queued: it is the one the caller is waiting on, so it goes last.
    fn enforce_bounds(&mut self, keep: Option<&str>) {
        while self.entries.len() > self.config.max_queue_events
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
        if self.entries.is_empty() || !self.active {
            return None;
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
        }
        Some(wake)
    }

    /// Gives up events past their age, then starts the requests that may go now.
    pub fn poll(&mut self, now: u64) {
        self.expire_old(now);
        if !self.active || self.paused || !self.online || now < self.hold_until {
            return;
        }
        while self.in_flight.len() < MAX_IN_FLIGHT {
            let Some(batch) = self.next_batch(now) else {
                break;
            };
            self.start(batch);
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

    fn start(&mut self, batch: Vec<usize>) {
        let request = self.next_request;
        self.next_request += 1;
        let records: Vec<&Record> = batch.iter().map(|&i| &self.entries[i].record).collect();
        let http = build_request(request, &self.config, &records);
        let customer = records[0].event.customer_id.clone();
        let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
        for &i in &batch {
            self.entries[i].in_flight = Some(request);
        }
        let count = ids.len();
        self.debug(|| format!("request {request}: {count} events for customer {customer}"));
        self.in_flight.push(Flight {
            request,
            customer,
            ids,
        });
        self.actions.push(Action::Send(http));
    }

    /// Takes the answer to request `request` and decides each of its events' fate.
    pub fn on_answer(&mut self, now: u64, request: u64, answer: Answer) {
        let Some(pos) = self.in_flight.iter().position(|f| f.request == request) else {
            return;
        };
        let flight = self.in_flight.remove(pos);
        let indices: Vec<usize> = flight
            .ids
            .iter()
            .filter_map(|id| self.entries.iter().position(|e| &e.record.id == id))
            .collect();
        for &i in &indices {
            self.entries[i].in_flight = None;
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
        self.debug(|| format!("request {request}: status {status} → {verdict:?}"));
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
                let e = error(ErrorCode::Expired, "the event ran out of attempts");
                self.retry_or_expire(&flight.ids, &e);
            }
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
