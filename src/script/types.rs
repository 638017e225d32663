//! The script-side values: thin handles around hlab's math types, and how
//! each one prints (shape, first values, provenance — never a Rust path).

use crate::data::Targets;
use crate::mat::Mat;
use crate::model::Network;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

pub use crate::text::fmt_num;

/// Formats the first values of a list: `[a, b, c, …, z]`.
pub fn fmt_list(xs: &[f64], show: usize) -> String {
    let mut parts: Vec<String> = Vec::new();
    if xs.len() <= show {
        parts.extend(xs.iter().map(|&x| fmt_num(x)));
    } else {
        parts.extend(xs[..show - 1].iter().map(|&x| fmt_num(x)));
        parts.push("…".into());
        parts.push(fmt_num(xs[xs.len() - 1]));
    }
    format!("[{}]", parts.join(", "))
}

/// A flat f64 vector (`Vector` in scripts). Cheap to copy; its bytes are
/// on the session's memory ledger once, however many copies share them.
#[derive(Clone, Debug, PartialEq)]
pub struct Vector(pub Arc<Vec<f64>>, Arc<crate::mat::Held>);

impl Vector {
    /// Wraps values.
    pub fn new(v: Vec<f64>) -> Self {
        let held = crate::mat::Held::new(8 * v.capacity() as u64);
        Vector(Arc::new(v), Arc::new(held))
    }
    /// The values.
    pub fn as_slice(&self) -> &[f64] {
        &self.0
    }
}

impl fmt::Display for Vector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Vector[{}] {}", self.0.len(), fmt_list(&self.0, 8))
    }
}

impl IntoIterator for Vector {
    type Item = f64;
    type IntoIter = std::vec::IntoIter<f64>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.as_ref().clone().into_iter()
    }
}

/// A dense matrix (`Matrix` in scripts).
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix(pub Arc<Mat>, pub &'static str);

impl Matrix {
    /// Wraps a matrix.
    pub fn new(m: Mat) -> Self {
        Matrix(Arc::new(m), "matrix")
    }

    /// Wraps a matrix that knows what it is ("hessian", "gauss_newton"), so
    /// its spectrum records it.
    pub fn labelled(m: Mat, label: &'static str) -> Self {
        Matrix(Arc::new(m), label)
    }
}

impl fmt::Display for Matrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.0;
        write!(f, "Matrix {}×{}", m.rows(), m.cols())?;
        if self.1 != "matrix" {
            write!(f, " ({})", self.1)?;
        }
        let show = 6;
        for i in 0..m.rows().min(show) {
            write!(f, "\n  {}", fmt_list(m.row(i), show))?;
        }
        if m.rows() > show {
            write!(f, "\n  … {} more rows", m.rows() - show)?;
        }
        Ok(())
    }
}

/// A data set (`Dataset` in scripts).
#[derive(Clone, Debug)]
pub struct Dataset(pub Arc<crate::data::Dataset>);

/// `" (shape [1, 28, 28])"` when the samples have a shape.
fn shape_note(d: &crate::data::Dataset) -> String {
    match d.shape() {
        Some(s) => format!(" (shape {s:?})"),
        None => String::new(),
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.0;
        match d.targets() {
            Targets::Labels { y, classes } => {
                // Only the counts shown are kept (a label of 10⁹ must not
                // allocate 10⁹ counters to print).
                let mut counts = vec![0usize; (*classes).min(12)];
                for &c in y {
                    if let Some(n) = counts.get_mut(c) {
                        *n += 1;
                    }
                }
                let shown: Vec<String> = counts.iter().take(12).map(|c| c.to_string()).collect();
                write!(
                    f,
                    "Dataset: {} examples × {} features{}, {} classes (counts {}{})",
                    d.len(),
                    d.dim(),
                    shape_note(d),
                    classes,
                    shown.join("/"),
                    if *classes > 12 { "/…" } else { "" }
                )
            }
            Targets::Values(t) => write!(
                f,
                "Dataset: {} examples × {} features{}, {} regression targets",
                d.len(),
                d.dim(),
                shape_note(d),
                t.cols()
            ),
        }
    }
}

/// A layer (`Layer` in scripts): a module description for `net`.
#[derive(Clone, Debug)]
pub struct Layer(pub std::sync::Arc<dyn crate::model::Layer>);

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.describe())
    }
}

