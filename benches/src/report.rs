//! What a run measured, per request kind and in all: HDR histograms of
//! latency (nanoseconds, 3 significant digits), status counts (so a 501 or
//! a 404 is visible, never counted as a success), throughput and CPU; and
//! the JSON and markdown forms of the results.

use crate::workload::Kind;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Longest latency a histogram holds (longer ones are clamped to it).
const LATENCY_NS_MAX: u64 = 60_000_000_000;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_NS_MAX, 3).expect("static bounds are valid")
}

/// Latencies and statuses of one request kind.
pub struct KindRecorder {
    pub latency_ns: Histogram<u64>,
    pub statuses: BTreeMap<u16, u64>,
}

/// Length of a slice of the window in [`RunResult::slowest_slices`].
pub const SLICE_NS: u64 = 100_000_000;

/// How many slowest slices a run reports.
const SLOWEST_SLICES: usize = 5;

/// Everything recorded during the measured window.
pub struct Recorder {
    pub all_ns: Histogram<u64>,
    pub kinds: Vec<KindRecorder>,
    /// Slowest answer per [`SLICE_NS`] of the window, by send (or due) time.
    pub slice_max_ns: Vec<u64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            all_ns: histogram(),
            kinds: Kind::ALL
                .iter()
                .map(|_| KindRecorder {
                    latency_ns: histogram(),
                    statuses: BTreeMap::new(),
                })
                .collect(),
            slice_max_ns: Vec::new(),
        }
    }
}

impl Recorder {
    pub fn record(&mut self, kind: Kind, status: u16, latency_ns: u64) {
        let latency_ns = latency_ns.clamp(1, LATENCY_NS_MAX);
        self.all_ns.record(latency_ns).expect("clamped into bounds");
        let k = &mut self.kinds[kind.index()];
        k.latency_ns
            .record(latency_ns)
            .expect("clamped into bounds");
        *k.statuses.entry(status).or_insert(0) += 1;
    }

    /// Notes a latency against the slice of the window its request was
    /// sent (or due) in, `offset_ns` after the window's start.
    pub fn record_slice(&mut self, offset_ns: u64, latency_ns: u64) {
        // A window is seconds to minutes long: a few thousand slices.
        let slice = usize::try_from(offset_ns / SLICE_NS).expect("a window fits in memory");
        if self.slice_max_ns.len() <= slice {
            self.slice_max_ns.resize(slice + 1, 0);
        }
        self.slice_max_ns[slice] = self.slice_max_ns[slice].max(latency_ns);
    }

    /// The slowest slices, slowest first (ties: earliest first).
    pub fn slowest_slices(&self) -> Vec<Slice> {
        let mut slices: Vec<Slice> = self
            .slice_max_ns
            .iter()
            .enumerate()
            .filter(|(_, max)| **max > 0)
            .map(|(i, max)| Slice {
                at_ms: i as u64 * SLICE_NS / 1_000_000,
                max_us: (*max as f64 / 100.0).round() / 10.0,
            })
            .collect();
        slices.sort_by(|a, b| b.max_us.total_cmp(&a.max_us).then(a.at_ms.cmp(&b.at_ms)));
        slices.truncate(SLOWEST_SLICES);
        slices
    }

    pub fn count(&self) -> u64 {
        self.all_ns.len()
    }
}

/// Latency percentiles in microseconds.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Percentiles {
    pub mean_us: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        let us = |ns: u64| (ns as f64 / 100.0).round() / 10.0;
        Percentiles {
            mean_us: (h.mean() / 100.0).round() / 10.0,
            p50_us: us(h.value_at_quantile(0.50)),
            p90_us: us(h.value_at_quantile(0.90)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
        }
    }
}

/// One slice of the measured window and its slowest answer: a tail made
/// of a few stalls shows as a few slow slices, a spread-out one as many.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Slice {
    /// Start of the slice, from the window's start.
    pub at_ms: u64,
    pub max_us: f64,
}

