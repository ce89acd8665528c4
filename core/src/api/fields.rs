//! Reading typed fields out of a decoded body, with errors naming the field.

use super::error::ApiError;
use serde_json::{Map, Value};

/// An optional string field: strings as they are, numbers and booleans in
/// their JSON text (form bodies and Kamailio send everything as strings),
/// empty strings as absent. Longer than `max_bytes` is a 422.
pub fn opt_str(
    body: &Map<String, Value>,
    name: &str,
    max_bytes: usize,
) -> Result<Option<String>, ApiError> {
    let text = match body.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(_) => return Err(ApiError::bad_field(name, "must be a string")),
    };
    if text.is_empty() {
        return Ok(None);
    }
    if text.len() > max_bytes {
        return Err(ApiError::invalid(
            name,
            &format!("longer than {max_bytes} bytes"),
        ));
    }
    Ok(Some(text))
}

/// A required string field.
pub fn req_str(
    body: &Map<String, Value>,
    name: &str,
    max_bytes: usize,
) -> Result<String, ApiError> {
    opt_str(body, name, max_bytes)?.ok_or_else(|| ApiError::missing(name))
}
