//! Performs flow webhooks (`webhook` nodes) off the shard's decision path:
//! a plain HTTP/1.1 POST with a JSON body, bounded in time and size. Its
//! result comes back to the shard as an ordinary logged call
//! (`Call::FlowWebhook`), so the session moves on only through the WAL.

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use serde_json::{Map, Value};
use sipbrain_core::api::flow::{check_vars, WebhookReport};
use sipbrain_core::flow::webhook::parse_url;
use sipbrain_core::flow::WebhookCall;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// Largest webhook answer read.
const ANSWER_BYTES_MAX: usize = 64 * 1024;

/// Sends `call` and returns what the shard should learn.
pub async fn perform(call: &WebhookCall) -> WebhookReport {
    let timeout = Duration::from_millis(call.timeout_ms.max(1));
    let outcome = glommio::timer::timeout(timeout, async { Ok(send(call).await) }).await;
    let (ok, vars) = match outcome {
        Ok(Some(vars)) => (true, vars),
        Ok(None) | Err(_) => (false, Map::new()),
    };
    WebhookReport {
        call_id: call.call_id.clone(),
        seq: call.seq,
        ok,
        vars,
    }
}

/// `Some(variables)` on a 2xx answer (its `vars` object, when valid).
async fn send(call: &WebhookCall) -> Option<Map<String, Value>> {
    let (host, port, path) = parse_url(&call.url)?;
    let addr = resolve(&host, port).await?;
    let mut stream = glommio::net::TcpStream::connect(addr).await.ok()?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\nuser-agent: sipbrain\r\n\r\n{}",
        call.body.len(),
        call.body
    );
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
        if answer.len() > ANSWER_BYTES_MAX {
            return None;
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(head) = response.parse(&answer).ok()? else {
        return None;
    };
    let code = response.code?;
    if !(200..300).contains(&code) {
        return None;
    }
    let body: Value = serde_json::from_slice(&answer[head..]).unwrap_or(Value::Null);
    let vars = match body.get("vars") {
        Some(Value::Object(map)) => match check_vars("vars", map) {
            Ok(vars) => vars
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
            Err(_) => Map::new(),
        },
        _ => Map::new(),
    };
    Some(vars)
}

/// An IP literal as is; a name on a thread of its own (DNS never runs on
/// the shard's executor, nor holds the blocking pool the WAL needs).
async fn resolve(host: &str, port: u16) -> Option<SocketAddr> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Some(SocketAddr::new(ip, port));
    }
    let name = format!("{host}:{port}");
    crate::offload::on_own_thread("webhook-dns", move || {
        name.to_socket_addrs().ok().and_then(|mut a| a.next())
    })
    .await
    .flatten()
}
