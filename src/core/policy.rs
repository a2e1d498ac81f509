//! What to do after an attempt, for any destination: the verdicts an answer can have, the
//! retry plan (back-off with full jitter, `Retry-After`, the waits after a busy customer),
//! and the client-side rate limiter. Each destination classifies its own answers into a
//! [`Verdict`] (for Gameball, `super::gameball::classify`).

use crate::core::clock::Now;
use crate::core::text::{decimal, parse_i64, parse_u64, push_u64};

/// The fate of one request, decided from its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: the events are delivered.
    Delivered,
    /// 401/403: keep the events, stop sending until a new config arrives.
    Unauthorized,
    /// A 4xx that retrying cannot fix: drop and report `rejected`.
    Rejected,
    /// 422 code 2001: a request for this customer is already being processed. Try again soon;
    /// this is not the event's fault, so it does not use up an attempt.
    Concurrent,
    /// Server trouble, rate limit or no answer: back off, then try again.
    Retry {
        /// 429: the whole tracker slows down, not just this customer.
        rate_limited: bool,
        /// Gameball's 6000 (gameball disabled for the account): retry, but slowly.
        slow: bool,
    },
}

impl Verdict {
    /// A name for debug logs (no `Debug` formatting in the shipped module).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Delivered => "delivered",
            Verdict::Unauthorized => "unauthorized",
            Verdict::Rejected => "rejected",
            Verdict::Concurrent => "concurrent (2001)",
            Verdict::Retry {
                rate_limited: true, ..
            } => "retry (rate limited)",
            Verdict::Retry { slow: true, .. } => "retry (slowly)",
            Verdict::Retry { .. } => "retry",
        }
    }
}

/// First back-off step.
pub const BACKOFF_BASE_MS: u64 = 1_000;
/// Longest back-off between two attempts.
pub const BACKOFF_CAP_MS: u64 = 5 * 60_000;
/// Shortest wait for a "slow" retry (Gameball disabled for the account).
pub const SLOW_RETRY_MS: u64 = 60_000;
/// The longest `Retry-After` honoured; a larger one (or a broken clock) is cut to this.
pub const RETRY_AFTER_CAP_MS: u64 = 60 * 60_000;
/// Wait after a first 2001 answer, before jitter.
pub const CONCURRENT_RETRY_MS: u64 = 500;
/// Longest wait after 2001 answers in a row, before jitter. Gameball holds a customer's
/// lock while one of their requests is processed; a request the server never finishes (one
/// a closed window left hanging) holds it much longer, and retrying at the first pace would
/// send two requests a second against it.
pub const CONCURRENT_RETRY_CAP_MS: u64 = 30_000;

/// Shortest back-off: full jitter may draw zero, and an instant retry against a failing
/// server is never useful.
pub const BACKOFF_FLOOR_MS: u64 = 100;

/// Back-off after the `failures`-th failure in a row (1-based): exponential from
/// [`BACKOFF_BASE_MS`] up to [`BACKOFF_CAP_MS`], with "full jitter" (a uniformly random
/// point between [`BACKOFF_FLOOR_MS`] and the step) so that many tabs or stores recovering
/// at once spread over the whole window instead of returning together. `unit` is a random
/// number in `[0, 1)`.
pub fn backoff_ms(failures: u32, unit: f64) -> u64 {
    let exponent = failures.saturating_sub(1).min(20);
    let full = BACKOFF_BASE_MS
        .saturating_mul(1u64 << exponent)
        .min(BACKOFF_CAP_MS);
    ((unit.clamp(0.0, 1.0) * full as f64) as u64).max(BACKOFF_FLOOR_MS)
}

/// Why sending is on hold for the whole sender after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldCause {
    /// No answer came: the network may be down; the hold ends early when it returns.
    Network,
    /// The server asked for patience (5xx, 429, `Retry-After`): the hold runs its course.
    Server,
}

/// What the sender does after an attempt that may be tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPlan {
    /// How long every request of this sender waits, in ms.
    pub wait_ms: u64,
    /// What the wait is for.
    pub cause: HoldCause,
    /// Whether the attempt counts against the events' `maxAttempts`: only an answer does.
    pub spends_attempt: bool,
}

