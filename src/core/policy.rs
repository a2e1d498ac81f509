//! What to do after an attempt: classification of Gameball's answers, back-off with jitter,
//! and `Retry-After` reading.

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

/// Gameball's code for "concurrent request in progress for the same customer".
pub const CODE_CONCURRENT: i64 = 2001;
/// Gameball's code for "Gameball is disabled for this account".
pub const CODE_DISABLED: i64 = 6000;

/// Classifies an HTTP answer. `status` 0 stands for "no answer" (network error, timeout).
pub fn classify(status: u16, gameball_code: Option<i64>) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        401 | 403 => Verdict::Unauthorized,
        422 if gameball_code == Some(CODE_CONCURRENT) => Verdict::Concurrent,
        422 if gameball_code == Some(CODE_DISABLED) => Verdict::Retry {
            rate_limited: false,
            slow: true,
        },
        429 => Verdict::Retry {
            rate_limited: true,
            slow: false,
        },
        0 | 408 | 425 | 500..=599 => Verdict::Retry {
            rate_limited: false,
            slow: false,
        },
        _ => Verdict::Rejected,
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
/// Wait after a 2001 answer, before jitter.
pub const CONCURRENT_RETRY_MS: u64 = 500;

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

/// The sender's own limits, as (window ms, requests): Gameball's 100 per second and 1,200
/// per 30 seconds per API key, over windows a little longer than Gameball's. Gameball
/// counts a request when it arrives, the sender when it starts; between the two lie network
/// jitter, slow requests arriving together, and a dead sender's requests still on their way
/// when another tab takes over. A backlog thus drains within 10% of the best rate Gameball
/// accepts without provoking 429s.
pub const RATE_LIMITS: [(u64, usize); 2] = [(1_100, 100), (31_000, 1_200)];

/// A sliding-window log of request starts.
#[derive(Debug, Clone, Default)]
pub struct RateLimiter {
    starts: std::collections::VecDeque<u64>,
}

impl RateLimiter {
    /// When the next request may start: `now` if it may start now.
    pub fn next_allowed(&self, now: u64) -> u64 {
        let mut at = now;
        for (window, limit) in RATE_LIMITS {
            let in_window = self
                .starts
                .iter()
                .rev()
                .take_while(|&&t| t + window > now)
                .count();
            if in_window >= limit {
                // The oldest start of the last `limit` must leave the window first.
                let oldest = self.starts[self.starts.len() - limit];
                at = at.max(oldest + window);
            }
        }
        at
    }

    /// The recent starts as text for storage: `<first second>:<count>,<count>,...`, one
    /// count per second of the longest window. A tab that takes over the sender role reads
    /// it, so it does not spend budget the dead sender already used.
    pub fn encode(&self) -> String {
        use std::fmt::Write;
        let Some(&first) = self.starts.front() else {
            return String::new();
        };
        let base = first / 1000;
        let mut counts: Vec<u32> = Vec::new();
        for &t in &self.starts {
            let slot = (t / 1000 - base) as usize;
            if slot >= counts.len() {
                counts.resize(slot + 1, 0);
            }
            counts[slot] += 1;
        }
        let mut out = format!("{base}:");
        for (i, c) in counts.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{c}");
        }
        out
    }

    /// Adds the starts `encode` wrote (each at the end of its second, which errs on the
    /// side of waiting). Unreadable text adds nothing.
    pub fn merge(&mut self, text: &str) {
        let Some((base, counts)) = text.split_once(':') else {
            return;
        };
        let Ok(base) = base.parse::<u64>() else {
            return;
        };
        let mut starts: Vec<u64> = self.starts.iter().copied().collect();
        for (i, count) in counts.split(',').enumerate().take(64) {
            let count = count.parse::<usize>().unwrap_or(0).min(RATE_LIMITS[1].1);
            starts.extend(std::iter::repeat((base + i as u64) * 1000 + 999).take(count));
        }
        starts.sort_unstable();
        self.starts = starts.into();
    }

    /// Notes a request started at `now`.
    pub fn record(&mut self, now: u64) {
        self.starts.push_back(now);
        let longest = RATE_LIMITS.iter().map(|&(w, _)| w).max().unwrap_or(0);
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
/// counted from `now_ms`. `None` when unreadable; the wait is capped at
/// [`RETRY_AFTER_CAP_MS`].
pub fn parse_retry_after(value: &str, now_ms: u64) -> Option<u64> {
    let value = value.trim();
    let wait = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        value
            .parse::<u64>()
            .unwrap_or(u64::MAX)
            .saturating_mul(1000)
    } else {
        http_date_ms(value)?.saturating_sub(now_ms)
    };
    Some(wait.min(RETRY_AFTER_CAP_MS))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the only form RFC 9110 lets a
/// server send, into ms since the epoch.
pub fn http_date_ms(value: &str) -> Option<u64> {
    let mut parts = value.split_ascii_whitespace();
    let _weekday = parts.next()?.strip_suffix(',')?;
    let day: u64 = parts.next()?.parse().ok()?;
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
    let year: i64 = parts.next()?.parse().ok()?;
    let mut clock = parts.next()?.split(':').map(|p| p.parse::<u64>().ok());
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

    #[test]
    fn classifies_like_the_contract() {
        assert_eq!(classify(200, None), Verdict::Delivered);
        assert_eq!(classify(204, None), Verdict::Delivered);
        assert_eq!(classify(401, Some(1000)), Verdict::Unauthorized);
        assert_eq!(classify(403, Some(8000)), Verdict::Unauthorized);
        assert_eq!(classify(422, Some(2001)), Verdict::Concurrent);
        assert_eq!(classify(400, Some(3000)), Verdict::Rejected);
        assert_eq!(classify(404, Some(3017)), Verdict::Rejected);
        assert_eq!(classify(413, None), Verdict::Rejected);
        assert_eq!(classify(422, Some(3016)), Verdict::Rejected);
        let retry = Verdict::Retry {
            rate_limited: false,
            slow: false,
        };
        assert_eq!(classify(500, Some(5000)), retry);
        assert_eq!(classify(503, None), retry);
        assert_eq!(classify(0, None), retry);
        assert_eq!(
            classify(429, None),
            Verdict::Retry {
                rate_limited: true,
                slow: false
            }
        );
        assert_eq!(
            classify(422, Some(6000)),
            Verdict::Retry {
                rate_limited: false,
                slow: true
            }
        );
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
            let at = limiter.next_allowed(now);
            now = at;
            limiter.record(now);
            starts.push(now);
        }
        for (window, limit) in RATE_LIMITS {
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
            old.record(5_000 + i);
        }
        let text = old.encode();
        assert_eq!(text, "5:100");
        let mut new = RateLimiter::default();
        new.merge(&text);
        assert_eq!(new.next_allowed(5_500), 7_099, "the second's 100 are spent");
        new.merge("garbage");
        new.merge("7:x,3");
        assert_eq!(new.next_allowed(9_000), 9_000);
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
