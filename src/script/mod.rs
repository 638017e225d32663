//! The scripting layer: the only module that imports rhai.
//!
//! It registers hlab's value types and the thin wrappers in [`api`] into a
//! rhai [`Engine`], converts hlab errors into script errors, and reads the
//! `///` docs of every function back from rhai's metadata for `:help`,
//! completion and Jupyter `inspect`.

pub mod api;
pub mod docs;
pub mod lex;
pub mod opts;
pub mod session;
pub mod stdlib;
pub mod types;

pub use session::{ErrorKind, ScriptError, Session, SyntaxError};

use crate::output::{Display, Output, Sink};
use rhai::{Dynamic, Engine, EvalAltResult, Position};
use std::cell::RefCell;

impl From<crate::Error> for Box<EvalAltResult> {
    fn from(e: crate::Error) -> Self {
        EvalAltResult::ErrorRuntime(Dynamic::from(e.to_string()), Position::NONE).into()
    }
}

thread_local! {
    static SINK: RefCell<Option<Sink>> = const { RefCell::new(None) };
}

/// Runs `f` with `sink` receiving what primitives display (plots).
pub fn with_sink<R>(sink: &Sink, f: impl FnOnce() -> R) -> R {
    let old = SINK.with(|s| s.replace(Some(sink.clone())));
    let r = f();
    SINK.with(|s| *s.borrow_mut() = old);
    r
}

/// Shows a rich value now (a plot drawn from the middle of a script).
pub fn display_now(d: Display) {
    SINK.with(|s| {
        if let Some(sink) = s.borrow().as_ref() {
            sink(Output::Display(d));
        }
    });
}

/// Builds an engine with every hlab type and function registered.
pub fn build_engine() -> Engine {
    let mut engine = Engine::new();
    engine.set_max_expr_depths(256, 128);
    types::register(&mut engine);
    engine.register_iterator::<types::Spectrum>();
    engine.register_iterator::<types::Vector>();
    api::register(&mut engine);
    engine.on_progress(|_| {
        if crate::progress::interrupt_requested() {
            Some(Dynamic::from("interrupted"))
        } else {
            None
        }
    });
    engine
}

/// The text a value shows in the REPL, `print` and Jupyter.
pub fn show(value: &Dynamic) -> String {
    if let Some(text) = types::show(value) {
        return text;
    }
    if value.is_string() {
        return format!("{value:?}");
    }
    if let Some(arr) = value.read_lock::<rhai::Array>() {
        if arr
            .iter()
            .any(|d| !d.is_int() && !d.is_float() && !d.is_bool() && !d.is_unit())
        {
            let parts: Vec<String> = arr.iter().map(show).collect();
            return format!("[{}]", parts.join(", "));
        }
    }
    if let Some(map) = value.read_lock::<rhai::Map>() {
        let parts: Vec<String> = map
            .iter()
            .map(|(k, v)| format!("{k}: {}", show(v)))
            .collect();
        return format!("#{{{}}}", parts.join(", "));
    }
    value.to_string()
}

thread_local! {
    static LAST_SHOWN: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Forgets which plot was shown last (each evaluation starts afresh, so a
/// Plot evaluated on its own in a later cell draws itself again).
pub fn forget_shown() {
    LAST_SHOWN.with(|c| c.set(0));
}

/// Shows a plot now and remembers it, so the same plot as the value of the
/// cell is not shown twice.
pub fn display_plot(p: &types::Plot) {
    LAST_SHOWN.with(|c| c.set(p.id));
    display_now(types::ScriptType::display(p));
}

/// How a value shows as the result of an evaluation: its display from the
/// table of script types (text, and SVG for plots), or its text; `None` for
/// `()` and for a plot already shown as it was made.
pub fn display_value(v: &Dynamic) -> Option<Display> {
    if v.is_unit() {
        return None;
    }
    if let Some(p) = v.read_lock::<types::Plot>() {
        if LAST_SHOWN.with(|c| c.get()) == p.id {
            return None;
        }
    }
    Some(types::display(v).unwrap_or_else(|| Display::text(show(v))))
}
