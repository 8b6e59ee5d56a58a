//! A bounded, least-recently-used cache of hydrated aggregates for the command path.
//!
//! An entry is taken out while a command runs on it and put back with the new state after a
//! successful append, so the cache never needs to clone a state, and two commands on one
//! stream never share one. A cached state is only a guess about the stream: the append's
//! expected-version check validates it, and a conflict evicts it.

use std::collections::{BTreeMap, HashMap};
use std::sync::PoisonError;

pub(crate) struct AggregateCache<A> {
    capacity: usize,
    entries: HashMap<String, Entry<A>>,
    /// Recency order: tick → stream id. The smallest tick is the least recently used.
    recency: BTreeMap<u64, String>,
    tick: u64,
}

struct Entry<A> {
    state: A,
    version: u64,
    tick: u64,
}

impl<A> AggregateCache<A> {
    pub(crate) fn new(capacity: usize) -> Self {
        AggregateCache {
            capacity,
            entries: HashMap::new(),
            recency: BTreeMap::new(),
            tick: 0,
        }
    }

    /// Takes the cached state of `stream_id` out of the cache.
    pub(crate) fn take(&mut self, stream_id: &str) -> Option<(A, u64)> {
        let entry = self.entries.remove(stream_id)?;
        self.recency.remove(&entry.tick);
        Some((entry.state, entry.version))
    }

    /// Puts the state of `stream_id` at `version` into the cache, evicting the least
    /// recently used entries beyond the capacity.
    pub(crate) fn put(&mut self, stream_id: &str, state: A, version: u64) {
        if self.capacity == 0 {
            return;
        }
        self.tick += 1;
        if let Some(old) = self.entries.insert(
            stream_id.to_owned(),
            Entry {
                state,
                version,
                tick: self.tick,
            },
        ) {
            self.recency.remove(&old.tick);
        }
        self.recency.insert(self.tick, stream_id.to_owned());
        while self.entries.len() > self.capacity {
            let Some((_, oldest)) = self.recency.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

impl<A, S> super::Repository<A, S> {
    pub(super) fn cache_take(&self, stream_id: &str) -> Option<(A, u64)> {
        let cache = self.cache.as_ref()?;
        cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take(stream_id)
    }

    pub(super) fn cache_put(&self, stream_id: &str, state: A, version: u64) {
        if let Some(cache) = &self.cache {
            cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .put(stream_id, state, version);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AggregateCache;

    #[test]
    fn take_removes_the_entry() {
        let mut cache = AggregateCache::new(2);
        cache.put("a", 1, 1);
        assert_eq!(cache.take("a"), Some((1, 1)));
        assert_eq!(cache.take("a"), None);
    }

    #[test]
    fn the_least_recently_used_entry_is_evicted_first() {
        let mut cache = AggregateCache::new(2);
        cache.put("a", 1, 1);
        cache.put("b", 2, 1);
        let a = cache.take("a").unwrap();
        cache.put("a", a.0, a.1); // "a" is now the most recent
        cache.put("c", 3, 1);
        assert_eq!(cache.len(), 2);
        assert!(cache.take("b").is_none(), "b was the least recently used");
        assert!(cache.take("a").is_some() && cache.take("c").is_some());
    }

    #[test]
    fn capacity_zero_caches_nothing() {
        let mut cache = AggregateCache::new(0);
        cache.put("a", 1, 1);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn putting_a_stream_again_replaces_it() {
        let mut cache = AggregateCache::new(2);
        cache.put("a", 1, 1);
        cache.put("a", 2, 2);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.take("a"), Some((2, 2)));
    }
}
