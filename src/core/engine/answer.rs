//! An answer's consequences: the flight closes, the destination judges the answer, and each
//! of its events is delivered, rejected, kept for a new key, or tried again.

use super::{Engine, Now};
use crate::core::destination::Judgement;
use crate::core::error::{ErrorCode, TrackerError};
use crate::core::io::{Action, Answer, Delivered};
use crate::core::policy::{busy_customer_wait_ms, parse_retry_after, plan_retry, Attempt, Verdict};
use crate::core::text::decimal;

/// What an HTTP answer said, apart from its verdict.
struct Said {
    status: u16,
    retry_after: Option<String>,
    request_id: Option<String>,
    judgement: Judgement,
}

impl Said {
    /// The error for `code` with the server's details: `text (status N: message)`.
    fn error(&self, code: ErrorCode, text: &str) -> TrackerError {
        let status = self.status;
        TrackerError {
            code,
            message: match &self.judgement.error.message {
                Some(m) => [text, " (status ", &decimal(status.into()), ": ", m, ")"].concat(),
                None => [text, " (status ", &decimal(status.into()), ")"].concat(),
            },
            status: Some(status).filter(|s| *s != 0),
            gameball_code: self.judgement.error.code,
            request_id: self
                .judgement
                .error
                .request_id
                .clone()
                .or_else(|| self.request_id.clone()),
            voucherify_key: self.judgement.error.key.clone(),
            id: None,
        }
    }
}

impl Engine {
    /// Takes out of the queue, silently, the events of a request that ended whose outcome
    /// another tab announced while it was out (they were sent twice after an unknown fate):
    /// they were reported already.
    pub(super) fn drop_heard(&mut self, ids: &[String]) {
        for id in ids {
            if self.queue.is_settled(id) && self.queue.remove(id).is_some() {
                self.actions.push(Action::Remove {
                    key: self.keys.record(id),
                });
            }
        }
    }

    /// Takes the answer to request `request` and decides each of its events' fate. The
    /// answer is taken whatever role this tab holds now: a tab that lost the sender role
    /// still settles (and announces) what it had out.
    pub fn handle_answer(&mut self, now: Now, request: u64, answer: Answer) {
        // As the page unloads the browser may reject a handed-over request's promise though
        // the request goes on: that says nothing. An HTTP answer is news at any time.
        let no_answer = matches!(answer, Answer::NoAnswer { .. });
        let ignored = no_answer
            && self.leaving
            && self
                .flights
                .iter()
                .any(|f| f.request == request && f.keepalive && !f.note_stored);
        if ignored {
            return;
        }
        let Some(flight) = self.flights.close(request) else {
            return;
        };
        if flight.keepalive {
            self.flights.note_keepalive_end(!no_answer, self.hidden);
        }
        if flight.note_stored {
            if no_answer {
                // Its events' fate is unknown until they go out again: the note stays.
                self.flights
                    .add_orphan(flight.note.clone(), flight.ids.clone());
            } else {
                self.actions.push(Action::Remove {
                    key: flight.note.clone(),
                });
            }
        }
        self.drop_heard(&flight.ids);
        for id in &flight.ids {
            if let Some(entry) = self.queue.get_mut(id) {
                entry.in_flight = None;
                entry.unknown_fate |= no_answer;
            }
        }
        self.health.note_answer(!no_answer);
        let said = match answer {
            Answer::Http {
                status,
                retry_after,
                request_id,
                body,
            } => Said {
                status,
                retry_after,
                request_id,
                judgement: self.destination.judge(status, &body),
            },
            Answer::NoAnswer { reason } => {
                self.debug(|| {
                    ["request ", &decimal(request), ": no answer (", &reason, ")"].concat()
                });
                Said {
                    status: 0,
                    retry_after: None,
                    request_id: None,
                    judgement: self.destination.judge(0, ""),
                }
            }
        };
        let verdict = said.judgement.verdict;
        let status = said.status;
        self.debug(|| {
            let (request, status) = (decimal(request), decimal(status.into()));
            [
                "request ",
                &request,
                ": status ",
                &status,
                " → ",
                verdict.as_str(),
            ]
            .concat()
        });
        let name = self.destination.name();
        match verdict {
            Verdict::Delivered => {
                self.health.delivered();
                self.finish(&flight.ids, |attempts| {
                    Ok(Delivered {
                        status,
                        attempts: attempts + 1,
                    })
                });
            }
            Verdict::Rejected => {
                let e = said.error(ErrorCode::Rejected, &[name, " rejected the event"].concat());
                self.finish(&flight.ids, |_| Err(e.clone()));
            }
            Verdict::Unauthorized => {
                self.health.pause();
                let e = said.error(ErrorCode::Unauthorized, &self.unauthorized_error().message);
                let unreported: Vec<String> = self
                    .queue
                    .iter()
                    .filter(|e| !e.reported)
                    .map(|e| e.id().to_owned())
                    .collect();
                for id in unreported {
                    self.report_unauthorized(&id, Some(&e));
                }
            }
            Verdict::Concurrent => {
                for id in &flight.ids {
                    let unit = self.rng.next_unit();
                    if let Some(entry) = self.queue.get_mut(id) {
                        entry.busy = entry.busy.saturating_add(1);
                        entry.not_before =
                            now.mono_ms + busy_customer_wait_ms(entry.busy.into(), unit);
                    }
                }
            }
            Verdict::Retry { slow, .. } => {
                let plan = plan_retry(Attempt {
                    failures: self.health.failed(request, self.flights.next_request()),
                    retry_after_ms: said
                        .retry_after
                        .as_deref()
                        .and_then(|v| parse_retry_after(v, now.wall_ms)),
                    slow,
                    no_answer,
                    unit: self.rng.next_unit(),
                });
                self.health.hold(now.mono_ms, &plan);
                let wait = plan.wait_ms;
                self.debug(|| ["holding all sends for ", &decimal(wait), " ms"].concat());
                if plan.spends_attempt {
                    let e = said.error(ErrorCode::Expired, "the event ran out of attempts");
                    self.retry_or_expire(&flight.ids, &e);
                }
            }
        }
        self.settle_orphans();
        // Records a hidden page took out of storage and that stay queued go back in.
        self.store_again(&flight.ids);
        // A tab that lost the role while this request was out (its page went into the
        // back/forward cache, its lease lapsed) cannot send what stays queued: it hands it to
        // the sender, which answers for an event it settled meanwhile (the fuzz target found
        // a restored page waiting for ever for one the sender had dropped as `queue_full`).
        self.hand_over_ids(&flight.ids);
    }
}
