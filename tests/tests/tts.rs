//! `POST /admin/tts/generate` with the real espeak-ng (installed by
//! `scripts/deps.sh`, which `scripts/test.sh` runs): WAV files with sane
//! headers and durations, skipping and forcing, and the answers when the
//! engine is missing or fails.

use serde_json::Value;
use sipbrain_core::media::wav;
use sipbrain_tests::media::get;
use sipbrain_tests::{binary, temp_dir, Client, Reply, Server, ADMIN_TOKEN};

fn generate(client: &mut Client, query: &str) -> Reply {
    let path = format!("/admin/tts/generate?{query}");
    client.request("POST", &path, &[("x-admin-token", ADMIN_TOKEN)], None)
}

fn keys(reply: &Value, list: &str) -> Vec<String> {
    reply[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {reply}"))
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect()
}

fn require_espeak() {
    let found = std::process::Command::new("espeak-ng")
        .arg("--version")
        .output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "espeak-ng is missing: run scripts/deps.sh (scripts/test.sh does)"
    );
}

#[test]
fn one_language_and_gender_become_ten_real_wav_prompts() {
    require_espeak();
    let server = Server::demo(&[]);
    let mut client = server.client();
    let reply = generate(&mut client, "lang=en-US&gender=female");
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let json = reply.json();
    assert_eq!(json["failed"], serde_json::json!([]));
    let generated = keys(&json, "generated");
    assert_eq!(generated.len(), 10);
    assert_eq!(generated[0], "system/en-US/female/welcome.wav");
    for key in &generated {
        let object = get(&mut client, key, &[]);
        assert_eq!(object.status, 200, "{key}");
        assert_eq!(object.header("content-type"), Some("audio/wav"));
        assert_eq!(&object.body[0..4], b"RIFF");
        assert_eq!(&object.body[8..12], b"WAVE");
        let info = wav::parse(&object.body, object.body.len() as u64).unwrap();
        assert_eq!(
            (info.format, info.channels, info.bits_per_sample),
            (1, 1, 16)
        );
        assert_eq!(
            info.data_offset + info.data_bytes,
            object.body.len() as u64,
            "{key}"
        );
        let duration = info.duration_ms();
        assert!(
            (700..15_000).contains(&duration),
            "{key} lasts {duration} ms"
        );
    }
    // Existing prompts are skipped unless forced.
    let again = generate(&mut client, "lang=en-US&gender=female").json();
    assert_eq!(
        (
            keys(&again, "generated").len(),
            keys(&again, "skipped").len()
        ),
        (0, 10)
    );
    let before = get(&mut client, "system/en-US/female/goodbye.wav", &[]);
    let body =
        serde_json::json!({"lang": "en-US", "gender": "female", "ids": ["goodbye"], "force": 1});
    let forced = client.request(
        "POST",
        "/admin/tts/generate",
        &[("x-admin-token", ADMIN_TOKEN)],
        Some(&body),
    );
    assert_eq!(
        keys(&forced.json(), "generated"),
        ["system/en-US/female/goodbye.wav"]
    );
    let after = get(&mut client, "system/en-US/female/goodbye.wav", &[]);
    assert_ne!(before.header("etag"), after.header("etag"), "rewritten");
}

#[test]
fn every_language_reads_its_welcome_with_both_voices() {
    require_espeak();
    let server = Server::demo(&[]);
    let mut client = server.client();
    let reply = generate(&mut client, "ids=welcome");
    let json = reply.json();
    assert_eq!(json["failed"], serde_json::json!([]), "{json}");
    let generated = keys(&json, "generated");
    assert_eq!(generated.len(), 32);
    let mut durations = std::collections::BTreeMap::new();
    for key in &generated {
        let object = get(&mut client, key, &[]);
        let info = wav::parse(&object.body, object.body.len() as u64).unwrap();
        durations.insert(key.clone(), info.duration_ms());
    }
    for (key, ms) in &durations {
        assert!((700..15_000).contains(ms), "{key} lasts {ms} ms");
    }
    let male = get(&mut client, "system/he-IL/male/welcome.wav", &[]).body;
    let female = get(&mut client, "system/he-IL/female/welcome.wav", &[]).body;
    assert_ne!(male, female, "two voices");
}

#[test]
fn a_missing_engine_is_503_with_how_to_install_it() {
    let server = Server::demo(&[
        "--tts-command",
        "/nonexistent/espeak-ng -v {voice} -w {out} {text}",
    ]);
    let mut client = server.client();
    let reply = generate(&mut client, "lang=en-US&gender=male");
    assert_eq!(
        (reply.status, reply.code().as_str()),
        (503, "tts_unavailable")
    );
    let message = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("apt-get install -y espeak-ng"),
        "{message}"
    );
    let tmp = server.data_dir.join("media/.tmp");
    assert_eq!(std::fs::read_dir(tmp).unwrap().count(), 0);
}

#[test]
fn a_failing_engine_is_reported_prompt_by_prompt() {
    let server = Server::demo(&["--tts-command", "false {out} {text}"]);
    let mut client = server.client();
    let reply = generate(&mut client, "lang=de-DE&gender=male&ids=welcome,goodbye");
    assert_eq!(reply.status, 200);
    let json = reply.json();
    let failed = json["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 2, "{json}");
    assert_eq!(failed[0]["key"], "system/de-DE/male/welcome.wav");
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("false failed"),
        "{json}"
    );
    assert_eq!(
        get(&mut client, "system/de-DE/male/welcome.wav", &[]).status,
        404
    );
}

#[test]
fn unknown_languages_genders_and_ids_are_422() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    for query in ["lang=en-GB", "gender=robot", "ids=welcome,hello"] {
        let reply = generate(&mut client, query);
        assert_eq!(
            (reply.status, reply.code().as_str()),
            (422, "invalid"),
            "{query}"
        );
    }
    assert_eq!(generate(&mut client, "force=perhaps").status, 400);
    let unauthorized = client.request("POST", "/admin/tts/generate", &[], None);
    assert_eq!(unauthorized.status, 401);
}

#[test]
fn a_bad_command_template_stops_the_server_at_start() {
    let data = temp_dir("tts-template");
    let output = std::process::Command::new(binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .args(["--tts-command", "espeak-ng -v {voice} {text}"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("tts_command: the TTS command needs {out}"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(data);
}
