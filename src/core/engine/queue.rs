//! The queue: every event this tab holds, in id order, and the bytes of their stored
//! records. Ids sort by creation, so id order is a customer's sending order.
//!
//! Invariants kept here and nowhere else: entries are sorted by id and unique; `bytes` is
//! the sum of the entries' stored record lengths; an id settled recently is remembered so
//! that a record coming back (from another tab, or a late storage read) is not sent again;
//! a new id sorts after every id this tab made or heard of, whatever the wall clock did
//! ([`Queue::id_time`]); and **a customer's events leave in id order**: no event goes out
//! while an earlier event of its customer is queued here and not settled
//! ([`Queue::next_batch`]).

use std::collections::VecDeque;

use crate::core::clock::Now;
use crate::core::destination::Destination;
use crate::core::error::TrackerError;
use crate::core::io::Delivered;
use crate::core::record::{id_time, Record};
use crate::core::sorted::IdSet;

/// How an event settled, as remembered: an error keeps its code and numbers, not its
/// message (a server's message has no bound).
pub type Settled = Result<Delivered, TrackerError>;

/// Ids of settled events remembered, so that a record another tab (or an eventually
/// consistent storage read) brings back after it was delivered is not sent again.
const SETTLED_MEMORY: usize = 4096;

/// One queued event and what the engine knows of it.
///
/// The event is kept once, as its stored text (the value in localStorage, as
/// [`Record::encode`] writes it), not as a parsed [`Record`] beside it: 10,000 queued
/// events weighed about 500 bytes each in wasm memory as parsed copies. Its id and customer
/// are read in place (offsets below); the rest is parsed when a request is built.
#[derive(Debug)]
pub struct Entry {
    text: Box<str>,
    /// `text[ID_START..id_end]` is the id (an id is queued only where it needs no escape).
    /// Offsets are u16: a customer id is at most 200 characters, and an id is 21; a record
    /// read from storage that puts them further is refused as corrupt.
    id_end: u16,
    /// `text[customer.0..customer.1]`: the customer id as the record writes it (JSON
    /// escaped, with its quotes; one writer, so equal ids are equal texts).
    customer: (u16, u16),
    /// Not sent before this monotonic time (after a busy-customer answer).
    pub not_before: u64,
    /// Busy-customer answers (Gameball's 2001) it got in a row; each waits longer.
    pub busy: u8,
    /// Monotonic time its age counts from (`eventTtlMs`; see `Now::born_mono`).
    pub born: u64,
    /// The request carrying it, if one is out.
    pub in_flight: Option<u64>,
    /// The page was already told of a failure (unauthorized) for it.
    pub reported: bool,
    /// Its record is meant to be in storage (not while a keepalive request carries it out
    /// of a hidden page).
    pub stored: bool,
    /// An earlier request with it got no answer: the server may have it already.
    pub unknown_fate: bool,
    /// (A follower's own event.) Another tab removed its record from storage and no
    /// outcome has come yet: a sender took it out, and may have left with it (even if a
    /// record is written back since).
    pub taken_out: bool,
    /// (A follower's own event.) Storage refused its record and no sender has stored it
    /// yet: it lives in this page's memory and in the hand-off to the sender.
    pub unsaved: bool,
    /// Its record is being stored again after a refusal (a new refusal is not news).
    pub resaving: bool,
}

/// Where an id starts in a record's text: after `{"v":N,"id":"`.
const ID_START: usize = 13;

impl Entry {
    /// The entry of `text`, [`Record::encode`]'s text of `record`; `None` when the id is not
    /// where that text keeps it unescaped (ids this tracker makes always are).
    fn new(record: &Record, text: String, born: u64) -> Option<Entry> {
        let bytes = text.as_bytes();
        let id_end = ID_START + record.id.len();
        if bytes.get(ID_START..id_end) != Some(record.id.as_bytes())
            || bytes.get(id_end) != Some(&b'"')
        {
            return None;
        }
        // The first `,"c":` is the customer's key: the id holds no quote, `t` and `n` digits.
        let start = bytes.windows(6).position(|w| w == b",\"c\":\"")? + 5;
        let end = string_end(bytes, start)?;
        Some(Entry {
            id_end: u16::try_from(id_end).ok()?,
            customer: (u16::try_from(start).ok()?, u16::try_from(end).ok()?),
            text: text.into_boxed_str(),
            not_before: 0,
            busy: 0,
            born,
            in_flight: None,
            reported: false,
            stored: true,
            unknown_fate: false,
            taken_out: false,
            unsaved: false,
            resaving: false,
        })
    }

