//! The layout of the tracker's localStorage keys: the one place that knows it.
//!
//! Every key of one API key's queue starts with its prefix `<tag>:<hash>:`, the tag naming
//! the destination (`gb1` Gameball, `vf1` Voucherify), so that each destination and key has
//! its own records, notes, lease, Web Lock and channel. A record is the
//! prefix and the event id; the tracker's own notes are the prefix, `~` (which cannot start
//! an id: ids are base 36) and a letter.

use super::text::push_u64;

/// The letter-free view of a key under a queue's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind<'a> {
    /// The record of the event with this id.
    Record(&'a str),
    /// The marker whose absence means storage was cleared.
    Marker,
    /// The origin-wide count of unknown-fate resends.
    ResentTotal,
    /// The sender's spent rate budget.
    RateBudget,
    /// A note that these events are in flight.
    FlightNote,
    /// Another note of the tracker's (lease, message fallback) or one a newer version wrote.
    OtherNote,
    /// Not under this queue's prefix.
    Foreign,
}

/// The keys of one API key's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageKeys {
    prefix: String,
    /// Kept: the shell reads it on every poll.
    marker: String,
}

const NOTE: char = '~';

impl StorageKeys {
    /// The keys of `api_key`'s queue. The key itself is public, but a hash keeps storage
    /// keys short and two keys on one origin never share records.
    pub fn for_api_key(api_key: &str) -> StorageKeys {
        StorageKeys::for_destination("gb1", api_key)
    }

    /// The keys of `key`'s queue for the destination whose storage tag is `tag`.
    pub fn for_destination(tag: &str, key: &str) -> StorageKeys {
        // FNV-1a, 64 bit.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for b in key.bytes() {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        let mut prefix = String::with_capacity(tag.len() + 18);
        prefix.push_str(tag);
        prefix.push(':');
        for shift in (0..16).rev() {
            let digit = ((hash >> (shift * 4)) & 0xf) as u8;
            prefix.push(char::from(if digit < 10 {
                b'0' + digit
            } else {
                b'a' + digit - 10
            }));
        }
        prefix.push(':');
        let mut keys = StorageKeys {
            prefix,
            marker: String::new(),
        };
        keys.marker = keys.note("m");
        keys
    }

    /// The prefix every key of this queue starts with; also the name of its Web Lock and
    /// its BroadcastChannel.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The record of event `id`.
    pub fn record(&self, id: &str) -> String {
        let mut key = String::with_capacity(self.prefix.len() + id.len());
        key.push_str(&self.prefix);
        key.push_str(id);
        key
    }

    fn note(&self, name: &str) -> String {
        let mut key = self.record("~");
        key.push_str(name);
        key
    }

    /// The marker the sender keeps in storage: its absence means storage was cleared.
    pub fn marker(&self) -> &str {
        &self.marker
    }

    /// The origin-wide count of unknown-fate resends.
    pub fn resent_total(&self) -> String {
        self.note("w")
    }

    /// The sender's spent rate budget, inherited by the next sender.
    pub fn rate_budget(&self) -> String {
        self.note("r")
    }

    /// The note that the events starting with `first_id` are in flight (`tag` tells two
    /// requests of the same first event apart).
    pub fn flight_note(&self, first_id: &str, tag: u64) -> String {
        let mut key = self.note("f");
        key.push_str(first_id);
        key.push('-');
        push_u64(&mut key, tag);
        key
    }

    /// The localStorage lease that elects the sender where Web Locks are missing.
    pub fn lease(&self) -> String {
        self.note("l")
    }

    /// The key whose storage events carry tab messages where BroadcastChannel is missing.
    pub fn message_fallback(&self) -> String {
        self.note("o")
    }

    /// What `key` is.
    pub fn kind<'a>(&self, key: &'a str) -> KeyKind<'a> {
        let Some(rest) = key.strip_prefix(self.prefix.as_str()) else {
            return KeyKind::Foreign;
        };
        let Some(note) = rest.strip_prefix(NOTE) else {
            return KeyKind::Record(rest);
        };
        match note {
            "m" => KeyKind::Marker,
            "w" => KeyKind::ResentTotal,
            "r" => KeyKind::RateBudget,
            _ if note.starts_with('f') => KeyKind::FlightNote,
            _ => KeyKind::OtherNote,
        }
    }

    /// Whether `key` must be gone once every event settled: records and flight notes (the
    /// marker, the counters and the lease stay).
    pub fn is_queue_state(&self, key: &str) -> bool {
        matches!(self.kind(key), KeyKind::Record(_) | KeyKind::FlightNote)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_reads_back_as_what_it_is() {
        let keys = StorageKeys::for_api_key("pk");
        assert_eq!(keys.kind(&keys.record("0abc")), KeyKind::Record("0abc"));
        assert_eq!(keys.kind(keys.marker()), KeyKind::Marker);
        assert_eq!(keys.kind(&keys.resent_total()), KeyKind::ResentTotal);
        assert_eq!(keys.kind(&keys.rate_budget()), KeyKind::RateBudget);
        assert_eq!(keys.kind(&keys.flight_note("0abc", 7)), KeyKind::FlightNote);
        assert_eq!(keys.kind(&keys.lease()), KeyKind::OtherNote);
        assert_eq!(keys.kind(&keys.message_fallback()), KeyKind::OtherNote);
        let other = StorageKeys::for_api_key("another");
        assert_eq!(other.kind(&keys.record("0abc")), KeyKind::Foreign);
        assert!(keys.is_queue_state(&keys.flight_note("a", 1)));
        assert!(!keys.is_queue_state(keys.marker()));
    }

    #[test]
    fn the_prefix_is_stable_and_differs_per_api_key() {
        let a = StorageKeys::for_api_key("a");
        assert_eq!(a, StorageKeys::for_api_key("a"));
        assert_ne!(a.prefix(), StorageKeys::for_api_key("b").prefix());
        // The layout earlier versions wrote: records they left behind must still be read.
        assert_eq!(a.prefix(), "gb1:af63dc4c8601ec8c:");
        // Another destination with the same key has its own namespace.
        let vf = StorageKeys::for_destination("vf1", "a");
        assert_eq!(vf.prefix(), "vf1:af63dc4c8601ec8c:");
        assert_eq!(vf.kind(&a.lease()), KeyKind::Foreign);
    }
}
