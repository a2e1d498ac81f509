//! The page's life as the engine sees it: hidden, leaving, shown again, on- and offline.

use super::Engine;
use crate::core::io::Action;
use crate::core::relay::Message;

impl Engine {
    /// The browser says whether it is online. Coming back cuts short a back-off that was
    /// caused by missing answers.
    pub fn handle_online(&mut self, now: u64, online: bool) {
        self.health.set_online(now, online);
    }

    /// The page is hidden and may be leaving (`pagehide` when `leaving`,
    /// `visibilitychange: hidden` otherwise): what may go now goes with keepalive, and
    /// records carried by keepalive requests leave storage, so a later page does not send
    /// them again. If the page stays, their answers arrive here as usual and a record that
    /// must be retried is stored again.
    ///
    /// Only the last tab does this (the census knows of no other): while other tabs of the
    /// origin live, one of them takes over the queue as it is, and what this tab has in
    /// flight is the counted window (a follower still waiting for an outcome must not lose
    /// its event to an answer nobody will see). A leaving tab says goodbye to the others.
    ///
    /// Records leave storage only while delivery looks healthy (online, no back-off, no
    /// open breaker, no failure since the last success): a keepalive request the page never
    /// hears back from must not be the only copy of an event when the network is failing.
    pub fn handle_page_hidden(&mut self, now: u64, leaving: bool) {
        if leaving && self.peers.joined() {
            self.post(Message::Bye(self.peers.tab_id().to_owned()));
        }
        if !self.active {
            return;
        }
        let exit_send = self.peers.last_tab() && self.health.healthy(now);
        self.hidden = exit_send;
        // `visibilitychange: hidden` follows `pagehide` as a page unloads: it must not
        // undo it. Only showing the page again does.
        self.leaving |= exit_send && leaving;
        self.start_requests(now);
    }

    /// The page is visible again; `restored`: it came back from the back/forward cache
    /// (and says hello to the other tabs again).
    pub fn handle_page_shown(&mut self, now: u64, restored: bool) {
        if restored && self.peers.joined() {
            self.post(Message::Hello(self.peers.tab_id().to_owned()));
        }
        if !self.active {
            return;
        }
        self.hidden = false;
        if std::mem::take(&mut self.leaving) {
            // Back from the back/forward cache: the answers of the requests that carried
            // records out were ignored, so their fate is unknown; they count as cut off.
            let cut = self.flights.close_where(|f| f.keepalive && !f.note_stored);
            for flight in cut {
                for entry in self.queue.iter_mut() {
                    if entry.in_flight == Some(flight.request) {
                        entry.in_flight = None;
                        entry.unknown_fate = true;
                    }
                }
                self.actions.push(Action::Store {
                    key: flight.note.clone(),
                    value: flight.ids.join(","),
                });
                self.flights.add_orphan(flight.note, flight.ids);
            }
        }
        // The page stayed: what its keepalive requests carry goes back into storage with
        // its flight notes, as if it had never left (a crash now must not lose it).
        let mut writes = Vec::new();
        for entry in self.queue.iter_mut() {
            if !entry.stored {
                entry.stored = true;
                writes.push((self.keys.record(entry.id()), entry.record().encode()));
            }
        }
        for flight in self.flights.iter_mut() {
            if !flight.note_stored {
                flight.note_stored = true;
                writes.push((flight.note.clone(), flight.ids.join(",")));
            }
        }
        for (key, value) in writes {
            self.actions.push(Action::Store { key, value });
        }
        self.start_requests(now);
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
