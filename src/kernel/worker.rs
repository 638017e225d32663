//! The evaluation thread: owns the [`Session`] and answers the shell
//! requests that need it (execute, complete, inspect, is_complete, history).
//!
//! It runs apart from the sockets so that the control channel stays
//! responsive while a cell runs: an `interrupt_request` sets
//! [`crate::progress::request_interrupt`], and the running cell stops with an
//! `Interrupted` error, keeping every variable defined before. Outputs go to
//! IOPub as they happen, tagged with the request they belong to.

use super::wire::Message;
use crate::commands::{self, CommandError, Flow};
use crate::output::{Display, Output};
use crate::script::{ErrorKind, ScriptError, Session};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc::UnboundedSender, oneshot};

/// A message for IOPub: type, content, and the request it answers.
#[derive(Clone, Debug)]
pub struct Publish {
    /// `stream`, `display_data`, `execute_result`, `error`, `status`, …
    pub msg_type: String,
    /// The body.
    pub content: Value,
    /// The header of the request this output belongs to.
    pub parent: Value,
}

/// A shell request for the evaluation thread, with where its reply goes.
pub struct Job {
    /// The verified request.
    pub request: Message,
    /// Receives the reply's content.
    pub reply: oneshot::Sender<Value>,
}

/// What the outputs of the running request are tagged with.
struct Context {
    parent: Value,
    silent: bool,
}

struct HistoryEntry {
    line: u64,
    input: String,
    output: Option<String>,
}

/// Stack size of the evaluation thread.
const EVAL_STACK: usize = 64 << 20;

/// Starts the evaluation thread; jobs sent to the returned channel run in
/// order.
pub fn spawn(iopub: UnboundedSender<Publish>) -> std::io::Result<std::sync::mpsc::Sender<Job>> {
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("hlab-eval".into())
        // As deep as a main thread's stack, with room to spare: Rhai's own
        // recursion limit, not the stack, must stop runaway recursion.
        .stack_size(EVAL_STACK)
        .spawn(move || {
            let mut worker = Worker::new(iopub);
            while let Ok(job) = rx.recv() {
                let content = worker.handle(&job.request);
                let _ = job.reply.send(content);
            }
        })?;
    Ok(tx)
}

struct Worker {
    session: Session,
    context: Arc<Mutex<Context>>,
    iopub: UnboundedSender<Publish>,
    execution_count: u64,
    history: Vec<HistoryEntry>,
}

fn lock(ctx: &Mutex<Context>) -> std::sync::MutexGuard<'_, Context> {
    ctx.lock().unwrap_or_else(|e| e.into_inner())
}

/// `{text/plain, image/svg+xml}` for a display.
pub fn mime_bundle(d: &Display) -> Value {
    let mut data = json!({ "text/plain": d.text });
    if let Some(svg) = &d.svg {
        data["image/svg+xml"] = Value::String(svg.clone());
    }
    data
}

/// The `ename` of a failure of this kind.
fn ename(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Syntax => "SyntaxError",
        ErrorKind::Runtime => "RuntimeError",
        ErrorKind::Interrupted => "Interrupted",
        ErrorKind::Internal => "InternalError",
    }
}

/// The lines of an error's text, its `error: ` in bold red.
fn traceback(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| match line.strip_prefix("error: ") {
            Some(rest) => format!("\x1b[1;31merror\x1b[0m: {rest}"),
            None => line.to_string(),
        })
        .collect()
}

/// `(ename, evalue, traceback)` for a failed cell.
pub fn error_parts(e: &ScriptError) -> (String, String, Vec<String>) {
    (
        ename(e.kind).to_string(),
        e.message.clone(),
        traceback(&e.pretty()),
    )
}

/// `(ename, evalue, traceback)` for a failed `:command`: `CommandError`
/// when it was misused, else the kind of the code's error; the traceback
/// is the text the REPL prints.
pub fn command_error_parts(e: &CommandError) -> (String, String, Vec<String>) {
    (
        e.kind.map_or("CommandError", ename).to_string(),
        e.message.clone(),
        traceback(&e.text),
    )
}

/// Runs a command cell ([`commands::split_cell`]) in order, stopping at
/// the first failure; `:quit` answers [`commands::QUIT_IN_NOTEBOOK`].
pub fn run_commands(session: &mut Session, cell: &str) -> Result<(), CommandError> {
    for line in commands::split_cell(cell) {
        match commands::run_command(session, &line)? {
            Flow::Continue => {}
            Flow::Quit => return Err(CommandError::usage(commands::QUIT_IN_NOTEBOOK)),
        }
    }
    Ok(())
}

