//! The two clocks the engine is given, and the one rule of which serves what.
//!
//! - **Monotonic** (`mono_ms`): the page's monotonic clock (`performance.now()` plus a fixed
//!   origin). It never steps, and it means nothing outside the page that read it. Every
//!   deadline and interval kept in memory runs on it: back-off holds, busy-customer waits,
//!   the rate limiter's window, the take-over and peer-flush waits, the wait for answers
//!   after a page came back, the flush interval, and an event's age once it is in memory.
//! - **Wall** (`wall_ms`): `Date.now()`, milliseconds since the epoch. It may step either
//!   way at any moment (NTP, a user, a script replacing `Date.now`). It is read only where a
//!   time must outlive the page or cross tabs: an event's creation time in its record (its
//!   age when a later page loads it), the rate budget a sender leaves in storage, and an
//!   HTTP-date `Retry-After`. Each of those uses is bounded so that a step cannot stall
//!   sending nor make it unbounded: see [`Now::age_ms`] and `RateLimiter::merge`.
//!
//! The sender election never compares wall times across tabs (src/web/glue.js judges a
//! lease by whether it changed within the observer's own monotonic time), so a tab whose
//! clock jumped forward cannot take the role from a live sender.

/// Both clocks, read together by the shell for one input to the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic milliseconds (`performance.now()` plus a fixed origin): deadlines in page.
    pub mono_ms: u64,
    /// Milliseconds since the epoch (`Date.now()`): times written to storage.
    pub wall_ms: u64,
}

impl Now {
    /// Both clocks at `ms`: a wall clock that has not stepped since the monotonic clock's
    /// origin (native tests whose clock never steps).
    pub fn at(ms: u64) -> Now {
        Now {
            mono_ms: ms,
            wall_ms: ms,
        }
    }

    /// `ms` later on both clocks.
    pub fn plus(self, ms: u64) -> Now {
        Now {
            mono_ms: self.mono_ms.saturating_add(ms),
            wall_ms: self.wall_ms.saturating_add(ms),
        }
    }

    /// The monotonic time at which an event created at wall time `created_wall_ms` (read from
    /// its record) counts as born: its age is the wall clock's difference now, never
    /// negative (a clock set back, or another tab's clock behind, makes it young, not
    /// unborn), and from here on it ages with the monotonic clock, so a step of the wall
    /// clock while it waits in memory neither expires it nor keeps it.
    pub fn born_mono(self, created_wall_ms: u64) -> u64 {
        let age = self.wall_ms.saturating_sub(created_wall_ms);
        self.mono_ms.saturating_sub(age)
    }

    /// Milliseconds since monotonic time `born` (see [`Now::born_mono`]).
    pub fn age_ms(self, born: u64) -> u64 {
        self.mono_ms.saturating_sub(born)
    }

    /// The wall time of monotonic time `mono` (as this page's clocks stand now).
    pub fn wall_of(self, mono: u64) -> u64 {
        shift(mono, self.mono_ms, self.wall_ms)
    }

    /// The monotonic time of wall time `wall`, no later than now: a time another tab wrote
    /// from a clock ahead of this one is taken as now, not as the future.
    pub fn mono_of(self, wall: u64) -> u64 {
        shift(wall, self.wall_ms, self.mono_ms).min(self.mono_ms)
    }
}

/// `t` moved from a clock reading `from` to one reading `to` at the same instant (saturating
/// at 0 and `u64::MAX`).
fn shift(t: u64, from: u64, to: u64) -> u64 {
    if to >= from {
        t.saturating_add(to - from)
    } else {
        t.saturating_sub(from - to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u64 = 3_600_000;

    #[test]
    fn an_age_never_goes_negative_and_then_follows_the_mono_clock() {
        let now = Now {
            mono_ms: 5_000_000,
            wall_ms: 1_700_000_000_000,
        };
        // Written by a clock an hour ahead: born now, not in an hour.
        assert_eq!(now.born_mono(now.wall_ms + HOUR), now.mono_ms);
        let born = now.born_mono(now.wall_ms - 2_000);
        assert_eq!(now.age_ms(born), 2_000);
        // The wall clock steps back an hour while the event waits: it still ages.
        let later = Now {
            mono_ms: now.mono_ms + 1_000,
            wall_ms: now.wall_ms - HOUR,
        };
        assert_eq!(later.age_ms(born), 3_000);
    }

    #[test]
    fn wall_and_mono_times_convert_and_the_future_is_now() {
        let now = Now {
            mono_ms: 10_000,
            wall_ms: 1_700_000_000_000,
        };
        assert_eq!(now.wall_of(9_000), 1_699_999_999_000);
        assert_eq!(now.mono_of(1_699_999_999_000), 9_000);
        assert_eq!(now.mono_of(now.wall_ms + HOUR), now.mono_ms);
        assert_eq!(now.mono_of(0), 0);
    }
}
