//! Hostile clocks and a customer's order (issue 12 §1 and §4): a wall clock that steps either
//! way changes no deadline in the page, and no event of a customer leaves before an earlier
//! one that still waits.

use super::*;

const HOUR: i64 = 3_600_000;

/// The issue's example: the first answer is a 503, so the sender backs off for under a
/// second; just then the wall clock is set back an hour (or six seconds, or a second), or
/// forward. The event is delivered when the back-off ends, not an hour (or 6 s) later.
#[test]
fn a_503_then_the_wall_clock_set_back_delivers_within_the_back_off() {
    for step in [-HOUR, -6_000, -1_000, 1_000, 6_000, HOUR] {
        let mut h = Harness::new(config(|_| {}));
        let id = h.send(event("login", 1));
        h.poll();
        let req = h.only_request();
        h.answer(&req, http(503, ""));
        let started = h.now;
        h.wall_step += step;
        let mut delivered_after = None;
        for _ in 0..100 {
            h.advance(50);
            if let Some(req) = h.take_sent().pop() {
                h.answer(&req, http(200, ""));
                delivered_after = Some(h.now - started);
                break;
            }
        }
        let after = delivered_after
            .unwrap_or_else(|| panic!("a step of {step} ms: nothing sent within 5 s"));
        // The first back-off is at most BACKOFF_BASE_MS (1 s) with full jitter.
        assert!(
            after <= 1_050,
            "a step of {step} ms: delivered {after} ms after the 503"
        );
        assert!(h.report(&id).result.is_ok());
    }
}

/// A wall clock moved an hour forward while events wait makes them no older: their age
/// follows the monotonic clock in the page (here eventTtlMs is 30 minutes).
#[test]
fn a_wall_clock_step_forward_expires_nothing_and_a_step_back_keeps_nothing_longer() {
    let mut h = Harness::new(config(|r| r.event_ttl_ms = Some(1_800_000.0)));
    h.engine.handle_online(h.at(), false);
    let id = h.send(event("login", 1));
    h.wall_step += HOUR;
    h.advance(1_000);
    assert!(h.reports.is_empty(), "expired by a step: {:?}", h.reports);
    assert_eq!(h.engine.pending(), 1);
    // Set back two hours instead: the event still expires after 30 minutes of waiting.
    h.wall_step -= 2 * HOUR;
    h.advance(1_800_000);
    assert_eq!(
        h.report(&id).result.as_ref().map_err(|e| e.code),
        Err(ErrorCode::Expired)
    );
}

/// A record's age across pages is the wall clock's difference, never negative: written by
/// a clock an hour ahead, it is loaded as new, not as unborn, and it expires on time.
#[test]
fn a_record_from_a_clock_ahead_is_loaded_as_new_and_expires_on_time() {
    let mut h = Harness::new(config(|r| r.event_ttl_ms = Some(60_000.0)));
    h.engine.handle_online(h.at(), false);
    h.wall_step = HOUR;
    let id = h.send(event("login", 1));
    h.wall_step = 0;
    h.reload();
    h.engine.handle_online(h.at(), false);
    h.advance(59_000);
    assert!(h.reports.is_empty(), "{:?}", h.reports);
    h.advance(1_001);
    assert_eq!(
        h.report(&id).result.as_ref().map_err(|e| e.code),
        Err(ErrorCode::Expired)
    );
}

/// Ids follow sendEvent order whatever the wall clock does, in a page and in the next page
/// (which reads the stored ids), so a customer's events still leave in order.
#[test]
fn ids_follow_send_order_when_the_wall_clock_steps_back() {
    let mut h = Harness::new(config(|_| {}));
    h.engine.handle_online(h.at(), false);
    let mut ids = vec![h.send(for_customer("c", "a", 0))];
    h.wall_step -= HOUR;
    ids.push(h.send(for_customer("c", "b", 1)));
    h.reload();
    h.wall_step -= HOUR;
    h.engine.handle_online(h.at(), false);
    ids.push(h.send(for_customer("c", "c", 2)));
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    h.engine.handle_online(h.at(), true);
    h.poll();
    let req = h.only_request();
    assert_eq!(event_names(&req), ["a", "b", "c"]);
}

