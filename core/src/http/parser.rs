//! Incremental HTTP/1.1 request parser over httparse.
//!
//! Bytes go in with [`Parser::feed`] in pieces of any size; complete
//! requests come out of [`Parser::poll_request`]. The parser keeps one
//! buffer and a start offset: parsed bytes are skipped, not copied, and the
//! buffer is compacted only when the consumed prefix is at least as large as
//! what is left, so the total copying stays linear in the bytes received.
//! Body bytes move into the request being built as soon as they arrive.
//!
//! Behaviour worth knowing:
//! - Framing: `Content-Length` (repeated or comma-listed values must all be
//!   equal), or `Transfer-Encoding: chunked` (chunk extensions ignored,
//!   trailers checked for shape and discarded). Both at once is a 400,
//!   any other transfer coding a 501, a transfer coding on HTTP/1.0 a 400.
//!   Neither means no body.
//! - Limits: a header block past `header_bytes_max` is a 431 as soon as the
//!   buffered part of it is too long, complete or not; so is a 65th header
//!   and an over-long trailer block. A body past its limit is a 413 as soon
//!   as the declared `Content-Length` or the sum of the chunk sizes seen so
//!   far says so, before the bytes arrive.
//! - `Expect: 100-continue` is ignored: no interim `100 Continue` is sent
//!   (the parser writes nothing). Clients such as curl wait briefly, then
//!   send the body anyway, which is parsed as usual.
//! - Leading empty lines before a request line are skipped (RFC 9112 §2.2);
//!   bare LF line endings in the header block are accepted (as httparse
//!   does), but chunk lines must end in CRLF.
//! - A request target in absolute form (`http://host/p?q`) is reduced to its
//!   path and query. `Host` is not required.
//! - After an error every later poll returns the same error, and further
//!   fed bytes are dropped: the stream cannot be trusted any more.
//!
//! Streamed uploads: a parser made [`Parser::with_streamed_uploads`] returns
//! the head of a `PUT /media/…` with a body as soon as the head is complete,
//! with an empty `body`; [`Parser::streaming`] is then true and the caller
//! drains the body with [`Parser::poll_body`] (same framing rules and
//! limits) before it polls the next request. Nothing else changes: every
//! other request is still returned whole.

use super::{Headers, HttpError, Method, Request};
use crate::limits::{CHUNK_LINE_BYTES_MAX, HEADERS_COUNT_MAX};

/// Size limits the parser enforces (413/431 past them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseLimits {
    /// Longest header block (request line and headers, with line ends).
    pub header_bytes_max: usize,
    /// Longest decoded body of any request but `PUT /media/…`.
    pub body_bytes_max: usize,
    /// Applies instead of `body_bytes_max` to `PUT /media/…`.
    pub media_body_bytes_max: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            header_bytes_max: crate::limits::HEADER_BYTES_MAX_DEFAULT,
            body_bytes_max: crate::limits::BODY_BYTES_MAX_DEFAULT,
            media_body_bytes_max: crate::limits::MEDIA_BODY_BYTES_MAX_DEFAULT,
        }
    }
}

/// Below this many buffered head bytes the partial head is re-checked on
/// every poll, so garbage (a TLS hello, say) is refused at once.
const EARLY_CHECK_BYTES: usize = 64;

/// Where the parser is within the current request.
#[derive(Debug)]
enum State {
    /// Waiting for a complete header block.
    Head,
    /// Reading a `Content-Length` body: bytes still expected.
    Fixed { req: Request, remaining: usize },
    /// Reading a chunked body.
    Chunked {
        req: Request,
        limit: usize,
        /// Sum of the chunk sizes announced so far.
        total: usize,
        step: Chunk,
    },
    /// The head of a streamed upload was returned; its body is drained
    /// with [`Parser::poll_body`].
    Streaming(Streamed),
    /// The stream is broken; this error is returned from now on.
    Failed(HttpError),
}

/// Where a streamed body is.
#[derive(Debug, Clone, Copy)]
enum Streamed {
    /// `Content-Length` framing: bytes still expected.
    Fixed(usize),
    /// Chunked framing, as in [`State::Chunked`].
    Chunked {
        limit: usize,
        total: usize,
        step: Chunk,
    },
}

/// What [`Parser::poll_body`] reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyPoll {
    /// More body bytes are needed: feed them, then poll again.
    More,
    /// The body is complete; the next request may be polled.
    Done,
}

/// Position inside a chunked body.
#[derive(Debug, Clone, Copy)]
enum Chunk {
    /// Expecting a chunk size line.
    Size,
    /// Inside a chunk's data: bytes still expected.
    Data(usize),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// Inside the trailer section: trailer bytes seen so far.
    Trailer(usize),
}

/// One connection's parser: feed bytes as they arrive, poll requests out.
#[derive(Debug)]
pub struct Parser {
    limits: ParseLimits,
    buf: Vec<u8>,
    /// Index of the first unconsumed byte in `buf`.
    start: usize,
    /// Bytes after `start` already searched for a line end (reset on consume).
    scanned: usize,
    /// Line ends seen in the unfinished head (reset on consume).
    newlines: usize,
    /// Value of `newlines` when httparse last looked at the unfinished head.
    checked_newlines: usize,
    /// Buffered length when httparse last looked at the unfinished head.
    checked_len: usize,
    /// Wire bytes of the unfinished request already consumed from `buf`.
    in_progress: usize,
    /// Return `PUT /media/…` heads at once and stream their bodies.
    stream_uploads: bool,
    state: State,
}

impl Parser {
    /// A parser for one connection, enforcing `limits`.
    pub fn new(limits: ParseLimits) -> Parser {
        Parser {
            limits,
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            newlines: 0,
            checked_newlines: 0,
            checked_len: 0,
            in_progress: 0,
            stream_uploads: false,
            state: State::Head,
        }
    }

    /// The same parser, returning the head of a `PUT /media/…` that has a
    /// body at once and leaving its body to [`Parser::poll_body`].
    pub fn with_streamed_uploads(mut self) -> Parser {
        self.stream_uploads = true;
        self
    }

    /// True while a streamed upload's body is being read: call
    /// [`Parser::poll_body`] until it says `Done` before polling requests.
    pub fn streaming(&self) -> bool {
        matches!(self.state, State::Streaming(_))
    }

