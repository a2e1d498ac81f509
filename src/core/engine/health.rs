//! Whether the sender may start requests: the network as the browser reports it, an
//! `unauthorized` pause, the back-off after failures, the circuit breaker, and the
//! client-side rate limit.
//!
//! Every time here is monotonic (`Now::mono_ms`); only the stored rate budget is written in
//! wall time.
//!
//! Invariants kept here: a hold never shortens while it runs (only the network returning
//! ends a network hold early); the failure count resets only on a delivery or the network
//! returning.

use crate::core::clock::Now;
use crate::core::policy::{HoldCause, RateLimiter, RetryPlan};

/// Requests in a row that got no answer while the browser said it was online before the
/// circuit breaker opens: something between us and the server (an ad blocker, CSP, DNS)
/// eats them, so only one probe goes out at a time and failed probes use up no attempts.
pub const BREAKER_THRESHOLD: u32 = 4;

/// See the module docs.
#[derive(Debug)]
pub struct Health {
    online: bool,
    paused: bool,
    failures: u32,
    /// The first request id of the current round of failures: a request that left before
    /// the last failure was counted failed in the same outage, and does not count again.
    round_from: u64,
    hold: Option<HoldCause>,
    hold_until: u64,
    no_answer_streak: u32,
    limiter: RateLimiter,
    limit_until: u64,
}

impl Default for Health {
    fn default() -> Health {
        Health {
            online: true,
            paused: false,
            failures: 0,
            round_from: 0,
            hold: None,
            hold_until: 0,
            no_answer_streak: 0,
            limiter: RateLimiter::default(),
            limit_until: 0,
        }
    }
}

impl Health {
    /// Whether the browser says it is online.
    pub fn online(&self) -> bool {
        self.online
    }

    /// Whether a 401/403 stopped sending.
    pub fn paused(&self) -> bool {
        self.paused
    }

    /// Whether the circuit breaker is open (requests die before reaching the server).
    pub fn breaker_open(&self) -> bool {
        self.no_answer_streak >= BREAKER_THRESHOLD
    }

    /// Whether requests may start at `now` (rate limit aside).
    pub fn may_send(&self, now: u64) -> bool {
        !self.paused && self.online && now >= self.hold_until
    }

    /// Whether delivery looks healthy: online, no back-off, no open breaker, no failure
    /// since the last success, not paused.
    pub fn healthy(&self, now: u64) -> bool {
        self.may_send(now) && self.failures == 0 && !self.breaker_open()
    }

    /// Requests allowed in flight at once: an open breaker lets one probe out at a time.
    pub fn most_in_flight(&self, most: usize) -> usize {
        if self.breaker_open() {
            1
        } else {
            most
        }
    }

    /// Whether the rate limit lets a request start at `now` under `limits`; if not, the
    /// wait is remembered for [`Health::rate_wait`].
    pub fn rate_allows(&mut self, now: u64, limits: &[(u64, usize)]) -> bool {
        let allowed = self.limiter.next_allowed(now, limits);
        self.limit_until = if allowed > now { allowed } else { 0 };
        allowed <= now
    }

    /// Notes a request started at `now`.
    pub fn record_start(&mut self, now: u64, limits: &[(u64, usize)]) {
        self.limiter.record(now, limits);
    }

    /// The spent rate budget as stored text at `now` (see [`RateLimiter::encode`]).
    pub fn rate_budget(&self, now: Now) -> String {
        self.limiter.encode(now)
    }

    /// Takes the rate budget a dead sender spent, at `now`.
    pub fn inherit_rate_budget(&mut self, text: &str, limits: &[(u64, usize)], now: Now) {
        let most = limits.iter().map(|&(_, n)| n).max().unwrap_or(0);
        self.limiter.merge(text, most, now);
    }

    /// When the hold on every request ends, if one runs at `now`.
    pub fn held_until(&self, now: u64) -> Option<u64> {
        (self.hold_until > now).then_some(self.hold_until)
    }

    /// When the rate limit lets the next request start, if it held one back. Also when
    /// that has just passed: the shell reads the clock again before arming its timer, and
    /// a wait that ended a millisecond ago must not become the flush interval.
    pub fn rate_wait(&self, now: u64) -> Option<u64> {
        (self.limit_until != 0).then(|| self.limit_until.max(now))
    }

    /// The browser says whether it is online. Coming back cuts short a back-off that was
    /// caused by missing answers.
    pub fn set_online(&mut self, now: u64, online: bool) {
        self.online = online;
        if online {
            self.end_network_hold(now);
        }
    }

    /// Ends a hold caused by missing answers (the network is back, or the page asked to
    /// flush); a server's hold runs its course.
    pub fn end_network_hold(&mut self, now: u64) {
        if self.hold == Some(HoldCause::Network) {
            self.hold = None;
            self.hold_until = now;
            self.failures = 0;
        }
    }

    /// An answer came (`answered`), or none did: the breaker's streak follows. Missing
    /// answers count only while the browser says it is online.
    pub fn note_answer(&mut self, answered: bool) {
        if answered {
            self.no_answer_streak = 0;
        } else if self.online {
            self.no_answer_streak = self.no_answer_streak.saturating_add(1);
        }
    }

    /// A request was delivered.
    pub fn delivered(&mut self) {
        self.failures = 0;
        self.hold = None;
    }

    /// Request `request` failed in a way worth retrying; `next_request` is the id the next
    /// request will get. Returns the failures in a row, counted in rounds: requests that
    /// were out together fail together in one outage, and count once, so a brief outage met
    /// by many customers' requests at once backs off as one failure, not one per request (a
    /// new user's finding: ten customers' first requests answered 503 held every send for
    /// 107–219 s).
    pub fn failed(&mut self, request: u64, next_request: u64) -> u32 {
        if self.failures == 0 || request >= self.round_from {
            self.failures = self.failures.saturating_add(1);
            self.round_from = next_request;
        }
        self.failures
    }

    /// Holds every request until `plan` says.
    pub fn hold(&mut self, now: u64, plan: &RetryPlan) {
        self.hold = Some(plan.cause);
        self.hold_until = self.hold_until.max(now + plan.wait_ms);
    }

    /// The key was refused: nothing is sent until a new configuration arrives.
    pub fn pause(&mut self) {
        self.paused = true;
    }

    /// A new configuration arrived: the pause ends.
    pub fn resume(&mut self) {
        self.paused = false;
    }
}
