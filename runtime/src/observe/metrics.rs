//! `GET /metrics`: Prometheus text format (0.0.4), encoded by the
//! prometheus-client crate from per-shard atomics.
//!
//! Each shard thread writes only its own [`ShardMetrics`] (plain atomic
//! adds and stores, no lock, no allocation); a scrape on any shard reads
//! every shard's and sums what has no `shard` label. Reads of a counter
//! that another thread is bumping are at most one request behind.

use super::debug::Hub;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use sipbrain_core::api::route_table::ENDPOINT_NAMES;
use sipbrain_core::http::Response;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Request latency buckets, seconds.
const LATENCY_BUCKETS: [f64; 15] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5,
];
/// WAL commit (one `O_DSYNC` write) latency buckets, seconds.
const COMMIT_BUCKETS: [f64; 13] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128,
    0.5,
];
/// Events per group commit.
const BATCH_BUCKETS: [f64; 11] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];
/// Statuses counted by name; anything else is `other`.
const STATUSES: [u16; 30] = [
    101, 200, 201, 204, 206, 304, 400, 401, 403, 404, 405, 408, 409, 411, 412, 413, 414, 415, 416,
    422, 426, 429, 431, 500, 501, 502, 503, 504, 505, 507,
];
const STATUS_SLOTS: usize = STATUSES.len() + 1;
/// Endpoint slots: one per contract endpoint, then `unmatched` (404, 405,
/// a bad path).
const ENDPOINT_SLOTS: usize = ENDPOINT_NAMES.len() + 1;
/// The agent status buckets of the contract, in its priority order.
pub const AGENT_BUCKETS: [&str; 9] = sipbrain_core::acd::BUCKETS;

/// A histogram over fixed bounds, written by one thread, read by any.
#[derive(Debug)]
struct Histogram {
    bounds: &'static [f64],
    /// Observations per bound (not cumulative); above the last bound only
    /// `count` has them.
    buckets: Box<[AtomicU64]>,
    /// Sum of observations in `unit`s (nanoseconds, events).
    sum: AtomicU64,
    count: AtomicU64,
    /// What one unit of `sum` is worth in the exported value.
    unit: f64,
}

impl Histogram {
    fn new(bounds: &'static [f64], unit: f64) -> Histogram {
        Histogram {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
            count: AtomicU64::new(0),
            unit,
        }
    }

    fn observe(&self, units: u64) {
        // `count` first, buckets last: a reader that takes buckets, then
        // count, never sees more in the buckets than in the count.
        self.count.fetch_add(1, Ordering::Release);
        self.sum.fetch_add(units, Ordering::Relaxed);
        let value = units as f64 * self.unit;
        if let Some(slot) = self.bounds.iter().position(|bound| value <= *bound) {
            self.buckets[slot].fetch_add(1, Ordering::Release);
        }
    }
}