/// The facts a retry is planned from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Attempt {
    /// Failed attempts in a row, this one included (1-based).
    pub failures: u32,
    /// The server's `Retry-After`, read into ms ([`parse_retry_after`]).
    pub retry_after_ms: Option<u64>,
    /// The verdict asked for a slow retry (Gameball disabled for the account).
    pub slow: bool,
    /// No answer came at all.
    pub no_answer: bool,
    /// A random number in `[0, 1)` for the jitter.
    pub unit: f64,
}

/// The plan after a retryable failure: the server's `Retry-After` if it gave one, else the
/// jittered back-off; at least [`SLOW_RETRY_MS`] when slow. A request that got no answer
/// says nothing about its events (the network, an ad blocker, a Content Security Policy or
/// a hung server took it), so it spends no attempt: its events wait, up to `eventTtlMs`, as
/// they do offline, and `maxAttempts` counts the server's failed answers (5xx, 429, 408).
pub fn plan_retry(attempt: Attempt) -> RetryPlan {
    let mut wait_ms = attempt
        .retry_after_ms
        .unwrap_or_else(|| backoff_ms(attempt.failures, attempt.unit));
    if attempt.slow {
        wait_ms = wait_ms.max(SLOW_RETRY_MS);
    }
    RetryPlan {
        wait_ms,
        cause: if attempt.no_answer {
            HoldCause::Network
        } else {
            HoldCause::Server
        },
        spends_attempt: !attempt.no_answer,
    }
}

/// The wait of one event after its customer was busy (Gameball's 2001) for the `busy`-th
/// time in a row (1-based): a step of [`CONCURRENT_RETRY_MS`], doubled at each further 2001
/// up to [`CONCURRENT_RETRY_CAP_MS`], plus up to as much again of jitter, so a customer's
/// events do not return together. `unit` is a random number in `[0, 1)`.
pub fn busy_customer_wait_ms(busy: u32, unit: f64) -> u64 {
    let exponent = busy.saturating_sub(1).min(16);
    let step = (CONCURRENT_RETRY_MS << exponent).min(CONCURRENT_RETRY_CAP_MS);
    step + (unit.clamp(0.0, 1.0) * step as f64) as u64
}

/// A sliding-window log of request starts, in monotonic ms.
#[derive(Debug, Clone, Default)]
pub struct RateLimiter {
    starts: std::collections::VecDeque<u64>,
}

impl RateLimiter {
    /// When the next request may start under `limits` (window ms, requests): `now` if it
    /// may start now.
    pub fn next_allowed(&self, now: u64, limits: &[(u64, usize)]) -> u64 {
        let mut at = now;
        for &(window, limit) in limits {
            let in_window = self
                .starts
                .iter()
                .rev()
                .take_while(|&&t| t + window > now)
                .count();
            if in_window >= limit {
                // The oldest start of the last `limit` must leave the window first.
                if let Some(&oldest) = self.starts.get(self.starts.len() - limit) {
                    at = at.max(oldest + window);
                }
            }
        }
        at
    }

