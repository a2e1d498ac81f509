//! localStorage for queue records, guarded: a browser that refuses storage (private modes,
//! `SecurityError`, a full quota) leaves the tracker working from memory, never throwing
//! into the page. The engine keeps every record in memory anyway, so "memory" only means
//! "will not survive a reload".

use crate::core::sorted::TextMap;
use std::cell::{Cell, RefCell};

use super::js::Storage;

/// Where records live at the moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageKind {
    /// Records are written to localStorage.
    Local,
    /// localStorage refused the last write (or is missing): records are in memory only.
    Memory,
}

impl StorageKind {
    /// The name `stats().storage` reports.
    pub fn as_str(self) -> &'static str {
        match self {
            StorageKind::Local => "localStorage",
            StorageKind::Memory => "memory",
        }
    }
}

/// A key no tracker namespace uses (the others' engines read it as foreign): written and
/// removed once as a tracker opens.
const PROBE_KEY: &str = "gb:probe";

/// The record store of one tracker.
#[derive(Debug)]
pub struct RecordStore {
    local: Option<Storage>,
    kind: Cell<StorageKind>,
    /// Writes localStorage refused (a full quota), tried again after the next write that
    /// succeeds, so records return to storage once there is room. A queued record's text is
    /// not copied here (an empty value, which no stored value is): the engine's queue holds
    /// it, asked again at the retry.
    unsaved: RefCell<TextMap>,
}

impl RecordStore {
    /// Opens `window.localStorage` if the browser lets this page have it.
    pub fn open() -> RecordStore {
        let local = super::js::local_store();
        // A storage that exists may still refuse every write (a blocking privacy setting, a
        // script that replaced setItem, a full quota): one probe write tells `stats()` the
        // truth from the start, not after the tracker's first write.
        let writable = local.as_ref().is_some_and(|local| {
            let ok = local.set_item(PROBE_KEY, "1").is_ok();
            let _ = local.remove_item(PROBE_KEY);
            ok
        });
        let kind = if writable {
            StorageKind::Local
        } else {
            StorageKind::Memory
        };
        RecordStore {
            local,
            kind: Cell::new(kind),
            unsaved: RefCell::new(TextMap::new()),
        }
    }

    /// Whether localStorage exists here (shared with the other tabs), whether or not its
    /// last write went through: a full quota does not make the tab alone.
    pub fn shared(&self) -> bool {
        self.local.is_some()
    }

    /// Where the last write went.
    pub fn kind(&self) -> StorageKind {
        self.kind.get()
    }

    /// Writes a record; a refusal switches the report to `memory` until a write succeeds.
    /// `queued` gives the text of a key the engine's queue holds (`Engine::record_text`), so
    /// a refused record is remembered by key alone. Returns whether the record is in
    /// localStorage.
    pub fn set(&self, key: &str, value: &str, queued: impl Fn(&str) -> Option<String>) -> bool {
        let Some(local) = &self.local else {
            return false;
        };
        let ok = local.set_item(key, value).is_ok();
        if ok {
            self.unsaved.borrow_mut().remove(key);
            self.retry_unsaved(local, &queued);
        } else {
            let own = match queued(key) {
                Some(_) => String::new(),
                None => value.to_owned(),
            };
            self.unsaved.borrow_mut().insert(key.to_owned(), own);
        }
        let all_saved = ok && self.unsaved.borrow().is_empty();
        self.kind.set(if all_saved {
            StorageKind::Local
        } else {
            StorageKind::Memory
        });
        ok
    }

    fn retry_unsaved(&self, local: &Storage, queued: impl Fn(&str) -> Option<String>) {
        if self.unsaved.borrow().is_empty() {
            return;
        }
        let pending: Vec<(String, String)> = self
            .unsaved
            .borrow()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (key, value) in pending {
            // A record that left the queue since (delivered, dropped) is not written back.
            let value = Some(value).filter(|v| !v.is_empty());
            if let Some(value) = value.or_else(|| queued(&key)) {
                if local.set_item(&key, &value).is_err() {
                    return;
                }
            }
            self.unsaved.borrow_mut().remove(&key);
        }
    }

    /// Deletes a record; a failure is harmless (the record is gone from the queue).
    pub fn remove(&self, key: &str) {
        self.unsaved.borrow_mut().remove(key);
        if let Some(s) = &self.local {
            let _ = s.remove_item(key);
        }
    }

    /// Whether `key` is in localStorage, or this tracker's own write of it was refused and
    /// waits to be tried again (so a full quota is not taken for another script's removal).
    pub fn has_or_pending(&self, key: &str) -> bool {
        self.unsaved.borrow().get(key).is_some() || self.has(key)
    }

    /// Whether `key` is in localStorage (`false` when it cannot be read).
    pub fn has(&self, key: &str) -> bool {
        self.local
            .as_ref()
            .is_some_and(|s| matches!(s.get_item(key), Ok(Some(_))))
    }

    /// Every record stored under `prefix`, read once when a tracker starts.
    pub fn load(&self, prefix: &str) -> Vec<(String, String)> {
        let Some(s) = &self.local else {
            return Vec::new();
        };
        // `key(i)` is never null below the length: the first null (or error) ends the walk,
        // whatever a replaced `length` getter claims (-1 reads as 4,294,967,295 here).
        let len = s.length().unwrap_or(0);
        let keys: Vec<String> = (0..len)
            .map_while(|i| s.key(i).ok().flatten())
            .filter(|k| k.starts_with(prefix))
            .collect();
        keys.into_iter()
            .filter_map(|k| {
                let value = s.get_item(&k).ok().flatten()?;
                Some((k, value))
            })
            .collect()
    }
}