/// A histogram summed over shards, ready to encode.
#[derive(Clone, Debug)]
struct Snapshot {
    bounds: &'static [f64],
    buckets: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Snapshot {
    fn empty(bounds: &'static [f64]) -> Snapshot {
        Snapshot {
            bounds,
            buckets: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    fn add(&mut self, histogram: &Histogram) {
        for (total, bucket) in self.buckets.iter_mut().zip(histogram.buckets.iter()) {
            *total += bucket.load(Ordering::Acquire);
        }
        self.sum += histogram.sum.load(Ordering::Relaxed) as f64 * histogram.unit;
        self.count += histogram.count.load(Ordering::Acquire);
    }

    fn encode(&self, encoder: &mut prometheus_client::encoding::MetricEncoder) -> std::fmt::Result {
        let buckets: Vec<(f64, u64)> = self
            .bounds
            .iter()
            .copied()
            .zip(self.buckets.iter().copied())
            .collect();
        encoder.encode_histogram::<NoLabelSet>(self.sum, self.count, &buckets, None)
    }
}

/// One shard's metrics. Only that shard's thread writes them.
#[derive(Debug)]
pub struct ShardMetrics {
    pub shard: usize,
    /// By endpoint slot, then status slot.
    requests: Box<[AtomicU64]>,
    /// By endpoint slot.
    latency: Box<[Histogram]>,
    commit_seconds: Histogram,
    batch_events: Histogram,
    /// Calls forwarded by other shards being served here.
    pub forwarded: AtomicU64,
    /// Requests waiting for their events' group commit.
    pub committing: AtomicU64,
    /// Live calls this shard owns.
    pub active_calls: AtomicU64,
    /// Agents of this shard's accounts, by [`AGENT_BUCKETS`] (the shard's
    /// `agent_buckets` after each change).
    pub agents: [AtomicU64; 9],
    /// Ban rows (one per node and IP) this shard holds: the control
    /// shard's fleet view, zero on the others.
    pub bans: AtomicU64,
}

impl ShardMetrics {
    pub fn new(shard: usize) -> ShardMetrics {
        ShardMetrics {
            shard,
            requests: (0..ENDPOINT_SLOTS * STATUS_SLOTS)
                .map(|_| AtomicU64::new(0))
                .collect(),
            latency: (0..ENDPOINT_SLOTS)
                .map(|_| Histogram::new(&LATENCY_BUCKETS, 1e-9))
                .collect(),
            commit_seconds: Histogram::new(&COMMIT_BUCKETS, 1e-9),
            batch_events: Histogram::new(&BATCH_BUCKETS, 1.0),
            forwarded: AtomicU64::new(0),
            committing: AtomicU64::new(0),
            active_calls: AtomicU64::new(0),
            agents: Default::default(),
            bans: AtomicU64::new(0),
        }
    }

    /// One answered request: `endpoint` is its [`Endpoint::index`] (None
    /// when no endpoint matched).
    ///
    /// [`Endpoint::index`]: sipbrain_core::api::Endpoint::index
    pub fn request(&self, endpoint: Option<usize>, status: u16, elapsed: Duration) {
        let endpoint = endpoint
            .filter(|i| *i < ENDPOINT_NAMES.len())
            .unwrap_or(ENDPOINT_NAMES.len());
        let status = STATUSES
            .iter()
            .position(|s| *s == status)
            .unwrap_or(STATUSES.len());
        self.requests[endpoint * STATUS_SLOTS + status].fetch_add(1, Ordering::Relaxed);
        self.latency[endpoint].observe(nanos(elapsed));
    }

    /// One group commit of `events` events that took `elapsed`.
    pub fn commit(&self, elapsed: Duration, events: usize) {
        self.commit_seconds.observe(nanos(elapsed));
        self.batch_events.observe(events as u64);
    }
}

/// Adds one to `gauge` for the life of the returned guard.
pub fn hold(gauge: &AtomicU64) -> Held<'_> {
    gauge.fetch_add(1, Ordering::Relaxed);
    Held(gauge)
}

/// A gauge increment, undone on drop (also when its future is cancelled).
pub struct Held<'a>(&'a AtomicU64);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn nanos(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
}

/// Every shard's metrics, and the registry that encodes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
}

impl Metrics {
    /// Metrics over `shards` and the debug stream's `hub`.
    pub fn new(shards: Vec<Arc<ShardMetrics>>, hub: Arc<Hub>) -> Metrics {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Scrape { shards, hub }));
        Metrics { registry }
    }

    /// The `GET /metrics` answer.
    pub fn response(&self) -> Response {
        let mut text = String::with_capacity(64 * 1024);
        let encoded =
            prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        let status = if encoded.is_ok() { 200 } else { 500 };
        Response {
            status,
            content_type: prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            headers: Vec::new(),
            body: text.into_bytes(),
        }
    }
}

