//! The protocol between the tabs of one origin and key, whole: joining, the sender role
//! and its take-over, adopting records from storage and from messages, the census that
//! decides "last tab", the flush handshake, outcomes heard from the sender, and storage
//! cleared or changed under the queue. The shell only carries messages and storage events
//! here and performs what comes back.

use super::{stored_text, Admission, Engine, Now, Role};
use crate::core::error::ErrorCode;
use crate::core::error::TrackerError;
use crate::core::io::{Action, Report};
use crate::core::record::{is_of_unknown_fate, is_token_bound, Record};
use crate::core::relay::{Message, SessionToken};
use crate::core::storage_key::KeyKind;
use crate::core::text::decimal;

impl Engine {
    /// Storage is shared with other tabs: this tab follows until the election makes it the
    /// sender, knowing the queue as `stored` (every entry under the prefix, read now). It
    /// says hello so that the others count it, and asks for their census so that it counts
    /// them (a tab that becomes the sender must know whether it is the last).
    pub fn handle_join(&mut self, stored: Vec<(String, String)>) {
        self.peers.join();
        for (key, value) in stored {
            match self.keys.kind(&key) {
                KeyKind::ResentTotal => self.note_resent_total(&value),
                KeyKind::Record(id) => {
                    self.queue.hear_id(id);
                    self.peers.shadow.insert(key, value);
                }
                KeyKind::FlightNote => {
                    self.peers.shadow.insert(key, value);
                }
                KeyKind::Marker => self.marker_known = true,
                _ => {}
            }
        }
        self.post(Message::Hello(self.peers.tab_id().to_owned()));
        self.announce_token(false);
        self.post(Message::Census);
    }

    /// The election's word: this tab holds the sender role (taken at the next
    /// [`Engine::handle_timeout`] once the take-over wait ended, with a `ReadStorage`), or
    /// another tab took it. A tab that loses the role keeps what it has in flight and
    /// settles and announces it as the answers come.
    pub fn handle_role(&mut self, now: Now, role: Role) {
        if role == Role::Follower && self.peers.sender() {
            // What it holds may be sent by the next sender, or was handed over as this page
            // left for the back/forward cache, while it hears nothing: should it send an
            // event again once it holds the role again, that is a resend of unknown fate
            // (the engine fuzz target: a page back from the cache took the role again and
            // sent two events its last exit had handed over, uncounted).
            for entry in self.queue.iter_mut() {
                entry.unknown_fate |= entry.in_flight.is_none();
            }
        }
        self.peers.set_role(now.mono_ms, role);
    }

