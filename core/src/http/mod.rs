//! HTTP/1.1, sans-IO: bytes in, typed [`Request`]s out; [`Response`]s to bytes.
//!
//! The runtime and the simulator feed a connection's bytes to a [`Parser`]
//! and drain complete requests; nothing here touches a socket.

pub mod body;
pub mod form;
pub mod headers;
pub mod parser;
pub mod response;

pub use body::{decode_body, BodyError};
pub use headers::Headers;
pub use parser::{BodyPoll, ParseLimits, Parser};
pub use response::Response;

/// Request methods the brain distinguishes; anything else is `Other`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `HEAD`.
    Head,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `DELETE`.
    Delete,
    /// `OPTIONS`.
    Options,
    /// Any other method token, as sent (case-sensitive).
    Other(String),
}

impl Method {
    /// The method's name as sent on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Other(name) => name,
        }
    }
}

/// One complete request, owned, with its body de-chunked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The request method.
    pub method: Method,
    /// The path without the query string, still percent-encoded.
    pub path: String,
    /// The raw query string without the `?` (empty when absent).
    pub query: String,
    /// Header names lower-cased, in arrival order.
    pub headers: Headers,
    /// The body, de-chunked (empty when there is none).
    pub body: Vec<u8>,
    /// False when the client asked to close (`connection: close`, HTTP/1.0
    /// without keep-alive).
    pub keep_alive: bool,
}

impl Request {
    /// The first header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// The first query parameter with this name, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        form::pairs(&self.query)
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }
}

/// A request the parser cannot accept. After one, the connection is closed
/// once the error reply is written: the byte stream cannot be trusted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpError {
    /// 400, 413, 431, 501 or 505.
    pub status: u16,
    /// snake_case code for the error body.
    pub code: &'static str,
    /// Human text naming what was wrong.
    pub message: String,
}