/// What a scrape reads.
#[derive(Debug)]
struct Scrape {
    shards: Vec<Arc<ShardMetrics>>,
    hub: Arc<Hub>,
}

fn status_label(slot: usize) -> String {
    STATUSES
        .get(slot)
        .map_or_else(|| "other".to_string(), u16::to_string)
}

fn endpoint_label(slot: usize) -> &'static str {
    ENDPOINT_NAMES.get(slot).copied().unwrap_or("unmatched")
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        // Requests by endpoint and status (only the pairs seen).
        let mut family = encoder.encode_descriptor(
            "sipbrain_requests",
            "Requests answered, by endpoint and status.",
            None,
            MetricType::Counter,
        )?;
        for endpoint in 0..ENDPOINT_SLOTS {
            for status in 0..STATUS_SLOTS {
                let slot = endpoint * STATUS_SLOTS + status;
                let total: u64 = self
                    .shards
                    .iter()
                    .map(|s| s.requests[slot].load(Ordering::Relaxed))
                    .sum();
                if total == 0 {
                    continue;
                }
                let labels = [
                    ("endpoint", endpoint_label(endpoint).to_string()),
                    ("status", status_label(status)),
                ];
                family
                    .encode_family(&labels)?
                    .encode_counter::<NoLabelSet, _, u64>(&total, None)?;
            }
        }
        // Latency by endpoint (the endpoints that answered something).
        let mut family = encoder.encode_descriptor(
            "sipbrain_request_duration_seconds",
            "Time from a parsed request to its answer, by endpoint.",
            None,
            MetricType::Histogram,
        )?;
        for endpoint in 0..ENDPOINT_SLOTS {
            let mut sum = Snapshot::empty(&LATENCY_BUCKETS);
            for shard in &self.shards {
                sum.add(&shard.latency[endpoint]);
            }
            if sum.count == 0 {
                continue;
            }
            let labels = [("endpoint", endpoint_label(endpoint))];
            sum.encode(&mut family.encode_family(&labels)?)?;
        }
        let per_shard = |encoder: &mut DescriptorEncoder,
                         name: &str,
                         help: &str,
                         read: &dyn Fn(&ShardMetrics) -> Snapshot|
         -> std::fmt::Result {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
            for shard in &self.shards {
                let labels = [("shard", shard.shard.to_string())];
                read(shard).encode(&mut family.encode_family(&labels)?)?;
            }
            Ok(())
        };
        per_shard(
            &mut encoder,
            "sipbrain_wal_commit_duration_seconds",
            "One group commit of the shard's WAL (one O_DSYNC write).",
            &|shard| {
                let mut s = Snapshot::empty(&COMMIT_BUCKETS);
                s.add(&shard.commit_seconds);
                s
            },
        )?;
        per_shard(
            &mut encoder,
            "sipbrain_wal_batch_events",
            "Events made durable by one group commit.",
            &|shard| {
                let mut s = Snapshot::empty(&BATCH_BUCKETS);
                s.add(&shard.batch_events);
                s
            },
        )?;
        let mut family = encoder.encode_descriptor(
            "sipbrain_shard_queue_depth",
            "Work queued on a shard: calls forwarded by other shards being served \
             (queue=forwarded), requests waiting for their group commit (queue=commit).",
            None,
            MetricType::Gauge,
        )?;
        for shard in &self.shards {
            for (queue, gauge) in [
                ("forwarded", &shard.forwarded),
                ("commit", &shard.committing),
            ] {
                let labels = [
                    ("shard", shard.shard.to_string()),
                    ("queue", queue.to_string()),
                ];
                gauge_value(&mut family.encode_family(&labels)?, gauge)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "sipbrain_active_calls",
            "Live calls (routed, not ended) of the accounts a shard owns.",
            None,
            MetricType::Gauge,
        )?;
        for shard in &self.shards {
            let labels = [("shard", shard.shard.to_string())];
            gauge_value(&mut family.encode_family(&labels)?, &shard.active_calls)?;
        }
        let mut family = encoder.encode_descriptor(
            "sipbrain_agents",
            "Agents by status bucket (filled by the ACD).",
            None,
            MetricType::Gauge,
        )?;
        for (slot, bucket) in AGENT_BUCKETS.iter().enumerate() {
            let total: u64 = self
                .shards
                .iter()
                .map(|s| s.agents[slot].load(Ordering::Relaxed))
                .sum();
            let labels = [("bucket", *bucket)];
            ConstGauge::new(total as i64).encode(family.encode_family(&labels)?)?;
        }
        let bans: u64 = self
            .shards
            .iter()
            .map(|s| s.bans.load(Ordering::Relaxed))
            .sum();
        let family = encoder.encode_descriptor(
            "sipbrain_bans",
            "Bans the edge nodes report, one per node and IP (the control shard's fleet view).",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(bans as i64).encode(family)?;
        let family = encoder.encode_descriptor(
            "sipbrain_debug_clients",
            "WebSocket clients of GET /debug.",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(self.hub.clients() as i64).encode(family)?;
        let mut family = encoder.encode_descriptor(
            "sipbrain_debug_clients_dropped",
            "GET /debug clients dropped because they fell a whole buffer behind.",
            None,
            MetricType::Counter,
        )?;
        family.encode_counter::<NoLabelSet, _, u64>(&self.hub.dropped(), None)?;
        Ok(())
    }
}

fn gauge_value(
    encoder: &mut prometheus_client::encoding::MetricEncoder,
    gauge: &AtomicU64,
) -> std::fmt::Result {
    encoder.encode_gauge(&gauge.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape(metrics: &Metrics) -> String {
        String::from_utf8(metrics.response().body).unwrap()
    }

    #[test]
    fn requests_sum_over_shards_and_keep_their_labels() {
        let shards: Vec<_> = (0..2).map(|i| Arc::new(ShardMetrics::new(i))).collect();
        let metrics = Metrics::new(shards.clone(), Arc::new(Hub::new(8)));
        let route = Some(3);
        assert_eq!(ENDPOINT_NAMES[3], "POST /route");
        shards[0].request(route, 200, Duration::from_micros(300));
        shards[1].request(route, 200, Duration::from_millis(3));
        shards[1].request(None, 404, Duration::from_micros(10));
        shards[1].request(route, 299, Duration::from_micros(10));
        shards[0].commit(Duration::from_micros(700), 5);
        let text = scrape(&metrics);
        assert!(
            text.contains(r#"sipbrain_requests_total{endpoint="POST /route",status="200"} 2"#),
            "{text}"
        );
        assert!(text.contains(r#"sipbrain_requests_total{endpoint="unmatched",status="404"} 1"#));
        assert!(
            text.contains(r#"sipbrain_requests_total{endpoint="POST /route",status="other"} 1"#)
        );
        assert!(text.contains(
            r#"sipbrain_request_duration_seconds_bucket{endpoint="POST /route",le="0.0005"} 2"#
        ));
        assert!(
            text.contains(r#"sipbrain_request_duration_seconds_count{endpoint="POST /route"} 3"#)
        );
        assert!(
            text.contains(r#"sipbrain_wal_batch_events_bucket{shard="0",le="8"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"sipbrain_wal_commit_duration_seconds_count{shard="1"} 0"#));
        assert!(text.contains(r#"sipbrain_agents{bucket="idle"} 0"#));
        assert!(text.contains("sipbrain_bans 0"));
    }

    #[test]
    fn a_gauge_hold_is_undone_when_dropped() {
        let shard = ShardMetrics::new(0);
        {
            let _held = hold(&shard.committing);
            assert_eq!(shard.committing.load(Ordering::Relaxed), 1);
        }
        assert_eq!(shard.committing.load(Ordering::Relaxed), 0);
    }
}