    /// The stored text of the event's record.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The stored event, parsed (for a request, an outcome); `None` never happens for a
    /// text [`Record::encode`] wrote, and is skipped like a missing entry.
    pub fn record(&self) -> Option<Record> {
        Record::decode(&self.text)
    }

    /// The event id.
    pub fn id(&self) -> &str {
        self.text
            .get(ID_START..self.id_end as usize)
            .unwrap_or_default()
    }

    /// The customer id as its record writes it (JSON, quoted and escaped): equal customers
    /// give equal texts.
    fn customer(&self) -> &str {
        let (start, end) = self.customer;
        self.text
            .get(start as usize..end as usize)
            .unwrap_or_default()
    }

    /// Whether it may go in a request at monotonic time `now`.
    pub fn is_due(&self, now: u64) -> bool {
        self.in_flight.is_none() && self.not_before <= now
    }
}

/// The end (past the closing quote) of the JSON string that opens at `start` in `text`.
fn string_end(text: &[u8], start: usize) -> Option<usize> {
    let mut escaped = false;
    for (i, &b) in text.iter().enumerate().skip(start + 1) {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// What became of a record offered to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Queued.
    Taken,
    /// Already queued.
    Known,
    /// Settled recently: its record is stale.
    Settled,
    /// Not a record this version can read (or not the record of that id).
    Corrupt,
}

/// See the module docs.
#[derive(Debug, Default)]
pub struct Queue {
    /// Boxed: a `Vec` of 10,000 entries inline grows by doubling through 1.5 MB of wasm
    /// memory (old and new buffer at once), and wasm memory never shrinks.
    #[allow(clippy::vec_box)] // the boxing is the point: see above
    entries: Vec<Box<Entry>>,
    bytes: usize,
    /// Oldest first, with how each settled (looked up only for a record handed over after
    /// it settled: rare, so a scan).
    settled: VecDeque<(String, Settled)>,
    settled_set: IdSet,
    /// The time part of the last id this tab made.
    own_time: u64,
    /// The latest time part of an id another page made that this tab heard of.
    heard_time: u64,
}

impl Queue {
    /// Events queued.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of the stored records.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether [`Queue::bytes`] is the sum of the entries' stored lengths: checked by the
    /// simulated worlds and the engine's fuzz target after every step.
    #[cfg(any(test, feature = "testkit"))]
    pub fn bytes_add_up(&self) -> bool {
        self.bytes == self.entries.iter().map(|e| e.text.len()).sum::<usize>()
    }

    /// The entries, oldest first.
    pub fn iter(&self) -> std::slice::Iter<'_, Box<Entry>> {
        self.entries.iter()
    }

    /// The entries, oldest first, for their flags (the records themselves stay read-only).
    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, Box<Entry>> {
        self.entries.iter_mut()
    }

    fn find(&self, id: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|e| e.id().cmp(id))
    }

    /// The entry of `id`.
    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.find(id)
            .ok()
            .and_then(|i| self.entries.get(i))
            .map(|e| &**e)
    }

    /// The entry of `id`, for its flags.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Entry> {
        self.find(id)
            .ok()
            .and_then(|i| self.entries.get_mut(i))
            .map(|e| &mut **e)
    }

    /// The time part of this tab's next id, for an event sent at wall time `wall_ms`: no
    /// earlier than its last id's (the sequence number orders ids of one time) and later
    /// than any id of another page it heard of, so an event sent after another sorts after
    /// it even when the wall clock stepped back (or another tab's clock runs ahead).
    pub fn id_time(&mut self, wall_ms: u64) -> u64 {
        let at = wall_ms
            .max(self.own_time)
            .max(self.heard_time.saturating_add(1));
        self.own_time = at;
        at
    }

    /// Notes the id of an event another page made (read from storage, handed over, heard
    /// of): this tab's next ids sort after it.
    pub fn hear_id(&mut self, id: &str) {
        if let Some(at) = id_time(id) {
            self.heard_time = self.heard_time.max(at);
        }
    }

    /// Queues `record`, whose stored text ([`Record::encode`]) is `text`, in its place; its
    /// age counts from monotonic time `born`.
    pub fn insert(&mut self, record: &Record, text: String, born: u64) -> Admission {
        let at = match self.find(&record.id) {
            Ok(_) => return Admission::Known,
            Err(at) => at,
        };
        let Some(entry) = Entry::new(record, text, born) else {
            return Admission::Corrupt;
        };
        self.bytes += entry.text.len();
        self.entries.insert(at, Box::new(entry));
        Admission::Taken
    }

    /// Offers the stored record `value` of event `id` (read from storage or handed over by
    /// another tab) at `now`.
    pub fn admit(&mut self, id: &str, value: &str, now: Now) -> Admission {
        if self.get(id).is_some() {
            return Admission::Known;
        }
        if self.is_settled(id) {
            return Admission::Settled;
        }
        match Record::decode(value).filter(|r| r.id == id) {
            Some(record) => {
                self.hear_id(id);
                let born = now.born_mono(record.created_ms);
                // Kept as this version writes it (the same text for a record it wrote).
                self.insert(&record, record.encode(), born)
            }
            None => Admission::Corrupt,
        }
    }

    /// Takes `id` out of the queue (it is not remembered as settled).
    pub fn remove(&mut self, id: &str) -> Option<Box<Entry>> {
        let index = self.find(id).ok()?;
        let entry = self.entries.remove(index);
        self.bytes -= entry.text.len();
        Some(entry)
    }

    /// Takes `id` out of the queue and remembers it as settled with `outcome`.
    pub fn settle(&mut self, id: &str, outcome: &Settled) -> Option<Box<Entry>> {
        let entry = self.remove(id)?;
        self.remember_settled(id, outcome);
        Some(entry)
    }

    /// Counts one more attempt for `id`; returns the attempts now made and the record's new
    /// stored text.
    pub fn count_attempt(&mut self, id: &str) -> Option<(u32, String)> {
        let index = self.find(id).ok()?;
        let entry = self.entries.get_mut(index)?;
        let mut record = entry.record()?;
        record.attempts += 1;
        let value = record.encode();
        let moved = Entry::new(&record, value.clone(), entry.born)?;
        self.bytes = self.bytes - entry.text.len() + moved.text.len();
        entry.text = moved.text;
        entry.id_end = moved.id_end;
        entry.customer = moved.customer;
        Some((record.attempts, value))
    }

    /// Remembers `id` as settled (delivered or given up, here or in another tab), and how.
    pub fn remember_settled(&mut self, id: &str, outcome: &Settled) {
        let outcome = outcome.clone().map_err(|e| TrackerError {
            message: String::new(),
            ..e
        });
        if !self.settled_set.insert(id.to_owned()) {
            return;
        }
        if self.settled.len() >= SETTLED_MEMORY {
            if let Some((old, _)) = self.settled.pop_front() {
                self.settled_set.remove(&old);
            }
        }
        self.settled.push_back((id.to_owned(), outcome));
    }

    /// Whether `id` settled recently.
    pub fn is_settled(&self, id: &str) -> bool {
        self.settled_set.contains(id)
    }

    /// How `id` settled, if it did recently (an error without its message).
    pub fn settled(&self, id: &str) -> Option<&Settled> {
        self.settled
            .iter()
            .find(|(settled, _)| settled == id)
            .map(|(_, outcome)| outcome)
    }

    /// The oldest event not in flight, other than `keep`: the one the queue bounds evict.
    pub fn oldest_idle(&self, keep: Option<&str>) -> Option<String> {
        self.entries
            .iter()
            .find(|e| e.in_flight.is_none() && Some(e.id()) != keep)
            .map(|e| e.id().to_owned())
    }

    /// The oldest event not in flight older than `ttl` ms at monotonic time `now`.
    pub fn oldest_expired(&self, now: u64, ttl: u64) -> Option<String> {
        self.entries
            .iter()
            .find(|e| e.in_flight.is_none() && now.saturating_sub(e.born) > ttl)
            .map(|e| e.id().to_owned())
    }

    /// The next request's events (parsed from their texts), at monotonic time `now`: the first event (by id) of a
    /// customer that has nothing in flight (`busy` says which do) and whose first queued
    /// event is due, then the events of that customer right after it that `destination`
    /// lets share its request. A customer whose first queued event waits (a busy-customer
    /// answer's wait, a retry) is skipped whole, so none of its later events overtakes it;
    /// and the batch stops at the first of its events that cannot join.
    pub fn next_batch(
        &self,
        now: u64,
        busy: &dyn Fn(&str) -> bool,
        destination: &dyn Destination,
    ) -> Option<Vec<Record>> {
        // Customers whose first queued event cannot go: the rest of their events wait. (A
        // list, not a set: few customers wait at once, and a set type costs module bytes.)
        let mut held: Vec<&str> = Vec::new();
        let head = self.entries.iter().position(|e| {
            let customer = e.customer();
            if held.contains(&customer) {
                return false;
            }
            // (`busy` takes the customer id itself: parsed only for a candidate head.)
            let free = e.is_due(now) && !e.record().is_some_and(|r| busy(&r.event.customer_id));
            if !free {
                held.push(customer);
            }
            free
        })?;
        let first = self.entries.get(head)?;
        let customer = first.customer();
        // Parsed here, the only time before a request that the rest of a record counts.
        let mut batch: Vec<Record> = vec![first.record()?];
        for entry in self.entries.iter().skip(head + 1) {
            if entry.customer() != customer {
                continue;
            }
            if !entry.is_due(now) {
                break;
            }
            let Some(record) = entry.record() else { break };
            if !destination.may_join(&batch.iter().collect::<Vec<_>>(), &record) {
                break;
            }
            batch.push(record);
        }
        Some(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::event::ValidEvent;
    use crate::core::gameball::Gameball;
    use crate::core::record::make_id;

    fn record(seq: u32, customer: &str, name: &str) -> Record {
        Record {
            id: make_id(1_700_000_000_000, seq, 7),
            created_ms: 1_700_000_000_000,
            attempts: 0,
            event: ValidEvent {
                customer_id: customer.into(),
                email: Some("a@b.c".into()),
                mobile: None,
                events: vec![(name.into(), r#"{"price":1350}"#.into())],
                voucherify: None,
            },
        }
    }

    fn queue_of(records: &[Record]) -> Queue {
        let mut queue = Queue::default();
        for r in records {
            assert_eq!(queue.insert(r, r.encode(), 0), Admission::Taken);
        }
        queue
    }

    #[test]
    fn an_event_is_kept_once_as_its_stored_text_and_read_back_whole() {
        let a = record(1, "cust \"1\"\\", "login");
        let queue = queue_of(std::slice::from_ref(&a));
        let entry = queue.get(&a.id).expect("queued");
        assert_eq!(entry.text(), a.encode());
        assert_eq!(entry.id(), a.id);
        assert_eq!(entry.customer(), r#""cust \"1\"\\""#);
        assert_eq!(entry.record(), Some(a));
        assert!(queue.bytes_add_up());
    }

    #[test]
    fn a_retry_rewrites_the_text_and_the_customer_is_still_found() {
        let a = record(1, "c1", "login");
        let mut queue = queue_of(std::slice::from_ref(&a));
        for n in 1..=12 {
            let (attempts, text) = queue.count_attempt(&a.id).expect("queued");
            assert_eq!(attempts, n);
            let entry = queue.get(&a.id).expect("queued");
            assert_eq!(entry.text(), text);
            assert_eq!(entry.customer(), "\"c1\"");
            assert_eq!(entry.record().map(|r| r.attempts), Some(n));
        }
        assert!(queue.bytes_add_up());
        assert_eq!(
            queue.bytes(),
            queue.get(&a.id).map_or(0, |e| e.text().len())
        );
    }

    #[test]
    fn a_stored_record_is_kept_as_this_version_writes_it_and_an_id_needing_escapes_is_refused() {
        let a = record(1, "c1", "login");
        let spaced = a.encode().replace(",\"c\":", ", \"c\" : ");
        let mut queue = Queue::default();
        assert_eq!(queue.admit(&a.id, &spaced, Now::at(5)), Admission::Taken);
        assert_eq!(queue.get(&a.id).map(Entry::text), Some(a.encode().as_str()));
        let mut odd = record(2, "c1", "login");
        odd.id = "0lonbdbk\"00000300000".into();
        assert_eq!(
            queue.admit(&odd.id, &odd.encode(), Now::at(5)),
            Admission::Corrupt
        );
        assert_eq!(queue.len(), 1);
    }

    #[test]
    fn a_batch_is_one_customers_events_in_order_parsed_from_their_texts() {
        let records = [
            record(1, "c1", "a"),
            record(2, "c2", "a"),
            record(3, "c1", "b"),
            record(4, "c1", "a"),
        ];
        let queue = queue_of(&records);
        let batch = queue.next_batch(0, &|_| false, &Gameball).expect("a batch");
        // c1's `a` again cannot share the request with its first `a` (Gameball's rule).
        assert_eq!(
            batch,
            records[..1]
                .iter()
                .chain(&records[2..3])
                .cloned()
                .collect::<Vec<_>>()
        );
        let batch = queue
            .next_batch(0, &|c| c == "c1", &Gameball)
            .expect("c2's");
        assert_eq!(batch, [records[1].clone()]);
    }
}
