//! POST /auth against the real binary: every case of the contract.

use serde_json::{json, Value};
use sipbrain_tests::demo::*;
use sipbrain_tests::digest::{ha1, response, response_no_qop};
use sipbrain_tests::{Client, Reply, Server, ADMIN_TOKEN, EDGE_TOKEN};

fn auth(client: &mut Client, body: Value) -> Reply {
    client.request(
        "POST",
        "/auth",
        &[("authorization", &format!("Bearer {EDGE_TOKEN}"))],
        Some(&body),
    )
}

/// Asks for a challenge and returns the brain's nonce.
fn challenge(client: &mut Client, realm: &str) -> String {
    let reply = auth(
        client,
        json!({"method": "REGISTER", "realm": realm, "sourceIp": "198.51.100.7"}),
    );
    assert_eq!(reply.status, 401);
    reply.json()["challenge"]["nonce"]
        .as_str()
        .expect("a nonce")
        .to_string()
}

/// A qop=auth REGISTER body for `user` with `password`.
fn register(user: &str, realm: &str, password: &str, nonce: &str, nc: &str) -> Value {
    let uri = format!("sip:{realm}");
    let key = ha1(false, user, realm, password);
    json!({
        "method": "REGISTER", "username": user, "realm": realm, "nonce": nonce, "uri": uri,
        "response": response(false, false, &key, nonce, nc, "c0ffee", "REGISTER", &uri),
        "qop": "auth", "nc": nc, "cnonce": "c0ffee", "algorithm": "MD5", "sourceIp": "198.51.100.7",
    })
}

#[test]
fn no_credentials_get_a_challenge_with_a_signed_nonce() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let reply = auth(
        &mut client,
        json!({"method": "REGISTER", "realm": ACME_REALM}),
    );
    assert_eq!(reply.status, 401);
    let body = reply.json();
    assert_eq!(body["ok"], false);
    assert_eq!(body["error"]["code"], "challenge");
    assert_eq!(body["challenge"]["realm"], ACME_REALM);
    assert_eq!(body["challenge"]["qop"], "auth");
    assert_eq!(body["challenge"]["algorithm"], "MD5");
    assert_eq!(body["challenge"]["stale"], false);
    let nonce = body["challenge"]["nonce"].as_str().unwrap();
    let header = body["www_authenticate"].as_str().unwrap();
    assert!(
        header.starts_with("Digest realm=\"acme.sip.io\""),
        "{header}"
    );
    assert!(header.contains(&format!("nonce=\"{nonce}\"")), "{header}");
    let second = challenge(&mut client, ACME_REALM);
    assert_ne!(nonce, second, "every challenge carries a fresh nonce");
}

#[test]
fn md5_register_with_a_brain_nonce_returns_the_account_context() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let nonce = challenge(&mut client, ACME_REALM);
    let reply = auth(
        &mut client,
        register(ALICE, ACME_REALM, ALICE_PASSWORD, &nonce, "00000001"),
    );
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    let body = reply.json();
    assert_eq!(body["ok"], true);
    assert_eq!(body["account_id"], ACME);
    assert_eq!(body["username"], ALICE);
    assert_eq!(body["extension"], ALICE);
    assert_eq!(body["realm"], ACME_REALM);
    assert_eq!(body["is_agent"], false);
    assert!(body["user_id"].as_str().unwrap().starts_with("us_"));
    assert!(body["device_id"].is_string());
    assert!(body["transport"].is_string());
    assert!(body["is_webrtc"].is_boolean());
}

#[test]
fn user_at_domain_is_checked_against_ha1b() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let nonce = challenge(&mut client, ACME_REALM);
    let user = format!("{ALICE}@{ACME_REALM}");
    let reply = auth(
        &mut client,
        register(&user, ACME_REALM, ALICE_PASSWORD, &nonce, "00000001"),
    );
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    assert_eq!(reply.json()["username"], ALICE);
}

#[test]
fn md5_sess_sha256_and_sha256_sess_verify() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    for (sha256, sess, name) in [
        (false, true, "MD5-sess"),
        (true, false, "SHA-256"),
        (true, true, "SHA-256-sess"),
    ] {
        let nonce = challenge(&mut client, ACME_REALM);
        let uri = format!("sip:{ACME_REALM}");
        let key = ha1(sha256, ALICE, ACME_REALM, ALICE_PASSWORD);
        let body = json!({
            "method": "INVITE", "username": ALICE, "realm": ACME_REALM, "nonce": nonce, "uri": uri,
            "response": response(sha256, sess, &key, &nonce, "00000001", "abc", "INVITE", &uri),
            "qop": "auth", "nc": "00000001", "cnonce": "abc", "algorithm": name,
        });
        let reply = auth(&mut client, body);
        assert_eq!(reply.status, 200, "{name}: {:?}", reply.json());
    }
}