/// One request kind's share of a run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct KindSummary {
    pub kind: String,
    pub count: u64,
    /// Status code → responses.
    pub statuses: BTreeMap<u16, u64>,
    pub latency: Percentiles,
}

/// One run: a mode, a load, what came back.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunResult {
    /// `closed` (as fast as answers come) or `open` (fixed arrival rate).
    pub mode: String,
    pub connections: usize,
    /// Requests in flight per connection (1 = no pipelining).
    pub depth: usize,
    /// Open loop: the arrival rate asked for, requests/s.
    pub target_rps: Option<f64>,
    pub seconds: f64,
    /// Responses completed in the measured window.
    pub completed: u64,
    pub rps: f64,
    /// Responses with a status outside 200..=299.
    pub non_2xx: u64,
    /// Connections that broke (their in-flight requests count here too).
    pub transport_errors: u64,
    /// Open loop: most requests waiting for a free connection at once, and
    /// sends dropped because that queue was full (the load was unreachable).
    pub backlog_max: u64,
    pub dropped: u64,
    /// Cores' worth of CPU the client and the server used in the window.
    pub client_cpu_cores: f64,
    pub server_cpu_cores: Option<f64>,
    pub latency: Percentiles,
    pub kinds: Vec<KindSummary>,
    /// The 100 ms slices of the window with the slowest answers (by send
    /// or due time), slowest first, at most five.
    #[serde(default)]
    pub slowest_slices: Vec<Slice>,
}

impl RunResult {
    /// Requests answered per second of server CPU: the server's own
    /// efficiency, which holds when the machine is shared and the server
    /// gets less than a whole core.
    pub fn rps_per_server_core(&self) -> Option<f64> {
        self.server_cpu_cores
            .filter(|c| *c > 0.01)
            .map(|c| self.rps / c)
    }

    /// Fills the latency and per-kind fields from `recorder`.
    pub fn summarize(&mut self, recorder: &Recorder) {
        self.latency = Percentiles::of(&recorder.all_ns);
        self.slowest_slices = recorder.slowest_slices();
        self.kinds = Kind::ALL
            .iter()
            .zip(&recorder.kinds)
            .filter(|(_, k)| !k.latency_ns.is_empty())
            .map(|(kind, k)| KindSummary {
                kind: kind.name().to_string(),
                count: k.latency_ns.len(),
                statuses: k.statuses.clone(),
                latency: Percentiles::of(&k.latency_ns),
            })
            .collect();
        self.non_2xx = recorder
            .kinds
            .iter()
            .flat_map(|k| k.statuses.iter())
            .filter(|(status, _)| !(200..=299).contains(*status))
            .map(|(_, n)| n)
            .sum();
    }

