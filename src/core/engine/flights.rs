//! Requests in flight, the keepalive bytes they hold, and the notes of requests whose fate
//! is unknown.
//!
//! Invariants kept here: request ids are unique and increasing; `keepalive_bytes` is the sum
//! of the bodies of the keepalive requests in flight and never exceeds
//! [`KEEPALIVE_BUDGET`]; an orphan note is listed once.

/// Body bytes the page may have in keepalive requests at once (Chromium's budget is 64 KiB
/// per page, counted on bodies; a little is left for the browser's own rounding). Source:
/// the Fetch standard's keepalive quota, "inflight keepalive bytes" ≤ 64 KiB.
pub const KEEPALIVE_BUDGET: usize = 63 * 1024;

/// How long a page that came back (from the back/forward cache, or resumed) waits for the
/// answer to a request that was out as it left, before it decides without one (as long as
/// a request may take: the shell aborts one after 10 s). WebKit and Firefox never settle
/// such a request's promise after a restore, not even when the page aborts it; Chromium
/// delivers its answer as the page resumes.
pub const HANDED_OVER_WAIT_MS: u64 = 10_000;

/// One request out.
#[derive(Debug)]
pub struct Flight {
    /// The engine's handle for its answer.
    pub request: u64,
    /// Its events' customer: never two requests in flight for one customer.
    pub customer: String,
    /// Its events.
    pub ids: Vec<String>,
    /// Storage key of the note that these records are in flight, read by the next sender if
    /// this one dies before the answer.
    pub note: String,
    /// Whether that note is meant to be in storage.
    pub note_stored: bool,
    /// Sent with `fetch` keepalive.
    pub keepalive: bool,
    /// Out as the page left, and the page came back: its answer is awaited until `.0`.
    /// Without one, a request handed over (`.1`: its records had left storage) counts as
    /// delivered, as if the page had not come back; another gets no answer (sent again).
    pub came_back: Option<(u64, bool)>,
    body_bytes: usize,
}

/// See the module docs.
#[derive(Debug)]
pub struct Flights {
    list: Vec<Flight>,
    next_request: u64,
    keepalive_bytes: usize,
    /// A keepalive request got no answer while the page was shown. The keepalive quota is
    /// the page's, shared with every script in it (analytics beacons) and with requests of
    /// trackers it replaced, which this count never sees: when it is spent, Chromium fails
    /// every keepalive request at once ("Failed to fetch"), and sending them would never
    /// get through. Until a keepalive request is answered again, requests of a shown page
    /// go without keepalive (a hidden page still asks for it: it needs it to outlive it).
    keepalive_refused: bool,
    /// Flight notes of requests whose fate is unknown, kept in storage (key, ids) until
    /// their events went out again, so that the count survives this tab dying too.
    orphans: Vec<(String, Vec<String>)>,
}

impl Default for Flights {
    fn default() -> Flights {
        Flights {
            list: Vec::new(),
            next_request: 1,
            keepalive_bytes: 0,
            keepalive_refused: false,
            orphans: Vec::new(),
        }
    }
}

impl Flights {
    /// Requests in flight.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Whether `customer` has a request in flight.
    pub fn busy(&self, customer: &str) -> bool {
        self.list.iter().any(|f| f.customer == customer)
    }

    /// The requests in flight.
    pub fn iter(&self) -> std::slice::Iter<'_, Flight> {
        self.list.iter()
    }

    /// The requests in flight, for their note flags.
    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, Flight> {
        self.list.iter_mut()
    }

    /// The id the next request will have.
    pub fn next_request(&self) -> u64 {
        self.next_request
    }

    /// Notes a request out with `ids` of `customer`, whose body is `body_bytes` long; it goes
    /// with keepalive when that fits in the page's budget. Returns the request id and
    /// whether it goes with keepalive.
    pub fn open(
        &mut self,
        customer: String,
        ids: Vec<String>,
        note: String,
        body_bytes: usize,
        hidden: bool,
    ) -> (u64, bool) {
        let request = self.next_request;
        self.next_request += 1;
        let keepalive = (hidden || !self.keepalive_refused)
            && self.keepalive_bytes + body_bytes <= KEEPALIVE_BUDGET;
        if keepalive {
            self.keepalive_bytes += body_bytes;
        }
        self.list.push(Flight {
            request,
            customer,
            ids,
            note,
            note_stored: true,
            keepalive,
            came_back: None,
            body_bytes,
        });
        (request, keepalive)
    }

    /// How a keepalive request ended: `answered`, or with no answer while the page was
    /// `hidden` or shown (see `keepalive_refused`).
    pub fn note_keepalive_end(&mut self, answered: bool, hidden: bool) {
        if answered {
            self.keepalive_refused = false;
        } else if !hidden {
            self.keepalive_refused = true;
        }
    }

    /// Takes request `request` out (its answer came, or it was cut off).
    pub fn close(&mut self, request: u64) -> Option<Flight> {
        let at = self.list.iter().position(|f| f.request == request)?;
        let flight = self.list.remove(at);
        if flight.keepalive {
            self.keepalive_bytes -= flight.body_bytes;
        }
        Some(flight)
    }

    /// The earliest deadline of a request awaited since the page came back.
    pub fn came_back_deadline(&self) -> Option<u64> {
        self.list
            .iter()
            .filter_map(|f| f.came_back.map(|(until, _)| until))
            .min()
    }

    /// The first request awaited since the page came back whose deadline passed by `now`:
    /// its id and whether it was handed over.
    pub fn came_back_due(&self, now: u64) -> Option<(u64, bool)> {
        self.list.iter().find_map(|f| match f.came_back {
            Some((until, handed_over)) if until <= now => Some((f.request, handed_over)),
            _ => None,
        })
    }

    /// Lists the note `key` of a request whose fate is unknown.
    pub fn add_orphan(&mut self, key: String, ids: Vec<String>) {
        if !self.orphans.iter().any(|(k, _)| *k == key) {
            self.orphans.push((key, ids));
        }
    }

    /// The notes of requests whose fate is unknown.
    pub fn orphans(&self) -> &[(String, Vec<String>)] {
        &self.orphans
    }

    /// Drops the orphan notes none of whose events `waiting` still says wait; returns their
    /// keys.
    pub fn settle_orphans(&mut self, waiting: impl Fn(&str) -> bool) -> Vec<String> {
        let mut settled = Vec::new();
        self.orphans.retain(|(key, ids)| {
            let keep = ids.iter().any(|id| waiting(id));
            if !keep {
                settled.push(key.clone());
            }
            keep
        });
        settled
    }
}
