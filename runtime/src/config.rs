//! The effective server configuration: flags over environment over the
//! config file over defaults. Each setting has one name and one unit.

use crate::cli::ServeArgs;
use ipnet::IpNet;
use serde::Deserialize;
use sipbrain_core::limits;
use sipbrain_core::media::tts;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The config file: the same names as the flags, snake_case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub shards: Option<usize>,
    pub data_dir: Option<PathBuf>,
    pub media_dir: Option<PathBuf>,
    pub tts_command: Option<String>,
    pub admin_token: Option<String>,
    pub edge_token: Option<String>,
    pub edge_cidrs: Option<Vec<String>>,
    pub media_cidrs: Option<Vec<String>>,
    pub debug_cidrs: Option<Vec<String>>,
    pub demo: Option<bool>,
    pub import: Option<Vec<PathBuf>>,
    pub nonce_ttl_sec: Option<u64>,
    pub auth_fail_threshold: Option<usize>,
    pub auth_fail_window_sec: Option<u64>,
    pub security_report_period_sec: Option<u64>,
    pub cac_setup_ttl_sec: Option<u64>,
    pub cac_max_call_sec: Option<u64>,
    pub wholesale_proxy: Option<String>,
    pub header_bytes_max: Option<usize>,
    pub body_bytes_max: Option<usize>,
    pub media_body_bytes_max: Option<usize>,
    pub forward_queue_max: Option<usize>,
    pub connections_max: Option<usize>,
    pub debug_client_buffer: Option<usize>,
    pub io_memory_bytes: Option<usize>,
    pub spin_before_park_us: Option<u64>,
    pub snapshot_events: Option<u64>,
    pub snapshot_bytes: Option<u64>,
    pub segment_bytes: Option<u64>,
}

/// The settings the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub shards: usize,
    pub data_dir: PathBuf,
    /// The media object store (`<data_dir>/media` unless set).
    pub media_dir: PathBuf,
    /// The TTS engine's command template (checked).
    pub tts_command: String,
    pub admin_token: Option<String>,
    pub edge_token: Option<String>,
    pub edge_cidrs: Vec<IpNet>,
    pub media_cidrs: Vec<IpNet>,
    pub debug_cidrs: Vec<IpNet>,
    pub demo: bool,
    pub import: Vec<PathBuf>,
    pub nonce_ttl_sec: u64,
    pub auth_fail_threshold: usize,
    pub auth_fail_window_sec: u64,
    pub security_report_period_sec: u64,
    pub cac_setup_ttl_sec: u64,
    pub cac_max_call_sec: u64,
    pub wholesale_proxy: String,
    pub header_bytes_max: usize,
    pub body_bytes_max: usize,
    pub media_body_bytes_max: usize,
    pub forward_queue_max: usize,
    pub connections_max: usize,
    /// Messages a `/debug` client may fall behind before it is dropped.
    pub debug_client_buffer: usize,
    pub io_memory_bytes: usize,
    pub spin_before_park_us: u64,
    pub snapshot_events: u64,
    pub snapshot_bytes: u64,
    pub segment_bytes: u64,
    pub recover_truncate: bool,
}

