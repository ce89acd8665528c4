//! Each node kind's `data`, typed: what provisioning validates (422 with
//! the path) and what the interpreter runs. Field names are the flow
//! editor's (camelCase); `kind`, `label` and `description` are allowed on
//! every kind, anything else unknown is refused so a typo never passes
//! silently.

use crate::account::LANGUAGES;
use crate::limits::{FLOW_REGEX_BYTES_MAX, FLOW_TEXT_BYTES_MAX, FLOW_VARS_MAX};
use serde::Deserialize;
use serde_json::{Map, Value};

/// A node's settings by kind.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeSpec {
    Entry(Entry),
    Play(Play),
    Say(Say),
    Menu(Menu),
    Collect(Collect),
    TimeCondition(TimeCondition),
    SetVariable(SetVariable),
    Condition(Condition),
    Dial(Dial),
    Enqueue(Enqueue),
    Voicemail(Voicemail),
    Record(Record),
    Conference(Conference),
    RingGroup(RingGroup),
    Goto(Goto),
    SetLanguage(SetLanguage),
    Webhook(Webhook),
    Hangup(Hangup),
}

macro_rules! node_data {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq, Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct $name {
            #[serde(default)]
            pub label: Option<String>,
            #[serde(default)]
            pub description: Option<String>,
            $($(#[$fmeta])* #[serde(default)] pub $field: $ty,)*
        }
    };
}

node_data!(
    /// Where the flow begins: `trigger` is informational.
    Entry { trigger: Option<String> }
);
node_data!(
    /// Plays a media file of the account (`audioId`) or object keys.
    Play { audio_id: Option<String>, media: Vec<String>, r#loop: Option<u32> }
);
node_data!(
    /// Speaks `text` (templated) with TTS.
    Say { text: String, voice: Option<String> }
);
node_data!(
    /// A DTMF menu: prompt, branch on the key, re-prompt on invalid input
    /// or silence until the limits, then `invalid` / `timeout`.
    Menu {
        prompt_audio_id: Option<String>,
        prompt_text: Option<String>,
        reprompt_audio_id: Option<String>,
        invalid_audio_id: Option<String>,
        min_digits: Option<u32>,
        max_digits: Option<u32>,
        terminators: Option<String>,
        timeout_sec: Option<u32>,
        inter_digit_timeout_sec: Option<u32>,
        max_failures: Option<u32>,
        max_timeouts: Option<u32>,
        barge_in: Option<bool>,
    }
);
node_data!(
    /// Collects digits into `variable`, checked by length and `regex`.
    Collect {
        variable: String,
        prompt_audio_id: Option<String>,
        prompt_text: Option<String>,
        reprompt_audio_id: Option<String>,
        invalid_audio_id: Option<String>,
        min_digits: Option<u32>,
        max_digits: Option<u32>,
        terminator: Option<String>,
        timeout_sec: Option<u32>,
        inter_digit_timeout_sec: Option<u32>,
        regex: Option<String>,
        max_tries: Option<u32>,
    }
);
node_data!(
    /// Branches on a business-hours schedule.
    TimeCondition { schedule_id: String }
);
node_data!(
    /// Sets `variable` to `value` (templated), or every pair of `vars`.
    SetVariable { variable: Option<String>, value: Option<String>, vars: Map<String, Value> }
);
node_data!(
    /// Compares a variable: outcomes `true` / `false`.
    Condition { variable: String, operator: Option<String>, value: Option<String> }
);
node_data!(
    /// Calls a user, an extension or a number.
    Dial {
        user_id: Option<String>,
        extension: Option<String>,
        number: Option<String>,
        timeout_sec: Option<u32>,
        caller_id: Option<String>,
    }
);
node_data!(
    /// Hands the caller to a queue.
    Enqueue { queue_id: String, poll_sec: Option<u32> }
);
node_data!(
    /// The mailbox greeting, then a recording to `<account>/vm/<callId>.wav`.
    Voicemail { mailbox_id: String, max_sec: Option<u32> }
);
node_data!(
    /// Records the caller to `key` (templated).
    Record {
        key: Option<String>,
        max_sec: Option<u32>,
        beep: Option<bool>,
        finish_on_key: Option<String>,
        silence_sec: Option<u32>,
    }
);
node_data!(
    /// Joins a conference room (templated).
    Conference { room: Option<String>, conference_id: Option<String>, moderator: Option<bool>, muted: Option<bool> }
);
node_data!(
    /// Rings several users or extensions at once or in turn.
    RingGroup {
        group_id: Option<String>,
        members: Vec<String>,
        strategy: Option<String>,
        timeout_sec: Option<u32>,
    }
);
node_data!(
    /// Jumps to another node of this flow or to the start of another flow.
    Goto { target: Option<String>, flow_id: Option<String> }
);
node_data!(
    /// Switches the prompt language.
    SetLanguage { language: String }
);
node_data!(
    /// Calls an HTTP endpoint (performed by the runtime): `ok` / `error`.
    Webhook { url: String, timeout_sec: Option<u32> }
);
node_data!(
    /// Ends the call.
    Hangup { cause: Option<String>, sip_code: Option<u16> }
);

/// Default and maximum of menu/collect digit counts and timers.
pub const DIGITS_MAX: u32 = 32;
/// Longest wait for a first digit, a recording, a dial or a webhook.
pub const TIMER_SEC_MAX: u32 = 3600;
/// Re-prompts allowed before `invalid`/`timeout` (menus and collects).
pub const TRIES_MAX: u32 = 10;
/// Operators `condition` knows.
pub const OPERATORS: [&str; 10] = [
    "eq", "ne", "gt", "ge", "lt", "le", "contains", "matches", "empty", "exists",
];

/// A kind's data that failed: the field (relative to `data`) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecError {
    /// `maxDigits`, `members[2]`, … ("" = the data object).
    pub field: String,
    pub message: String,
}

fn bad<T>(field: &str, message: impl Into<String>) -> Result<T, SpecError> {
    Err(SpecError {
        field: field.into(),
        message: message.into(),
    })
}

/// Decodes and checks one node's `data`.
pub fn parse(data: &Map<String, Value>) -> Result<NodeSpec, SpecError> {
    let kind = match data.get("kind") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(_) => return bad("kind", "must be a string"),
        None => return bad("kind", "required"),
    };
    let mut fields = data.clone();
    fields.remove("kind");
    let fields = Value::Object(fields);
    let spec = match kind {
        "entry" => NodeSpec::Entry(typed(fields)?),
        "play" => NodeSpec::Play(typed(fields)?),
        "say" => NodeSpec::Say(typed(fields)?),
        "menu" => NodeSpec::Menu(typed(fields)?),
        "collect" => NodeSpec::Collect(typed(fields)?),
        "timeCondition" => NodeSpec::TimeCondition(typed(fields)?),
        "setVariable" => NodeSpec::SetVariable(typed(fields)?),
        "condition" => NodeSpec::Condition(typed(fields)?),
        "dial" => NodeSpec::Dial(typed(fields)?),
        "enqueue" => NodeSpec::Enqueue(typed(fields)?),
        "voicemail" => NodeSpec::Voicemail(typed(fields)?),
        "record" => NodeSpec::Record(typed(fields)?),
        "conference" => NodeSpec::Conference(typed(fields)?),
        "ringGroup" => NodeSpec::RingGroup(typed(fields)?),
        "goto" => NodeSpec::Goto(typed(fields)?),
        "setLanguage" => NodeSpec::SetLanguage(typed(fields)?),
        "webhook" => NodeSpec::Webhook(typed(fields)?),
        "hangup" => NodeSpec::Hangup(typed(fields)?),
        _ => return bad("kind", "unknown node kind"),
    };
    check(&spec)?;
    Ok(spec)
}

