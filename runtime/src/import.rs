//! `sipbrain import`: validate account documents and PUT them to a server.

use crate::cli::ImportArgs;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

/// Reads documents from files: one document, or an array of them, each
/// carrying its account `id`.
pub fn read_documents(paths: &[impl AsRef<Path>]) -> Result<Vec<(String, Value)>, String> {
    let mut documents = Vec::new();
    for path in paths {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let value: Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let docs = match value {
            Value::Array(items) => items,
            one => vec![one],
        };
        for (index, doc) in docs.into_iter().enumerate() {
            let id = doc
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    format!(
                        "{} (document {index}): missing string field `id`",
                        path.display()
                    )
                })?
                .to_string();
            documents.push((id, doc));
        }
    }
    Ok(documents)
}

/// Runs `import`; returns the process exit code.
pub fn run(args: ImportArgs) -> i32 {
    let documents = match read_documents(&args.files) {
        Ok(documents) => documents,
        Err(message) => {
            eprintln!("error: {message}");
            return 2;
        }
    };
    let mut failed = 0;
    for (account_id, doc) in &documents {
        if let Err(error) = sipbrain_core::account::parse(account_id, doc) {
            eprintln!("{account_id}: invalid at {}: {}", error.path, error.message);
            failed += 1;
            continue;
        }
        if args.check {
            println!("{account_id}: valid");
            continue;
        }
        match put(&args, account_id, doc) {
            Ok((200, body)) => println!("{account_id}: loaded {body}"),
            Ok((status, body)) => {
                eprintln!("{account_id}: refused ({status}) {body}");
                failed += 1;
            }
            Err(e) => {
                eprintln!("{account_id}: cannot reach {}: {e}", args.server);
                failed += 1;
            }
        }
    }
    if failed > 0 {
        1
    } else {
        0
    }
}

/// One `PUT /admin/accounts/{id}` over a plain HTTP/1.1 connection.
fn put(args: &ImportArgs, account_id: &str, doc: &Value) -> std::io::Result<(u16, String)> {
    let server = args
        .server
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let mut stream = TcpStream::connect(server)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = doc.to_string();
    let token = args.admin_token.as_deref().unwrap_or("");
    let head = format!(
        "PUT /admin/accounts/{account_id} HTTP/1.1\r\nhost: {server}\r\nx-admin-token: {token}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply)?;
    let text = String::from_utf8_lossy(&reply);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP reply"))?;
    let body = text
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or("")
        .trim()
        .to_string();
    Ok((status, body))
}
