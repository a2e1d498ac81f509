//! Sorted `Vec`s for the engine's sets of ids (settled, of unknown fate) and its maps of
//! storage keys to texts (a follower's copy of other tabs' records, writes localStorage
//! refused): one small type each instead of `BTreeSet`/`BTreeMap` code compiled in per key
//! and value type, and no node overhead per entry. Ids sort by creation, so new ids (and
//! record keys, which end in them) mostly land at the end.

/// A set of ids, kept sorted and unique.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdSet(Vec<String>);

impl IdSet {
    /// An empty set.
    pub const fn new() -> IdSet {
        IdSet(Vec::new())
    }

    /// Adds `id`; false when it was there already.
    pub fn insert(&mut self, id: String) -> bool {
        match self.0.binary_search(&id) {
            Ok(_) => false,
            Err(at) => {
                self.0.insert(at, id);
                true
            }
        }
    }

    /// Takes `id` out; false when it was not there.
    pub fn remove(&mut self, id: &str) -> bool {
        match self.find(id) {
            Ok(at) => {
                self.0.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    /// Whether `id` is in the set.
    pub fn contains(&self, id: &str) -> bool {
        self.find(id).is_ok()
    }

    /// How many ids the set holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn find(&self, id: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|probe| probe.as_str().cmp(id))
    }
}

impl IntoIterator for IdSet {
    type Item = String;
    type IntoIter = std::vec::IntoIter<String>;

    /// The ids in order.
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// Texts by key, kept sorted by key, each key once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextMap(Vec<(String, String)>);

impl TextMap {
    /// An empty map.
    pub const fn new() -> TextMap {
        TextMap(Vec::new())
    }

    /// Sets `key` to `value`; the value it had, if any.
    pub fn insert(&mut self, key: String, value: String) -> Option<String> {
        match self.find(&key) {
            Ok(at) => self
                .0
                .get_mut(at)
                .map(|(_, old)| std::mem::replace(old, value)),
            Err(at) => {
                self.0.insert(at, (key, value));
                None
            }
        }
    }

    /// Takes `key` out; the value it had, if any.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let at = self.find(key).ok()?;
        Some(self.0.remove(at).1)
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&String> {
        let at = self.find(key).ok()?;
        self.0.get(at).map(|(_, v)| v)
    }

    /// How many keys the map holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries in key order.
    pub fn iter(&self) -> std::slice::Iter<'_, (String, String)> {
        self.0.iter()
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0
            .binary_search_by(|(probe, _)| probe.as_str().cmp(key))
    }
}

impl IntoIterator for TextMap {
    type Item = (String, String);
    type IntoIter = std::vec::IntoIter<(String, String)>;

    /// The entries in key order.
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a TextMap {
    type Item = &'a (String, String);
    type IntoIter = std::slice::Iter<'a, (String, String)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_each_id_once_in_order() {
        let mut set = IdSet::new();
        for id in ["b", "a", "c", "a"] {
            set.insert(id.to_owned());
        }
        assert_eq!(set.len(), 3);
        assert!(set.contains("a") && !set.contains("d"));
        assert!(!set.insert("b".to_owned()));
        assert!(set.remove("b") && !set.remove("b"));
        assert_eq!(set.into_iter().collect::<Vec<_>>(), ["a", "c"]);
    }

    #[test]
    fn keeps_one_text_per_key_in_key_order() {
        let mut map = TextMap::new();
        assert_eq!(map.insert("k2".into(), "b".into()), None);
        assert_eq!(map.insert("k1".into(), "a".into()), None);
        assert_eq!(map.insert("k2".into(), "c".into()), Some("b".into()));
        assert_eq!(map.get("k2").map(String::as_str), Some("c"));
        assert_eq!(map.len(), 2);
        let keys: Vec<&str> = map.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["k1", "k2"]);
        assert_eq!(map.remove("k1"), Some("a".into()));
        assert_eq!(map.remove("k1"), None);
        assert!(!map.is_empty());
    }
}