    /// Moves the streamed body's bytes buffered so far to the end of
    /// `sink`. `Done` once the body is complete (also when no body is being
    /// streamed). After an `Err` the caller answers it and closes the
    /// connection, as after a failed [`Parser::poll_request`].
    pub fn poll_body(&mut self, sink: &mut Vec<u8>) -> Result<BodyPoll, HttpError> {
        let streamed = match std::mem::replace(&mut self.state, State::Head) {
            State::Streaming(streamed) => streamed,
            other => {
                self.state = other;
                return Ok(BodyPoll::Done);
            }
        };
        match self.stream_body(streamed, sink) {
            Ok(BodyPoll::Done) => {
                self.in_progress = 0;
                Ok(BodyPoll::Done)
            }
            Ok(BodyPoll::More) => Ok(BodyPoll::More),
            Err(error) => Err(self.fail(error)),
        }
    }

    /// One step of [`Parser::poll_body`]: leaves the state `Streaming`
    /// unless the body is done.
    fn stream_body(
        &mut self,
        streamed: Streamed,
        sink: &mut Vec<u8>,
    ) -> Result<BodyPoll, HttpError> {
        match streamed {
            Streamed::Fixed(remaining) => {
                let n = remaining.min(self.avail().len());
                sink.extend_from_slice(&self.buf[self.start..self.start + n]);
                self.consume(n);
                if remaining == n {
                    return Ok(BodyPoll::Done);
                }
                self.state = State::Streaming(Streamed::Fixed(remaining - n));
                Ok(BodyPoll::More)
            }
            Streamed::Chunked {
                limit,
                mut total,
                mut step,
            } => {
                if self.chunked(sink, limit, &mut total, &mut step)? {
                    return Ok(BodyPoll::Done);
                }
                self.state = State::Streaming(Streamed::Chunked { limit, total, step });
                Ok(BodyPoll::More)
            }
        }
    }

    /// Puts the parser in the failed state and returns the error.
    fn fail(&mut self, error: HttpError) -> HttpError {
        self.state = State::Failed(error.clone());
        self.buf = Vec::new();
        self.start = 0;
        self.in_progress = 0;
        error
    }

