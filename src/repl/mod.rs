//! The REPL: `hlab` with no arguments.
//!
//! On a terminal it is a rustyline editor ([`helper::ReplHelper`]: Tab
//! completion, hints with the signature of the call being typed, multi-line
//! input by [`crate::complete::completeness`]) with history kept in the
//! user's data directory. Each input runs in one [`Session`]: the value of
//! its last expression is shown, plots are drawn as they are made, an error
//! shows the failing line with a caret and the session keeps every variable.
//! Lines starting with `:` are [`crate::commands`] (the kernel runs the same
//! table). Ctrl-C at the prompt clears the line; Ctrl-C while an input runs
//! stops it within a second (three times in a row leaves hlab, for a
//! computation that does not check in: [`crate::console`] has the one
//! Ctrl-C handler of the command line); Ctrl-D leaves.
//!
//! When standard input or output is not a terminal ([`run_piped`]), standard
//! input is read as a sequence of inputs split by the same completeness rule,
//! with no prompts, colours or progress bars; every input runs even after
//! one fails, and the exit status is 1 when any failed.

pub mod helper;

use crate::commands::{format_error, run_command, Flow};
use crate::complete::{completeness, Completeness};
use crate::console::{install_ctrlc, interruptible, sink, write_stdout, CtrlC};
use crate::script::Session;
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{CompletionType, Config, Editor};
use std::cell::RefCell;
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;

/// The user's data directory: `$XDG_DATA_HOME`, else the platform's usual
/// place (`~/.local/share`, `~/Library/Application Support`, `%APPDATA%`).
pub fn data_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").map(PathBuf::from) {
        if x.is_absolute() {
            return Some(x);
        }
    }
    if cfg!(windows) {
        return std::env::var_os("APPDATA").map(PathBuf::from);
    }
    let home = PathBuf::from(std::env::var_os("HOME")?);
    Some(if cfg!(target_os = "macos") {
        home.join("Library").join("Application Support")
    } else {
        home.join(".local").join("share")
    })
}

/// Where the history is kept: `$HLAB_HISTORY` (empty: no history), else
/// `DATA_DIR/hlab/history.txt`.
pub fn history_path() -> Option<PathBuf> {
    match std::env::var_os("HLAB_HISTORY") {
        Some(p) if p.is_empty() => None,
        Some(p) => Some(PathBuf::from(p)),
        None => Some(data_dir()?.join("hlab").join("history.txt")),
    }
}

/// `hlab` with no arguments: the REPL on a terminal, else piped input.
pub fn main() -> ExitCode {
    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        interactive()
    } else {
        crate::progress::set_progress_enabled(false);
        install_ctrlc(CtrlC::Piped);
        let mut session = Session::new(sink());
        run_piped(&mut session, std::io::stdin().lock())
    }
}

/// What happened to one input.
enum Outcome {
    Ok,
    Failed,
    Quit,
}

/// Runs one input (code or a `:command`), printing its value or error.
fn run_input(session: &mut Session, input: &str, line_offset: usize, color: bool) -> Outcome {
    let (red, reset) = if color {
        ("\x1b[31m", "\x1b[0m")
    } else {
        ("", "")
    };
    if crate::commands::is_command(input) {
        return match run_command(session, input) {
            _ if crate::progress::stdout_closed() => Outcome::Quit,
            Ok(Flow::Continue) => Outcome::Ok,
            Ok(Flow::Quit) => Outcome::Quit,
            Err(e) => {
                eprintln!("{red}{}{reset}", e.text);
                Outcome::Failed
            }
        };
    }
    match interruptible(|| session.eval(input)) {
        Ok(value) => {
            if let Some(v) = value {
                write_stdout(format!("{}\n", v.text).as_bytes());
            }
            Outcome::Ok
        }
        Err(_) if crate::progress::stdout_closed() => Outcome::Quit,
        Err(e) => {
            eprintln!("{red}{}{reset}", format_error(&e, line_offset));
            Outcome::Failed
        }
    }
}