    /// `200×9876 404×12`, per kind.
    pub fn statuses_text(&self) -> String {
        self.kinds
            .iter()
            .map(|k| {
                let codes: Vec<String> =
                    k.statuses.iter().map(|(s, n)| format!("{s}×{n}")).collect();
                format!("{} {}", k.kind, codes.join(" "))
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// A peer measured at its peak, then at 50% and 90% of it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PeerResult {
    /// `nginx`, `axum`, `sipbrain-wal`, …
    pub peer: String,
    pub mix: String,
    pub note: String,
    /// Closed loop at the peak's connections with pipelining.
    pub peak: RunResult,
    /// Closed loop, one request in flight per connection (how Kamailio's
    /// `http_client` asks: one request per worker at a time).
    pub unpipelined: Option<RunResult>,
    pub at_50: Option<RunResult>,
    pub at_90: Option<RunResult>,
}

fn fmt_rps(rps: f64) -> String {
    if rps >= 10_000.0 {
        format!("{:.1}k", rps / 1000.0)
    } else {
        format!("{rps:.0}")
    }
}

fn fmt_us(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0}")
    }
}

fn fmt_cpu(cores: Option<f64>) -> String {
    cores.map_or("–".into(), |c| format!("{c:.2}"))
}

fn latency_cell(run: &Option<RunResult>) -> String {
    match run {
        Some(r) => format!(
            "{} | {} / {} / {}",
            fmt_rps(r.rps),
            fmt_us(r.latency.p50_us),
            fmt_us(r.latency.p99_us),
            fmt_us(r.latency.p999_us)
        ),
        None => "– | –".into(),
    }
}

/// The main table: one row per peer, then the ratios against the peers
/// named `nginx` and `axum` (when present).
pub fn markdown_table(results: &[PeerResult]) -> String {
    let mut out = String::new();
    out.push_str(
        "| peer | mix | peak req/s (pipelined) | server CPU | client CPU | req/s per server core \
         | no pipelining: req/s | client CPU | at 50%: req/s | p50 / p99 / p99.9 µs \
         | at 90%: req/s | p50 / p99 / p99.9 µs | non-2xx |\n",
    );
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in results {
        let non_2xx = r.peak.non_2xx
            + r.at_50.as_ref().map_or(0, |x| x.non_2xx)
            + r.at_90.as_ref().map_or(0, |x| x.non_2xx);
        let (flat_rps, flat_cpu) = match &r.unpipelined {
            Some(u) => (fmt_rps(u.rps), fmt_cpu(Some(u.client_cpu_cores))),
            None => ("–".into(), "–".into()),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.peer,
            r.mix,
            fmt_rps(r.peak.rps),
            fmt_cpu(r.peak.server_cpu_cores),
            fmt_cpu(Some(r.peak.client_cpu_cores)),
            r.peak.rps_per_server_core().map_or("–".into(), fmt_rps),
            flat_rps,
            flat_cpu,
            latency_cell(&r.at_50),
            latency_cell(&r.at_90),
            non_2xx
        ));
    }
    out
}

/// Peak throughput ratios of every `sipbrain*` peer against `nginx` and
/// `axum` (those of the same mix).
pub fn markdown_ratios(results: &[PeerResult]) -> String {
    let find = |name: &str, mix: &str| results.iter().find(|r| r.peer == name && r.mix == mix);
    let mut out = String::from(
        "| sipbrain peer | mix | peak req/s ÷ nginx | ÷ axum | per server core ÷ nginx | ÷ axum |\n\
         |---|---|---:|---:|---:|---:|\n",
    );
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "–".into(),
    };
    for r in results.iter().filter(|r| r.peer.starts_with("sipbrain")) {
        let (nginx, axum) = (find("nginx", &r.mix), find("axum", &r.mix));
        let rps = |p: Option<&PeerResult>| p.map(|p| p.peak.rps);
        let per_core = |p: Option<&PeerResult>| p.and_then(|p| p.peak.rps_per_server_core());
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r.peer,
            r.mix,
            ratio(Some(r.peak.rps), rps(nginx)),
            ratio(Some(r.peak.rps), rps(axum)),
            ratio(r.peak.rps_per_server_core(), per_core(nginx)),
            ratio(r.peak.rps_per_server_core(), per_core(axum)),
        ));
    }
    out
}