/// One kind's fields, with the path of the first bad one.
fn typed<T: serde::de::DeserializeOwned>(fields: Value) -> Result<T, SpecError> {
    serde_path_to_error::deserialize(fields).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        SpecError {
            field,
            message: e.into_inner().to_string(),
        }
    })
}

fn range(field: &str, value: Option<u32>, min: u32, max: u32) -> Result<(), SpecError> {
    match value {
        Some(v) if v < min || v > max => Err(SpecError {
            field: field.into(),
            message: format!("must be {min}..{max}"),
        }),
        _ => Ok(()),
    }
}

fn text(field: &str, value: &str) -> Result<(), SpecError> {
    if value.len() > FLOW_TEXT_BYTES_MAX {
        return Err(SpecError {
            field: field.into(),
            message: format!("at most {FLOW_TEXT_BYTES_MAX} bytes"),
        });
    }
    Ok(())
}

fn required(field: &str, value: &str) -> Result<(), SpecError> {
    if value.is_empty() {
        return Err(SpecError {
            field: field.into(),
            message: "required".into(),
        });
    }
    text(field, value)
}

/// A list of at most `max` non-empty texts.
fn list(field: &str, items: &[String], max: usize) -> Result<(), SpecError> {
    if items.len() > max {
        return bad(field, format!("at most {max} entries"));
    }
    for (i, item) in items.iter().enumerate() {
        required(&format!("{field}[{i}]"), item)?;
    }
    Ok(())
}

