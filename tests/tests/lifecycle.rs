//! Start, readiness and graceful shutdown of the real binary.

use sipbrain_tests::{Server, ADMIN_TOKEN};

#[test]
fn sigterm_stops_the_server_cleanly() {
    let server = Server::demo(&["--shards", "2"]);
    let mut client = server.client();
    assert_eq!(client.request("GET", "/readyz", &[], None).status, 200);
    let status = server.terminate();
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn a_bad_config_refuses_to_start_with_a_message() {
    let refused = |args: &[&str]| {
        let output = std::process::Command::new(sipbrain_tests::binary())
            .arg("serve")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let stderr = refused(&["--listen", "not-an-address", "--admin-token", ADMIN_TOKEN]);
    assert!(stderr.contains("listen"), "{stderr}");
    let stderr = refused(&["--edge-cidrs", "10.0.0.0/33"]);
    assert!(stderr.contains("edge_cidrs"), "{stderr}");
    let stderr = refused(&["--header-bytes-max", "2097152"]);
    assert!(
        stderr.contains("header_bytes_max must be at most"),
        "{stderr}"
    );
}

#[test]
fn a_config_file_is_read_and_flags_override_it() {
    let dir = sipbrain_tests::temp_dir("config");
    let file = dir.join("sipbrain.toml");
    std::fs::write(
        &file,
        format!("admin_token = \"{ADMIN_TOKEN}\"\ndemo = true\nshards = 1\n"),
    )
    .unwrap();
    let server = Server::start(&["--config", file.to_str().unwrap()]);
    let mut client = server.client();
    let reply = client.request(
        "GET",
        "/admin/accounts/acc_acme",
        &[("x-admin-token", ADMIN_TOKEN)],
        None,
    );
    assert_eq!(reply.status, 200, "token and demo came from the file");
    let _ = std::fs::remove_dir_all(dir);
}