#[test]
fn sha256_without_a_sha256_ha1_is_refused_and_not_offered() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let offered = auth(
        &mut client,
        json!({"method": "REGISTER", "realm": ACME_REALM, "username": BOB, "algorithm": "SHA-256"}),
    );
    assert_eq!(
        offered.json()["challenge"]["algorithm"],
        "MD5",
        "Bob has no SHA-256 HA1"
    );
    let offered = auth(
        &mut client,
        json!({"method": "REGISTER", "realm": ACME_REALM, "username": ALICE, "algorithm": "SHA-256"}),
    );
    assert_eq!(
        offered.json()["challenge"]["algorithm"],
        "SHA-256",
        "Alice has one"
    );
    let nonce = challenge(&mut client, ACME_REALM);
    let uri = format!("sip:{ACME_REALM}");
    let key = ha1(true, BOB, ACME_REALM, BOB_PASSWORD);
    let body = json!({
        "method": "REGISTER", "username": BOB, "realm": ACME_REALM, "nonce": nonce, "uri": uri,
        "response": response(true, false, &key, &nonce, "00000001", "abc", "REGISTER", &uri),
        "qop": "auth", "nc": "00000001", "cnonce": "abc", "algorithm": "SHA-256",
    });
    let reply = auth(&mut client, body);
    assert_eq!(reply.status, 401);
    assert_eq!(reply.code(), "invalid_credentials");
}

#[test]
fn rfc2069_without_qop_verifies() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let nonce = challenge(&mut client, ACME_REALM);
    let uri = format!("sip:{ACME_REALM}");
    let key = ha1(false, BOB, ACME_REALM, BOB_PASSWORD);
    let body = json!({
        "method": "REGISTER", "username": BOB, "realm": ACME_REALM, "nonce": nonce, "uri": uri,
        "response": response_no_qop(&key, &nonce, "REGISTER", &uri),
    });
    let reply = auth(&mut client, body.clone());
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    let again = auth(&mut client, body);
    assert_eq!(
        again.code(),
        "nonce_replay",
        "without qop a brain nonce is single-use"
    );
}

#[test]
fn a_raw_authorization_header_verifies() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let nonce = challenge(&mut client, ACME_REALM);
    let uri = format!("sip:{ACME_REALM}");
    let key = ha1(false, BOB, ACME_REALM, BOB_PASSWORD);
    let digest = response(
        false, false, &key, &nonce, "00000001", "0a4f113b", "INVITE", &uri,
    );
    let header = format!(
        "Digest username=\"{BOB}\", realm=\"{ACME_REALM}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{digest}\", qop=auth, nc=00000001, cnonce=\"0a4f113b\", algorithm=MD5"
    );
    let reply = auth(
        &mut client,
        json!({"method": "INVITE", "authorization": header, "sourceIp": "203.0.113.9"}),
    );
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    assert_eq!(reply.json()["username"], BOB);
}

#[test]
fn wrong_password_unknown_user_and_unknown_realm_answer_alike() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let nonce = challenge(&mut client, ACME_REALM);
    let wrong = auth(
        &mut client,
        register(ALICE, ACME_REALM, "not-the-password", &nonce, "00000001"),
    );
    let unknown_user = auth(
        &mut client,
        register("7777", ACME_REALM, "whatever", &nonce, "00000002"),
    );
    let unknown_realm = auth(
        &mut client,
        register(ALICE, "nowhere.example", ALICE_PASSWORD, &nonce, "00000003"),
    );
    for reply in [&wrong, &unknown_user, &unknown_realm] {
        assert_eq!(reply.status, 401);
        assert_eq!(reply.code(), "invalid_credentials");
    }
    assert_eq!(wrong.body, unknown_user.body, "no user enumeration");
    assert_eq!(wrong.body, unknown_realm.body, "no realm enumeration");
}

#[test]
fn a_repeated_nonce_and_nc_is_a_replay() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let nonce = challenge(&mut client, ACME_REALM);
    let first = register(ALICE, ACME_REALM, ALICE_PASSWORD, &nonce, "00000001");
    assert_eq!(auth(&mut client, first.clone()).status, 200);
    let again = auth(&mut client, first);
    assert_eq!(again.status, 401);
    assert_eq!(again.code(), "nonce_replay");
    let next = register(ALICE, ACME_REALM, ALICE_PASSWORD, &nonce, "00000002");
    assert_eq!(auth(&mut client, next).status, 200, "the next nc is fine");
}

