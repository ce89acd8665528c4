//! Per-source-IP /auth failure counting over a sliding window.

use crate::limits::{AUTH_FAILURES_PER_IP_MAX, AUTH_FAILURE_IPS_MAX};
use crate::security::bans::AuthOver;
use crate::time::Millis;
use core::net::IpAddr;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Failure timestamps per IP, bounded by
/// [`crate::limits::AUTH_FAILURE_IPS_MAX`] and
/// [`crate::limits::AUTH_FAILURES_PER_IP_MAX`] (or the caps given to
/// [`FailureCounter::with_caps`]).
///
/// Each IP's timestamps are kept sorted (oldest first). When the IP cap is
/// reached, the IP whose latest failure is the oldest is forgotten; when an
/// IP's cap is reached, its oldest failure is.
///
/// Serialized as `{ "ips_max", "per_ip_max", "ips": [{ip, failures}, …] }`;
/// the index is rebuilt on load and broken invariants are refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "FailureSnapshot", try_from = "FailureSnapshot")]
pub struct FailureCounter {
    /// Failure times per IP, sorted, never empty.
    per_ip: BTreeMap<IpAddr, VecDeque<Millis>>,
    /// (latest failure, ip) for every tracked IP, for eviction.
    by_last: BTreeSet<(Millis, IpAddr)>,
    /// Most IPs tracked.
    ips_max: usize,
    /// Most failures kept per IP.
    per_ip_max: usize,
}

impl Default for FailureCounter {
    /// An empty counter with the caps of [`crate::limits`].
    fn default() -> FailureCounter {
        FailureCounter::with_caps(AUTH_FAILURE_IPS_MAX, AUTH_FAILURES_PER_IP_MAX)
    }
}

/// True when a failure at `at` falls within `window_ms` before `now`
/// (`at > now - window_ms`, without underflow).
fn within(at: Millis, now: Millis, window_ms: u64) -> bool {
    at.0.saturating_add(window_ms) > now.0
}

impl FailureCounter {
    /// An empty counter tracking at most `ips` IPs and `per_ip` failures each.
    pub fn with_caps(ips: usize, per_ip: usize) -> FailureCounter {
        FailureCounter {
            per_ip: BTreeMap::new(),
            by_last: BTreeSet::new(),
            ips_max: ips,
            per_ip_max: per_ip,
        }
    }

    /// Failures of `ip` within `window_ms` before `now` (those at a time
    /// greater than `now - window_ms`).
    pub fn count(&self, ip: IpAddr, now: Millis, window_ms: u64) -> usize {
        self.per_ip.get(&ip).map_or(0, |failures| {
            failures
                .iter()
                .filter(|at| within(**at, now, window_ms))
                .count()
        })
    }

    /// Records a failure of `ip` at `at`, dropping entries older than
    /// `window_ms` before that IP's newest failure (`at` itself when it is
    /// that old), then the oldest ones past the per-IP cap; a new IP past
    /// the IP cap evicts the IP whose latest failure is the oldest. With a
    /// cap of 0 nothing is stored.
    ///
    /// The kept failures depend on which were recorded, not on the order:
    /// a wall clock that stepped back (across a restart) cannot make a
    /// counter rebuilt from a snapshot differ from the one that was saved.
    pub fn record(&mut self, ip: IpAddr, at: Millis, window_ms: u64) {
        if self.ips_max == 0 || self.per_ip_max == 0 {
            return;
        }
        if !self.per_ip.contains_key(&ip) {
            while self.per_ip.len() >= self.ips_max {
                let Some((_, evicted)) = self.by_last.pop_first() else {
                    break;
                };
                self.per_ip.remove(&evicted);
            }
        }
        let failures = self.per_ip.entry(ip).or_default();
        if let Some(last) = failures.back() {
            self.by_last.remove(&(*last, ip));
        }
        let newest = failures.back().map_or(at, |last| (*last).max(at));
        failures.retain(|t| within(*t, newest, window_ms));
        if within(at, newest, window_ms) {
            let position = failures.partition_point(|t| *t <= at);
            failures.insert(position, at);
        }
        while failures.len() > self.per_ip_max {
            failures.pop_front();
        }
        match failures.back() {
            Some(last) => {
                self.by_last.insert((*last, ip));
            }
            None => {
                self.per_ip.remove(&ip);
            }
        }
    }

