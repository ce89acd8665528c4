//! `GET /media/{key}` and `PUT /media/{key}`: everything about them but
//! the bytes, which the runtime streams from and to its object store; and
//! the voicemail messages that uploads to `<account>/vm/<callId>.wav`
//! leave on the account (`GET /admin/voicemail?accountId=`).
//!
//! ```text
//! GET /media/system/en-US/male/welcome.wav      range: bytes=0-1023
//! -> 206 content-type: audio/wav, etag, accept-ranges: bytes,
//!        content-range: bytes 0-1023/48044, then the bytes
//! PUT /media/acc_acme/vm/call-1.wav             content-length: 16044
//! -> 201 {"ok":true,"key":"acc_acme/vm/call-1.wav","size":16044,"sha256":"…",
//!         "voicemail":{"callId":"call-1","durationMs":1000,…}}
//! ```
//!
//! Entity tags are `"<size>-<mtime ns>-<inode>"` in hex ([`etag`]): an
//! object is only ever replaced by a rename, which gives it a new inode
//! and modification time, so the tag changes with every upload without
//! hashing the object on each read.

use super::error::{ok, ApiError};
use crate::directory::Directory;
use crate::event::Event;
use crate::http::{Request, Response};
use crate::media::key::{self, VoicemailKey};
use crate::media::mime;
use crate::media::range::{self, Span};
use crate::media::voicemail::VoicemailMessage;
use crate::shard::{Decision, Shard};
use crate::time::Millis;
use serde_json::{json, Value};

/// A media request, routed, gated and checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaOp {
    Get(MediaGet),
    Put(MediaPut),
}

/// `GET /media/{key}` with the headers that shape the answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaGet {
    pub key: String,
    pub range: Option<String>,
    pub if_range: Option<String>,
    pub if_none_match: Option<String>,
}

/// `PUT /media/{key}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaPut {
    pub key: String,
    /// Set for `<account>/vm/<callId>.wav` of a known account.
    pub voicemail: Option<VoicemailKey>,
}

/// A checked key, or 400 `invalid_key` saying why.
fn checked(key: String) -> Result<String, ApiError> {
    match key::check(&key) {
        Ok(()) => Ok(key),
        Err(why) => Err(ApiError::new(400, "invalid_key", why)),
    }
}

/// Decodes `GET /media/{key}`.
pub fn decode_get(req: &Request, key: String) -> Result<MediaOp, ApiError> {
    let header = |name: &str| req.header(name).map(str::to_string);
    Ok(MediaOp::Get(MediaGet {
        key: checked(key)?,
        range: header("range"),
        if_range: header("if-range"),
        if_none_match: header("if-none-match"),
    }))
}

/// Decodes `PUT /media/{key}`. A voicemail key must name a known
/// account (404 `unknown_account` before any byte is stored). An upload
/// must say how long it is: `content-length` or chunked (411 otherwise).
pub fn decode_put(req: &Request, key: String, directory: &Directory) -> Result<MediaOp, ApiError> {
    let key = checked(key)?;
    let framed =
        req.header("content-length").is_some() || req.header("transfer-encoding").is_some();
    if !framed {
        return Err(ApiError::new(
            411,
            "length_required",
            "an upload needs content-length (or transfer-encoding: chunked)",
        ));
    }
    let voicemail =
        key::voicemail(&key).filter(|vm| super::admin::check_account_id(&vm.account_id).is_ok());
    if let Some(vm) = &voicemail {
        if !directory.contains(&vm.account_id) {
            return Err(ApiError::new(
                404,
                "unknown_account",
                format!("voicemail upload for unknown account {}", vm.account_id),
            ));
        }
    }
    Ok(MediaOp::Put(MediaPut { key, voicemail }))
}

/// The entity tag of an object: its size, modification time (ns since the
/// epoch) and inode, in hex.
pub fn etag(size: u64, mtime_ns: u128, inode: u64) -> String {
    format!("\"{size:x}-{mtime_ns:x}-{inode:x}\"")
}

/// How to answer a GET of an object of `size` bytes tagged `etag`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetPlan {
    /// The reply; when `span` is set its body is empty and the head
    /// announces `span.1` bytes, which the runtime streams from the object.
    pub response: Response,
    /// (first byte, length) of the object to send after the head.
    pub span: Option<(u64, u64)>,
}

/// Plans the answer to a GET: 304 when `If-None-Match` holds the tag, 416
/// for an unsatisfiable range, 206 for a range, else 200.
pub fn plan_get(get: &MediaGet, size: u64, etag: &str) -> GetPlan {
    let mut headers = vec![
        ("etag", etag.to_string()),
        ("accept-ranges", "bytes".to_string()),
    ];
    let content_type = mime::content_type(&get.key);
    let reply = |status: u16, headers: Vec<(&'static str, String)>| Response {
        status,
        content_type,
        headers,
        body: Vec::new(),
    };
    if get
        .if_none_match
        .as_deref()
        .is_some_and(|tags| range::none_match(tags, etag))
    {
        return GetPlan {
            response: reply(304, headers),
            span: None,
        };
    }
    match range::resolve(get.range.as_deref(), get.if_range.as_deref(), etag, size) {
        Span::Full => GetPlan {
            response: reply(200, headers),
            span: Some((0, size)),
        },
        Span::Partial { start, end } => {
            headers.push(("content-range", format!("bytes {start}-{end}/{size}")));
            GetPlan {
                response: reply(206, headers),
                span: Some((start, end - start + 1)),
            }
        }
        Span::Unsatisfiable => {
            let error = ApiError::new(
                416,
                "range_not_satisfiable",
                format!("the range is outside the object ({size} bytes)"),
            )
            .with_header("content-range", format!("bytes */{size}"));
            let mut response = error.to_response();
            response.headers.extend(headers);
            GetPlan {
                response,
                span: None,
            }
        }
    }
}

