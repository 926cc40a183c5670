//! What the store said recently, kept in memory and trusted only while the store's generation is
//! unchanged: verified tokens ([`crate::tokens::verified`]), projects and roles
//! ([`crate::access`]), and on the HTTP side badge states (`circlet_server::status::badges`) and
//! rendered build lists (`circlet_server::api::v1_builds`) are all this map, read through
//! [`GenerationMemo::get_or_read`].
//!
//! The generation must be read *before* the store read whose answer is put here; an entry
//! counts only while a later read of the generation returns the same value, and for at most
//! the memo's time to live. The caller decides what is worth remembering (never "not found":
//! guesses must not fill memory, and something created a moment ago must be seen at once).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Entry<V, G> {
    generation: G,
    fetched: Instant,
    value: V,
}

/// A bounded map from `K` to `V` whose entries are tagged with a generation `G`.
pub struct GenerationMemo<K, V, G> {
    entries: Mutex<HashMap<K, Entry<V, G>>>,
    ttl: Duration,
    capacity: usize,
}

impl<K: Eq + Hash, V: Clone, G: Copy + Eq> GenerationMemo<K, V, G> {
    /// An empty memo whose entries live at most `ttl` and of which there are at most
    /// `capacity`; when full, stale entries and then everything are dropped.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        GenerationMemo {
            entries: Mutex::new(HashMap::new()),
            ttl,
            capacity,
        }
    }

    /// The value remembered for `key`, if it was put under `generation` less than the time to
    /// live ago.
    pub fn get<Q>(&self, key: &Q, generation: G) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entries = self.entries.lock().expect("memo lock");
        let e = entries.get(key)?;
        (e.generation == generation && e.fetched.elapsed() < self.ttl).then(|| e.value.clone())
    }

    /// Remembers `value` for `key`, read from the store under `generation`.
    pub fn put(&self, key: K, generation: G, value: V) {
        let mut entries = self.entries.lock().expect("memo lock");
        if entries.len() >= self.capacity {
            let ttl = self.ttl;
            entries.retain(|_, e| e.generation == generation && e.fetched.elapsed() < ttl / 2);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(
            key,
            Entry {
                generation,
                fetched: Instant::now(),
                value,
            },
        );
    }

    /// The value for `key`: from memory when it was put under `generation`, else from `read`,
    /// and then remembered under `generation` if `read` found something. `generation` is the
    /// store's, read before this call (so before `read`); `None` means memory may not be
    /// trusted now, and `read` always runs.
    pub async fn get_or_read<E, Fut>(
        &self,
        key: K,
        generation: Option<G>,
        read: impl FnOnce() -> Fut,
    ) -> Result<Option<V>, E>
    where
        Fut: Future<Output = Result<Option<V>, E>>,
    {
        if let Some(g) = generation
            && let Some(hit) = self.get(&key, g)
        {
            return Ok(Some(hit));
        }
        let found = read().await?;
        if let (Some(g), Some(value)) = (generation, &found) {
            self.put(key, g, value.clone());
        }
        Ok(found)
    }

    /// How many entries are held (valid or not).
    pub fn len(&self) -> usize {
        self.entries.lock().expect("memo lock").len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_counts_only_under_its_generation() {
        let memo: GenerationMemo<String, u32, u64> =
            GenerationMemo::new(Duration::from_secs(60), 10);
        memo.put("a".into(), 1, 7);
        assert_eq!(memo.get("a", 1), Some(7));
        assert_eq!(memo.get("a", 2), None);
        assert_eq!(memo.get("b", 1), None);
    }

    #[test]
    fn an_entry_expires() {
        let memo: GenerationMemo<String, u32, u64> = GenerationMemo::new(Duration::ZERO, 10);
        memo.put("a".into(), 1, 7);
        assert_eq!(memo.get("a", 1), None);
    }

    #[test]
    fn a_full_memo_makes_room() {
        let memo: GenerationMemo<u32, u32, u64> = GenerationMemo::new(Duration::from_secs(60), 3);
        for k in 0..3 {
            memo.put(k, 1, k);
        }
        // Entries of an older generation go first.
        memo.put(3, 2, 3);
        assert_eq!(memo.len(), 1);
        assert_eq!(memo.get(&3, 2), Some(3));
        for k in 4..6 {
            memo.put(k, 2, k);
        }
        // All of the current generation and fresh: everything goes.
        memo.put(6, 2, 6);
        assert_eq!(memo.len(), 1);
        assert_eq!(memo.get(&6, 2), Some(6));
    }
}