/// The byte offset of the `cp`-th Unicode code point (Jupyter counts
/// cursor positions in code points).
pub fn byte_offset(code: &str, cp: usize) -> usize {
    code.char_indices()
        .nth(cp)
        .map(|(i, _)| i)
        .unwrap_or(code.len())
}

/// The code-point position of a byte offset.
pub fn code_points(code: &str, byte: usize) -> usize {
    code.get(..byte.min(code.len()))
        .map(|s| s.chars().count())
        .unwrap_or(0)
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The identifier the cursor (a byte offset) is on or right after; else the
/// function whose call the cursor is inside (`hessian(m, |` → `hessian`).
pub fn word_at(code: &str, cursor: usize) -> Option<String> {
    let cursor = cursor.min(code.len());
    let before = code.get(..cursor)?;
    let after = code.get(cursor..)?;
    let start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_ident(*c))
        .last()
        .map(|(i, _)| i)
        .unwrap_or(cursor);
    let end = cursor
        + after
            .char_indices()
            .find(|(_, c)| !is_ident(*c))
            .map(|(i, _)| i)
            .unwrap_or(after.len());
    let word = &code[start..end];
    if !word.is_empty() && !word.starts_with(|c: char| c.is_ascii_digit()) {
        return Some(word.to_string());
    }
    // Inside a call: walk back to the unmatched '('.
    let mut depth = 0i32;
    for (i, c) in before.char_indices().rev() {
        match c {
            ')' | ']' | '}' => depth += 1,
            '[' | '{' if depth == 0 => return None,
            '(' | '[' | '{' if depth > 0 => depth -= 1,
            '(' => return word_at(code, i).filter(|w| !w.is_empty()),
            _ => {}
        }
    }
    None
}

/// Whether `text` matches a glob `pattern` (`*` any run, `?` one char),
/// anchored at both ends (as IPython's history search).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

impl Worker {
    fn new(iopub: UnboundedSender<Publish>) -> Worker {
        let context = Arc::new(Mutex::new(Context {
            parent: json!({}),
            silent: false,
        }));
        let ctx = context.clone();
        let tx = iopub.clone();
        let session = Session::new(Arc::new(move |o: Output| {
            let c = lock(&ctx);
            if c.silent {
                return;
            }
            let (msg_type, content) = match o {
                Output::Stdout(text) => ("stream", json!({ "name": "stdout", "text": text })),
                Output::Stderr(text) => ("stream", json!({ "name": "stderr", "text": text })),
                Output::Display(d) => (
                    "display_data",
                    json!({ "data": mime_bundle(&d), "metadata": {}, "transient": {} }),
                ),
            };
            let _ = tx.send(Publish {
                msg_type: msg_type.into(),
                content,
                parent: c.parent.clone(),
            });
        }));
        Worker {
            session,
            context,
            iopub,
            execution_count: 0,
            history: Vec::new(),
        }
    }

    fn publish(&self, msg_type: &str, content: Value, parent: &Value) {
        let _ = self.iopub.send(Publish {
            msg_type: msg_type.into(),
            content,
            parent: parent.clone(),
        });
    }

    /// Publishes a failed cell's `error` (unless silent) and returns the
    /// error reply.
    fn fail(
        &self,
        (ename, evalue, traceback): (String, String, Vec<String>),
        count: u64,
        silent: bool,
        req: &Message,
    ) -> Value {
        if !silent {
            self.publish(
                "error",
                json!({ "ename": ename, "evalue": evalue, "traceback": traceback }),
                &req.header,
            );
        }
        json!({
            "status": "error",
            "execution_count": count,
            "ename": ename,
            "evalue": evalue,
            "traceback": traceback,
        })
    }

    fn handle(&mut self, req: &Message) -> Value {
        match req.msg_type() {
            "execute_request" => self.execute(req),
            "complete_request" => self.complete(req),
            "inspect_request" => self.inspect(req),
            "is_complete_request" => self.is_complete(req),
            "history_request" => self.history(req),
            other => json!({
                "status": "error",
                "ename": "UnknownRequest",
                "evalue": format!("hlab kernel: no handler for {other}"),
                "traceback": [],
            }),
        }
    }