    /// The answer to `ReadStorage`: every entry under the prefix. This tab takes over the
    /// whole stored queue and starts sending; records a dead sender had in flight are sent
    /// again and counted in `resent_unknown`.
    pub fn handle_storage_read(&mut self, now: Now, stored: Vec<(String, String)>) {
        self.peers.promote();
        // A sorted Vec, not a BTreeSet: the module's one sort and no set code of its own.
        let mut in_storage: Vec<&str> = stored.iter().map(|(k, _)| k.as_str()).collect();
        in_storage.sort_unstable();
        let in_storage = |key: &str| in_storage.binary_search(&key).is_ok();
        // Its own events that left storage were taken by the old sender, which may have
        // delivered them and died before this tab heard the outcome: sending them again is
        // right (nothing is lost), and it is counted like any resend of unknown fate.
        let keys = &self.keys;
        for entry in self.queue.iter_mut() {
            let key = keys.record(entry.id());
            if entry.stored && entry.in_flight.is_none() && !in_storage(&key) {
                entry.unknown_fate = true;
            }
        }
        // Its own events go back into storage first (marked as of unknown fate where they
        // are, should this tab lose the role before it sends them): a clear or a late read
        // may have taken them out while another tab was sending. Unchanged values are no-ops.
        let own: Vec<(String, String)> = self
            .queue
            .iter()
            .filter(|e| e.stored)
            .map(|e| (self.keys.record(e.id()), stored_text(e)))
            .collect();
        for (key, value) in own {
            self.actions.push(Action::Store { key, value });
        }
        // Records this tab heard of that are no longer in storage (cleared, or not yet
        // visible here): the dead sender may never have sent them.
        let missing: Vec<(String, String)> = std::mem::take(&mut self.peers.shadow)
            .into_iter()
            .filter(|(k, _)| !in_storage(k))
            .collect();
        let mut stored = stored;
        for (key, value) in missing {
            match self.keys.kind(&key) {
                KeyKind::Record(id) => {
                    let id = id.to_owned();
                    self.adopt(now, &key, &id, &value, true);
                }
                KeyKind::FlightNote => {
                    // The note goes back to storage and is read as the others are.
                    self.actions.push(Action::Store {
                        key: key.clone(),
                        value: value.clone(),
                    });
                    stored.push((key, value));
                }
                _ => {}
            }
        }
        self.load(now, stored);
        // Records handed over as of unknown fate while this tab followed: the flag came with
        // the hand-over, not with the record, which may have come back into storage since
        // (found by the engine's fuzz target: loaded from storage, sent again uncounted).
        // Its record goes back marked, should this tab lose the role before it sends it.
        for id in std::mem::take(&mut self.peers.unknown_fate) {
            if let Some(entry) = self.queue.get_mut(&id).filter(|e| e.in_flight.is_none()) {
                entry.unknown_fate = true;
                let value = stored_text(entry);
                self.actions.push(Action::Store {
                    key: self.keys.record(&id),
                    value,
                });
            }
        }
        self.marker_known = true;
        self.actions.push(Action::Store {
            key: self.keys.marker().to_owned(),
            value: "1".to_owned(),
        });
        // Every open tab says hello to the new sender: it needs to know if it is the last.
        self.post(Message::Census);
        if self.peers.end_peer_flush() {
            // This page's flush() asked a sender that is now this tab.
            self.flush_now(now);
        } else {
            self.start_requests(now);
        }
    }

    /// Adopts records found in storage (an earlier page load, a dead sender's queue) and the
    /// notes a dead sender left. Unreadable records are removed and counted as `corrupt`;
    /// records of settled events are removed; the queue bounds are applied afterwards.
    fn load(&mut self, now: Now, stored: Vec<(String, String)>) {
        let mut orphaned: Vec<String> = Vec::new();
        for (key, value) in stored {
            match self.keys.kind(&key) {
                KeyKind::ResentTotal => self.note_resent_total(&value),
                KeyKind::RateBudget => {
                    self.health
                        .inherit_rate_budget(&value, self.destination.rate_limits(), now)
                }
                KeyKind::FlightNote if self.flights.iter().any(|f| f.note == key) => {
                    // This tab's own request, still out (it held the role before).
                }
                KeyKind::FlightNote => {
                    // A flight whose answer nobody saw: its sender died with it out.
                    let ids: Vec<String> = value.split(',').map(str::to_owned).collect();
                    orphaned.extend(ids.iter().cloned());
                    self.flights.add_orphan(key, ids);
                }
                KeyKind::Record(id) => {
                    let id = id.to_owned();
                    self.take_stored(now, &key, &id, &value);
                }
                _ => {}
            }
        }
        for entry in self.queue.iter_mut() {
            // Its own events a sender took out of storage may have left with that sender
            // (found by the engine's fuzz target: sent again uncounted).
            let maybe_out = orphaned.iter().any(|id| id == entry.id()) || entry.taken_out;
            if entry.in_flight.is_none() && maybe_out {
                entry.unknown_fate = true;
            }
        }
        self.enforce_bounds(None);
        self.settle_orphans();
        let pending = self.queue.len();
        self.debug(|| ["loaded ", &decimal(pending as u64), " stored events"].concat());
    }

