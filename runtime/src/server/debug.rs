//! `GET /debug`: the live event stream as a WebSocket session on the
//! connection that asked for it.
//!
//! The gate and the filters are core's (`prepare`, class debug); the
//! WebSocket protocol is tungstenite's, run over in-memory buffers
//! ([`Pipe`]) so that every byte still goes through this executor's own
//! socket. Messages come from the [`Hub`](crate::observe::debug::Hub)
//! through this session's bounded channel. A client that stops reading is
//! dropped once its channel is full: the session notices within
//! [`POLL`] even while a write to it is stuck, and closes it.

use super::node::Node;
use crate::observe::debug::Subscription;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use sipbrain_core::api::{self, ApiError, Endpoint, Prepared};
use sipbrain_core::http::{Method, Request, Response};
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tungstenite::error::Error as WsError;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocket, WebSocketConfig};
use tungstenite::Message;

/// How often a session waiting on its client checks whether it was
/// dropped or the server is stopping.
const POLL: Duration = Duration::from_millis(100);
/// How long a closing session waits for its close frame to leave.
const CLOSE_WAIT: Duration = Duration::from_secs(1);
/// Messages written per wake-up before the socket is written to.
const BATCH: usize = 256;
/// What a client may send (it only needs pings and a close).
const CLIENT_MESSAGE_BYTES_MAX: usize = 64 * 1024;
/// The kernel's send buffer for a session (the other bound of what a
/// client that stopped reading holds, with its channel): a few thousand
/// messages in flight, enough for a client across a WAN.
const SOCKET_SEND_BYTES: libc::c_int = 256 * 1024;

/// True when `req` asks to open the debug stream (a WebSocket upgrade of
/// `/debug`): the connection hands itself to [`serve`].
pub fn is_upgrade(req: &Request) -> bool {
    req.header("upgrade")
        .is_some_and(|u| u.trim().eq_ignore_ascii_case("websocket"))
        && matches!(
            api::route_table::route(&Method::Get, &req.path),
            Ok(Endpoint::Debug)
        )
}

/// Serves the debug stream on `stream` until the client leaves, falls a
/// buffer behind, or the server stops. A request that does not pass the
/// gate or is not a valid upgrade gets its HTTP answer, and the
/// connection closes.
pub async fn serve(
    node: &Node,
    stream: &mut TcpStream,
    req: &Request,
    peer: IpAddr,
) -> io::Result<()> {
    let started = Instant::now();
    let (endpoint, prepared) = node.prepare(req, peer);
    let opened = match prepared {
        Prepared::Observe(api::Observe::Debug {
            account_id,
            call_id,
        }) => accept_key(req).map(|key| (key, account_id, call_id)),
        Prepared::Reply(response) => Err(response),
        _ => Err(ApiError::new(500, "internal", "not the debug stream").to_response()),
    };
    let (key, account_id, call_id) = match opened {
        Ok(opened) => opened,
        Err(response) => {
            let status = response.status;
            let mut out = Vec::new();
            response.encode(false, &mut out);
            let written = stream.write_all(&out).await;
            node.observe
                .shard
                .request(endpoint, status, started.elapsed());
            written?;
            return stream.close().await;
        }
    };
    // Subscribed before the client hears 101: everything durable after it
    // sees the answer reaches it.
    let subscription = node.observe.hub.subscribe(account_id, call_id);
    let answer = format!(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
         sec-websocket-accept: {key}\r\n\r\n"
    );
    stream.write_all(answer.as_bytes()).await?;
    set_option(stream, libc::SO_SNDBUF, &SOCKET_SEND_BYTES);
    node.observe.shard.request(endpoint, 101, started.elapsed());
    session(node, stream, subscription).await
}

