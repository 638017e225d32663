//! What an evaluation emits, below every producer and every front end: the
//! scripting layer and the charts write [`Output`]s into a [`Sink`]; the
//! runner, the REPL and the Jupyter kernel decide where they go.

use std::sync::Arc;

/// A rich value: text always, SVG for charts.
#[derive(Clone, Debug, PartialEq)]
pub struct Display {
    /// text/plain.
    pub text: String,
    /// image/svg+xml, for plots.
    pub svg: Option<String>,
}

impl Display {
    /// Plain text only.
    pub fn text(s: impl Into<String>) -> Self {
        Display {
            text: s.into(),
            svg: None,
        }
    }
}

/// Something a running evaluation emits.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Text for standard output (`print`).
    Stdout(String),
    /// Text for standard error (`debug`, warnings).
    Stderr(String),
    /// A rich value shown now (plots).
    Display(Display),
}

/// Where a session's outputs go.
pub type Sink = Arc<dyn Fn(Output) + Send + Sync>;