    /// When `ip`'s failures (plus one at `extra`, as [`Self::record`]
    /// would keep them) hold at least `threshold` within `window_ms` of the
    /// newest: how many, the first and last, and when the count drops below
    /// `threshold` again (the /auth 429 lasts until then).
    pub fn over(
        &self,
        ip: IpAddr,
        extra: Option<Millis>,
        window_ms: u64,
        threshold: usize,
    ) -> Option<AuthOver> {
        let mut times: Vec<Millis> = self
            .per_ip
            .get(&ip)
            .map(|f| f.iter().copied().collect())
            .unwrap_or_default();
        times.extend(extra);
        times.sort();
        let newest = *times.last()?;
        times.retain(|t| within(*t, newest, window_ms));
        let n = times.len();
        if threshold == 0 || n < threshold {
            return None;
        }
        Some(AuthOver {
            failures: n as u64,
            first: times[0],
            last: newest,
            until: Millis(times[n - threshold].0.saturating_add(window_ms)),
        })
    }

    /// Every tracked IP [`Self::over`] the threshold, in address order.
    pub fn over_all(&self, window_ms: u64, threshold: usize) -> Vec<(IpAddr, AuthOver)> {
        self.per_ip
            .keys()
            .filter_map(|ip| Some((*ip, self.over(*ip, None, window_ms, threshold)?)))
            .collect()
    }

    /// IPs tracked.
    pub fn len(&self) -> usize {
        self.per_ip.len()
    }

    /// True when no IP is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The serialized form of a [`FailureCounter`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureSnapshot {
    pub ips_max: usize,
    pub per_ip_max: usize,
    pub ips: Vec<IpFailures>,
}

/// One IP's failures in a [`FailureSnapshot`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpFailures {
    pub ip: IpAddr,
    pub failures: Vec<Millis>,
}

impl From<FailureCounter> for FailureSnapshot {
    /// Lists the IPs in address order.
    fn from(counter: FailureCounter) -> FailureSnapshot {
        FailureSnapshot {
            ips_max: counter.ips_max,
            per_ip_max: counter.per_ip_max,
            ips: counter
                .per_ip
                .into_iter()
                .map(|(ip, failures)| IpFailures {
                    ip,
                    failures: failures.into(),
                })
                .collect(),
        }
    }
}

impl TryFrom<FailureSnapshot> for FailureCounter {
    type Error = String;