    /// Takes one stored record unless it is known, settled (its key is removed), or
    /// unreadable (removed and counted as `corrupt`). Returns whether it was taken. A record
    /// marked as of unknown fate by the tab that wrote it is sent again counted.
    fn take_stored(&mut self, now: Now, key: &str, id: &str, value: &str) -> bool {
        match self.queue.admit(id, value, now) {
            Admission::Taken => {
                if let Some(entry) = self.queue.get_mut(id) {
                    entry.unknown_fate = is_of_unknown_fate(value);
                }
                true
            }
            Admission::Known => false,
            Admission::Settled => {
                // Stored by a tab that may hold it without its outcome (found by the seeded
                // tab worlds: a tab that took the queue after the event settled waited for
                // ever once its record, written back, was removed here in silence).
                self.announce_again(id, value);
                self.actions.push(Action::Remove {
                    key: key.to_owned(),
                });
                false
            }
            Admission::Corrupt => {
                self.stats.dropped.add("corrupt");
                self.actions.push(Action::Remove {
                    key: key.to_owned(),
                });
                false
            }
        }
    }

    /// Takes a record another tab wrote or handed over, of unknown fate if it says so or
    /// `unknown`, and stores it as this tab holds it (an unchanged value is a no-op for the
    /// others).
    pub(super) fn adopt(&mut self, now: Now, key: &str, id: &str, value: &str, unknown: bool) {
        if !self.take_stored(now, key, id, value) {
            return;
        }
        if let Some(entry) = self.queue.get_mut(id) {
            entry.unknown_fate |= unknown;
            self.actions.push(Action::Store {
                key: key.to_owned(),
                value: stored_text(entry),
            });
        }
        if self.health.paused() {
            self.report_unauthorized(id, None);
        }
        self.enforce_bounds(None);
    }

    /// Another tab changed our part of storage (a `storage` event; `key` is `None` when it
    /// was cleared). The sender adopts new records, removes records of settled events that
    /// came back, and writes again what another script removed or damaged. A follower keeps
    /// its copy of the others' records (see `shadow`).
    pub fn handle_storage_event(&mut self, now: Now, key: Option<&str>, value: Option<&str>) {
        let Some(key) = key else {
            self.storage_cleared();
            return;
        };
        let id = match self.keys.kind(key) {
            KeyKind::Record(id) => id,
            KeyKind::ResentTotal => {
                if let Some(value) = value {
                    self.note_resent_total(value);
                }
                return;
            }
            KeyKind::FlightNote if self.peers.sender() => {
                self.note_foreign_flight(key, value);
                return;
            }
            KeyKind::FlightNote => {
                // A follower keeps the notes too: a clear during the take-over must not
                // erase what the dead sender had out.
                match value {
                    Some(v) => self.peers.shadow.insert(key.to_owned(), v.to_owned()),
                    None => self.peers.shadow.remove(key),
                };
                return;
            }
            _ => return,
        };
        if !self.peers.sender() {
            if let Some(entry) = self.queue.get_mut(id) {
                // Once taken out, it stays so until its outcome: a sender that adopted it
                // as of unknown fate writes it back, and may lose the role before it sends
                // it, and the flag is not in storage (found by the engine's fuzz target:
                // this tab then took the queue over and sent it again uncounted).
                // So is one a sender wrote back marked as of unknown fate.
                entry.taken_out |= value.map_or(true, is_of_unknown_fate);
                entry.unsaved &= value.is_none();
                return;
            }
            match value {
                Some(v) if !self.queue.is_settled(id) => {
                    self.queue.hear_id(id);
                    self.peers.shadow.insert(key.to_owned(), v.to_owned());
                }
                _ => {
                    self.peers.shadow.remove(key);
                }
            }
            return;
        }
        match self.queue.get_mut(id) {
            Some(entry) => {
                // Another tab marked it (see `take_stored`).
                entry.unknown_fate |=
                    entry.in_flight.is_none() && value.is_some_and(is_of_unknown_fate);
                // Intact: the same record, in any form this version reads, marked or not.
                let intact = value
                    .and_then(Record::decode)
                    .is_some_and(|r| r.encode() == entry.text());
                if entry.stored && !intact {
                    let value = stored_text(entry);
                    self.stats.restored += 1;
                    self.actions.push(Action::Store {
                        key: key.to_owned(),
                        value,
                    });
                }
            }
            None => {
                // Written again even though the event says it is there: storage events
                // arrive late, and the record may have been cleared since by this very tab,
                // which hears no event of its own clear (the randomized tab test loses
                // events without this write).
                if let Some(value) = value {
                    let id = id.to_owned();
                    self.adopt(now, key, &id, value, false);
                }
            }
        }
    }

