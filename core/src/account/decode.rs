//! JSON → [`Document`] with the path of the first type error, written the
//! way validation writes paths (`dids[2].max_channels`).

use super::{DocError, Document};
use serde_path_to_error::Segment;

/// Deserializes the document; a shape error names its path. Unknown and
/// missing fields name the field itself (`users[0].usernme`), not only the
/// object that holds it.
pub fn decode(doc: &serde_json::Value) -> Result<Document, DocError> {
    if !doc.is_object() {
        return Err(DocError::new(
            "",
            "the account document must be a JSON object",
        ));
    }
    serde_path_to_error::deserialize(doc).map_err(|error| {
        let mut path = String::new();
        for segment in error.path().iter() {
            match segment {
                Segment::Seq { index } => path.push_str(&format!("[{index}]")),
                Segment::Map { key } => push_field(&mut path, key),
                Segment::Enum { variant } => push_field(&mut path, variant),
                Segment::Unknown => push_field(&mut path, "?"),
            }
        }
        let message = error.inner().to_string();
        let message = strip_position(&message);
        if let Some(field) = named_field(message) {
            let named = path == field || path.ends_with(&format!(".{field}"));
            if !named {
                push_field(&mut path, field);
            }
        }
        DocError::new(path, message)
    })
}

fn push_field(path: &mut String, field: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(field);
}

/// The field an "unknown field `x`" or "missing field `x`" message names.
fn named_field(message: &str) -> Option<&str> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("missing field `"))?;
    rest.split_once('`').map(|(field, _)| field)
}

/// serde_json appends " at line L column C" for text input; a `Value` has
/// no position, but be safe.
fn strip_position(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(at) if message[at..].contains(" column ") => &message[..at],
        _ => message,
    }
}
