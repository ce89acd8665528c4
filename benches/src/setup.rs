//! Before a sipbrain run: provision the bench accounts, register every
//! phone, and take one brain-signed nonce per realm from a challenge, over
//! a plain blocking connection. The static peers get none of this.

use crate::http::{self, Value};
use crate::workload::Population;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// A blocking keep-alive HTTP/1.1 client for setup requests.
pub struct Client {
    stream: TcpStream,
    host: String,
    input: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> std::io::Result<Client> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream,
            host: addr.to_string(),
            input: Vec::new(),
        })
    }

    /// Sends one request; returns the status and body.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(u16, String), String> {
        let mut out = format!("{method} {path} HTTP/1.1\r\nhost: {}\r\n", self.host).into_bytes();
        for (name, value) in headers {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        out.extend_from_slice(
            format!(
                "content-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(body);
        self.stream.write_all(&out).map_err(|e| e.to_string())?;
        loop {
            if let Some(head) = http::parse_response(&self.input)? {
                let head_end = self
                    .input
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .expect("a complete response has a blank line")
                    + 4;
                let body =
                    String::from_utf8_lossy(&self.input[head_end..head.total_bytes]).into_owned();
                self.input.drain(..head.total_bytes);
                return Ok((head.status, body));
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.stream.read(&mut chunk).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("the server closed the connection".into());
            }
            self.input.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Waits until `GET /readyz` answers 200 (or `timeout` passes).
pub fn wait_ready(addr: SocketAddr, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let status = Client::connect(addr)
            .map_err(|e| e.to_string())
            .and_then(|mut c| c.request("GET", "/readyz", &[], b""));
        match status {
            Ok((200, _)) => return Ok(()),
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            other => return Err(format!("{addr} not ready: {other:?}")),
        }
    }
}

/// Provisions and registers the population; returns one nonce per account.
pub fn provision(
    addr: SocketAddr,
    admin_token: &str,
    edge_token: &str,
    population: &Population,
) -> Result<Vec<String>, String> {
    let mut client = Client::connect(addr).map_err(|e| e.to_string())?;
    let bearer = format!("Bearer {edge_token}");
    let edge = [("authorization", bearer.as_str())];
    let mut nonces = Vec::new();
    for (i, account) in population.accounts.iter().enumerate() {
        let doc = serde_json::to_vec(&population.account_doc(i)).expect("a JSON value");
        let path = format!("/admin/accounts/{}", account.id);
        let (status, body) =
            client.request("PUT", &path, &[("x-admin-token", admin_token)], &doc)?;
        if status != 200 {
            return Err(format!("PUT {path}: {status} {body}"));
        }
        for user in 0..account.users.len() {
            let mut body = Vec::new();
            population.register_body(i, user, "registered", &mut body);
            let (status, reply) = client.request("POST", "/presence/event", &edge, &body)?;
            if status != 200 {
                return Err(format!(
                    "register {}@{}: {status} {reply}",
                    user, account.domain
                ));
            }
        }
        let mut body = Vec::new();
        http::json_object(
            &mut body,
            &[
                ("method", Value::Str("REGISTER")),
                ("realm", Value::Str(&account.domain)),
                ("sourceIp", Value::Str("198.51.100.7")),
            ],
        );
        let (status, reply) = client.request("POST", "/auth", &edge, &body)?;
        let nonce = serde_json::from_str::<serde_json::Value>(&reply)
            .ok()
            .and_then(|v| v["challenge"]["nonce"].as_str().map(str::to_string));
        match (status, nonce) {
            (401, Some(nonce)) => nonces.push(nonce),
            _ => {
                return Err(format!(
                    "challenge for {}: {status} {reply}",
                    account.domain
                ))
            }
        }
    }
    staff_demo_queue(&mut client, &edge)?;
    Ok(nonces)
}

/// Dan (1004) of the demo account registers a phone and logs in to
/// `q_sales`, not ready: the flow unit's caller then waits in the queue
/// (its `poll` step) instead of leaving by `no_agents`.
fn staff_demo_queue(client: &mut Client, edge: &[(&str, &str)]) -> Result<(), String> {
    let bodies = [
        serde_json::json!({"type": "register", "event": "registered", "username": "1004",
            "realm": "acme.sip.io", "contact": "sip:1004@192.0.2.9:5060", "expires": 3600,
            "node": "bench-edge"}),
        serde_json::json!({"type": "agent", "accountId": crate::workload::FLOW_ACCOUNT,
            "userId": "1004", "event": "login", "queues": [{"queueId": "q_sales", "level": 1}]}),
    ];
    for body in bodies {
        let bytes = serde_json::to_vec(&body).expect("a JSON value");
        let (status, reply) = client.request("POST", "/presence/event", edge, &bytes)?;
        if status != 200 {
            return Err(format!("staffing q_sales: {status} {reply}"));
        }
    }
    Ok(())
}

/// Stand-in nonces for the static peers (they never check them): the
/// length of a brain nonce, so the requests are the same size.
pub fn fake_nonces(population: &Population) -> Vec<String> {
    (0..population.accounts.len())
        .map(|i| format!("{i:064x}"))
        .collect()
}