    /// Another tab wrote (or removed) a flight note while this tab sends: a tab that lost
    /// the role with a request out, writing its note back after a clear. Its events' fate
    /// is unknown until that tab's answer is announced: a resend here is counted, and the
    /// note is settled like any orphan (a tab that dies with it out leaves it behind).
    ///
    /// A note removed is not forgotten until its events settle here: the removal may be
    /// heard after this tab wrote the note back on a clear (storage events come late), and
    /// the note it wrote would outlive everything (found by the seeded tab worlds).
    fn note_foreign_flight(&mut self, key: &str, value: Option<&str>) {
        if self.flights.iter().any(|f| f.note == key) {
            return;
        }
        let Some(value) = value else {
            self.settle_orphans();
            return;
        };
        let ids: Vec<String> = value.split(',').map(str::to_owned).collect();
        for id in &ids {
            if let Some(entry) = self.queue.get_mut(id) {
                entry.unknown_fate |= entry.in_flight.is_none();
            }
        }
        self.flights.add_orphan(key.to_owned(), ids);
        self.settle_orphans();
    }

    /// Storage refused to store `key` (a full quota, a browser that forbids it). A follower
    /// hands the record to the sender, which cannot hear of it through storage, and tries
    /// to store it again at each timeout until storage takes it or a sender has it.
    pub fn handle_store_refused(&mut self, key: String, value: String) {
        if !self.peers.joined() || self.peers.sender() {
            return;
        }
        let KeyKind::Record(id) = self.keys.kind(&key) else {
            return;
        };
        let Some(entry) = self.queue.get_mut(id) else {
            return;
        };
        let news = !entry.unsaved && !entry.resaving;
        entry.unsaved = true;
        entry.resaving = false;
        // A request of this tab carries it (a page back from the back/forward cache writes
        // back what it handed over as it left): the sender would send it a second time,
        // uncounted. It is handed over if its answer leaves it waiting (`hand_over_ids`).
        if news && entry.in_flight.is_none() {
            self.post(Message::Record {
                key,
                value,
                unknown_fate: false,
            });
        }
    }

    /// A follower's records storage refused go to storage again (refused again, they stay
    /// marked; taken, the sender hears of them as of any record).
    pub(super) fn store_unsaved(&mut self) {
        if self.peers.sender() {
            return;
        }
        let mut writes = Vec::new();
        for entry in self.queue.iter_mut() {
            entry.resaving = std::mem::take(&mut entry.unsaved);
            if entry.resaving {
                writes.push((self.keys.record(entry.id()), stored_text(entry)));
            }
        }
        for (key, value) in writes {
            self.actions.push(Action::Store { key, value });
        }
    }

    /// Whether this follower holds records storage refused.
    pub(super) fn has_unsaved(&self) -> bool {
        !self.peers.sender() && self.queue.iter().any(|e| e.unsaved)
    }

