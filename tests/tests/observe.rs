//! GET /debug (a real WebSocket client) and GET /metrics against the real
//! binary.

use serde_json::{json, Value};
use sipbrain_tests::demo::*;
use sipbrain_tests::{Client, Reply, Server, ADMIN_TOKEN, EDGE_TOKEN};
use socket2::{Domain, SockAddr, Socket, Type};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{HandshakeError, Message, WebSocket};

const EDGE: [(&str, &str); 1] = [("x-edge-token", EDGE_TOKEN)];
const ADMIN: [(&str, &str); 1] = [("x-admin-token", ADMIN_TOKEN)];

type Ws = WebSocket<TcpStream>;

/// A TCP connection to the server, from `source` when given, with a small
/// receive buffer when `rcvbuf` is given.
fn tcp(server: &Server, source: Option<IpAddr>, rcvbuf: Option<usize>) -> TcpStream {
    let socket = Socket::new(Domain::for_address(server.addr), Type::STREAM, None).unwrap();
    if let Some(ip) = source {
        socket
            .bind(&SockAddr::from(SocketAddr::new(ip, 0)))
            .unwrap();
    }
    if let Some(bytes) = rcvbuf {
        socket.set_recv_buffer_size(bytes).unwrap();
    }
    socket.connect(&SockAddr::from(server.addr)).unwrap();
    let stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
}

/// Opens `/debug{query}` over `stream`: the socket, or the HTTP status of
/// a refusal.
fn open_on(stream: TcpStream, query: &str, headers: &[(&str, &str)]) -> Result<Ws, u16> {
    let addr = stream.peer_addr().unwrap();
    let mut request = format!("ws://{addr}/debug{query}")
        .into_client_request()
        .unwrap();
    for (name, value) in headers {
        let name = tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap();
        request.headers_mut().insert(name, value.parse().unwrap());
    }
    match tungstenite::client::client(request, stream) {
        Ok((ws, response)) => {
            assert_eq!(response.status(), 101);
            Ok(ws)
        }
        Err(HandshakeError::Failure(tungstenite::Error::Http(response))) => {
            Err(response.status().as_u16())
        }
        Err(other) => panic!("handshake failed: {other}"),
    }
}

fn open(server: &Server, query: &str) -> Ws {
    open_on(tcp(server, None, None), query, &[]).expect("loopback opens /debug")
}

