//! localStorage for queue records, guarded: a browser that refuses storage (private modes,
//! `SecurityError`, a full quota) leaves the tracker working from memory, never throwing
//! into the page. The engine keeps every record in memory anyway, so "memory" only means
//! "will not survive a reload".

use std::cell::Cell;

use web_sys::Storage;

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

/// The record store of one tracker.
#[derive(Debug)]
pub struct RecordStore {
    local: Option<Storage>,
    kind: Cell<StorageKind>,
}

impl RecordStore {
    /// Opens `window.localStorage` if the browser lets this page have it.
    pub fn open() -> RecordStore {
        let local = web_sys::window().and_then(|w| w.local_storage().ok().flatten());
        let kind = if local.is_some() {
            StorageKind::Local
        } else {
            StorageKind::Memory
        };
        RecordStore {
            local,
            kind: Cell::new(kind),
        }
    }

    /// Where the last write went.
    pub fn kind(&self) -> StorageKind {
        self.kind.get()
    }

    /// Writes a record; a refusal switches the report to `memory` until a write succeeds.
    pub fn set(&self, key: &str, value: &str) {
        let ok = self
            .local
            .as_ref()
            .is_some_and(|s| s.set_item(key, value).is_ok());
        self.kind.set(if ok {
            StorageKind::Local
        } else {
            StorageKind::Memory
        });
    }

    /// Deletes a record; a failure is harmless (the record is gone from the queue).
    pub fn remove(&self, key: &str) {
        if let Some(s) = &self.local {
            let _ = s.remove_item(key);
        }
    }

    /// Every record stored under `prefix`, read once when a tracker starts.
    pub fn load(&self, prefix: &str) -> Vec<(String, String)> {
        let Some(s) = &self.local else {
            return Vec::new();
        };
        let len = s.length().unwrap_or(0);
        let keys: Vec<String> = (0..len)
            .filter_map(|i| s.key(i).ok().flatten())
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
