//! Bounded memory of (nonce, nc) pairs already used.

use crate::limits::REPLAY_ENTRIES_MAX;
use crate::time::Millis;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Remembers used (nonce, nc) pairs until they expire. Deterministic
/// (BTreeMap) and bounded by [`crate::limits::REPLAY_ENTRIES_MAX`] (or the
/// cap given to [`ReplayCache::with_capacity_max`]).
///
/// Serialized as `{ "max", "entries": [{nonce, nc, expires_at}, …] }`; the
/// expiry index is rebuilt on load, and a snapshot breaking the invariants
/// (more entries than `max`, a pair twice) is refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "ReplaySnapshot", try_from = "ReplaySnapshot")]
pub struct ReplayCache {
    /// (nonce, nc) → expiry.
    entries: BTreeMap<(String, String), Millis>,
    /// The same pairs ordered by expiry, for pruning and eviction.
    by_expiry: BTreeSet<(Millis, String, String)>,
    /// Most pairs kept.
    max: usize,
}

impl Default for ReplayCache {
    /// An empty cache capped at [`REPLAY_ENTRIES_MAX`].
    fn default() -> ReplayCache {
        ReplayCache::with_capacity_max(REPLAY_ENTRIES_MAX)
    }
}

impl ReplayCache {
    /// An empty cache keeping at most `max` pairs.
    pub fn with_capacity_max(max: usize) -> ReplayCache {
        ReplayCache {
            entries: BTreeMap::new(),
            by_expiry: BTreeSet::new(),
            max,
        }
    }

    /// The most pairs this cache keeps.
    pub fn capacity_max(&self) -> usize {
        self.max
    }

    /// True when the pair was already used and has not expired at `now`.
    pub fn seen(&self, nonce: &str, nc: &str, now: Millis) -> bool {
        // BTreeMap<(String, String), _> cannot be queried by (&str, &str)
        // without allocating; the pair is short (bounded by the header caps).
        self.entries
            .get(&(nonce.to_owned(), nc.to_owned()))
            .is_some_and(|expires_at| *expires_at > now)
    }

    /// Records a use, forgetting expired pairs (and the soonest-expiring one
    /// when full). A pair already known gets the new expiry; a pair already
    /// expired at `now` is not stored; with a cap of 0 nothing is.
    pub fn record(&mut self, nonce: &str, nc: &str, expires_at: Millis, now: Millis) {
        self.prune(now);
        let key = (nonce.to_owned(), nc.to_owned());
        if let Some(old) = self.entries.remove(&key) {
            self.by_expiry.remove(&(old, key.0.clone(), key.1.clone()));
        }
        if expires_at <= now || self.max == 0 {
            return;
        }
        while self.entries.len() >= self.max {
            let Some((_, n, c)) = self.by_expiry.pop_first() else {
                break;
            };
            self.entries.remove(&(n, c));
        }
        self.by_expiry
            .insert((expires_at, key.0.clone(), key.1.clone()));
        self.entries.insert(key, expires_at);
    }

    /// Forgets every pair expired at `now` (expiry ≤ `now`).
    pub fn prune(&mut self, now: Millis) {
        while let Some(first) = self.by_expiry.first() {
            if first.0 > now {
                break;
            }
            if let Some((_, n, c)) = self.by_expiry.pop_first() {
                self.entries.remove(&(n, c));
            }
        }
    }

    /// Pairs remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no pair is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The serialized form of a [`ReplayCache`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplaySnapshot {
    pub max: usize,
    pub entries: Vec<ReplayEntry>,
}

/// One remembered pair in a [`ReplaySnapshot`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayEntry {
    pub nonce: String,
    pub nc: String,
    pub expires_at: Millis,
}

impl From<ReplayCache> for ReplaySnapshot {
    /// Lists the pairs in (nonce, nc) order.
    fn from(cache: ReplayCache) -> ReplaySnapshot {
        ReplaySnapshot {
            max: cache.max,
            entries: cache
                .entries
                .into_iter()
                .map(|((nonce, nc), expires_at)| ReplayEntry {
                    nonce,
                    nc,
                    expires_at,
                })
                .collect(),
        }
    }
}

impl TryFrom<ReplaySnapshot> for ReplayCache {
    type Error = String;