/// A model handle (`Model` in scripts): copies of the handle share the
/// model, as in Python; `clone()` makes an independent copy. Its parameters
/// (the flat vector and the weight tensors, 16 bytes each) are on the
/// session's memory ledger once.
#[derive(Clone, Debug)]
pub struct Model(
    pub Arc<RwLock<Network>>,
    // Never read: kept for its Drop, which takes the bytes off the ledger.
    #[allow(dead_code)] Arc<crate::mat::Held>,
);

impl Model {
    /// Wraps a model.
    pub fn new(m: Network) -> Self {
        let held = crate::mat::Held::new(16 * m.num_params() as u64);
        Model(Arc::new(RwLock::new(m)), Arc::new(held))
    }
    /// Read access.
    pub fn read(&self) -> RwLockReadGuard<'_, Network> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }
    /// Write access.
    pub fn write(&self) -> RwLockWriteGuard<'_, Network> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.read();
        write!(
            f,
            "Model: {}, {} parameters\n{}",
            m.summary(),
            m.num_params(),
            layer_table(&m)
        )
    }
}

/// The layer table of a network, as `torchinfo` prints it: module path,
/// layer, output shape (when the input shape is known), parameters.
pub fn layer_table(m: &Network) -> String {
    let rows = m.table(None);
    let name =
        |r: &crate::model::LayerRow| format!("{}{} {}", "  ".repeat(r.depth), r.path, r.describe);
    let shape = |r: &crate::model::LayerRow| match &r.out_shape {
        Some(s) => format!("{s:?}"),
        None => "?".to_string(),
    };
    let w1 = rows
        .iter()
        .map(|r| name(r).chars().count())
        .max()
        .unwrap_or(0)
        .max(5);
    let w2 = rows
        .iter()
        .map(|r| shape(r).len())
        .max()
        .unwrap_or(0)
        .max(12);
    let mut out = format!(
        "  {:<w1$}  {:<w2$}  {:>8}",
        "layer", "output shape", "params"
    );
    if let Some(s) = m.input_shape() {
        let line = format!("\n  {:<w1$}  {:<w2$}", "input", format!("{s:?}"));
        out.push_str(line.trim_end());
    }
    for r in &rows {
        out.push_str(&format!(
            "\n  {:<w1$}  {:<w2$}  {:>8}",
            name(r),
            shape(r),
            r.params
        ));
    }
    out
}

/// What training recorded (`History` in scripts).
#[derive(Clone, Debug)]
pub struct History(pub Arc<crate::train::History>);

impl fmt::Display for History {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = &self.0;
        let span = |xs: &[f64]| match (xs.first(), xs.last()) {
            (Some(a), Some(b)) => format!("{} → {}", fmt_num(*a), fmt_num(*b)),
            _ => "—".into(),
        };
        write!(
            f,
            "History: {} step{} (lr {}, batch {}, stopped by {}), loss {}, acc {}",
            h.steps,
            if h.steps == 1 { "" } else { "s" },
            fmt_num(h.lr),
            if h.batch == 0 {
                "full".to_string()
            } else {
                h.batch.to_string()
            },
            h.stopped_by,
            span(&h.loss),
            span(&h.acc)
        )?;
        if !h.test_loss.is_empty() {
            write!(
                f,
                ", test loss {}, test acc {}",
                span(&h.test_loss),
                span(&h.test_acc)
            )?;
        }
        write!(f, ", {:.2} s", h.seconds)
    }
}

/// Eigenvalues with provenance (`Spectrum` in scripts).
#[derive(Clone, Debug)]
pub struct Spectrum(pub Arc<crate::spectrum::Spectrum>);

