//! Group commit bookkeeping, sans-IO: which requests' records go into the
//! next WAL write, and whose replies a durable batch releases, in order.
//!
//! The runtime (glommio tasks waiting on oneshot channels) and the
//! simulator (replies parked in a queue) share this one implementation,
//! so the simulator tests the rule the server runs: a reply leaves only
//! once its records, and everything queued before them, are durable.
//!
//! ```
//! use sipbrain_storage::GroupCommit;
//! let mut group = GroupCommit::new();
//! assert_eq!(group.push(vec![], "read"), Some("read")); // nothing to wait for
//! assert_eq!(group.push(vec![b"event".to_vec()], "write"), None);
//! assert_eq!(group.push(vec![], "read after"), None); // waits behind "write"
//! let batch = group.take().unwrap();
//! // … append batch.records, one write + one sync …
//! assert_eq!(group.committed(batch), vec!["write", "read after"]);
//! assert!(group.is_idle());
//! ```

/// One request's records and who waits for them.
#[derive(Debug)]
struct Entry<W> {
    records: Vec<Vec<u8>>,
    /// None when the waiter was already released (a planted bug only).
    waiter: Option<W>,
}

/// What one commit writes: every record queued since the last take, and
/// their waiters in queue order.
#[derive(Debug)]
pub struct Batch<W> {
    /// Encoded records, in the order they must be appended.
    pub records: Vec<Vec<u8>>,
    waiters: Vec<Option<W>>,
}

impl<W> Batch<W> {
    /// Requests in this batch.
    pub fn entries(&self) -> usize {
        self.waiters.len()
    }
}

/// A shard's group commit queue.
#[derive(Debug)]
pub struct GroupCommit<W> {
    queue: Vec<Entry<W>>,
    /// Entries taken into a batch and not yet committed.
    committing: usize,
}

impl<W> Default for GroupCommit<W> {
    fn default() -> Self {
        GroupCommit {
            queue: Vec::new(),
            committing: 0,
        }
    }
}

impl<W> GroupCommit<W> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues one request's encoded records. Returns the waiter back when
    /// it need not wait: no records of its own and nothing queued or being
    /// committed. Otherwise it comes back from [`GroupCommit::committed`].
    pub fn push(&mut self, records: Vec<Vec<u8>>, waiter: W) -> Option<W> {
        if records.is_empty() && self.is_idle() {
            return Some(waiter);
        }
        #[cfg(feature = "planted-bugs")]
        if crate::planted::active(crate::planted::Bug::AckBeforeFsync) {
            self.queue.push(Entry {
                records,
                waiter: None,
            });
            return Some(waiter);
        }
        self.queue.push(Entry {
            records,
            waiter: Some(waiter),
        });
        assert!(!self.is_idle());
        None
    }

    /// Everything queued, as one batch; None when nothing is queued. Its
    /// entries count as committing until [`GroupCommit::committed`].
    pub fn take(&mut self) -> Option<Batch<W>> {
        if self.queue.is_empty() {
            return None;
        }
        let entries = std::mem::take(&mut self.queue);
        self.committing += entries.len();
        let mut records = Vec::new();
        let mut waiters = Vec::with_capacity(entries.len());
        for entry in entries {
            records.extend(entry.records);
            waiters.push(entry.waiter);
        }
        Some(Batch { records, waiters })
    }

    /// `batch` is durable: its waiters, in the order they were pushed.
    pub fn committed(&mut self, batch: Batch<W>) -> Vec<W> {
        assert!(
            self.committing >= batch.waiters.len(),
            "a batch committed twice"
        );
        self.committing -= batch.waiters.len();
        batch.waiters.into_iter().flatten().collect()
    }

    /// Nothing queued or being committed: everything pushed is durable.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.committing == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_with_nothing_pending_goes_at_once() {
        let mut group = GroupCommit::new();
        assert_eq!(group.push(vec![], 1), Some(1));
        assert!(group.is_idle());
        assert!(group.take().is_none());
    }

    #[test]
    fn waiters_come_back_in_order_only_after_their_batch() {
        let mut group = GroupCommit::new();
        assert_eq!(group.push(vec![b"a".to_vec()], 1), None);
        assert_eq!(group.push(vec![], 2), None, "a read waits behind a write");
        let first = group.take().expect("queued");
        assert_eq!(first.records, vec![b"a".to_vec()]);
        assert_eq!(group.push(vec![b"b".to_vec(), b"c".to_vec()], 3), None);
        assert_eq!(group.push(vec![], 4), None, "still committing");
        assert_eq!(group.committed(first), vec![1, 2]);
        assert!(!group.is_idle());
        let second = group.take().expect("queued");
        assert_eq!(second.records, vec![b"b".to_vec(), b"c".to_vec()]);
        assert_eq!(second.entries(), 2);
        assert_eq!(group.committed(second), vec![3, 4]);
        assert!(group.is_idle());
    }

    #[test]
    #[should_panic(expected = "committed twice")]
    fn a_batch_cannot_be_committed_twice() {
        let mut group: GroupCommit<u8> = GroupCommit::new();
        group.push(vec![b"a".to_vec()], 1);
        let batch = group.take().unwrap();
        let again = Batch {
            records: Vec::new(),
            waiters: vec![Some(9)],
        };
        group.committed(batch);
        group.committed(again);
    }

    #[cfg(feature = "planted-bugs")]
    #[test]
    fn the_planted_bug_releases_a_waiter_before_its_commit() {
        use crate::planted::{plant, Bug};
        plant(Some(Bug::AckBeforeFsync));
        let mut group = GroupCommit::new();
        assert_eq!(group.push(vec![b"a".to_vec()], 1), Some(1));
        let batch = group.take().expect("the records are still queued");
        assert_eq!(group.committed(batch), Vec::<i32>::new());
        plant(None);
        assert_eq!(group.push(vec![b"a".to_vec()], 2), None);
    }
}