    /// Rebuilds the cache and its index, refusing broken invariants.
    fn try_from(snapshot: ReplaySnapshot) -> Result<ReplayCache, String> {
        if snapshot.entries.len() > snapshot.max {
            return Err(format!(
                "{} replay entries exceed the cap of {}",
                snapshot.entries.len(),
                snapshot.max
            ));
        }
        let mut cache = ReplayCache::with_capacity_max(snapshot.max);
        for ReplayEntry {
            nonce,
            nc,
            expires_at,
        } in snapshot.entries
        {
            cache
                .by_expiry
                .insert((expires_at, nonce.clone(), nc.clone()));
            if cache.entries.insert((nonce, nc), expires_at).is_some() {
                return Err("a replay entry appears twice".into());
            }
        }
        Ok(cache)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_recorded_pair_is_seen_until_it_expires() {
        let mut cache = ReplayCache::default();
        assert!(!cache.seen("n", "00000001", Millis(0)));
        cache.record("n", "00000001", Millis(100), Millis(0));
        assert!(cache.seen("n", "00000001", Millis(0)));
        assert!(cache.seen("n", "00000001", Millis(99)));
        assert!(!cache.seen("n", "00000001", Millis(100)));
        assert!(!cache.seen("n", "00000002", Millis(0)));
        assert!(!cache.seen("m", "00000001", Millis(0)));
        assert_eq!(cache.capacity_max(), REPLAY_ENTRIES_MAX);
    }

    #[test]
    fn recording_drops_expired_pairs() {
        let mut cache = ReplayCache::default();
        cache.record("a", "1", Millis(10), Millis(0));
        cache.record("b", "1", Millis(20), Millis(0));
        cache.record("c", "1", Millis(30), Millis(20));
        assert_eq!(cache.len(), 1);
        assert!(cache.seen("c", "1", Millis(20)));
    }

    #[test]
    fn an_already_expired_pair_is_not_stored() {
        let mut cache = ReplayCache::default();
        cache.record("a", "1", Millis(10), Millis(10));
        assert!(cache.is_empty());
    }

    #[test]
    fn rerecording_a_pair_updates_its_expiry() {
        let mut cache = ReplayCache::with_capacity_max(2);
        cache.record("a", "1", Millis(10), Millis(0));
        cache.record("a", "1", Millis(50), Millis(0));
        assert_eq!(cache.len(), 1);
        assert!(cache.seen("a", "1", Millis(40)));
        cache.record("b", "1", Millis(20), Millis(0));
        cache.record("c", "1", Millis(30), Millis(0));
        assert!(
            cache.seen("a", "1", Millis(0)),
            "the stale index entry of `a` must not evict it"
        );
        assert!(!cache.seen("b", "1", Millis(0)));
    }

    #[test]
    fn a_full_cache_forgets_the_soonest_expiring_pair() {
        let mut cache = ReplayCache::with_capacity_max(3);
        cache.record("a", "1", Millis(300), Millis(0));
        cache.record("b", "1", Millis(100), Millis(0));
        cache.record("c", "1", Millis(200), Millis(0));
        cache.record("d", "1", Millis(400), Millis(0));
        assert_eq!(cache.len(), 3);
        assert!(!cache.seen("b", "1", Millis(0)));
        for n in ["a", "c", "d"] {
            assert!(cache.seen(n, "1", Millis(0)));
        }
    }

    #[test]
    fn a_zero_cap_stores_nothing() {
        let mut cache = ReplayCache::with_capacity_max(0);
        cache.record("a", "1", Millis(300), Millis(0));
        assert!(cache.is_empty());
    }

    #[test]
    fn a_snapshot_roundtrips_through_json() {
        let mut cache = ReplayCache::with_capacity_max(5);
        cache.record("a", "00000001", Millis(300), Millis(0));
        cache.record("b", "00000002", Millis(100), Millis(0));
        let json = serde_json::to_string(&cache).unwrap();
        let back: ReplayCache = serde_json::from_str(&json).unwrap();
        assert_eq!(back, cache);
    }

    #[test]
    fn a_snapshot_breaking_the_invariants_is_refused() {
        let over = r#"{"max":1,"entries":[{"nonce":"a","nc":"1","expires_at":5},{"nonce":"b","nc":"1","expires_at":5}]}"#;
        assert!(serde_json::from_str::<ReplayCache>(over).is_err());
        let twice = r#"{"max":3,"entries":[{"nonce":"a","nc":"1","expires_at":5},{"nonce":"a","nc":"1","expires_at":6}]}"#;
        assert!(serde_json::from_str::<ReplayCache>(twice).is_err());
    }

    /// A straightforward model of the cache's semantics.
    #[derive(Default)]
    struct Model {
        pairs: Vec<(String, String, Millis)>,
    }

    impl Model {
        fn record(&mut self, nonce: &str, nc: &str, expires_at: Millis, now: Millis, max: usize) {
            self.pairs
                .retain(|(n, c, at)| *at > now && !(n == nonce && c == nc));
            if expires_at <= now || max == 0 {
                return;
            }
            while self.pairs.len() >= max {
                let soonest = (0..self.pairs.len())
                    .min_by_key(|&i| {
                        let (n, c, at) = &self.pairs[i];
                        (*at, n.clone(), c.clone())
                    })
                    .unwrap();
                self.pairs.remove(soonest);
            }
            self.pairs.push((nonce.into(), nc.into(), expires_at));
        }

        fn seen(&self, nonce: &str, nc: &str, now: Millis) -> bool {
            self.pairs
                .iter()
                .any(|(n, c, at)| n == nonce && c == nc && *at > now)
        }
    }

    proptest! {
        #[test]
        fn the_cache_stays_bounded_and_remembers_what_it_keeps(
            cap in 0usize..6,
            ops in proptest::collection::vec((0u8..5, 0u8..3, 0u64..40, 0u64..10), 0..60),
        ) {
            let mut cache = ReplayCache::with_capacity_max(cap);
            let mut model = Model::default();
            let mut now = 0u64;
            for (nonce, nc, ttl, step) in ops {
                now += step;
                let (nonce, nc) = (format!("n{nonce}"), format!("{nc:08}"));
                let expires_at = Millis(now + ttl);
                cache.record(&nonce, &nc, expires_at, Millis(now));
                model.record(&nonce, &nc, expires_at, Millis(now), cap);
                prop_assert!(cache.len() <= cap);
                prop_assert_eq!(cache.entries.len(), cache.by_expiry.len());
                if ttl > 0 && cap > 0 {
                    prop_assert!(cache.seen(&nonce, &nc, Millis(now)));
                }
                for n in 0..5u8 {
                    for c in 0..3u8 {
                        let (n, c) = (format!("n{n}"), format!("{c:08}"));
                        prop_assert_eq!(cache.seen(&n, &c, Millis(now)), model.seen(&n, &c, Millis(now)));
                    }
                }
            }
        }
    }
}
