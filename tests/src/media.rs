//! Raw-byte helpers for `/media`: uploads with any body, downloads with
//! any headers (the harness servers have an edge token, which the media
//! gate asks for).

use crate::{Client, Reply, EDGE_TOKEN};
use sha2::{Digest, Sha256};

/// `PUT /media/{key}` with `body` and `content-length`.
pub fn put(client: &mut Client, key: &str, body: &[u8]) -> Reply {
    client.send_raw(&put_bytes(key, body));
    client.read_reply()
}

/// The bytes of `PUT /media/{key}` with `body`.
pub fn put_bytes(key: &str, body: &[u8]) -> Vec<u8> {
    let mut bytes = format!(
        "PUT /media/{key} HTTP/1.1\r\nhost: test\r\nx-edge-token: {EDGE_TOKEN}\r\n\
         content-type: audio/wav\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// `GET /media/{key}` with extra headers.
pub fn get(client: &mut Client, key: &str, headers: &[(&str, &str)]) -> Reply {
    let mut all = vec![("x-edge-token", EDGE_TOKEN)];
    all.extend_from_slice(headers);
    client.request("GET", &format!("/media/{key}"), &all, None)
}

/// SHA-256 of bytes, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `count` bytes of a fixed pattern (not all equal, so offsets matter).
pub fn pattern(count: usize) -> Vec<u8> {
    (0..count).map(|i| (i * 7 + i / 251) as u8).collect()
}
