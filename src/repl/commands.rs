//! The REPL's `:commands`, all in one table; `:help` is generated from it.

use super::{eval_interruptible, format_error, human_time};
use crate::script::docs;
use crate::script::opts::closest;
use crate::script::Session;
use std::io::Write;
use std::time::Instant;

/// What the REPL does after a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Read the next input.
    Continue,
    /// Leave the REPL.
    Quit,
}

/// What a command runs against: the session and where its text goes.
pub struct Ctx<'a> {
    /// The session the REPL evaluates in.
    pub session: &'a mut Session,
    /// The command's output (the terminal, or a buffer in tests).
    pub out: &'a mut dyn Write,
}

/// A command's result: an `Err` is printed as an error and the REPL goes on.
pub type CmdResult = Result<Flow, String>;

/// One `:command`.
pub struct Command {
    /// Its name, without the colon.
    pub name: &'static str,
    /// Its arguments, for `:help` (`FILE`, `[NAME]`).
    pub args: &'static str,
    /// One line saying what it does.
    pub summary: &'static str,
    /// Runs it with the text after the name (trimmed).
    pub run: fn(&mut Ctx<'_>, &str) -> CmdResult,
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
        summary: "leave the REPL (Ctrl-D does too)",
        run: quit,
    },
];

/// Runs one `:command` line (the leading `:` included).
pub fn run_command(ctx: &mut Ctx<'_>, line: &str) -> CmdResult {
    let body = line.trim().trim_start_matches(':');
    let (name, arg) = body
        .split_once(char::is_whitespace)
        .map_or((body, ""), |(n, a)| (n, a.trim()));
    match find(name) {
        Some(cmd) => (cmd.run)(ctx, arg),
        None => Err(unknown_command(name)),
    }
}

fn find(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name == name)
}

fn unknown_command(name: &str) -> String {
    let hint = closest(name, COMMANDS.iter().map(|c| c.name))
        .map(|c| format!("; did you mean `:{c}`?"))
        .unwrap_or_default();
    format!("unknown command `:{name}`{hint} (`:help` lists the commands)")
}

fn out_err(e: std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        // The reader went away: the run ends quietly (exit status 0).
        crate::progress::note_stdout_closed();
    }
    format!("cannot write the output: {e}")
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
        "\nType code and press Enter; an open `{`, `(`, `[`, string or a trailing operator\n\
         continues on the next line (press Enter on two empty lines to submit anyway).\n\
         Tab completes names, properties after `.` and option keys inside `#{ }`;\n\
         Ctrl-C stops a running cell and keeps every variable; Ctrl-D leaves.\n\
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

fn help(ctx: &mut Ctx<'_>, arg: &str) -> CmdResult {
    let text = help_for(ctx.session, arg)?;
    writeln!(ctx.out, "{text}").map_err(out_err)?;
    Ok(Flow::Continue)
}

fn friendly_type(t: &str) -> &str {
    match t {
        "i64" => "int",
        "f64" => "float",
        other => other,
    }
}

fn vars(ctx: &mut Ctx<'_>, _arg: &str) -> CmdResult {
    let vars: Vec<(String, String, String)> = ctx
        .session
        .variables()
        .into_iter()
        .filter(|(n, _, v)| !(n == "ARGS" && v == "[]"))
        .collect();
    if vars.is_empty() {
        writeln!(ctx.out, "no variables yet").map_err(out_err)?;
        return Ok(Flow::Continue);
    }
    let wn = vars.iter().map(|v| v.0.chars().count()).max().unwrap_or(0);
    let wt = vars
        .iter()
        .map(|v| friendly_type(&v.1).chars().count())
        .max()
        .unwrap_or(0);
    for (name, ty, val) in &vars {
        writeln!(ctx.out, "{name:<wn$}  {:<wt$}  {val}", friendly_type(ty)).map_err(out_err)?;
    }
    Ok(Flow::Continue)
}

fn needs_arg(cmd: &str, arg: &str, what: &str) -> Result<(), String> {
    if arg.is_empty() {
        Err(format!(":{cmd}: expected {what}, e.g. `:{cmd} {}`", {
            if what == "a file name" {
                "exercise.rhai"
            } else {
                "train(m, data)"
            }
        }))
    } else {
        Ok(())
    }
}

fn load(ctx: &mut Ctx<'_>, arg: &str) -> CmdResult {
    needs_arg("load", arg, "a file name")?;
    let code = std::fs::read_to_string(arg).map_err(|e| format!(":load: {arg}: {e}"))?;
    match eval_interruptible(ctx.session, &code) {
        Ok(value) => {
            if let Some(v) = value {
                writeln!(ctx.out, "{}", v.text).map_err(out_err)?;
            }
            Ok(Flow::Continue)
        }
        Err(e) => Err(format!("in {arg}:\n{}", format_error(&e, 0))),
    }
}

fn time(ctx: &mut Ctx<'_>, arg: &str) -> CmdResult {
    needs_arg("time", arg, "code to evaluate")?;
    let t0 = Instant::now();
    let result = eval_interruptible(ctx.session, arg);
    let took = human_time(t0.elapsed().as_secs_f64());
    match result {
        Ok(value) => {
            if let Some(v) = value {
                writeln!(ctx.out, "{}", v.text).map_err(out_err)?;
            }
            writeln!(ctx.out, "time: {took}").map_err(out_err)?;
            Ok(Flow::Continue)
        }
        Err(e) => Err(format!("{}\n(failed after {took})", format_error(&e, 0))),
    }
}

fn reset(ctx: &mut Ctx<'_>, _arg: &str) -> CmdResult {
    ctx.session.reset();
    writeln!(
        ctx.out,
        "session reset: every variable and function is forgotten"
    )
    .map_err(out_err)?;
    Ok(Flow::Continue)
}