    fn execute(&mut self, req: &Message) -> Value {
        let code = match field_types(req, &[("code", "string")], &["silent", "store_history"]) {
            Ok(()) => req.str_field("code", "").to_string(),
            Err(evalue) => {
                return json!({
                    "status": "error",
                    "execution_count": self.execution_count,
                    "ename": "BadRequest",
                    "evalue": evalue,
                    "traceback": [evalue],
                })
            }
        };
        let silent = req.bool_field("silent", false);
        let store = req.bool_field("store_history", true) && !silent;
        if store {
            self.execution_count += 1;
        }
        let count = self.execution_count;
        {
            let mut c = lock(&self.context);
            c.parent = req.header.clone();
            c.silent = silent;
        }
        if !silent {
            self.publish(
                "execute_input",
                json!({ "code": code, "execution_count": count }),
                &req.header,
            );
        }
        let (reply, output) = if commands::is_command(&code) {
            let result = run_commands(&mut self.session, &code);
            lock(&self.context).silent = false;
            match result {
                Ok(()) => (ok_reply(count), None),
                Err(e) => (self.fail(command_error_parts(&e), count, silent, req), None),
            }
        } else {
            let result = self.session.eval(&code);
            lock(&self.context).silent = false;
            match result {
                Ok(value) => {
                    let text = value.as_ref().map(|d| d.text.clone());
                    if let (Some(d), false) = (value, silent) {
                        self.publish(
                            "execute_result",
                            json!({ "execution_count": count, "data": mime_bundle(&d), "metadata": {} }),
                            &req.header,
                        );
                    }
                    (ok_reply(count), text)
                }
                Err(e) => (self.fail(error_parts(&e), count, silent, req), None),
            }
        };
        if store {
            self.history.push(HistoryEntry {
                line: count,
                input: code,
                output,
            });
        }
        reply
    }
}

/// The reply to a cell that ran.
fn ok_reply(count: u64) -> Value {
    json!({
        "status": "ok",
        "execution_count": count,
        "payload": [],
        "user_expressions": {},
    })
}

/// Checks the request's content: each `required` key present with its JSON
/// type (`"string"`), each `flags` key absent or a boolean; else the
/// message `execute_request: expected …, got …`.
fn field_types(req: &Message, required: &[(&str, &str)], flags: &[&str]) -> Result<(), String> {
    let op = req.msg_type();
    let kind = |v: Option<&Value>| match v {
        None => "nothing",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "a boolean",
        Some(Value::Number(_)) => "a number",
        Some(Value::String(_)) => "a string",
        Some(Value::Array(_)) => "an array",
        Some(Value::Object(_)) => "an object",
    };
    for (key, ty) in required {
        let v = req.content.get(*key);
        let ok = match *ty {
            "string" => v.is_some_and(Value::is_string),
            _ => v.is_some(),
        };
        if !ok {
            return Err(format!(
                "{op}: expected `{key}` to be a {ty}, got {}",
                kind(v)
            ));
        }
    }
    for key in flags {
        let v = req.content.get(*key);
        if v.is_some_and(|v| !v.is_boolean()) {
            return Err(format!(
                "{op}: expected `{key}` to be true or false, got {}",
                kind(v)
            ));
        }
    }
    Ok(())
}

impl Worker {
    fn cursor(req: &Message) -> (String, usize) {
        let code = req.str_field("code", "").to_string();
        let cp = req
            .content
            .get("cursor_pos")
            .and_then(Value::as_u64)
            .map(|c| c as usize)
            .unwrap_or_else(|| code.chars().count());
        let byte = byte_offset(&code, cp);
        (code, byte)
    }

    fn complete(&mut self, req: &Message) -> Value {
        if let Err(evalue) = field_types(req, &[("code", "string")], &[]) {
            return json!({ "status": "error", "ename": "BadRequest", "evalue": evalue, "traceback": [evalue] });
        }
        let (code, cursor) = Self::cursor(req);
        let (start, end, matches) = super::complete::complete(&self.session, &code, cursor);
        json!({
            "status": "ok",
            "matches": matches,
            "cursor_start": code_points(&code, start),
            "cursor_end": code_points(&code, end),
            "metadata": {},
        })
    }

    fn inspect(&mut self, req: &Message) -> Value {
        let (code, cursor) = Self::cursor(req);
        let Some(name) = word_at(&code, cursor) else {
            return json!({ "status": "ok", "found": false, "data": {}, "metadata": {} });
        };
        let mut text = String::new();
        if let Some((_, ty, val)) = self
            .session
            .variables()
            .into_iter()
            .find(|(n, _, _)| *n == name)
        {
            text.push_str(&format!("{name}: {ty} = {val}"));
        }
        let docs = self.session.docs();
        let mut markdown = if text.is_empty() {
            String::new()
        } else {
            format!("`{}`\n\n", text.replace('`', "'"))
        };
        if let Some(help) = crate::script::docs::help_text(&docs, &name) {
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            text.push_str(&crate::script::docs::terminal_doc(&help));
            markdown.push_str(&crate::script::docs::markdown_doc(&help));
        }
        if text.is_empty() {
            return json!({ "status": "ok", "found": false, "data": {}, "metadata": {} });
        }
        json!({
            "status": "ok",
            "found": true,
            "data": { "text/plain": text, "text/markdown": markdown },
            "metadata": {},
        })
    }

