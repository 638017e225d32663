//! The `:commands`, one table for every front end: the REPL (a line that
//! starts with `:`) and the Jupyter kernel (a cell whose first line starts
//! with `:`, [`split_cell`]), as evcxr does. `:help` and completion are
//! generated from [`COMMANDS`].
//!
//! A command answers through its session's sink ([`Session::emit`]): text
//! as [`Output::Stdout`] and values as [`Output::Display`], so the terminal
//! prints them and a notebook shows a `stream` (and, for a plot, its SVG).
//! A failure is a [`CommandError`]; the front end prints it (REPL) or
//! answers with an `error` reply (kernel). Nothing here knows rhai or a
//! front end.

use crate::console::interruptible;
use crate::output::{Display, Output};
use crate::script::docs;
use crate::script::{ErrorKind, ScriptError, Session};
use crate::text::closest;
use std::time::Instant;

/// What the front end does after a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Read the next input.
    Continue,
    /// Leave the REPL (`:quit`; the kernel answers [`QUIT_IN_NOTEBOOK`]).
    Quit,
}

/// A command that failed: misused (`kind` is `None`), or the code it ran
/// failed (`kind` is that error's kind).
#[derive(Clone, Debug, PartialEq)]
pub struct CommandError {
    /// One line: what went wrong (`:load: expected a file name, …`; for
    /// code, the script error's message).
    pub message: String,
    /// What a front end shows: `error: ` and the message, or for failed code
    /// the failing line with a caret, the message and a note.
    pub text: String,
    /// The kind of the script error behind it, if code failed.
    pub kind: Option<ErrorKind>,
}

impl CommandError {
    /// A misused command.
    pub fn usage(message: impl Into<String>) -> CommandError {
        let message = message.into();
        CommandError {
            text: format!("error: {message}"),
            message,
            kind: None,
        }
    }

    /// Code the command ran failed: `before` and `after` frame its caret
    /// display (`in FILE:`, `(failed after 2 ms)`).
    fn script(e: &ScriptError, before: &str, after: &str) -> CommandError {
        let mut text = String::from(before);
        text.push_str(&format_error(e, 0));
        text.push_str(after);
        CommandError {
            message: e.message.clone(),
            text,
            kind: Some(e.kind),
        }
    }
}

impl From<String> for CommandError {
    fn from(message: String) -> CommandError {
        CommandError::usage(message)
    }
}

/// A command's result.
pub type CmdResult = Result<Flow, CommandError>;

/// One `:command`.
pub struct Command {
    /// Its name, without the colon.
    pub name: &'static str,
    /// Its arguments, for `:help` (`FILE`, `[NAME]`).
    pub args: &'static str,
    /// One line saying what it does.
    pub summary: &'static str,
    /// Runs it in the session with the text after the name (trimmed).
    pub run: fn(&mut Session, &str) -> CmdResult,
}

/// Every command, in the order `:help` lists them.
pub const COMMANDS: &[Command] = &[
    Command {
        name: "help",
        args: "[NAME]",
        summary: "this list; with a NAME, the signature, doc and example of a function or command",
        run: help,
    },
    Command {
        name: "vars",
        args: "",
        summary: "the variables defined so far: name, type and a short value",
        run: vars,
    },
    Command {
        name: "load",
        args: "FILE",
        summary: "evaluate a script file in this session (its variables and functions stay)",
        run: load,
    },
    Command {
        name: "time",
        args: "CODE",
        summary: "evaluate CODE and print how long it took",
        run: time,
    },
    Command {
        name: "reset",
        args: "",
        summary: "forget every variable and function",
        run: reset,
    },
    Command {
        name: "save",
        args: "FILE",
        summary: "write this session's successful inputs to FILE as a script",
        run: save,
    },
    Command {
        name: "quit",
        args: "",
        summary: "leave the REPL (Ctrl-D does too; a notebook shuts its kernel down from its menu)",
        run: quit,
    },
];

/// What the kernel answers to `:quit`: a notebook cell cannot leave.
pub const QUIT_IN_NOTEBOOK: &str = ":quit: a notebook's kernel is not left from a cell; use the notebook's Kernel menu (Shut Down or Restart)";