fn keys(field: &str, value: &str) -> Result<(), SpecError> {
    if value
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#')
    {
        Ok(())
    } else {
        Err(SpecError {
            field: field.into(),
            message: "only 0-9, * and # keys".into(),
        })
    }
}

/// A variable name: 1..64 chars of `[A-Za-z0-9_]`.
pub fn is_var_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn var_name(field: &str, name: &str) -> Result<(), SpecError> {
    if is_var_name(name) {
        Ok(())
    } else {
        Err(SpecError {
            field: field.into(),
            message: "variable names are 1..64 chars of [A-Za-z0-9_]".into(),
        })
    }
}

/// Compiles a flow regex with a bounded size (the same way at provisioning
/// and at run time).
pub fn compile_regex(pattern: &str) -> Result<regex::Regex, String> {
    if pattern.len() > FLOW_REGEX_BYTES_MAX {
        return Err(format!("at most {FLOW_REGEX_BYTES_MAX} bytes"));
    }
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 16)
        .build()
        .map_err(|e| e.to_string())
}

fn check(spec: &NodeSpec) -> Result<(), SpecError> {
    let timer = |field: &str, value| range(field, value, 1, TIMER_SEC_MAX);
    match spec {
        NodeSpec::Entry(_) | NodeSpec::Hangup(_) => {}
        NodeSpec::Play(play) => {
            if play.audio_id.is_none() && play.media.is_empty() {
                return bad("audioId", "required (or `media`)");
            }
            list("media", &play.media, 16)?;
            range("loop", play.r#loop, 0, 100)?;
        }
        NodeSpec::Say(say) => required("text", &say.text)?,
        NodeSpec::Menu(menu) => {
            if menu.max_digits.is_none() {
                return bad("maxDigits", "required");
            }
            range("maxDigits", menu.max_digits, 1, DIGITS_MAX)?;
            range(
                "minDigits",
                menu.min_digits,
                1,
                menu.max_digits.unwrap_or(1),
            )?;
            timer("timeoutSec", menu.timeout_sec)?;
            timer("interDigitTimeoutSec", menu.inter_digit_timeout_sec)?;
            range("maxFailures", menu.max_failures, 1, TRIES_MAX)?;
            range("maxTimeouts", menu.max_timeouts, 1, TRIES_MAX)?;
            if let Some(t) = &menu.terminators {
                keys("terminators", t)?;
            }
            if let Some(t) = &menu.prompt_text {
                text("promptText", t)?;
            }
        }
        NodeSpec::Collect(collect) => {
            var_name("variable", &collect.variable)?;
            range("maxDigits", collect.max_digits, 1, DIGITS_MAX)?;
            let max = collect.max_digits.unwrap_or(DIGITS_MAX);
            range("minDigits", collect.min_digits, 1, max)?;
            timer("timeoutSec", collect.timeout_sec)?;
            timer("interDigitTimeoutSec", collect.inter_digit_timeout_sec)?;
            range("maxTries", collect.max_tries, 1, TRIES_MAX)?;
            if let Some(t) = &collect.terminator {
                keys("terminator", t)?;
            }
            if let Some(pattern) = &collect.regex {
                if let Err(message) = compile_regex(pattern) {
                    return bad("regex", message);
                }
            }
        }
        NodeSpec::TimeCondition(t) => required("scheduleId", &t.schedule_id)?,
        NodeSpec::SetVariable(set) => {
            match (&set.variable, set.vars.is_empty()) {
                (Some(name), _) => {
                    var_name("variable", name)?;
                    text("value", set.value.as_deref().unwrap_or(""))?;
                }
                (None, false) => {}
                (None, true) => return bad("variable", "required (or `vars`)"),
            }
            if set.vars.len() > FLOW_VARS_MAX {
                return bad("vars", format!("at most {FLOW_VARS_MAX} entries"));
            }
            for (name, value) in &set.vars {
                var_name(&format!("vars.{name}"), name)?;
                match value {
                    Value::String(s) => text(&format!("vars.{name}"), s)?,
                    Value::Number(_) | Value::Bool(_) | Value::Null => {}
                    _ => {
                        return bad(
                            &format!("vars.{name}"),
                            "must be a string, number or boolean",
                        )
                    }
                }
            }
        }
        NodeSpec::Condition(c) => {
            var_name("variable", &c.variable)?;
            let op = c.operator.as_deref().unwrap_or("eq");
            if !OPERATORS.contains(&op) {
                return bad(
                    "operator",
                    format!("unknown operator, expected one of {}", OPERATORS.join(", ")),
                );
            }
            if op == "matches" {
                if let Err(message) = compile_regex(c.value.as_deref().unwrap_or("")) {
                    return bad("value", message);
                }
            }
            text("value", c.value.as_deref().unwrap_or(""))?;
        }
        NodeSpec::Dial(dial) => {
            let set = [&dial.user_id, &dial.extension, &dial.number]
                .iter()
                .filter(|v| v.is_some())
                .count();
            if set != 1 {
                return bad("userId", "exactly one of `userId`, `extension`, `number`");
            }
            if let Some(number) = &dial.number {
                required("number", number)?;
            }
            timer("timeoutSec", dial.timeout_sec)?;
        }
        NodeSpec::Enqueue(e) => {
            required("queueId", &e.queue_id)?;
            range("pollSec", e.poll_sec, 1, 60)?;
        }
        NodeSpec::Voicemail(v) => {
            required("mailboxId", &v.mailbox_id)?;
            timer("maxSec", v.max_sec)?;
        }
        NodeSpec::Record(r) => {
            if let Some(key) = &r.key {
                required("key", key)?;
            }
            timer("maxSec", r.max_sec)?;
            timer("silenceSec", r.silence_sec)?;
            if let Some(k) = &r.finish_on_key {
                keys("finishOnKey", k)?;
            }
        }
        NodeSpec::Conference(c) => {
            if c.room.is_none() && c.conference_id.is_none() {
                return bad("room", "required (or `conferenceId`)");
            }
        }
        NodeSpec::RingGroup(group) => {
            if group.members.is_empty() && group.group_id.is_none() {
                return bad("members", "required (or `groupId`)");
            }
            list("members", &group.members, 32)?;
            let strategy = group.strategy.as_deref().unwrap_or("simultaneous");
            if strategy != "simultaneous" && strategy != "sequential" {
                return bad("strategy", "simultaneous or sequential");
            }
            timer("timeoutSec", group.timeout_sec)?;
        }
        NodeSpec::Goto(goto) => {
            if goto.target.is_some() == goto.flow_id.is_some() {
                return bad("target", "exactly one of `target` (a node) and `flowId`");
            }
        }
        NodeSpec::SetLanguage(set) => {
            if !LANGUAGES.contains(&set.language.as_str()) {
                return bad("language", format!("one of {}", LANGUAGES.join(", ")));
            }
        }
        NodeSpec::Webhook(hook) => {
            required("url", &hook.url)?;
            if crate::flow::webhook::parse_url(&hook.url).is_none() {
                return bad("url", "an http://host[:port]/path URL");
            }
            range("timeoutSec", hook.timeout_sec, 1, 30)?;
        }
    }
    Ok(())
}

impl NodeSpec {
    /// True when `handle` names an outcome of this node (an edge's
    /// `sourceHandle`); `default` is always one, except on nodes that
    /// never leave (`hangup`, `goto`).
    pub fn has_outcome(&self, handle: &str) -> bool {
        let fixed: &[&str] = match self {
            NodeSpec::Hangup(_) | NodeSpec::Goto(_) => return false,
            NodeSpec::Menu(menu) => {
                if let Some(keys) = handle.strip_prefix("digit:") {
                    let max = menu.max_digits.unwrap_or(1) as usize;
                    return !keys.is_empty()
                        && keys.len() <= max
                        && keys
                            .bytes()
                            .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#');
                }
                &["timeout", "invalid"]
            }
            NodeSpec::Collect(_) => &["success", "timeout", "invalid"],
            NodeSpec::TimeCondition(_) => &["in_hours", "out_of_hours", "holiday"],
            NodeSpec::Condition(_) => &["true", "false"],
            NodeSpec::Dial(_) | NodeSpec::RingGroup(_) => {
                &["answered", "no_answer", "busy", "failed"]
            }
            NodeSpec::Enqueue(_) => &[
                "answered",
                "timeout",
                "abandon",
                "no_agents",
                "queue_full",
                "ewt",
                "closed",
            ],
            NodeSpec::Voicemail(_) | NodeSpec::Record(_) => &["recorded", "timeout"],
            NodeSpec::Conference(_) => &["left"],
            NodeSpec::Webhook(_) => &["ok", "error"],
            _ => &[],
        };
        handle == "default" || fixed.contains(&handle)
    }

    /// The schedule, queue or mailbox id this node names, for the
    /// document's reference checks: (field, table).
    pub fn reference(&self) -> Option<(&'static str, &str)> {
        match self {
            NodeSpec::TimeCondition(t) => Some(("scheduleId", &t.schedule_id)),
            NodeSpec::Enqueue(e) => Some(("queueId", &e.queue_id)),
            NodeSpec::Voicemail(v) => Some(("mailboxId", &v.mailbox_id)),
            _ => None,
        }
    }
}

/// The `label` of any node, for traces ("" when none).
pub fn label(data: &Map<String, Value>) -> &str {
    data.get("label").and_then(Value::as_str).unwrap_or("")
}
