//! PUT/GET/DELETE /admin/accounts and `sipbrain import`, against the binary.

use serde_json::{json, Value};
use sipbrain_tests::digest::ha1;
use sipbrain_tests::{binary, temp_dir, Client, Reply, Server, ADMIN_TOKEN};

const ADMIN: [(&str, &str); 1] = [("x-admin-token", ADMIN_TOKEN)];

fn minimal(id: &str, domain: &str, did: &str) -> Value {
    json!({
        "id": id, "name": "New account",
        "domains": [{"domain": domain}],
        "users": [{"id": "us_n1", "username": "100"}],
        "devices": [{"id": "dev_n1", "user_id": "us_n1", "auth_username": "100", "realm": domain,
                     "ha1": ha1(false, "100", domain, "pw"), "ha1b": ha1(false, &format!("100@{domain}"), domain, "pw")}],
        "dids": [{"id": "did_n1", "e164": did, "dest_kind": "user", "dest_id": "us_n1"}]
    })
}

fn put(client: &mut Client, id: &str, doc: &Value) -> Reply {
    client.request("PUT", &format!("/admin/accounts/{id}"), &ADMIN, Some(doc))
}

fn invalid_path(reply: &Reply) -> String {
    assert_eq!(reply.status, 422, "{:?}", reply.json());
    reply.json()["path"]
        .as_str()
        .expect("422 names the path")
        .to_string()
}

#[test]
fn an_account_is_created_read_replaced_and_deleted() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let doc = minimal("acc_new", "new.example", "+1 (555) 123-0001");
    let created = put(&mut client, "acc_new", &doc);
    assert_eq!(created.status, 200, "{:?}", created.json());
    assert_eq!(created.json()["created"], true);
    let read = client
        .request("GET", "/admin/accounts/acc_new", &ADMIN, None)
        .json();
    assert_eq!(read["account"]["id"], "acc_new");
    assert_eq!(
        read["account"]["dids"][0]["e164"], "15551230001",
        "DIDs are stored normalized"
    );
    let replaced = put(&mut client, "acc_new", &read["account"]);
    assert_eq!(replaced.json()["created"], false);
    let again = client
        .request("GET", "/admin/accounts/acc_new", &ADMIN, None)
        .json();
    assert_eq!(
        again["account"], read["account"],
        "GET of a PUT of a GET is stable"
    );
    assert_eq!(
        client
            .request("DELETE", "/admin/accounts/acc_new", &ADMIN, None)
            .status,
        200
    );
    let gone = client.request("GET", "/admin/accounts/acc_new", &ADMIN, None);
    assert_eq!(
        (gone.status, gone.code().as_str()),
        (404, "unknown_account")
    );
    assert_eq!(
        client
            .request("DELETE", "/admin/accounts/acc_new", &ADMIN, None)
            .status,
        404
    );
}

#[test]
fn validation_errors_name_the_json_path() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let base = minimal("acc_bad", "bad.example", "15551230002");
    let mut cases: Vec<(Value, &str)> = Vec::new();
    let mut doc = base.clone();
    doc["dids"][0]["dest_id"] = json!("us_nobody");
    cases.push((doc, "dids[0].dest_id"));
    let mut doc = base.clone();
    doc["devices"][0]["ha1"] = json!("abc");
    cases.push((doc, "devices[0].ha1"));
    let mut doc = base.clone();
    doc["devices"][0]["user_id"] = json!("us_ghost");
    cases.push((doc, "devices[0].user_id"));
    let mut doc = base.clone();
    doc["users"][0]["max_simultaneous"] = json!("two");
    cases.push((doc, "users[0].max_simultaneous"));
    let mut doc = base.clone();
    doc["users"][0]["favourite_colour"] = json!("blue");
    cases.push((doc, "users[0].favourite_colour"));
    let mut doc = base.clone();
    doc["id"] = json!("acc_other");
    cases.push((doc, "id"));
    let mut doc = base.clone();
    doc["domains"] = json!([{"domain": "acme.sip.io"}]);
    doc["devices"][0]["realm"] = json!("acme.sip.io");
    cases.push((doc, "domains[0].domain"));
    let mut doc = base.clone();
    doc["dids"][0]["e164"] = json!("12025550123");
    cases.push((doc, "dids[0].e164"));
    for (doc, path) in cases {
        let reply = put(&mut client, "acc_bad", &doc);
        assert_eq!(invalid_path(&reply), path, "{doc}");
        assert!(reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains(path));
    }
    let gone = client.request("GET", "/admin/accounts/acc_bad", &ADMIN, None);
    assert_eq!(gone.status, 404, "nothing of a refused document is kept");
}

#[test]
fn a_refused_replacement_leaves_the_old_document() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let before = client
        .request("GET", "/admin/accounts/acc_acme", &ADMIN, None)
        .json();
    let mut broken = before["account"].clone();
    broken["devices"][0]["user_id"] = json!("us_ghost");
    assert_eq!(put(&mut client, "acc_acme", &broken).status, 422);
    let after = client
        .request("GET", "/admin/accounts/acc_acme", &ADMIN, None)
        .json();
    assert_eq!(before, after);
}

#[test]
fn bad_account_ids_and_bodies_are_refused() {
    let server = Server::demo(&[]);
    let mut client = server.client();
    let long = "a".repeat(65);
    assert_eq!(put(&mut client, &long, &json!({})).status, 422);
    assert_eq!(put(&mut client, "acc%20space", &json!({})).status, 422);
    let reply = put(&mut client, "acc_empty", &json!({}));
    assert_eq!(invalid_path(&reply), "domains", "an account needs a domain");
}

#[test]
fn import_loads_documents_into_a_running_server() {
    let server = Server::demo(&[]);
    let dir = temp_dir("import");
    let good = dir.join("good.json");
    std::fs::write(
        &good,
        minimal("acc_imported", "imported.example", "15551230003").to_string(),
    )
    .unwrap();
    let output = std::process::Command::new(binary())
        .args([
            "import",
            "--server",
            &server.addr.to_string(),
            "--admin-token",
            ADMIN_TOKEN,
        ])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut client = server.client();
    assert_eq!(
        client
            .request("GET", "/admin/accounts/acc_imported", &ADMIN, None)
            .status,
        200
    );
    let bad = dir.join("bad.json");
    let mut doc = minimal("acc_broken", "broken.example", "15551230004");
    doc["dids"][0]["dest_kind"] = json!("teleport");
    std::fs::write(&bad, doc.to_string()).unwrap();
    let output = std::process::Command::new(binary())
        .args(["import", "--check"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("dids[0].dest_kind"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn serve_import_loads_files_at_start() {
    let dir = temp_dir("serve-import");
    let file = dir.join("accounts.json");
    let docs = json!([
        minimal("acc_one", "one.example", "15551230005"),
        minimal("acc_two", "two.example", "15551230006")
    ]);
    std::fs::write(&file, docs.to_string()).unwrap();
    let server = Server::start(&[
        "--admin-token",
        ADMIN_TOKEN,
        "--import",
        file.to_str().unwrap(),
    ]);
    let mut client = server.client();
    for id in ["acc_one", "acc_two"] {
        assert_eq!(
            client
                .request("GET", &format!("/admin/accounts/{id}"), &ADMIN, None)
                .status,
            200
        );
    }
    assert_eq!(
        client
            .request("GET", "/admin/accounts/acc_acme", &ADMIN, None)
            .status,
        404,
        "no demo data"
    );
    let _ = std::fs::remove_dir_all(dir);
}