    fn is_complete(&mut self, req: &Message) -> Value {
        if let Err(evalue) = field_types(req, &[("code", "string")], &[]) {
            return json!({ "status": "error", "ename": "BadRequest", "evalue": evalue, "traceback": [evalue] });
        }
        let code = req.str_field("code", "");
        super::complete::is_complete(&self.session, code)
    }

    fn history(&mut self, req: &Message) -> Value {
        let output = req.bool_field("output", false);
        let kind = req.str_field("hist_access_type", "tail");
        let int = |key: &str| req.content.get(key).and_then(Value::as_i64);
        let n = int("n").map(|n| n.max(0) as usize);
        let mut picked: Vec<&HistoryEntry> = match kind {
            "range" => {
                let session = int("session").unwrap_or(0);
                if session == 0 || session == 1 {
                    let start = int("start").unwrap_or(1);
                    let stop = int("stop").unwrap_or(i64::MAX);
                    self.history
                        .iter()
                        .filter(|h| (h.line as i64) >= start && (h.line as i64) < stop)
                        .collect()
                } else {
                    Vec::new()
                }
            }
            "search" => {
                let pattern = req.str_field("pattern", "*");
                let mut found: Vec<&HistoryEntry> = self
                    .history
                    .iter()
                    .filter(|h| glob_match(pattern, &h.input))
                    .collect();
                if req.bool_field("unique", false) {
                    let mut seen = std::collections::HashSet::new();
                    let mut unique: Vec<&HistoryEntry> = found
                        .into_iter()
                        .rev()
                        .filter(|h| seen.insert(h.input.clone()))
                        .collect();
                    unique.reverse();
                    found = unique;
                }
                found
            }
            _ => self.history.iter().collect(),
        };
        if kind != "range" {
            if let Some(n) = n {
                let skip = picked.len().saturating_sub(n);
                picked.drain(..skip);
            }
        }
        let history: Vec<Value> = picked
            .into_iter()
            .map(|h| {
                if output {
                    json!([1, h.line, [h.input, h.output]])
                } else {
                    json!([1, h.line, h.input])
                }
            })
            .collect();
        json!({ "status": "ok", "history": history })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_offsets_count_code_points() {
        let code = "let é = 1; é";
        assert_eq!(byte_offset(code, 4), 4);
        assert_eq!(byte_offset(code, 5), 6);
        assert_eq!(code_points(code, 6), 5);
        assert_eq!(byte_offset(code, 100), code.len());
    }

    #[test]
    fn word_at_finds_names_and_callees() {
        assert_eq!(word_at("hessian", 7).as_deref(), Some("hessian"));
        assert_eq!(word_at("hess", 2).as_deref(), Some("hess"));
        assert_eq!(word_at("top_eigs(m, d", 13).as_deref(), Some("d"));
        assert_eq!(word_at("top_eigs(m, ", 12).as_deref(), Some("top_eigs"));
        assert_eq!(word_at("f(g(1), ", 8).as_deref(), Some("f"));
        assert_eq!(word_at("m.num_params", 12).as_deref(), Some("num_params"));
        assert_eq!(word_at("1 + 2", 5), None);
    }

    #[test]
    fn glob_matches_like_ipython() {
        assert!(glob_match("1 + *", "1 + 2"));
        assert!(glob_match("*plot*", "let p = plot(h);"));
        assert!(!glob_match("plot", "plot(h)"));
        assert!(glob_match("a?c", "abc"));
        assert!(glob_match("*", ""));
    }

    #[test]
    fn errors_carry_kind_and_caret() {
        let (mut s, _) = Session::collecting();
        let e = s.eval("let x = 1;\nx + nope").unwrap_err();
        let (ename, evalue, tb) = error_parts(&e);
        assert_eq!(ename, "RuntimeError");
        assert!(evalue.contains("nope"), "{evalue}");
        assert!(tb.iter().any(|l| l.contains('^')), "{tb:?}");
    }
}
