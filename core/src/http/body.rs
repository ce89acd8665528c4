//! Request bodies to a JSON object: JSON as is, forms field by field.
//!
//! - An empty body is an empty object, whatever the content type.
//! - `application/json` (parameters such as `charset` ignored; also any
//!   `application/*+json`): the body must be one JSON object.
//! - `application/x-www-form-urlencoded`: every field becomes a string,
//!   except a value starting with `{` or `[` that parses as JSON, which
//!   becomes that JSON value (forms carry nested `vars`, `queues`, `data`,
//!   `bans` this way). A repeated field: the last one wins. Form decoding
//!   follows [`super::form::pairs`] (bad escapes kept literally).
//! - No content type: JSON when the body starts with `{` (after
//!   whitespace), else 415.
//! - Anything else: 415 naming the type and the accepted ones.

use super::form;
use super::Request;
use serde_json::{Map, Value};

/// Why a body could not be decoded (415 or 400).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyError {
    /// 400 or 415.
    pub status: u16,
    /// `bad_json`, `bad_body` or `unsupported_media_type`.
    pub code: &'static str,
    /// Human text naming what was wrong.
    pub message: String,
}

/// The content types a body may have, for error messages.
const ACCEPTED: &str = "application/json or application/x-www-form-urlencoded";

/// Decodes the body into a JSON object.
pub fn decode_body(req: &Request) -> Result<Map<String, Value>, BodyError> {
    if req.body.is_empty() {
        return Ok(Map::new());
    }
    let Some(content_type) = req.header("content-type") else {
        if req.body.trim_ascii_start().starts_with(b"{") {
            return decode_json(&req.body);
        }
        return Err(BodyError {
            status: 415,
            code: "unsupported_media_type",
            message: format!("a body needs a content-type: {ACCEPTED}"),
        });
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        decode_json(&req.body)
    } else if essence == "application/x-www-form-urlencoded" {
        decode_form(&req.body)
    } else {
        Err(BodyError {
            status: 415,
            code: "unsupported_media_type",
            message: format!("content-type {essence} is not supported; send {ACCEPTED}"),
        })
    }
}

/// A JSON body that must be an object.
fn decode_json(body: &[u8]) -> Result<Map<String, Value>, BodyError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(BodyError {
            status: 400,
            code: "bad_body",
            message: "body must be a JSON object".into(),
        }),
        Err(error) => Err(BodyError {
            status: 400,
            code: "bad_json",
            message: format!("body is not valid JSON: {error}"),
        }),
    }
}

/// A form body, field by field; nested JSON values decoded.
fn decode_form(body: &[u8]) -> Result<Map<String, Value>, BodyError> {
    let text = std::str::from_utf8(body).map_err(|_| BodyError {
        status: 400,
        code: "bad_body",
        message: "form body is not valid UTF-8".into(),
    })?;
    let mut map = Map::new();
    for (name, value) in form::pairs(text) {
        let nested = match value.trim_start().as_bytes().first() {
            Some(b'{') | Some(b'[') => serde_json::from_str::<Value>(&value).ok(),
            _ => None,
        };
        map.insert(name, nested.unwrap_or(Value::String(value)));
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Method;
    use serde_json::json;

    fn request(content_type: Option<&str>, body: &str) -> Request {
        let mut headers = vec![("host".to_string(), "brain".to_string())];
        if let Some(content_type) = content_type {
            headers.push(("content-type".to_string(), content_type.to_string()));
        }
        Request {
            method: Method::Post,
            path: "/route".into(),
            query: String::new(),
            headers: headers.into_iter().collect(),
            body: body.as_bytes().to_vec(),
            keep_alive: true,
        }
    }

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!("test values are objects"),
        }
    }

    #[test]
    fn empty_body_is_an_empty_object() {
        assert_eq!(decode_body(&request(None, "")), Ok(Map::new()));
        assert_eq!(
            decode_body(&request(Some("text/plain"), "")),
            Ok(Map::new())
        );
    }

    #[test]
    fn json_body_with_charset_is_decoded() {
        let req = request(
            Some("Application/JSON; charset=utf-8"),
            r#"{"callId":"abc","vars":{"a":1}}"#,
        );
        assert_eq!(
            decode_body(&req),
            Ok(object(json!({"callId": "abc", "vars": {"a": 1}})))
        );
    }

    #[test]
    fn bad_json_names_line_and_column() {
        let error = decode_body(&request(Some("application/json"), "{\n  \"a\": }")).unwrap_err();
        assert_eq!((error.status, error.code), (400, "bad_json"));
        assert!(error.message.contains("line 2 column"), "{}", error.message);
    }

    #[test]
    fn json_that_is_not_an_object_is_a_bad_body() {
        let error = decode_body(&request(Some("application/json"), "[1,2]")).unwrap_err();
        assert_eq!(
            error,
            BodyError {
                status: 400,
                code: "bad_body",
                message: "body must be a JSON object".into()
            }
        );
    }

    #[test]
    fn form_with_nested_json_becomes_an_object() {
        let body = "callId=abc&vars=%7B%22lang%22%3A%22en%22%7D&queues=%5B%22q1%22%5D\
                    &name=Alice+B&weird=%7Bnot+json";
        let req = request(Some("application/x-www-form-urlencoded"), body);
        assert_eq!(
            decode_body(&req),
            Ok(object(json!({
                "callId": "abc",
                "vars": {"lang": "en"},
                "queues": ["q1"],
                "name": "Alice B",
                "weird": "{not json",
            })))
        );
    }

    #[test]
    fn form_numbers_stay_strings() {
        let req = request(Some("application/x-www-form-urlencoded"), "seq=3&flag=true");
        assert_eq!(
            decode_body(&req),
            Ok(object(json!({"seq": "3", "flag": "true"})))
        );
    }

    #[test]
    fn repeated_form_fields_keep_the_last_value() {
        let req = request(Some("application/x-www-form-urlencoded"), "a=1&a=2");
        assert_eq!(decode_body(&req), Ok(object(json!({"a": "2"}))));
    }

    #[test]
    fn missing_content_type_with_an_object_is_read_as_json() {
        let req = request(None, "  {\"a\":true}");
        assert_eq!(decode_body(&req), Ok(object(json!({"a": true}))));
    }

    #[test]
    fn missing_content_type_with_anything_else_is_415() {
        let error = decode_body(&request(None, "a=1")).unwrap_err();
        assert_eq!((error.status, error.code), (415, "unsupported_media_type"));
    }

    #[test]
    fn other_content_types_are_415_naming_the_type() {
        let error = decode_body(&request(Some("text/plain; charset=utf-8"), "hi")).unwrap_err();
        assert_eq!((error.status, error.code), (415, "unsupported_media_type"));
        assert!(error.message.contains("text/plain"), "{}", error.message);
        assert!(
            error.message.contains("application/json"),
            "{}",
            error.message
        );
        assert!(error.message.contains("application/x-www-form-urlencoded"));
    }
}
