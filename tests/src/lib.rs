//! Harness for the black-box tests: start the real `sipbrain` binary on an
//! ephemeral port with its own data directory, and talk raw HTTP to it.
//!
//! The binary must be built first (`scripts/test.sh` does it); the harness
//! looks for it in the workspace's `target/debug`, or at `$SIPBRAIN_BIN`.

pub mod calls;
pub mod client;
pub mod demo;
pub mod digest;
pub mod media;

pub use client::{Client, Reply};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The admin token the harness starts servers with.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
/// The edge token the harness starts servers with.
pub const EDGE_TOKEN: &str = "test-edge-token-0123456789";

/// The built `sipbrain` binary.
pub fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("SIPBRAIN_BIN") {
        return PathBuf::from(path);
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/sipbrain");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p sipbrain` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// A fresh, empty directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("sipbrain-test-{}-{tag}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// `--demo` with the harness tokens, then `extra`.
pub fn demo_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--demo",
        "--admin-token",
        ADMIN_TOKEN,
        "--edge-token",
        EDGE_TOKEN,
    ];
    args.extend_from_slice(extra);
    args
}

/// A running server; killed (and its data dir removed) on drop.
pub struct Server {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// Lines the server printed on stdout before it was ready.
    pub banner: Vec<String>,
    child: Child,
    /// Remove the data dir on drop (false for crash tests that restart).
    owns_data_dir: bool,
}

impl Server {
    /// Starts `sipbrain serve --demo` with the harness tokens and `extra` flags.
    pub fn demo(extra: &[&str]) -> Server {
        Server::start(&demo_args(extra))
    }

    /// Starts `sipbrain serve --listen 127.0.0.1:0 --data-dir <tmp> <args>`
    /// and waits until it prints that it is ready.
    pub fn start(args: &[&str]) -> Server {
        let mut server = Server::start_in(&temp_dir("data"), args);
        server.owns_data_dir = true;
        server
    }

    /// Starts a server on an existing data dir, which it keeps on drop.
    pub fn start_in(data_dir: &std::path::Path, args: &[&str]) -> Server {
        Server::launch(Command::new(binary()), data_dir, data_dir, args)
    }

    /// Starts a server in `cwd` with `--data-dir` given as the relative
    /// path `relative`; `cwd` is removed on drop.
    pub fn start_relative(cwd: &std::path::Path, relative: &str, args: &[&str]) -> Server {
        let mut command = Command::new(binary());
        command.current_dir(cwd);
        let mut server = Server::launch(command, std::path::Path::new(relative), cwd, args);
        server.owns_data_dir = true;
        server
    }

    /// Spawns `command serve --listen 127.0.0.1:0 --data-dir <arg> <args>`
    /// and waits until it is ready; `data_dir` is where the data ends up.
    fn launch(
        mut command: Command,
        data_dir_arg: &std::path::Path,
        data_dir: &std::path::Path,
        args: &[&str],
    ) -> Server {
        let data_dir = data_dir.to_path_buf();
        let mut child = command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir_arg)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn sipbrain");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut banner = Vec::new();
        let addr = loop {
            let line = match lines.next() {
                Some(Ok(line)) => line,
                _ => panic!("sipbrain exited before it was ready; printed: {banner:?}"),
            };
            if let Some(rest) = line.strip_prefix("sipbrain ready on http://") {
                let addr = rest.split_whitespace().next().expect("address after ready");
                break addr.parse().expect("a socket address");
            }
            banner.push(line);
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            addr,
            data_dir,
            banner,
            child,
            owns_data_dir: false,
        }
    }

    /// A new keep-alive connection to the server.
    pub fn client(&self) -> Client {
        Client::connect(self.addr)
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        self.child.wait().expect("wait for sipbrain")
    }
}

impl Server {
    /// SIGKILL: the process dies wherever it is, as in a power cut of the
    /// process (unsynced page cache survives; the WAL must not rely on it).
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.owns_data_dir {
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
    }
}

/// A connection accepted by each core (the kernel spreads connections
/// over the SO_REUSEPORT listeners; /healthz says which core answered).
pub fn client_on_each_shard(server: &Server) -> [Client; 2] {
    let mut found: [Option<Client>; 2] = [None, None];
    for _ in 0..500 {
        let mut client = server.client();
        let shard = client.request("GET", "/healthz", &[], None).json()["shard"]
            .as_u64()
            .unwrap() as usize;
        if found[shard].is_none() {
            found[shard] = Some(client);
        }
        if found.iter().all(Option::is_some) {
            break;
        }
    }
    found.map(|c| c.expect("500 connections reach both cores"))
}