    /// A message from another tab (its text as posted; anything else is ignored).
    pub fn handle_message(&mut self, now: Now, text: &str) {
        let Some(message) = Message::decode(text) else {
            return;
        };
        let sender = self.peers.sender();
        match message {
            Message::Outcome(report) => self.remote_outcome(report),
            Message::Record {
                key,
                value,
                unknown_fate,
            } => self.adopt_handed(now, key, value, unknown_fate),
            Message::Flush(records) => {
                if sender {
                    // The asking tab's newest records may not be visible here yet. (A
                    // follower keeps no copy: they are in storage or the asking tab's memory,
                    // and may be stale by the time this tab would use them.)
                    for (key, value) in records {
                        self.adopt_handed(now, key, value, false);
                    }
                    self.peers.peer_flushes += 1;
                    self.flush_now(now);
                }
            }
            Message::Flushed => {
                if !sender {
                    self.peers.end_peer_flush();
                }
            }
            Message::Hello(tab) => self.peers.hello(tab),
            Message::Bye(tab) => self.peers.bye(&tab),
            Message::Census => self.answer_census(),
            Message::Token {
                tab,
                customer,
                token,
            } => self.peers.hear_token(tab, customer, token),
        }
    }

    /// A tab asked who is open (it joined, or it became the sender): this tab says hello,
    /// and hands over its own events the sender may not have: those storage refused, and
    /// those a sender took out of storage without an outcome reaching this tab (that sender
    /// may have left with them, believing itself the last tab; if it did not, their outcome
    /// still comes and settles them here).
    fn answer_census(&mut self) {
        self.post(Message::Hello(self.peers.tab_id().to_owned()));
        self.announce_token(false);
        self.hand_over_own(false);
    }

    /// This page's session token and the customer it proves, if it holds one.
    pub(super) fn own_token(&self) -> Option<(&str, &str)> {
        let customer = self.config.customer.customer_id.as_deref()?;
        Some((customer, self.config.session_token.as_deref()?))
    }

    /// The token that goes with `records`, events of `customer`: this page's when it is
    /// theirs, else the newest another tab's page holds for them (a customer signed in in
    /// one tab while another sends), when every one was queued under a token
    /// ([`is_token_bound`]). A token proves one customer's session, and Gameball checks its
    /// `customerId` claim: it never rides with another customer's events.
    pub(super) fn token_for(&self, customer: &str, records: &[Record]) -> Option<&str> {
        match self.own_token() {
            Some((own, token)) if own == customer => Some(token),
            _ if records.iter().all(|r| is_token_bound(&r.id)) => self.peers.token_for(customer),
            _ => None,
        }
    }

    /// Tells the other tabs this page's token (it may be the sender's some day, or it is
    /// now), or, when it holds none and `had_token`, that the one it held is gone. Only over
    /// `BroadcastChannel` (see [`Message::Token`]).
    pub(super) fn announce_token(&mut self, had_token: bool) {
        if !self.peers.joined() || !self.browser.broadcast_channel {
            return;
        }
        let tab = self.peers.tab_id().to_owned();
        let message = match self.own_token() {
            Some((customer, token)) => Message::Token {
                tab,
                customer: customer.to_owned(),
                token: Some(SessionToken(token.to_owned())),
            },
            None if had_token => Message::Token {
                tab,
                customer: String::new(),
                token: None,
            },
            None => return,
        };
        self.post(message);
    }

    /// A follower hands the sender its own events the sender may not have (see
    /// `answer_census`), each one a sender took out of storage flagged as of unknown fate,
    /// so that sending it again is counted. Also done before a follower's `flush()` asks the
    /// sender: the flush carries the follower's records too, without that flag, and the
    /// sender sends them at once, so an event an earlier sender had taken out (and sent as it
    /// left) went out again uncounted before the flagged copy arrived (found by the engine's
    /// fuzz target: 9 duplicates, 8 counted).
    ///
    /// `all`: every event this tab holds and has no request out for, as a page back from the
    /// back/forward cache does: it heard nothing while it was there (another tab may have
    /// taken the role, and sent and settled its events), and the sender answers for each it
    /// settled with its outcome again, and adopts the others.
    pub(super) fn hand_over_own(&mut self, all: bool) {
        if self.peers.sender() {
            return;
        }
        let taken: Vec<(String, String, bool)> = self
            .queue
            .iter()
            .filter(|e| (all || e.taken_out || e.unsaved) && e.in_flight.is_none())
            .map(|e| (self.keys.record(e.id()), stored_text(e), e.taken_out))
            .collect();
        self.post_records(taken);
    }

