//! The one error type of hlab.
//!
//! Every message starts with the operation that failed and says what was
//! expected and what was got, e.g.
//! `hessian: expected at most 20000 parameters (3.2 GB), got 94218 (71.0 GB); use top_eigs`.

/// Errors raised by hlab's math, data and I/O layers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An argument of the wrong shape or size.
    #[error("{op}: expected {expected}, got {got}")]
    Shape {
        /// The operation that failed.
        op: &'static str,
        /// What was expected.
        expected: String,
        /// What was got.
        got: String,
    },
    /// An argument with a wrong value (not a shape problem).
    #[error("{op}: {msg}")]
    Invalid {
        /// The operation that failed.
        op: &'static str,
        /// What is wrong.
        msg: String,
    },
    /// A file could not be read or written.
    #[error("{op}: {path}: {msg}")]
    Io {
        /// The operation that failed.
        op: &'static str,
        /// The file.
        path: String,
        /// What is wrong.
        msg: String,
    },
    /// A file was read but its content is not what the format says.
    #[error("{op}: {path}: corrupt or unsupported file: {msg}")]
    Format {
        /// The operation that failed.
        op: &'static str,
        /// The file.
        path: String,
        /// What is wrong.
        msg: String,
    },
    /// Dense work that would need more memory than the budget allows.
    #[error("{op}: needs {need} of memory for {what}, more than the limit of {limit}; {hint}")]
    TooLarge {
        /// The operation that failed.
        op: &'static str,
        /// What would be allocated.
        what: String,
        /// The memory it needs.
        need: String,
        /// The memory limit.
        limit: String,
        /// What to do instead.
        hint: String,
    },
    /// Training produced NaN or infinity.
    #[error("train: diverged at step {step} (loss {loss}) with lr {lr}; try a smaller lr")]
    Diverged {
        /// The step where the loss stopped being finite.
        step: usize,
        /// The loss there.
        loss: f64,
        /// The learning rate.
        lr: f64,
    },
    /// The user asked to stop (Ctrl-C or a Jupyter interrupt).
    #[error("{op}: interrupted")]
    Interrupted {
        /// The operation that was stopped.
        op: &'static str,
    },
    /// Training was interrupted; the model and `last_history()` keep what it reached.
    #[error("train: interrupted at step {step} of {total}; the model keeps the parameters it reached and last_history() returns the History recorded so far")]
    TrainInterrupted {
        /// The steps done.
        step: usize,
        /// The steps asked for.
        total: usize,
    },
    /// An error from the tensor library.
    #[error("tensor: {0}")]
    Candle(#[from] candle_core::Error),
}

impl Error {
    /// A wrong-shape error: `op: expected …, got …`.
    pub fn shape(op: &'static str, expected: impl Into<String>, got: impl Into<String>) -> Self {
        Error::Shape {
            op,
            expected: expected.into(),
            got: got.into(),
        }
    }

    /// A wrong-value error: `op: msg`.
    pub fn invalid(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Invalid {
            op,
            msg: msg.into(),
        }
    }

    /// An I/O error on `path`.
    pub fn io(op: &'static str, path: &std::path::Path, err: impl std::fmt::Display) -> Self {
        Error::Io {
            op,
            path: path.display().to_string(),
            msg: err.to_string(),
        }
    }

    /// A corrupt-file error on `path`.
    pub fn format(op: &'static str, path: &std::path::Path, msg: impl Into<String>) -> Self {
        Error::Format {
            op,
            path: path.display().to_string(),
            msg: msg.into(),
        }
    }
}

/// hlab's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// Formats a byte count for humans: `512 B`, `3.2 MB`, `71.0 GB`.
pub fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut b = bytes;
    let mut u = 0;
    while b >= 1000.0 && u + 1 < UNITS.len() {
        b /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{b:.0} {}", UNITS[u])
    } else {
        format!("{b:.1} {}", UNITS[u])
    }
}
