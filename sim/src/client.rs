//! What actors send and receive: an [`Op`] (one HTTP request, retried as a
//! whole) and a [`Reply`], with the wire encoding on the client side.

use crate::rng::SimRng;
use rand::Rng;
use serde_json::Value;

/// One request an actor wants answered.
#[derive(Clone, Debug)]
pub struct Op {
    /// Unique per run; every retry and duplicate of it carries the same id.
    pub id: u64,
    /// What it is, for traces and the transcript ("auth", "account-put", …).
    pub kind: &'static str,
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// Attempts before the client gives up (None: retry until answered, as
    /// a provisioning system does; Kamailio gives up after a few).
    pub attempts_max: Option<u32>,
    /// Raw bytes to send instead of an encoded request (malformed HTTP).
    pub raw: Option<Vec<u8>>,
}

impl Op {
    pub fn new(id: u64, kind: &'static str, method: &'static str, path: impl Into<String>) -> Op {
        Op {
            id,
            kind,
            method,
            path: path.into(),
            headers: Vec::new(),
            body: None,
            attempts_max: None,
            raw: None,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Op {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn json(mut self, body: &Value) -> Op {
        self.body = Some(body.to_string().into_bytes());
        self.headers
            .push(("content-type".into(), "application/json".into()));
        self
    }

    /// An `application/x-www-form-urlencoded` body, as Kamailio's
    /// http_client posts it.
    pub fn form(mut self, fields: &[(&str, &str)]) -> Op {
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{}={}", percent(k), percent(v)))
            .collect();
        self.body = Some(body.join("&").into_bytes());
        self.headers.push((
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        ));
        self
    }

    pub fn attempts(mut self, max: u32) -> Op {
        self.attempts_max = Some(max);
        self
    }

    /// The request's bytes; the body goes chunked now and then, so the
    /// brain's parser sees both framings.
    pub fn encode(&self, rng: &mut SimRng) -> Vec<u8> {
        if let Some(raw) = &self.raw {
            return raw.clone();
        }
        let mut out =
            format!("{} {} HTTP/1.1\r\nhost: brain\r\n", self.method, self.path).into_bytes();
        for (name, value) in &self.headers {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        let body = self.body.as_deref().unwrap_or(b"");
        if !body.is_empty() && rng.gen_bool(0.2) {
            out.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
            let mut rest = body;
            while !rest.is_empty() {
                let take = rng.gen_range(1..=rest.len());
                out.extend_from_slice(format!("{take:x}\r\n").as_bytes());
                out.extend_from_slice(&rest[..take]);
                out.extend_from_slice(b"\r\n");
                rest = &rest[take..];
            }
            out.extend_from_slice(b"0\r\n\r\n");
        } else {
            out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
            out.extend_from_slice(body);
        }
        out
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn percent(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A parsed reply.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body as JSON, when it is.
    pub json: Option<Value>,
    /// How many copies of the request were sent (retries and duplicates):
    /// more than one may have been decided.
    pub copies: u32,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `error.code` of an error body.
    pub fn code(&self) -> Option<&str> {
        self.json.as_ref()?.get("error")?.get("code")?.as_str()
    }

    /// The server asked to close the connection after this reply.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// Collects a connection's bytes into replies (every brain reply has a
/// `content-length`).
#[derive(Debug, Default)]
pub struct ReplyReader {
    buffer: Vec<u8>,
}

impl ReplyReader {
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete reply, or an error for bytes that are not HTTP.
    pub fn next_reply(&mut self) -> Result<Option<Reply>, String> {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        let head = match response.parse(&self.buffer) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => {
                return Err(format!(
                    "the brain sent bytes that are not an HTTP reply: {e}"
                ))
            }
        };
        let status = response.code.unwrap_or(0);
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
        let length = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map(|(_, v)| v.trim().parse::<usize>())
            .transpose()
            .map_err(|_| "a reply with a bad content-length".to_string())?
            .unwrap_or(0);
        if self.buffer.len() < head + length {
            return Ok(None);
        }
        let body = self.buffer[head..head + length].to_vec();
        self.buffer.drain(..head + length);
        let json = serde_json::from_slice(&body).ok();
        Ok(Some(Reply {
            status,
            headers,
            body,
            json,
            copies: 1,
        }))
    }
}