    /// A follower hands the sender these events of its queue, if they wait (see
    /// [`Engine::handle_answer`]), flagged with their unknown fate.
    pub(super) fn hand_over_ids(&mut self, ids: &[String]) {
        if !self.peers.joined() || self.peers.sender() {
            return;
        }
        let records: Vec<(String, String, bool)> = ids
            .iter()
            .filter_map(|id| self.queue.get(id))
            .filter(|e| e.in_flight.is_none())
            .map(|e| (self.keys.record(e.id()), stored_text(e), e.unknown_fate))
            .collect();
        self.post_records(records);
    }

    /// Hands `records` (key, stored text, unknown fate) to the sender, one message each.
    fn post_records(&mut self, records: Vec<(String, String, bool)>) {
        for (key, value, unknown_fate) in records {
            self.post(Message::Record {
                key,
                value,
                unknown_fate,
            });
        }
    }

    /// A record another tab handed over (storage refused it there). The sender adopts it;
    /// a follower keeps a copy, so that the record survives if the role is changing hands
    /// (a new sender adopts its copies that storage does not hold).
    fn adopt_handed(&mut self, now: Now, key: String, value: String, unknown_fate: bool) {
        let KeyKind::Record(id) = self.keys.kind(&key) else {
            return;
        };
        let id = id.to_owned();
        // Also while it waits out the take-over: it may have settled the event before, and
        // the tab handing it over waits for that outcome (the engine fuzz target: a page back
        // from the back/forward cache handed over an event the new sender had dropped as
        // `queue_full`, heard in that wait, and waited for ever).
        if (self.peers.sender() || self.peers.promoting()) && self.announce_again(&id, &value) {
            return;
        }
        if self.peers.sender() {
            self.adopt(now, &key, &id, &value, unknown_fate);
            if let Some(entry) = self.queue.get_mut(&id) {
                entry.unknown_fate |= unknown_fate && entry.in_flight.is_none();
            }
        } else if self.queue.get(&id).is_none() && !self.queue.is_settled(&id) {
            self.queue.hear_id(&id);
            if unknown_fate {
                self.peers.unknown_fate.insert(id);
            }
            self.peers.shadow.insert(key, value);
        }
    }

    /// If event `id` settled here, announces its outcome again for the record `value` a tab
    /// handed over or wrote to storage, and says so: a tab that never heard the outcome (it
    /// opened or took the queue after it) holds the record and would wait for it for ever
    /// (the error goes without the server's words). A tab that heard it ignores it.
    fn announce_again(&mut self, id: &str, value: &str) -> bool {
        let Some(settled) = self.queue.settled(id) else {
            return false;
        };
        let result = settled.clone().map_err(|e| TrackerError {
            message: [
                e.code.as_str(),
                " (settled in another tab before this one handed the event over)",
            ]
            .concat(),
            ..e
        });
        let record = Record::decode(value).filter(|r| r.id == id && self.peers.joined());
        if let Some(record) = record {
            self.post(Message::Outcome(super::report_of(&record, result)));
        }
        true
    }