/// The command names, in table order (for completion).
pub fn names() -> impl Iterator<Item = &'static str> {
    COMMANDS.iter().map(|c| c.name)
}

/// Whether `input` is a command: its first non-blank line starts with `:`.
pub fn is_command(input: &str) -> bool {
    input.trim_start().starts_with(':')
}

/// A command cell split into its commands: each line that starts with `:`
/// begins one, and the lines after it that do not start with `:` belong to
/// it (so `:time` can time code over several lines); blank lines between
/// commands are skipped.
pub fn split_cell(cell: &str) -> Vec<String> {
    let mut commands: Vec<String> = Vec::new();
    for line in cell.lines() {
        if line.trim_start().starts_with(':') {
            commands.push(line.trim().to_string());
        } else if let Some(last) = commands.last_mut() {
            if !line.trim().is_empty() {
                last.push('\n');
                last.push_str(line);
            }
        }
    }
    commands
}

/// Runs one `:command` (the leading `:` included; its argument may span
/// lines).
pub fn run_command(session: &mut Session, input: &str) -> CmdResult {
    let body = input.trim().trim_start_matches(':');
    let (name, arg) = body
        .split_once(char::is_whitespace)
        .map_or((body, ""), |(n, a)| (n, a.trim()));
    match find(name) {
        Some(cmd) => (cmd.run)(session, arg),
        None => Err(unknown_command(name).into()),
    }
}

fn find(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name == name)
}

fn unknown_command(name: &str) -> String {
    let hint = closest(name, names())
        .map(|c| format!("; did you mean `:{c}`?"))
        .unwrap_or_default();
    format!("unknown command `:{name}`{hint} (`:help` lists the commands)")
}

fn say(session: &Session, text: impl std::fmt::Display) {
    session.emit(Output::Stdout(format!("{text}\n")));
}

fn show(session: &Session, value: Option<Display>) {
    if let Some(v) = value {
        session.emit(Output::Display(v));
    }
}

/// An error with its failing line and caret (line number shifted by
/// `line_offset`), then the message; an interruption says the session
/// kept its state.
pub fn format_error(e: &ScriptError, line_offset: usize) -> String {
    let mut e = e.clone();
    e.line = e.line.map(|l| l + line_offset);
    let mut s = e.pretty();
    if e.kind == ErrorKind::Interrupted {
        s.push_str("\n(stopped; every variable defined before is kept)");
    }
    s
}

/// Seconds in a readable unit, to three figures (`:time`).
pub fn human_time(secs: f64) -> String {
    if secs < 1e-3 {
        format!("{:.0} µs", secs * 1e6)
    } else if secs < 1.0 {
        format!("{:.1} ms", secs * 1e3)
    } else if secs < 60.0 {
        format!("{secs:.2} s")
    } else {
        format!("{:.0} min {:.0} s", (secs / 60.0).floor(), secs % 60.0)
    }
}

/// The text of `:help` with no argument.
pub fn help_overview() -> String {
    let mut s = String::from("Commands:\n");
    let width = COMMANDS
        .iter()
        .map(|c| c.name.len() + c.args.len() + 2)
        .max()
        .unwrap_or(0);
    for c in COMMANDS {
        let usage = if c.args.is_empty() {
            format!(":{}", c.name)
        } else {
            format!(":{} {}", c.name, c.args)
        };
        s.push_str(&format!("  {usage:<width$}  {}\n", c.summary));
    }
    s.push_str(
        "\nType code and press Enter (in a notebook, Shift-Enter); an open `{`, `(`, `[`,\n\
         string or a trailing operator continues on the next line (Enter on two empty\n\
         lines submits anyway). In a notebook, a cell whose first line starts with `:`\n\
         holds commands, one per `:` line. Tab completes names, properties after `.`\n\
         and option keys inside `#{ }`; Ctrl-C (a notebook's Interrupt) stops a running\n\
         input and keeps every variable; Ctrl-D leaves the REPL.\n\
         \nTry:\n  \
         let data = make_clusters(#{ n: 200, k: 4, dim: 20, seed: 1 });\n  \
         let m = mlp([20, 16, 4], #{ seed: 1 });\n  \
         let h = train(m, data, #{ lr: 0.1, epochs: 30 });\n  \
         plot(h)\n  \
         :help train",
    );
    s
}

