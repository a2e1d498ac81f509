//! The engine driven by random input sequences: the tab worlds of the native tests
//! (`core::engine::testkit`), but each step is an operation libFuzzer chose (events sent,
//! answers of any status and body, time passing and requests timing out, storage events and
//! messages delivered, pages hidden and shown, flushes, role changes, storage full or
//! cleared, other libraries' keys, customers logged in and out with contact details and
//! session tokens, events without a customerId, a second config with `debug` on). One world
//! in four sends to Voucherify, the others to Gameball; one in four runs in a browser without
//! `fetch` keepalive; one in four is configured with tight bounds (`maxAttempts` 1–3,
//! `maxQueueEvents` 1–6), so events are given up as `expired` and `queue_full` while others
//! wait, are out or move between tabs. Every request is checked as it leaves (a token or contact detail rides
//! only with its customer's events); after every step the world's step invariants hold (the
//! byte accounting; the place for every per-step invariant); once healed, every event
//! settled exactly once in its page, nothing was lost, each customer's events first reached
//! the server in order, and every duplicate the server got is a counted unknown-fate resend.
#![no_main]

use arbitrary::Arbitrary;
use gameball_tracker::core::engine::testkit::{Api, Limits, Op, World};
use gameball_tracker::core::engine::Browser;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Script {
    /// The world's own coin flips (which timed-out requests reached the server), its
    /// destination and its browser.
    seed: u64,
    ops: Vec<Op>,
}

fuzz_target!(|script: Script| {
    // Drawn from the seed, so the corpus keeps its shape.
    let api = if script.seed % 4 == 3 {
        Api::Voucherify
    } else {
        Api::Gameball
    };
    let browser = Browser {
        keepalive: (script.seed >> 2) % 4 != 0,
        broadcast_channel: (script.seed >> 10) % 4 != 0,
    };
    let limits = if (script.seed >> 4) % 4 == 0 {
        Limits {
            max_attempts: 1 + (script.seed >> 6) as u32 % 3,
            max_queue_events: 1 + (script.seed >> 8) as u32 % 6,
        }
    } else {
        Limits::ROOMY
    };
    let mut world = World::with_limits(api, browser, limits, script.seed);
    for op in script.ops.into_iter().take(400) {
        world.apply(op);
        world.check_step();
    }
    world.heal();
    world.check_healed("fuzz input");
});
