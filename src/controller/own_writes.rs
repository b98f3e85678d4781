//! The operator's own writes to LocustTests that its cache has not seen yet.
//!
//! A reconcile creates a test's children and writes its status; the children's watch events
//! trigger the next reconcile, often before the LocustTest watch has delivered the operator's
//! own write. That reconcile would act on the stale test: patch a status that differs from the
//! stale one, with
//! the stale `resourceVersion` as precondition (409), or create children again (409). Every
//! such write is refused, so this is about cost, not correctness: recording which
//! `resourceVersion`s our own writes replaced lets a reconcile that sees one of them wait for
//! the watch event that is on its way instead of writing.
//!
//! Children likewise: a child the operator created and the child cache does not show yet is
//! on its way too (keyed by the test's uid, so a test deleted and recreated under the same
//! name never waits for the children of its predecessor).
//!
//! An entry is only trusted for [`OwnWrites::TRUST`]: if the watch were to lag longer, the
//! reconcile goes ahead as it would without this record (and a stale write gets its 409).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// `resourceVersion`s of LocustTests replaced by the operator's own writes, per test uid.
#[derive(Debug, Default)]
pub struct OwnWrites {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    by_uid: Expiring<String, Entry>,
    /// Children created: (test uid, kind, name).
    children: Expiring<(String, &'static str, String), Instant>,
}

/// A map whose expired entries are dropped when it reaches a size (amortized; entries of tests
/// deleted before their watch event arrived would otherwise stay).
#[derive(Debug)]
struct Expiring<K, V> {
    map: HashMap<K, V>,
    prune_at: usize,
}

impl<K, V> Default for Expiring<K, V> {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
            prune_at: 0,
        }
    }
}

impl<K: std::hash::Hash + Eq, V> Expiring<K, V> {
    fn prune(&mut self, now: Instant, recorded_at: impl Fn(&V) -> Instant) {
        if self.map.len() >= self.prune_at {
            self.map.retain(|_, value| trusted(recorded_at(value), now));
            self.prune_at = (self.map.len() * 2).max(OwnWrites::MIN_PRUNE_AT);
        }
    }
}

/// True while a record made `at` is trusted ([`OwnWrites::TRUST`]).
fn trusted(at: Instant, now: Instant) -> bool {
    now.duration_since(at) < OwnWrites::TRUST
}

#[derive(Debug)]
struct Entry {
    /// What our writes replaced, in order (writes of several reconciles may chain before the
    /// cache catches up).
    replaced: Vec<String>,
    /// What the last write stored.
    latest: String,
    /// When the last write was recorded.
    at: Instant,
}

impl OwnWrites {
    /// How long a recorded write is trusted to show up in the cache.
    pub const TRUST: Duration = Duration::from_secs(30);
    const MIN_PRUNE_AT: usize = 64;

    /// Records that a write of ours replaced `before` of test `uid` by `after`.
    pub fn record(&self, uid: &str, before: &str, after: &str, now: Instant) {
        if uid.is_empty() || before.is_empty() || after.is_empty() || before == after {
            return;
        }
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        match inner.by_uid.map.get_mut(uid) {
            // A chain of our writes: each replaced what the previous one stored.
            Some(entry) if entry.latest == before && trusted(entry.at, now) => {
                entry.replaced.push(before.to_owned());
                entry.latest = after.to_owned();
                entry.at = now;
            }
            _ => {
                inner.by_uid.map.insert(
                    uid.to_owned(),
                    Entry {
                        replaced: vec![before.to_owned()],
                        latest: after.to_owned(),
                        at: now,
                    },
                );
            }
        }
        inner.by_uid.prune(now, |entry| entry.at);
    }

    /// True when `resource_version` of test `uid`, as the cache shows it, is one our own
    /// writes already replaced: the cache is behind, and the watch event of our write will
    /// trigger another reconcile. Otherwise the record of the test is dropped (the cache
    /// caught up, or someone else wrote since).
    pub fn cache_is_behind(&self, uid: &str, resource_version: &str, now: Instant) -> bool {
        let Ok(mut inner) = self.inner.lock() else {
            return false;
        };
        let behind = inner.by_uid.map.get(uid).is_some_and(|entry| {
            trusted(entry.at, now) && entry.replaced.iter().any(|rv| rv == resource_version)
        });
        if !behind {
            inner.by_uid.map.remove(uid);
        }
        behind
    }

    /// Records that we created child `kind`/`name` of test `uid`.
    pub fn record_child(&self, uid: &str, kind: &'static str, name: &str, now: Instant) {
        if uid.is_empty() {
            return;
        }
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        inner
            .children
            .map
            .insert((uid.to_owned(), kind, name.to_owned()), now);
        inner.children.prune(now, |at| *at);
    }

    /// True when we created child `kind`/`name` of test `uid` and the cache, which does not
    /// show that name (`cached` false), has not seen it yet. Once the cache shows the name,
    /// the record is dropped.
    pub fn child_cache_is_behind(
        &self,
        uid: &str,
        kind: &'static str,
        name: &str,
        cached: bool,
        now: Instant,
    ) -> bool {
        let Ok(mut inner) = self.inner.lock() else {
            return false;
        };
        let key = (uid.to_owned(), kind, name.to_owned());
        let behind = !cached
            && inner
                .children
                .map
                .get(&key)
                .is_some_and(|at| trusted(*at, now));
        if !behind {
            inner.children.map.remove(&key);
        }
        behind
    }