/// The text of `:help ARG` (also `hlab help ARG`): with no argument the
/// commands and hlab's functions by topic; a type's properties and methods;
/// a function's signatures, doc and example; a command's summary.
pub fn help_for(session: &Session, arg: &str) -> Result<String, String> {
    let fn_docs = session.docs();
    if arg.is_empty() {
        return Ok(format!(
            "{}\n\n{}",
            help_overview(),
            docs::topics_overview(&fn_docs).trim_end()
        ));
    }
    let name = arg.trim_start_matches(':');
    if !arg.starts_with(':') {
        let members = session.members();
        if let Some(t) = docs::type_help(&fn_docs, &members, name) {
            return Ok(t.trim_end().to_string());
        }
    }
    let text = match docs::help_text(&fn_docs, name) {
        Some(t) if !arg.starts_with(':') => docs::terminal_doc(&t),
        _ => match find(name) {
            Some(c) => format!(":{} {}\n\n{}", c.name, c.args, c.summary),
            None => {
                let names = fn_docs
                    .iter()
                    .map(|d| d.name.as_str())
                    .chain(COMMANDS.iter().map(|c| c.name))
                    .chain(docs::TYPES.iter().map(|(t, _)| *t));
                let hint = closest(name, names)
                    .map(|c| format!("; did you mean `{c}`?"))
                    .unwrap_or_default();
                return Err(format!(
                    "no function or command named `{name}`{hint} (`:help` lists them and the types; Tab completes names)"
                ));
            }
        },
    };
    Ok(text.trim_end().to_string())
}

fn help(session: &mut Session, arg: &str) -> CmdResult {
    let text = help_for(session, arg)?;
    say(session, text);
    Ok(Flow::Continue)
}

fn friendly_type(t: &str) -> &str {
    match t {
        "i64" => "int",
        "f64" => "float",
        other => other,
    }
}

fn vars(session: &mut Session, _arg: &str) -> CmdResult {
    let vars: Vec<(String, String, String)> = session
        .variables()
        .into_iter()
        .filter(|(n, _, v)| !(n == "ARGS" && v == "[]"))
        .collect();
    if vars.is_empty() {
        say(session, "no variables yet");
        return Ok(Flow::Continue);
    }
    let wn = vars.iter().map(|v| v.0.chars().count()).max().unwrap_or(0);
    let wt = vars
        .iter()
        .map(|v| friendly_type(&v.1).chars().count())
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    for (name, ty, val) in &vars {
        text.push_str(&format!("{name:<wn$}  {:<wt$}  {val}\n", friendly_type(ty)));
    }
    session.emit(Output::Stdout(text));
    Ok(Flow::Continue)
}

fn needs_arg(cmd: &str, arg: &str, what: &str) -> Result<(), CommandError> {
    if arg.is_empty() {
        let example = if what == "a file name" {
            "exercise.rhai"
        } else {
            "train(m, data)"
        };
        Err(CommandError::usage(format!(
            ":{cmd}: expected {what}, e.g. `:{cmd} {example}`"
        )))
    } else {
        Ok(())
    }
}

fn load(session: &mut Session, arg: &str) -> CmdResult {
    needs_arg("load", arg, "a file name")?;
    let code = crate::fsio::read_script(std::path::Path::new(arg)).map_err(|e| {
        CommandError::usage(match e {
            crate::Error::Io { path, msg, .. } => format!(":load: {path}: {msg}"),
            other => format!(":load: {other}"),
        })
    })?;
    match interruptible(|| session.eval(&code)) {
        Ok(value) => {
            show(session, value);
            Ok(Flow::Continue)
        }
        Err(e) => Err(CommandError::script(&e, &format!("in {arg}:\n"), "")),
    }
}

