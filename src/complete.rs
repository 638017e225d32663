//! Completion and the "is this input complete?" rule, shared by the REPL
//! and the Jupyter kernel.
//!
//! [`complete`] looks at the code left of the cursor and offers, by context:
//! option keys inside `#{ … }` passed to a known call (`train(m, d, #{ l` →
//! `lr`, `log_every`, from [`crate::script::api::OPTION_KEYS`]); properties
//! and methods after `value.` (by the value's type when the receiver is a
//! variable or a chain of properties of one, e.g. `m.` on a Model offers
//! `num_params`, `sizes`, `params`, `clone`); `:commands` and their arguments
//! at the start of the input; otherwise variables in scope, functions and
//! keywords. Nothing is offered inside strings and comments.
//!
//! [`completeness`] decides whether Enter submits the input: code that parses
//! is [`Completeness::Complete`]; code whose parse error sits at the end of
//! the input (an unclosed brace, bracket, parenthesis or block comment, a
//! trailing binary operator, a backtick string or a `\`-continued string
//! left open) is [`Completeness::Incomplete`]; any other error, such as
//! `foo(1 2)`, is [`Completeness::Invalid`] — submitting it shows the error.

use crate::commands;
use crate::script::api::option_keys;
use crate::script::docs::{self, FnDoc, Member};
use crate::script::lex::{scan, Open, Scan};
use crate::script::Session;

/// What may replace `code[start..end]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Completions {
    /// Byte offset where the replaced text starts.
    pub start: usize,
    /// Byte offset where it ends (the cursor).
    pub end: usize,
    /// The replacements without duplicates: variables first, then hlab's
    /// functions (built-in and stdlib), keywords, and Rhai's own functions
    /// (`parse_be_float`, `set_bit`, …) last; alphabetical within each.
    pub candidates: Vec<String>,
}

/// Whether an input is ready to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Completeness {
    /// It parses: run it.
    Complete,
    /// More input could finish it: ask for another line.
    Incomplete,
    /// It cannot parse whatever follows: run it to show the error.
    Invalid,
}

/// Rhai keywords and keyword-like built-ins offered with the functions.
pub const KEYWORDS: &[&str] = &[
    "break",
    "catch",
    "const",
    "continue",
    "debug",
    "do",
    "else",
    "false",
    "fn",
    "for",
    "if",
    "import",
    "in",
    "is_def_fn",
    "is_def_var",
    "let",
    "loop",
    "print",
    "return",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "type_of",
    "until",
    "while",
];

/// Everything completion draws on, gathered once from a session (the REPL
/// keeps one and refreshes it after each evaluation).
#[derive(Clone, Debug, Default)]
pub struct Vocabulary {
    /// Function docs (hlab's built-ins, stdlib and user functions).
    pub docs: Vec<FnDoc>,
    /// Native functions and properties with their receiver types.
    pub members: Vec<Member>,
    /// Variables in scope: name and type key (`model`, `array`, `int` …).
    pub vars: Vec<(String, String)>,
}

impl Vocabulary {
    /// Gathers the vocabulary of `session` now.
    pub fn of(session: &Session) -> Vocabulary {
        Vocabulary {
            docs: session.docs(),
            members: session.members(),
            vars: session
                .variables()
                .into_iter()
                .map(|(name, ty, _)| (name, docs::type_key(&ty)))
                .collect(),
        }
    }
}

/// Completions for `code` with the cursor at byte offset `cursor`.
pub fn complete(session: &Session, code: &str, cursor: usize) -> Completions {
    complete_in(&Vocabulary::of(session), code, cursor)
}