    /// Appends bytes read from the connection.
    pub fn feed(&mut self, bytes: &[u8]) {
        if matches!(self.state, State::Failed(_)) {
            return;
        }
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 0 && self.start >= self.buf.len() - self.start {
            // The consumed prefix is at least as long as what remains, so
            // this copy is paid for by the bytes already consumed.
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete request, `Ok(None)` when more bytes are needed.
    /// After an `Err` the caller answers it and closes the connection.
    ///
    /// # Panics
    /// While [`Parser::streaming`]: the streamed body comes first.
    pub fn poll_request(&mut self) -> Result<Option<Request>, HttpError> {
        assert!(
            !self.streaming(),
            "poll_body until the streamed upload's body is done"
        );
        match self.step() {
            Ok(found) => Ok(found),
            Err(error) => Err(self.fail(error)),
        }
    }

    /// Bytes received but not yet returned as a request: the unconsumed
    /// buffer plus what the unfinished request has taken in so far (0
    /// exactly when the connection is between requests).
    pub fn buffered(&self) -> usize {
        self.in_progress + (self.buf.len() - self.start)
    }

    /// The unconsumed bytes.
    fn avail(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Marks `n` buffered bytes as part of the current request.
    fn consume(&mut self, n: usize) {
        self.start += n;
        self.in_progress += n;
        self.scanned = 0;
        self.newlines = 0;
        self.checked_newlines = 0;
        self.checked_len = 0;
    }

    /// Finishes the current request.
    fn finish(&mut self, req: Request) -> Option<Request> {
        self.in_progress = 0;
        self.state = State::Head;
        Some(req)
    }

    fn step(&mut self) -> Result<Option<Request>, HttpError> {
        loop {
            match std::mem::replace(&mut self.state, State::Head) {
                State::Failed(error) => {
                    self.state = State::Failed(error.clone());
                    return Err(error);
                }
                State::Streaming(_) => unreachable!("poll_request checked"),
                State::Head => match self.head()? {
                    None => return Ok(None),
                    Some((req, Framing::None)) => return Ok(self.finish(req)),
                    Some((req, framing)) if self.stream_uploads && is_upload(&req) => {
                        self.state = State::Streaming(match framing {
                            Framing::Length(n) => Streamed::Fixed(n),
                            Framing::Chunked(limit) => Streamed::Chunked {
                                limit,
                                total: 0,
                                step: Chunk::Size,
                            },
                            Framing::None => unreachable!("matched above"),
                        });
                        return Ok(Some(req));
                    }
                    Some((req, Framing::Length(n))) => {
                        self.state = State::Fixed { req, remaining: n };
                    }
                    Some((req, Framing::Chunked(limit))) => {
                        self.state = State::Chunked {
                            req,
                            limit,
                            total: 0,
                            step: Chunk::Size,
                        };
                    }
                },
                State::Fixed { mut req, remaining } => {
                    let n = remaining.min(self.avail().len());
                    req.body
                        .extend_from_slice(&self.buf[self.start..self.start + n]);
                    self.consume(n);
                    if remaining == n {
                        return Ok(self.finish(req));
                    }
                    self.state = State::Fixed {
                        req,
                        remaining: remaining - n,
                    };
                    return Ok(None);
                }
                State::Chunked {
                    mut req,
                    limit,
                    mut total,
                    mut step,
                } => {
                    let done = self.chunked(&mut req.body, limit, &mut total, &mut step)?;
                    if done {
                        return Ok(self.finish(req));
                    }
                    self.state = State::Chunked {
                        req,
                        limit,
                        total,
                        step,
                    };
                    return Ok(None);
                }
            }
        }
    }

    /// Parses the header block once it is complete.
    fn head(&mut self) -> Result<Option<(Request, Framing)>, HttpError> {
        // Skip empty lines before the request line.
        loop {
            let avail = self.avail();
            if avail.starts_with(b"\r\n") {
                self.consume(2);
            } else if avail.starts_with(b"\n") {
                self.consume(1);
            } else {
                break;
            }
        }
        self.in_progress = 0;
        let max = self.limits.header_bytes_max;
        let avail_len = self.avail().len();
        let end = match find_head_end(self.avail(), self.scanned, self.newlines) {
            Ok(end) => end,
            Err((resume, newlines)) => {
                self.scanned = resume;
                self.newlines = newlines;
                if avail_len > max {
                    return Err(headers_too_large(max));
                }
                // Check the unfinished head now and then, so that a malformed
                // request line is refused without waiting for the rest.
                let early = avail_len <= EARLY_CHECK_BYTES && avail_len > self.checked_len;
                if early || newlines > self.checked_newlines {
                    self.checked_len = avail_len;
                    self.checked_newlines = newlines;
                    let mut headers = [httparse::EMPTY_HEADER; HEADERS_COUNT_MAX];
                    let mut parsed = httparse::Request::new(&mut headers);
                    if let Err(error) = parsed.parse(self.avail()) {
                        return Err(head_error(error, self.avail()));
                    }
                }
                return Ok(None);
            }
        };
        if end > max {
            return Err(headers_too_large(max));
        }
        let mut headers = [httparse::EMPTY_HEADER; HEADERS_COUNT_MAX];
        let mut parsed = httparse::Request::new(&mut headers);
        let head = &self.buf[self.start..self.start + end];
        let len = match parsed.parse(head) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => {
                return Err(bad_request("malformed request: incomplete header block"))
            }
            Err(error) => return Err(head_error(error, head)),
        };
        let version = parsed.version.unwrap_or(1);
        let method = match parsed.method.unwrap_or("") {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            other => Method::Other(other.to_string()),
        };
        let (path, query) = split_target(parsed.path.unwrap_or("/"));
        let mut fields = Headers::with_capacity(parsed.headers.len(), len);
        for header in parsed.headers.iter() {
            let value = std::str::from_utf8(header.value)
                .map_err(|_| bad_request(format!("header {} is not valid UTF-8", header.name)))?;
            fields.push(header.name, value.trim_matches([' ', '\t']));
        }
        let limit = if is_upload_target(&method, &path) {
            self.limits.media_body_bytes_max
        } else {
            self.limits.body_bytes_max
        };
        let framing = framing(&fields, version, limit)?;
        let keep_alive = keep_alive(&fields, version);
        self.consume(len);
        let mut body = Vec::new();
        if let Framing::Length(n) = framing {
            // Grow with the bytes that actually arrive, not the claim.
            body.reserve(n.min(64 * 1024));
        }
        let req = Request {
            method,
            path,
            query,
            headers: fields,
            body,
            keep_alive,
        };
        Ok(Some((req, framing)))
    }

    /// Advances through a chunked body; true once the trailer section ended.
    fn chunked(
        &mut self,
        body: &mut Vec<u8>,
        limit: usize,
        total: &mut usize,
        step: &mut Chunk,
    ) -> Result<bool, HttpError> {
        loop {
            match *step {
                Chunk::Size => {
                    let Some(line) = self.line(CHUNK_LINE_BYTES_MAX, chunk_line_too_long)? else {
                        return Ok(false);
                    };
                    let size = parse_chunk_size(&self.avail()[..line])?;
                    self.consume(line + 2);
                    if size == 0 {
                        *step = Chunk::Trailer(0);
                        continue;
                    }
                    match total.checked_add(size) {
                        Some(sum) if sum <= limit => *total = sum,
                        _ => return Err(body_too_large(limit)),
                    }
                    *step = Chunk::Data(size);
                }
                Chunk::Data(remaining) => {
                    let n = remaining.min(self.avail().len());
                    if n == 0 {
                        return Ok(false);
                    }
                    body.extend_from_slice(&self.buf[self.start..self.start + n]);
                    self.consume(n);
                    *step = if remaining == n {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(remaining - n)
                    };
                }
                Chunk::DataEnd => {
                    let avail = self.avail();
                    if !b"\r\n".starts_with(&avail[..avail.len().min(2)]) {
                        return Err(bad_request("chunk data not followed by CRLF"));
                    }
                    if avail.len() < 2 {
                        return Ok(false);
                    }
                    self.consume(2);
                    *step = Chunk::Size;
                }
                Chunk::Trailer(seen) => {
                    let max = self.limits.header_bytes_max;
                    let room = max.saturating_sub(seen);
                    let Some(line) = self.line(room, |_| headers_too_large(max))? else {
                        return Ok(false);
                    };
                    if line == 0 {
                        self.consume(2);
                        return Ok(true);
                    }
                    check_trailer(&self.avail()[..line])?;
                    self.consume(line + 2);
                    *step = Chunk::Trailer(seen + line + 2);
                }
            }
        }
    }

    /// Length of the CRLF-terminated line at the start of the buffer
    /// (without its CRLF), `None` while it is incomplete. A line longer
    /// than `max` fails with `too_long(max)`, complete or not.
    fn line(
        &mut self,
        max: usize,
        too_long: impl Fn(usize) -> HttpError,
    ) -> Result<Option<usize>, HttpError> {
        let avail = self.avail();
        let found = avail[self.scanned..].iter().position(|&b| b == b'\n');
        let Some(offset) = found else {
            // A line of `max` bytes may still be waiting for its CR and LF.
            if avail.len() > max.saturating_add(1) {
                return Err(too_long(max));
            }
            self.scanned = avail.len();
            return Ok(None);
        };
        let newline = self.scanned + offset;
        if newline == 0 || avail[newline - 1] != b'\r' {
            return Err(bad_request("line in chunked body does not end with CRLF"));
        }
        let line = newline - 1;
        if line > max {
            return Err(too_long(max));
        }
        Ok(Some(line))
    }
}

/// True for `PUT /media/…`: the media body limit applies, and the body
/// is streamed when the parser streams uploads.
fn is_upload_target(method: &Method, path: &str) -> bool {
    *method == Method::Put && path.starts_with("/media/")
}

fn is_upload(req: &Request) -> bool {
    is_upload_target(&req.method, &req.path)
}

/// How the body of a request is delimited.
#[derive(Debug, Clone, Copy)]
enum Framing {
    None,
    Length(usize),
    /// Chunked, with the body limit that applies.
    Chunked(usize),
}

/// Finds the end of the header block (index just past the empty line),
/// searching from `from`. Otherwise says where to resume the search and
/// how many line ends have been passed, starting from `newlines`.
fn find_head_end(avail: &[u8], from: usize, mut newlines: usize) -> Result<usize, (usize, usize)> {
    let mut at = from;
    while let Some(offset) = avail[at..].iter().position(|&b| b == b'\n') {
        let i = at + offset;
        match (avail.get(i + 1), avail.get(i + 2)) {
            (Some(b'\n'), _) => return Ok(i + 2),
            (Some(b'\r'), Some(b'\n')) => return Ok(i + 3),
            // Undecided: this line end is looked at again with more bytes.
            (None, _) | (Some(b'\r'), None) => return Err((i, newlines)),
            _ => {}
        }
        newlines += 1;
        at = i + 1;
    }
    Err((avail.len(), newlines))
}

/// Splits a request target into path and query, reducing absolute form.
fn split_target(target: &str) -> (String, String) {
    let mut target = target;
    let lower = target.get(..8).unwrap_or(target).to_ascii_lowercase();
    let scheme = if lower.starts_with("http://") {
        7
    } else if lower.starts_with("https://") {
        8
    } else {
        0
    };
    if scheme > 0 {
        let rest = &target[scheme..];
        target = match rest.find(['/', '?']) {
            Some(i) => &rest[i..],
            None => "",
        };
    }
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, query),
        None => (target, ""),
    };
    let path = if path.is_empty() { "/" } else { path };
    (path.to_string(), query.to_string())
}