    /// Number of records, tests and children.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner
            .lock()
            .map(|i| i.by_uid.map.len() + i.children.map.len())
            .unwrap_or(0)
    }

    /// True when nothing is recorded.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, seconds: u64) -> Instant {
        start + Duration::from_secs(seconds)
    }

    #[test]
    fn nothing_recorded_means_not_behind() {
        let writes = OwnWrites::default();
        assert!(!writes.cache_is_behind("u", "1", Instant::now()));
    }

    #[test]
    fn a_chain_of_writes_marks_every_replaced_version() {
        let writes = OwnWrites::default();
        let t = Instant::now();
        writes.record("u", "1", "2", t); // annotation
        writes.record("u", "2", "3", t); // status
        assert!(writes.cache_is_behind("u", "1", t));
        assert!(writes.cache_is_behind("u", "2", t));
        // Caught up: the record is dropped.
        assert!(!writes.cache_is_behind("u", "3", t));
        assert!(writes.is_empty());
        assert!(!writes.cache_is_behind("u", "1", t));
    }

    #[test]
    fn someone_elses_version_is_not_behind_and_drops_the_record() {
        let writes = OwnWrites::default();
        let t = Instant::now();
        writes.record("u", "1", "2", t);
        assert!(!writes.cache_is_behind("u", "7", t));
        assert!(!writes.cache_is_behind("u", "1", t));
    }

    #[test]
    fn a_write_not_following_the_last_one_starts_a_new_record() {
        let writes = OwnWrites::default();
        let t = Instant::now();
        writes.record("u", "1", "2", t);
        // Someone else wrote 3, 4, 5; our next write replaced 5.
        writes.record("u", "5", "6", t);
        assert!(writes.cache_is_behind("u", "5", t));
        // 1 was not replaced by the chain that ends at 6.
        assert!(!writes.cache_is_behind("u", "1", t));
    }

    #[test]
    fn tests_are_kept_apart_by_uid() {
        let writes = OwnWrites::default();
        let t = Instant::now();
        writes.record("a", "1", "2", t);
        assert!(!writes.cache_is_behind("b", "1", t));
        assert!(writes.cache_is_behind("a", "1", t));
    }

    #[test]
    fn a_record_is_trusted_only_for_a_while() {
        let writes = OwnWrites::default();
        let t = Instant::now();
        writes.record("u", "1", "2", t);
        assert!(writes.cache_is_behind("u", "1", at(t, 29)));
        assert!(!writes.cache_is_behind("u", "1", at(t, 30)));
        // An expired record does not chain either.
        writes.record("u", "1", "2", t);
        writes.record("u", "2", "3", at(t, 31));
        assert!(!writes.cache_is_behind("u", "1", at(t, 31)));
    }

    #[test]
    fn a_created_child_the_cache_does_not_show_yet_is_behind() {
        let writes = OwnWrites::default();
        let t = Instant::now();
        assert!(!writes.child_cache_is_behind("u", "Job", "a-master", false, t));
        writes.record_child("u", "Job", "a-master", t);
        assert!(writes.child_cache_is_behind("u", "Job", "a-master", false, t));
        // Another kind, name or test is not.
        assert!(!writes.child_cache_is_behind("u", "Service", "a-master", false, t));
        assert!(!writes.child_cache_is_behind("u", "Job", "a-worker", false, t));
        assert!(!writes.child_cache_is_behind("v", "Job", "a-master", false, t));
        // Seen: dropped, and a later deletion is not mistaken for lag.
        assert!(!writes.child_cache_is_behind("u", "Job", "a-master", true, t));
        assert!(!writes.child_cache_is_behind("u", "Job", "a-master", false, t));
        assert!(writes.is_empty());
    }

    #[test]
    fn a_created_child_is_waited_for_only_for_a_while() {
        let writes = OwnWrites::default();
        let t = Instant::now();
        writes.record_child("u", "Service", "a-master", t);
        assert!(writes.child_cache_is_behind("u", "Service", "a-master", false, at(t, 29)));
        assert!(!writes.child_cache_is_behind("u", "Service", "a-master", false, at(t, 30)));
        writes.record_child("", "Service", "a-master", t);
        assert!(writes.is_empty());
    }

    #[test]
    fn incomplete_or_no_op_writes_are_not_recorded() {
        let writes = OwnWrites::default();
        let t = Instant::now();
        writes.record("", "1", "2", t);
        writes.record("u", "", "2", t);
        writes.record("u", "1", "", t);
        writes.record("u", "1", "1", t);
        assert!(writes.is_empty());
    }

    #[test]
    fn expired_records_of_vanished_tests_are_pruned() {
        let writes = OwnWrites::default();
        let t = Instant::now();
        for i in 0..1000 {
            writes.record(&format!("old-{i}"), "1", "2", t);
        }
        let later = at(t, 60);
        for i in 0..100 {
            writes.record(&format!("new-{i}"), "1", "2", later);
        }
        // Only the young records are left.
        assert_eq!(writes.len(), 100);
        assert!(writes.cache_is_behind("new-9", "1", later));
    }
}