/// The next JSON message (pings and pongs skipped).
fn next_event(ws: &mut Ws) -> Value {
    loop {
        match ws.read().expect("a debug message") {
            Message::Text(text) => return serde_json::from_str(&text).expect("JSON"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected message {other:?}"),
        }
    }
}

/// Messages until one satisfies `want` (bounded), returning it.
fn event_where(ws: &mut Ws, want: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..1000 {
        let event = next_event(ws);
        if want(&event) {
            return event;
        }
    }
    panic!("no such event in 1000 messages");
}

fn route(client: &mut Client, body: Value) -> Reply {
    let reply = client.request("POST", "/route", &EDGE, Some(&body));
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply
}

fn acme_call(call_id: &str) -> Value {
    json!({"callId": call_id, "from": ALICE, "fromDomain": ACME_REALM, "to": "+1 212 555 0100",
           "sourceIp": "198.51.100.7", "authUser": ALICE, "node": "edge-1"})
}

fn globex_call(call_id: &str) -> Value {
    json!({"callId": call_id, "from": "4930111222", "fromDomain": "carrier-de.example",
           "to": "14155550100", "sourceIp": "198.51.100.5", "node": "edge-1"})
}

#[test]
fn the_debug_stream_shows_a_route_call_as_it_happens() {
    let server = Server::demo(&["--shards", "2"]);
    let mut everything = open(&server, "");
    let mut one_call = open(&server, "?callId=obs-2");
    let mut globex = open(&server, &format!("?accountId={GLOBEX}"));
    let mut client = server.client();
    route(&mut client, acme_call("obs-1"));
    route(&mut client, acme_call("obs-2"));
    route(&mut client, globex_call("obs-3"));

    let routed = event_where(&mut everything, |e| e["callId"] == "obs-1");
    assert_eq!(routed["source"], "route");
    assert_eq!(routed["type"], "routed");
    assert_eq!(routed["accountId"], ACME);
    assert!(routed["ts"].as_u64().unwrap() > 0);
    assert_eq!(routed["data"]["rejected"], false);
    assert_eq!(routed["data"]["rtjson"]["routing"], "serial");
    let admitted = next_event(&mut everything);
    assert_eq!(
        (&admitted["source"], &admitted["type"], &admitted["callId"]),
        (&json!("cac"), &json!("admitted"), &json!("obs-1"))
    );
    assert!(admitted["data"]["dims"]
        .as_array()
        .unwrap()
        .contains(&json!("account_out")));

    // Filters: the first thing each filtered client sees is its own.
    let first = next_event(&mut one_call);
    assert_eq!(
        (&first["callId"], &first["type"]),
        (&json!("obs-2"), &json!("routed"))
    );
    let first = next_event(&mut globex);
    assert_eq!(first["accountId"], GLOBEX);
    assert_eq!(first["callId"], "obs-3");

    // A dialog report shows too, with the call's account.
    let reply = client.request(
        "POST",
        "/presence/event",
        &EDGE,
        Some(
            &json!({"type": "dialog", "callId": "obs-2", "state": "terminated", "node": "edge-1"}),
        ),
    );
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let ended = event_where(&mut one_call, |e| e["type"] == "ended");
    assert_eq!(ended["accountId"], ACME);
    assert_eq!(ended["data"]["cause"], "terminated");

    // A client that closes is forgotten (the metric goes back down).
    everything.close(None).unwrap();
    while everything.read().is_ok() {}
    let clients = |client: &mut Client| metric(&scrape(client), "sipbrain_debug_clients");
    for _ in 0..100 {
        if clients(&mut client) == 2.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(clients(&mut client), 2.0);
}

#[test]
fn debug_needs_a_websocket_and_answers_http_errors() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let plain = client.request("GET", "/debug", &[], None);
    assert_eq!(
        (plain.status, plain.code().as_str()),
        (426, "upgrade_required")
    );
    assert_eq!(plain.header("upgrade"), Some("websocket"));
    let post = client.request("POST", "/debug", &[], Some(&json!({})));
    assert_eq!(post.status, 405);
    let mut raw = server.client();
    raw.send_raw(
        b"GET /debug HTTP/1.1\r\nhost: t\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
          sec-websocket-version: 8\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    );
    let old = raw.read_reply();
    assert_eq!(old.status, 426);
    assert_eq!(old.header("sec-websocket-version"), Some("13"));
    assert!(raw.is_closed(), "a refused upgrade closes the connection");
    let mut raw = server.client();
    raw.send_raw(b"GET /debug HTTP/1.1\r\nhost: t\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-version: 13\r\n\r\n");
    assert_eq!(raw.read_reply().status, 400, "no sec-websocket-key");
}

/// A local address that is not loopback (to be a source outside
/// loopback), if the machine has one.
fn non_loopback_address() -> Option<IpAddr> {
    let mut found = None;
    // SAFETY: getifaddrs/freeifaddrs as documented; each ifa_addr is read
    // as the sockaddr_in its family says it is.
    unsafe {
        let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
        if libc::getifaddrs(&mut list) != 0 {
            return None;
        }
        let mut entry = list;
        while !entry.is_null() {
            let addr = (*entry).ifa_addr;
            if !addr.is_null() && i32::from((*addr).sa_family) == libc::AF_INET {
                let v4 = &*(addr as *const libc::sockaddr_in);
                let ip = std::net::Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
                if !ip.is_loopback() && !ip.is_unspecified() && found.is_none() {
                    found = Some(IpAddr::V4(ip));
                }
            }
            entry = (*entry).ifa_next;
        }
        libc::freeifaddrs(list);
    }
    found
}

#[test]
fn debug_from_outside_loopback_and_debug_cidrs_needs_the_admin_token() {
    let Some(source) = non_loopback_address() else {
        eprintln!("skipped: this machine has no address outside loopback to connect from");
        return;
    };
    // Loopback always passes (the contract), so the refused source is one
    // of the machine's own addresses, connecting to the loopback listener.
    let server = Server::demo(&["--debug-cidrs", "10.9.0.0/16"]);
    let from_outside = || tcp(&server, Some(source), None);
    assert_eq!(open_on(from_outside(), "", &[]).err(), Some(401));
    assert_eq!(
        open_on(
            from_outside(),
            "",
            &[("x-admin-token", "wrong-token-000000")]
        )
        .err(),
        Some(403)
    );
    let mut ws =
        open_on(from_outside(), "?callId=gated-1", &ADMIN).expect("the admin token opens it");
    route(&mut server.client(), acme_call("gated-1"));
    assert_eq!(next_event(&mut ws)["callId"], "gated-1");
    // A source inside debug_cidrs needs no token.
    let listed = Server::demo(&["--debug-cidrs", &format!("{source}/32")]);
    let stream = tcp(&listed, Some(source), None);
    assert!(open_on(stream, "", &[]).is_ok());
}

#[test]
fn a_client_that_stops_reading_is_dropped_and_the_brain_goes_on() {
    let server = Server::demo(&["--debug-client-buffer", "256"]);
    // Never reads after the handshake; a small receive buffer so that the
    // socket fills soon.
    let mut slow = open_on(tcp(&server, None, Some(4096)), "", &[]).unwrap();
    // Reads all along, in a thread: it must not be dropped (the buffer is
    // large enough for its session to be late by a hundred routes).
    let mut watcher = open(&server, "");
    let (seen_tx, seen_rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        while let Ok(message) = watcher.read() {
            if let Message::Text(text) = message {
                let event: Value = serde_json::from_str(&text).unwrap();
                let _ = seen_tx.send(event["callId"].as_str().unwrap_or("").to_string());
            }
        }
    });
    let mut client = server.client();
    let mut dropped = false;
    let mut routes = 0;
    // Bounded: the slow client's socket buffers hold far less than this.
    while routes < 20_000 {
        for _ in 0..50 {
            route(&mut client, acme_call(&format!("slow-{routes}")));
            routes += 1;
        }
        if metric(&scrape(&mut client), "sipbrain_debug_clients_dropped_total") >= 1.0 {
            dropped = true;
            break;
        }
    }
    assert!(
        dropped,
        "the slow client was never dropped ({routes} routes)"
    );
    assert_eq!(metric(&scrape(&mut client), "sipbrain_debug_clients"), 1.0);
    // The watcher still gets what happens next.
    route(&mut client, acme_call("after-drop"));
    let got_it = std::iter::from_fn(|| seen_rx.recv_timeout(Duration::from_secs(30)).ok())
        .any(|call_id| call_id == "after-drop");
    assert!(got_it, "the reading client goes on");
    // The slow client, reading at last, finds its stream ended: a close
    // frame saying why, or a reset connection; never an open stream.
    slow.get_mut()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut messages = 0;
    let ending = loop {
        match slow.read() {
            Ok(Message::Text(_)) => messages += 1,
            Ok(Message::Close(frame)) => break format!("{:?}", frame.map(|f| f.code)),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                panic!("the slow client's stream is still open after {messages} messages")
            }
            Err(error) => break format!("{error}"),
        }
        assert!(messages < routes * 2 + 10, "more messages than events");
    };
    assert!(
        ending.contains(&format!("{:?}", CloseCode::Policy))
            || ending.to_lowercase().contains("reset")
            || ending.to_lowercase().contains("closed"),
        "{ending}"
    );
    drop(server);
    reader.join().unwrap();
}

