//! HTTP/1.1 on the wire, as small as the load generator needs: form
//! requests written into a connection's output buffer, and response heads
//! parsed (status, body length, close) to find where each reply ends.

/// A JSON field value.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Str(&'a str),
    Int(i64),
    /// Already JSON (an object or array), copied as is.
    Raw(&'a str),
}

/// Appends `{"name":value,…}` (compact, as Kamailio's `jansson_set` builds
/// its bodies) to `body`.
pub fn json_object(body: &mut Vec<u8>, fields: &[(&str, Value)]) {
    body.push(b'{');
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        json_string(body, name);
        body.push(b':');
        match value {
            Value::Str(text) => json_string(body, text),
            Value::Int(n) => body.extend_from_slice(n.to_string().as_bytes()),
            Value::Raw(json) => body.extend_from_slice(json.as_bytes()),
        }
    }
    body.push(b'}');
}

fn json_string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    for &b in text.as_bytes() {
        match b {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            0..=0x1f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// Appends a keep-alive `POST path` with a JSON body and the edge token.
pub fn post_json(out: &mut Vec<u8>, host: &str, path: &str, token: &str, body: &[u8]) {
    out.extend_from_slice(b"POST ");
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\nauthorization: Bearer ");
    out.extend_from_slice(token.as_bytes());
    out.extend_from_slice(b"\r\ncontent-type: application/json\r\ncontent-length: ");
    out.extend_from_slice(body.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
}

/// One response found at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    /// Bytes of head plus body: where the next response starts.
    pub total_bytes: usize,
    /// The server said `connection: close`.
    pub close: bool,
}

/// Finds the first complete response in `buf`: `Ok(None)` when more bytes
/// are needed, `Err` for what this client cannot read (no length, chunked).
pub fn parse_response(buf: &[u8]) -> Result<Option<Head>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head_bytes = match response.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("bad response: {e}")),
    };
    let status = response.code.ok_or("response without a status")?;
    let mut body_bytes = None;
    let mut close = false;
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let text = std::str::from_utf8(header.value).map_err(|_| "bad content-length")?;
            body_bytes = Some(
                text.trim()
                    .parse::<usize>()
                    .map_err(|_| "bad content-length")?,
            );
        } else if header.name.eq_ignore_ascii_case("connection") {
            close = header.value.eq_ignore_ascii_case(b"close");
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err("chunked responses are not supported".into());
        }
    }
    let body_bytes = match (body_bytes, status) {
        (Some(n), _) => n,
        (None, 100..=199 | 204 | 304) => 0,
        (None, _) => return Err(format!("response {status} without content-length")),
    };
    let total_bytes = head_bytes + body_bytes;
    if buf.len() < total_bytes {
        return Ok(None);
    }
    Ok(Some(Head {
        status,
        total_bytes,
        close,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bodies_escape_quotes_backslashes_and_controls() {
        let mut body = Vec::new();
        json_object(
            &mut body,
            &[
                ("to", Value::Str("a\"b\\c\n")),
                ("expires", Value::Int(300)),
            ],
        );
        let text = String::from_utf8(body).unwrap();
        assert_eq!(text, r#"{"to":"a\"b\\c\u000a","expires":300}"#);
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["to"], "a\"b\\c\n");
    }

    #[test]
    fn post_form_is_a_complete_request_the_server_parser_accepts() {
        let mut out = Vec::new();
        post_json(&mut out, "127.0.0.1:8080", "/route", "tok", b"{}");
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.starts_with("POST /route HTTP/1.1\r\n"));
        assert!(text.ends_with("content-length: 2\r\n\r\n{}"));
        let mut parser =
            sipbrain_core::http::Parser::new(sipbrain_core::http::ParseLimits::default());
        parser.feed(&out);
        let request = parser.poll_request().unwrap().expect("one whole request");
        assert_eq!(request.path, "/route");
        assert_eq!(request.body, b"{}");
    }

    #[test]
    fn responses_are_found_whole_and_split_at_their_length() {
        let one = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
        let mut two = one.to_vec();
        two.extend_from_slice(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        let first = parse_response(&two).unwrap().unwrap();
        assert_eq!(
            (first.status, first.total_bytes, first.close),
            (200, one.len(), false)
        );
        let second = parse_response(&two[first.total_bytes..]).unwrap().unwrap();
        assert_eq!((second.status, second.close), (404, true));
        for cut in 0..one.len() {
            assert_eq!(parse_response(&one[..cut]).unwrap(), None, "cut at {cut}");
        }
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n").is_err());
    }
}
