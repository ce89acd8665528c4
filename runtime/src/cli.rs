//! The command line: `sipbrain serve`, `sipbrain import`, `sipbrain ha1`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// sipbrain: the control plane of a cloud PBX and contact center.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Validate account documents and load them into a running server.
    Import(ImportArgs),
    /// Print the HA1 digests of a SIP credential (what a device stores).
    Ha1(Ha1Args),
    /// Look into the write-ahead log (debugging).
    #[command(subcommand)]
    Wal(WalCommand),
}

/// `sipbrain wal …`
#[derive(Debug, Subcommand)]
pub enum WalCommand {
    /// Print a shard's snapshot and WAL records, one line each.
    Inspect(InspectArgs),
}

/// Arguments of `wal inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The data directory.
    #[arg(long, env = "SIPBRAIN_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// The shard to print.
    #[arg(long, default_value_t = 0)]
    pub shard: usize,
}

/// Settings of `serve`. Precedence: flag, then environment variable, then
/// the config file, then the default. Every one can sit in the config file
/// under the same name with `_` for `-` (e.g. `admin_token = "…"`).
#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Config file (TOML).
    #[arg(long, env = "SIPBRAIN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on, ADDR:PORT [default: 127.0.0.1:8080].
    #[arg(long, env = "SIPBRAIN_LISTEN")]
    pub listen: Option<String>,
    /// Number of shards, one pinned executor each [default: the number of cores].
    #[arg(long, env = "SIPBRAIN_SHARDS")]
    pub shards: Option<usize>,
    /// Data directory (WAL, snapshots, nonce key) [default: ./data].
    #[arg(long, env = "SIPBRAIN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Media object store (GET/PUT /media, TTS prompts) [default: <data-dir>/media].
    #[arg(long, env = "SIPBRAIN_MEDIA_DIR")]
    pub media_dir: Option<PathBuf>,
    /// TTS engine command template; placeholders {voice} {lang} {gender}
    /// {id} {text} {out} [default: espeak-ng -v {voice} -s 150 -w {out} {text}].
    #[arg(long, env = "SIPBRAIN_TTS_COMMAND")]
    pub tts_command: Option<String>,
    /// Token for ops/admin endpoints (header x-admin-token).
    #[arg(long, env = "SIPBRAIN_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Token for edge endpoints (authorization: Bearer or Basic password, or x-edge-token).
    #[arg(long, env = "SIPBRAIN_EDGE_TOKEN", hide_env_values = true)]
    pub edge_token: Option<String>,
    /// Sources allowed on edge endpoints, comma-separated CIDRs [default: any].
    #[arg(long, env = "SIPBRAIN_EDGE_CIDRS", value_delimiter = ',')]
    pub edge_cidrs: Option<Vec<String>>,
    /// Sources allowed on /media, comma-separated CIDRs [default: loopback].
    #[arg(long, env = "SIPBRAIN_MEDIA_CIDRS", value_delimiter = ',')]
    pub media_cidrs: Option<Vec<String>>,
    /// Sources allowed on /debug without a token [default: loopback].
    #[arg(long, env = "SIPBRAIN_DEBUG_CIDRS", value_delimiter = ',')]
    pub debug_cidrs: Option<Vec<String>>,
    /// Start with the embedded demo accounts (prints generated tokens when
    /// none are given).
    #[arg(long, env = "SIPBRAIN_DEMO")]
    pub demo: bool,
    /// On WAL corruption (not a torn tail), truncate at the first bad record
    /// and start, dropping everything after it, instead of refusing to start.
    #[arg(long)]
    pub recover_truncate: bool,
    /// Account documents (JSON files) to load at start.
    #[arg(long = "import", value_name = "FILE")]
    pub import: Vec<PathBuf>,
    /// Lifetime of brain-issued nonces, seconds [default: 300].
    #[arg(long, env = "SIPBRAIN_NONCE_TTL_SEC")]
    pub nonce_ttl_sec: Option<u64>,
    /// /auth failures per source IP within the window before 429 [default: 10].
    #[arg(long, env = "SIPBRAIN_AUTH_FAIL_THRESHOLD")]
    pub auth_fail_threshold: Option<usize>,
    /// The /auth failure window, seconds [default: 60].
    #[arg(long, env = "SIPBRAIN_AUTH_FAIL_WINDOW_SEC")]
    pub auth_fail_window_sec: Option<u64>,
    /// How often edge nodes send /security/report, seconds; a node silent
    /// for 3 periods has stale bans [default: 30].
    #[arg(long, env = "SIPBRAIN_SECURITY_REPORT_PERIOD_SEC")]
    pub security_report_period_sec: Option<u64>,
    /// An admitted call not confirmed within this many seconds is released
    /// by the brain [default: 120].
    #[arg(long, env = "SIPBRAIN_CAC_SETUP_TTL_SEC")]
    pub cac_setup_ttl_sec: Option<u64>,
    /// An admitted call longer than this many seconds is released
    /// [default: 14400].
    #[arg(long, env = "SIPBRAIN_CAC_MAX_CALL_SEC")]
    pub cac_max_call_sec: Option<u64>,
    /// The wholesale carrier (`host[:port]`) for outbound calls no trunk
    /// covers [default: wholesale.invalid:5060].
    #[arg(long, env = "SIPBRAIN_WHOLESALE_PROXY")]
    pub wholesale_proxy: Option<String>,
    /// Largest request header block, bytes [default: 16384].
    #[arg(long, env = "SIPBRAIN_HEADER_BYTES_MAX")]
    pub header_bytes_max: Option<usize>,
    /// Largest JSON/form body, bytes [default: 1048576].
    #[arg(long, env = "SIPBRAIN_BODY_BYTES_MAX")]
    pub body_bytes_max: Option<usize>,
    /// Largest media upload, bytes [default: 67108864].
    #[arg(long, env = "SIPBRAIN_MEDIA_BODY_BYTES_MAX")]
    pub media_body_bytes_max: Option<usize>,
    /// Forwarded requests in flight towards one other shard (queued, sent or being served) before 503 [default: 1024].
    #[arg(long, env = "SIPBRAIN_FORWARD_QUEUE_MAX")]
    pub forward_queue_max: Option<usize>,
    /// Open connections per shard before new ones are refused [default: 10000].
    #[arg(long, env = "SIPBRAIN_CONNECTIONS_MAX")]
    pub connections_max: Option<usize>,
    /// Messages a /debug client may fall behind before it is dropped [default: 1024].
    #[arg(long, env = "SIPBRAIN_DEBUG_CLIENT_BUFFER")]
    pub debug_client_buffer: Option<usize>,
    /// io_uring registered memory per executor, bytes [default: 1048576].
    #[arg(long, env = "SIPBRAIN_IO_MEMORY_BYTES")]
    pub io_memory_bytes: Option<usize>,
    /// Events after which a shard writes a snapshot [default: 100000].
    #[arg(long, env = "SIPBRAIN_SNAPSHOT_EVENTS")]
    pub snapshot_events: Option<u64>,
    /// Event bytes after which a shard writes a snapshot [default: 268435456].
    #[arg(long, env = "SIPBRAIN_SNAPSHOT_BYTES")]
    pub snapshot_bytes: Option<u64>,
    /// WAL segment size, bytes [default: 67108864].
    #[arg(long, env = "SIPBRAIN_SEGMENT_BYTES")]
    pub segment_bytes: Option<u64>,
    /// Microseconds an idle executor spins before parking [default: 0].
    #[arg(long, env = "SIPBRAIN_SPIN_BEFORE_PARK_US")]
    pub spin_before_park_us: Option<u64>,
}

/// Arguments of `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Account documents (JSON; the account id is the document's `id`).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The server to load them into.
    #[arg(long, env = "SIPBRAIN_SERVER", default_value = "127.0.0.1:8080")]
    pub server: String,
    /// The server's admin token.
    #[arg(long, env = "SIPBRAIN_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Only validate the documents locally; send nothing.
    #[arg(long)]
    pub check: bool,
}

/// Arguments of `ha1`.
#[derive(Debug, Args)]
pub struct Ha1Args {
    pub username: String,
    pub realm: String,
    /// The password (prefer the SIPBRAIN_PASSWORD variable: shells keep history).
    #[arg(env = "SIPBRAIN_PASSWORD", hide_env_values = true)]
    pub password: String,
}
