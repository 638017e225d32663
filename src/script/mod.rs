//! The scripting layer: the only module that imports rhai.
//!
//! It registers hlab's value types and the thin wrappers in [`api`] into a
//! rhai [`Engine`], converts hlab errors into script errors, and reads the
//! `///` docs of every function back from rhai's metadata for `:help`,
//! completion and Jupyter `inspect`.

pub mod api;
pub mod docs;
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
    engine
        .register_type_with_name::<types::Vector>("Vector")
        .register_type_with_name::<types::Matrix>("Matrix")
        .register_type_with_name::<types::Data>("Dataset")
        .register_type_with_name::<types::Model>("Model")
        .register_type_with_name::<types::LayerV>("Layer")
        .register_type_with_name::<types::Hist>("History")
        .register_type_with_name::<types::Plot>("Plot")
        .register_type_with_name::<types::Spec>("Spectrum")
        .register_type_with_name::<types::Dens>("Density")
        .register_type_with_name::<types::CurveV>("Curve")
        .register_type_with_name::<types::SurfaceV>("Surface");
    engine.register_iterator::<types::Spec>();
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
    macro_rules! try_show {
        ($($t:ty),*) => {
            $(if let Some(v) = value.read_lock::<$t>() {
                return v.to_string();
            })*
        };
    }
    try_show!(
        types::Vector,
        types::Matrix,
        types::Data,
        types::Model,
        types::LayerV,
        types::Hist,
        types::Spec,
        types::Dens,
        types::CurveV,
        types::SurfaceV
    );
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
    display_now(p.display());
}

/// A rich display for values that have one (plots): `Some(None)` when the
/// value was already shown as it was made.
pub fn rich(v: &Dynamic) -> Option<Option<Display>> {
    let p = v.read_lock::<types::Plot>()?;
    if LAST_SHOWN.with(|c| c.get()) == p.id {
        Some(None)
    } else {
        Some(Some(p.display()))
    }
}