/// `GET /metrics` with the admin token: the text, after checking the
/// format line by line.
fn scrape(client: &mut Client) -> String {
    let reply = client.request("GET", "/metrics", &ADMIN, None);
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = String::from_utf8(reply.body).unwrap();
    for line in text.lines() {
        if let Some(comment) = line.strip_prefix("# ") {
            let mut words = comment.splitn(3, ' ');
            let kind = words.next().unwrap();
            assert!(kind == "HELP" || kind == "TYPE", "{line}");
            assert!(words.next().unwrap().starts_with("sipbrain_"), "{line}");
            if kind == "TYPE" {
                let t = words.next().unwrap();
                assert!(["counter", "gauge", "histogram"].contains(&t), "{line}");
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("`series value`");
        assert!(
            value == "+Inf" || value.parse::<f64>().is_ok(),
            "not a value: {line}"
        );
        let name = series.split('{').next().unwrap();
        assert!(
            name.starts_with("sipbrain_")
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "{line}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            assert!(
                labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                "{line}"
            );
        }
    }
    text
}

/// The value of a series (0 when absent), matched by its exact text.
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().unwrap())
        })
        .unwrap_or(0.0)
}

/// The sum of every series of a metric whose labels contain `with`.
fn metric_sum(text: &str, name: &str, with: &str) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")) && line.contains(with))
        .map(|line| line.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap())
        .sum()
}

