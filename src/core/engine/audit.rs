//! Writers in the tracker's own document: a script in the page that removes one of the
//! tracker's keys, overwrites one, or adds one. Another tab's changes arrive as `storage`
//! events ([`Engine::handle_storage_event`]) and `clear()` by any document is caught by the
//! missing marker; a change made from this very document announces itself in no way, so the
//! sender compares storage with what it holds ([`Engine::handle_storage_check`]):
//!
//! - at each `flushIntervalMs` while events wait, so that a change is repaired within one
//!   interval even if the page then crashes;
//! - as the page is hidden (`visibilitychange`, `pagehide`: a reload, a navigation, a closed
//!   tab), so that a change made just before the page goes is repaired before it goes.
//!
//! Never on `sendEvent`'s path: a check reads every key under the queue's prefix, which costs
//! about as much as the `localStorage` reads of a page load (measured in `npm run bench`).

use super::Engine;
use crate::core::clock::Now;
use crate::core::io::Action;
use crate::core::record::same_record_text;
use crate::core::storage_key::KeyKind;
use crate::core::text::decimal;

/// When the sender compares storage with its queue next.
#[derive(Debug, Default)]
pub(super) struct Audit {
    /// Due at this time on the monotonic clock (set once events wait; cleared when the queue
    /// empties).
    next_at: Option<u64>,
}

impl Audit {
    /// The next check, for [`Engine::poll_timeout`].
    pub(super) fn next_at(&self) -> Option<u64> {
        self.next_at
    }
}

impl Engine {
    /// Whether this tab owns storage's copy of the queue: it sends, and storage is shared
    /// (a tab without localStorage has nothing to compare).
    fn audits(&self) -> bool {
        self.active && self.peers.joined() && self.peers.sender()
    }

    /// At a timeout: asks for a check when one is due. Only when no action waits, so that
    /// storage as read is storage as this engine left it (a `Store` not yet performed would
    /// look like a removal); a check put off that way is due at the next timeout.
    pub(super) fn audit_if_due(&mut self, now: Now, marker_present: bool) {
        let now = now.mono_ms;
        if !self.audits() || self.queue.is_empty() {
            self.audit.next_at = None;
            return;
        }
        match self.audit.next_at {
            None => self.audit.next_at = Some(now + self.config.flush_interval_ms),
            Some(at) if at <= now && self.actions.is_empty() => {
                // Due again one interval on, whether or not it runs now: a check left due
                // would make every timeout come at once (a busy loop while the marker stays
                // missing).
                self.audit.next_at = Some(now + self.config.flush_interval_ms);
                // A missing marker is a clear: `storage_cleared` writes everything back.
                if marker_present {
                    self.actions.push(Action::CheckStorage);
                }
            }
            Some(_) => {}
        }
    }

    /// As the page is hidden: a check now, whether or not events wait (a record another
    /// script added is adopted before the page goes).
    pub(super) fn audit_on_hide(&mut self) {
        if self.audits() && self.actions.is_empty() {
            self.actions.push(Action::CheckStorage);
        }
    }

    /// The answer to `CheckStorage`: every entry under the prefix as storage holds it now.
    ///
    /// - A record of a waiting event that is missing or differs from the event as this tab
    ///   holds it (removed, damaged, or replaced by another record) is written back and
    ///   counted in `stats().restored`; so is a missing or changed flight note of this tab's.
    /// - A record key this tab does not hold was added by someone else (another version of
    ///   the tracker, a script restoring a backup): a well-formed record of an unsettled
    ///   event is adopted and sent like any other; one of a settled event is removed (no
    ///   duplicate); one that does not read as a record is removed and counted as
    ///   `dropped.corrupt`, as a page load would.
    /// - Keys that are not records (the marker, counters, lease, notes of other tabs or
    ///   versions) are left alone.
    pub fn handle_storage_check(&mut self, now: Now, stored: Vec<(String, String)>) {
        if !self.audits() {
            return;
        }
        // One pass over storage with lookups in the queue (a binary search each); no map of
        // storage is built. Records missing from storage are rare: only then is it searched.
        let mut matched = 0;
        let mut writes = Vec::new();
        let mut added = Vec::new();
        for (key, value) in &stored {
            let KeyKind::Record(id) = self.keys.kind(key) else {
                continue;
            };
            match self.queue.get(id) {
                Some(entry) if entry.stored => {
                    matched += 1;
                    // Intact with or without the unknown-fate mark (the event may have been
                    // sent again, counted, since it was marked).
                    if !same_record_text(value, entry.text()) {
                        writes.push((key.clone(), super::stored_text(entry)));
                    }
                }
                Some(_) => {}
                None => added.push((key.clone(), id.to_owned(), value.clone())),
            }
        }
        if matched < self.queue.iter().filter(|e| e.stored).count() {
            for entry in self.queue.iter().filter(|e| e.stored) {
                let key = self.keys.record(entry.id());
                if !stored.iter().any(|(k, _)| *k == key) {
                    writes.push((key, super::stored_text(entry)));
                }
            }
        }
        let restored = writes.len() as u64;
        for flight in self.flights.iter().filter(|f| f.note_stored) {
            let ids = flight.ids.join(",");
            if !stored.iter().any(|(k, v)| *k == flight.note && *v == ids) {
                writes.push((flight.note.clone(), ids));
            }
        }
        self.stats.restored += restored;
        if restored > 0 {
            self.debug(|| {
                let restored = decimal(restored);
                [
                    &restored,
                    " records removed or changed in storage: written back",
                ]
                .concat()
            });
        }
        for (key, value) in writes {
            self.actions.push(Action::Store { key, value });
        }
        for (key, id, value) in added {
            self.adopt(now, &key, &id, &value, false);
        }
    }
}
