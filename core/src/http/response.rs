//! Responses and their wire encoding.
//!
//! Encoding rules: header values are written with CR, LF and NUL replaced
//! by spaces (no header injection through a value that echoes input); a
//! `1xx`, `204` or `304` reply is written without a body, and `1xx`/`204`
//! also without `content-length` (RFC 9110 §8.6).

/// A reply: status, extra headers and a body (JSON unless said otherwise).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The `content-type` value; empty means none is sent.
    pub content_type: &'static str,
    /// Extra headers (`allow`, `www-authenticate`, `retry-after`, …).
    pub headers: Vec<(&'static str, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// A compact single-line JSON reply.
    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        // Compact serde_json output escapes control characters inside
        // strings, so the body is always one line.
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Response {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body,
        }
    }

    /// A JSON reply whose body is already serialized (one line).
    pub fn json_bytes(status: u16, body: Vec<u8>) -> Response {
        assert!(!body.contains(&b'\n'), "a JSON body is one line");
        Response {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body,
        }
    }

    /// Appends the full HTTP/1.1 response to `out`, with `content-length`
    /// and `connection: keep-alive|close`.
    pub fn encode(&self, keep_alive: bool, out: &mut Vec<u8>) {
        self.encode_head(keep_alive, self.body.len() as u64, out);
        if !self.bodiless() {
            out.extend_from_slice(&self.body);
        }
    }

    /// Appends the status line and headers only, announcing a body of
    /// `body_bytes` that the caller writes itself (a streamed file); `body`
    /// is not written. Same rules as [`Response::encode`].
    pub fn encode_head(&self, keep_alive: bool, body_bytes: u64, out: &mut Vec<u8>) {
        let bodiless = self.bodiless();
        let length_header = !(self.status < 200 || self.status == 204);
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(self.status.to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(reason(self.status).as_bytes());
        out.extend_from_slice(b"\r\n");
        if !self.content_type.is_empty() && !bodiless {
            write_header(out, "content-type", self.content_type);
        }
        if length_header {
            let length = if bodiless { 0 } else { body_bytes };
            write_header(out, "content-length", &length.to_string());
        }
        write_header(
            out,
            "connection",
            if keep_alive { "keep-alive" } else { "close" },
        );
        for (name, value) in &self.headers {
            write_header(out, name, value);
        }
        out.extend_from_slice(b"\r\n");
    }

    /// True for statuses that never carry a body (1xx, 204, 304).
    fn bodiless(&self) -> bool {
        self.status < 200 || self.status == 204 || self.status == 304
    }
}

/// Writes `name: value\r\n`, neutralising bytes that would end the line.
fn write_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend(value.bytes().map(|b| {
        if matches!(b, b'\r' | b'\n' | 0) {
            b' '
        } else {
            b
        }
    }));
    out.extend_from_slice(b"\r\n");
}

/// The standard reason phrase of a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => match status / 100 {
            1 => "Informational",
            2 => "Success",
            3 => "Redirection",
            4 => "Client Error",
            _ => "Server Error",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn encoded(response: &Response, keep_alive: bool) -> String {
        let mut out = Vec::new();
        response.encode(keep_alive, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_reply_is_one_compact_line() {
        let response = Response::json(200, &json!({"ok": true, "text": "a\nb", "n": [1, 2]}));
        assert_eq!(response.content_type, "application/json");
        let body = String::from_utf8(response.body).unwrap();
        assert!(!body.contains('\n'));
        assert!(!body.contains(": "));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap(),
            json!({"ok": true, "text": "a\nb", "n": [1, 2]})
        );
    }

    #[test]
    fn encode_writes_status_line_headers_and_body() {
        let mut response = Response::json(405, &json!({"ok": false}));
        response.headers.push(("allow", "GET, POST".into()));
        assert_eq!(
            encoded(&response, true),
            "HTTP/1.1 405 Method Not Allowed\r\ncontent-type: application/json\r\n\
             content-length: 12\r\nconnection: keep-alive\r\nallow: GET, POST\r\n\r\n{\"ok\":false}"
        );
    }

    #[test]
    fn encode_says_close_when_not_keeping_alive() {
        let text = encoded(&Response::json(200, &json!({"ok": true})), false);
        assert!(text.contains("\r\nconnection: close\r\n"));
    }

    #[test]
    fn header_values_cannot_inject_lines() {
        let mut response = Response::json(401, &json!({}));
        response.headers.push((
            "www-authenticate",
            "Digest realm=\"a\r\nset-cookie: x\"".into(),
        ));
        let text = encoded(&response, true);
        assert!(text.contains("www-authenticate: Digest realm=\"a  set-cookie: x\"\r\n"));
    }

    #[test]
    fn a_head_announces_a_body_the_caller_streams() {
        let mut response = Response::json(206, &json!({}));
        response.content_type = "audio/wav";
        response
            .headers
            .push(("content-range", "bytes 0-9/100".into()));
        let mut out = Vec::new();
        response.encode_head(true, 10, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 206 Partial Content\r\ncontent-type: audio/wav\r\ncontent-length: 10\r\n\
             connection: keep-alive\r\ncontent-range: bytes 0-9/100\r\n\r\n"
        );
    }

    #[test]
    fn no_content_reply_has_no_body_or_length() {
        let text = encoded(&Response::json(204, &json!({"ok": true})), true);
        assert_eq!(
            text,
            "HTTP/1.1 204 No Content\r\nconnection: keep-alive\r\n\r\n"
        );
    }

    #[test]
    fn every_status_of_the_contract_has_its_reason() {
        for (status, phrase) in [
            (200, "OK"),
            (201, "Created"),
            (204, "No Content"),
            (206, "Partial Content"),
            (304, "Not Modified"),
            (400, "Bad Request"),
            (401, "Unauthorized"),
            (403, "Forbidden"),
            (404, "Not Found"),
            (405, "Method Not Allowed"),
            (409, "Conflict"),
            (411, "Length Required"),
            (413, "Content Too Large"),
            (415, "Unsupported Media Type"),
            (416, "Range Not Satisfiable"),
            (422, "Unprocessable Content"),
            (429, "Too Many Requests"),
            (431, "Request Header Fields Too Large"),
            (500, "Internal Server Error"),
            (501, "Not Implemented"),
            (503, "Service Unavailable"),
            (505, "HTTP Version Not Supported"),
        ] {
            assert_eq!(reason(status), phrase);
        }
        assert_eq!(reason(299), "Success");
        assert_eq!(reason(499), "Client Error");
        assert_eq!(reason(599), "Server Error");
        assert_eq!(reason(999), "Server Error");
    }
}
