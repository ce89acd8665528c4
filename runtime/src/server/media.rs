//! `GET/PUT /media/{key}` on a connection: the bytes go between the socket
//! and the store in chunks, never whole in memory. The connection loop
//! (`conn.rs`) hands over any request [`intercepts`] says is media.
//!
//! A PUT's body is streamed by the parser (`Parser::with_streamed_uploads`)
//! into a temp file, which becomes the object only once it is complete and
//! fsynced. An answer given before the body was read closes the
//! connection (the unread body cannot be told from the next request).

use super::node::Node;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use sha2::{Digest, Sha256};
use sipbrain_core::api::media::{self as api_media, MediaGet, MediaOp, MediaPut, VoicemailUpload};
use sipbrain_core::api::{route_table, ApiError, Call, Endpoint, Prepared};
use sipbrain_core::http::{BodyPoll, HttpError, Parser, Request, Response};
use sipbrain_core::limits::{MEDIA_IO_CHUNK_BYTES, WAV_HEADER_BYTES_MAX};
use sipbrain_core::media::wav;
use std::io;
use std::net::IpAddr;

use crate::media::store::{CommitError, Upload};

/// True when the connection must hand this request to [`serve`]: a media
/// endpoint, or an upload whose body the parser is streaming.
pub fn intercepts(parser: &Parser, req: &Request) -> bool {
    if parser.streaming() {
        return true;
    }
    // Cheap for every other path; the router decides for `/media/…` and
    // percent-encoded first segments.
    let first = req
        .path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("");
    if first != "media" && !first.contains('%') {
        return false;
    }
    matches!(
        route_table::route(&req.method, &req.path),
        Ok(Endpoint::MediaGet { .. } | Endpoint::MediaPut { .. })
    )
}

/// Serves one media request; `Ok(false)` when the connection must close.
pub async fn serve(
    node: &Node,
    stream: &mut TcpStream,
    parser: &mut Parser,
    req: Request,
    peer: IpAddr,
) -> io::Result<bool> {
    node.in_flight.set(node.in_flight.get() + 1);
    let result = serve_request(node, stream, parser, req, peer).await;
    node.in_flight.set(node.in_flight.get() - 1);
    result
}

async fn serve_request(
    node: &Node,
    stream: &mut TcpStream,
    parser: &mut Parser,
    req: Request,
    peer: IpAddr,
) -> io::Result<bool> {
    let keep_alive = req.keep_alive && !node.stopping();
    let op = match node.prepare(&req, peer).1 {
        Prepared::Media(op) => *op,
        Prepared::Reply(response) => return answer(stream, parser, &response, keep_alive).await,
        _ => {
            let error = ApiError::new(500, "internal", "not a media request");
            return answer(stream, parser, &error.to_response(), false).await;
        }
    };
    if !node.is_ready() {
        let error = ApiError::new(503, "not_ready", "recovery in progress");
        return answer(stream, parser, &error.to_response(), keep_alive).await;
    }
    match op {
        MediaOp::Get(get) => serve_get(node, stream, &get, keep_alive).await,
        MediaOp::Put(put) => serve_put(node, stream, parser, req, &put, keep_alive).await,
    }
}

/// Writes a whole reply; closes instead of keeping alive when the
/// request's body is still unread.
async fn answer(
    stream: &mut TcpStream,
    parser: &Parser,
    response: &Response,
    keep_alive: bool,
) -> io::Result<bool> {
    let keep_alive = keep_alive && !parser.streaming();
    let mut out = Vec::new();
    response.encode(keep_alive, &mut out);
    stream.write_all(&out).await?;
    Ok(keep_alive)
}

async fn serve_get(
    node: &Node,
    stream: &mut TcpStream,
    get: &MediaGet,
    keep_alive: bool,
) -> io::Result<bool> {
    let object = match node.media.open(&get.key).await {
        Ok(Some(object)) => object,
        Ok(None) => {
            let response = api_media::not_found(&get.key).to_response();
            return write(stream, &response, keep_alive).await;
        }
        Err(error) => return write(stream, &store_failed(&error), keep_alive).await,
    };
    let plan = api_media::plan_get(get, object.size, &object.etag);
    let Some((start, length)) = plan.span else {
        object.close().await;
        return write(stream, &plan.response, keep_alive).await;
    };
    let mut head = Vec::new();
    plan.response.encode_head(keep_alive, length, &mut head);
    stream.write_all(&head).await?;
    let (mut at, end) = (start, start + length);
    while at < end {
        let want = (end - at).min(MEDIA_IO_CHUNK_BYTES as u64) as usize;
        let chunk = match object.read(at, want).await {
            Ok(chunk) if !chunk.is_empty() => chunk,
            // The head promised more than the file gives: all that is
            // left is to end the connection.
            _ => {
                object.close().await;
                return Ok(false);
            }
        };
        at += chunk.len() as u64;
        stream.write_all(&chunk).await?;
    }
    object.close().await;
    Ok(keep_alive)
}