    /// The recent starts as text for storage: `<first second>:<count>,<count>,...`, one
    /// count per second of the longest window, seconds of the wall clock (`now` converts:
    /// the starts are kept in monotonic time). A tab that takes over the sender role reads
    /// it, so it does not spend budget the dead sender already used.
    pub fn encode(&self, now: Now) -> String {
        let Some(&first) = self.starts.front() else {
            return String::new();
        };
        let base = now.wall_of(first) / 1000;
        let mut counts: Vec<u32> = Vec::new();
        for &t in &self.starts {
            let slot = (now.wall_of(t) / 1000).saturating_sub(base) as usize;
            if slot >= counts.len() {
                counts.resize(slot + 1, 0);
            }
            if let Some(count) = counts.get_mut(slot) {
                *count += 1;
            }
        }
        let mut out = decimal(base);
        out.push(':');
        for (i, c) in counts.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_u64(&mut out, u64::from(*c));
        }
        out
    }

    /// Adds the starts `encode` wrote (each at the end of its second, which errs on the
    /// side of waiting), at most `most` per second, read at `now`. A second the writer's
    /// clock put in this tab's future counts as now: a clock stepped forward (here or
    /// there) delays sending by one window at most, never by the step; one stepped back
    /// makes the budget look older (a few requests more, which the server's 429 handles).
    /// Unreadable text adds nothing.
    pub fn merge(&mut self, text: &str, most: usize, now: Now) {
        let Some((base, counts)) = text.split_once(':') else {
            return;
        };
        let Some(base) = parse_u64(base) else {
            return;
        };
        // Two runs merged, not a sort: the module keeps one sort of the standard library
        // (for the stored keys). The heard starts ascend (seconds ascend, `mono_of` keeps
        // order); this tab's are in order but for a start merged a little ahead of a later
        // own one, which the insertion sort puts back in a step or two.
        let mut own: Vec<u64> = self.starts.iter().copied().collect();
        for i in 1..own.len() {
            let mut j = i;
            while j > 0 && own.get(j - 1) > own.get(j) {
                own.swap(j - 1, j);
                j -= 1;
            }
        }
        let mut heard = Vec::new();
        for (i, count) in counts.split(',').enumerate().take(64) {
            // Past usize, as `parse::<usize>` read it: unreadable, 0.
            let count = parse_u64(count)
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(0)
                .min(most);
            let second = now.mono_of(base.saturating_add(i as u64).saturating_mul(1000));
            heard.extend(std::iter::repeat(second + 999).take(count));
        }
        let mut merged = std::collections::VecDeque::with_capacity(own.len() + heard.len());
        let (mut own, mut heard) = (own.into_iter().peekable(), heard.into_iter().peekable());
        while let Some(next) = match (own.peek(), heard.peek()) {
            (Some(a), Some(b)) if b < a => heard.next(),
            (Some(_), _) => own.next(),
            (None, _) => heard.next(),
        } {
            merged.push_back(next);
        }
        self.starts = merged;
    }

    /// Notes a request started at `now`; starts older than the longest of `limits`' windows
    /// are forgotten.
    pub fn record(&mut self, now: u64, limits: &[(u64, usize)]) {
        self.starts.push_back(now);
        let longest = limits.iter().map(|&(w, _)| w).max().unwrap_or(0);
        while self
            .starts
            .front()
            .is_some_and(|&t| t + longest <= now || t > now + longest)
        {
            self.starts.pop_front();
        }
    }
}

/// Reads a `Retry-After` value, as delay-seconds or as an HTTP date, into a wait in ms
/// counted from `now_ms` (the wall clock). `None` when unreadable; the wait is capped at
/// [`RETRY_AFTER_CAP_MS`], and a date's at [`BACKOFF_CAP_MS`]: it is read against this
/// page's wall clock, which may be off the server's by any amount (set back an hour, it
/// would otherwise hold sending for an hour).
pub fn parse_retry_after(value: &str, now_ms: u64) -> Option<u64> {
    let value = value.trim();
    let wait = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        parse_u64(value).unwrap_or(u64::MAX).saturating_mul(1000)
    } else {
        http_date_ms(value)?
            .saturating_sub(now_ms)
            .min(BACKOFF_CAP_MS)
    };
    Some(wait.min(RETRY_AFTER_CAP_MS))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the only form RFC 9110 lets a
