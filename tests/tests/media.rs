//! `GET/PUT /media/{key}` against the real binary: round trips, ranges,
//! entity tags, key checks, limits, voicemail messages, and a crash in the
//! middle of an upload.

use serde_json::Value;
use sipbrain_core::media::wav;
use sipbrain_tests::demo::ACME;
use sipbrain_tests::media::{get, pattern, put, put_bytes, sha256_hex};
use sipbrain_tests::{calls, temp_dir, Client, Server, ADMIN_TOKEN, EDGE_TOKEN};
use std::path::Path;
use std::time::{Duration, Instant};

#[test]
fn an_upload_comes_back_with_its_type_length_and_entity_tag() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let body = wav::pcm16_mono(8000, 8000);
    let stored = put(&mut client, "system/en-US/male/welcome.wav", &body);
    assert_eq!(
        stored.status,
        201,
        "{}",
        String::from_utf8_lossy(&stored.body)
    );
    let json = stored.json();
    assert_eq!(json["ok"], true);
    assert_eq!(json["key"], "system/en-US/male/welcome.wav");
    assert_eq!(json["size"], body.len());
    assert_eq!(json["sha256"], sha256_hex(&body));
    let got = get(&mut client, "system/en-US/male/welcome.wav", &[]);
    assert_eq!(got.status, 200);
    assert_eq!(got.body, body);
    assert_eq!(got.header("content-type"), Some("audio/wav"));
    assert_eq!(got.header("accept-ranges"), Some("bytes"));
    let etag = got.header("etag").expect("an entity tag").to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    // Replaced by a new upload: new bytes, new tag.
    let other = pattern(5000);
    assert_eq!(
        put(&mut client, "system/en-US/male/welcome.wav", &other).status,
        201
    );
    let again = get(&mut client, "system/en-US/male/welcome.wav", &[]);
    assert_eq!(again.body, other);
    assert_ne!(again.header("etag"), Some(etag.as_str()));
    let file = server.data_dir.join("media/system/en-US/male/welcome.wav");
    assert_eq!(
        std::fs::read(file).unwrap(),
        other,
        "stored under <data-dir>/media"
    );
    let binary = get(&mut client, "nope", &[]);
    assert_eq!(binary.status, 404);
    assert_eq!(put(&mut client, "moh/song", &[1, 2, 3]).status, 201);
    assert_eq!(
        get(&mut client, "moh/song", &[]).header("content-type"),
        Some("application/octet-stream")
    );
}

#[test]
fn ranges_answer_206_416_or_the_whole_object() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let body = pattern(1000);
    assert_eq!(put(&mut client, "r/obj.bin", &body).status, 201);
    let range = |client: &mut Client, value: &str| get(client, "r/obj.bin", &[("range", value)]);
    let first = range(&mut client, "bytes=0-9");
    assert_eq!(first.status, 206);
    assert_eq!(first.body, &body[..10]);
    assert_eq!(first.header("content-range"), Some("bytes 0-9/1000"));
    assert_eq!(first.header("content-length"), Some("10"));
    let tail = range(&mut client, "bytes=990-");
    assert_eq!((tail.status, tail.body.as_slice()), (206, &body[990..]));
    let suffix = range(&mut client, "bytes=-5");
    assert_eq!((suffix.status, suffix.body.as_slice()), (206, &body[995..]));
    assert_eq!(suffix.header("content-range"), Some("bytes 995-999/1000"));
    let clipped = range(&mut client, "bytes=900-5000");
    assert_eq!(clipped.body, &body[900..]);
    let outside = range(&mut client, "bytes=1000-");
    assert_eq!(
        (outside.status, outside.code().as_str()),
        (416, "range_not_satisfiable")
    );
    assert_eq!(outside.header("content-range"), Some("bytes */1000"));
    for ignored in ["bytes=0-1,5-6", "bytes=9-2", "lines=1-2"] {
        let whole = range(&mut client, ignored);
        assert_eq!((whole.status, whole.body.len()), (200, 1000), "{ignored}");
    }
    let etag = get(&mut client, "r/obj.bin", &[])
        .header("etag")
        .unwrap()
        .to_string();
    let cached = get(&mut client, "r/obj.bin", &[("if-none-match", &etag)]);
    assert_eq!((cached.status, cached.body.len()), (304, 0));
    assert_eq!(cached.header("etag"), Some(etag.as_str()));
    let stale = get(
        &mut client,
        "r/obj.bin",
        &[("range", "bytes=0-0"), ("if-range", "\"old\"")],
    );
    assert_eq!(stale.status, 200, "a stale If-Range gets the whole object");
    let current = get(
        &mut client,
        "r/obj.bin",
        &[("range", "bytes=0-0"), ("if-range", &etag)],
    );
    assert_eq!(current.status, 206);
}

