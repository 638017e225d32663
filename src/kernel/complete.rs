//! complete_request and is_complete_request, answered by the REPL's rules.
//!
//! TEMPORARY: a minimal stand-in until `crate::complete` (the REPL branch)
//! is merged; then these two functions only translate its answers.

use crate::session::Session;
use serde_json::{json, Value};

/// `(start byte of the replaced text, matches)` for the cursor at byte `cursor`.
pub fn complete(session: &Session, code: &str, cursor: usize) -> (usize, Vec<String>) {
    let before = code.get(..cursor).unwrap_or(code);
    let start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || *c == '_')
        .last()
        .map(|(i, _)| i)
        .unwrap_or(before.len());
    let prefix = &before[start..];
    let mut names: Vec<String> = session
        .docs()
        .into_iter()
        .map(|d| d.name)
        .chain(session.variables().into_iter().map(|v| v.0))
        .filter(|n| n.starts_with(prefix) && !n.contains('$'))
        .collect();
    names.sort();
    names.dedup();
    (start, names)
}

/// The is_complete_reply content for `code`.
pub fn is_complete(session: &Session, code: &str) -> Value {
    match session.engine().compile(code) {
        Ok(_) => json!({ "status": "complete" }),
        Err(e) => {
            let end_line = code.trim_end().lines().count().max(1);
            let at_end = match e.position().line() {
                None => true,
                Some(l) => {
                    l >= end_line
                        && e.position().position().is_none_or(|c| {
                            c >= code
                                .trim_end()
                                .lines()
                                .last()
                                .map(|s| s.chars().count())
                                .unwrap_or(0)
                        })
                }
            };
            if at_end {
                json!({ "status": "incomplete", "indent": "" })
            } else {
                json!({ "status": "invalid" })
            }
        }
    }
}