    /// Storage was emptied (`localStorage.clear()` by another script): every record, flight
    /// note and counter this tab holds is written again from memory (a tab about to take
    /// the sender role writes its copies of the other tabs' records too).
    ///
    /// A follower writes its own events again too: the sender may not have heard of them
    /// yet, and may die before it does. The sender's memory of settled events makes such a
    /// write harmless if it comes after the delivery. (Its copies of other tabs' records
    /// are not written: they may be stale, and a tab opened later has no memory of them.)
    pub(super) fn storage_cleared(&mut self) {
        let mut writes = Vec::new();
        for entry in self.queue.iter().filter(|e| e.stored) {
            writes.push((self.keys.record(entry.id()), stored_text(entry)));
        }
        // A tab elected but still in its take-over wait is about to own the queue: its copy
        // of the other tabs' records may be the last one (their tabs and the old sender may
        // be gone).
        if self.peers.promoting() {
            for (key, value) in &self.peers.shadow {
                writes.push((key.clone(), value.clone()));
            }
        }
        let restored = writes.len() as u64;
        for flight in self.flights.iter().filter(|f| f.note_stored) {
            writes.push((flight.note.clone(), flight.ids.join(",")));
        }
        for (key, ids) in self.flights.orphans() {
            writes.push((key.clone(), ids.join(",")));
        }
        if self.stats.resent_unknown_total > 0 {
            writes.push((
                self.keys.resent_total(),
                decimal(self.stats.resent_unknown_total),
            ));
        }
        writes.push((self.keys.marker().to_owned(), "1".to_owned()));
        self.stats.restored += restored;
        self.debug(|| {
            let restored = decimal(restored);
            ["storage was cleared: ", &restored, " records written again"].concat()
        });
        for (key, value) in writes {
            self.actions.push(Action::Store { key, value });
        }
    }

    /// Another tab settled an event. A tab holding it reports the outcome to its page;
    /// every tab remembers it as settled. If this tab has it in flight too (it was sent
    /// again after an unknown fate), its own answer later settles it silently.
    fn remote_outcome(&mut self, report: Report) {
        let keeps = matches!(&report.result, Err(e) if e.code == ErrorCode::Unauthorized);
        if !keeps {
            if self.queue.is_settled(&report.id) {
                // Heard before (a sender announces again the outcome of a record handed over
                // after it settled it): it was reported then, even if this tab still has the
                // event in a request of its own.
                return;
            }
            self.queue.remember_settled(&report.id, &report.result);
            let key = self.keys.record(&report.id);
            self.peers.shadow.remove(&key);
            self.peers.unknown_fate.remove(&report.id);
        }
        let Some(entry) = self.queue.get_mut(&report.id) else {
            return;
        };
        if keeps {
            entry.reported = true;
        } else if entry.in_flight.is_none() {
            self.queue.remove(&report.id);
            if self.peers.sender() {
                // The sender may have written the record back after the tab that settled
                // it removed it (it heard the removal before the outcome).
                self.actions.push(Action::Remove {
                    key: self.keys.record(&report.id),
                });
            }
            self.count_outcome(&report.result);
            // A note this tab kept of the event's unknown fate is settled with it.
            self.settle_orphans();
        }
        self.report(report);
    }

    /// This tab's waiting records as stored (a follower hands them over with its flush).
    /// Not those a request of this tab carries: their answer settles them here, and one that
    /// leaves them waiting hands them over (`hand_over_ids`). The sender would send them
    /// again at once (the engine fuzz target: a page back from the back/forward cache, its
    /// handed-over requests not yet answered, flushed them to the new sender: sent twice,
    /// uncounted).
    pub(super) fn records(&self) -> Vec<(String, String)> {
        // A loop, not a filtered collect: one more iterator shape costs the module ~0.4 KB.
        let mut records = Vec::new();
        for entry in self.queue.iter() {
            if entry.in_flight.is_none() {
                records.push((self.keys.record(entry.id()), stored_text(entry)));
            }
        }
        records
    }

    /// Takes the origin-wide resend count another tab stored: every tab keeps the highest
    /// it saw, so the count survives the sender dying right after a clear.
    fn note_resent_total(&mut self, value: &str) {
        let total = crate::core::text::parse_u64(value).unwrap_or(0);
        self.stats.resent_unknown_total = self.stats.resent_unknown_total.max(total);
    }
}
