//! `{{var}}` templates in flow text fields, filled from the call's
//! variables. An unknown variable becomes the empty string; the result is
//! bounded so a variable cannot blow up a command.

use super::session::Session;
use crate::limits::FLOW_TEXT_BYTES_MAX;

/// Longest text a template may produce.
pub const RENDERED_BYTES_MAX: usize = 4 * FLOW_TEXT_BYTES_MAX;

/// `text` with every `{{name}}` replaced by the variable's value.
pub fn render(text: &str, session: &Session) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let name = after[..close].trim();
        out.push_str(session.var(name).unwrap_or(""));
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    if out.len() > RENDERED_BYTES_MAX {
        let mut cut = RENDERED_BYTES_MAX;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}