/// The comma-separated tokens of every header named `name`, trimmed, as
/// sent (compare them case-insensitively).
fn tokens<'a>(fields: &'a Headers, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    fields
        .iter()
        .filter(move |(n, _)| *n == name)
        .flat_map(|(_, v)| v.split(','))
        .map(|t| t.trim_matches([' ', '\t']))
}

/// Decides the body framing from the headers (RFC 9112 §6).
fn framing(fields: &Headers, version: u8, limit: usize) -> Result<Framing, HttpError> {
    let has_te = fields.get("transfer-encoding").is_some();
    let has_cl = fields.get("content-length").is_some();
    if has_te {
        if has_cl {
            return Err(bad_request(
                "both content-length and transfer-encoding are present",
            ));
        }
        if version == 0 {
            return Err(bad_request("transfer-encoding is not allowed in HTTP/1.0"));
        }
        let codings: Vec<&str> = tokens(fields, "transfer-encoding").collect();
        if let Some(unknown) = codings.iter().find(|c| !c.eq_ignore_ascii_case("chunked")) {
            if unknown.is_empty() {
                return Err(bad_request("empty transfer-encoding"));
            }
            return Err(HttpError {
                status: 501,
                code: "not_implemented",
                message: format!("transfer-encoding {unknown} is not implemented; only chunked is"),
            });
        }
        if codings.len() != 1 {
            return Err(bad_request(
                "chunked transfer-encoding applied more than once",
            ));
        }
        return Ok(Framing::Chunked(limit));
    }
    if !has_cl {
        return Ok(Framing::None);
    }
    let mut length: Option<u64> = None;
    for value in tokens(fields, "content-length") {
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad_request(format!("invalid content-length {value:?}")));
        }
        let Ok(n) = value.parse::<u64>() else {
            return Err(body_too_large(limit));
        };
        match length {
            Some(previous) if previous != n => {
                return Err(bad_request("conflicting content-length values"));
            }
            _ => length = Some(n),
        }
    }
    let n = length.unwrap_or(0);
    if n > limit as u64 {
        return Err(body_too_large(limit));
    }
    Ok(if n == 0 {
        Framing::None
    } else {
        Framing::Length(n as usize)
    })
}

/// Whether the connection stays open after this request.
fn keep_alive(fields: &Headers, version: u8) -> bool {
    let mut close = false;
    let mut keep = false;
    for token in tokens(fields, "connection") {
        close |= token.eq_ignore_ascii_case("close");
        keep |= token.eq_ignore_ascii_case("keep-alive");
    }
    if version == 0 {
        keep && !close
    } else {
        !close
    }
}

/// Parses `hex-size [ws] [; extensions]` of a chunk size line.
fn parse_chunk_size(line: &[u8]) -> Result<usize, HttpError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(bad_request("chunk size line without a hex size"));
    }
    let rest = &line[digits..];
    let rest_start = rest
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(rest.len());
    let rest = &rest[rest_start..];
    if !(rest.is_empty() || rest[0] == b';') {
        return Err(bad_request("invalid chunk size line"));
    }
    if rest.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(bad_request("control character in chunk extension"));
    }
    let mut size: usize = 0;
    for &b in &line[..digits] {
        let digit = (b as char).to_digit(16).unwrap_or(0) as usize;
        size = match size.checked_mul(16).and_then(|s| s.checked_add(digit)) {
            Some(size) => size,
            // No limit is anywhere near this: the body is too large.
            None => usize::MAX,
        };
    }
    Ok(size)
}

