//! The `sipbrain` binary: CLI, configuration and wiring. It decides nothing:
//! every decision is in `sipbrain-core`.

use sipbrain::{cli, config, demo, import, secret, server, store};

use clap::Parser;
use cli::{Cli, Command};
use config::Config;
use sipbrain_core::api::gate::{GateConfig, Secret};
use sipbrain_core::auth::digest::{ha1, Algorithm};
use sipbrain_core::auth::nonce::NonceKey;
use sipbrain_core::http::ParseLimits;
use sipbrain_core::media::tts;

/// mimalloc instead of glibc's malloc: the brain allocates and frees small
/// blocks on every request (parsed fields, JSON values, events), and
/// glibc's malloc/free were a quarter of a shard's CPU under load
/// (BENCHMARKS.md, "Profile").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Serve(args) => match serve(*args) {
            Ok(()) => 0,
            Err(message) => {
                eprintln!("error: {message}");
                1
            }
        },
        Command::Import(args) => import::run(args),
        Command::Wal(cli::WalCommand::Inspect(args)) => match store::inspect::run(&args) {
            Ok(()) => 0,
            Err(message) => {
                eprintln!("error: {message}");
                1
            }
        },
        Command::Ha1(args) => {
            let (user, realm, password) = (&args.username, &args.realm, &args.password);
            println!("ha1={}", ha1(Algorithm::Md5, user, realm, password));
            println!(
                "ha1b={}",
                ha1(Algorithm::Md5, &format!("{user}@{realm}"), realm, password)
            );
            println!(
                "ha1_sha256={}",
                ha1(Algorithm::Sha256, user, realm, password)
            );
            println!(
                "ha1b_sha256={}",
                ha1(
                    Algorithm::Sha256,
                    &format!("{user}@{realm}"),
                    realm,
                    password
                )
            );
            0
        }
    };
    std::process::exit(code);
}

fn serve(args: cli::ServeArgs) -> Result<(), String> {
    let mut config = Config::load(args)?;
    if config.demo {
        for (name, token) in [
            ("admin", &mut config.admin_token),
            ("edge", &mut config.edge_token),
        ] {
            if token.is_none() {
                let generated = secret::random_token();
                println!("demo {name} token: {generated}");
                *token = Some(generated);
            }
        }
    }
    if config.admin_token.is_none() {
        tracing::warn!("no admin token configured: admin endpoints answer 401");
    }
    if config.edge_token.is_none() {
        tracing::warn!(cidrs = ?config.edge_cidrs, "no edge token configured: edge endpoints are open to edge_cidrs (any source when unset)");
    }
    let start = |(account_id, doc), only_if_missing| server::StartDocument {
        account_id,
        doc,
        only_if_missing,
    };
    let mut documents = Vec::new();
    if config.demo {
        documents.extend(demo::documents().into_iter().map(|d| start(d, true)));
    }
    let imported = import::read_documents(&config.import)?;
    documents.extend(imported.into_iter().map(|d| start(d, false)));
    let nonce_key = NonceKey(secret::load_or_create_nonce_key(&config.data_dir)?);
    sipbrain::media::store::prepare(&config.media_dir)?;
    raise_memlock(&config);
    let wal_options = store::wal_options(config.segment_bytes);
    let generation = store::reshard::prepare(
        &config.data_dir,
        config.shards,
        &wal_options,
        config.recover_truncate,
    )?;
    let listen = resolve_listen(config.listen)?;
    let settings = server_settings(&config);
    server::run(server::Plan {
        config,
        listen,
        settings,
        nonce_key,
        generation,
        wal_options,
        documents,
    })
}

fn server_settings(config: &Config) -> server::NodeSettings {
    server::NodeSettings {
        gates: GateConfig {
            edge_token: config.edge_token.as_deref().map(Secret::new),
            admin_token: config.admin_token.as_deref().map(Secret::new),
            edge_cidrs: config.edge_cidrs.clone(),
            media_cidrs: config.media_cidrs.clone(),
            debug_cidrs: config.debug_cidrs.clone(),
        },
        limits: ParseLimits {
            header_bytes_max: config.header_bytes_max,
            body_bytes_max: config.body_bytes_max,
            media_body_bytes_max: config.media_body_bytes_max,
        },
        connections_max: config.connections_max,
        forward_queue_max: config.forward_queue_max,
        media_dir: config.media_dir.clone(),
        tts_command: tts::Template::parse(&config.tts_command)
            .expect("Config::load checked tts_command"),
    }
}

/// Port 0 means "any free port": every executor must bind the same one, so
/// pick it once here.
fn resolve_listen(listen: std::net::SocketAddr) -> Result<std::net::SocketAddr, String> {
    if listen.port() != 0 {
        return Ok(listen);
    }
    let probe = std::net::TcpListener::bind(listen)
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    probe
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))
}

/// glommio registers `io_memory` per executor with io_uring, which counts
/// against RLIMIT_MEMLOCK (8 MiB by default here): raise the soft limit to
/// what the executors need, within the hard limit.
fn raise_memlock(config: &Config) {
    let needed = (config.shards as u64) * (config.io_memory_bytes as u64 + (1 << 20));
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) != 0 {
            return;
        }
        if limit.rlim_cur >= needed {
            return;
        }
        let wanted = needed.min(limit.rlim_max);
        let raised = libc::rlimit {
            rlim_cur: wanted,
            rlim_max: limit.rlim_max,
        };
        if libc::setrlimit(libc::RLIMIT_MEMLOCK, &raised) != 0 || wanted < needed {
            tracing::warn!(
                needed,
                hard = limit.rlim_max,
                "RLIMIT_MEMLOCK too low for io_memory; lower --io-memory-bytes"
            );
        }
    }
}