/// 404 for a key with no object.
pub fn not_found(key: &str) -> ApiError {
    ApiError::new(404, "not_found", format!("no object {key}"))
}

/// The 201 reply of a stored object (with the voicemail message, if any).
pub fn stored(key: &str, size: u64, sha256: &str, voicemail: Option<Value>) -> Response {
    let mut body = json!({"ok": true, "key": key, "size": size, "sha256": sha256});
    if let Some(message) = voicemail {
        body["voicemail"] = message;
    }
    Response::json(201, &body)
}

/// What the runtime reports once a voicemail upload is durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoicemailUpload {
    pub account_id: String,
    pub call_id: String,
    pub key: String,
    pub size_bytes: u64,
    pub duration_ms: u64,
    pub sha256: String,
}

/// Records a voicemail message on the account (and in the call's trace,
/// when this shard has the call).
pub fn decide_voicemail(shard: &Shard, now: Millis, upload: &VoicemailUpload) -> Decision {
    if !shard.directory().contains(&upload.account_id) {
        let error = ApiError::new(
            404,
            "unknown_account",
            format!(
                "no account {} (stored, but no message recorded)",
                upload.account_id
            ),
        );
        return Decision::reply(error.to_response());
    }
    let from = shard
        .call(&upload.call_id)
        .filter(|record| record.start.account_id == upload.account_id)
        .map(|record| record.start.from.clone());
    let message = VoicemailMessage {
        account_id: upload.account_id.clone(),
        call_id: upload.call_id.clone(),
        key: upload.key.clone(),
        size_bytes: upload.size_bytes,
        duration_ms: upload.duration_ms,
        sha256: upload.sha256.clone(),
        at: now,
        from,
    };
    Decision {
        reply: ok(json!({"voicemail": message.to_json()})),
        events: vec![Event::VoicemailRecorded(Box::new(message))],
    }
}

/// `GET /admin/voicemail?accountId=`: the account's messages, newest first.
pub fn decide_list(shard: &Shard, account_id: &str) -> Decision {
    if !shard.directory().contains(account_id) {
        let error = ApiError::new(404, "unknown_account", format!("no account {account_id}"));
        return Decision::reply(error.to_response());
    }
    let messages: Vec<Value> = shard
        .voicemails()
        .of(account_id)
        .rev()
        .map(VoicemailMessage::to_json)
        .collect();
    Decision::reply(ok(json!({"accountId": account_id, "messages": messages})))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Method;

    fn get(headers: &[(&str, &str)]) -> MediaGet {
        let req = Request {
            method: Method::Get,
            path: "/media/a.wav".into(),
            query: String::new(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: Vec::new(),
            keep_alive: true,
        };
        match decode_get(&req, "a.wav".into()).unwrap() {
            MediaOp::Get(get) => get,
            MediaOp::Put(_) => unreachable!("a GET"),
        }
    }

    #[test]
    fn a_get_is_planned_from_its_headers() {
        let tag = etag(100, 5, 7);
        assert_eq!(tag, "\"64-5-7\"");
        let full = plan_get(&get(&[]), 100, &tag);
        assert_eq!((full.response.status, full.span), (200, Some((0, 100))));
        assert_eq!(full.response.content_type, "audio/wav");
        assert!(full.response.headers.contains(&("etag", tag.clone())));
        let part = plan_get(&get(&[("range", "bytes=10-19")]), 100, &tag);
        assert_eq!((part.response.status, part.span), (206, Some((10, 10))));
        assert!(part
            .response
            .headers
            .contains(&("content-range", "bytes 10-19/100".into())));
        let cached = plan_get(&get(&[("if-none-match", &tag)]), 100, &tag);
        assert_eq!((cached.response.status, cached.span), (304, None));
        let outside = plan_get(&get(&[("range", "bytes=100-")]), 100, &tag);
        assert_eq!((outside.response.status, outside.span), (416, None));
        assert!(outside
            .response
            .headers
            .contains(&("content-range", "bytes */100".into())));
    }

    #[test]
    fn bad_keys_are_400_with_the_reason() {
        let req = Request {
            method: Method::Get,
            path: String::new(),
            query: String::new(),
            headers: Default::default(),
            body: Vec::new(),
            keep_alive: true,
        };
        let error = decode_get(&req, "../x".into()).unwrap_err();
        assert_eq!((error.status, error.code), (400, "invalid_key"));
    }
}
