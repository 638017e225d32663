//! complete_request and is_complete_request, answered by the REPL's rules
//! ([`crate::complete`]): the kernel only translates them into the
//! protocol's shapes.

use crate::complete::{self, Completeness};
use crate::script::Session;
use serde_json::{json, Value};

/// `(start, end, matches)`: byte offsets of the text the matches replace,
/// for the cursor at byte `cursor`.
pub fn complete(session: &Session, code: &str, cursor: usize) -> (usize, usize, Vec<String>) {
    let c = complete::complete(session, code, cursor);
    (c.start, c.end, c.candidates)
}

/// The is_complete_reply content for `code`: `incomplete` only when the
/// parse error sits at the end of the input (so `foo(1 2)` is `invalid`).
pub fn is_complete(session: &Session, code: &str) -> Value {
    match complete::completeness(session, code) {
        Completeness::Complete => json!({ "status": "complete" }),
        Completeness::Incomplete => json!({ "status": "incomplete", "indent": indent_for(code) }),
        Completeness::Invalid => json!({ "status": "invalid" }),
    }
}

/// The indent for the next line: the last line's, plus four spaces after an
/// opening brace, bracket or parenthesis.
fn indent_for(code: &str) -> String {
    let last = code.lines().last().unwrap_or("");
    let mut indent: String = last
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect();
    if last.trim_end().ends_with(['{', '[', '(']) {
        indent.push_str("    ");
    }
    indent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indent_follows_open_blocks() {
        assert_eq!(indent_for("fn f(a) {"), "    ");
        assert_eq!(indent_for("fn f(a) {\n    let x = ["), "        ");
        assert_eq!(indent_for("let s = `abc"), "");
    }

    #[test]
    fn rule_is_the_repl_rule() {
        let (s, _) = Session::collecting();
        assert_eq!(is_complete(&s, "1 + 1")["status"], "complete");
        assert_eq!(is_complete(&s, "fn f(a) {")["status"], "incomplete");
        assert_eq!(is_complete(&s, "foo(1 2)")["status"], "invalid");
    }
}
