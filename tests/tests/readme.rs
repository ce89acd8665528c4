//! The README's first session works as pasted: run its commands (with the
//! address of a fresh server) and check what they print.

use sipbrain_tests::Server;
use std::path::Path;

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap()
}

/// The arguments after `serve` in the README's run command.
fn serve_args(readme: &str) -> Vec<String> {
    let line = readme
        .lines()
        .find(|l| l.starts_with("cargo run --release -p sipbrain -- serve"))
        .expect("the README starts with the run command");
    line.split_whitespace()
        .skip(7)
        .map(str::to_string)
        .collect()
}

/// Runs the first ```sh block after `heading` against a fresh server
/// started with the README's run command; its output lines.
fn run_block(heading: &str) -> String {
    let text = readme();
    let args = serve_args(&text);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start(&args);
    let script = block_after(&text, heading).replace("localhost:8080", &server.addr.to_string());
    let output = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The first ```sh block after a heading.
fn block_after(readme: &str, heading: &str) -> String {
    let rest = &readme[readme.find(heading).expect("heading")..];
    let start = rest.find("```sh\n").expect("a sh block") + 6;
    let end = rest[start..].find("```").expect("block end");
    rest[start..start + end].to_string()
}

#[test]
fn the_first_session_works_as_pasted() {
    let text = readme();
    let args = serve_args(&text);
    assert!(args.contains(&"--demo".to_string()), "{args:?}");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start(&args);
    let script = block_after(&text, "## A first session")
        .replace("localhost:8080", &server.addr.to_string());
    let output = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines.iter().any(|l| l.contains("\"status\":\"ready\"")),
        "{stdout}"
    );
    assert!(
        lines.iter().any(|l| l.contains("\"code\":\"challenge\"")),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("{\"ok\":true,\"account_id\":\"acc_acme\"")),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"code\":\"nonce_replay\"")),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"code\":\"invalid_credentials\"")),
        "{stdout}"
    );
    assert!(
        lines.iter().any(|l| l.contains("\"account\":{")),
        "{stdout}"
    );
}

#[test]
fn the_routing_session_works_as_pasted() {
    let stdout = run_block("## Routing calls");
    let lines: Vec<&str> = stdout.lines().collect();
    let expect = [
        "\"device_id\":\"dev_bob\",\"reachable\":true,\"contacts\":1",
        "\"action\":\"proxy\"",
        "\"uri\":\"sip:1002@198.51.100.9:5062\"",
        "{\"ok\":true,\"rtjson\":{\"action\":\"flow\",\"account_id\":\"acc_acme\"",
        "\"carrier\":\"trunk\",\"dest\":\"12025550199\"",
        "\"code\":433",
        "\"counters\":{\"in\":1,\"out\":1",
        "\"callId\":\"call-3\",\"applied\":false",
        "\"disposition\":\"answered\"",
        "\"released\":2",
        "\"decision\":{\"action\":\"flow\",\"account_id\":\"acc_acme\",\"flow_id\":\"sys:voicemail:vm_main\"",
        "\"state\":\"holiday\"",
    ];
    for needle in expect {
        assert!(
            lines.iter().any(|l| l.contains(needle)),
            "no line has {needle}:\n{stdout}"
        );
    }
}

#[test]
fn the_flow_session_works_as_pasted() {
    let stdout = run_block("## Call flows");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 9, "{stdout}");
    let expect = [
        (
            0,
            "\"seq\":1,\"node\":\"menu\",\"command\":{\"cmd\":\"gather\"",
        ),
        (1, "\"seq\":2,\"node\":\"menu\""),
        (2, "\"seq\":2,\"node\":\"menu\""),
        (4, "\"seq\":4,\"node\":\"vm\",\"command\":{\"cmd\":\"play\""),
        (5, "\"key\":\"acc_acme/vm/ivr-1.wav\""),
        (6, "\"command\":{\"cmd\":\"hangup\""),
        (7, "\"code\":\"unknown_call\""),
        (8, "\"disposition\":\"answered\""),
        (8, "\"source\":\"flow\",\"type\":\"node\""),
    ];
    for (line, needle) in expect {
        assert!(
            lines[line].contains(needle),
            "line {line} lacks {needle}:\n{stdout}"
        );
    }
    assert_eq!(lines[1], lines[2], "a retried step gets the same answer");
}

#[test]
fn the_agents_session_works_as_pasted() {
    let stdout = run_block("## Agents and queues");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 10, "{stdout}");
    let expect = [
        (0, "\"reachable\":true"),
        (1, "\"status\":\"available\""),
        (1, "\"bucket\":\"ready\""),
        (2, "\"cmd\":\"dial\""),
        (2, "\"confirmUrl\":\"/agent/confirm/acc_acme/ls_1/1\""),
        (3, "\"agentId\":\"us_carol\""),
        (4, "\"code\":\"stale_lease\""),
        (5, "\"bridged\":true"),
        (7, "\"bucket\":\"wrapup\""),
        (8, "\"wrapup\":1"),
        (9, "\"type\":\"queue_cdr\""),
        (9, "\"disposition\":\"answered\""),
    ];
    for (line, needle) in expect {
        assert!(
            lines[line].contains(needle),
            "line {line} lacks {needle}:\n{stdout}"
        );
    }
}

#[test]
fn the_media_session_works_as_pasted() {
    let stdout = run_block("## Media and TTS");
    let expect = [
        "\"generated\":[\"system/en-US/female/welcome.wav\"",
        "HTTP/1.1 200 OK",
        "content-type: audio/wav",
        "HTTP/1.1 206 Partial Content",
        "content-range: bytes 0-43/",
        "{\"ok\":true,\"key\":\"acc_acme/greetings/after-hours.wav\"",
        "\"messages\":[{\"key\":\"acc_acme/vm/call-9.wav\",\"callId\":\"call-9\"",
    ];
    for needle in expect {
        assert!(stdout.contains(needle), "no {needle} in:\n{stdout}");
    }
}

#[test]
fn the_security_session_works_as_pasted() {
    let stdout = run_block("## Security: bans and allowlist");
    let lines: Vec<&str> = stdout.lines().collect();
    let expect = [
        "{\"ok\":true,\"unban\":[],\"allow\":[],\"accepted\":2}",
        "\"nodes\":[\"edge-1\",\"edge-2\"],\"reasons\":[\"auth_fail\",\"flood\"],\"hits\":12",
        "\"flags\":[\"multi_node\"]",
        "{\"ok\":true,\"total\":1,\"bans\":[{\"ip\":\"198.51.100.23\"",
        "\"status\":\"expired\"",
        "\"unbanned\":[\"203.0.113.9\"]",
        "{\"ok\":true,\"total\":0,\"bans\":[]}",
        "{\"ok\":true,\"unban\":[\"203.0.113.9\"],\"allow\":[\"203.0.113.0/24\"],\"accepted\":0}",
        "\"cidr\":\"2001:db8:42::/48\"",
        "{\"ok\":true,\"removed\":{\"ip\":\"2001:db8:42::/48\"",
        "\"message\":\"ip: host bits are set; the network is 10.0.0.0/8\"},\"path\":\"ip\"",
    ];
    for needle in expect {
        assert!(
            lines.iter().any(|l| l.contains(needle)),
            "no line has {needle}:\n{stdout}"
        );
    }
}