/// [`complete`] against an already gathered [`Vocabulary`].
pub fn complete_in(vocab: &Vocabulary, code: &str, cursor: usize) -> Completions {
    let cursor = floor_char_boundary(code, cursor);
    let left = &code[..cursor];
    let start = word_start(left);
    let prefix = &left[start..];
    let none = Completions {
        start: cursor,
        end: cursor,
        candidates: Vec::new(),
    };
    if commands::is_command(left) {
        // A command cell (the kernel's may hold several lines): complete the
        // cursor's line, a command or the code that continues one.
        let line_start = left.rfind('\n').map_or(0, |i| i + 1);
        let line = &left[line_start..];
        let mut c = if commands::is_command(line) {
            complete_command(vocab, line, line.len())
        } else {
            complete_in(vocab, line, line.len())
        };
        c.start += line_start;
        c.end = cursor;
        return c;
    }
    let scan = scan(left);
    if scan.in_string || scan.in_comment || prefix.starts_with(|c: char| c.is_ascii_digit()) {
        return none;
    }
    let before = &left[..start];
    let names: Vec<String> = if let Some(recv) = before.strip_suffix('.') {
        if recv.ends_with(|c: char| c.is_ascii_digit()) && number_before(recv) {
            return none;
        }
        member_names(vocab, receiver_type(vocab, recv).as_deref())
    } else if let Some(keys) = option_context(&scan, before) {
        keys
    } else {
        identifier_names(vocab)
    };
    let mut candidates: Vec<String> = names
        .into_iter()
        .filter(|n| n.starts_with(prefix))
        .collect();
    candidates.sort();
    candidates.dedup();
    candidates.sort_by_cached_key(|n| rank(vocab, n));
    Completions {
        start,
        end: cursor,
        candidates,
    }
}

/// The signatures of the function whose call the cursor is in (`train(m, `
/// → `train(m: Model, data: Dataset, opts: map) -> History`), one per
/// overload, for hints and tooltips.
pub fn call_signatures(vocab: &Vocabulary, code: &str, cursor: usize) -> Vec<String> {
    let left = &code[..floor_char_boundary(code, cursor)];
    let scan = scan(left);
    if scan.in_string || scan.in_comment {
        return Vec::new();
    }
    let Some(open) = scan.stack.iter().rev().find(|o| o.kind == Open::Paren) else {
        return Vec::new();
    };
    let name = ident_before(&left[..open.pos]);
    let mut sigs: Vec<String> = docs::lookup(&vocab.docs, name)
        .into_iter()
        .map(|d| d.signature.clone())
        .collect();
    sigs.dedup();
    sigs
}

/// Whether `code` is ready to run; see the module docs for the rule.
pub fn completeness(session: &Session, code: &str) -> Completeness {
    let trimmed = code.trim();
    if trimmed.is_empty() || trimmed.starts_with(':') {
        // An empty line, or a REPL command (always one line).
        return Completeness::Complete;
    }
    if scan(code).in_block_comment {
        return Completeness::Incomplete;
    }
    let err = match session.check_syntax(code) {
        Ok(()) => return Completeness::Complete,
        Err(e) => e,
    };
    let (line, col) = (err.error.line, err.error.col);
    if err.unterminated_string {
        // A backtick string spans lines; a "…" string only continues after `\`.
        let opened_with_backtick = line
            .zip(col)
            .and_then(|(l, c)| code.lines().nth(l - 1)?.chars().nth(c - 1))
            == Some('`');
        return if opened_with_backtick || code.trim_end_matches([' ', '\t']).ends_with('\\') {
            Completeness::Incomplete
        } else {
            Completeness::Invalid
        };
    }
    match (line, col) {
        (Some(l), Some(c)) if (l, c) >= end_position(code) => Completeness::Incomplete,
        _ => Completeness::Invalid,
    }
}

