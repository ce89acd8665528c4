//! Account document tests: the demo documents parse, normalization and
//! round-trips hold, and each validation rule family answers with its path.

use super::*;
use serde_json::{json, Value};

const ACME: &str = include_str!("../../../../examples/demo/acme.json");
const GLOBEX: &str = include_str!("../../../../examples/demo/globex.json");

fn acme_value() -> Value {
    serde_json::from_str(ACME).expect("acme.json is JSON")
}

fn acme() -> Account {
    parse("acc_acme", &acme_value()).expect("acme.json is valid")
}

/// The smallest valid document, to break one thing at a time.
fn minimal() -> Value {
    json!({
        "domains": [{"domain": "example.sip.io"}],
        "users": [{"id": "us_a", "username": "100"}],
        "devices": [{
            "id": "dev_a", "user_id": "us_a", "auth_username": "100", "realm": "example.sip.io",
            "ha1": "0123456789abcdef0123456789abcdef", "ha1b": "0123456789abcdef0123456789abcdef"
        }]
    })
}

/// The error `doc` is refused with, as (path, message).
fn refused(doc: &Value) -> (String, String) {
    match parse("acc_t", doc) {
        Ok(_) => panic!("document should be refused: {doc}"),
        Err(error) => (error.path, error.message),
    }
}

/// Asserts `doc` is refused at `path` with a message containing `needle`.
fn assert_refused(doc: &Value, path: &str, needle: &str) {
    let (got_path, message) = refused(doc);
    assert_eq!(got_path, path, "message: {message}");
    assert!(
        message.contains(needle),
        "message {message:?} lacks {needle:?}"
    );
}

/// `minimal()` with `pointer` (JSON pointer) set to `value`.
fn with(pointer: &str, value: Value) -> Value {
    let mut doc = minimal();
    set(&mut doc, pointer, value);
    doc
}

fn set(doc: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer has a slash");
    let target = doc
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("no {parent} in document"));
    match target {
        Value::Object(map) => {
            map.insert(key.to_string(), value);
        }
        Value::Array(items) => {
            let index: usize = key.parse().expect("array index");
            if index == items.len() {
                items.push(value);
            } else {
                items[index] = value;
            }
        }
        _ => panic!("{parent} is not a container"),
    }
}

mod demo;
mod flows;
mod others;
mod people;
mod robustness;
mod schedules;
mod shape;
mod targets;
