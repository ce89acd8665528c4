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
    let text = readme();
    let args = serve_args(&text);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start(&args);
    let script =
        block_after(&text, "## Routing calls").replace("localhost:8080", &server.addr.to_string());
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
fn the_security_session_works_as_pasted() {
    let text = readme();
    let args = serve_args(&text);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start(&args);
    let script = block_after(&text, "## Security: bans and allowlist")
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
