//! The command line's edge, one of each for `hlab run`, `hlab -e`,
//! `hlab check`, `hlab help` and the REPL: the stdout [`sink`] and the
//! Ctrl-C handler ([`install_ctrlc`]).
//!
//! Ctrl-C has one rule, with a patience that depends on the front end
//! ([`CtrlC`]): a press while an input runs ([`interruptible`]) asks it to
//! stop ([`crate::progress::request_interrupt`]; the work stops within a
//! second and says `interrupted`); the last press of the patience leaves
//! hlab at once with status 130, for a computation that does not check in;
//! a press while nothing runs leaves too, except at the REPL's prompt,
//! where the line editor clears the line. The Jupyter kernel has no
//! terminal: its `interrupt_request` sets the same flag.

use crate::output::{Output, Sink};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

static RUNNING: AtomicBool = AtomicBool::new(false);
static PRESSES: AtomicUsize = AtomicUsize::new(0);

/// The exit status after Ctrl-C (README, "Exit status").
pub const INTERRUPTED: u8 = 130;

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

/// The sink of the command line (REPL, `hlab run`, `hlab -e`, `hlab
/// check`): outputs to stdout and stderr as they come; a rich value shows
/// its text.
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

/// How patient Ctrl-C is, by front end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtrlC {
    /// `hlab run`, `hlab -e`, `hlab check`: the second press leaves.
    Script,
    /// The REPL on piped input: the third press during one input leaves; a
    /// press between inputs leaves.
    Piped,
    /// The REPL on a terminal: the third press during one input leaves; at
    /// the prompt the line editor takes the key (it clears the line).
    Terminal,
}

impl CtrlC {
    /// Presses during one input that leave hlab.
    pub fn patience(self) -> usize {
        match self {
            CtrlC::Script => 2,
            CtrlC::Piped | CtrlC::Terminal => 3,
        }
    }
}

/// What one Ctrl-C press does, by the rule in the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Press {
    /// Ask the running input to stop.
    Interrupt,
    /// Leave hlab now (status 130).
    Leave,
    /// Nothing (the line editor has the key).
    Ignore,
}

/// The rule: the `presses`-th press (1-based) during one input, or a press
/// while nothing runs.
pub fn press(mode: CtrlC, running: bool, presses: usize) -> Press {
    if running {
        if presses >= mode.patience() {
            Press::Leave
        } else {
            Press::Interrupt
        }
    } else if mode == CtrlC::Terminal {
        Press::Ignore
    } else {
        Press::Leave
    }
}

/// Installs the one Ctrl-C handler (once per process; for the terminal
/// REPL after the line editor exists, which installs its own).
pub fn install_ctrlc(mode: CtrlC) {
    let r = ctrlc::set_handler(move || {
        let running = RUNNING.load(Ordering::SeqCst);
        let presses = if running {
            PRESSES.fetch_add(1, Ordering::SeqCst) + 1
        } else {
            0
        };
        match press(mode, running, presses) {
            Press::Interrupt => crate::progress::request_interrupt(),
            Press::Leave => {
                crate::progress::request_interrupt();
                let why = if running {
                    " (the running input does not stop; leaving)"
                } else {
                    ""
                };
                eprintln!("\nhlab: interrupted{why}");
                std::process::exit(i32::from(INTERRUPTED));
            }
            Press::Ignore => {}
        }
    });
    if let Err(e) = r {
        eprintln!("hlab: warning: Ctrl-C cannot stop running inputs ({e})");
    }
}

/// Runs `work` as one input that Ctrl-C may interrupt (the press count
/// starts again at zero). Harmless where no handler is installed (the
/// kernel, tests).
pub fn interruptible<T>(work: impl FnOnce() -> T) -> T {
    PRESSES.store(0, Ordering::SeqCst);
    RUNNING.store(true, Ordering::SeqCst);
    let r = work();
    RUNNING.store(false, Ordering::SeqCst);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_leave_on_the_second_press_and_the_repl_on_the_third() {
        assert_eq!(press(CtrlC::Script, true, 1), Press::Interrupt);
        assert_eq!(press(CtrlC::Script, true, 2), Press::Leave);
        for mode in [CtrlC::Piped, CtrlC::Terminal] {
            assert_eq!(press(mode, true, 1), Press::Interrupt);
            assert_eq!(press(mode, true, 2), Press::Interrupt);
            assert_eq!(press(mode, true, 3), Press::Leave);
        }
    }

    #[test]
    fn a_press_while_nothing_runs_leaves_except_at_the_prompt() {
        assert_eq!(press(CtrlC::Script, false, 0), Press::Leave);
        assert_eq!(press(CtrlC::Piped, false, 0), Press::Leave);
        assert_eq!(press(CtrlC::Terminal, false, 0), Press::Ignore);
    }
}