fn time(session: &mut Session, arg: &str) -> CmdResult {
    needs_arg("time", arg, "code to evaluate")?;
    let t0 = Instant::now();
    let result = interruptible(|| session.eval(arg));
    let took = human_time(t0.elapsed().as_secs_f64());
    match result {
        Ok(value) => {
            show(session, value);
            say(session, format!("time: {took}"));
            Ok(Flow::Continue)
        }
        Err(e) => Err(CommandError::script(
            &e,
            "",
            &format!("\n(failed after {took})"),
        )),
    }
}

fn reset(session: &mut Session, _arg: &str) -> CmdResult {
    session.reset();
    say(
        session,
        "session reset: every variable and function is forgotten",
    );
    Ok(Flow::Continue)
}

/// The session's inputs as one script: each ends its statement, so the file
/// runs with `hlab run` as the inputs ran here.
pub fn inputs_as_script(inputs: &[String]) -> String {
    let mut s = String::from("//! Saved from an hlab session; run it with `hlab run FILE`.\n\n");
    for input in inputs {
        let code = input.trim_end();
        s.push_str(code);
        if !code.ends_with(';') {
            let last = code.lines().last().unwrap_or("");
            s.push_str(if last.contains("//") { "\n;" } else { ";" });
        }
        s.push('\n');
    }
    s
}

fn save(session: &mut Session, arg: &str) -> CmdResult {
    needs_arg("save", arg, "a file name")?;
    let inputs = session.inputs();
    crate::fsio::write_atomic(
        ":save",
        std::path::Path::new(arg),
        inputs_as_script(inputs).as_bytes(),
    )
    .map_err(|e| CommandError::usage(e.to_string()))?;
    let n = inputs.len();
    say(session, format!("saved {n} inputs to {arg}"));
    Ok(Flow::Continue)
}

