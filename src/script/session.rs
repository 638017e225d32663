//! `Session`: one engine, its variables and the functions defined so far.
//!
//! The runner, the REPL and the Jupyter kernel are all built on it. Code is
//! evaluated with [`Session::eval`]; what it prints and displays flows to the
//! session's [`Sink`] as it happens (so long scripts stream), and the value of
//! the last expression comes back as a [`Display`]: text for a terminal and,
//! for plots, SVG for a notebook. Errors come back as [`ScriptError`] with
//! the position; the session keeps every variable defined before.

use crate::output::{Display, Output, Sink};
use crate::script;
use rhai::{Dynamic, Engine, EvalAltResult, Scope, AST};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, Once};

/// Code that does not parse ([`Session::check_syntax`]).
#[derive(Clone, Debug, PartialEq)]
pub struct SyntaxError {
    /// The error, with its position (kind [`ErrorKind::Syntax`]).
    pub error: ScriptError,
    /// The code ends inside a string literal.
    pub unterminated_string: bool,
}

/// What kind of failure a [`ScriptError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The code does not parse.
    Syntax,
    /// The code ran and failed.
    Runtime,
    /// Stopped by Ctrl-C or a Jupyter interrupt.
    Interrupted,
    /// A bug in hlab (a panic), caught at the session boundary.
    Internal,
}

/// A failed evaluation, with where it happened.
#[derive(Clone, Debug, PartialEq)]
pub struct ScriptError {
    /// What went wrong (`op: expected …, got …`).
    pub message: String,
    /// 1-based line in the evaluated code.
    pub line: Option<usize>,
    /// 1-based column.
    pub col: Option<usize>,
    /// The source line, for a caret display.
    pub source_line: Option<String>,
    /// The kind of failure.
    pub kind: ErrorKind,
}

impl ScriptError {
    /// `FILE:LINE:COL: message` (the form `hlab run` prints).
    pub fn with_file(&self, file: &str) -> String {
        match (self.line, self.col) {
            (Some(l), Some(c)) => format!("{file}:{l}:{c}: {}", self.message),
            (Some(l), None) => format!("{file}:{l}: {}", self.message),
            _ => format!("{file}: {}", self.message),
        }
    }

    /// The message, then the failing line with a caret under the column.
    pub fn pretty(&self) -> String {
        let mut s = String::new();
        if let (Some(src), Some(l)) = (&self.source_line, self.line) {
            let prefix = format!("{l:>4} | ");
            s.push_str(&format!("{prefix}{src}\n"));
            if let Some(c) = self.col {
                s.push_str(&" ".repeat(prefix.len() + c.saturating_sub(1)));
                s.push_str("^\n");
            }
        }
        s.push_str("error: ");
        s.push_str(&self.message);
        s
    }
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.col) {
            (Some(l), Some(c)) => write!(f, "line {l}, column {c}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

static PANIC_HOOK: Once = Once::new();
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

thread_local! {
    static IN_EVAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn install_panic_hook() {
    PANIC_HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_EVAL.with(|c| c.get()) {
                let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
                    s.to_string()
                } else if let Some(s) = info.payload().downcast_ref::<String>() {
                    s.clone()
                } else {
                    "unknown panic".to_string()
                };
                let loc = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                if let Ok(mut g) = LAST_PANIC.lock() {
                    *g = Some(format!("{msg}{loc}"));
                }
            } else {
                default(info);
            }
        }));
    });
}

/// An evaluation session: engine, variables, functions defined so far.
pub struct Session {
    engine: Engine,
    scope: Scope<'static>,
    functions: AST,
    sink: Sink,
    inputs: Vec<String>,
    /// The bytes this session's values hold (checked with the work it is
    /// about to do against the memory budget).
    ledger: crate::mat::Ledger,
}

