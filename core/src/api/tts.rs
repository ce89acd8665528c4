//! `POST /admin/tts/generate`: which system prompts to synthesize.
//!
//! ```text
//! POST /admin/tts/generate?lang=en-US&gender=female&force=1
//! -> {"ok":true,"generated":["system/en-US/female/welcome.wav",…],"skipped":[],"failed":[]}
//! ```
//! Fields come from the query string, else the body (JSON or form):
//! `lang` (one of the 16 catalog languages; absent = all), `gender`
//! (`male`/`female`; absent = both), `ids` (prompt ids, a list or
//! comma-separated; absent = all ten), `force` (`1`/`true`: regenerate
//! objects that exist). The runtime runs the engine.

use super::error::ApiError;
use crate::http::{decode_body, Request};
use crate::media::tts::{self, Gender, TtsRequest};
use serde_json::Value;

/// Decodes the request.
pub fn decode(req: &Request) -> Result<TtsRequest, ApiError> {
    let body = decode_body(req).map_err(|e| ApiError::new(e.status, e.code, e.message))?;
    let field = |name: &str| -> Option<Value> {
        req.query_param(name)
            .map(Value::String)
            .or_else(|| body.get(name).cloned())
            .filter(|v| !v.is_null() && v.as_str() != Some(""))
    };
    let langs = match field("lang") {
        None => tts::LANGUAGES.to_vec(),
        Some(value) => vec![one_language(&value)?],
    };
    let genders = match field("gender") {
        None => Gender::BOTH.to_vec(),
        Some(value) => {
            let gender = value.as_str().and_then(Gender::parse);
            vec![gender.ok_or_else(|| ApiError::invalid("gender", "must be male or female"))?]
        }
    };
    let ids = match field("ids") {
        None => tts::PROMPT_IDS.to_vec(),
        Some(value) => prompt_ids(&value)?,
    };
    let force = match field("force") {
        None => false,
        Some(value) => {
            flag(&value).ok_or_else(|| ApiError::bad_field("force", "must be 1 or 0"))?
        }
    };
    Ok(TtsRequest {
        langs,
        genders,
        ids,
        force,
    })
}

fn one_language(value: &Value) -> Result<&'static str, ApiError> {
    value.as_str().and_then(tts::language).ok_or_else(|| {
        let known = tts::LANGUAGES.join(", ");
        ApiError::invalid("lang", &format!("must be one of {known}"))
    })
}

fn prompt_ids(value: &Value) -> Result<Vec<&'static str>, ApiError> {
    let names: Vec<String> = match value {
        Value::String(list) => list.split(',').map(|s| s.trim().to_string()).collect(),
        Value::Array(items) => {
            let strings: Option<Vec<String>> =
                items.iter().map(|v| v.as_str().map(String::from)).collect();
            strings.ok_or_else(|| ApiError::bad_field("ids", "must be a list of strings"))?
        }
        _ => return Err(ApiError::bad_field("ids", "must be a list of prompt ids")),
    };
    let mut ids = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let id = tts::prompt_id(name).ok_or_else(|| {
            let known = tts::PROMPT_IDS.join(", ");
            ApiError::invalid(&format!("ids[{i}]"), &format!("must be one of {known}"))
        })?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.is_empty() {
        return Err(ApiError::invalid("ids", "names no prompt"));
    }
    Ok(ids)
}

fn flag(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_u64().filter(|n| *n <= 1).map(|n| n == 1),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" => Some(true),
            "0" | "false" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Method;

    fn request(query: &str, body: &str) -> Request {
        let mut headers = Vec::new();
        if !body.is_empty() {
            headers.push(("content-type".to_string(), "application/json".to_string()));
        }
        Request {
            method: Method::Post,
            path: "/admin/tts/generate".into(),
            query: query.into(),
            headers: headers.into_iter().collect(),
            body: body.as_bytes().to_vec(),
            keep_alive: true,
        }
    }

    #[test]
    fn nothing_asked_means_the_whole_catalog() {
        let all = decode(&request("", "")).unwrap();
        assert_eq!(
            (all.langs.len(), all.genders.len(), all.ids.len(), all.force),
            (16, 2, 10, false)
        );
        assert_eq!(all.jobs().len(), 320);
    }

    #[test]
    fn query_and_body_fields_narrow_it() {
        let one = decode(&request("lang=he-il&gender=female&force=1", "")).unwrap();
        assert_eq!(
            (one.langs, one.genders, one.force),
            (vec!["he-IL"], vec![Gender::Female], true)
        );
        let body = decode(&request(
            "",
            r#"{"lang":"ja-JP","ids":["welcome","goodbye"],"force":true}"#,
        ))
        .unwrap();
        assert_eq!(
            (body.langs, body.ids, body.force),
            (vec!["ja-JP"], vec!["welcome", "goodbye"], true)
        );
        let listed = decode(&request("ids=goodbye,%20invalid", "")).unwrap();
        assert_eq!(listed.ids, ["goodbye", "invalid"]);
    }

    #[test]
    fn unknown_values_are_refused_naming_the_field() {
        let status = |query: &str| decode(&request(query, "")).unwrap_err();
        assert_eq!(status("lang=en-GB").status, 422);
        assert!(status("lang=en-GB").message.contains("cmn-CN"));
        assert_eq!(status("gender=robot").status, 422);
        let unknown_id = status("ids=welcome,hello");
        assert_eq!((unknown_id.status, unknown_id.code), (422, "invalid"));
        assert!(unknown_id
            .message
            .starts_with("ids[1]: must be one of welcome, please-hold"));
        assert_eq!(status("force=maybe").status, 400);
        assert_eq!(decode(&request("", "{nope")).unwrap_err().status, 400);
    }
}