fn quit(_session: &mut Session, _arg: &str) -> CmdResult {
    Ok(Flow::Quit)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Outputs = std::sync::Arc<std::sync::Mutex<Vec<Output>>>;

    /// Runs `line` and returns its result and the text it sent to the sink
    /// (a value's text, as the terminal shows it).
    fn run(session: &mut Session, sink: &Outputs, line: &str) -> (CmdResult, String) {
        sink.lock().unwrap().clear();
        let r = run_command(session, line);
        let text = sink
            .lock()
            .unwrap()
            .iter()
            .map(|o| match o {
                Output::Stdout(s) => s.clone(),
                Output::Stderr(s) => format!("[stderr] {s}"),
                Output::Display(d) => format!("{}\n", d.text),
            })
            .collect();
        (r, text)
    }

    fn err(r: CmdResult) -> String {
        r.unwrap_err().text
    }

    #[test]
    fn cells_split_into_commands() {
        assert_eq!(
            split_cell(":vars\n\n  :time let a = [1,\n  2];\n:help train\n"),
            vec![":vars", ":time let a = [1,\n  2];", ":help train"]
        );
        assert!(is_command("\n  :vars") && !is_command("let a = 1; // :vars"));
    }

    #[test]
    fn misuse_and_failed_code_are_told_apart() {
        let (mut s, sink) = Session::collecting();
        let e = run(&mut s, &sink, ":load").0.unwrap_err();
        assert_eq!(e.kind, None);
        assert_eq!(e.text, format!("error: {}", e.message));
        let e = run(&mut s, &sink, ":time 1 +* 2").0.unwrap_err();
        assert_eq!(e.kind, Some(ErrorKind::Syntax));
        assert!(e.text.contains("^\nerror: "), "{}", e.text);
    }

    #[test]
    fn help_lists_every_command() {
        let (mut s, sink) = Session::collecting();
        let (r, out) = run(&mut s, &sink, ":help");
        assert_eq!(r, Ok(Flow::Continue));
        for c in COMMANDS {
            assert!(out.contains(&format!(":{}", c.name)), "{out}");
            assert!(out.contains(c.summary), "{out}");
        }
    }

    #[test]
    fn help_name_shows_signature_doc_and_example() {
        let (mut s, sink) = Session::collecting();
        let (r, out) = run(&mut s, &sink, ":help train");
        assert_eq!(r, Ok(Flow::Continue));
        assert!(out.contains("train(m: Model, data: Dataset"), "{out}");
        assert!(out.contains("Example:"), "{out}");
        assert!(out.contains("    let data = make_clusters"), "{out}");
        assert!(!out.contains("```"), "{out}");
        // Script-defined functions too, with their /// docs.
        s.eval("/// Squares a number.\nfn sq(x) { x * x }").unwrap();
        let (_, out) = run(&mut s, &sink, ":help sq");
        assert!(
            out.contains("sq(x)") && out.contains("Squares a number."),
            "{out}"
        );
        // Commands.
        let (_, out) = run(&mut s, &sink, ":help :load");
        assert!(out.contains(":load FILE"), "{out}");
        let (r, _) = run(&mut s, &sink, ":help trian");
        let e = err(r);
        assert!(e.contains("did you mean `train`"), "{e}");
    }

    #[test]
    fn unknown_commands_name_the_closest() {
        let (mut s, sink) = Session::collecting();
        let (r, _) = run(&mut s, &sink, ":hepl");
        let e = err(r);
        assert!(e.contains("unknown command `:hepl`"), "{e}");
        assert!(e.contains("did you mean `:help`"), "{e}");
        let (r, _) = run(&mut s, &sink, ":zzzzzz");
        assert!(!err(r).contains("did you mean"));
    }

    #[test]
    fn vars_shows_names_types_and_values() {
        let (mut s, sink) = Session::collecting();
        let (_, out) = run(&mut s, &sink, ":vars");
        assert_eq!(out.trim(), "no variables yet");
        s.eval("let count = 3; let m = mlp([4, 3, 2]);").unwrap();
        let (_, out) = run(&mut s, &sink, ":vars");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        let words = |l: &str| l.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
        assert_eq!(words(lines[0]), "count int 3", "{out}");
        assert_eq!(words(lines[1]), "m Model Model:", "{out}");
        // Columns line up.
        assert_eq!(lines[0].find("int"), lines[1].find("Model"), "{out}");
        assert!(lines[1].contains("23"), "the parameter count shows: {out}");
    }

    #[test]
    fn time_prints_value_and_wall_time() {
        let (mut s, sink) = Session::collecting();
        let (r, out) = run(&mut s, &sink, ":time 1 + 2");
        assert_eq!(r, Ok(Flow::Continue));
        assert!(out.starts_with("3\ntime: "), "{out}");
        let (r, _) = run(&mut s, &sink, ":time");
        assert!(err(r).contains("expected code"));
        let (r, _) = run(&mut s, &sink, ":time nope(1)");
        let e = err(r);
        assert!(e.contains("nope: unknown function"), "{e}");
    }

    #[test]
    fn save_then_load_reproduces_the_session() {
        let dir = std::env::temp_dir().join(format!("hlab-cmd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("saved.rhai");
        let file = file.to_str().unwrap();
        let (mut s, sink) = Session::collecting();
        s.eval("let a = 2 // two").unwrap();
        s.eval("fn twice(x) { 2 * x }").unwrap();
        s.eval("let b = twice(a)").unwrap();
        assert!(s.eval("let c = oops(").is_err());
        let (r, out) = run(&mut s, &sink, &format!(":save {file}"));
        assert_eq!(r, Ok(Flow::Continue));
        assert!(out.contains("saved 3 inputs"), "{out}");
        let (r, out) = run(&mut s, &sink, ":reset");
        assert_eq!(r, Ok(Flow::Continue));
        assert!(out.contains("reset"), "{out}");
        assert!(s.eval("a").is_err());
        let (r, _) = run(&mut s, &sink, &format!(":load {file}"));
        assert_eq!(r, Ok(Flow::Continue));
        assert_eq!(s.eval("b").unwrap().unwrap().text, "4");
        let (r, _) = run(&mut s, &sink, ":load /no/such/file.rhai");
        assert!(err(r).contains("/no/such/file.rhai"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn quit_quits() {
        let (mut s, sink) = Session::collecting();
        assert_eq!(run(&mut s, &sink, ":quit").0, Ok(Flow::Quit));
    }
}