/// Per request kind of every peer whose runs saw more than one kind or a
/// non-2xx status: counts by status and latency at 50% of peak.
pub fn markdown_kinds(results: &[PeerResult]) -> String {
    let mut out = String::from(
        "| peer | run | kind | count | statuses | p50 µs | p99 µs | p99.9 µs |\n\
         |---|---|---|---:|---|---:|---:|---:|\n",
    );
    for r in results {
        for (name, run) in [("peak", Some(&r.peak)), ("50%", r.at_50.as_ref())] {
            let Some(run) = run else { continue };
            for k in &run.kinds {
                let codes: Vec<String> =
                    k.statuses.iter().map(|(s, n)| format!("{s}×{n}")).collect();
                out.push_str(&format!(
                    "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
                    r.peer,
                    name,
                    k.kind,
                    k.count,
                    codes.join(" "),
                    fmt_us(k.latency.p50_us),
                    fmt_us(k.latency.p99_us),
                    fmt_us(k.latency.p999_us)
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rps: f64) -> RunResult {
        RunResult {
            mode: "closed".into(),
            connections: 1,
            depth: 1,
            target_rps: None,
            seconds: 1.0,
            completed: rps as u64,
            rps,
            non_2xx: 0,
            transport_errors: 0,
            backlog_max: 0,
            dropped: 0,
            client_cpu_cores: 1.0,
            server_cpu_cores: Some(1.0),
            latency: Percentiles::default(),
            kinds: vec![],
            slowest_slices: vec![],
        }
    }

    #[test]
    fn the_slowest_slices_name_when_the_tail_happened() {
        let mut recorder = Recorder::default();
        for (offset_ms, latency_ms) in
            [(5, 1), (120, 30), (150, 2), (950, 30), (990, 40), (1210, 3)]
        {
            recorder.record_slice(offset_ms * 1_000_000, latency_ms * 1_000_000);
        }
        let at: Vec<(u64, f64)> = recorder
            .slowest_slices()
            .iter()
            .map(|s| (s.at_ms, s.max_us))
            .collect();
        assert_eq!(
            at,
            [
                (900, 40_000.0),
                (100, 30_000.0),
                (1200, 3000.0),
                (0, 1000.0)
            ]
        );
    }

    #[test]
    fn percentiles_are_microseconds_within_histogram_precision() {
        let mut recorder = Recorder::default();
        for us in 1..=1000u64 {
            recorder.record(Kind::Route, 200, us * 1000);
        }
        recorder.record(Kind::Hangup, 404, 5_000_000);
        let p = Percentiles::of(&recorder.all_ns);
        assert!((p.p50_us - 501.0).abs() <= 1.0, "{p:?}");
        assert!((p.p99_us - 991.0).abs() <= 1.0, "{p:?}");
        assert!((p.max_us - 5000.0).abs() <= 5.0, "{p:?}");
        let mut result = run(1.0);
        result.summarize(&recorder);
        assert_eq!(result.non_2xx, 1, "the 404 is not a success");
        assert_eq!(result.kinds.len(), 2);
        assert_eq!(result.kinds[0].kind, "route");
        assert_eq!(result.kinds[0].statuses[&200], 1000);
        assert_eq!(result.statuses_text(), "route 200×1000; dialog_end 404×1");
    }

    #[test]
    fn absurd_latencies_are_clamped_not_lost() {
        let mut recorder = Recorder::default();
        recorder.record(Kind::Auth, 200, 0);
        recorder.record(Kind::Auth, 200, u64::MAX);
        assert_eq!(recorder.count(), 2);
    }

    #[test]
    fn ratios_compare_each_sipbrain_peer_with_nginx_and_axum_of_its_mix() {
        let peer = |name: &str, rps: f64| PeerResult {
            peer: name.into(),
            mix: "route".into(),
            note: String::new(),
            peak: run(rps),
            unpipelined: None,
            at_50: Some(run(rps / 2.0)),
            at_90: None,
        };
        let results = [
            peer("nginx", 100_000.0),
            peer("axum", 80_000.0),
            peer("sipbrain-wal", 40_000.0),
        ];
        let ratios = markdown_ratios(&results);
        assert!(
            ratios.contains("| sipbrain-wal | route | 0.40 | 0.50 | 0.40 | 0.50 |"),
            "{ratios}"
        );
        let table = markdown_table(&results);
        assert!(
            table.contains("| nginx | route | 100.0k | 1.00 | 1.00 | 100.0k |"),
            "{table}"
        );
        assert_eq!(table.lines().count(), 5);
        let back: Vec<PeerResult> =
            serde_json::from_str(&serde_json::to_string(&results).unwrap()).unwrap();
        assert_eq!(back, results);
    }
}