/// Reads `input` as a sequence of inputs (lines gathered until complete)
/// and runs each in `session`; exit status 1 when any failed.
pub fn run_piped(session: &mut Session, input: impl BufRead) -> ExitCode {
    let mut failed = false;
    let mut cell = String::new();
    let mut first_line = 0;
    for (i, line) in input.lines().enumerate() {
        if crate::progress::stdout_closed() {
            cell.clear();
            break;
        }
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("hlab: cannot read standard input: {e}");
                return ExitCode::from(1);
            }
        };
        if cell.is_empty() {
            if line.trim().is_empty() {
                continue;
            }
            first_line = i;
        }
        cell.push_str(&line);
        cell.push('\n');
        if completeness(session, &cell) == Completeness::Incomplete {
            continue;
        }
        match run_input(session, &cell, first_line, false) {
            Outcome::Ok => {}
            Outcome::Failed => failed = true,
            Outcome::Quit => {
                cell.clear();
                break;
            }
        }
        cell.clear();
    }
    if !cell.trim().is_empty() {
        if let Outcome::Failed = run_input(session, &cell, first_line, false) {
            failed = true;
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn banner(color: bool) -> String {
    let (b, r) = if color {
        ("\x1b[1m", "\x1b[0m")
    } else {
        ("", "")
    };
    format!(
        "{b}hlab {}{r} — the curvature of neural-network loss surfaces.\n\
         `:help` lists the commands, Tab completes, Ctrl-C stops a running input, Ctrl-D leaves.",
        env!("CARGO_PKG_VERSION")
    )
}

fn interactive() -> ExitCode {
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let session = Rc::new(RefCell::new(Session::new(sink())));
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .auto_add_history(false)
        .history_ignore_space(true)
        .max_history_size(10_000)
        .map(|b| b.build())
        .unwrap_or_default();
    let mut editor: Editor<helper::ReplHelper, FileHistory> = match Editor::with_config(config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("hlab: no line editor on this terminal ({e}); reading inputs without one");
            install_ctrlc(CtrlC::Piped);
            let mut s = session.borrow_mut();
            return run_piped(&mut s, std::io::stdin().lock());
        }
    };
    editor.set_helper(Some(helper::ReplHelper::new(session.clone(), color)));
    // After the editor exists: rustyline installs its own SIGINT handler.
    install_ctrlc(CtrlC::Terminal);
    let history = history_path();
    if let Some(h) = &history {
        if h.exists() {
            if let Err(e) = editor.load_history(h) {
                eprintln!(
                    "hlab: warning: cannot read the history {}: {e}",
                    h.display()
                );
            }
        } else if let Some(dir) = h.parent() {
            if let Err(e) = std::fs::create_dir_all(dir) {
                eprintln!("hlab: warning: cannot create {}: {e}", dir.display());
            }
        }
    }
    println!("{}", banner(color));
    let mut warned = false;
    let prompt = "hlab> ";
    loop {
        match editor.readline(prompt) {
            Ok(input) => {
                if input.trim().is_empty() {
                    continue;
                }
                let _ = editor.add_history_entry(input.trim_end());
                if let Some(h) = &history {
                    if let Err(e) = editor.save_history(h) {
                        if !warned {
                            eprintln!(
                                "hlab: warning: cannot save the history to {}: {e}",
                                h.display()
                            );
                            warned = true;
                        }
                    }
                }
                let outcome = {
                    let mut s = session.borrow_mut();
                    run_input(&mut s, &input, 0, color)
                };
                if let Some(h) = editor.helper() {
                    h.invalidate();
                }
                if let Outcome::Quit = outcome {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("hlab: cannot read the terminal: {e}");
                return ExitCode::from(1);
            }
        }
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_show_the_line_with_offset_and_interrupts_say_state_is_kept() {
        let (mut s, _) = Session::collecting();
        let e = s.eval("let a = 1;\nfoo(a)").unwrap_err();
        let f = format_error(&e, 10);
        assert!(f.contains("  12 | foo(a)"), "{f}");
        assert!(f.contains("error: foo: unknown function"), "{f}");
        assert!(!f.contains("kept"));
    }
}