async fn write(stream: &mut TcpStream, response: &Response, keep_alive: bool) -> io::Result<bool> {
    let mut out = Vec::new();
    response.encode(keep_alive, &mut out);
    stream.write_all(&out).await?;
    Ok(keep_alive)
}

fn store_failed(error: &io::Error) -> Response {
    ApiError::new(
        503,
        "media_store_failed",
        format!("the media store failed: {error}"),
    )
    .to_response()
}

/// What the body of an upload came to.
struct Received {
    sha256: String,
    /// Its first `WAV_HEADER_BYTES_MAX` bytes.
    head: Vec<u8>,
}

/// Why an upload's body was not received.
enum Abort {
    /// The client went away: nothing to answer.
    Closed,
    /// The body broke the HTTP rules (413, 400): answered, then closed.
    Http(HttpError),
    /// The temp file could not be written.
    Store(io::Error),
}

async fn serve_put(
    node: &Node,
    stream: &mut TcpStream,
    parser: &mut Parser,
    req: Request,
    put: &MediaPut,
    keep_alive: bool,
) -> io::Result<bool> {
    let mut upload = match node.media.upload().await {
        Ok(upload) => upload,
        Err(error) => return answer(stream, parser, &store_failed(&error), keep_alive).await,
    };
    let expects_continue = req
        .header("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    if parser.streaming() && expects_continue {
        stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
    }
    let received = receive(stream, parser, req.body, &mut upload).await;
    let received = match received {
        Ok(received) => received,
        Err(abort) => {
            node.media.discard(upload).await;
            return match abort {
                Abort::Closed => Ok(false),
                Abort::Http(error) => {
                    let response = ApiError::new(error.status, error.code, error.message);
                    write(stream, &response.to_response(), false)
                        .await
                        .map(|_| false)
                }
                Abort::Store(error) => write(stream, &store_failed(&error), false).await,
            };
        }
    };
    let size = upload.written;
    let response = match &put.voicemail {
        None => commit(node, upload, &put.key, size, &received, None).await,
        Some(vm) => match wav::parse(&received.head, size) {
            Err(why) => {
                node.media.discard(upload).await;
                let message = format!("a voicemail upload must be a WAV file: {why}");
                ApiError::new(422, "invalid_media", message).to_response()
            }
            Ok(info) => {
                let voicemail = VoicemailUpload {
                    account_id: vm.account_id.clone(),
                    call_id: vm.call_id.clone(),
                    key: put.key.clone(),
                    size_bytes: size,
                    duration_ms: info.duration_ms(),
                    sha256: received.sha256.clone(),
                };
                commit(node, upload, &put.key, size, &received, Some(voicemail)).await
            }
        },
    };
    write(stream, &response, keep_alive).await
}

/// Makes the upload the object, then (voicemail) records the message:
/// its event is durable before the 201 leaves.
async fn commit(
    node: &Node,
    upload: Upload,
    key: &str,
    size: u64,
    received: &Received,
    voicemail: Option<VoicemailUpload>,
) -> Response {
    match node.media.commit(upload, key).await {
        Ok(()) => {}
        Err(CommitError::Conflict(why)) => {
            return ApiError::new(409, "key_conflict", why).to_response();
        }
        Err(CommitError::Io(error)) => return store_failed(&error),
    }
    let mut message = None;
    if let Some(voicemail) = voicemail {
        let reply = node
            .dispatch(Call::VoicemailStored(Box::new(voicemail)))
            .await;
        if reply.status != 200 {
            return reply;
        }
        let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
        message = Some(body["voicemail"].clone());
    }
    api_media::stored(key, size, &received.sha256, message)
}

/// Moves the body into the temp file: `buffered` (a body the parser
/// already read whole) or the streamed body, read from the socket as it
/// arrives.
async fn receive(
    stream: &mut TcpStream,
    parser: &mut Parser,
    buffered: Vec<u8>,
    upload: &mut Upload,
) -> Result<Received, Abort> {
    let mut hasher = Sha256::new();
    let mut head = Vec::new();
    let mut take = |bytes: &[u8], head: &mut Vec<u8>| {
        hasher.update(bytes);
        let room = WAV_HEADER_BYTES_MAX.saturating_sub(head.len());
        head.extend_from_slice(&bytes[..room.min(bytes.len())]);
    };
    take(&buffered, &mut head);
    upload.write(buffered).await.map_err(Abort::Store)?;
    let mut socket = vec![0u8; MEDIA_IO_CHUNK_BYTES];
    while parser.streaming() {
        let mut chunk = Vec::with_capacity(MEDIA_IO_CHUNK_BYTES);
        let poll = parser.poll_body(&mut chunk).map_err(Abort::Http)?;
        take(&chunk, &mut head);
        upload.write(chunk).await.map_err(Abort::Store)?;
        if poll == BodyPoll::Done {
            break;
        }
        let read = stream.read(&mut socket).await.map_err(|_| Abort::Closed)?;
        if read == 0 {
            return Err(Abort::Closed);
        }
        parser.feed(&socket[..read]);
    }
    let sha256 = hex::encode(hasher.finalize());
    Ok(Received { sha256, head })
}
