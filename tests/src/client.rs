//! A minimal HTTP/1.1 client over one TCP connection, for raw-byte tests.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// One parsed reply.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON (panics with the body when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "reply is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The first header of that (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `error.code` of an error reply.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

/// A keep-alive connection.
pub struct Client {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect to sipbrain");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Client {
            stream,
            buffer: Vec::new(),
        }
    }

    /// Writes raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to sipbrain");
    }

    /// Reads one reply (blocking).
    pub fn read_reply(&mut self) -> Reply {
        loop {
            if let Some(reply) = self.parse_buffered() {
                return reply;
            }
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk).expect("read from sipbrain");
            assert!(
                n > 0,
                "connection closed before a full reply; have {:?}",
                String::from_utf8_lossy(&self.buffer)
            );
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }

    /// True when the server closed the connection (after any buffered reply).
    pub fn is_closed(&mut self) -> bool {
        let mut chunk = [0u8; 1];
        matches!(self.stream.read(&mut chunk), Ok(0))
    }

    /// Sends a request with a JSON body (or none) and reads the reply.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Reply {
        let body_text = body.map(|b| b.to_string());
        let mut head = format!("{method} {path} HTTP/1.1\r\nhost: test\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(text) = &body_text {
            head.push_str(&format!(
                "content-type: application/json\r\ncontent-length: {}\r\n",
                text.len()
            ));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        if let Some(text) = body_text {
            bytes.extend_from_slice(text.as_bytes());
        }
        self.send_raw(&bytes);
        self.read_reply()
    }

    fn parse_buffered(&mut self) -> Option<Reply> {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        let head_len = match response.parse(&self.buffer).expect("a valid HTTP reply") {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => return None,
        };
        let headers: Vec<(String, String)> = response
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_ascii_lowercase(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map(|(_, v)| v.parse().expect("numeric content-length"))
            .unwrap_or(0);
        if self.buffer.len() < head_len + length {
            return None;
        }
        let status = response.code.expect("status code");
        let body = self.buffer[head_len..head_len + length].to_vec();
        self.buffer.drain(..head_len + length);
        Some(Reply {
            status,
            headers,
            body,
        })
    }
}