    /// Rebuilds the counter and its index, refusing broken invariants.
    fn try_from(snapshot: FailureSnapshot) -> Result<FailureCounter, String> {
        if snapshot.ips.len() > snapshot.ips_max {
            return Err(format!(
                "{} IPs exceed the cap of {}",
                snapshot.ips.len(),
                snapshot.ips_max
            ));
        }
        let mut counter = FailureCounter::with_caps(snapshot.ips_max, snapshot.per_ip_max);
        for IpFailures { ip, failures } in snapshot.ips {
            if failures.is_empty() || failures.len() > snapshot.per_ip_max {
                return Err(format!(
                    "IP {ip} has {} failures (1 to {} allowed)",
                    failures.len(),
                    snapshot.per_ip_max
                ));
            }
            if failures.windows(2).any(|pair| pair[0] > pair[1]) {
                return Err(format!("the failures of IP {ip} are not sorted"));
            }
            let last = failures[failures.len() - 1];
            if counter.per_ip.insert(ip, failures.into()).is_some() {
                return Err(format!("IP {ip} appears twice"));
            }
            counter.by_last.insert((last, ip));
        }
        Ok(counter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};
    use proptest::prelude::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(198, 51, 100, n))
    }

    #[test]
    fn failures_within_the_window_are_counted() {
        let mut counter = FailureCounter::default();
        for t in [0, 10, 20, 30] {
            counter.record(ip(1), Millis(t), 60);
        }
        assert_eq!(counter.count(ip(1), Millis(30), 60), 4);
        assert_eq!(counter.count(ip(1), Millis(60), 60), 3);
        assert_eq!(counter.count(ip(1), Millis(89), 60), 1);
        assert_eq!(counter.count(ip(1), Millis(90), 60), 0);
        assert_eq!(counter.count(ip(2), Millis(30), 60), 0);
        assert_eq!(counter.len(), 1);
    }

    #[test]
    fn the_order_of_recording_does_not_change_what_is_kept() {
        // A wall clock that stepped back: a failure at 100 s recorded before
        // failures at 10 s. Replaying them sorted (as a snapshot does) must
        // give the same counter.
        let times = [100_000, 10_000, 10_000, 99_000, 5_000];
        let mut live = FailureCounter::default();
        for at in times {
            live.record(ip(1), Millis(at), 60_000);
        }
        let mut sorted = times;
        sorted.sort();
        let mut rebuilt = FailureCounter::default();
        for at in sorted {
            rebuilt.record(ip(1), Millis(at), 60_000);
        }
        assert_eq!(live, rebuilt);
        assert_eq!(live.count(ip(1), Millis(100_000), 60_000), 2);
    }

    #[test]
    fn over_says_until_when_the_count_stays_at_the_threshold() {
        let mut counter = FailureCounter::default();
        for t in [0, 10, 20] {
            counter.record(ip(1), Millis(t), 60);
        }
        assert_eq!(counter.over(ip(1), None, 60, 4), None);
        let over = counter.over(ip(1), Some(Millis(30)), 60, 4).unwrap();
        assert_eq!(
            (over.failures, over.first, over.last, over.until),
            (4, Millis(0), Millis(30), Millis(60))
        );
        counter.record(ip(1), Millis(30), 60);
        assert_eq!(counter.over(ip(1), None, 60, 4), Some(over));
        assert_eq!(counter.over(ip(1), None, 60, 2).unwrap().until, Millis(80));
        // The 429 lasts exactly while the count is at the threshold.
        assert_eq!(counter.count(ip(1), Millis(59), 60), 4);
        assert_eq!(counter.count(ip(1), Millis(60), 60), 3);
        assert_eq!(counter.over_all(60, 4), vec![(ip(1), over)]);
        assert_eq!(counter.over(ip(1), None, 60, 0), None);
        assert_eq!(counter.over(ip(2), None, 60, 1), None);
    }

    #[test]
    fn a_failure_at_time_zero_counts_early_on() {
        let mut counter = FailureCounter::default();
        counter.record(ip(1), Millis(0), 60_000);
        assert_eq!(counter.count(ip(1), Millis(0), 60_000), 1);
        assert_eq!(counter.count(ip(1), Millis(59_999), 60_000), 1);
    }

    #[test]
    fn recording_prunes_old_failures_of_that_ip() {
        let mut counter = FailureCounter::default();
        counter.record(ip(1), Millis(0), 60);
        counter.record(ip(1), Millis(10), 60);
        counter.record(ip(1), Millis(65), 60);
        assert_eq!(
            counter.per_ip[&ip(1)],
            VecDeque::from([Millis(10), Millis(65)])
        );
        assert_eq!(counter.count(ip(1), Millis(65), 1_000), 2);
    }

    #[test]
    fn the_per_ip_cap_drops_the_oldest_failure() {
        let mut counter = FailureCounter::with_caps(10, 3);
        for t in [5, 1, 4, 2] {
            counter.record(ip(1), Millis(t), 1_000);
        }
        assert_eq!(
            counter.per_ip[&ip(1)],
            VecDeque::from([Millis(2), Millis(4), Millis(5)])
        );
    }

    #[test]
    fn the_ip_cap_evicts_the_ip_with_the_oldest_last_failure() {
        let mut counter = FailureCounter::with_caps(2, 10);
        counter.record(ip(1), Millis(0), 1_000);
        counter.record(ip(2), Millis(10), 1_000);
        counter.record(ip(1), Millis(20), 1_000);
        counter.record(ip(3), Millis(30), 1_000);
        assert_eq!(counter.len(), 2);
        assert_eq!(counter.count(ip(2), Millis(30), 1_000), 0);
        assert_eq!(counter.count(ip(1), Millis(30), 1_000), 2);
        assert_eq!(counter.count(ip(3), Millis(30), 1_000), 1);
    }

    #[test]
    fn zero_caps_store_nothing() {
        let mut counter = FailureCounter::with_caps(0, 5);
        counter.record(ip(1), Millis(0), 60);
        assert!(counter.is_empty());
        let mut counter = FailureCounter::with_caps(5, 0);
        counter.record(ip(1), Millis(0), 60);
        assert!(counter.is_empty());
    }

    #[test]
    fn a_snapshot_roundtrips_through_json() {
        let mut counter = FailureCounter::with_caps(4, 4);
        counter.record(ip(1), Millis(5), 60);
        counter.record(IpAddr::V6(Ipv6Addr::LOCALHOST), Millis(7), 60);
        counter.record(ip(1), Millis(9), 60);
        let json = serde_json::to_string(&counter).unwrap();
        let back: FailureCounter = serde_json::from_str(&json).unwrap();
        assert_eq!(back, counter);
    }

    #[test]
    fn a_snapshot_breaking_the_invariants_is_refused() {
        for bad in [
            r#"{"ips_max":0,"per_ip_max":2,"ips":[{"ip":"198.51.100.1","failures":[1]}]}"#,
            r#"{"ips_max":2,"per_ip_max":1,"ips":[{"ip":"198.51.100.1","failures":[1,2]}]}"#,
            r#"{"ips_max":2,"per_ip_max":2,"ips":[{"ip":"198.51.100.1","failures":[]}]}"#,
            r#"{"ips_max":2,"per_ip_max":2,"ips":[{"ip":"198.51.100.1","failures":[2,1]}]}"#,
            r#"{"ips_max":2,"per_ip_max":2,"ips":[{"ip":"198.51.100.1","failures":[1]},{"ip":"198.51.100.1","failures":[2]}]}"#,
        ] {
            assert!(
                serde_json::from_str::<FailureCounter>(bad).is_err(),
                "{bad}"
            );
        }
    }

    proptest! {
        #[test]
        fn the_counter_stays_bounded_and_indexed(
            ips_cap in 0usize..5,
            per_ip_cap in 0usize..5,
            ops in proptest::collection::vec((0u8..8, 0u64..100, 1u64..50), 0..60),
        ) {
            let mut counter = FailureCounter::with_caps(ips_cap, per_ip_cap);
            for (n, at, window) in ops {
                counter.record(ip(n), Millis(at), window);
                prop_assert!(counter.len() <= ips_cap);
                prop_assert_eq!(counter.by_last.len(), counter.per_ip.len());
                for (addr, failures) in &counter.per_ip {
                    prop_assert!(!failures.is_empty() && failures.len() <= per_ip_cap);
                    prop_assert!(failures.iter().zip(failures.iter().skip(1)).all(|(a, b)| a <= b));
                    prop_assert!(counter.by_last.contains(&(*failures.back().unwrap(), *addr)));
                }
                if ips_cap > 0 && per_ip_cap > 0 {
                    prop_assert!(counter.count(ip(n), Millis(at), window) >= 1);
                }
            }
        }
    }
}
