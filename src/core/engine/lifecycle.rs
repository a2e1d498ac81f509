//! The page's life as the engine sees it: hidden, leaving, shown again, on- and offline.

use super::{Engine, Now};
use crate::core::io::{Action, Answer, Delivered};
use crate::core::relay::Message;
use crate::core::text::decimal;

impl Engine {
    /// The browser says whether it is online. Coming back cuts short a back-off that was
    /// caused by missing answers.
    pub fn handle_online(&mut self, now: Now, online: bool) {
        self.health.set_online(now.mono_ms, online);
    }

    /// The page is hidden and may be leaving (`pagehide` when `leaving`,
    /// `visibilitychange: hidden` otherwise): what may go now goes with keepalive, and
    /// records carried by keepalive requests leave storage, so a later page does not send
    /// them again. If the page stays, their answers arrive here as usual and a record that
    /// must be retried is stored again.
    ///
    /// Only the last tab (the census knows of no other) sends what waits: while other tabs
    /// of the origin live, one of them takes over the queue as it is. But the sender,
    /// leaving (`pagehide`), hands over the keepalive requests it has out all the same: the
    /// browser finishes them without the page, and records left behind would be sent again
    /// by the next sender, a duplicate each time the request succeeds. The next page of the
    /// same tab may even be that "other tab": Chromium starts it in another process, where
    /// its script ran only 38–96 ms after this page's `pagehide` (engines layer, 6 runs), so
    /// under load its hello can come first. A follower whose event such a request carries
    /// hears its record go, and hands it to the next sender as of unknown fate when that one
    /// asks for the census (counted, as it would have been sent again anyway). A leaving
    /// tab says goodbye to the others.
    ///
    /// Records leave storage only while delivery looks healthy (online, no back-off, no
    /// open breaker, no failure since the last success): a keepalive request the page never
    /// hears back from must not be the only copy of an event when the network is failing.
    ///
    /// The sender first compares storage with its queue (`CheckStorage`): a record a script
    /// of this page removed or damaged is written back before the page goes.
    pub fn handle_page_hidden(&mut self, now: Now, leaving: bool) {
        self.audit_on_hide();
        if leaving && self.peers.joined() {
            self.post(Message::Bye(self.peers.tab_id().to_owned()));
        }
        if !self.active {
            return;
        }
        let healthy = self.health.healthy(now.mono_ms) && self.browser.keepalive;
        let exit_send = self.peers.last_tab() && healthy;
        self.hidden = exit_send;
        // `visibilitychange: hidden` follows `pagehide` as a page unloads: it must not
        // undo it. Only showing the page again does.
        self.leaving |= healthy && leaving;
        self.left |= leaving;
        self.start_requests(now);
        // A tab that lost the role keeps its requests' notes: the new sender counts on them.
        if leaving && healthy && !exit_send && self.peers.sender() {
            self.unstore_keepalive_flights();
        }
    }

    /// The page is visible again; `restored`: it came back from the back/forward cache
    /// (and says hello to the other tabs again).
    ///
    /// A page that comes back after it left (`pagehide`) does not treat the requests it
    /// handed over as lost: the browser took them, and may well have delivered them (the
    /// next page did not send them again). Each request that was out waits for its answer
    /// until [`super::HANDED_OVER_WAIT_MS`] from now: an answer is handled as usual; with none
    /// by then, a request handed over is settled as delivered (status 0), as if the page had
    /// not come back, and is not sent again, while one whose records stayed in storage gets
    /// no answer (sent again, counted). Meanwhile a page that shares storage with other tabs
    /// keeps what it handed over out of storage: another tab may hold the sender role by now,
    /// and would take a record written back and send it again (the engine fuzz target, once
    /// a sender leaving with other tabs open handed its requests over: a duplicate,
    /// uncounted). A page alone, or one only hidden, writes every record and note back, so
    /// a crash now leaves them to the next sender (a counted resend), not lost.
    pub fn handle_page_shown(&mut self, now: Now, restored: bool) {
        if restored && self.peers.joined() {
            self.post(Message::Hello(self.peers.tab_id().to_owned()));
            self.announce_token(false);
            // The shell made a page that left for the cache a follower; what it missed there
            // (another tab took the role and settled its events) the sender tells it again.
            self.hand_over_own(true);
        }
        if !self.active {
            return;
        }
        self.hidden = false;
        self.leaving = false;
        if std::mem::take(&mut self.left) {
            for flight in self.flights.iter_mut() {
                if flight.keepalive && flight.came_back.is_none() {
                    let handed_over = !flight.note_stored;
                    flight.came_back =
                        Some((now.mono_ms + super::HANDED_OVER_WAIT_MS, handed_over));
                }
            }
        }
        // What its keepalive requests carry goes back into storage with its flight notes,
        // as if it had never left (a crash now must not lose it); but a page that shares
        // storage keeps out what it handed over as it left, now or at an earlier `pagehide`
        // (the engine fuzz target: written back when the page was next only shown again).
        let joined = self.peers.joined();
        let mut out: Vec<String> = Vec::new();
        let mut writes = Vec::new();
        for flight in self.flights.iter_mut() {
            if joined && flight.came_back.is_some() {
                continue;
            }
            out.extend(flight.ids.iter().cloned());
            if !flight.note_stored {
                flight.note_stored = true;
                writes.push((flight.note.clone(), flight.ids.join(",")));
            }
        }
        // `store_again` writes only what is out of storage.
        self.store_again(&out);
        for (key, value) in writes {
            self.actions.push(Action::Store { key, value });
        }
        self.start_requests(now);
    }

    /// Decides the requests out as the page left whose answer did not come by their
    /// deadline after it came back.
    pub(super) fn settle_came_back(&mut self, now: Now) {
        while let Some((request, handed_over)) = self.flights.came_back_due(now.mono_ms) {
            if !handed_over {
                if let Some(flight) = self.flights.iter_mut().find(|f| f.request == request) {
                    // Taken first: should the page be leaving again, the answer is not
                    // ignored.
                    flight.came_back = None;
                }
                let reason = "no answer after the page came back".to_owned();
                self.handle_answer(now, request, Answer::NoAnswer { reason });
                continue;
            }
            let Some(flight) = self.flights.close(request) else {
                return;
            };
            if flight.note_stored {
                self.actions.push(Action::Remove { key: flight.note });
            }
            self.debug(|| {
                let request = decimal(request);
                [
                    "request ",
                    &request,
                    ": handed over, no answer after coming back",
                ]
                .concat()
            });
            self.drop_heard(&flight.ids);
            self.finish(&flight.ids, |attempts| {
                Ok(Delivered {
                    status: 0,
                    attempts: attempts + 1,
                })
            });
        }
    }

    /// Hands the records of keepalive requests to those requests: they leave storage (the
    /// next page must not send them again) and count as sent on exit.
    pub(super) fn unstore_keepalive_flights(&mut self) {
        let mut removes = Vec::new();
        let mut handed = 0;
        for flight in self.flights.iter_mut().filter(|f| f.keepalive) {
            if flight.note_stored {
                flight.note_stored = false;
                removes.push(flight.note.clone());
            }
            for entry in self.queue.iter_mut() {
                if entry.in_flight == Some(flight.request) && entry.stored {
                    entry.stored = false;
                    handed += 1;
                    removes.push(self.keys.record(entry.id()));
                }
            }
        }
        self.stats.sent_on_exit += handed;
        for key in removes {
            self.actions.push(Action::Remove { key });
        }
    }
}