/// server send, into ms since the epoch.
pub fn http_date_ms(value: &str) -> Option<u64> {
    let mut parts = value.split_ascii_whitespace();
    let _weekday = parts.next()?.strip_suffix(',')?;
    let day = parse_u64(parts.next()?)?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year = parse_i64(parts.next()?)?;
    let mut clock = parts.next()?.split(':').map(parse_u64);
    let (h, m, s) = (clock.next()??, clock.next()??, clock.next()??);
    if parts.next()? != "GMT" || parts.next().is_some() {
        return None;
    }
    if !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 || year < 1970 {
        return None;
    }
    let days = days_from_civil(year, month, day as i64);
    let secs = u64::try_from(days).ok()? * 86_400 + h * 3600 + m * 60 + s;
    Some(secs * 1000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gameball's limits, as the sender keeps them.
    const LIMITS: [(u64, usize); 2] = [(1_100, 100), (31_000, 1_200)];

    fn attempt(failures: u32) -> Attempt {
        Attempt {
            failures,
            retry_after_ms: None,
            slow: false,
            no_answer: false,
            unit: 0.5,
        }
    }

    #[test]
    fn a_retry_follows_retry_after_then_the_back_off() {
        let plan = plan_retry(attempt(3));
        assert_eq!(plan.wait_ms, 2000);
        assert_eq!(plan.cause, HoldCause::Server);
        assert!(plan.spends_attempt);
        let told = plan_retry(Attempt {
            retry_after_ms: Some(7_000),
            ..attempt(3)
        });
        assert_eq!(told.wait_ms, 7_000);
        let slow = plan_retry(Attempt {
            slow: true,
            ..attempt(1)
        });
        assert_eq!(slow.wait_ms, SLOW_RETRY_MS);
    }

    #[test]
    fn only_an_answer_spends_an_attempt_and_no_answer_holds_for_the_network() {
        let lost = plan_retry(Attempt {
            no_answer: true,
            ..attempt(1)
        });
        assert_eq!(lost.cause, HoldCause::Network);
        assert!(!lost.spends_attempt);
        assert!(plan_retry(attempt(9)).spends_attempt);
    }

    #[test]
    fn a_busy_customer_waits_half_a_second_to_a_second_then_longer_each_time() {
        assert_eq!(busy_customer_wait_ms(1, 0.0), CONCURRENT_RETRY_MS);
        assert!(busy_customer_wait_ms(1, 0.999) < 2 * CONCURRENT_RETRY_MS);
        assert_eq!(busy_customer_wait_ms(2, 0.0), 2 * CONCURRENT_RETRY_MS);
        assert_eq!(busy_customer_wait_ms(4, 0.5), 6_000);
        assert_eq!(busy_customer_wait_ms(7, 0.0), CONCURRENT_RETRY_CAP_MS);
        assert_eq!(
            busy_customer_wait_ms(u32::MAX, 0.0),
            CONCURRENT_RETRY_CAP_MS
        );
        assert!(busy_customer_wait_ms(u32::MAX, 0.999) < 2 * CONCURRENT_RETRY_CAP_MS);
    }

    #[test]
    fn backoff_grows_then_caps_with_full_jitter() {
        assert_eq!(backoff_ms(1, 0.0), BACKOFF_FLOOR_MS);
        assert_eq!(backoff_ms(1, 0.5), 500);
        assert_eq!(backoff_ms(1, 0.999_999), 999);
        assert_eq!(backoff_ms(3, 0.5), 2000);
        assert_eq!(backoff_ms(30, 0.5), BACKOFF_CAP_MS / 2);
        assert!(backoff_ms(u32::MAX, 1.0) <= BACKOFF_CAP_MS);
        let mut previous = 0;
        for n in 1..12 {
            let top = backoff_ms(n, 0.999_999);
            assert!(top >= previous, "the step does not shrink at {n}");
            previous = top;
        }
    }

    #[test]
    fn the_rate_limiter_keeps_under_both_windows() {
        let mut limiter = RateLimiter::default();
        let mut now = 0;
        let mut starts = Vec::new();
        while starts.len() < 3_000 {
            let at = limiter.next_allowed(now, &LIMITS);
            now = at;
            limiter.record(now, &LIMITS);
            starts.push(now);
        }
        for (window, limit) in LIMITS {
            for (i, &t) in starts.iter().enumerate() {
                let in_window = starts[i..].iter().take_while(|&&s| s < t + window).count();
                assert!(
                    in_window <= limit,
                    "{in_window} starts in {window} ms from {t}"
                );
            }
        }
        // The floor is nearly reached, not just respected: 3,000 starts need two full 31 s
        // windows plus the 600 of the third, 100 per 1.1 s.
        assert!(now < 68_000, "3,000 starts took until {now} ms");
    }

    #[test]
    fn a_new_sender_inherits_the_budget_the_old_one_spent() {
        let mut old = RateLimiter::default();
        for i in 0..100 {
            old.record(5_000 + i, &LIMITS);
        }
        let text = old.encode(Now::at(5_100));
        assert_eq!(text, "5:100");
        let mut new = RateLimiter::default();
        new.merge(&text, 1_200, Now::at(5_500));
        assert_eq!(
            new.next_allowed(5_500, &LIMITS),
            7_099,
            "the second's 100 are spent"
        );
        new.merge("garbage", 1_200, Now::at(5_500));
        new.merge("7:x,3", 1_200, Now::at(5_500));
        assert_eq!(new.next_allowed(9_000, &LIMITS), 9_000);
    }

    #[test]
    fn an_inherited_budget_merges_into_the_starts_in_order() {
        let mut limiter = RateLimiter::default();
        // A start merged a little ahead (6,999) of a later own one (6,500): out of order.
        limiter.merge("6:1", 1_200, Now::at(6_500));
        limiter.record(6_500, &LIMITS);
        limiter.record(9_000, &LIMITS);
        limiter.merge("5:2,0,0,1", 1_200, Now::at(9_500));
        let starts: Vec<u64> = limiter.starts.iter().copied().collect();
        assert_eq!(starts, [5_999, 5_999, 6_500, 6_999, 8_999, 9_000]);
    }

    #[test]
    fn a_stored_budget_is_written_in_wall_time_and_a_step_bounds_the_wait() {
        const HOUR: u64 = 3_600_000;
        // This page's monotonic clock reads 5 s where the wall clock reads 1,000,005 s.
        let writer = Now {
            mono_ms: 5_100,
            wall_ms: 1_000_005_100,
        };
        let mut old = RateLimiter::default();
        for i in 0..100 {
            old.record(5_000 + i, &LIMITS);
        }
        assert_eq!(old.encode(writer), "1000005:100");
        // The reader's clocks: another origin for its monotonic clock, and a wall clock
        // stepped an hour back, forward, or not at all.
        for wall_step in [0, HOUR as i64, -(HOUR as i64)] {
            let reader = Now {
                mono_ms: 70_000,
                wall_ms: (1_000_005_500i64 + wall_step) as u64,
            };
            let mut new = RateLimiter::default();
            new.merge(&old.encode(writer), 1_200, reader);
            let at = new.next_allowed(reader.mono_ms, &LIMITS);
            assert!(
                at <= reader.mono_ms + 1_100 + 999,
                "a step of {wall_step} ms holds sending until {at}, not past one window"
            );
            if wall_step <= 0 {
                assert!(
                    at > reader.mono_ms,
                    "the spent budget is kept ({wall_step})"
                );
            }
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = http_date_ms("Sun, 06 Nov 1994 08:49:37 GMT").expect("date");
        assert_eq!(now, 784_111_777_000);
        assert_eq!(parse_retry_after("120", now), Some(120_000));
        assert_eq!(parse_retry_after(" 0 ", now), Some(0));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(30_000)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:40:00 GMT", now),
            Some(0)
        );
        assert_eq!(
            parse_retry_after("99999999999999999999", now),
            Some(RETRY_AFTER_CAP_MS)
        );
        // A date read by a clock an hour behind the server's waits no longer than the
        // longest back-off.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now - 3_600_000),
            Some(BACKOFF_CAP_MS)
        );
        for bad in [
            "",
            "-1",
            "1.5",
            "soon",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 PST",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad}");
        }
    }

    #[test]
    fn leap_years_and_month_ends() {
        assert_eq!(http_date_ms("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            http_date_ms("Thu, 29 Feb 2024 00:00:00 GMT"),
            Some(1_709_164_800_000)
        );
        assert_eq!(
            http_date_ms("Sun, 22 Nov 2026 03:56:56 GMT"),
            Some(1_795_319_816_000)
        );
    }
}