#[test]
fn an_expired_brain_nonce_is_stale() {
    let server = Server::demo(&["--nonce-ttl-sec", "300"]);
    let key_hex = std::fs::read_to_string(server.data_dir.join("nonce.key")).expect("nonce key");
    let key: [u8; 32] = hex_bytes(key_hex.trim());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let old = sipbrain_core::auth::nonce::issue(
        &sipbrain_core::auth::nonce::NonceKey(key),
        sipbrain_core::time::Millis(now - 301_000),
        42,
        ACME_REALM,
    );
    let mut client = server.client();
    let reply = auth(
        &mut client,
        register(ALICE, ACME_REALM, ALICE_PASSWORD, &old, "00000001"),
    );
    assert_eq!(reply.status, 401);
    let body = reply.json();
    assert_eq!(body["challenge"]["stale"], true, "{body}");
    assert_ne!(
        body["challenge"]["nonce"],
        old.as_str(),
        "a fresh nonce comes with it"
    );
    assert!(body["www_authenticate"]
        .as_str()
        .unwrap()
        .contains("stale=true"));
    let fresh = body["challenge"]["nonce"].as_str().unwrap().to_string();
    let retry = auth(
        &mut client,
        register(ALICE, ACME_REALM, ALICE_PASSWORD, &fresh, "00000001"),
    );
    assert_eq!(retry.status, 200);
}

#[test]
fn a_nonce_the_brain_did_not_issue_is_accepted() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let reply = auth(
        &mut client,
        register(
            BOB,
            ACME_REALM,
            BOB_PASSWORD,
            "kamailio-issued-nonce-1",
            "00000001",
        ),
    );
    assert_eq!(reply.status, 200, "{:?}", reply.json());
}

#[test]
fn a_disabled_user_is_forbidden_after_a_good_digest() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let nonce = challenge(&mut client, ACME_REALM);
    let reply = auth(
        &mut client,
        register(DISABLED, ACME_REALM, DISABLED_PASSWORD, &nonce, "00000001"),
    );
    assert_eq!(reply.status, 403, "{:?}", reply.json());
    let wrong = auth(
        &mut client,
        register(DISABLED, ACME_REALM, "bad", &nonce, "00000002"),
    );
    assert_eq!(
        wrong.status, 401,
        "a wrong password never reveals the account state"
    );
}

#[test]
fn an_inactive_account_is_forbidden() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let admin = [("x-admin-token", ADMIN_TOKEN)];
    let mut doc = client
        .request("GET", &format!("/admin/accounts/{GLOBEX}"), &admin, None)
        .json()["account"]
        .clone();
    doc["status"] = json!("suspended");
    let put = client.request(
        "PUT",
        &format!("/admin/accounts/{GLOBEX}"),
        &admin,
        Some(&doc),
    );
    assert_eq!(put.status, 200, "{:?}", put.json());
    let device = &doc["devices"][0];
    let user = device["auth_username"].as_str().unwrap();
    let nonce = challenge(&mut client, GLOBEX_REALM);
    let reply = auth(
        &mut client,
        register(user, GLOBEX_REALM, "globex-secret-2001", &nonce, "00000001"),
    );
    assert_eq!(reply.status, 403, "{:?}", reply.json());
}

#[test]
fn failures_past_the_threshold_are_rate_limited_per_source_ip() {
    let server = Server::demo(&["--auth-fail-threshold", "3"]);
    let mut client = server.client();
    let nonce = challenge(&mut client, ACME_REALM);
    for nc in 1..=3 {
        let reply = auth(
            &mut client,
            register(ALICE, ACME_REALM, "wrong", &nonce, &format!("{nc:08x}")),
        );
        assert_eq!(reply.status, 401);
    }
    let good = register(ALICE, ACME_REALM, ALICE_PASSWORD, &nonce, "00000010");
    let limited = auth(&mut client, good.clone());
    assert_eq!(limited.status, 429);
    assert_eq!(limited.code(), "rate_limited");
    assert!(limited.header("retry-after").is_some());
    let mut other = good;
    other["sourceIp"] = json!("198.51.100.99");
    assert_eq!(
        auth(&mut client, other).status,
        200,
        "another source is unaffected"
    );
}