#[test]
fn metrics_are_admin_only_and_count_what_happens() {
    let server = Server::demo(&["--shards", "2"]);
    let mut client = server.client();
    let missing = client.request("GET", "/metrics", &[], None);
    assert_eq!(
        (missing.status, missing.code().as_str()),
        (401, "unauthorized")
    );
    let wrong = client.request(
        "GET",
        "/metrics",
        &[("x-admin-token", "wrong-token-000000")],
        None,
    );
    assert_eq!(wrong.status, 403);
    let edge = client.request("GET", "/metrics", &EDGE, None);
    assert_eq!(edge.status, 401, "the edge token is not an admin token");
    let post = client.request("POST", "/metrics", &ADMIN, Some(&json!({})));
    assert_eq!(post.status, 405);

    let before = scrape(&mut client);
    let routed = r#"sipbrain_requests_total{endpoint="POST /route",status="200"}"#;
    let refused = r#"sipbrain_requests_total{endpoint="GET /metrics",status="401"}"#;
    assert_eq!(metric(&before, routed), 0.0);
    assert!(metric(&before, refused) >= 2.0, "{before}");
    // Alice may hold two calls at once: the third is Globex's.
    route(&mut client, acme_call("m-0"));
    route(&mut client, acme_call("m-1"));
    route(&mut client, globex_call("m-2"));
    let unknown = client.request("GET", "/no/such/path", &[], None);
    assert_eq!(unknown.status, 404);
    let after = scrape(&mut client);
    assert_eq!(metric(&after, routed), 3.0);
    assert_eq!(
        metric(
            &after,
            r#"sipbrain_requests_total{endpoint="unmatched",status="404"}"#
        ),
        1.0
    );
    assert_eq!(
        metric(
            &after,
            r#"sipbrain_request_duration_seconds_count{endpoint="POST /route"}"#
        ),
        3.0
    );
    assert_eq!(
        metric(
            &after,
            r#"sipbrain_request_duration_seconds_bucket{endpoint="POST /route",le="+Inf"}"#
        ),
        3.0
    );
    let commits = metric_sum(
        &after,
        "sipbrain_wal_commit_duration_seconds_count",
        "shard=",
    );
    assert!(commits >= 3.0, "each route is a commit at least: {after}");
    let events = metric_sum(&after, "sipbrain_wal_batch_events_sum", "shard=");
    assert!(events >= 3.0, "{after}");
    assert_eq!(metric_sum(&after, "sipbrain_active_calls", "shard="), 3.0);
    for shard in ["0", "1"] {
        for queue in ["forwarded", "commit"] {
            let series =
                format!(r#"sipbrain_shard_queue_depth{{shard="{shard}",queue="{queue}"}}"#);
            assert!(after.contains(&series), "{series}");
        }
    }
    assert!(after.contains(r#"sipbrain_agents{bucket="ready"} 0"#));
    assert!(after.contains("sipbrain_bans 0"));
    // Ending a call takes it off the active ones.
    let reply = client.request(
        "POST",
        "/presence/event",
        &EDGE,
        Some(&json!({"type": "dialog", "callId": "m-0", "state": "terminated", "node": "edge-1"})),
    );
    assert_eq!(reply.status, 200);
    assert_eq!(
        metric_sum(&scrape(&mut client), "sipbrain_active_calls", "shard="),
        2.0
    );
    // An edge node's ban report shows in the bans gauge.
    let bans = json!([{"ip": "203.0.113.9", "reason": "auth_fail"},
                      {"ip": "198.51.100.23", "reason": "scanner"}]);
    let reply = client.request(
        "POST",
        "/security/report",
        &EDGE,
        Some(&json!({"node": "edge-1", "bans": bans})),
    );
    assert_eq!(reply.status, 200);
    let text = scrape(&mut client);
    assert_eq!(metric(&text, "sipbrain_bans"), 2.0);
}