impl fmt::Display for Spectrum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.0;
        let i = &s.info;
        write!(f, "Spectrum: {} eigenvalues of the {}", s.len(), i.matrix)?;
        if let (Some(lo), Some(hi)) = (s.min(), s.max()) {
            write!(f, ", min {}, max {}", fmt_num(lo), fmt_num(hi))?;
        }
        let top = s.top(5);
        write!(f, ", top {}", fmt_list(&top, 5))?;
        write!(f, "\n  {}", i.method)?;
        if let Some(st) = i.steps {
            write!(f, ", {st} steps")?;
        }
        if let Some(p) = i.probes {
            write!(f, ", {p} probes")?;
        }
        if i.matvecs > 0 {
            write!(f, ", {} matvecs", i.matvecs)?;
        }
        if let Some(seed) = i.seed {
            write!(f, ", seed {seed}")?;
        }
        if !i.residuals.is_empty() {
            let worst = i.residuals.iter().cloned().fold(0.0_f64, f64::max);
            write!(f, ", max residual {}", fmt_num(worst))?;
        }
        write!(f, ", {:.2} s", i.seconds)
    }
}

impl IntoIterator for Spectrum {
    type Item = f64;
    type IntoIter = std::vec::IntoIter<f64>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.values().to_vec().into_iter()
    }
}

/// A smoothed spectral density (`Density` in scripts).
#[derive(Clone, Debug)]
pub struct Density(pub Arc<crate::spectrum::Density>);

impl fmt::Display for Density {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.0;
        let i = &d.info;
        write!(
            f,
            "Density of the {} on [{}, {}] ({} points), {}",
            i.matrix,
            fmt_num(d.x.first().copied().unwrap_or(0.0)),
            fmt_num(d.x.last().copied().unwrap_or(0.0)),
            d.x.len(),
            i.method
        )?;
        if let Some(st) = i.steps {
            write!(f, ", {st} steps")?;
        }
        if let Some(p) = i.probes {
            write!(f, ", {p} probes")?;
        }
        if let Some(s2) = i.sigma2 {
            write!(f, ", σ² {}", fmt_num(s2))?;
        }
        write!(f, ", {} matvecs, {:.2} s", i.matvecs, i.seconds)
    }
}

/// A loss profile along a line (`Curve` in scripts).
#[derive(Clone, Debug)]
pub struct Curve(pub Arc<crate::landscape::Curve>);

impl fmt::Display for Curve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.0;
        let lo = c.loss.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = c.loss.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        write!(
            f,
            "Curve: {} points, t from {} to {}, loss between {} and {}, barrier on [0, 1] {}",
            c.t.len(),
            fmt_num(c.t.first().copied().unwrap_or(0.0)),
            fmt_num(c.t.last().copied().unwrap_or(0.0)),
            fmt_num(lo),
            fmt_num(hi),
            fmt_num(c.barrier())
        )?;
        if let (Some(a), Some(b)) = (c.top.first(), c.top.last()) {
            let first = |v: &Vec<f64>| v.first().copied().unwrap_or(f64::NAN);
            write!(
                f,
                ", λ₁ from {} to {}",
                fmt_num(first(a)),
                fmt_num(first(b))
            )?;
        }
        Ok(())
    }
}

/// The loss on a plane (`Surface` in scripts).
#[derive(Clone, Debug)]
pub struct Surface(pub Arc<crate::landscape::Surface>);

impl fmt::Display for Surface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.0;
        let d = s.loss.data();
        let lo = d.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = d.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        write!(
            f,
            "Surface: {} × {} points, a and b from {} to {}, {} directions, loss between {} and {}",
            s.a.len(),
            s.b.len(),
            fmt_num(s.a.first().copied().unwrap_or(0.0)),
            fmt_num(s.a.last().copied().unwrap_or(0.0)),
            s.dirs,
            fmt_num(lo),
            fmt_num(hi)
        )?;
        if let Some(c) = s.center_loss() {
            write!(f, " (centre {})", fmt_num(c))?;
        }
        write!(f, ", {:.2} s", s.seconds)
    }
}

/// A chart (`Plot` in scripts): text in a terminal, SVG in a notebook.
#[derive(Clone, Debug)]
pub struct Plot {
    /// The charts, stacked.
    pub fig: Arc<crate::plot::Figure>,
    /// A number that identifies this plot (to avoid showing it twice).
    pub id: u64,
}

static PLOT_IDS: AtomicU64 = AtomicU64::new(1);

impl Plot {
    /// Wraps a figure and shows it now (plots appear where they are made).
    pub fn show(fig: crate::plot::Figure) -> Plot {
        let p = Plot {
            fig: Arc::new(fig),
            id: PLOT_IDS.fetch_add(1, Ordering::Relaxed),
        };
        super::display_plot(&p);
        p
    }
}

