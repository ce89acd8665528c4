//! Observability: the `GET /debug` stream's subscribers and the
//! `GET /metrics` counters. Neither is on a shard's critical path: both
//! cost a few atomic operations per request when nobody watches.

pub mod debug;
pub mod metrics;

use std::sync::Arc;

/// What one shard's node holds of them.
#[derive(Clone, Debug)]
pub struct Observe {
    /// The debug stream's subscribers (shared by every shard).
    pub hub: Arc<debug::Hub>,
    /// This shard's metrics.
    pub shard: Arc<metrics::ShardMetrics>,
    /// Every shard's metrics, for a scrape.
    pub metrics: Arc<metrics::Metrics>,
}

impl Observe {
    /// One [`Observe`] per shard, sharing a hub whose subscribers may each
    /// fall `debug_client_buffer` messages behind.
    pub fn for_shards(shards: usize, debug_client_buffer: usize) -> Vec<Observe> {
        let hub = Arc::new(debug::Hub::new(debug_client_buffer));
        let per_shard: Vec<_> = (0..shards)
            .map(|id| Arc::new(metrics::ShardMetrics::new(id)))
            .collect();
        let metrics = Arc::new(metrics::Metrics::new(per_shard.clone(), hub.clone()));
        per_shard
            .into_iter()
            .map(|shard| Observe {
                hub: hub.clone(),
                shard,
                metrics: metrics.clone(),
            })
            .collect()
    }
}
