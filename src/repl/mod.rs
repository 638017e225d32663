//! The REPL: `hlab` with no arguments.
//!
//! On a terminal it is a rustyline editor ([`helper::ReplHelper`]: Tab
//! completion, hints with the signature of the call being typed, multi-line
//! input by [`crate::complete::completeness`]) with history kept in the
//! user's data directory. Each input runs in one [`Session`]: the value of
//! its last expression is shown, plots are drawn as they are made, an error
//! shows the failing line with a caret and the session keeps every variable.
//! Lines starting with `:` are [`commands`]. Ctrl-C at the prompt clears the
//! line; Ctrl-C while an input runs stops it within a second (three times in
//! a row leaves hlab, for a computation that does not check in); Ctrl-D
//! leaves.
//!
//! When standard input or output is not a terminal ([`run_piped`]), standard
//! input is read as a sequence of inputs split by the same completeness rule,
//! with no prompts, colours or progress bars; every input runs even after
//! one fails, and the exit status is 1 when any failed.

pub mod commands;
pub mod helper;

use crate::complete::{completeness, Completeness};
use crate::output::{Display, Output, Sink};
use crate::script::{ErrorKind, ScriptError, Session};
use commands::{run_command, Ctx, Flow};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{CompletionType, Config, Editor};
use std::cell::RefCell;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

static EVALUATING: AtomicBool = AtomicBool::new(false);
static PRESSES: AtomicUsize = AtomicUsize::new(0);

/// Evaluates `code` with Ctrl-C armed to interrupt it.
pub(crate) fn eval_interruptible(
    session: &mut Session,
    code: &str,
) -> Result<Option<Display>, ScriptError> {
    PRESSES.store(0, Ordering::SeqCst);
    EVALUATING.store(true, Ordering::SeqCst);
    let r = session.eval(code);
    EVALUATING.store(false, Ordering::SeqCst);
    r
}

/// An error as the REPL prints it: the failing line with a caret (its line
/// number shifted by `line_offset`), then the message.
pub fn format_error(e: &ScriptError, line_offset: usize) -> String {
    let mut e = e.clone();
    e.line = e.line.map(|l| l + line_offset);
    let mut s = e.pretty();
    if e.kind == ErrorKind::Interrupted {
        s.push_str("\n(stopped; every variable defined before is kept)");
    }
    s
}

/// Seconds in a readable unit.
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

/// Writes to standard output; a reader that went away (`hlab … | head`)
/// marks stdout closed ([`crate::progress::note_stdout_closed`]), which
/// stops the running script, instead of being ignored forever.
pub fn write_stdout(bytes: &[u8]) {
    if crate::progress::stdout_closed() {
        return;
    }
    let mut out = std::io::stdout().lock();
    let r = out.write_all(bytes).and_then(|()| out.flush());
    if let Err(e) = r {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            crate::progress::note_stdout_closed();
        }
    }
}

/// The sink of the command line (REPL, `hlab run`, `hlab -e`): outputs to
/// stdout and stderr as they come.
pub fn sink() -> Sink {
    Arc::new(|o| match o {
        Output::Stdout(s) => write_stdout(s.as_bytes()),
        Output::Stderr(s) => {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(s.as_bytes());
            let _ = err.flush();
        }
        Output::Display(d) => write_stdout(format!("{}\n", d.text).as_bytes()),
    })
}

fn install_ctrlc(interactive: bool) {
    let r = ctrlc::set_handler(move || {
        if EVALUATING.load(Ordering::SeqCst) {
            crate::progress::request_interrupt();
            if PRESSES.fetch_add(1, Ordering::SeqCst) + 1 >= 3 {
                eprintln!("\nhlab: the running input does not stop; leaving");
                std::process::exit(130);
            }
        } else if !interactive {
            eprintln!("\nhlab: interrupted");
            std::process::exit(130);
        }
    });
    if let Err(e) = r {
        eprintln!("hlab: warning: Ctrl-C cannot stop running inputs ({e})");
    }
}

/// `hlab` with no arguments: the REPL on a terminal, else piped input.
pub fn main() -> ExitCode {
    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        interactive()
    } else {
        crate::progress::set_progress_enabled(false);
        install_ctrlc(false);
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
    let mut stdout = std::io::stdout();
    if input.trim_start().starts_with(':') {
        let r = run_command(
            &mut Ctx {
                session,
                out: &mut stdout,
            },
            input,
        );
        let _ = stdout.flush();
        return match r {
            Ok(Flow::Continue) => Outcome::Ok,
            Ok(Flow::Quit) => Outcome::Quit,
            Err(_) if crate::progress::stdout_closed() => Outcome::Quit,
            Err(e) => {
                eprintln!("{red}error: {e}{reset}");
                Outcome::Failed
            }
        };
    }
    match eval_interruptible(session, input) {
        Ok(value) => {
            if let Some(v) = value {
                write_stdout(format!("{}\n", v.text).as_bytes());
            }
            Outcome::Ok
        }
        Err(_) if crate::progress::stdout_closed() => Outcome::Quit,
        Err(e) => {
            let _ = stdout.flush();
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
            install_ctrlc(false);
            let mut s = session.borrow_mut();
            return run_piped(&mut s, std::io::stdin().lock());
        }
    };
    editor.set_helper(Some(helper::ReplHelper::new(session.clone(), color)));
    // After the editor exists: rustyline installs its own SIGINT handler.
    install_ctrlc(true);
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
    fn times_read_well() {
        assert_eq!(human_time(0.000_012), "12 µs");
        assert_eq!(human_time(0.0123), "12.3 ms");
        assert_eq!(human_time(2.5), "2.50 s");
        assert_eq!(human_time(125.0), "2 min 5 s");
    }

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