/// An account whose domains are the RFC examples' realms, with Mufasa's HA1s.
fn rfc_account(client: &mut Client) {
    let admin = [("x-admin-token", ADMIN_TOKEN)];
    let h1 = |user: &str, realm: &str, pw: &str, sha: bool| ha1(sha, user, realm, pw);
    let doc = json!({
        "id": "acc_rfc", "name": "RFC vectors",
        "domains": [{"domain": "testrealm@host.com"}, {"domain": "http-auth@example.org"}],
        "users": [{"id": "us_mufasa", "username": "Mufasa"}],
        "devices": [
            {"id": "dev_2617", "user_id": "us_mufasa", "auth_username": "Mufasa", "realm": "testrealm@host.com",
             "ha1": h1("Mufasa", "testrealm@host.com", "Circle Of Life", false),
             "ha1b": h1("Mufasa@testrealm@host.com", "testrealm@host.com", "Circle Of Life", false)},
            {"id": "dev_7616", "user_id": "us_mufasa", "auth_username": "Mufasa", "realm": "http-auth@example.org",
             "ha1": h1("Mufasa", "http-auth@example.org", "Circle of Life", false),
             "ha1b": h1("Mufasa@http-auth@example.org", "http-auth@example.org", "Circle of Life", false),
             "ha1_sha256": h1("Mufasa", "http-auth@example.org", "Circle of Life", true)}
        ]
    });
    let put = client.request("PUT", "/admin/accounts/acc_rfc", &admin, Some(&doc));
    assert_eq!(put.status, 200, "{:?}", put.json());
}

#[test]
fn rfc_worked_examples_verify_through_the_binary() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    rfc_account(&mut client);
    let rfc2617 = json!({"method": "GET", "username": "Mufasa", "realm": "testrealm@host.com",
        "nonce": "dcd98b7102dd2f0e8b11d0f600bfb0c093", "uri": "/dir/index.html", "qop": "auth",
        "nc": "00000001", "cnonce": "0a4f113b", "response": "6629fae49393a05397450978507c4ef1"});
    assert_eq!(auth(&mut client, rfc2617).status, 200, "RFC 2617 §3.5");
    // Both RFC 7616 examples share nonce and nc: each gets a fresh server,
    // or the second would rightly be a replay.
    for (algorithm, answer) in [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        (
            "SHA-256",
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
        ),
    ] {
        let server = Server::demo(&[]);
        let mut client = server.client();
        rfc_account(&mut client);
        let rfc7616 = json!({"method": "GET", "username": "Mufasa", "realm": "http-auth@example.org",
            "nonce": "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "uri": "/dir/index.html", "qop": "auth",
            "nc": "00000001", "cnonce": "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            "algorithm": algorithm, "response": answer});
        let reply = auth(&mut client, rfc7616.clone());
        assert_eq!(
            reply.status,
            200,
            "RFC 7616 §3.9.1 {algorithm}: {:?}",
            reply.json()
        );
        assert_eq!(auth(&mut client, rfc7616).code(), "nonce_replay");
    }
}

#[test]
fn a_form_encoded_body_works_like_json() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let nonce = challenge(&mut client, ACME_REALM);
    let body = register(BOB, ACME_REALM, BOB_PASSWORD, &nonce, "00000001");
    let form: Vec<String> = body
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v.as_str().unwrap())))
        .collect();
    let form = form.join("&");
    let raw = format!(
        "POST /auth HTTP/1.1\r\nhost: t\r\nauthorization: Bearer {EDGE_TOKEN}\r\n\
         content-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n{form}",
        form.len()
    );
    client.send_raw(raw.as_bytes());
    let reply = client.read_reply();
    assert_eq!(reply.status, 200, "{:?}", reply.json());
}

#[test]
fn bad_auth_requests_name_the_field() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let cases = [
        (json!({"realm": ACME_REALM}), 400, "method"),
        (json!({"method": "REGISTER"}), 400, "realm"),
        (
            json!({"method": "REGISTER", "realm": ACME_REALM, "sourceIp": "nope"}),
            422,
            "sourceIp",
        ),
        (
            json!({"method": "REGISTER", "realm": ACME_REALM, "algorithm": "SHA-512"}),
            422,
            "algorithm",
        ),
        (
            json!({"method": "REGISTER", "realm": ACME_REALM, "username": "1001", "nonce": "n", "uri": "u",
                "response": "r", "qop": "auth-int", "nc": "00000001", "cnonce": "c"}),
            422,
            "qop",
        ),
        (
            json!({"method": "REGISTER", "realm": ACME_REALM, "username": "1001", "nonce": "n", "uri": "u",
                "response": "r", "qop": "auth", "nc": "1", "cnonce": "c"}),
            422,
            "nc",
        ),
        (
            json!({"method": "REGISTER", "realm": ACME_REALM, "nonce": "n", "uri": "u", "response": "r"}),
            400,
            "username",
        ),
        (
            json!({"method": "INVITE", "authorization": "Basic abc"}),
            400,
            "authorization",
        ),
        (
            json!({"method": ["REGISTER"], "realm": ACME_REALM}),
            400,
            "method",
        ),
    ];
    for (body, status, field) in cases {
        let reply = auth(&mut client, body.clone());
        assert_eq!(reply.status, status, "{body}: {:?}", reply.json());
        let message = reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            message.contains(field),
            "{body}: message {message:?} names {field}"
        );
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn hex_bytes(text: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex");
    }
    out
}