/// The (line, column) just after the last non-blank character, 1-based as
/// rhai counts them.
fn end_position(code: &str) -> (usize, usize) {
    let mut end = (1, 1);
    for (i, line) in code.lines().enumerate() {
        if let Some(n) = line.trim_end().chars().count().checked_sub(1) {
            end = (i + 1, n + 2);
        }
    }
    end
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn word_start(left: &str) -> usize {
    left.char_indices()
        .rev()
        .take_while(|(_, c)| is_ident_char(*c))
        .last()
        .map_or(left.len(), |(i, _)| i)
}

/// The identifier that ends `s` (after trailing blanks), or "".
fn ident_before(s: &str) -> &str {
    let s = s.trim_end();
    &s[word_start(s)..]
}

/// True when the text before a `.` ends with a number literal (`1.`).
fn number_before(recv: &str) -> bool {
    let w = &recv[word_start(recv)..];
    w.starts_with(|c: char| c.is_ascii_digit())
}

/// Where a name goes in the list: 0 a variable, 1 one of hlab's functions
/// or properties, 2 a keyword, 3 one of Rhai's own functions.
fn rank(vocab: &Vocabulary, name: &str) -> u8 {
    if vocab.vars.iter().any(|(n, _)| n == name) {
        0
    } else if vocab.docs.iter().any(|d| d.name == name)
        || vocab.members.iter().any(|m| !m.builtin && m.name == name)
    {
        1
    } else if KEYWORDS.contains(&name) {
        2
    } else {
        3
    }
}

/// Option keys when the cursor is at a key of a `#{ … }` passed to a known
/// call; `Some(empty)` for a map in an unknown call (keys are free there).
fn option_context(scan: &Scan, before: &str) -> Option<Vec<String>> {
    let map = scan.stack.last().filter(|o| o.kind == Open::Map)?;
    let inside = &before[map.pos + 2..];
    let at_key = matches!(inside.trim_end().chars().last(), None | Some(','));
    if !at_key {
        return None;
    }
    let Some(call) = scan
        .stack
        .iter()
        .rev()
        .nth(1)
        .filter(|o| o.kind == Open::Paren)
    else {
        return Some(Vec::new());
    };
    let op = ident_before(&before[..call.pos]);
    let used: Vec<&str> = inside
        .split(',')
        .filter_map(|part| part.split_once(':').map(|(k, _)| k.trim()))
        .collect();
    Some(
        option_keys(op)
            .iter()
            .filter(|k| !used.contains(k))
            .map(|k| k.to_string())
            .collect(),
    )
}

/// The type key of the expression that ends `recv` (the text before a `.`),
/// when it is a variable or a chain of properties of one.
fn receiver_type(vocab: &Vocabulary, recv: &str) -> Option<String> {
    let mut chain = Vec::new();
    let mut rest = recv;
    loop {
        let s = word_start(rest);
        let w = &rest[s..];
        if w.is_empty() || w.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        chain.push(w);
        rest = &rest[..s];
        match rest.strip_suffix('.') {
            Some(r) => rest = r,
            None => break,
        }
    }
    let mut names = chain.into_iter().rev();
    let first = names.next()?;
    let mut ty = vocab
        .vars
        .iter()
        .rev()
        .find(|(n, _)| n == first)
        .map(|(_, t)| t.clone())?;
    for prop in names {
        ty = vocab
            .members
            .iter()
            .find(|m| m.property && m.name == prop && m.receiver.as_deref() == Some(&ty))
            .map(|m| m.returns.clone())?;
    }
    Some(ty)
}

/// Properties and methods for a receiver of type `ty`; hlab's for any
/// receiver when the type is unknown.
fn member_names(vocab: &Vocabulary, ty: Option<&str>) -> Vec<String> {
    vocab
        .members
        .iter()
        .filter(|m| match ty {
            Some(t) => m.receiver.as_deref() == Some(t),
            None => !m.builtin && m.receiver.as_deref().is_some_and(|r| r != "any"),
        })
        .map(|m| m.name.clone())
        .collect()
}

fn identifier_names(vocab: &Vocabulary) -> Vec<String> {
    let vars = vocab.vars.iter().map(|(n, _)| n.clone());
    let fns = vocab
        .docs
        .iter()
        .filter(|d| !d.signature.starts_with('.'))
        .map(|d| d.name.clone())
        .chain(
            vocab
                .members
                .iter()
                .filter(|m| !m.property)
                .map(|m| m.name.clone()),
        )
        .filter(|n| n.chars().all(is_ident_char) && !n.starts_with('_'));
    let kws = KEYWORDS.iter().map(|k| k.to_string());
    vars.chain(fns).chain(kws).collect()
}

/// `:name` at the start, then the command's argument: a function or command
/// name for `:help`, a file name for `:load` and `:save`, code for `:time`.
fn complete_command(vocab: &Vocabulary, left: &str, cursor: usize) -> Completions {
    let lead = left.len() - left.trim_start().len();
    let body = &left[lead + 1..];
    let Some((cmd, arg)) = body.split_once(char::is_whitespace) else {
        let mut candidates: Vec<String> = commands::names()
            .filter(|c| c.starts_with(body))
            .map(|c| format!(":{c}"))
            .collect();
        candidates.sort();
        return Completions {
            start: lead,
            end: cursor,
            candidates,
        };
    };
    let arg_start = left.len() - arg.trim_start().len();
    let arg = &left[arg_start..];
    match cmd {
        "help" => {
            let mut candidates: Vec<String> = vocab
                .docs
                .iter()
                .map(|d| d.name.clone())
                .chain(commands::names().map(str::to_string))
                .filter(|n| n.starts_with(arg) && n.chars().all(is_ident_char))
                .collect();
            candidates.sort();
            candidates.dedup();
            Completions {
                start: arg_start,
                end: cursor,
                candidates,
            }
        }
        "load" | "save" => complete_path(arg, arg_start, cursor),
        "time" => {
            let inner = complete_in(vocab, arg, arg.len());
            Completions {
                start: arg_start + inner.start,
                end: cursor,
                candidates: inner.candidates,
            }
        }
        _ => Completions {
            start: cursor,
            end: cursor,
            candidates: Vec::new(),
        },
    }
}

/// File names (and folders, with a trailing `/`) that start with `arg`.
fn complete_path(arg: &str, arg_start: usize, cursor: usize) -> Completions {
    let (dir, stem) = match arg.rfind('/') {
        Some(i) => (&arg[..=i], &arg[i + 1..]),
        None => ("", arg),
    };
    let read = if dir.is_empty() { "." } else { dir };
    let mut candidates: Vec<String> = std::fs::read_dir(read)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_str()?.to_string();
                    if !name.starts_with(stem) || (name.starts_with('.') && !stem.starts_with('.'))
                    {
                        return None;
                    }
                    let slash = if e.path().is_dir() { "/" } else { "" };
                    Some(format!("{dir}{name}{slash}"))
                })
                .collect()
        })
        .unwrap_or_default();
    candidates.sort();
    Completions {
        start: arg_start,
        end: cursor,
        candidates,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        let (mut s, _) = Session::collecting();
        s.eval(
            "let model = mlp([4, 3, 2]); let data = make_clusters(#{ n: 20, k: 2, dim: 4 }); \
             let count = 3; let arr = [1, 2]; fn my_helper(a, b) { a + b }",
        )
        .unwrap();
        s
    }

    fn cands(s: &Session, code: &str) -> Vec<String> {
        complete(s, code, code.len()).candidates
    }

    #[test]
    fn functions_variables_and_keywords_by_prefix() {
        let s = session();
        let c = complete(&s, "let h = tra", 11);
        assert_eq!((c.start, c.end), (8, 11));
        assert!(c.candidates.contains(&"train".to_string()), "{c:?}");
        assert!(!c.candidates.iter().any(|x| !x.starts_with("tra")), "{c:?}");
        assert_eq!(cands(&s, "mod"), vec!["model"]);
        assert_eq!(cands(&s, "my_h"), vec!["my_helper"]);
        assert!(cands(&s, "whi").contains(&"while".to_string()));
        assert!(cands(&s, "make_c").contains(&"make_clusters".to_string()));
    }

    #[test]
    fn hlab_names_come_before_rhai_internals() {
        let s = session();
        let all = cands(&s, "");
        let pos = |n: &str| all.iter().position(|x| x == n).unwrap_or(usize::MAX);
        for ours in [
            "model",
            "make_clusters",
            "train",
            "eigs",
            "plot",
            "print_table",
        ] {
            for theirs in ["parse_be_float", "set_bit", "while"] {
                assert!(pos(ours) < pos(theirs), "{ours} after {theirs}: {all:?}");
            }
        }
        assert!(pos("model") < pos("make_clusters"), "variables first");
        let p = cands(&s, "p");
        let at = |n: &str| p.iter().position(|x| x == n);
        assert!(at("plot") < at("parse_be_float"), "{p:?}");
        assert!(at("predict") < at("parse_be_float"), "{p:?}");
    }

    #[test]
    fn members_by_the_receiver_type() {
        let s = session();
        let m = cands(&s, "model.");
        for want in ["num_params", "sizes", "params", "clone"] {
            assert!(m.contains(&want.to_string()), "{want} missing from {m:?}");
        }
        assert!(!m.contains(&"push".to_string()), "{m:?}");
        assert!(!m.contains(&"classes".to_string()), "{m:?}");
        let d = cands(&s, "data.cl");
        assert_eq!(d, vec!["classes"]);
        // A chain of properties: data.x is a Matrix.
        let x = cands(&s, "data.x.");
        assert!(x.contains(&"rows".to_string()), "{x:?}");
        assert!(x.contains(&"transpose".to_string()), "{x:?}");
        // Arrays get rhai's own methods.
        assert!(cands(&s, "arr.pu").contains(&"push".to_string()));
        // A number is not a receiver.
        assert!(cands(&s, "1.").is_empty());
        // Spectra from the curvature primitives.
        let mut s = s;
        s.eval("let spec = eigs(matrix([[2, 0], [0, 1]]));")
            .unwrap();
        let sp = cands(&s, "spec.");
        for want in ["top", "outliers", "count_above", "frac_negative", "info"] {
            assert!(sp.contains(&want.to_string()), "{want} missing from {sp:?}");
        }
    }

    #[test]
    fn option_keys_inside_a_map_of_a_known_call() {
        let s = session();
        assert_eq!(
            cands(&s, "train(model, data, #{ l"),
            vec!["log_every", "lr"]
        );
        let after = cands(&s, "train(model, data, #{ lr: 0.1, ");
        assert!(after.contains(&"epochs".to_string()), "{after:?}");
        assert!(!after.contains(&"lr".to_string()), "{after:?}");
        // A value position offers values, not keys.
        assert!(cands(&s, "train(model, data, #{ lr: co").contains(&"count".to_string()));
        assert_eq!(cands(&s, "mlp([2, 2], #{ ac"), vec!["act"]);
        assert_eq!(cands(&s, "hessian(model, data, #{ "), vec!["max_params"]);
        assert_eq!(
            cands(&s, "spec.outliers(#{ r"),
            vec!["rule"],
            "methods' options too"
        );
        // A map outside a known call has free keys.
        assert!(cands(&s, "let o = #{ l").is_empty());
    }

    #[test]
    fn nothing_inside_strings_or_comments() {
        let s = session();
        assert!(cands(&s, "print(\"tra").is_empty());
        assert!(cands(&s, "// tra").is_empty());
        assert!(cands(&s, "/* tra").is_empty());
        assert!(!cands(&s, "/* x */ tra").is_empty());
    }

    #[test]
    fn commands_and_their_arguments() {
        let s = session();
        assert_eq!(cands(&s, ":he"), vec![":help"]);
        assert_eq!(cands(&s, ":"), {
            let mut v: Vec<String> = commands::names().map(|c| format!(":{c}")).collect();
            v.sort();
            v
        });
        let h = complete(&s, ":help tra", 9);
        assert_eq!(h.start, 6);
        assert!(h.candidates.contains(&"train".to_string()), "{h:?}");
        assert!(cands(&s, ":time mod").contains(&"model".to_string()));
        let t = complete(&s, ":time mod", 9);
        assert_eq!(t.start, 6);
    }

    #[test]
    fn file_names_for_load() {
        let s = session();
        let c = cands(&s, ":load Carg");
        assert_eq!(c, vec!["Cargo.lock", "Cargo.toml"]);
        let e = cands(&s, ":load src/comp");
        assert_eq!(e, vec!["src/complete.rs"]);
    }

    #[test]
    fn signatures_of_the_call_being_typed() {
        let s = session();
        let v = Vocabulary::of(&s);
        let sig = call_signatures(&v, "let h = train(model, ", 21);
        assert!(sig.iter().any(|x| x.starts_with("train(")), "{sig:?}");
        assert!(call_signatures(&v, "train(model, data)", 18).is_empty());
        let mine = call_signatures(&v, "my_helper(1, ", 13);
        assert_eq!(mine, vec!["my_helper(a, b)"]);
    }

    #[test]
    fn completeness_continues_only_at_the_end() {
        let s = session();
        let cases: &[(&str, Completeness)] = &[
            ("1 + 2", Completeness::Complete),
            ("", Completeness::Complete),
            ("let x = 1", Completeness::Complete),
            (":help train", Completeness::Complete),
            ("fn f(x) {", Completeness::Incomplete),
            ("fn f(x) {\n  x + 1", Completeness::Incomplete),
            ("fn f(x) {\n  x + 1\n}", Completeness::Complete),
            ("let a = [1, 2", Completeness::Incomplete),
            ("let o = #{ a: 1,", Completeness::Incomplete),
            ("foo(1,", Completeness::Incomplete),
            ("1 +", Completeness::Incomplete),
            ("1 +\n", Completeness::Incomplete),
            ("let s = `abc", Completeness::Incomplete),
            ("let s = \"abc\\", Completeness::Incomplete),
            ("/* a comment", Completeness::Incomplete),
            ("// a comment", Completeness::Complete),
            ("let x = 1 // one", Completeness::Complete),
            ("let x = [1, // one", Completeness::Incomplete),
            ("foo(1 2)", Completeness::Invalid),
            ("foo(1 2", Completeness::Invalid),
            ("1 + )", Completeness::Invalid),
            ("}", Completeness::Invalid),
            ("let s = \"abc", Completeness::Invalid),
            ("let x = 1 1;\nfn f() {", Completeness::Invalid),
        ];
        for (code, want) in cases {
            assert_eq!(completeness(&s, code), *want, "{code:?}");
        }
    }
}