/// The most elements of an array or map, and bytes of a string, a script
/// may build: a 16-byte value per element within the memory `budget`, at
/// least 2²⁰ and at most 2²⁶ (room for a 10M-element `to_array()` at any
/// budget above 160 MB). Without a cap, `[].pad(1e10, 0)` aborts the process.
pub fn default_max_size(budget: u64) -> usize {
    (budget / 16).clamp(1 << 20, 1 << 26) as usize
}

impl Session {
    /// The bytes this session's values hold now.
    pub fn held_bytes(&self) -> u64 {
        self.ledger.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A fresh session whose outputs go to `sink`.
    pub fn new(sink: Sink) -> Session {
        install_panic_hook();
        let mut engine = script::build_engine();
        let s1 = sink.clone();
        engine.on_print(move |s| s1(Output::Stdout(format!("{s}\n"))));
        let s2 = sink.clone();
        engine.on_debug(move |s, _, pos| {
            let at = if pos.is_none() {
                String::new()
            } else {
                format!("[{pos}] ")
            };
            s2(Output::Stderr(format!("{at}{s}\n")))
        });
        let mut scope = Scope::new();
        scope.push("ARGS", rhai::Array::new());
        let functions = match script::stdlib::compile(&engine) {
            Ok(ast) => ast,
            Err(e) => {
                sink(Output::Stderr(format!(
                    "hlab: the stdlib did not load: {e}\n"
                )));
                AST::empty()
            }
        };
        let mut session = Session {
            engine,
            scope,
            functions,
            sink,
            inputs: Vec::new(),
            ledger: Default::default(),
        };
        session.set_max_sizes(default_max_size(crate::mat::memory_budget()));
        session
    }

    /// A session that collects its outputs into a shared vector (for tests
    /// and for callers that want everything at the end).
    pub fn collecting() -> (Session, Arc<Mutex<Vec<Output>>>) {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let b = buf.clone();
        let s = Session::new(Arc::new(move |o| {
            if let Ok(mut g) = b.lock() {
                g.push(o);
            }
        }));
        (s, buf)
    }

    /// Sets the script's `ARGS` array.
    pub fn set_args(&mut self, args: &[String]) {
        let arr: rhai::Array = args.iter().map(|a| Dynamic::from(a.clone())).collect();
        self.scope.set_value("ARGS", arr);
    }

    /// The engine (for docs and completion).
    /// Whether `code` parses; a failure says where, and whether it is a
    /// string left open at the end (the REPL then reads another line).
    pub fn check_syntax(&self, code: &str) -> Result<(), SyntaxError> {
        let e = match self.engine.compile(code) {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        let unterminated_string = matches!(
            e.err_type(),
            rhai::ParseErrorType::BadInput(rhai::LexError::UnterminatedString)
        );
        let line = e.position().line();
        Err(SyntaxError {
            error: ScriptError {
                message: e.to_string(),
                line,
                col: e.position().position(),
                source_line: line
                    .and_then(|l| code.lines().nth(l - 1))
                    .map(str::to_string),
                kind: ErrorKind::Syntax,
            },
            unterminated_string,
        })
    }

    /// The whole reference as Markdown (`docs/REFERENCE.md`, written by
    /// `hlab help --reference`).
    pub fn reference(&self) -> String {
        script::docs::reference(&self.docs(), &self.members())
    }

    /// The methods and properties of every script type (completion after
    /// `value.`).
    pub fn members(&self) -> Vec<script::docs::Member> {
        script::docs::members(&self.engine)
    }

    /// Functions defined so far (stdlib and user).
    pub fn functions(&self) -> &AST {
        &self.functions
    }

    /// Names and values of the variables defined so far.
    pub fn variables(&self) -> Vec<(String, String, String)> {
        self.scope
            .iter()
            .map(|(name, _, v)| {
                let ty = self.engine.map_type_name(v.type_name()).to_string();
                let mut val = script::show(&v);
                if let Some(first) = val.lines().next() {
                    val = first.to_string();
                }
                if val.chars().count() > 70 {
                    val = val.chars().take(69).collect::<String>() + "…";
                }
                (name.to_string(), ty, val)
            })
            .collect()
    }

    /// Stops any evaluation after `n` engine operations (0 = no limit, the
    /// default) with a runtime error, so that endless loops in untrusted or
    /// generated code end (the fuzz target uses it). Time spent inside one
    /// built-in counts as one operation.
    pub fn set_max_operations(&mut self, n: u64) {
        self.engine.set_max_operations(n);
    }

    /// Caps the length of any string, array or object map a script builds
    /// at `n` (0 = no limit, the default): with
    /// [`Session::set_max_operations`] it bounds what untrusted code can
    /// allocate through the language itself (hlab's own primitives check
    /// sizes against [`crate::mat::memory_budget`]).
    pub fn set_max_sizes(&mut self, n: usize) {
        self.engine
            .set_max_string_size(n)
            .set_max_array_size(n)
            .set_max_map_size(n);
    }

    /// For tests of the last-resort guard only: registers
    /// `__panic_for_tests(message)`, a built-in that panics with `message`.
    /// Normal sessions never have it (so docs, `:help` and completion never
    /// show it); the test proves such a panic becomes an
    /// [`ErrorKind::Internal`] error and the session keeps its variables.
    pub fn enable_fault_injection(&mut self) {
        self.engine
            .register_fn("__panic_for_tests", |msg: &str| -> rhai::Dynamic {
                panic!("{msg}")
            });
    }

    /// Sends `output` to this session's sink, as the script's own prints
    /// go (the `:commands` answer this way, so the REPL and the kernel show
    /// them where they show everything else).
    pub fn emit(&self, output: Output) {
        (self.sink)(output)
    }

    /// Every input evaluated successfully so far, in order.
    pub fn inputs(&self) -> &[String] {
        &self.inputs
    }

    /// Evaluates `code`; returns the value of its last expression (if it has
    /// one worth showing). Outputs stream to the sink while it runs.
    pub fn eval(&mut self, code: &str) -> Result<Option<Display>, ScriptError> {
        crate::progress::clear_interrupt();
        script::forget_shown();
        // A byte-order mark (editors on Windows write one) is not code.
        let code = code.strip_prefix('\u{feff}').unwrap_or(code);
        if let Some((line, col)) = crate::script::lex::unclosed_block_comment(code) {
            return Err(make_error(
                code,
                "expected `*/` to close the comment that starts here, got the end of the input (the rest would be skipped)".into(),
                rhai::Position::new(line.min(65535) as u16, col.min(65535) as u16),
                ErrorKind::Syntax,
            ));
        }
        let ast = self
            .engine
            .compile_with_scope(&self.scope, code)
            .map_err(|e| {
                let pos = e.position();
                make_error(code, e.to_string(), pos, ErrorKind::Syntax)
            })?;
        let merged = self.functions.merge(&ast);
        let sink = self.sink.clone();
        let engine = &self.engine;
        let scope = &mut self.scope;
        IN_EVAL.with(|c| c.set(true));
        let result = crate::mat::with_ledger(&self.ledger, || {
            script::with_sink(&sink, || {
                catch_unwind(AssertUnwindSafe(|| {
                    engine.eval_ast_with_scope::<Dynamic>(scope, &merged)
                }))
            })
        });
        IN_EVAL.with(|c| c.set(false));
        let value = match result {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                let mut err = convert_error(code, &e, self.engine.max_array_size());
                if let Some(sig) = not_found_signature(&e) {
                    let docs = script::docs::collect(&self.engine, Some(&merged));
                    err.message = not_found_message(&docs, sig);
                }
                return Err(err);
            }
            Err(_) => {
                let msg = LAST_PANIC
                    .lock()
                    .ok()
                    .and_then(|mut g| g.take())
                    .unwrap_or_else(|| "unknown panic".into());
                return Err(ScriptError {
                    message: format!(
                        "internal error in hlab (a bug, please report it): {msg}; the session and its variables are kept"
                    ),
                    line: None,
                    col: None,
                    source_line: None,
                    kind: ErrorKind::Internal,
                });
            }
        };
        let mut fns = merged;
        fns.clear_statements();
        self.functions = fns;
        self.inputs.push(code.to_string());
        Ok(script::display_value(&value))
    }

    /// Docs of every function this session knows.
    pub fn docs(&self) -> Vec<script::docs::FnDoc> {
        script::docs::collect(&self.engine, Some(&self.functions))
    }

    /// Forgets every variable and function (`:reset`).
    pub fn reset(&mut self) {
        self.scope.clear();
        self.scope.push("ARGS", rhai::Array::new());
        self.functions = script::stdlib::compile(&self.engine).unwrap_or_else(|_| AST::empty());
        self.inputs.clear();
    }
}

fn make_error(code: &str, message: String, pos: rhai::Position, kind: ErrorKind) -> ScriptError {
    let message = strip_position(&message);
    let line = pos.line();
    let col = pos.position();
    let source_line = line
        .and_then(|l| code.lines().nth(l - 1))
        .map(str::to_string);
    ScriptError {
        message,
        line,
        col,
        source_line,
        kind,
    }
}

fn strip_position(s: &str) -> String {
    match s.rfind(" (line ") {
        Some(i) if s.ends_with(')') => s[..i].to_string(),
        _ => s.to_string(),
    }
}

/// The signature in a "function not found" error (`name (types)`), looking
/// through calls of script functions.
fn not_found_signature(e: &EvalAltResult) -> Option<&str> {
    let mut cur = e;
    while let EvalAltResult::ErrorInFunctionCall(_, _, inner, _) = cur {
        cur = inner;
    }
    match cur {
        EvalAltResult::ErrorFunctionNotFound(sig, _) => Some(sig.as_str()),
        _ => None,
    }
}

/// A script-facing type name for one of rhai's (`&str | ImmutableString |
/// String` → `string`, `i64` → `int`).
fn script_type(t: &str) -> String {
    let t = t.trim();
    if t.contains("ImmutableString") || t == "&str" || t == "String" {
        return "string".into();
    }
    let t = t.trim_start_matches("&mut ").trim_start_matches('&');
    match t.rsplit("::").next().unwrap_or(t) {
        "i64" | "i32" | "INT" => "int".into(),
        "f64" | "f32" | "FLOAT" => "float".into(),
        "array" => "Array".into(),
        "map" => "Map".into(),
        other => other.to_string(),
    }
}

/// `op: expected name(a: T, …) or …, got name(U, …)` for a call that no
/// overload of `name` accepts, or `name: unknown function …` with the
/// closest known name.
fn not_found_message(docs: &[script::docs::FnDoc], sig: &str) -> String {
    let (name, args) = match sig.find(" (") {
        Some(i) => (&sig[..i], sig[i + 2..].trim_end_matches(')')),
        None => (sig, ""),
    };
    let got: Vec<String> = if args.trim().is_empty() {
        Vec::new()
    } else {
        args.split(", ").map(script_type).collect()
    };
    let got = format!("{name}({})", got.join(", "));
    let mut forms: Vec<String> = docs
        .iter()
        .filter(|d| d.name == name && !d.signature.starts_with('.'))
        .map(|d| match d.signature.find(" -> ") {
            Some(i) => d.signature[..i].to_string(),
            None => d.signature.clone(),
        })
        .collect();
    forms.sort();
    forms.dedup();
    if name == "^" {
        return format!(
            "^: `^` is the bitwise exclusive or of two integers, got {got}; for a power write `**` (x ** 2)"
        );
    }
    if forms.is_empty() {
        let close = crate::text::closest(name, docs.iter().map(|d| d.name.as_str()))
            .map(|n| format!("; did you mean `{n}`?"))
            .unwrap_or_default();
        return format!("{name}: unknown function, called as {got}{close}");
    }
    let more = forms.len().saturating_sub(6);
    forms.truncate(6);
    let mut expected = forms.join(" or ");
    if more > 0 {
        expected.push_str(&format!(" (or {more} more: see :help {name})"));
    }
    format!("{name}: expected {expected}, got {got}")
}

/// `a float`, `an int`.
fn with_article(t: &str) -> String {
    let an = t.starts_with(['a', 'e', 'i', 'o', 'u', 'A', 'E', 'I', 'O', 'U']);
    format!("{} {t}", if an { "an" } else { "a" })
}

/// Rhai's `Indexer unavailable: Vector [i64] = f64` as `op: expected …, got …`.
fn indexing_message(desc: &str) -> String {
    let Some((lhs, value)) = desc.split_once(" = ") else {
        return format!("index: expected a value that can be indexed, got {desc}");
    };
    let (ty, idx) = match lhs.split_once(" [") {
        Some((t, i)) => (t.trim(), i.trim_end_matches(']')),
        None => (lhs.trim(), "?"),
    };
    let ty = script_type(ty);
    let hint = match ty.as_str() {
        "Vector" => "; make a new one, e.g. `let a = v.to_array(); a[i] = x; v = vector(a);`",
        "Matrix" => "; make a new one, e.g. `let a = m.to_array(); a[i][j] = x; m = matrix(a);`",
        _ => "",
    };
    format!(
        "{ty} index: expected to read an element ({ty} values cannot be changed in place), got an assignment of {} to an element at an index of type {}{hint}",
        with_article(&script_type(value)),
        script_type(idx)
    )
}

/// Rhai's `No writable property 'p' - a setter is not registered for type
/// 'T' to handle 'U'` as `op: expected …, got …`.
fn setter_message(desc: &str) -> String {
    let q: Vec<&str> = desc.split('\'').collect();
    match q.as_slice() {
        [_, prop, _, ty, _, value, ..] => format!(
            "{ty}.{prop}: expected a property that can be set, got an assignment of {} to a read-only one",
            with_article(&script_type(value))
        ),
        _ => desc.to_string(),
    }
}

fn convert_error(code: &str, e: &EvalAltResult, max_size: usize) -> ScriptError {
    let mut calls: Vec<String> = Vec::new();
    let mut cur = e;
    while let EvalAltResult::ErrorInFunctionCall(name, _, inner, _) = cur {
        calls.push(name.clone());
        cur = inner;
    }
    let (msg, kind) = match cur {
        EvalAltResult::ErrorRuntime(d, _) => (d.to_string(), ErrorKind::Runtime),
        EvalAltResult::ErrorIndexingType(desc, _) => (indexing_message(desc), ErrorKind::Runtime),
        EvalAltResult::ErrorDataTooLarge(what, _) => {
            let (op, unit) = if what.contains("string") {
                ("string", "characters")
            } else if what.contains("map") {
                ("object map", "entries")
            } else {
                ("array", "elements")
            };
            (
                format!(
                    "{op}: expected at most {max_size} {unit} in one value (the cap set from the memory budget, HLAB_MEMORY_LIMIT), got more"
                ),
                ErrorKind::Runtime,
            )
        }
        EvalAltResult::ErrorDotExpr(desc, _) if desc.starts_with("No writable property") => {
            (setter_message(desc), ErrorKind::Runtime)
        }
        EvalAltResult::ErrorTerminated(..) => ("interrupted".to_string(), ErrorKind::Interrupted),
        other => (strip_position(&other.to_string()), ErrorKind::Runtime),
    };
    let kind = if msg.ends_with(": interrupted") || msg.starts_with("train: interrupted at step ") {
        ErrorKind::Interrupted
    } else {
        kind
    };
    let mut msg = msg;
    for c in calls {
        msg.push_str(&format!(" (in function '{c}')"));
    }
    make_error(code, msg, cur.position(), kind)
}
