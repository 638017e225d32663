//! Progress bars and the interrupt flag for long work.
//!
//! Long loops (training, dense Hessians, Lanczos, SLQ) call
//! [`check_interrupt`] often; the REPL's Ctrl-C handler and the Jupyter
//! kernel's interrupt set the flag with [`request_interrupt`], and the loop
//! returns [`Error::Interrupted`] within a fraction of a second. The flag is
//! cleared by the session before each evaluation.

use crate::error::{Error, Result};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static INTERRUPT: AtomicBool = AtomicBool::new(false);
static PROGRESS_ENABLED: AtomicBool = AtomicBool::new(true);
/// Bars on screen now: work nested in other work (the Lanczos runs that
/// `train` makes when it tracks curvature) shows no bar of its own.
static ACTIVE_BARS: AtomicUsize = AtomicUsize::new(0);

/// Set for good once the reader of standard output went away (a closed
/// pipe): every later computation stops at once, as if interrupted, and the
/// command line ends quietly with status 0.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Records that standard output was closed by its reader and stops the
/// running computation.
pub fn note_stdout_closed() {
    STDOUT_CLOSED.store(true, Ordering::SeqCst);
}

/// True once standard output was closed by its reader.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// Asks the running computation to stop.
pub fn request_interrupt() {
    INTERRUPT.store(true, Ordering::SeqCst);
}

/// Clears a pending interrupt (done before each evaluation).
pub fn clear_interrupt() {
    INTERRUPT.store(false, Ordering::SeqCst);
}

/// True when an interrupt was requested and not yet cleared.
pub fn interrupt_requested() -> bool {
    INTERRUPT.load(Ordering::Relaxed) || STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// `Err(Interrupted)` when an interrupt was requested.
pub fn check_interrupt(op: &'static str) -> Result<()> {
    if interrupt_requested() {
        Err(Error::Interrupted { op })
    } else {
        Ok(())
    }
}

/// Seconds above which a dense job announces its estimate
/// ([`announce_estimate`]): `HLAB_ESTIMATE_SECONDS`, default 60.
pub fn estimate_threshold() -> f64 {
    std::env::var("HLAB_ESTIMATE_SECONDS")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(60.0)
}

/// Whether progress goes to stderr now (enabled, stderr a terminal, no
/// `HLAB_NO_PROGRESS`).
fn showing() -> bool {
    PROGRESS_ENABLED.load(Ordering::Relaxed)
        && std::io::stderr().is_terminal()
        && std::env::var_os("HLAB_NO_PROGRESS").is_none()
}

/// One line on stderr before (or at the start of) a dense job expected to
/// take more than [`estimate_threshold`] seconds: `op: what, about T on this
/// machine (basis); Ctrl-C stops it`. Shown where progress bars are.
pub fn announce_estimate(
    progress: Option<&Progress>,
    op: &str,
    what: &str,
    seconds: f64,
    basis: &str,
) {
    if seconds >= estimate_threshold() && showing() {
        let line = format!(
            "{op}: {what}, about {} on this machine ({basis}); Ctrl-C stops it",
            human_seconds(seconds)
        );
        match progress.and_then(|p| p.bar.as_ref()) {
            // Above the bar, not through it.
            Some(b) => b.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }
}

/// `42 s`, `3.2 min`, `1.5 h`.
pub fn human_seconds(s: f64) -> String {
    if s < 90.0 {
        format!("{s:.0} s")
    } else if s < 5400.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

/// `7,960`.
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Turns progress bars on or off for this process (the kernel turns them off).
pub fn set_progress_enabled(on: bool) {
    PROGRESS_ENABLED.store(on, Ordering::SeqCst);
}

/// A progress bar with ETA on stderr when stderr is a terminal; silent otherwise.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    /// A bar labelled `label` counting to `total`.
    pub fn new(label: &str, total: u64) -> Self {
        let show = PROGRESS_ENABLED.load(Ordering::Relaxed)
            && std::io::stderr().is_terminal()
            && std::env::var_os("HLAB_NO_PROGRESS").is_none()
            && ACTIVE_BARS.load(Ordering::SeqCst) == 0;
        if show {
            ACTIVE_BARS.fetch_add(1, Ordering::SeqCst);
        }
        let bar = show.then(|| {
            let b = indicatif::ProgressBar::new(total);
            let style = indicatif::ProgressStyle::with_template(
                "{prefix:>10} [{bar:30}] {pos}/{len} {msg} ({elapsed}, eta {eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
            b.set_style(style);
            b.set_prefix(label.to_string());
            b
        });
        Progress { bar }
    }

    /// Advances by `n`.
    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    /// Sets the message shown after the counter (e.g. the current loss).
    pub fn message(&self, msg: impl Into<String>) {
        if let Some(b) = &self.bar {
            b.set_message(msg.into());
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
            ACTIVE_BARS.fetch_sub(1, Ordering::SeqCst);
        }
    }
}