impl Config {
    /// Merges flags/env (`args`) over the file named by `--config`.
    pub fn load(args: ServeArgs) -> Result<Config, String> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read config {}: {e}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .map_err(|e| format!("config {}: {e}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let listen = args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen = listen
            .parse::<SocketAddr>()
            .map_err(|_| format!("listen: {listen:?} is not ADDR:PORT"))?;
        let shards = args.shards.or(file.shards).unwrap_or(cores);
        if !(1..=256).contains(&shards) {
            return Err(format!("shards: {shards} is not within 1..=256"));
        }
        let mut import = file.import.unwrap_or_default();
        import.extend(args.import);
        let data_dir = args
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| "./data".into());
        // Absolute before any executor starts: each resolves paths on its
        // own thread, and a relative one failed to open there (--shards 2).
        let data_dir = std::path::absolute(&data_dir)
            .map_err(|e| format!("data_dir: {}: {e}", data_dir.display()))?;
        let config = Config {
            listen,
            shards,
            media_dir: args
                .media_dir
                .or(file.media_dir)
                .map(|dir| std::path::absolute(&dir).unwrap_or(dir))
                .unwrap_or_else(|| data_dir.join("media")),
            tts_command: args
                .tts_command
                .or(file.tts_command)
                .unwrap_or_else(|| tts::DEFAULT_COMMAND.into()),
            data_dir,
            admin_token: nonempty(args.admin_token.or(file.admin_token), "admin_token")?,
            edge_token: nonempty(args.edge_token.or(file.edge_token), "edge_token")?,
            edge_cidrs: cidrs("edge_cidrs", args.edge_cidrs.or(file.edge_cidrs))?,
            media_cidrs: cidrs("media_cidrs", args.media_cidrs.or(file.media_cidrs))?,
            debug_cidrs: cidrs("debug_cidrs", args.debug_cidrs.or(file.debug_cidrs))?,
            demo: args.demo || file.demo.unwrap_or(false),
            import,
            nonce_ttl_sec: args.nonce_ttl_sec.or(file.nonce_ttl_sec).unwrap_or(300),
            auth_fail_threshold: args
                .auth_fail_threshold
                .or(file.auth_fail_threshold)
                .unwrap_or(10),
            auth_fail_window_sec: args
                .auth_fail_window_sec
                .or(file.auth_fail_window_sec)
                .unwrap_or(60),
            security_report_period_sec: args
                .security_report_period_sec
                .or(file.security_report_period_sec)
                .unwrap_or(30),
            cac_setup_ttl_sec: args
                .cac_setup_ttl_sec
                .or(file.cac_setup_ttl_sec)
                .unwrap_or(120),
            cac_max_call_sec: args
                .cac_max_call_sec
                .or(file.cac_max_call_sec)
                .unwrap_or(14_400),
            wholesale_proxy: args
                .wholesale_proxy
                .or(file.wholesale_proxy)
                .unwrap_or_else(|| "wholesale.invalid:5060".into()),
            header_bytes_max: args
                .header_bytes_max
                .or(file.header_bytes_max)
                .unwrap_or(limits::HEADER_BYTES_MAX_DEFAULT),
            body_bytes_max: args
                .body_bytes_max
                .or(file.body_bytes_max)
                .unwrap_or(limits::BODY_BYTES_MAX_DEFAULT),
            media_body_bytes_max: args
                .media_body_bytes_max
                .or(file.media_body_bytes_max)
                .unwrap_or(limits::MEDIA_BODY_BYTES_MAX_DEFAULT),
            forward_queue_max: args
                .forward_queue_max
                .or(file.forward_queue_max)
                .unwrap_or(1024),
            connections_max: args
                .connections_max
                .or(file.connections_max)
                .unwrap_or(10_000),
            debug_client_buffer: args
                .debug_client_buffer
                .or(file.debug_client_buffer)
                .unwrap_or(1024),
            io_memory_bytes: args
                .io_memory_bytes
                .or(file.io_memory_bytes)
                .unwrap_or(1 << 20),
            spin_before_park_us: args
                .spin_before_park_us
                .or(file.spin_before_park_us)
                .unwrap_or(0),
            snapshot_events: args
                .snapshot_events
                .or(file.snapshot_events)
                .unwrap_or(100_000),
            snapshot_bytes: args
                .snapshot_bytes
                .or(file.snapshot_bytes)
                .unwrap_or(256 << 20),
            segment_bytes: args
                .segment_bytes
                .or(file.segment_bytes)
                .unwrap_or(64 << 20),
            recover_truncate: args.recover_truncate,
        };
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        let positive = [
            ("nonce_ttl_sec", self.nonce_ttl_sec as usize),
            ("auth_fail_threshold", self.auth_fail_threshold),
            ("auth_fail_window_sec", self.auth_fail_window_sec as usize),
            (
                "security_report_period_sec",
                self.security_report_period_sec as usize,
            ),
            ("cac_setup_ttl_sec", self.cac_setup_ttl_sec as usize),
            ("cac_max_call_sec", self.cac_max_call_sec as usize),
            ("forward_queue_max", self.forward_queue_max),
            ("connections_max", self.connections_max),
            ("debug_client_buffer", self.debug_client_buffer),
            ("snapshot_events", self.snapshot_events as usize),
            ("snapshot_bytes", self.snapshot_bytes as usize),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        if self.header_bytes_max < 1024 || self.body_bytes_max < 1024 {
            return Err("header_bytes_max and body_bytes_max must be at least 1024".into());
        }
        if self.header_bytes_max > limits::HEADER_BYTES_MAX_CEILING {
            let max = limits::HEADER_BYTES_MAX_CEILING;
            return Err(format!("header_bytes_max must be at most {max}"));
        }
        if self.segment_bytes < (1 << 20) || !self.segment_bytes.is_multiple_of(4096) {
            return Err("segment_bytes must be at least 1048576 and a multiple of 4096".into());
        }
        if self.auth_fail_threshold > limits::AUTH_FAILURES_PER_IP_MAX {
            let max = limits::AUTH_FAILURES_PER_IP_MAX;
            return Err(format!(
                "auth_fail_threshold must be at most {max} (failures kept per IP)"
            ));
        }
        let proxy = &self.wholesale_proxy;
        if proxy.is_empty()
            || proxy.len() > 253
            || !proxy
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"@;<>\"".contains(&b))
        {
            return Err(format!("wholesale_proxy: {proxy:?} is not host[:port]"));
        }
        tts::Template::parse(&self.tts_command).map_err(|e| format!("tts_command: {e}"))?;
        if self.media_body_bytes_max == 0 {
            return Err("media_body_bytes_max must be at least 1".into());
        }
        if self.io_memory_bytes < 64 * 1024 {
            return Err("io_memory_bytes must be at least 65536 (glommio's minimum)".into());
        }
        Ok(())
    }
}

fn nonempty(token: Option<String>, name: &str) -> Result<Option<String>, String> {
    match token {
        Some(t) if t.trim().is_empty() => Err(format!("{name} must not be empty")),
        Some(t) if t.len() < 16 => Err(format!("{name} must be at least 16 characters")),
        other => Ok(other),
    }
}

fn cidrs(name: &str, list: Option<Vec<String>>) -> Result<Vec<IpNet>, String> {
    let mut nets = Vec::new();
    for item in list.unwrap_or_default() {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let net = item
            .parse::<IpNet>()
            .or_else(|_| item.parse::<std::net::IpAddr>().map(IpNet::from))
            .map_err(|_| format!("{name}: {item:?} is not an address or CIDR"))?;
        nets.push(net);
    }
    Ok(nets)
}
