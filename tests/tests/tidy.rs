//! The sans-IO guard: `core/` (and `storage/` when it exists) must stay
//! deterministic and free of I/O, so the simulator can drive them. Each
//! banned pattern names its replacement.

use std::path::{Path, PathBuf};

const BANNED: &[(&str, &str)] = &[
    ("Instant::now", "take `now: Millis` as an argument"),
    ("SystemTime", "take `now: Millis` as an argument"),
    (
        "thread_rng",
        "take randomness (a seed or salt) from the caller",
    ),
    (
        "rand::random",
        "take randomness (a seed or salt) from the caller",
    ),
    ("OsRng", "take randomness (a seed or salt) from the caller"),
    ("HashMap", "use BTreeMap (deterministic order)"),
    ("HashSet", "use BTreeSet (deterministic order)"),
    ("RandomState", "use BTreeMap or a fixed hasher"),
    (
        "std::thread",
        "core is single-threaded; the runtime owns threads",
    ),
    ("std::net::TcpStream", "the runtime owns sockets"),
    ("std::net::UdpSocket", "the runtime owns sockets"),
    (
        "std::fs",
        "all file access goes through the storage Disk trait",
    ),
    ("tokio", "core knows no runtime"),
    ("glommio", "only runtime/ calls glommio"),
    (
        "Ulid::new()",
        "use ulid::Generator fed the injected time and RNG",
    ),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn core_and_storage_use_no_clock_entropy_threads_sockets_or_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for crate_dir in ["core/src", "storage/src"] {
        rust_files(&root.join(crate_dir), &mut files);
    }
    assert!(files.len() > 5, "found the sources of core");
    let mut hits = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for (pattern, instead) in BANNED {
                if code.contains(pattern) {
                    hits.push(format!(
                        "{}:{}: `{pattern}`: {instead}",
                        file.display(),
                        number + 1
                    ));
                }
            }
        }
    }
    assert!(hits.is_empty(), "sans-IO violations:\n{}", hits.join("\n"));
}

#[test]
fn core_does_not_depend_on_glommio_or_the_runtime() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/Cargo.toml"))
            .unwrap();
    for banned in ["glommio", "tokio", "sipbrain =", "path = \"../runtime\""] {
        assert!(
            !manifest.contains(banned),
            "core/Cargo.toml must not depend on {banned}"
        );
    }
}
