//! The HTTP/1.1 layer over real TCP: pipelining, split requests, chunked
//! bodies, limits and malformed input. After each error the server serves
//! new connections.

use serde_json::json;
use sipbrain_tests::demo::*;
use sipbrain_tests::{Server, EDGE_TOKEN};
use std::io::Write;

fn challenge_request(extra_headers: &str) -> Vec<u8> {
    let body = json!({"method": "REGISTER", "realm": ACME_REALM}).to_string();
    format!(
        "POST /auth HTTP/1.1\r\nhost: t\r\nx-edge-token: {EDGE_TOKEN}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n{extra_headers}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn still_serving(server: &Server) {
    let mut client = server.client();
    assert_eq!(client.request("GET", "/healthz", &[], None).status, 200);
}

#[test]
fn pipelined_requests_in_one_write_are_answered_in_order() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let mut bytes = b"GET /healthz HTTP/1.1\r\nhost: t\r\n\r\n".to_vec();
    bytes.extend(challenge_request(""));
    bytes.extend_from_slice(b"GET /nope HTTP/1.1\r\nhost: t\r\n\r\n");
    bytes.extend(challenge_request(""));
    client.send_raw(&bytes);
    let statuses: Vec<u16> = (0..4).map(|_| client.read_reply().status).collect();
    assert_eq!(statuses, [200, 401, 404, 401]);
}

#[test]
fn a_request_sent_one_byte_at_a_time_is_answered() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    for byte in challenge_request("") {
        client.send_raw(&[byte]);
    }
    let reply = client.read_reply();
    assert_eq!(reply.code(), "challenge");
}

#[test]
fn many_pipelined_requests_beyond_the_batch_bound_all_get_answers() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let one = b"GET /healthz HTTP/1.1\r\nhost: t\r\n\r\n";
    let bytes: Vec<u8> = one.iter().copied().cycle().take(one.len() * 300).collect();
    client.send_raw(&bytes);
    for _ in 0..300 {
        assert_eq!(client.read_reply().status, 200);
    }
}

#[test]
fn a_chunked_body_is_decoded() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let body = json!({"method": "REGISTER", "realm": ACME_REALM}).to_string();
    let (a, b) = body.split_at(10);
    let raw = format!(
        "POST /auth HTTP/1.1\r\nhost: t\r\nx-edge-token: {EDGE_TOKEN}\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x};ext=1\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    client.send_raw(raw.as_bytes());
    assert_eq!(client.read_reply().code(), "challenge");
}

#[test]
fn an_oversized_header_block_is_431_and_closes() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let big = "x".repeat(20 * 1024);
    client.send_raw(format!("GET /healthz HTTP/1.1\r\nx-big: {big}\r\n\r\n").as_bytes());
    let reply = client.read_reply();
    assert_eq!(reply.status, 431);
    assert_eq!(reply.json()["ok"], false);
    assert!(client.is_closed());
    still_serving(&server);
}

#[test]
fn a_declared_body_over_the_limit_is_413_before_it_is_sent() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let head = format!(
        "POST /auth HTTP/1.1\r\nhost: t\r\nx-edge-token: {EDGE_TOKEN}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        2 * 1024 * 1024
    );
    client.send_raw(head.as_bytes());
    let reply = client.read_reply();
    assert_eq!(reply.status, 413);
    still_serving(&server);
}

#[test]
fn malformed_requests_get_400_and_the_server_survives() {
    let server = Server::demo(&[]);
    for garbage in [
        &b"\x00\x01\x02 garbage\r\n\r\n"[..],
        b"GET /healthz HTTP/1.1\r\nbad header line\r\n\r\n",
        b"POST /auth HTTP/1.1\r\ncontent-length: abc\r\n\r\n",
        b"POST /auth HTTP/1.1\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n",
        b"POST /auth HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
    ] {
        let mut client = server.client();
        client.send_raw(garbage);
        let reply = client.read_reply();
        assert_eq!(reply.status, 400, "{:?}", String::from_utf8_lossy(garbage));
        assert!(client.is_closed());
    }
    still_serving(&server);
}

#[test]
fn bad_bodies_get_400_or_415() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let send = |client: &mut sipbrain_tests::Client, content_type: &str, body: &str| {
        let raw = format!(
            "POST /auth HTTP/1.1\r\nhost: t\r\nx-edge-token: {EDGE_TOKEN}\r\ncontent-type: {content_type}\r\n\
             content-length: {}\r\n\r\n{body}",
            body.len()
        );
        client.send_raw(raw.as_bytes());
        client.read_reply()
    };
    assert_eq!(send(&mut client, "text/plain", "hello").status, 415);
    let bad_json = send(&mut client, "application/json", "{\"method\": ");
    assert_eq!(bad_json.status, 400);
    assert_eq!(bad_json.code(), "bad_json");
    assert_eq!(
        send(&mut client, "application/json", "[1,2]").status,
        400,
        "must be an object"
    );
    assert_eq!(
        client.request("GET", "/healthz", &[], None).status,
        200,
        "the connection lives on"
    );
}

#[test]
fn wrong_methods_are_405_with_allow_and_unknown_paths_404() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let reply = client.request("GET", "/auth", &[], None);
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("POST"));
    let reply = client.request("PATCH", "/admin/accounts/acc_acme", &[], None);
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("PUT, GET, DELETE"));
    assert_eq!(
        client.request("GET", "/nothing/here", &[], None).status,
        404
    );
}

#[test]
fn replies_are_single_line_json_with_keep_alive() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let reply = client.request("GET", "/nothing", &[], None);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("connection"), Some("keep-alive"));
    assert!(
        !reply.body.contains(&b'\n'),
        "Kamailio's http_client keeps only the first line"
    );
    assert_eq!(reply.json()["ok"], false);
    assert!(reply.json()["error"]["message"].is_string());
}

#[test]
fn connection_close_and_http_1_0_close_after_the_reply() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    client.send_raw(b"GET /healthz HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n");
    assert_eq!(client.read_reply().header("connection"), Some("close"));
    assert!(client.is_closed());
    let mut client = server.client();
    client.send_raw(b"GET /healthz HTTP/1.0\r\n\r\n");
    assert_eq!(client.read_reply().status, 200);
    assert!(client.is_closed());
}

#[test]
fn a_client_that_vanishes_mid_request_does_not_hurt_the_server() {
    let server = Server::demo(&[]);
    for _ in 0..20 {
        let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
        stream
            .write_all(b"POST /auth HTTP/1.1\r\ncontent-length: 100\r\n\r\n{\"met")
            .unwrap();
    }
    still_serving(&server);
}