/// The `sec-websocket-accept` value for a valid upgrade request (RFC 6455
/// §4.2.1), or the HTTP answer to an invalid one.
fn accept_key(req: &Request) -> Result<String, Response> {
    let has_token = |name: &str, token: &str| {
        req.header(name).is_some_and(|value| {
            value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        })
    };
    if !has_token("upgrade", "websocket") {
        return Err(ApiError::new(
            426,
            "upgrade_required",
            "GET /debug is a WebSocket: send upgrade: websocket",
        )
        .with_header("upgrade", "websocket".into())
        .to_response());
    }
    if !has_token("connection", "upgrade") {
        return Err(
            ApiError::new(400, "bad_request", "connection: upgrade is missing").to_response(),
        );
    }
    if req.header("sec-websocket-version").map(str::trim) != Some("13") {
        return Err(ApiError::new(
            426,
            "upgrade_required",
            "only WebSocket version 13 is served",
        )
        .with_header("sec-websocket-version", "13".into())
        .to_response());
    }
    match req.header("sec-websocket-key").map(str::trim) {
        // 16 random bytes in base64.
        Some(key) if key.len() == 24 && key.ends_with("==") => {
            Ok(tungstenite::handshake::derive_accept_key(key.as_bytes()))
        }
        _ => Err(ApiError::new(
            400,
            "bad_request",
            "sec-websocket-key must be 16 bytes in base64",
        )
        .to_response()),
    }
}

/// Why a session ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The client closed (close frame or TCP) or broke the protocol.
    ClientLeft,
    /// Fell its whole buffer behind: close with a reason.
    Dropped,
    /// Dropped while a write to it was stuck: reset the connection (a
    /// frame may be half written, and the client reads nothing anyway).
    Stuck,
    /// The server is stopping.
    Stopping,
}

/// What woke a session.
enum Wake {
    Message(Option<crate::observe::debug::Text>),
    Read(io::Result<usize>),
    Poll,
}

async fn session(
    node: &Node,
    stream: &mut TcpStream,
    subscription: Subscription,
) -> io::Result<()> {
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(CLIENT_MESSAGE_BYTES_MAX))
        .max_frame_size(Some(CLIENT_MESSAGE_BYTES_MAX));
    let mut ws = WebSocket::from_raw_socket(Pipe::default(), Role::Server, Some(config));
    let mut buffer = vec![0u8; 4096];
    let stopping = || node.shared.stopping.load(Ordering::Acquire);
    let ending = loop {
        if subscription.dropped() {
            break Ending::Dropped;
        }
        if stopping() {
            break Ending::Stopping;
        }
        let wake = futures_lite::future::or(
            async { Wake::Message(subscription.messages.recv().await.ok()) },
            futures_lite::future::or(
                async { Wake::Read(stream.read(&mut buffer).await) },
                async {
                    glommio::timer::sleep(POLL).await;
                    Wake::Poll
                },
            ),
        )
        .await;
        match wake {
            Wake::Message(Some(first)) => {
                let mut next = Some(first);
                let mut written = 0;
                while let Some(text) = next.take() {
                    if ws.write(Message::Text(text)).is_err() {
                        break;
                    }
                    written += 1;
                    if written < BATCH {
                        next = subscription.messages.try_recv().ok();
                    }
                }
            }
            // Closed: only the hub closes it, when it drops us.
            Wake::Message(None) => break Ending::Dropped,
            Wake::Read(Ok(0)) | Wake::Read(Err(_)) => break Ending::ClientLeft,
            Wake::Read(Ok(read)) => {
                ws.get_mut().incoming.extend_from_slice(&buffer[..read]);
                if !take_client_frames(&mut ws) {
                    // Answer its close (queued by tungstenite), then end.
                    let _ = ws.flush();
                    let _ = write_out(stream, &mut ws, &subscription, &stopping, true).await;
                    break Ending::ClientLeft;
                }
            }
            Wake::Poll => continue,
        }
        let _ = ws.flush();
        match write_out(stream, &mut ws, &subscription, &stopping, false).await {
            Ok(true) => {}
            Ok(false) => break Ending::Stuck,
            Err(_) => break Ending::ClientLeft,
        }
    };
    drop(subscription);
    if matches!(ending, Ending::Dropped | Ending::Stuck) {
        tracing::info!(
            shard = node.id,
            "a /debug client fell a whole buffer behind: dropped"
        );
    }
    match ending {
        Ending::ClientLeft => Ok(()),
        Ending::Stuck => {
            reset(stream);
            Ok(())
        }
        Ending::Dropped | Ending::Stopping => {
            let (code, reason) = if ending == Ending::Dropped {
                (
                    CloseCode::Policy,
                    "too slow: fell a whole buffer of messages behind",
                )
            } else {
                (CloseCode::Away, "the server is stopping")
            };
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            let _ = ws.close(Some(frame));
            let _ = ws.flush();
            let bytes = std::mem::take(&mut ws.get_mut().outgoing);
            let sent =
                futures_lite::future::or(async { stream.write_all(&bytes).await.is_ok() }, async {
                    glommio::timer::sleep(CLOSE_WAIT).await;
                    false
                })
                .await;
            if !sent {
                reset(stream);
                return Ok(());
            }
            stream.close().await
        }
    }
}