/// The session's inputs as one script: each ends its statement, so the file
/// runs with `hlab run` as the inputs ran here.
pub fn inputs_as_script(inputs: &[String]) -> String {
    let mut s =
        String::from("//! Saved from an hlab REPL session; run it with `hlab run FILE`.\n\n");
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

fn save(ctx: &mut Ctx<'_>, arg: &str) -> CmdResult {
    needs_arg("save", arg, "a file name")?;
    let inputs = ctx.session.inputs();
    crate::fsio::write_atomic(
        ":save",
        std::path::Path::new(arg),
        inputs_as_script(inputs).as_bytes(),
    )
    .map_err(|e| e.to_string())?;
    writeln!(ctx.out, "saved {} inputs to {arg}", inputs.len()).map_err(out_err)?;
    Ok(Flow::Continue)
}

fn quit(_ctx: &mut Ctx<'_>, _arg: &str) -> CmdResult {
    Ok(Flow::Quit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(session: &mut Session, line: &str) -> (CmdResult, String) {
        let mut buf = Vec::new();
        let r = run_command(
            &mut Ctx {
                session,
                out: &mut buf,
            },
            line,
        );
        (r, String::from_utf8(buf).unwrap())
    }

    #[test]
    fn the_completion_list_matches_the_table() {
        let names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
        assert_eq!(names, crate::complete::COMMANDS);
    }

    #[test]
    fn help_lists_every_command() {
        let (mut s, _) = Session::collecting();
        let (r, out) = run(&mut s, ":help");
        assert_eq!(r, Ok(Flow::Continue));
        for c in COMMANDS {
            assert!(out.contains(&format!(":{}", c.name)), "{out}");
            assert!(out.contains(c.summary), "{out}");
        }
    }

    #[test]
    fn help_name_shows_signature_doc_and_example() {
        let (mut s, _) = Session::collecting();
        let (r, out) = run(&mut s, ":help train");
        assert_eq!(r, Ok(Flow::Continue));
        assert!(out.contains("train(m: Model, data: Dataset"), "{out}");
        assert!(out.contains("Example:"), "{out}");
        assert!(out.contains("    let data = make_clusters"), "{out}");
        assert!(!out.contains("```"), "{out}");
        // Script-defined functions too, with their /// docs.
        s.eval("/// Squares a number.\nfn sq(x) { x * x }").unwrap();
        let (_, out) = run(&mut s, ":help sq");
        assert!(
            out.contains("sq(x)") && out.contains("Squares a number."),
            "{out}"
        );
        // Commands.
        let (_, out) = run(&mut s, ":help :load");
        assert!(out.contains(":load FILE"), "{out}");
        let (r, _) = run(&mut s, ":help trian");
        let e = r.unwrap_err();
        assert!(e.contains("did you mean `train`"), "{e}");
    }

    #[test]
    fn unknown_commands_name_the_closest() {
        let (mut s, _) = Session::collecting();
        let (r, _) = run(&mut s, ":hepl");
        let e = r.unwrap_err();
        assert!(e.contains("unknown command `:hepl`"), "{e}");
        assert!(e.contains("did you mean `:help`"), "{e}");
        let (r, _) = run(&mut s, ":zzzzzz");
        assert!(!r.unwrap_err().contains("did you mean"));
    }

    #[test]
    fn vars_shows_names_types_and_values() {
        let (mut s, _) = Session::collecting();
        let (_, out) = run(&mut s, ":vars");
        assert_eq!(out.trim(), "no variables yet");
        s.eval("let count = 3; let m = mlp([4, 3, 2]);").unwrap();
        let (_, out) = run(&mut s, ":vars");
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
        let (mut s, _) = Session::collecting();
        let (r, out) = run(&mut s, ":time 1 + 2");
        assert_eq!(r, Ok(Flow::Continue));
        assert!(out.starts_with("3\ntime: "), "{out}");
        let (r, _) = run(&mut s, ":time");
        assert!(r.unwrap_err().contains("expected code"));
        let (r, _) = run(&mut s, ":time nope(1)");
        let e = r.unwrap_err();
        assert!(e.contains("nope: unknown function"), "{e}");
    }

    #[test]
    fn save_then_load_reproduces_the_session() {
        let dir = std::env::temp_dir().join(format!("hlab-cmd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("saved.rhai");
        let file = file.to_str().unwrap();
        let (mut s, _) = Session::collecting();
        s.eval("let a = 2 // two").unwrap();
        s.eval("fn twice(x) { 2 * x }").unwrap();
        s.eval("let b = twice(a)").unwrap();
        assert!(s.eval("let c = oops(").is_err());
        let (r, out) = run(&mut s, &format!(":save {file}"));
        assert_eq!(r, Ok(Flow::Continue));
        assert!(out.contains("saved 3 inputs"), "{out}");
        let (r, out) = run(&mut s, ":reset");
        assert_eq!(r, Ok(Flow::Continue));
        assert!(out.contains("reset"), "{out}");
        assert!(s.eval("a").is_err());
        let (r, _) = run(&mut s, &format!(":load {file}"));
        assert_eq!(r, Ok(Flow::Continue));
        assert_eq!(s.eval("b").unwrap().unwrap().text, "4");
        let (r, _) = run(&mut s, ":load /no/such/file.rhai");
        assert!(r.unwrap_err().contains("/no/such/file.rhai"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn quit_quits() {
        let (mut s, _) = Session::collecting();
        assert_eq!(run(&mut s, ":quit").0, Ok(Flow::Quit));
    }
}