#[test]
fn keys_that_could_leave_the_store_or_are_malformed_are_400() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let long = "a/".repeat(200) + "x";
    for key in [
        "../etc/passwd",
        "a/../../b",
        "%2Fetc%2Fpasswd",
        "a%20b.wav",
        "a//b",
        ".tmp/x",
        "caf%C3%A9.wav",
        long.as_str(),
    ] {
        let reply = get(&mut client, key, &[]);
        assert_eq!(
            (reply.status, reply.code().as_str()),
            (400, "invalid_key"),
            "GET {key}"
        );
    }
    // An upload refused before its body is read closes the connection.
    let reply = put(&mut client, "..%2Fescape.wav", &pattern(100));
    assert_eq!((reply.status, reply.code().as_str()), (400, "invalid_key"));
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(client.is_closed());
    assert!(!server.data_dir.join("escape.wav").exists());
    let mut client = server.client();
    assert_eq!(
        get(&mut client, "a", &[]).status,
        404,
        "the server still serves"
    );
}

#[test]
fn uploads_past_the_media_limit_are_413_and_need_a_length() {
    let server = Server::demo(&["--media-body-bytes-max", "2048"]);
    let mut client = server.client();
    assert_eq!(put(&mut client, "ok.bin", &pattern(2048)).status, 201);
    let reply = put(&mut client, "big.bin", &pattern(2049));
    assert_eq!(
        (reply.status, reply.code().as_str()),
        (413, "body_too_large")
    );
    let mut client = server.client();
    client.send_raw(
        format!(
            "PUT /media/chunked.bin HTTP/1.1\r\nx-edge-token: {EDGE_TOKEN}\r\n\
             transfer-encoding: chunked\r\n\r\n800\r\n{}\r\n1\r\nx\r\n0\r\n\r\n",
            "y".repeat(2048)
        )
        .as_bytes(),
    );
    assert_eq!(
        client.read_reply().status,
        413,
        "chunks adding up past the limit"
    );
    let mut client = server.client();
    let reply = client.request(
        "PUT",
        "/media/nolength.bin",
        &[("x-edge-token", EDGE_TOKEN)],
        None,
    );
    assert_eq!(
        (reply.status, reply.code().as_str()),
        (411, "length_required")
    );
    for key in ["big.bin", "chunked.bin", "nolength.bin"] {
        assert_eq!(
            get(&mut client, key, &[]).status,
            404,
            "{key} was not stored"
        );
    }
    assert_eq!(
        leftovers(&server.data_dir.join("media/.tmp")),
        Vec::<String>::new()
    );
}

#[test]
fn chunked_pipelined_and_expect_continue_uploads_work() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let mut bytes = format!(
        "PUT /media/c/one.bin HTTP/1.1\r\nx-edge-token: {EDGE_TOKEN}\r\n\
         transfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n"
    )
    .into_bytes();
    bytes.extend_from_slice(&put_bytes("c/two.bin", b"second"));
    bytes.extend_from_slice(
        format!("GET /media/c/one.bin HTTP/1.1\r\nx-edge-token: {EDGE_TOKEN}\r\n\r\n").as_bytes(),
    );
    client.send_raw(&bytes);
    assert_eq!(client.read_reply().status, 201);
    assert_eq!(client.read_reply().status, 201);
    assert_eq!(client.read_reply().body, b"hello world");
    assert_eq!(get(&mut client, "c/two.bin", &[]).body, b"second");
    // Expect: 100-continue gets the interim reply once the gate passed.
    client.send_raw(
        format!(
            "PUT /media/c/three.bin HTTP/1.1\r\nx-edge-token: {EDGE_TOKEN}\r\n\
             expect: 100-continue\r\ncontent-length: 3\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(client.read_reply().status, 100);
    client.send_raw(b"abc");
    assert_eq!(client.read_reply().status, 201);
    assert_eq!(get(&mut client, "c/three.bin", &[]).body, b"abc");
    // A percent-encoded `/media` is the same endpoint (its body arrives
    // whole instead of streamed, under the JSON body limit).
    let mut encoded = put_bytes("c/four.bin", b"encoded");
    encoded.splice(4..10, b"/%6Dedia".iter().copied());
    client.send_raw(&encoded);
    assert_eq!(client.read_reply().status, 201);
    let reply = client.request(
        "GET",
        "/%6dedia/c/four.bin",
        &[("x-edge-token", EDGE_TOKEN)],
        None,
    );
    assert_eq!(reply.body, b"encoded");
}

#[test]
fn an_object_and_a_directory_cannot_share_a_key() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    assert_eq!(put(&mut client, "k/a/b.wav", b"x").status, 201);
    let over_dir = put(&mut client, "k/a", b"y");
    assert_eq!(
        (over_dir.status, over_dir.code().as_str()),
        (409, "key_conflict")
    );
    let mut client = server.client();
    assert_eq!(put(&mut client, "k/file", b"z").status, 201);
    let under_file = put(&mut client, "k/file/c.wav", b"w");
    assert_eq!(
        (under_file.status, under_file.code().as_str()),
        (409, "key_conflict")
    );
    let mut client = server.client();
    assert_eq!(
        get(&mut client, "k/a", &[]).status,
        404,
        "a directory is no object"
    );
    assert_eq!(
        leftovers(&server.data_dir.join("media/.tmp")),
        Vec::<String>::new()
    );
}

