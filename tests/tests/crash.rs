//! Crash test: concurrent mutating clients, `kill -9` at random moments,
//! restart (sometimes with another `--shards`), and check against an
//! external record of every 2xx answer that each acknowledged change
//! survived: accounts created or deleted, digest nonces used.

use serde_json::{json, Value};
use sipbrain_tests::digest::{ha1, response};
use sipbrain_tests::{temp_dir, Client, Server, ADMIN_TOKEN, EDGE_TOKEN};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A change the server acknowledged with a 2xx.
#[derive(Clone, Debug)]
enum Acked {
    Put {
        id: String,
        name: String,
    },
    Deleted {
        id: String,
    },
    /// A DELETE was sent; without a later `Deleted` its outcome is unknown
    /// (it may be the in-flight tail).
    DeleteSent {
        id: String,
    },
    Nonce {
        nonce: String,
    },
}

/// xorshift64*: a fixed, seeded generator so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn account(id: &str, name: &str) -> Value {
    let domain = format!("{id}.crash.example");
    json!({
        "id": id, "name": name, "domains": [{"domain": domain}],
        "users": [{"id": "us_1", "username": "100"}],
        "devices": [{"id": "dev_1", "user_id": "us_1", "auth_username": "100", "realm": domain,
                     "ha1": ha1(false, "100", &domain, "pw"), "ha1b": ha1(false, &format!("100@{domain}"), &domain, "pw")}]
    })
}

fn nonce_body(nonce: &str) -> Value {
    let realm = "acme.sip.io";
    let uri = "sip:acme.sip.io";
    let key = ha1(false, "1002", realm, "bob-secret-1002");
    json!({"method": "REGISTER", "username": "1002", "realm": realm, "nonce": nonce, "uri": uri,
        "qop": "auth", "nc": "00000001", "cnonce": "cc",
        "response": response(false, false, &key, nonce, "00000001", "cc", "REGISTER", uri)})
}

/// One client: mutates until the server dies under it.
fn worker(
    addr: SocketAddr,
    round: usize,
    worker: usize,
    seed: u64,
    acked: Arc<Mutex<Vec<Acked>>>,
    stop: Arc<AtomicBool>,
) {
    let mut rng = Rng(seed | 1);
    let mut client = Client::connect(addr);
    let mut mine: Vec<String> = Vec::new();
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match rng.next() % 4 {
                0 | 1 => {
                    let id = format!("acc_r{round}w{worker}n{n}");
                    let name = format!("name-{}", rng.next() % 1000);
                    let reply = client.request(
                        "PUT",
                        &format!("/admin/accounts/{id}"),
                        &[("x-admin-token", ADMIN_TOKEN)],
                        Some(&account(&id, &name)),
                    );
                    (reply.status == 200).then_some(Acked::Put { id, name })
                }
                2 if !mine.is_empty() => {
                    let id = mine.swap_remove((rng.next() as usize) % mine.len());
                    acked
                        .lock()
                        .unwrap()
                        .push(Acked::DeleteSent { id: id.clone() });
                    let reply = client.request(
                        "DELETE",
                        &format!("/admin/accounts/{id}"),
                        &[("x-admin-token", ADMIN_TOKEN)],
                        None,
                    );
                    (reply.status == 200).then_some(Acked::Deleted { id })
                }
                _ => {
                    let nonce = format!("crash-r{round}w{worker}n{n}");
                    let reply = client.request(
                        "POST",
                        "/auth",
                        &[("x-edge-token", EDGE_TOKEN)],
                        Some(&nonce_body(&nonce)),
                    );
                    (reply.status == 200).then_some(Acked::Nonce { nonce })
                }
            }));
        match result {
            Ok(Some(change)) => {
                if let Acked::Put { id, .. } = &change {
                    mine.push(id.clone());
                }
                acked.lock().unwrap().push(change);
            }
            Ok(None) => {}
            Err(_) => return, // the connection died with the server
        }
    }
}

/// Checks every acknowledged change against the restarted server.
fn verify(server: &Server, acked: &[Acked]) {
    let mut client = server.client();
    let mut last: std::collections::BTreeMap<String, Option<String>> = Default::default();
    let mut checked = 0u32;
    for change in acked {
        match change {
            Acked::Put { id, name } => {
                last.insert(id.clone(), Some(name.clone()));
            }
            Acked::Deleted { id } => {
                last.insert(id.clone(), None);
            }
            Acked::DeleteSent { id } => {
                last.remove(id); // unknown until a `Deleted` follows
            }
            Acked::Nonce { nonce } => {
                // Replays count as /auth failures per source IP: give each
                // check its own source so the rate limit stays out of the way.
                checked += 1;
                let mut body = nonce_body(nonce);
                let source = format!(
                    "10.{}.{}.{}",
                    (checked >> 16) & 255,
                    (checked >> 8) & 255,
                    checked & 255
                );
                body["sourceIp"] = json!(source);
                let reply = client.request(
                    "POST",
                    "/auth",
                    &[("x-edge-token", EDGE_TOKEN)],
                    Some(&body),
                );
                assert_eq!(
                    reply.code(),
                    "nonce_replay",
                    "acknowledged use of nonce {nonce} was lost"
                );
            }
        }
    }
    for (id, expected) in last {
        let reply = client.request(
            "GET",
            &format!("/admin/accounts/{id}"),
            &[("x-admin-token", ADMIN_TOKEN)],
            None,
        );
        match expected {
            Some(name) => {
                assert_eq!(reply.status, 200, "acknowledged account {id} was lost");
                assert_eq!(
                    reply.json()["account"]["name"],
                    name.as_str(),
                    "{id} has its last acknowledged name"
                );
            }
            None => assert_eq!(reply.status, 404, "acknowledged delete of {id} was lost"),
        }
    }
}

#[test]
fn acknowledged_changes_survive_kill_9_and_resharding() {
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_cafe);
    println!("crash test seed {seed} (CRASH_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let dir = temp_dir("crash");
    let acked = Arc::new(Mutex::new(Vec::new()));
    let args = |shards: &str| {
        let shards: &'static str = shards.to_string().leak();
        vec![
            "--demo",
            "--admin-token",
            ADMIN_TOKEN,
            "--edge-token",
            EDGE_TOKEN,
            "--shards",
            shards,
        ]
    };
    // Workers die with the server: keep their panics quiet.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() != Some("crash-worker") {
            default_hook(info);
        }
    }));
    for round in 0..5 {
        let shards = if rng.next().is_multiple_of(3) {
            "1"
        } else {
            "2"
        };
        let server = Server::start_in(&dir, &args(shards));
        verify(&server, &acked.lock().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..3)
            .map(|w| {
                let (acked, stop, seed) = (acked.clone(), stop.clone(), rng.next());
                let addr = server.addr;
                std::thread::Builder::new()
                    .name("crash-worker".into())
                    .spawn(move || worker(addr, round, w, seed, acked, stop))
                    .unwrap()
            })
            .collect();
        std::thread::sleep(Duration::from_millis(100 + rng.next() % 400));
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        for handle in workers {
            handle.join().unwrap();
        }
        println!(
            "round {round}: {} acknowledged changes so far, {shards} shard(s)",
            acked.lock().unwrap().len()
        );
    }
    let server = Server::start_in(&dir, &args("2"));
    verify(&server, &acked.lock().unwrap());
    assert!(
        acked.lock().unwrap().len() > 20,
        "the workload did real work"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}
