//! Recovery of the real binary from its data directory: state survives a
//! restart, a bit flip in synced WAL data refuses to start (naming where)
//! unless the operator asks for `--recover-truncate`, and `wal inspect`
//! prints the records.

use serde_json::json;
use sipbrain_tests::{binary, temp_dir, Server, ADMIN_TOKEN};
use std::path::Path;

const ADMIN: [(&str, &str); 1] = [("x-admin-token", ADMIN_TOKEN)];

fn args() -> Vec<&'static str> {
    vec!["--demo", "--admin-token", ADMIN_TOKEN, "--shards", "1"]
}

/// Provisions `count` accounts, one commit each, then kills the server.
fn provision_and_kill(dir: &Path, count: usize) {
    let server = Server::start_in(dir, &args());
    let mut client = server.client();
    for n in 0..count {
        let id = format!("acc_rec{n}");
        let domain = format!("rec{n}.example");
        let doc = json!({"id": id, "domains": [{"domain": domain}]});
        let reply = client.request("PUT", &format!("/admin/accounts/{id}"), &ADMIN, Some(&doc));
        assert_eq!(reply.status, 200, "{:?}", reply.json());
    }
    server.kill9();
}

fn segment(dir: &Path) -> std::path::PathBuf {
    let shard = dir.join("gen-1").join("shard-0");
    let mut names: Vec<_> = std::fs::read_dir(&shard)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    names.sort();
    names
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .expect("a WAL segment")
}

fn start_output(dir: &Path, extra: &[&str]) -> std::process::Output {
    std::process::Command::new(binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .args(args())
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn provisioned_accounts_survive_a_restart_and_demo_data_does_not_overwrite_them() {
    let dir = temp_dir("restart");
    let server = Server::start_in(&dir, &args());
    let mut client = server.client();
    let mut acme = client
        .request("GET", "/admin/accounts/acc_acme", &ADMIN, None)
        .json()["account"]
        .clone();
    acme["name"] = json!("Acme, renamed");
    assert_eq!(
        client
            .request("PUT", "/admin/accounts/acc_acme", &ADMIN, Some(&acme))
            .status,
        200
    );
    assert_eq!(
        client
            .request("DELETE", "/admin/accounts/acc_globex", &ADMIN, None)
            .status,
        200
    );
    let status = server.terminate();
    assert!(status.success());
    let server = Server::start_in(&dir, &args());
    let mut client = server.client();
    let after = client
        .request("GET", "/admin/accounts/acc_acme", &ADMIN, None)
        .json();
    assert_eq!(
        after["account"]["name"], "Acme, renamed",
        "--demo must not overwrite a changed account"
    );
    let globex = client.request("GET", "/admin/accounts/acc_globex", &ADMIN, None);
    assert_eq!(
        globex.status, 200,
        "demo data fills in accounts that are missing"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_bit_flip_in_synced_wal_data_refuses_to_start_unless_truncation_is_asked() {
    let dir = temp_dir("bitflip");
    provision_and_kill(&dir, 5);
    let path = segment(&dir);
    let mut bytes = std::fs::read(&path).unwrap();
    // Inside the first commit (the demo documents), well before the last.
    let offset = 4096 + 300;
    bytes[offset] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    let refused = start_output(&dir, &[]);
    assert_eq!(
        refused.status.code(),
        Some(1),
        "a corrupt WAL must stop the start"
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("corruption"), "{stderr}");
    assert!(stderr.contains("wal-"), "names the segment: {stderr}");
    assert!(
        stderr.contains("--recover-truncate"),
        "says how to override: {stderr}"
    );
    let server = Server::start_in(&dir, &[args(), vec!["--recover-truncate"]].concat());
    let mut client = server.client();
    assert_eq!(client.request("GET", "/readyz", &[], None).status, 200);
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn wal_inspect_prints_the_records_of_a_shard() {
    let dir = temp_dir("inspect");
    provision_and_kill(&dir, 2);
    let output = std::process::Command::new(binary())
        .args(["wal", "inspect", "--shard", "0", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("generation 1 shards 1"), "{stdout}");
    assert!(
        stdout.contains("AccountPut { account_id: \"acc_rec1\""),
        "{stdout}"
    );
    let missing = std::process::Command::new(binary())
        .args(["wal", "inspect", "--shard", "7", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn snapshots_are_taken_as_the_log_grows_and_recovery_uses_them() {
    let dir = temp_dir("snapshots");
    let with_snapshots = [args(), vec!["--snapshot-events", "5"]].concat();
    let server = Server::start_in(&dir, &with_snapshots);
    let mut client = server.client();
    for n in 0..20 {
        let id = format!("acc_snap{n}");
        let doc = json!({"id": id, "domains": [{"domain": format!("snap{n}.example")}]});
        assert_eq!(
            client
                .request("PUT", &format!("/admin/accounts/{id}"), &ADMIN, Some(&doc))
                .status,
            200
        );
    }
    let shard = dir.join("gen-1").join("shard-0");
    let snapshots_in = |shard: &std::path::Path| -> Vec<String> {
        std::fs::read_dir(shard)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".snap"))
            .collect()
    };
    // Snapshots are encoded on a thread of their own and written after
    // the commits they cover: wait for the first to land (the condition,
    // not a fixed time), then kill.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while snapshots_in(&shard).is_empty() {
        assert!(std::time::Instant::now() < deadline, "no snapshot in 30 s");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    server.kill9();
    let snapshots = snapshots_in(&shard);
    // About four snapshots were written (20 events, one per 5). Each one
    // removes the older ones once it is durable; snapshots are written
    // while commits go on, so the kill may land between the newest one's
    // rename and that removal: then one older one is still there.
    assert!(
        (1..=2).contains(&snapshots.len()),
        "the newest snapshot kept, older ones removed: {snapshots:?}"
    );
    let server = Server::start_in(&dir, &with_snapshots);
    let mut client = server.client();
    for n in 0..20 {
        let reply = client.request("GET", &format!("/admin/accounts/acc_snap{n}"), &ADMIN, None);
        assert_eq!(reply.status, 200, "acc_snap{n} after snapshot + WAL replay");
    }
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}