/// Feeds what the client sent to the protocol: pings are answered (by
/// tungstenite, on the next flush), data is ignored. False when the
/// session must end (a close, a protocol error).
fn take_client_frames(ws: &mut WebSocket<Pipe>) -> bool {
    loop {
        match ws.read() {
            Ok(Message::Close(_)) => return false,
            Ok(_) => {}
            Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    }
}

/// Writes what the protocol produced. Ok(false) when the client was
/// dropped or the server began stopping while the write was stuck (its
/// socket buffers full): the session must end without writing more.
async fn write_out(
    stream: &mut TcpStream,
    ws: &mut WebSocket<Pipe>,
    subscription: &Subscription,
    stopping: &dyn Fn() -> bool,
    closing: bool,
) -> io::Result<bool> {
    let bytes = std::mem::take(&mut ws.get_mut().outgoing);
    if bytes.is_empty() {
        return Ok(true);
    }
    let written = futures_lite::future::or(
        async { stream.write_all(&bytes).await.map(|()| true) },
        async {
            loop {
                glommio::timer::sleep(POLL).await;
                if subscription.dropped() || stopping() || closing {
                    return Ok(false);
                }
            }
        },
    )
    .await;
    // Keep the buffer's capacity for the next batch.
    let mut bytes = bytes;
    bytes.clear();
    ws.get_mut().outgoing = bytes;
    written
}

/// Ends the connection at once (RST), dropping what its buffers hold.
fn reset(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    set_option(stream, libc::SO_LINGER, &linger);
}

/// Sets a `SOL_SOCKET` option (best effort: a refusal leaves the default).
fn set_option<T>(stream: &TcpStream, option: libc::c_int, value: &T) {
    // SAFETY: setsockopt on the socket this stream owns, with a pointer to
    // a live value and its exact size.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        );
    }
}

/// The bytes between tungstenite and the socket: what the client sent,
/// not yet parsed, and what the protocol wrote, not yet sent.
#[derive(Debug, Default)]
struct Pipe {
    incoming: Vec<u8>,
    outgoing: Vec<u8>,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.incoming.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.incoming.len());
        buf[..n].copy_from_slice(&self.incoming[..n]);
        self.incoming.drain(..n);
        Ok(n)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outgoing.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upgrade(headers: &[(&str, &str)]) -> Request {
        Request {
            method: Method::Get,
            path: "/debug".into(),
            query: String::new(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: Vec::new(),
            keep_alive: true,
        }
    }

    const VALID: [(&str, &str); 4] = [
        ("upgrade", "websocket"),
        ("connection", "keep-alive, Upgrade"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];

    #[test]
    fn a_valid_upgrade_gets_the_rfc_accept_key() {
        // RFC 6455 §1.3's example.
        assert_eq!(
            accept_key(&upgrade(&VALID)),
            Ok("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".to_string())
        );
        assert!(is_upgrade(&upgrade(&VALID)));
    }

    #[test]
    fn invalid_upgrades_get_their_http_answer() {
        let without = |name: &str| {
            let headers: Vec<_> = VALID.iter().copied().filter(|(n, _)| *n != name).collect();
            accept_key(&upgrade(&headers)).unwrap_err().status
        };
        assert_eq!(without("upgrade"), 426);
        assert_eq!(without("connection"), 400);
        assert_eq!(without("sec-websocket-version"), 426);
        assert_eq!(without("sec-websocket-key"), 400);
        let mut other = upgrade(&VALID);
        other.path = "/metrics".into();
        assert!(!is_upgrade(&other));
    }

    #[test]
    fn the_pipe_reads_what_came_in_and_would_block_after() {
        let mut pipe = Pipe::default();
        pipe.incoming.extend_from_slice(b"abc");
        let mut buf = [0u8; 2];
        assert_eq!(pipe.read(&mut buf).unwrap(), 2);
        assert_eq!(pipe.read(&mut buf).unwrap(), 1);
        let blocked = pipe.read(&mut buf).unwrap_err();
        assert_eq!(blocked.kind(), io::ErrorKind::WouldBlock);
    }
}
