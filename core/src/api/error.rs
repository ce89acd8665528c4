//! The contract's error reply: `{"ok":false,"error":{"code","message"}}`.

use crate::http::Response;
use serde_json::{json, Map, Value};

/// A refused request: status, snake_case code, human message, plus any
/// extra top-level fields (the /auth challenge) and headers (`allow`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// Rarely used, so boxed: keeps `Result<_, ApiError>` small.
    pub extras: Option<Box<Extras>>,
}

/// Extra body fields and headers of an error reply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extras {
    pub fields: Map<String, Value>,
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    /// An error with no extra fields.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        debug_assert!((400..600).contains(&status), "errors are 4xx/5xx");
        ApiError {
            status,
            code,
            message: message.into(),
            extras: None,
        }
    }

    /// Adds a top-level field to the error body.
    pub fn with_field(mut self, key: &str, value: Value) -> ApiError {
        self.extras
            .get_or_insert_with(Default::default)
            .fields
            .insert(key.into(), value);
        self
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: &'static str, value: String) -> ApiError {
        self.extras
            .get_or_insert_with(Default::default)
            .headers
            .push((name, value));
        self
    }

    /// The extra headers (empty for most errors).
    pub fn headers(&self) -> &[(&'static str, String)] {
        self.extras
            .as_ref()
            .map(|e| e.headers.as_slice())
            .unwrap_or(&[])
    }

    /// 400: a required field is missing.
    pub fn missing(field: &str) -> ApiError {
        ApiError::new(400, "missing_field", format!("missing field `{field}`"))
    }

    /// 400: a field has the wrong type or shape.
    pub fn bad_field(field: &str, why: &str) -> ApiError {
        ApiError::new(400, "bad_field", format!("field `{field}`: {why}"))
    }

    /// 422: a well-formed value that is not acceptable, naming its path.
    pub fn invalid(path: &str, why: &str) -> ApiError {
        ApiError::new(422, "invalid", format!("{path}: {why}"))
            .with_field("path", Value::String(path.into()))
    }

    /// 501 for an endpoint not built yet (or roadmap).
    pub fn not_implemented(what: &str) -> ApiError {
        ApiError::new(501, "not_implemented", format!("{what} is not implemented"))
    }

    /// The reply bytes' source.
    pub fn to_response(&self) -> Response {
        let mut body = Map::new();
        body.insert("ok".into(), Value::Bool(false));
        body.insert(
            "error".into(),
            json!({"code": self.code, "message": self.message}),
        );
        if let Some(extras) = &self.extras {
            for (key, value) in &extras.fields {
                body.insert(key.clone(), value.clone());
            }
        }
        let mut response = Response::json(self.status, &Value::Object(body));
        response.headers.extend(self.headers().iter().cloned());
        response
    }
}

/// A 200 reply `{"ok":true, …fields}`.
pub fn ok(fields: Value) -> Response {
    ok_with_status(200, fields)
}

/// A success reply with a chosen 2xx status.
pub fn ok_with_status(status: u16, fields: Value) -> Response {
    let mut body = Map::new();
    body.insert("ok".into(), Value::Bool(true));
    if let Value::Object(map) = fields {
        body.extend(map);
    }
    Response::json(status, &Value::Object(body))
}
