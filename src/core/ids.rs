//! A set of event ids as a sorted `Vec`: the engine's sets of ids (settled, of unknown
//! fate) share this one small type instead of each compiling in `BTreeSet`'s code, and a
//! sorted `Vec` holds each id with no node overhead. Ids sort by creation, so new ids
//! mostly land at the end.

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
}