impl Plot {
    /// Shows the plot in an evcxr notebook (see [`crate::plot::Figure::evcxr_display`]).
    pub fn evcxr_display(&self) {
        self.fig.evcxr_display()
    }
}

impl evcxr_runtime::Display for Plot {
    fn evcxr_display(&self) {
        Plot::evcxr_display(self)
    }
}

/// A script-visible value: how it shows as text (its `Display`, used by
/// `print`, the REPL, `:vars` and Jupyter's text/plain) and, where it has
/// one, a rich display (plots: SVG).
pub trait ScriptType: fmt::Display + Clone + Send + Sync + 'static {
    /// Text, and SVG where the value is a chart.
    fn display(&self) -> crate::output::Display {
        crate::output::Display::text(self.to_string())
    }
}

/// The one table of script types. Each row is the Rust wrapper, which has
/// the name scripts see, and the line `:help` gives it; registration with
/// rhai (`to_string`/`to_debug` included), the text a value shows, its rich
/// display and the docs' list of types all come from here. Adding a type
/// is one row (and its `impl ScriptType`).
macro_rules! script_types {
    ($($t:ident: $about:expr),* $(,)?) => {
        /// Every script type with one line saying what it is (`:help TYPE`).
        pub const TYPES: &[(&str, &str)] = &[$((stringify!($t), $about)),*];

        /// Registers every script type with `engine`, with `print`'s text.
        pub fn register(engine: &mut rhai::Engine) {
            $(
                engine
                    .register_type_with_name::<$t>(stringify!($t))
                    .register_fn("to_string", |v: &mut $t| v.to_string())
                    .register_fn("to_debug", |v: &mut $t| v.to_string());
            )*
        }

        /// The text of a script-type value; `None` for rhai's own values.
        pub fn show(value: &rhai::Dynamic) -> Option<String> {
            $(if let Some(v) = value.read_lock::<$t>() {
                return Some(v.to_string());
            })*
            None
        }

        /// The display (text, and SVG for charts) of a script-type value.
        pub fn display(value: &rhai::Dynamic) -> Option<crate::output::Display> {
            $(if let Some(v) = value.read_lock::<$t>() {
                return Some(ScriptType::display(&*v));
            })*
            None
        }
    };
}

script_types! {
    Vector: "a flat f64 vector (parameters, gradients, directions)",
    Matrix: "a dense f64 matrix",
    Dataset: "inputs N×d with integer class labels (or N×k targets)",
    Model: "a network (a sequence of layers) and its parameters",
    Layer: "one module of a network, as torch.nn names it",
    History: "what training recorded",
    Spectrum: "eigenvalues, ascending, plus how they were obtained",
    Density: "a smoothed spectral density",
    Curve: "a loss/accuracy profile along a line",
    Surface: "the loss on a plane of parameters",
    Plot: "a chart: text in a terminal, SVG in Jupyter",
}

impl ScriptType for Vector {}
impl ScriptType for Matrix {}
impl ScriptType for Dataset {}
impl ScriptType for Model {}
impl ScriptType for Layer {}
impl ScriptType for History {}
impl ScriptType for Spectrum {}
impl ScriptType for Density {}
impl ScriptType for Curve {}
impl ScriptType for Surface {}

impl ScriptType for Plot {
    fn display(&self) -> crate::output::Display {
        crate::output::Display {
            text: self.fig.to_text(),
            svg: self.fig.to_svg().ok(),
        }
    }
}

impl fmt::Display for Plot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.fig.to_plain_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_show_their_first_values() {
        assert_eq!(fmt_list(&[1.0, 2.0, 3.0, 4.0], 3), "[1, 2, …, 4]");
        assert_eq!(fmt_list(&[0.5], 3), "[0.5]");
    }

    #[test]
    fn plots_have_an_evcxr_display() {
        fn shows<T: evcxr_runtime::Display>(v: &T) {
            v.evcxr_display();
        }
        use crate::plot::{Chart, Figure, Series};
        let chart = Chart::new().with_series(Series::line("y", vec![0.0, 1.0], vec![1.0, 2.0]));
        shows(&Plot {
            fig: Arc::new(Figure::new(vec![chart])),
            id: 0,
        });
    }
}