/// Checks that a trailer line looks like `name: value`.
fn check_trailer(line: &[u8]) -> Result<(), HttpError> {
    let colon = line.iter().position(|&b| b == b':');
    let valid = match colon {
        Some(colon) if colon > 0 => {
            line[..colon].iter().all(|&b| is_token_byte(b))
                && line[colon + 1..]
                    .iter()
                    .all(|&b| (b >= 0x20 && b != 0x7f) || b == b'\t')
        }
        _ => false,
    };
    if valid {
        Ok(())
    } else {
        Err(bad_request("malformed trailer field in chunked body"))
    }
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Maps an httparse error on a (possibly partial) head.
fn head_error(error: httparse::Error, head: &[u8]) -> HttpError {
    match error {
        httparse::Error::TooManyHeaders => HttpError {
            status: 431,
            code: "headers_too_large",
            message: format!("more than {HEADERS_COUNT_MAX} header fields"),
        },
        httparse::Error::Version => {
            let line_end = head.iter().position(|&b| b == b'\r' || b == b'\n');
            let line = &head[..line_end.unwrap_or(head.len())];
            let version = line.split(|&b| b == b' ').nth(2).unwrap_or(b"");
            if version.starts_with(b"HTTP/") && version.get(5).is_some_and(u8::is_ascii_digit) {
                HttpError {
                    status: 505,
                    code: "http_version_not_supported",
                    message: format!(
                        "{} is not supported; use HTTP/1.1 or HTTP/1.0",
                        String::from_utf8_lossy(version)
                    ),
                }
            } else {
                bad_request("malformed request line: invalid HTTP version")
            }
        }
        other => bad_request(format!("malformed request: {other}")),
    }
}

fn bad_request(message: impl Into<String>) -> HttpError {
    HttpError {
        status: 400,
        code: "bad_request",
        message: message.into(),
    }
}

fn headers_too_large(max: usize) -> HttpError {
    HttpError {
        status: 431,
        code: "headers_too_large",
        message: format!("header block longer than {max} bytes"),
    }
}

fn body_too_large(max: usize) -> HttpError {
    HttpError {
        status: 413,
        code: "body_too_large",
        message: format!("body longer than {max} bytes"),
    }
}

fn chunk_line_too_long(max: usize) -> HttpError {
    bad_request(format!("chunk size line longer than {max} bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn limits() -> ParseLimits {
        ParseLimits {
            header_bytes_max: 1024,
            body_bytes_max: 100,
            media_body_bytes_max: 1000,
        }
    }

    /// Feeds `pieces` one after the other, polling everything after each.
    fn parse_pieces(limits: ParseLimits, pieces: &[&[u8]]) -> Result<Vec<Request>, HttpError> {
        let mut parser = Parser::new(limits);
        let mut out = Vec::new();
        for piece in pieces {
            parser.feed(piece);
            while let Some(req) = parser.poll_request()? {
                out.push(req);
            }
        }
        assert_eq!(parser.buffered(), 0, "bytes left over");
        Ok(out)
    }

    fn parse_all(bytes: &[u8]) -> Result<Vec<Request>, HttpError> {
        parse_pieces(limits(), &[bytes])
    }

    /// The error the stream ends in, fed in one piece.
    fn error_of(limits: ParseLimits, bytes: &[u8]) -> HttpError {
        let mut parser = Parser::new(limits);
        parser.feed(bytes);
        loop {
            match parser.poll_request() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("no error for {:?}", String::from_utf8_lossy(bytes)),
                Err(error) => return error,
            }
        }
    }

    fn owned(list: &[(&str, &str)]) -> Headers {
        list.iter().copied().collect()
    }

    /// Every split of `bytes` into two pieces, and byte by byte, gives `want`.
    fn assert_every_split(bytes: &[u8], want: &[Request]) {
        for split in 0..=bytes.len() {
            let (a, b) = bytes.split_at(split);
            assert_eq!(
                parse_pieces(limits(), &[a, b]).as_deref(),
                Ok(want),
                "split at {split}"
            );
        }
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(parse_pieces(limits(), &singles).as_deref(), Ok(want));
    }

    const TWO: &[u8] = b"POST /route?x=1&y=a%20b HTTP/1.1\r\nHost: brain\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}\
GET /healthz HTTP/1.1\r\nhost: brain\r\nConnection: close\r\n\r\n";

    fn two_requests() -> Vec<Request> {
        vec![
            Request {
                method: Method::Post,
                path: "/route".into(),
                query: "x=1&y=a%20b".into(),
                headers: owned(&[
                    ("host", "brain"),
                    ("content-type", "application/json"),
                    ("content-length", "7"),
                ]),
                body: b"{\"a\":1}".to_vec(),
                keep_alive: true,
            },
            Request {
                method: Method::Get,
                path: "/healthz".into(),
                query: String::new(),
                headers: owned(&[("host", "brain"), ("connection", "close")]),
                body: Vec::new(),
                keep_alive: false,
            },
        ]
    }

    #[test]
    fn pipelined_requests_in_one_read_are_all_returned() {
        assert_eq!(parse_all(TWO), Ok(two_requests()));
    }

    #[test]
    fn every_split_point_of_two_requests_yields_the_same_requests() {
        assert_every_split(TWO, &two_requests());
    }

    #[test]
    fn poll_without_bytes_asks_for_more() {
        let mut parser = Parser::new(limits());
        assert_eq!(parser.poll_request(), Ok(None));
        parser.feed(b"GET / HTTP/1.1\r\n");
        assert_eq!(parser.poll_request(), Ok(None));
        assert_eq!(parser.buffered(), 16);
    }

    #[test]
    fn buffered_counts_the_unfinished_request() {
        let mut parser = Parser::new(limits());
        parser.feed(b"POST / HTTP/1.1\r\ncontent-length: 5\r\n\r\nab");
        assert_eq!(parser.poll_request(), Ok(None));
        assert_eq!(parser.buffered(), 40);
        parser.feed(b"cdeGET");
        assert!(parser.poll_request().unwrap().is_some());
        assert_eq!(parser.buffered(), 3);
    }

    #[test]
    fn query_params_are_split_on_the_first_question_mark() {
        let reqs = parse_all(b"GET /cac?account=acc_1&q=a+b%21&x=?y HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(reqs[0].path, "/cac");
        assert_eq!(reqs[0].query, "account=acc_1&q=a+b%21&x=?y");
        assert_eq!(reqs[0].query_param("account").as_deref(), Some("acc_1"));
        assert_eq!(reqs[0].query_param("q").as_deref(), Some("a b!"));
        assert_eq!(reqs[0].query_param("x").as_deref(), Some("?y"));
        assert_eq!(reqs[0].query_param("nope"), None);
    }

    #[test]
    fn absolute_form_targets_are_reduced_to_path_and_query() {
        let reqs = parse_all(
            b"GET http://brain:8080/readyz?a=1 HTTP/1.1\r\n\r\nGET https://brain HTTP/1.1\r\n\r\n",
        )
        .unwrap();
        assert_eq!(
            (reqs[0].path.as_str(), reqs[0].query.as_str()),
            ("/readyz", "a=1")
        );
        assert_eq!((reqs[1].path.as_str(), reqs[1].query.as_str()), ("/", ""));
    }

    #[test]
    fn methods_are_recognised_and_others_kept() {
        let reqs = parse_all(
            b"PUT /a HTTP/1.1\r\n\r\nDELETE /a HTTP/1.1\r\n\r\nOPTIONS * HTTP/1.1\r\n\r\nHEAD / HTTP/1.1\r\n\r\nPATCH /a HTTP/1.1\r\n\r\n",
        )
        .unwrap();
        let methods: Vec<Method> = reqs.into_iter().map(|r| r.method).collect();
        assert_eq!(
            methods,
            vec![
                Method::Put,
                Method::Delete,
                Method::Options,
                Method::Head,
                Method::Other("PATCH".into())
            ]
        );
    }

    #[test]
    fn header_names_are_lower_cased_and_values_trimmed() {
        let reqs = parse_all(
            b"GET / HTTP/1.1\r\nX-Edge-Token:   tok \t\r\nAUTHORIZATION: Bearer x\r\n\r\n",
        )
        .unwrap();
        assert_eq!(
            reqs[0].headers,
            owned(&[("x-edge-token", "tok"), ("authorization", "Bearer x")])
        );
        assert_eq!(reqs[0].header("authorization"), Some("Bearer x"));
    }

    #[test]
    fn non_utf8_header_value_is_400() {
        let error = error_of(limits(), b"GET / HTTP/1.1\r\nx-name: caf\xe9\r\n\r\n");
        assert_eq!((error.status, error.code), (400, "bad_request"));
        assert!(error.message.contains("x-name"), "{}", error.message);
    }

    #[test]
    fn malformed_request_line_is_400_without_waiting_for_more() {
        let mut parser = Parser::new(limits());
        parser.feed(b"\x16\x03\x01\x02\x00");
        let error = parser.poll_request().unwrap_err();
        assert_eq!((error.status, error.code), (400, "bad_request"));
        let error = error_of(limits(), b"GET /a b HTTP/1.1\r\n\r\n");
        assert_eq!(error.status, 400);
        let error = error_of(limits(), b"GET / HTTP/1.1\r\nbad header\r\n\r\n");
        assert_eq!(error.status, 400);
        assert!(!error.message.is_empty());
    }

    #[test]
    fn errors_are_sticky() {
        let mut parser = Parser::new(limits());
        parser.feed(b"BAD\x01 / HTTP/1.1\r\n\r\n");
        let first = parser.poll_request().unwrap_err();
        parser.feed(b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(parser.poll_request(), Err(first));
    }

    #[test]
    fn leading_empty_lines_are_skipped() {
        let reqs =
            parse_all(b"\r\n\r\nGET /a HTTP/1.1\r\n\r\n\r\nGET /b HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(reqs.len(), 2);
        assert_eq!(reqs[1].path, "/b");
    }

    #[test]
    fn bare_lf_line_ends_are_accepted_in_the_head() {
        let reqs = parse_all(b"GET /a HTTP/1.1\nhost: b\n\nGET /b HTTP/1.1\n\n").unwrap();
        assert_eq!(reqs.len(), 2);
        assert_eq!(reqs[0].headers, owned(&[("host", "b")]));
    }

    #[test]
    fn http_1_0_closes_unless_keep_alive_is_asked() {
        let reqs = parse_all(
            b"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET / HTTP/1.0\r\nconnection: keep-alive, close\r\n\r\n",
        )
        .unwrap();
        let keep: Vec<bool> = reqs.iter().map(|r| r.keep_alive).collect();
        assert_eq!(keep, vec![false, true, false]);
    }

    #[test]
    fn http_1_1_keeps_alive_unless_connection_close() {
        let reqs = parse_all(
            b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nConnection: Close\r\n\r\nGET / HTTP/1.1\r\nconnection: te, close\r\n\r\nGET / HTTP/1.1\r\nconnection: keep-alive\r\n\r\n",
        )
        .unwrap();
        let keep: Vec<bool> = reqs.iter().map(|r| r.keep_alive).collect();
        assert_eq!(keep, vec![true, false, false, true]);
    }

    #[test]
    fn other_http_versions_are_505() {
        for bytes in [
            &b"GET / HTTP/2.0\r\n\r\n"[..],
            b"GET / HTTP/1.2\r\n\r\n",
            b"GET / HTTP/3\r\n\r\n",
        ] {
            let error = error_of(limits(), bytes);
            assert_eq!(
                (error.status, error.code),
                (505, "http_version_not_supported")
            );
        }
        assert_eq!(error_of(limits(), b"GET / FTP/1.1\r\n\r\n").status, 400);
    }

    #[test]
    fn content_length_and_transfer_encoding_together_are_400() {
        let error = error_of(
            limits(),
            b"POST / HTTP/1.1\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        );
        assert_eq!((error.status, error.code), (400, "bad_request"));
    }

    #[test]
    fn invalid_content_length_is_400() {
        for value in ["abc", "-1", "+5", "", "1 2", "0x10", "5,"] {
            let bytes = format!("POST / HTTP/1.1\r\ncontent-length: {value}\r\n\r\n");
            let error = error_of(limits(), bytes.as_bytes());
            assert_eq!(
                (error.status, error.code),
                (400, "bad_request"),
                "{value:?}"
            );
        }
    }

    #[test]
    fn different_content_lengths_are_400_and_equal_ones_are_fine() {
        let error = error_of(
            limits(),
            b"POST / HTTP/1.1\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd",
        );
        assert_eq!(error.status, 400);
        assert_eq!(
            error_of(
                limits(),
                b"POST / HTTP/1.1\r\ncontent-length: 3, 4\r\n\r\nabcd"
            )
            .status,
            400
        );
        let reqs =
            parse_all(b"POST / HTTP/1.1\r\ncontent-length: 3\r\ncontent-length: 3, 3\r\n\r\nabc")
                .unwrap();
        assert_eq!(reqs[0].body, b"abc");
    }

    #[test]
    fn unknown_transfer_encoding_is_501() {
        for te in ["gzip", "gzip, chunked", "identity"] {
            let bytes = format!("POST / HTTP/1.1\r\ntransfer-encoding: {te}\r\n\r\n");
            let error = error_of(limits(), bytes.as_bytes());
            assert_eq!((error.status, error.code), (501, "not_implemented"), "{te}");
        }
        let error = error_of(
            limits(),
            b"POST / HTTP/1.1\r\ntransfer-encoding: chunked, chunked\r\n\r\n",
        );
        assert_eq!(error.status, 400);
        let error = error_of(
            limits(),
            b"POST / HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n",
        );
        assert_eq!(error.status, 400);
    }

    const CHUNKED: &[u8] = b"POST /flow HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n\
4;name=value;flag\r\nWiki\r\n5 ; x=\"q\"\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nx-trailer: yes\r\nother: 1\r\n\r\n\
POST /flow HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n000\r\n\r\n";

    #[test]
    fn chunked_body_with_extensions_and_trailers_is_decoded_at_every_split() {
        let want = vec![
            Request {
                method: Method::Post,
                path: "/flow".into(),
                query: String::new(),
                headers: owned(&[("transfer-encoding", "Chunked")]),
                body: b"Wikipedia in\r\n\r\nchunks.".to_vec(),
                keep_alive: true,
            },
            Request {
                method: Method::Post,
                path: "/flow".into(),
                query: String::new(),
                headers: owned(&[("transfer-encoding", "chunked")]),
                body: Vec::new(),
                keep_alive: true,
            },
        ];
        assert_every_split(CHUNKED, &want);
    }

    #[test]
    fn malformed_chunks_are_400() {
        for body in [
            &b"zz\r\n"[..],
            b"3\r\nabcX",
            b"3\nabc\r\n",
            b"3x\r\nabc\r\n",
            b"0\r\nno colon\r\n\r\n",
            b"3\r\nabc\r\n0\r\n\n",
        ] {
            let mut bytes = b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
            bytes.extend_from_slice(body);
            let error = error_of(limits(), &bytes);
            assert_eq!(error.status, 400, "{:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn overlong_chunk_size_line_is_400_before_it_ends() {
        let mut bytes = b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n1;".to_vec();
        bytes.resize(bytes.len() + CHUNK_LINE_BYTES_MAX, b'a');
        let error = error_of(limits(), &bytes);
        assert_eq!((error.status, error.code), (400, "bad_request"));
        assert!(error.message.contains("chunk"), "{}", error.message);
    }

    #[test]
    fn chunk_size_line_of_exactly_the_limit_is_fine() {
        let mut bytes = b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n1;".to_vec();
        bytes.resize(bytes.len() + CHUNK_LINE_BYTES_MAX - 2, b'a');
        bytes.extend_from_slice(b"\r\nz\r\n0\r\n\r\n");
        assert_eq!(parse_all(&bytes).unwrap()[0].body, b"z");
    }

    #[test]
    fn huge_header_is_431_before_it_is_complete() {
        let mut parser = Parser::new(limits());
        parser.feed(b"GET / HTTP/1.1\r\nx-big: ");
        assert_eq!(parser.poll_request(), Ok(None));
        parser.feed(&[b'a'; 1024]);
        let error = parser.poll_request().unwrap_err();
        assert_eq!((error.status, error.code), (431, "headers_too_large"));
    }

    #[test]
    fn header_block_of_exactly_the_limit_is_fine() {
        let mut bytes = b"GET / HTTP/1.1\r\nx: ".to_vec();
        bytes.resize(1024 - 4, b'a');
        bytes.extend_from_slice(b"\r\n\r\n");
        assert_eq!(bytes.len(), 1024);
        assert_eq!(parse_all(&bytes).unwrap().len(), 1);
        bytes.insert(20, b'a');
        assert_eq!(error_of(limits(), &bytes).status, 431);
    }

    #[test]
    fn too_many_headers_are_431() {
        let mut bytes = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=HEADERS_COUNT_MAX {
            bytes.extend_from_slice(format!("h{i}: v\r\n").as_bytes());
        }
        let big = ParseLimits {
            header_bytes_max: 1 << 20,
            ..limits()
        };
        // Refused before the header block is even complete.
        let error = error_of(big, &bytes);
        assert_eq!((error.status, error.code), (431, "headers_too_large"));
    }

    #[test]
    fn big_content_length_is_413_before_the_body_arrives() {
        let mut parser = Parser::new(limits());
        parser.feed(b"POST /auth HTTP/1.1\r\ncontent-length: 101\r\n\r\n");
        let error = parser.poll_request().unwrap_err();
        assert_eq!((error.status, error.code), (413, "body_too_large"));
        let error = error_of(
            limits(),
            b"POST / HTTP/1.1\r\ncontent-length: 99999999999999999999999\r\n\r\n",
        );
        assert_eq!(error.status, 413);
    }

    #[test]
    fn body_of_exactly_the_limit_is_fine() {
        let mut bytes = b"POST / HTTP/1.1\r\ncontent-length: 100\r\n\r\n".to_vec();
        bytes.resize(bytes.len() + 100, b'x');
        assert_eq!(parse_all(&bytes).unwrap()[0].body.len(), 100);
    }

    #[test]
    fn media_uploads_get_the_media_limit() {
        let mut bytes =
            b"PUT /media/greeting.wav HTTP/1.1\r\ncontent-length: 1000\r\n\r\n".to_vec();
        bytes.resize(bytes.len() + 1000, 0);
        assert_eq!(parse_all(&bytes).unwrap()[0].body.len(), 1000);
        let error = error_of(
            limits(),
            b"POST /media/greeting.wav HTTP/1.1\r\ncontent-length: 1000\r\n\r\n",
        );
        assert_eq!(error.status, 413);
        let error = error_of(
            limits(),
            b"PUT /media/greeting.wav HTTP/1.1\r\ncontent-length: 1001\r\n\r\n",
        );
        assert_eq!(error.status, 413);
    }

    #[test]
    fn chunked_body_accumulating_past_the_limit_is_413() {
        let mut parser = Parser::new(limits());
        parser.feed(b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n32\r\n");
        parser.feed(&[b'x'; 50]);
        parser.feed(b"\r\n");
        assert_eq!(parser.poll_request(), Ok(None));
        // 50 + 51 > 100, refused when the size line arrives.
        parser.feed(b"33\r\n");
        let error = parser.poll_request().unwrap_err();
        assert_eq!((error.status, error.code), (413, "body_too_large"));
        let error = error_of(
            limits(),
            b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\nffffffffffffffffffffffff\r\n",
        );
        assert_eq!(error.status, 413);
    }

    #[test]
    fn oversized_trailers_are_431() {
        let mut bytes = b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n0\r\nx: ".to_vec();
        bytes.resize(bytes.len() + 1100, b'a');
        let error = error_of(limits(), &bytes);
        assert_eq!((error.status, error.code), (431, "headers_too_large"));
    }

    #[test]
    fn many_small_feeds_do_not_grow_the_buffer() {
        let mut parser = Parser::new(limits());
        let one = b"GET /healthz HTTP/1.1\r\n\r\n";
        for _ in 0..10_000 {
            parser.feed(one);
            assert!(parser.poll_request().unwrap().is_some());
        }
        assert!(parser.buf.capacity() < 1024);
    }

    /// Feeds `pieces` to a streaming parser; returns each request with the
    /// body it had (streamed bodies collected through `poll_body`) and
    /// whether it was streamed.
    fn stream_pieces(pieces: &[&[u8]]) -> Result<Vec<(Request, bool)>, HttpError> {
        let mut parser = Parser::new(limits()).with_streamed_uploads();
        let mut out: Vec<(Request, bool)> = Vec::new();
        for piece in pieces {
            parser.feed(piece);
            loop {
                if parser.streaming() {
                    let (last, _) = out.last_mut().expect("a streamed head came first");
                    if parser.poll_body(&mut last.body)? == BodyPoll::More {
                        break;
                    }
                    continue;
                }
                match parser.poll_request()? {
                    Some(req) => {
                        let streamed = parser.streaming();
                        out.push((req, streamed));
                    }
                    None => break,
                }
            }
        }
        assert_eq!(parser.buffered(), 0, "bytes left over");
        Ok(out)
    }

    const UPLOAD: &[u8] = b"PUT /media/a.wav HTTP/1.1\r\ncontent-length: 5\r\n\r\nhello\
PUT /media/b.wav HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n\r\n\
POST /route HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}";

    #[test]
    fn streamed_uploads_give_the_head_then_the_body_at_every_split() {
        let want: Vec<(String, Vec<u8>, bool)> = vec![
            ("/media/a.wav".into(), b"hello".to_vec(), true),
            ("/media/b.wav".into(), b"abcde".to_vec(), true),
            ("/route".into(), b"{}".to_vec(), false),
        ];
        let shape = |got: Vec<(Request, bool)>| -> Vec<(String, Vec<u8>, bool)> {
            got.into_iter().map(|(r, s)| (r.path, r.body, s)).collect()
        };
        for split in 0..=UPLOAD.len() {
            let (a, b) = UPLOAD.split_at(split);
            assert_eq!(
                shape(stream_pieces(&[a, b]).unwrap()),
                want,
                "split at {split}"
            );
        }
        let singles: Vec<&[u8]> = UPLOAD.chunks(1).collect();
        assert_eq!(shape(stream_pieces(&singles).unwrap()), want);
    }

    #[test]
    fn a_streamed_head_comes_before_its_body_arrives() {
        let mut parser = Parser::new(limits()).with_streamed_uploads();
        parser.feed(b"PUT /media/x.wav HTTP/1.1\r\ncontent-length: 900\r\n\r\nab");
        let head = parser.poll_request().unwrap().expect("the head");
        assert_eq!((head.path.as_str(), head.body.len()), ("/media/x.wav", 0));
        assert!(parser.streaming());
        let mut sink = Vec::new();
        assert_eq!(parser.poll_body(&mut sink), Ok(BodyPoll::More));
        assert_eq!(sink, b"ab");
        parser.feed(&[b'z'; 898]);
        assert_eq!(parser.poll_body(&mut sink), Ok(BodyPoll::Done));
        assert_eq!(sink.len(), 900);
        assert!(!parser.streaming());
        assert_eq!(parser.poll_request(), Ok(None));
    }

    #[test]
    fn uploads_without_a_body_and_other_requests_are_not_streamed() {
        let mut parser = Parser::new(limits()).with_streamed_uploads();
        parser.feed(b"PUT /media/x.wav HTTP/1.1\r\ncontent-length: 0\r\n\r\n");
        assert!(parser.poll_request().unwrap().is_some());
        assert!(!parser.streaming());
        parser.feed(b"PUT /admin/accounts/a HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}");
        assert_eq!(parser.poll_request().unwrap().unwrap().body, b"{}");
        assert!(!parser.streaming());
        let mut sink = Vec::new();
        assert_eq!(
            parser.poll_body(&mut sink),
            Ok(BodyPoll::Done),
            "nothing to stream"
        );
    }

    #[test]
    fn streamed_uploads_keep_the_media_limit_and_chunk_rules() {
        let mut parser = Parser::new(limits()).with_streamed_uploads();
        parser.feed(b"PUT /media/x HTTP/1.1\r\ncontent-length: 1001\r\n\r\n");
        assert_eq!(parser.poll_request().unwrap_err().status, 413);
        let mut parser = Parser::new(limits()).with_streamed_uploads();
        parser.feed(b"PUT /media/x HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n");
        assert!(parser.poll_request().unwrap().is_some());
        let mut sink = Vec::new();
        parser.feed(b"3e8\r\n");
        assert_eq!(parser.poll_body(&mut sink), Ok(BodyPoll::More));
        parser.feed(&[b'x'; 1000]);
        parser.feed(b"\r\n1\r\n");
        let error = parser.poll_body(&mut sink).unwrap_err();
        assert_eq!((error.status, error.code), (413, "body_too_large"));
        assert_eq!(
            parser.poll_request().unwrap_err().status,
            413,
            "errors are sticky"
        );
        let mut parser = Parser::new(limits()).with_streamed_uploads();
        parser.feed(b"PUT /media/x HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabX");
        assert!(parser.poll_request().unwrap().is_some());
        assert_eq!(parser.poll_body(&mut sink).unwrap_err().status, 400);
    }

    #[test]
    #[should_panic(expected = "poll_body until the streamed upload")]
    fn polling_a_request_in_the_middle_of_a_streamed_body_is_a_bug() {
        let mut parser = Parser::new(limits()).with_streamed_uploads();
        parser.feed(b"PUT /media/x HTTP/1.1\r\ncontent-length: 3\r\n\r\n");
        assert!(parser.poll_request().unwrap().is_some());
        let _ = parser.poll_request();
    }

    /// One request as the proptest builds it: its bytes and what must come out.
    fn arb_request() -> impl Strategy<Value = (Vec<u8>, Request)> {
        let method = prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH"]);
        let path = "/[a-z0-9/._-]{0,12}";
        let query = prop::option::of("[a-z0-9=&%+]{0,12}");
        let headers = prop::collection::vec(("x-[a-z]{1,6}", "[ -~]{0,10}"), 0..4);
        let body = prop::collection::vec(any::<u8>(), 0..60);
        let chunked = any::<bool>();
        let splits = prop::collection::vec(1usize..20, 0..6);
        let version = prop::sample::select(vec!["1.0", "1.1"]);
        let connection = prop::sample::select(vec!["", "close", "keep-alive"]);
        (
            method, path, query, headers, body, chunked, splits, version, connection,
        )
            .prop_map(
                |(method, path, query, headers, body, chunked, splits, version, connection)| {
                    let chunked = chunked && version == "1.1";
                    let mut fields: Vec<(String, String)> = headers
                        .into_iter()
                        .map(|(n, v)| (n, v.trim_matches([' ', '\t']).to_string()))
                        .collect();
                    if !connection.is_empty() {
                        fields.push(("connection".into(), connection.into()));
                    }
                    if chunked {
                        fields.push(("transfer-encoding".into(), "chunked".into()));
                    } else if !body.is_empty() {
                        fields.push(("content-length".into(), body.len().to_string()));
                    }
                    let target = match &query {
                        Some(q) => format!("{path}?{q}"),
                        None => path.clone(),
                    };
                    let mut bytes = format!("{method} {target} HTTP/{version}\r\n").into_bytes();
                    for (n, v) in &fields {
                        bytes.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
                    }
                    bytes.extend_from_slice(b"\r\n");
                    if chunked {
                        let mut rest = &body[..];
                        for size in splits {
                            if rest.is_empty() {
                                break;
                            }
                            let (chunk, tail) = rest.split_at(size.min(rest.len()));
                            bytes.extend_from_slice(
                                format!("{:X};ext=1\r\n", chunk.len()).as_bytes(),
                            );
                            bytes.extend_from_slice(chunk);
                            bytes.extend_from_slice(b"\r\n");
                            rest = tail;
                        }
                        if !rest.is_empty() {
                            bytes.extend_from_slice(format!("{:x}\r\n", rest.len()).as_bytes());
                            bytes.extend_from_slice(rest);
                            bytes.extend_from_slice(b"\r\n");
                        }
                        bytes.extend_from_slice(b"0\r\ntrailer: t\r\n\r\n");
                    } else {
                        bytes.extend_from_slice(&body);
                    }
                    let keep_alive = match (version, connection) {
                        (_, "close") => false,
                        ("1.0", "keep-alive") => true,
                        ("1.0", _) => false,
                        _ => true,
                    };
                    let method = match method {
                        "GET" => Method::Get,
                        "POST" => Method::Post,
                        "PUT" => Method::Put,
                        "DELETE" => Method::Delete,
                        other => Method::Other(other.into()),
                    };
                    let req = Request {
                        method,
                        path,
                        query: query.unwrap_or_default(),
                        headers: fields.iter().cloned().collect(),
                        body,
                        keep_alive,
                    };
                    (bytes, req)
                },
            )
    }

    proptest! {
        #[test]
        fn random_splits_of_random_requests_yield_exactly_those_requests(
            requests in prop::collection::vec(arb_request(), 1..5),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let stream: Vec<u8> = requests.iter().flat_map(|(b, _)| b.clone()).collect();
            let want: Vec<Request> = requests.into_iter().map(|(_, r)| r).collect();
            let mut at: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
            at.push(0);
            at.push(stream.len());
            at.sort_unstable();
            let pieces: Vec<&[u8]> = at.windows(2).map(|w| &stream[w[0]..w[1]]).collect();
            prop_assert_eq!(parse_pieces(limits(), &pieces), Ok(want));
        }
    }
}