/// What a page decides and when, as (monotonic ms, request body) pairs, in a seeded world
/// with every kind of answer, offline spells, flushes and reloads; `steps` inserts wall-clock
/// steps (small and an hour, back and forward) between the inputs.
fn timeline(seed: u64, steps: bool) -> Vec<(u64, String)> {
    let mut rng = Rng::new(seed);
    let mut clock = Rng::new(seed ^ 0xc10c);
    let mut h = Harness::new(config(|r| r.max_attempts = Some(1000.0)));
    let mut out = Vec::new();
    let mut in_flight: Vec<HttpRequest> = Vec::new();
    for i in 0..150u64 {
        if steps && clock.next_u64() % 3 == 0 {
            h.wall_step += wall_step(&mut clock);
        }
        match rng.next_u64() % 10 {
            0..=2 => {
                let c = ["a", "b", "c"][(rng.next_u64() % 3) as usize];
                h.send(for_customer(c, "e", i));
            }
            3 => h.advance(rng.next_u64() % 5_000),
            4 => {
                let online = rng.next_u64() % 3 != 0;
                h.engine.handle_online(h.at(), online);
                h.apply();
            }
            5 => {
                h.engine.handle_flush(h.at());
                h.apply();
            }
            _ => {
                h.poll();
                for req in h.take_sent() {
                    out.push((h.now, req.body.clone()));
                    in_flight.push(req);
                }
                if in_flight.is_empty() {
                    continue;
                }
                let req = in_flight.remove((rng.next_u64() as usize) % in_flight.len());
                let answer = match rng.next_u64() % 6 {
                    0 => http(503, ""),
                    1 => Answer::Http {
                        status: 429,
                        retry_after: Some("3".into()),
                        request_id: None,
                        body: String::new(),
                    },
                    2 => http(422, r#"{"code":2001}"#),
                    3 => Answer::NoAnswer {
                        reason: "lost".into(),
                    },
                    _ => http(200, ""),
                };
                h.answer(&req, answer);
            }
        }
        // The engine's own wakeups, as the shell's timer takes them.
        if let Some(at) = h.engine.poll_timeout(h.at()) {
            if at <= h.now + 100 {
                h.now = at.max(h.now);
                h.poll();
            }
        }
        for req in h.take_sent() {
            out.push((h.now, req.body.clone()));
            in_flight.push(req);
        }
    }
    out
}

/// The class: a step of the wall clock, either way, small or an hour, at any point, moves no
/// request in time nor changes one: the whole timeline of requests is the same as without.
#[test]
fn wall_clock_steps_change_no_request_and_no_moment_of_one() {
    for seed in 0..40 {
        let calm = timeline(seed, false);
        let stepped = timeline(seed, true);
        assert!(calm.len() > 10, "seed {seed}: too few requests to compare");
        assert_eq!(calm, stepped, "seed {seed}");
    }
}

/// The issue's example of §4: a customer's event gets 2001 ("a request for this customer is
/// in progress"); while it waits for its retry, the customer's next event must not go first.
/// Another customer is not held up.
#[test]
fn a_2001_wait_holds_the_customers_later_events_not_the_others() {
    let mut h = Harness::new(config(|_| {}));
    h.send(for_customer("c", "e7", 7));
    h.poll();
    let req = h.only_request();
    h.answer(&req, http(200, ""));
    h.send(for_customer("c", "e8", 8));
    h.poll();
    let req = h.only_request();
    h.answer(&req, http(422, r#"{"code":2001}"#));
    h.send(for_customer("c", "e9", 9));
    h.send(for_customer("other", "x", 1));
    h.poll();
    let sent = h.take_sent();
    let names: Vec<Vec<String>> = sent.iter().map(event_names).collect();
    assert_eq!(names, [["x"]], "only the other customer's event goes");
    h.answer(&sent[0], http(200, ""));
    h.advance(1_001);
    let req = h.only_request();
    assert_eq!(event_names(&req), ["e8", "e9"], "8 then 9, never 9 first");
}

/// Same-name events cannot share a request: the second waits for the first's answer, and a
/// 2001 on the first keeps it waiting too.
#[test]
fn a_customers_events_that_cannot_share_a_request_leave_one_by_one_in_order() {
    let mut h = Harness::new(config(|_| {}));
    h.send(for_customer("c", "e", 1));
    h.send(for_customer("c", "e", 2));
    h.poll();
    let first = h.only_request();
    assert!(first.body.contains(r#""n":1"#));
    h.answer(&first, http(422, r#"{"code":2001}"#));
    h.advance(10);
    assert!(h.take_sent().is_empty(), "2 must not overtake 1");
    h.advance(1_000);
    let again = h.only_request();
    assert!(again.body.contains(r#""n":1"#), "{}", again.body);
    h.answer(&again, http(200, ""));
    h.poll();
    let second = h.only_request();
    assert!(second.body.contains(r#""n":2"#));
}