#[test]
fn the_media_dir_setting_moves_the_store() {
    let media = temp_dir("media-flag");
    let media_arg = media.to_string_lossy().into_owned();
    let server = Server::demo(&["--media-dir", &media_arg]);
    let mut client = server.client();
    assert_eq!(put(&mut client, "x/y.bin", b"moved").status, 201);
    assert_eq!(std::fs::read(media.join("x/y.bin")).unwrap(), b"moved");
    assert!(!server.data_dir.join("media/x").exists());
    drop(server);
    // The same from the config file, with the TTS command beside it.
    let config = media.join("sipbrain.toml");
    let store = media.join("from-file");
    let text = format!(
        "media_dir = {:?}\ntts_command = \"false {{out}} {{text}}\"\n",
        store.to_string_lossy()
    );
    std::fs::write(&config, text).unwrap();
    let server = Server::demo(&["--config", config.to_str().unwrap()]);
    let mut client = server.client();
    assert_eq!(put(&mut client, "x/y.bin", b"filed").status, 201);
    assert_eq!(std::fs::read(store.join("x/y.bin")).unwrap(), b"filed");
    let path = "/admin/tts/generate?lang=en-US&gender=male&ids=welcome";
    let tts = client.request("POST", path, &[("x-admin-token", ADMIN_TOKEN)], None);
    assert_eq!(
        tts.json()["failed"][0]["key"],
        "system/en-US/male/welcome.wav"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(media);
}

/// Routes an inbound call to Acme's main number (it lands on voicemail or
/// the IVR depending on the hour; either way the brain knows the call).
fn route_inbound(client: &mut Client, call_id: &str) {
    let body = serde_json::json!({
        "callId": call_id, "from": "+1-415-555-1234", "fromDomain": "carrier.example",
        "to": "+12025550123", "sourceIp": "203.0.113.10", "node": "edge-1",
    });
    let reply = client.request(
        "POST",
        "/route",
        &[("x-edge-token", EDGE_TOKEN)],
        Some(&body),
    );
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
}

fn voicemails(client: &mut Client) -> Vec<Value> {
    let path = format!("/admin/voicemail?accountId={ACME}");
    let reply = client.request("GET", &path, &[("x-admin-token", ADMIN_TOKEN)], None);
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()["messages"].as_array().unwrap().clone()
}

#[test]
fn a_voicemail_upload_records_a_message_on_the_account_and_the_call() {
    let data = temp_dir("voicemail");
    let server = Server::start_in(&data, &demo_args());
    let mut client = server.client();
    route_inbound(&mut client, "vm-call-1");
    let recording = wav::pcm16_mono(8000, 12_000);
    let key = format!("{ACME}/vm/vm-call-1.wav");
    let stored = put(&mut client, &key, &recording);
    assert_eq!(
        stored.status,
        201,
        "{}",
        String::from_utf8_lossy(&stored.body)
    );
    let message = &stored.json()["voicemail"];
    assert_eq!(message["callId"], "vm-call-1");
    assert_eq!(message["durationMs"], 1500);
    assert_eq!(message["from"], "14155551234");
    assert_eq!(message["sha256"], sha256_hex(&recording));
    let listed = voicemails(&mut client);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["key"], key.as_str());
    let trace = calls::trace(&mut client, "vm-call-1");
    let entry = trace["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["source"] == "media")
        .expect("a media entry in the trace")
        .clone();
    assert_eq!(entry["type"], "voicemail");
    assert_eq!(entry["data"]["durationMs"], 1500);
    // Without a known call the message is recorded all the same.
    assert_eq!(
        put(&mut client, &format!("{ACME}/vm/unrouted.wav"), &recording).status,
        201
    );
    assert_eq!(
        voicemails(&mut client)[0]["callId"],
        "unrouted",
        "newest first"
    );
    // Not a WAV, or an unknown account: refused, nothing stored.
    let junk = put(
        &mut client,
        &format!("{ACME}/vm/junk.wav"),
        b"not a wav at all",
    );
    assert_eq!((junk.status, junk.code().as_str()), (422, "invalid_media"));
    assert_eq!(
        get(&mut client, &format!("{ACME}/vm/junk.wav"), &[]).status,
        404
    );
    let mut client = server.client();
    let unknown = put(&mut client, "acc_nobody/vm/c1.wav", &recording);
    assert_eq!(
        (unknown.status, unknown.code().as_str()),
        (404, "unknown_account")
    );
    // The messages are durable: a kill -9 and a graceful restart keep them.
    server.kill9();
    let server = Server::start_in(&data, &demo_args());
    assert_eq!(voicemails(&mut server.client()).len(), 2);
    assert_eq!(server.terminate().code(), Some(0));
    let mut server = Server::start_in(&data, &demo_args());
    assert_eq!(voicemails(&mut server.client()).len(), 2);
    // Re-partitioned to one shard and back: each message once, the trace
    // entry once.
    for shards in ["1", "2"] {
        server.kill9();
        let mut args = demo_args();
        args.extend(["--shards", shards]);
        let restarted = Server::start_in(&data, &args);
        let mut client = restarted.client();
        assert_eq!(voicemails(&mut client).len(), 2, "--shards {shards}");
        let trace = calls::trace(&mut client, "vm-call-1");
        let media = trace["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["source"] == "media");
        assert_eq!(media.count(), 1, "--shards {shards}: {trace}");
        server = restarted;
    }
    drop(server);
    let _ = std::fs::remove_dir_all(data);
}

fn demo_args() -> Vec<&'static str> {
    vec![
        "--demo",
        "--admin-token",
        ADMIN_TOKEN,
        "--edge-token",
        EDGE_TOKEN,
    ]
}

/// File names in a directory (sorted; empty when it does not exist).
fn leftovers(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Every file below `dir`, relative, skipping `.tmp`.
fn objects(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = format!("{prefix}{name}");
        if entry.file_type().unwrap().is_dir() {
            if path != ".tmp" {
                objects(&entry.path(), &format!("{path}/"), out);
            }
        } else {
            out.push(path);
        }
    }
}

#[test]
fn a_crash_in_the_middle_of_an_upload_leaves_no_object() {
    let data = temp_dir("media-crash");
    let server = Server::start_in(&data, &demo_args());
    let mut client = server.client();
    assert_eq!(
        put(&mut client, "keep/done.bin", &pattern(10_000)).status,
        201
    );
    // 8 MiB announced, 1 MiB sent, then the process dies.
    let mut head = format!(
        "PUT /media/crash/partial.bin HTTP/1.1\r\nx-edge-token: {EDGE_TOKEN}\r\n\
         content-length: {}\r\n\r\n",
        8 << 20
    )
    .into_bytes();
    head.extend_from_slice(&pattern(1 << 20));
    let mut uploader = server.client();
    uploader.send_raw(&head);
    let temp = data.join("media/.tmp");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let written: u64 = std::fs::read_dir(&temp)
            .unwrap()
            .flatten()
            .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
            .sum();
        if written >= 1 << 20 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the upload never reached the temp file"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    server.kill9();
    assert_eq!(
        leftovers(&temp).len(),
        1,
        "the killed upload's temp file is there"
    );
    let server = Server::start_in(&data, &demo_args());
    assert_eq!(
        leftovers(&temp),
        Vec::<String>::new(),
        "temp files are removed at start"
    );
    let mut client = server.client();
    assert_eq!(get(&mut client, "crash/partial.bin", &[]).status, 404);
    assert_eq!(get(&mut client, "keep/done.bin", &[]).body, pattern(10_000));
    let mut found = Vec::new();
    objects(&data.join("media"), "", &mut found);
    assert_eq!(found, ["keep/done.bin"], "no partial object anywhere");
    drop(server);
    let _ = std::fs::remove_dir_all(data);
}

#[test]
fn an_upload_is_gated_before_its_body_is_read() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let mut request = b"PUT /media/gated.bin HTTP/1.1\r\ncontent-length: 5\r\n\r\nhello".to_vec();
    client.send_raw(&request);
    let reply = client.read_reply();
    assert_eq!(
        (reply.status, reply.header("connection")),
        (401, Some("close"))
    );
    let server = Server::demo(&["--media-cidrs", "10.1.0.0/16"]);
    let mut client = server.client();
    request = put_bytes("gated.bin", b"hello");
    client.send_raw(&request);
    assert_eq!(
        client.read_reply().status,
        403,
        "loopback is outside the list"
    );
    assert!(!server.data_dir.join("media/gated.bin").exists());
}
